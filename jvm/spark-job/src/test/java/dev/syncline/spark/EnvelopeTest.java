package dev.syncline.spark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.from_json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;
import org.junit.jupiter.api.Test;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The plan's own reading of the envelope must mean what Spark's from_json meant to every check
 * and cast after it (the DLQ decisions and typed values of every golden event depend on it), and
 * must keep each value's JSON text.
 */
class EnvelopeTest {
  @Test
  void everyGoldenEventReadsAsSparksFromJsonReadsIt() throws Exception {
    List<Golden.Event> events = Golden.events();
    List<String[]> kv = new ArrayList<>();
    for (Golden.Event e : events) {
      kv.add(new String[] {e.key(), e.value()});
    }
    Dataset<Row> spark =
        SparkTestSession.raw(kv, "t")
            .select(
                from_json(col(TablePlan.VALUE), TablePlan.ENVELOPE, Map.of("mode", "PERMISSIVE")).as("e"),
                from_json(col(TablePlan.KEY), DataTypes.createMapType(DataTypes.StringType, DataTypes.StringType), Map.of())
                    .as("k"))
            // Collected maps lose their order; the plan reads it through map_keys.
            .selectExpr("e", "k", "map_keys(e.before)", "map_keys(e.after)", "map_keys(k)");
    List<Row> rows = spark.collectAsList();
    for (int i = 0; i < events.size(); i++) {
      Golden.Event e = events.get(i);
      Row expected = rows.get(i).getStruct(0);
      Row actual = Envelope.parse(e.value());
      assertNotNull(actual, e.name());
      assertEquals(expected.getString(0), actual.getString(0), e.name() + " op");
      Row r = rows.get(i);
      if ("d".equals(expected.getString(0))) {
        assertSameImage(expected.get(1), r.getList(2), actual.get(1), e.name() + " before");
      } else {
        assertNull(actual.get(1), e.name() + ": the before image is read for a delete only");
      }
      assertSameImage(expected.get(2), r.getList(3), actual.get(2), e.name() + " after");
      assertEquals(expected.get(3), actual.get(3), e.name() + " source");
      assertEquals(expected.get(4), actual.get(4), e.name() + " ts_ms");
      assertSameImage(r.get(1), r.getList(4), Envelope.parseMap(e.key()), e.name() + " key");
    }
  }

  /** Same keys in the same order; values the same text, nested JSON the same JSON. */
  private static void assertSameImage(Object sparkMap, List<String> sparkKeys, Object ours, String what)
      throws Exception {
    if (sparkMap == null) {
      assertNull(ours, what);
      return;
    }
    Map<String, String> expected = new LinkedHashMap<>();
    CollectionConverters.asJava((scala.collection.Map<String, String>) sparkMap).forEach(expected::put);
    Map<String, String> actual = texts(ours);
    assertEquals(sparkKeys, new ArrayList<>(actual.keySet()), what + " keys in order");
    for (Map.Entry<String, String> x : expected.entrySet()) {
      String a = actual.get(x.getKey());
      if (x.getValue() != null && (x.getValue().startsWith("{") || x.getValue().startsWith("["))) {
        assertEquals(Golden.JSON.readTree(x.getValue()), Golden.JSON.readTree(a), what + "." + x.getKey());
      } else {
        assertEquals(x.getValue(), a, what + "." + x.getKey());
      }
    }
  }

  @Test
  void theWritersAfterImageIsTheAfterOfTheWholeEnvelopesTree() throws Exception {
    for (Golden.Event e : Golden.events()) {
      assertEquals(Golden.JSON.readTree(e.value()).get("after"), PartitionWriter.afterImage(e.value()), e.name());
    }
    String twice = "{\"after\":{\"a\":1},\"before\":{\"a\":0},\"after\":{\"a\":2},\"op\":\"u\"}";
    assertEquals(Golden.JSON.readTree(twice).get("after"), PartitionWriter.afterImage(twice));
  }

  @Test
  void valuesKeepTheirJsonTextNumbersAsWrittenNestedJsonExactly() {
    Row e =
        Envelope.parse(
            "{\"op\":\"c\",\"after\":{\"s\":\"x \\\"q\\\" \\u00e9\",\"n\":1.50,\"f\":-0.000000000225,\"big\":123456789012345678901234567890,"
                + "\"t\":true,\"nil\":null,\"obj\":{\"k\": [1, 2.0, {\"z\":null}]},\"arr\":[]},"
                + "\"source\":{\"seq\":7,\"ts_ms\":5,\"capture\":\"binlog\"},\"ts_ms\":9}");
    Map<String, String> after = after(e);
    assertEquals(List.of("s", "n", "f", "big", "t", "nil", "obj", "arr"), new ArrayList<>(after.keySet()));
    assertEquals("x \"q\" é", after.get("s"));
    assertEquals("1.50", after.get("n"));
    assertEquals("-0.000000000225", after.get("f"));
    assertEquals("123456789012345678901234567890", after.get("big"));
    assertEquals("true", after.get("t"));
    assertNull(after.get("nil"));
    assertEquals("{\"k\": [1, 2.0, {\"z\":null}]}", after.get("obj"));
    assertEquals("[]", after.get("arr"));
    assertEquals("7", e.getStruct(3).getString(0), "a numeric seq is read as its text (the seq check refuses it later)");
    assertEquals(5L, e.getStruct(3).get(1));
    assertEquals(2, e.getStruct(3).size(), "of source, only seq and ts_ms are read");
    assertEquals(9L, e.get(4));
  }

  @Test
  void aValueLongerThanJacksonsDefaultLimitIsReadByThePlanAndTheWriters() throws Exception {
    String big = "x".repeat(21_000_000);
    String value = "{\"op\":\"c\",\"after\":{\"id\":1,\"doc\":\"" + big + "\"},\"source\":{\"seq\":\"1\"}}";
    assertEquals(big, after(Envelope.parse(value)).get("doc"));
    assertEquals(big, PartitionWriter.afterImage(value).get("doc").asText());
  }

  @Test
  void textThatIsNotOneJsonObjectIsNullAsAWhole() {
    for (String bad :
        List.of(
            "",
            "not json",
            "[1,2]",
            "\"c\"",
            "{\"op\":\"c\"",
            "{\"op\":\"c\"} trailing",
            "{\"op\":\"c\"}{\"op\":\"d\"}")) {
      assertNull(Envelope.parse(bad), bad);
    }
    assertNull(Envelope.parse((String) null));
    assertNull(Envelope.parse((byte[]) null));
    assertNull(Envelope.parseMap("[1]"));
    assertEquals(Map.of("id", "1"), texts(Envelope.parseMap("{\"id\":1}")));
  }

  @Test
  void aNameGivenTwiceKeepsItsLastValueAsFromJsonDid() {
    Map<String, String> after = after(Envelope.parse("{\"op\":\"c\",\"after\":{\"a\":1,\"b\":2,\"a\":3}}"));
    assertEquals(List.of("a", "b"), new ArrayList<>(after.keySet()));
    assertEquals("3", after.get("a"));
    assertEquals(Map.of("id", "2"), texts(Envelope.parseMap("{\"id\":1,\"id\":2}")));
  }

  @Test
  void aDeletesBeforeImageIsReadWhereverItStandsAndOthersAreNot() {
    Row d = Envelope.parse("{\"before\":{\"id\":1,\"o\":{\"x\": [2]}},\"after\":null,\"op\":\"d\",\"source\":{\"seq\":\"3\"}}");
    assertEquals(Map.of("id", "1", "o", "{\"x\": [2]}"), texts(d.get(1)));
    Row last = Envelope.parse("{\"op\":\"d\",\"before\":{\"id\":1},\"before\":{\"id\":2}}");
    assertEquals(Map.of("id", "2"), texts(last.get(1)), "a name given twice keeps its last value");
    assertNull(Envelope.parse("{\"op\":\"d\",\"before\":{\"id\":1},\"before\":[1]}").get(1));
    assertNull(Envelope.parse("{\"op\":\"u\",\"before\":{\"id\":1},\"after\":{\"id\":1}}").get(1));
    assertNull(Envelope.parse("{\"op\":\"d\",\"before\":{\"id\":1} x"), "trailing text still refuses the whole");
  }

  @Test
  void nestedJsonAfterMultiByteCharactersIsCutAtItsOwnBytes() {
    // The cut is by byte offset: after two- to four-byte characters a char offset lands elsewhere.
    String value =
        "{\"op\":\"d\",\"before\":{\"s\":\"\u00e9\u20ac\ud83d\ude00\",\"o\":{\"k\":\"\u00fc\"},\"a\":[\"\u6f22\"]},"
            + "\"after\":{\"t\":\"\u00e9\u20ac\ud83d\ude00\",\"o\":{\"k\":[\"\u00fc\", 1]},\"n\":2},\"source\":{\"seq\":\"1\"}}";
    Row e = Envelope.parse(value.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    assertEquals("\u00e9\u20ac\ud83d\ude00", after(e).get("t"));
    assertEquals("{\"k\":[\"\u00fc\", 1]}", after(e).get("o"));
    assertEquals("2", after(e).get("n"));
    assertEquals(Map.of("s", "\u00e9\u20ac\ud83d\ude00", "o", "{\"k\":\"\u00fc\"}", "a", "[\"\u6f22\"]"), texts(e.get(1)));
  }

  @Test
  void stringsWithEscapesControlCharactersOrNonAsciiBytesAreDecodedNotCut() {
    Map<String, String> a =
        after(
            Envelope.parse(
                "{\"op\":\"c\",\"after\":{\"e\":\"a\\\"b\\\\c\\u0041\\n\",\"u\":\"x\u00e9y\",\"p\":\"plain\",\"z\":\"\","
                    + "\"n\":-1.50e+3,\"i\":0,\"t\":true,\"f\":false},\"source\":{\"seq\":\"1\"}}"));
    assertEquals("a\"b\\cA\n", a.get("e"));
    assertEquals("x\u00e9y", a.get("u"));
    assertEquals("plain", a.get("p"));
    assertEquals("", a.get("z"));
    assertEquals("-1.50e+3", a.get("n"), "a number keeps its text as written");
    assertEquals("0", a.get("i"));
    assertEquals("true", a.get("t"));
    assertEquals("false", a.get("f"));
    assertNull(
        Envelope.parse("{\"op\":\"c\",\"after\":{\"s\":\"a\u0001b\"},\"source\":{\"seq\":\"1\"}}"),
        "an unescaped control character is not JSON: not an envelope, as before");
  }

  @Test
  void aValueThatIsNotUtf8IsNotAnEnvelope() {
    byte[] good = "{\"op\":\"c\",\"after\":{\"s\":\"ab\"},\"source\":{\"seq\":\"1\"}}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    assertNotNull(Envelope.parse(good));
    byte[] bad = good.clone();
    int at = new String(good, java.nio.charset.StandardCharsets.UTF_8).indexOf("ab");
    bad[at] = (byte) 0xff; // never valid in UTF-8
    assertNull(Envelope.parse(bad), "dead-lettered, not written with a replacement character");
    bad[at] = (byte) 0xc3; // a two-byte start followed by an ASCII byte
    assertNull(Envelope.parse(bad));
  }

  @Test
  void aFieldOfTheWrongJsonTypeIsNullOnItsOwn() {
    Row e = Envelope.parse("{\"op\":\"u\",\"before\":[1],\"after\":\"x\",\"source\":3,\"ts_ms\":\"5\",\"extra\":{\"a\":[1]}}");
    assertEquals("u", e.getString(0));
    assertNull(e.get(1));
    assertNull(e.get(2));
    assertNull(e.get(3));
    assertNull(e.get(4));
    assertNull(Envelope.parse("{\"op\":\"c\",\"ts_ms\":1.5}").get(4));
    assertNull(Envelope.parse("{\"op\":\"c\",\"ts_ms\":99999999999999999999}").get(4));
  }

  private static Map<String, String> after(Row e) {
    return texts(e.get(2));
  }

  /** A row image as Java strings (the parser hands Spark its UTF-8 strings). */
  private static Map<String, String> texts(Object image) {
    if (image == null) {
      return null;
    }
    Map<String, String> out = new LinkedHashMap<>();
    ((Map<?, ?>) image).forEach((k, v) -> out.put((String) k, v == null ? null : v.toString()));
    return out;
  }
}
