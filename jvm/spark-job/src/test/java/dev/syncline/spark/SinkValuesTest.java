package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.syncline.spark.JobDescription.Table;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Map;
import org.bson.Document;
import org.bson.types.Binary;
import org.bson.types.Decimal128;
import org.junit.jupiter.api.Test;

/** The documented MongoDB and Redis type mapping, on the golden every-type row. */
class SinkValuesTest {

  private static Object bson(Table t, JsonNode after, String column) {
    return SinkValues.toBson(t.column(column), after.get(column));
  }

  @Test
  void everyColumnTypeMapsToTheDocumentedBsonType() throws Exception {
    Table t = Golden.table("all_types");
    JsonNode a = Golden.event("all-types-insert-every-type").valueNode().get("after");
    assertEquals(-128, bson(t, a, "c_tinyint"));
    assertEquals(8388607, bson(t, a, "c_mediumint"));
    assertEquals(4294967295L, bson(t, a, "c_int_u"), "INT UNSIGNED needs int64");
    assertEquals(Long.MIN_VALUE, bson(t, a, "c_bigint"));
    assertEquals(new Decimal128(new java.math.BigDecimal("18446744073709551615")), bson(t, a, "c_bigint_u"), "above 2^63-1: Decimal128");
    assertEquals(
        "12345678901234567890123456789012345.123456789012345678901234567890",
        bson(t, a, "c_decimal"),
        "65 digits exceed Decimal128's 34: kept exact as a string");
    assertEquals(new Decimal128(new java.math.BigDecimal("12.3400")), bson(t, a, "c_decimal_small"));
    assertEquals(1.5, bson(t, a, "c_float"));
    assertEquals(-2.25e-10, bson(t, a, "c_double"));
    assertEquals(true, bson(t, a, "c_bit1"));
    assertEquals(5L, bson(t, a, "c_bit5"));
    assertEquals(true, bson(t, a, "c_bool"));
    assertEquals("2024-02-29", bson(t, a, "c_date"));
    assertEquals(Date.from(Instant.parse("2024-02-29T23:59:59Z")), bson(t, a, "c_datetime"));
    assertEquals(Date.from(Instant.parse("2024-02-29T23:59:59.123Z")), bson(t, a, "c_datetime6"), "Date keeps milliseconds");
    assertEquals(Date.from(Instant.parse("2024-02-29T23:59:59.654Z")), bson(t, a, "c_timestamp6"));
    assertEquals("-838:59:59", bson(t, a, "c_time"));
    assertEquals(2024, bson(t, a, "c_year"));
    assertEquals("héllo 👋 \"quoted\" \\ back", bson(t, a, "c_varchar"));
    assertArrayEquals(new byte[] {0, 1, (byte) 0xff}, ((Binary) bson(t, a, "c_varbinary")).getData());
    assertEquals("shipped", bson(t, a, "c_enum"));
    assertEquals(List.of("a", "c"), bson(t, a, "c_set"));
    Document json = (Document) bson(t, a, "c_json");
    assertEquals(List.of("x", "y"), json.get("tags"));
    Document n = (Document) json.get("n");
    assertEquals(new Decimal128(new java.math.BigDecimal("123456789012345678901234567890")), n.get("big"));
    assertEquals(1.5, n.get("f"));
    assertEquals(true, n.get("t"));
    assertEquals(null, n.get("nil"));
    assertEquals(Binary.class, bson(t, a, "c_geometry").getClass());

    JsonNode nulls = Golden.event("all-types-insert-all-null").valueNode().get("after");
    for (JobDescription.Column c : t.columns) {
      if (!c.name.equals("id")) {
        assertEquals(null, bson(t, nulls, c.name), c.name);
      }
    }
  }

  @Test
  void idIsTheKeyValueOrADocumentOfTheKeyColumnsInKeyOrder() throws Exception {
    assertEquals(1, SinkValues.mongoId(Golden.table("all_types"), Golden.JSON.readTree("{\"id\":1}")));
    Object composite = SinkValues.mongoId(Golden.table("order_lines"), Golden.JSON.readTree("{\"order_id\":\"42\",\"line_no\":1}"));
    assertEquals(new Document("order_id", 42L).append("line_no", 1), composite);
    assertEquals(List.of("order_id", "line_no"), List.copyOf(((Document) composite).keySet()));
  }

  @Test
  void redisKeysFollowTheTemplateAndTombstonesShareTheirClusterSlot() throws Exception {
    Table t = Golden.table("order_lines");
    JsonNode key = Golden.JSON.readTree("{\"order_id\":\"42\",\"line_no\":1}");
    assertEquals("order_lines:42:1", SinkValues.redisKey(t, "{table}:{key}", key));
    assertEquals("shop/line/1/42", SinkValues.redisKey(t, "{db}/line/{line_no}/{order_id}", key));
    assertEquals("syncline:tomb:{order_lines:42:1}", SinkValues.tombstoneKey("order_lines:42:1"));
    assertEquals("syncline:tomb:{user1}:cart:{user1}:9", SinkValues.tombstoneKey("cart:{user1}:9"));
    assertEquals(RedisSlots.slot("order_lines:42:1"), RedisSlots.slot(SinkValues.tombstoneKey("order_lines:42:1")));
    assertEquals(RedisSlots.slot("cart:{user1}:9"), RedisSlots.slot(SinkValues.tombstoneKey("cart:{user1}:9")));

    Table strings = Golden.table("all_types");
    strings.keyColumns = List.of("c_varchar");
    JsonNode braces = Golden.JSON.readTree("{\"c_varchar\":\"a{b}c%\"}");
    String dataKey = SinkValues.redisKey(strings, "{table}:{key}", braces);
    assertEquals("all_types:a%7Bb%7Dc%25", dataKey, "braces in values are encoded so they never form a hash tag");
    assertEquals(RedisSlots.slot(dataKey), RedisSlots.slot(SinkValues.tombstoneKey(dataKey)));

    Table pair = Golden.table("order_lines");
    assertEquals(
        "order_lines:20%3Ab:c",
        SinkValues.redisKey(pair, "{table}:{key}", Golden.JSON.readTree("{\"order_id\":\"20:b\",\"line_no\":\"c\"}")),
        "a ':' inside a key value is encoded, so two different keys never share a Redis key");
  }

  @Test
  void outputColumnsApplyIncludeExcludeAndRename() throws Exception {
    Table t = Golden.table("order_lines");
    t.transform.exclude = List.of("price");
    t.transform.rename = Map.of("sku", "product");
    assertEquals(
        Map.of("order_id", "order_id", "line_no", "line_no", "sku", "product", "quantity", "quantity"),
        SinkValues.outputColumns(t));
    t.transform.include = List.of("sku");
    assertEquals(Map.of("sku", "product"), SinkValues.outputColumns(t));
  }
}
