package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.bson.Document;
import org.bson.json.JsonMode;
import org.bson.json.JsonWriterSettings;
import org.junit.jupiter.api.Test;

/**
 * Tombstone _ids stored in MongoDB embed the key's extended JSON: the shortcut for whole-number
 * keys must spell exactly what BSON's writer spells, or tombstones written before it are missed
 * and a deleted row could come back.
 */
class MongoIdKeyTest {
  @Test
  void wholeNumberKeysAreSpelledExactlyAsTheBsonWriterSpellsThem() {
    JsonWriterSettings extended = JsonWriterSettings.builder().outputMode(JsonMode.EXTENDED).build();
    for (Object id : List.of(0L, 1L, -1L, 42L, Long.MAX_VALUE, Long.MIN_VALUE, 0, 7, -7, Integer.MAX_VALUE, Integer.MIN_VALUE)) {
      assertEquals(new Document("k", id).toJson(extended), MongoSinkWriter.idKey(id), String.valueOf(id));
    }
  }

  @Test
  void compositeAndTextKeysAreSpelledExactlyAsTheBsonWriterSpellsThem() {
    JsonWriterSettings extended = JsonWriterSettings.builder().outputMode(JsonMode.EXTENDED).build();
    List<Object> ids =
        List.of(
            "abc",
            "",
            "with \"quote\"",
            "back\\slash",
            "tab\there",
            "é unicode",
            "/slash</script>",
            "orders:{\"k\": {\"$numberLong\": \"5\"}}",
            "items:{\"k\": {\"order_id\": {\"$numberLong\": \"12\"}, \"line_no\": {\"$numberInt\": \"3\"}}}",
            printableAscii(),
            new Document("order_id", 12L).append("line_no", 3),
            new Document("a", "x y").append("b", -5L).append("c", Integer.MIN_VALUE),
            new Document("we\"ird", 1L),
            new Document("a", new Document("nested", 2L)),
            new Document("a", 1.5),
            new Document("d", new org.bson.types.Decimal128(new java.math.BigDecimal("18446744073709551615"))),
            new Document(),
            new org.bson.types.Binary(new byte[] {1, 2, 3}),
            new Document("a", new java.util.Date(0)));
    for (Object id : ids) {
      assertEquals(new Document("k", id).toJson(extended), MongoSinkWriter.idKey(id), String.valueOf(id));
    }
  }

  /** Every printable ASCII character, the range the shortcut spells itself. */
  private static String printableAscii() {
    StringBuilder b = new StringBuilder();
    for (char c = 0x20; c <= 0x7e; c++) {
      b.append(c);
    }
    return b.toString();
  }
}
