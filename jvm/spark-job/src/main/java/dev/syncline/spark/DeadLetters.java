package dev.syncline.spark;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Builds dead-letter values that always fit in one Kafka record. The DLQ producer refuses a record
 * above max.request.size (1 MiB by default) and brokers refuse one above max.message.bytes (1 MB
 * by default). A dead letter that copies a multi-MB bad event would be refused, fail the batch and
 * make the job re-run the same offsets forever; so the event, the key and every message are cut to
 * fixed bounds, and the letter says what was cut and how large it was (decision 0031).
 */
final class DeadLetters {
  /** Events up to this size (UTF-8 bytes) are kept whole, so `dlq redrive` can re-send them. */
  static final int EVENT_KEEP_BYTES = 512 * 1024;
  /** Of a larger event only this much of its beginning is kept, to show what it looked like. */
  static final int EVENT_PREFIX_BYTES = 64 * 1024;
  static final int KEY_KEEP_BYTES = 16 * 1024;
  static final int MESSAGE_CHARS = 1000;
  static final int MAX_FAILURES = 100;

  private DeadLetters() {}

  record Failure(String rule, String message) {}

  /** The original message's key as the dead letter carries it (also the DLQ record's key). */
  static String key(String key) {
    return key == null ? null : prefix(key, KEY_KEEP_BYTES);
  }

  static ObjectNode letter(
      String table, String key, List<Failure> failures, String event, String topic, Integer partition, Long offset, long now) {
    ObjectNode m = JsonNodeFactory.instance.objectNode();
    m.put("table", table);
    String keptKey = key(key);
    m.put("key", keptKey);
    if (key != null && keptKey.length() < key.length()) {
      m.put("keyTruncated", true);
      m.put("keyBytes", utf8Length(key));
    }
    Failure first = failures.get(0);
    m.put("rule", first.rule());
    m.put("message", message(first.message()));
    ArrayNode all = m.putArray("failures");
    for (int i = 0; i < failures.size() && i < MAX_FAILURES; i++) {
      Failure f = failures.get(i);
      all.addObject().put("rule", f.rule()).put("message", message(f.message()));
    }
    if (failures.size() > MAX_FAILURES) {
      m.put("failuresOmitted", failures.size() - MAX_FAILURES);
    }
    long eventBytes = event == null ? 0 : utf8Length(event);
    boolean cut = eventBytes > EVENT_KEEP_BYTES;
    m.put("event", cut ? prefix(event, EVENT_PREFIX_BYTES) : event);
    m.put("eventTruncated", cut);
    m.put("eventBytes", eventBytes);
    m.put("topic", topic);
    if (partition != null) {
      m.put("partition", partition);
    }
    if (offset != null) {
      m.put("offset", offset);
    }
    m.put("ts_ms", now);
    return m;
  }

  /** A rule's message, bounded: some quote the offending value, which may be megabytes. */
  static String message(String text) {
    if (text == null || text.length() <= MESSAGE_CHARS) {
      return text;
    }
    return text.substring(0, safeEnd(text, MESSAGE_CHARS)) + "… (" + (text.length() - MESSAGE_CHARS) + " more characters)";
  }

  /** The longest beginning of {@code s} whose UTF-8 encoding fits in {@code maxBytes}. */
  static String prefix(String s, int maxBytes) {
    if (s.length() * 3L <= maxBytes) {
      return s; // even three bytes per char fits
    }
    int bytes = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      int n;
      if (Character.isHighSurrogate(c) && i + 1 < s.length()) {
        n = 4;
      } else if (c < 0x80) {
        n = 1;
      } else if (c < 0x800) {
        n = 2;
      } else {
        n = 3;
      }
      if (bytes + n > maxBytes) {
        return s.substring(0, i);
      }
      bytes += n;
      if (n == 4) {
        i++;
      }
    }
    return s;
  }

  static long utf8Length(String s) {
    if (s.length() < 1024) {
      return s.getBytes(StandardCharsets.UTF_8).length;
    }
    long n = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x80) {
        n += 1;
      } else if (c < 0x800) {
        n += 2;
      } else if (Character.isHighSurrogate(c) && i + 1 < s.length()) {
        n += 4;
        i++;
      } else {
        n += 3;
      }
    }
    return n;
  }

  /** Never split a surrogate pair when cutting at {@code end} characters. */
  private static int safeEnd(String s, int end) {
    return end > 0 && Character.isHighSurrogate(s.charAt(end - 1)) ? end - 1 : end;
  }
}
