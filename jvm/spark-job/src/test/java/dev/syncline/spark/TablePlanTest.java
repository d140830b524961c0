package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.syncline.spark.JobDescription.Rule;
import dev.syncline.spark.JobDescription.Table;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/** Validation, transforms and the newest-per-key collapse, on the golden events. */
class TablePlanTest {

  /** The plan's rows as one task sees them: dead letters, then the newest write per key. */
  private static List<Row> run(Table t, List<String[]> events) throws Exception {
    TablePlan.Planned p = TablePlan.plan(SparkTestSession.raw(events, t.topic), t);
    PartitionWriter.Collapsed c = PartitionWriter.collapse(p.out().collectAsList().iterator(), t);
    List<Row> out = new ArrayList<>(c.deadLetters());
    c.newest().values().forEach(w -> out.add(w.row()));
    return out;
  }

  private static List<String[]> goldenFor(String table) throws Exception {
    List<String[]> out = new ArrayList<>();
    for (Golden.Event e : Golden.events()) {
      if (e.topic().endsWith("." + table)) {
        out.add(new String[] {e.key(), e.value()});
      }
    }
    return out;
  }

  private static Map<String, Row> writesByKey(List<Row> rows) {
    Map<String, Row> out = new TreeMap<>();
    for (Row r : rows) {
      if ("write".equals(r.getAs(TablePlan.KIND))) {
        out.put(r.getAs(TablePlan.KEY), r);
      }
    }
    return out;
  }

  private static List<String> dlqRules(List<Row> rows) {
    List<String> out = new ArrayList<>();
    for (Row r : rows) {
      if ("dlq".equals(r.getAs(TablePlan.KIND))) {
        List<Row> fails = r.getList(r.fieldIndex(TablePlan.FAIL));
        out.add(fails.get(0).getString(0));
      }
    }
    return out;
  }

  @Test
  void goldenEventsAreAllValidAndCollapseToTheNewestEventPerKey() throws Exception {
    List<Row> allTypes = run(Golden.table("all_types"), goldenFor("all_types"));
    assertEquals(List.of(), dlqRules(allTypes));
    Map<String, Row> w = writesByKey(allTypes);
    assertEquals(2, w.size());
    // id 1: insert (seq 1) then update (seq 3) → the update; id 2: insert (2) then delete (10).
    assertEquals("u", w.get("{\"id\":1}").getAs(TablePlan.OP));
    assertEquals("3", w.get("{\"id\":1}").getAs(TablePlan.SEQ));
    assertEquals("d", w.get("{\"id\":2}").getAs(TablePlan.OP));
    assertEquals("10", w.get("{\"id\":2}").getAs(TablePlan.SEQ));
    assertFalse((Boolean) w.get("{\"id\":2}").getAs(TablePlan.KEEP));

    List<Row> lines = run(Golden.table("order_lines"), goldenFor("order_lines"));
    assertEquals(List.of(), dlqRules(lines));
    Map<String, Row> l = writesByKey(lines);
    assertEquals(3, l.size());
    assertEquals("d", l.get("{\"order_id\":\"42\",\"line_no\":1}").getAs(TablePlan.OP));
    assertEquals("9", l.get("{\"order_id\":\"42\",\"line_no\":1}").getAs(TablePlan.SEQ));
    assertEquals("d", l.get("{\"order_id\":\"42\",\"line_no\":2}").getAs(TablePlan.OP));
    assertEquals("c", l.get("{\"order_id\":\"42\",\"line_no\":3}").getAs(TablePlan.OP));
  }

  @Test
  void collapseComparesSeqAsANumberNotAsText() throws Exception {
    Golden.Event insert = Golden.event("composite-key-insert-line-1");
    ObjectNode v9 = (ObjectNode) insert.valueNode().deepCopy();
    ((ObjectNode) v9.get("source")).put("seq", "9");
    ((ObjectNode) v9.get("after")).put("quantity", 9);
    ObjectNode v10 = (ObjectNode) insert.valueNode().deepCopy();
    ((ObjectNode) v10.get("source")).put("seq", "10");
    ((ObjectNode) v10.get("after")).put("quantity", 10);
    // seq 18446744073709551615 (2^64-1) must beat both, and it does not fit a long.
    ObjectNode vMax = (ObjectNode) insert.valueNode().deepCopy();
    ((ObjectNode) vMax.get("source")).put("seq", "18446744073709551615");
    ((ObjectNode) vMax.get("after")).put("quantity", 99);

    List<Row> rows = run(Golden.table("order_lines"), List.of(new String[] {insert.key(), v10.toString()}, new String[] {insert.key(), v9.toString()}));
    Row only = writesByKey(rows).values().iterator().next();
    assertEquals("10", only.getAs(TablePlan.SEQ));

    rows = run(Golden.table("order_lines"), List.of(new String[] {insert.key(), v10.toString()}, new String[] {insert.key(), vMax.toString()}, new String[] {insert.key(), v9.toString()}));
    assertEquals("18446744073709551615", writesByKey(rows).values().iterator().next().getAs(TablePlan.SEQ));
  }

  @Test
  void invalidEventsGoToTheDlqWithTheFailedRuleAndValidOnesAreKept() throws Exception {
    Table t = Golden.table("order_lines");
    Rule positive = new Rule();
    positive.name = "quantity_positive";
    positive.expr = "quantity > 0";
    positive.message = "quantity must be positive";
    Rule sku = new Rule();
    sku.name = "sku_format";
    sku.expr = "sku RLIKE '^SKU-[0-9]+$'";
    t.validate = List.of(positive, sku);

    Golden.Event good = Golden.event("composite-key-insert-line-1");
    ObjectNode zero = (ObjectNode) good.valueNode().deepCopy();
    ((ObjectNode) zero.get("after")).put("quantity", 0);
    ObjectNode badOp = (ObjectNode) good.valueNode().deepCopy();
    badOp.put("op", "x");
    ObjectNode badSeq = (ObjectNode) good.valueNode().deepCopy();
    ((ObjectNode) badSeq.get("source")).put("seq", "12a");
    ObjectNode badType = (ObjectNode) good.valueNode().deepCopy();
    ((ObjectNode) badType.get("after")).put("price", "not a number");
    ObjectNode missing = (ObjectNode) good.valueNode().deepCopy();
    ((ObjectNode) missing.get("after")).remove("price");
    ObjectNode nullSku = (ObjectNode) good.valueNode().deepCopy();
    ((ObjectNode) nullSku.get("after")).putNull("sku");
    ObjectNode badSkuFormat = (ObjectNode) good.valueNode().deepCopy();
    ((ObjectNode) badSkuFormat.get("after")).put("sku", "nope");

    List<Row> rows =
        run(
            t,
            List.of(
                new String[] {good.key(), good.value()},
                new String[] {good.key(), zero.toString()},
                new String[] {good.key(), "this is not json"},
                new String[] {good.key(), badOp.toString()},
                new String[] {good.key(), badSeq.toString()},
                new String[] {"{\"order_id\":\"42\",\"line_no\":7}", good.value()},
                new String[] {"{\"order_id\":\"42\"}", good.value()},
                new String[] {good.key(), badType.toString()},
                new String[] {good.key(), missing.toString()},
                new String[] {good.key(), nullSku.toString()},
                new String[] {good.key(), badSkuFormat.toString()}));
    List<String> rules = dlqRules(rows);
    rules.sort(null);
    assertEquals(
        List.of("column:price", "column:price", "envelope", "envelope", "envelope", "key", "key", "not_null:sku", "quantity_positive", "sku_format"),
        rules);
    Map<String, Row> w = writesByKey(rows);
    assertEquals(1, w.size(), "only the good event is written");
    assertEquals(good.value(), PartitionWriter.valueText(w.values().iterator().next()));

    for (Row r : rows) {
      if ("dlq".equals(r.getAs(TablePlan.KIND))) {
        Row first = (Row) r.getList(r.fieldIndex(TablePlan.FAIL)).get(0);
        if (first.getString(0).equals("quantity_positive")) {
          assertEquals("quantity must be positive", first.getString(1));
        }
        if (first.getString(0).equals("key") && r.getAs(TablePlan.KEY).toString().contains("7")) {
          assertEquals("key column line_no is 7 in the message key but 1 in the row image", first.getString(1));
        }
      }
    }
  }

  @Test
  void aKafkaValueThatIsNotUtf8IsADeadLetterThatSaysSo() throws Exception {
    Table t = Golden.table("order_lines");
    Golden.Event good = Golden.event("composite-key-insert-line-1");
    byte[] value = good.value().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    byte[] bad = value.clone();
    bad[good.value().indexOf("SKU")] = (byte) 0xff;
    org.apache.spark.sql.SparkSession s = SparkTestSession.get();
    org.apache.spark.sql.types.StructType kafka =
        (org.apache.spark.sql.types.StructType)
            org.apache.spark.sql.types.DataType.fromDDL("key BINARY, value BINARY, topic STRING, partition INT, offset BIGINT");
    byte[] key = good.key().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    List<Row> in = List.of(
        org.apache.spark.sql.RowFactory.create(key, value, t.topic, 0, 0L),
        org.apache.spark.sql.RowFactory.create(key, bad, t.topic, 0, 1L));
    List<Row> out = TablePlan.plan(TablePlan.fromKafka(s.createDataFrame(in, kafka)), t).out().collectAsList();
    assertEquals("write", out.get(0).getAs(TablePlan.KIND));
    assertEquals("dlq", out.get(1).getAs(TablePlan.KIND));
    Row fail = out.get(1).<Row>getList(out.get(1).fieldIndex(TablePlan.FAIL)).get(0);
    assertEquals("envelope", fail.getString(0));
    assertEquals("value is not valid UTF-8 (a change-event envelope is JSON text in UTF-8)", fail.getString(1));
  }

  @Test
  void deletesAreNotJudgedByRowRules() throws Exception {
    Table t = Golden.table("order_lines");
    Rule never = new Rule();
    never.name = "never";
    never.expr = "false";
    t.validate = List.of(never);
    Golden.Event delete = Golden.event("composite-key-delete");
    List<String[]> one = new ArrayList<>();
    one.add(new String[] {delete.key(), delete.value()});
    List<Row> rows = run(t, one);
    assertEquals(List.of(), dlqRules(rows));
    assertEquals("d", writesByKey(rows).values().iterator().next().getAs(TablePlan.OP));
  }

  @Test
  void transformFieldsAreComputedAndAFilteredRowBecomesARemoval() throws Exception {
    Table t = Golden.table("order_lines");
    t.transform.fields = new java.util.LinkedHashMap<>(Map.of("total", "quantity * price"));
    t.transform.filter = "quantity >= 2";
    Golden.Event two = Golden.event("composite-key-insert-line-1"); // quantity 2
    Golden.Event one = Golden.event("composite-key-insert-line-2"); // quantity 1
    List<Row> rows = run(t, List.of(new String[] {two.key(), two.value()}, new String[] {one.key(), one.value()}));
    Map<String, Row> w = writesByKey(rows);
    Row kept = w.get(two.key());
    assertTrue((Boolean) kept.getAs(TablePlan.KEEP));
    Row fields = kept.getAs(TablePlan.FIELDS);
    assertEquals(0, new BigDecimal("19.98").compareTo(fields.getDecimal(0)));
    Row dropped = w.get(one.key());
    assertFalse((Boolean) dropped.getAs(TablePlan.KEEP), "a row failing the filter is removed from the sinks");
    assertNull(dropped.getAs(TablePlan.FIELDS));
  }

  @Test
  void typedColumnsFollowTheContractRepresentation() throws Exception {
    Table t = Golden.table("all_types");
    Golden.Event e = Golden.event("all-types-insert-every-type");
    Rule typed = new Rule();
    typed.name = "typed";
    // Each conjunct proves one kind arrives typed, not as text.
    typed.expr =
        "c_bigint_u = 18446744073709551615 AND c_bigint = -9223372036854775808 AND c_int_u = 4294967295"
            + " AND c_bit1 AND c_bit5 = 5 AND c_bool = 1 AND c_date = DATE'2024-02-29'"
            + " AND c_datetime6 = TIMESTAMP_NTZ'2024-02-29 23:59:59.123456'"
            + " AND c_timestamp6 = TIMESTAMP'2024-02-29 23:59:59.654321Z'"
            + " AND hex(c_varbinary) = '0001FF' AND c_decimal_small = 12.34"
            + " AND get_json_object(c_json, '$.tags[1]') = 'y' AND c_year = 2024";
    t.validate = List.of(typed);
    List<String[]> one = new ArrayList<>();
    one.add(new String[] {e.key(), e.value()});
    List<Row> rows = run(t, one);
    assertEquals(List.of(), dlqRules(rows));

    // Values are taken by position only when the image has the table's columns in its order;
    // an image from another writer (columns reordered, an unknown column added) reads the same.
    ObjectNode reversed = (ObjectNode) e.valueNode().deepCopy();
    reversed.set("after", reordered((ObjectNode) e.valueNode().get("after"), names -> {
      java.util.Collections.reverse(names);
      return names;
    }));
    ObjectNode mysqlOrder = (ObjectNode) e.valueNode().deepCopy();
    mysqlOrder.set("after", reordered((ObjectNode) e.valueNode().get("after"), TablePlan::mysqlJsonOrder));
    ObjectNode extra = (ObjectNode) e.valueNode().deepCopy();
    ((ObjectNode) extra.get("after")).put("c_added_later", "x");
    ObjectNode reversedBad = (ObjectNode) reversed.deepCopy();
    ((ObjectNode) reversedBad.get("after")).put("c_date", "not a date");
    ObjectNode reversedMissing = (ObjectNode) reversed.deepCopy();
    ((ObjectNode) reversedMissing.get("after")).remove("c_char");
    for (ObjectNode v : List.of(reversed, mysqlOrder, extra)) {
      assertEquals(List.of(), dlqRules(run(t, List.<String[]>of(new String[] {e.key(), v.toString()}))), v.toString());
    }
    assertEquals(List.of("column:c_date"), dlqRules(run(t, List.<String[]>of(new String[] {e.key(), reversedBad.toString()}))));
    List<Row> missing = run(t, List.<String[]>of(new String[] {e.key(), reversedMissing.toString()}));
    assertEquals(List.of("column:c_char"), dlqRules(missing));
    Row first = (Row) missing.get(0).getList(missing.get(0).fieldIndex(TablePlan.FAIL)).get(0);
    assertEquals("column c_char is missing from the row image", first.getString(1));
  }

  @Test
  void mysqlOrdersJsonObjectKeysByLengthThenBytes() {
    // "é" is two bytes (0xC3 0xA9): as long as "id", and after it byte by byte.
    assertEquals(
        List.of("id", "é", "c_int", "c_bit1", "c_date"),
        TablePlan.mysqlJsonOrder(List.of("é", "c_date", "id", "c_bit1", "c_int")));
  }

  /** The object with its fields in the order {@code order} gives their names. */
  private static ObjectNode reordered(ObjectNode o, java.util.function.UnaryOperator<List<String>> order) {
    List<String> names = new ArrayList<>();
    o.fieldNames().forEachRemaining(names::add);
    ObjectNode out = Golden.JSON.createObjectNode();
    for (String n : order.apply(names)) {
      out.set(n, o.get(n));
    }
    return out;
  }
}
