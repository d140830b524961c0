package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/**
 * The envelope's fast path must read every record it decides exactly as Jackson's reading does,
 * and leave the rest to it: compared on the golden events, on thousands of mutations of them
 * (bytes replaced, dropped, inserted; cut short) and on JSON's corner cases.
 */
class EnvelopeScanTest {
  /** What a reading gave, in one comparable text; "UNSURE" when the fast path left it. */
  private static String fast(byte[] text, boolean envelope) {
    try {
      return show(envelope ? EnvelopeScan.envelope(text) : EnvelopeScan.map(text));
    } catch (EnvelopeScan.Unsure e) {
      return "UNSURE";
    }
  }

  private static String jackson(byte[] text, boolean envelope) {
    return show(envelope ? Envelope.parseWithJackson(text) : Envelope.parseMapWithJackson(text));
  }

  private static String show(Object o) {
    if (o == null) {
      return "null";
    }
    if (o instanceof Row r) {
      List<String> parts = new ArrayList<>();
      for (int k = 0; k < r.length(); k++) {
        parts.add(show(r.get(k)));
      }
      return "Row" + parts;
    }
    if (o instanceof Map<?, ?> m) {
      List<String> parts = new ArrayList<>();
      m.forEach((k, v) -> parts.add(k + "=" + show(v)));
      return "Map" + parts;
    }
    return o.getClass().getSimpleName() + ":" + o;
  }

  /** Checks one text both ways; returns whether the fast path decided it. */
  private static boolean same(byte[] text, boolean envelope, String what) {
    String f = fast(text, envelope);
    if (f.equals("UNSURE")) {
      return false;
    }
    assertEquals(jackson(text, envelope), f, what + ": " + new String(text, StandardCharsets.ISO_8859_1));
    return true;
  }

  @Test
  void goldenEventsAreReadByTheFastPathAsJacksonReadsThem() throws Exception {
    int decided = 0;
    List<Golden.Event> events = Golden.events();
    for (Golden.Event e : events) {
      if (same(e.value().getBytes(StandardCharsets.UTF_8), true, e.name())) {
        decided++;
      }
      same(e.key().getBytes(StandardCharsets.UTF_8), false, e.name() + " key");
    }
    // Most golden events are plain ASCII without escapes: the fast path must take them, or it
    // saves nothing.
    assertTrue(decided * 2 > events.size(), decided + " of " + events.size() + " golden events decided");
  }

  @Test
  void mutatedEventsAreReadAsJacksonReadsThemOrLeftToIt() throws Exception {
    byte[] palette = "{}[]:,\"\\ \t\n\r0123456789-+.eEtrufalsn_xyzu\u0001\u007f".getBytes(StandardCharsets.ISO_8859_1);
    Random rnd = new Random(12);
    int decided = 0;
    int checked = 0;
    for (Golden.Event e : Golden.events()) {
      for (String text : List.of(e.value(), e.key())) {
        boolean envelope = text == e.value();
        byte[] base = text.getBytes(StandardCharsets.UTF_8);
        for (int n = 0; n < 300; n++) {
          byte[] m = mutate(base, rnd, palette);
          checked++;
          if (same(m, envelope, e.name() + " mutation " + n)) {
            decided++;
          }
        }
      }
    }
    assertTrue(decided > checked / 20, "only " + decided + " of " + checked + " mutations decided: the comparison proves little");
  }

  private static byte[] mutate(byte[] base, Random rnd, byte[] palette) {
    byte[] m = base.clone();
    int edits = 1 + rnd.nextInt(3);
    for (int k = 0; k < edits && m.length > 0; k++) {
      int at = rnd.nextInt(m.length);
      byte with = rnd.nextInt(10) == 0 ? (byte) (0x80 + rnd.nextInt(0x80)) : palette[rnd.nextInt(palette.length)];
      switch (rnd.nextInt(4)) {
        case 0 -> m[at] = with;
        case 1 -> {
          byte[] r = new byte[m.length - 1];
          System.arraycopy(m, 0, r, 0, at);
          System.arraycopy(m, at + 1, r, at, m.length - at - 1);
          m = r;
        }
        case 2 -> {
          byte[] r = new byte[m.length + 1];
          System.arraycopy(m, 0, r, 0, at);
          r[at] = with;
          System.arraycopy(m, at, r, at + 1, m.length - at);
          m = r;
        }
        default -> m = java.util.Arrays.copyOf(m, at);
      }
    }
    return m;
  }

  private static final com.fasterxml.jackson.databind.ObjectMapper TREES =
      new com.fasterxml.jackson.databind.ObjectMapper(Envelope.JSON.copy());

  /** A tree in one text that tells node types and member order apart ("UNSURE", "ERROR"). */
  private static String tree(byte[] text, boolean key, boolean fast) {
    try {
      com.fasterxml.jackson.databind.JsonNode n =
          fast
              ? (key ? EnvelopeScan.keyTree(text) : EnvelopeScan.afterTree(text))
              : (key ? TREES.readTree(text) : PartitionWriter.afterImageWithJackson(text));
      return n == null ? "null" : typed(n);
    } catch (EnvelopeScan.Unsure e) {
      return "UNSURE";
    } catch (Exception e) {
      return "ERROR";
    }
  }

  private static String typed(com.fasterxml.jackson.databind.JsonNode n) {
    StringBuilder out = new StringBuilder(n.getClass().getSimpleName()).append('(');
    if (n.isContainerNode()) {
      n.fields().forEachRemaining(e -> out.append(e.getKey()).append('=').append(typed(e.getValue())).append(','));
      if (n.isArray()) {
        n.elements().forEachRemaining(e -> out.append(typed(e)).append(','));
      }
    } else {
      out.append(n.asText());
    }
    return out.append(')').toString();
  }

  /** Checks a key or an envelope's after image both ways; returns whether the fast path decided it. */
  private static boolean sameTree(byte[] text, boolean key, String what) {
    String f = tree(text, key, true);
    if (f.equals("UNSURE")) {
      return false;
    }
    assertEquals(tree(text, key, false), f, what + ": " + new String(text, StandardCharsets.ISO_8859_1));
    return true;
  }

  @Test
  void writerTreesOfKeysAndAfterImagesAreBuiltAsJacksonBuildsThem() throws Exception {
    byte[] palette = "{}[]:,\"\\ \t\n0123456789-.eEtrufalsn_xyz".getBytes(StandardCharsets.ISO_8859_1);
    Random rnd = new Random(7);
    int decided = 0;
    int checked = 0;
    for (Golden.Event e : Golden.events()) {
      byte[] key = e.key().getBytes(StandardCharsets.UTF_8);
      byte[] value = e.value().getBytes(StandardCharsets.UTF_8);
      sameTree(key, true, e.name() + " key");
      sameTree(value, false, e.name() + " after");
      for (int n = 0; n < 200; n++) {
        checked += 2;
        decided += sameTree(mutate(key, rnd, palette), true, e.name() + " key mutation " + n) ? 1 : 0;
        decided += sameTree(mutate(value, rnd, palette), false, e.name() + " after mutation " + n) ? 1 : 0;
      }
    }
    String[] keys = {
      "{\"k\":1}", "{\"k\":2147483647}", "{\"k\":2147483648}", "{\"k\":-2147483649}", "{\"k\":-0}",
      "{\"k\":\"a\",\"k\":2}", "{\"k\":[1,\"x\",null,true,{\"y\":false}]}", "{}", "{\"k\":1} ",
      "{\"k\":123456789012345678}", "{\"k\":1.5}", "{\"k\":\"\\u0041\"}", "[1]", "null", "{\"k\":1}}",
    };
    for (String k : keys) {
      sameTree(k.getBytes(StandardCharsets.UTF_8), true, "key");
      sameTree(("{\"op\":\"c\",\"after\":" + k + ",\"ts_ms\":0}").getBytes(StandardCharsets.UTF_8), false, "after");
    }
    sameTree("{\"after\":{\"a\":1},\"after\":{\"b\":2}}".getBytes(StandardCharsets.UTF_8), false, "after twice");
    assertTrue(decided > checked / 20, "only " + decided + " of " + checked + " mutations decided");
  }

  @Test
  void cornerCasesOfJsonAreReadAsJacksonReadsThem() {
    String[] envelopes = {
      "", "   ", "[]", "\"x\"", "1", "null", "{}", "{} ", "{}{}", "{} x", "{\"op\":\"c\"}x",
      "{\"op\":\"c\",\"after\":{\"a\":1},\"source\":{\"seq\":\"5\",\"ts_ms\":7},\"ts_ms\":9}",
      "{\"op\":\"c\",\"op\":\"u\",\"after\":{\"a\":1,\"a\":2,\"b\":null}}",
      "{\"op\":1,\"after\":[1,2],\"source\":\"s\",\"ts_ms\":\"9\"}",
      "{\"op\":{\"x\":[1,{\"y\":null}]},\"after\":{\"n\":{\"deep\":[true,false,null,-0.5e+3]}}}",
      "{\"ts_ms\":9223372036854775807}", "{\"ts_ms\":9223372036854775808}", "{\"ts_ms\":-9223372036854775808}",
      "{\"ts_ms\":1.0}", "{\"ts_ms\":1e3}", "{\"ts_ms\":-0}", "{\"ts_ms\":01}", "{\"ts_ms\":1.}", "{\"ts_ms\":.5}",
      "{\"ts_ms\":-}", "{\"ts_ms\":+1}", "{\"ts_ms\":1e}", "{\"ts_ms\":tru}", "{\"ts_ms\":truex}",
      "{\"after\":{\"a\":\"x\\\"y\"}}", "{\"before\":{\"a\":\"x\\\"y\"},\"op\":\"u\",\"after\":{}}",
      "{\"before\":{\"a\":\"\\q\"},\"op\":\"u\"}", "{\"before\":{\"a\":\"\\u00e9\"},\"op\":\"u\"}",
      "{\"op\":\"d\",\"before\":{\"k\":1,\"v\":\"z\"}}", "{\"op\":\"d\",\"before\":[1]}", "{\"op\":\"d\",\"before\":null}",
      "{\"op\":\"c\",}", "{,\"op\":\"c\"}", "{\"op\" \"c\"}", "{\"op\":\"c\" \"x\":1}", "{\"op\":\"c\"",
      "{\"after\":{\"a\":[1,]}}", "{\"after\":{\"a\":[,1]}}", "{\"after\":{\"a\":\"tab\there\"}}",
      "{\"after\":{\"a\":\"new\nline\"}}", "\t{ \"op\" : \"c\" , \"after\" : { \"a\" : 1 } }\r\n",
      "{\"source\":{\"seq\":\"1\",\"seq\":\"2\",\"ts_ms\":3,\"other\":{\"x\":[]}}}", "{\"source\":{}}",
      "{\"a\":" + "[".repeat(80) + "]".repeat(80) + "}", "{\"ts_ms\":" + "1".repeat(150) + "}",
    };
    for (String e : envelopes) {
      same(e.getBytes(StandardCharsets.UTF_8), true, "envelope");
      same(e.getBytes(StandardCharsets.UTF_8), false, "map");
    }
    assertEquals("UNSURE", fast("\uFEFF{}".getBytes(StandardCharsets.UTF_8), true), "a byte-order mark is Jackson's");
    assertEquals("UNSURE", fast("{\"a\":\"é\"}".getBytes(StandardCharsets.UTF_8), false), "non-ASCII is Jackson's");
    assertEquals("UNSURE", fast("{\"a\":\"x\\ny\"}".getBytes(StandardCharsets.UTF_8), false), "a returned escape is Jackson's");
  }
}
