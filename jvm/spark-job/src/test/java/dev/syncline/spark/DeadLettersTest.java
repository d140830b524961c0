package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class DeadLettersTest {
  /** kafka-clients' default max.request.size: a dead letter must always fit below it. */
  private static final int MAX_REQUEST = 1024 * 1024;

  private static int recordBytes(String key, ObjectNode letter) {
    return DeadLetters.key(key).getBytes(StandardCharsets.UTF_8).length
        + letter.toString().getBytes(StandardCharsets.UTF_8).length;
  }

  @Test
  void aSmallBadEventIsKeptWholeSoItCanBeRedriven() {
    ObjectNode m =
        DeadLetters.letter(
            "shop.kv", "{\"k\":1}", List.of(new DeadLetters.Failure("envelope", "unknown op x")),
            "{\"op\":\"x\"}", "t", 0, 5L, 1L);
    assertEquals("{\"op\":\"x\"}", m.get("event").asText());
    assertFalse(m.get("eventTruncated").asBoolean());
    assertEquals(10, m.get("eventBytes").asLong());
    assertFalse(m.has("keyTruncated"));
  }

  @Test
  void aMultiMegabyteEventKeyAndMessageStillMakeADeadLetterThatKafkaAccepts() {
    String event = "é".repeat(3 * 1024 * 1024); // two UTF-8 bytes each: 6 MiB
    String key = "k".repeat(2 * 1024 * 1024);
    List<DeadLetters.Failure> failures = new ArrayList<>();
    // The first failure quotes the whole value; 499 more (each quoting 100 KiB, so the test's own
    // heap stays small) must not add up past the limit either.
    String quoted = "x".repeat(100 * 1024);
    failures.add(new DeadLetters.Failure("column:c0", "column c0: " + event + " is not a valid int value"));
    for (int i = 1; i < 500; i++) {
      failures.add(new DeadLetters.Failure("column:c" + i, "column c" + i + ": " + quoted + " is not a valid int value"));
    }
    ObjectNode m = DeadLetters.letter("shop.kv", key, failures, event, "t", 1, 2L, 3L);
    assertTrue(recordBytes(key, m) < MAX_REQUEST, "dead letter is " + recordBytes(key, m) + " bytes");
    assertTrue(m.get("eventTruncated").asBoolean());
    assertEquals(6L * 1024 * 1024, m.get("eventBytes").asLong());
    assertTrue(event.startsWith(m.get("event").asText()));
    assertEquals(DeadLetters.EVENT_PREFIX_BYTES, m.get("event").asText().getBytes(StandardCharsets.UTF_8).length);
    assertTrue(m.get("keyTruncated").asBoolean());
    assertEquals(2L * 1024 * 1024, m.get("keyBytes").asLong());
    assertEquals("column:c0", m.get("rule").asText());
    assertTrue(m.get("message").asText().startsWith("column c0: éé"));
    assertTrue(m.get("message").asText().endsWith("more characters)"));
    assertEquals(DeadLetters.MAX_FAILURES, m.get("failures").size());
    assertEquals(400, m.get("failuresOmitted").asInt());
  }

  @Test
  void cuttingNeverSplitsACharacter() {
    String s = "a" + "😀".repeat(10); // 1 + 4 bytes each
    assertEquals("a😀", DeadLetters.prefix(s, 7));
    assertEquals(1 + 40 + 1100, DeadLetters.utf8Length(s + "x".repeat(1100)));
  }
}
