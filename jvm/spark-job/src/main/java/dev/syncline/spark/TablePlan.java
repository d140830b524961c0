package dev.syncline.spark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.expr;
import static org.apache.spark.sql.functions.udf;

import dev.syncline.spark.JobDescription.Column;
import dev.syncline.spark.JobDescription.Rule;
import dev.syncline.spark.JobDescription.Table;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.expressions.UserDefinedFunction;

/**
 * Builds, for one table, the Spark plan from raw Kafka records to "one row per thing to do": a
 * dead letter for each invalid event, and the newest valid event per key with its transform
 * results. Internal columns start with {@code __sl_}; the table's columns appear under their own
 * names, typed, so validation rules and transform expressions read like SQL over the row.
 */
final class TablePlan {
  static final String KIND = "__sl_kind";
  static final String KEY = "__sl_key";
  static final String VALUE = "__sl_value";
  static final String OP = "__sl_op";
  static final String SEQ = "__sl_seq";
  static final String TS = "__sl_ts";
  static final String FAIL = "__sl_fail";
  static final String KEEP = "__sl_keep";
  static final String FIELDS = "__sl_fields";
  static final String TOPIC = "__sl_topic";
  static final String PARTITION = "__sl_partition";
  static final String OFFSET = "__sl_offset";

  private static final String E = "__sl_e";
  private static final String K = "__sl_k";
  /**
   * How the after image's keys are laid out: 1 = the table's columns in table order, 2 = the same
   * in MySQL's JSON order, 0 = anything else (values then looked up by name).
   */
  private static final String LAYOUT = "__sl_layout";
  /** The after image's values aligned with the table's columns (NULL: null or missing). */
  private static final String VALS = "__sl_vals";

  /**
   * Of {@code source}, only what the plan reads: the other fields (name, db, table, ...) were
   * turned into strings and Spark values for every event and never read (decision 0096).
   *
   * <p>Row images are read as string maps: every value keeps its JSON text (nested JSON stays JSON
   * text), presence of a column is visible, and a wrong type never nulls out the whole event.
   */
  static final StructType ENVELOPE =
      (StructType)
          DataType.fromDDL(
              "op STRING, before MAP<STRING, STRING>, after MAP<STRING, STRING>,"
                  + " source STRUCT<seq: STRING, ts_ms: BIGINT>, ts_ms BIGINT");

  private static final DataType STRING_MAP =
      DataTypes.createMapType(DataTypes.StringType, DataTypes.StringType);

  /** Read by {@link Envelope}, not Spark's from_json: its set-up per record was half the plan's CPU. */
  private static final UserDefinedFunction PARSE_ENVELOPE =
      udf((UDF1<byte[], Row>) Envelope::parse, ENVELOPE);
  private static final UserDefinedFunction PARSE_KEY =
      udf((UDF1<byte[], Map<String, Object>>) Envelope::parseMap, STRING_MAP);

  private TablePlan() {}

  /** Raw Kafka columns (key, value as strings + topic, partition, offset) to parsed + typed. */
  static Dataset<Row> typed(Dataset<Row> raw, Table t) {
    Dataset<Row> p =
        // The value's UTF-8 bytes (a cast to binary copies them without decoding; see Envelope).
        raw.withColumn(E, PARSE_ENVELOPE.apply(col(VALUE).cast("binary")))
            .withColumn(K, PARSE_KEY.apply(col(KEY).cast("binary")))
            .withColumn(OP, col(E + ".op"))
            .withColumn(SEQ, col(E + ".source.seq"))
            .withColumn(TS, col(E + ".source.ts_ms"));
    p = p.withColumn(LAYOUT, expr(layoutExpr(t))).withColumn(VALS, expr(valuesExpr(t)));
    List<org.apache.spark.sql.Column> cols = new ArrayList<>();
    for (String c : p.columns()) {
      cols.add(col(c));
    }
    for (int i = 0; i < t.columns.size(); i++) {
      Column c = t.columns.get(i);
      cols.add(expr(typedExpr(c, afterValue(i))).as(c.name));
    }
    return p.select(cols.toArray(new org.apache.spark.sql.Column[0]));
  }

  /**
   * Looking a column up in a Spark map scans its keys, so every check and cast of every column
   * by name cost O(columns²) key comparisons per event (half the plan's CPU on a 40-column
   * table). Capture writes the after image in the table's column order (MariaDB keeps
   * JSON_OBJECT's order; MySQL 8 sorts a JSON object's keys by length, then bytes), so one
   * comparison of the key list tells that the values can be taken by position; any other image
   * (a column missing, added or reordered) is looked up by name, with the same results.
   */
  static String layoutExpr(Table t) {
    if (t.columns.isEmpty()) {
      return "0";
    }
    List<String> tableOrder = columnNames(t);
    List<String> mysqlOrder = mysqlJsonOrder(tableOrder);
    String keys = "map_keys(" + E + ".after)";
    String sameAs = keys + " = array(" + quoted(tableOrder) + ")";
    if (mysqlOrder.equals(tableOrder)) {
      return "IF(coalesce(" + sameAs + ", false), 1, 0)";
    }
    return "CASE WHEN coalesce(" + sameAs + ", false) THEN 1 WHEN coalesce(" + keys + " = array("
        + quoted(mysqlOrder) + "), false) THEN 2 ELSE 0 END";
  }

  static String valuesExpr(Table t) {
    if (t.columns.isEmpty()) {
      return "CAST(array() AS ARRAY<STRING>)";
    }
    List<String> tableOrder = columnNames(t);
    List<String> mysqlOrder = mysqlJsonOrder(tableOrder);
    List<String> byName = new ArrayList<>();
    List<String> byMysqlPosition = new ArrayList<>();
    for (String c : tableOrder) {
      byName.add(E + ".after[" + Sql.str(c) + "]");
      byMysqlPosition.add("map_values(" + E + ".after)[" + mysqlOrder.indexOf(c) + "]");
    }
    return "CASE " + LAYOUT + " WHEN 1 THEN map_values(" + E + ".after)"
        + (mysqlOrder.equals(tableOrder) ? "" : " WHEN 2 THEN array(" + String.join(", ", byMysqlPosition) + ")")
        + " ELSE array(" + String.join(", ", byName) + ") END";
  }

  /** MySQL's order of a JSON object's keys: shorter first, equal lengths by their UTF-8 bytes. */
  static List<String> mysqlJsonOrder(List<String> names) {
    List<String> out = new ArrayList<>(names);
    out.sort(
        (a, b) -> {
          byte[] x = a.getBytes(java.nio.charset.StandardCharsets.UTF_8);
          byte[] y = b.getBytes(java.nio.charset.StandardCharsets.UTF_8);
          return x.length != y.length ? Integer.compare(x.length, y.length) : java.util.Arrays.compareUnsigned(x, y);
        });
    return out;
  }

  private static List<String> columnNames(Table t) {
    List<String> out = new ArrayList<>();
    for (Column c : t.columns) {
      out.add(c.name);
    }
    return out;
  }

  private static String quoted(List<String> names) {
    List<String> out = new ArrayList<>();
    for (String n : names) {
      out.add(Sql.str(n));
    }
    return String.join(", ", out);
  }

  /** The text of the table's i-th column in the after image; NULL when null or missing. */
  static String afterValue(int i) {
    return VALS + "[" + i + "]";
  }

  /** Whether the after image has the table's i-th column (possibly null). */
  static String afterHas(Table t, int i) {
    return "(" + LAYOUT + " > 0 OR map_contains_key(" + E + ".after, " + Sql.str(t.columns.get(i).name) + "))";
  }

  /**
   * Spark SQL that turns a column's row-image text into the Spark type rules and transforms
   * see. A value that does not convert becomes NULL here and is reported by the column check.
   */
  static String typedExpr(Column c, String v) {
    return switch (c.kind) {
      case INT, YEAR -> "try_cast(" + v + " AS BIGINT)";
      case BOOL -> "try_cast(" + v + " AS INT)";
      case BIGINT -> "try_cast(" + v + " AS BIGINT)";
      case BIGINT_UNSIGNED, BITN -> "try_cast(" + v + " AS DECIMAL(20,0))";
      case DECIMAL -> "try_cast(" + v + " AS " + decimalType(c.mysqlType) + ")";
      case FLOAT, DOUBLE -> "try_cast(" + v + " AS DOUBLE)";
      case BIT1 -> "try_cast(" + v + " AS BOOLEAN)";
      case DATE -> "try_cast(" + v + " AS DATE)";
      case DATETIME -> "try_cast(" + v + " AS TIMESTAMP_NTZ)";
      case TIMESTAMP -> "try_cast(" + v + " AS TIMESTAMP)";
      case BINARY, GEOMETRY -> "try_to_binary(" + v + ", 'base64')";
      case TIME, STRING, ENUM, SET, JSON -> v;
    };
  }

  /**
   * Spark decimals stop at 38 digits while MySQL allows 65. Wider columns are seen by
   * expressions with their integer digits kept and the scale cut to fit (the sinks still get
   * the exact text).
   */
  static String decimalType(String mysqlType) {
    int precision = 10;
    int scale = 0;
    if (mysqlType != null) {
      java.util.regex.Matcher m =
          java.util.regex.Pattern.compile("\\(\\s*(\\d+)\\s*(?:,\\s*(\\d+)\\s*)?\\)").matcher(mysqlType);
      if (m.find()) {
        precision = Integer.parseInt(m.group(1));
        scale = m.group(2) == null ? 0 : Integer.parseInt(m.group(2));
      }
    }
    if (precision > 38) {
      int intDigits = precision - scale;
      scale = Math.max(0, 38 - intDigits);
      precision = 38;
    }
    return "DECIMAL(" + precision + "," + scale + ")";
  }

  /** Adds the array of failed checks: built-in ones first, then the table's rules. */
  static Dataset<Row> checked(Dataset<Row> typed, Table t) {
    return typed.withColumn(FAIL, expr(failExpr(t)));
  }

  private static String fail(String rule, String messageSql) {
    return "named_struct('rule', " + Sql.str(rule) + ", 'message', " + messageSql + ")";
  }

  static String failExpr(Table t) {
    String op = OP;
    // op 't' (TRUNCATE) carries no row image and no key: it is checked for its seq only.
    String envelopeBad =
        E + " IS NULL OR " + op + " IS NULL OR " + op + " NOT IN ('c','u','d','r','t') OR " + SEQ
            + " IS NULL OR NOT (" + SEQ + " RLIKE '^[0-9]{1,20}$') OR try_cast(" + SEQ
            + " AS DECIMAL(20,0)) IS NULL OR (" + op + " NOT IN ('d','t') AND " + E + ".after IS NULL)";
    String envelopeMessage =
        "CASE WHEN " + E + " IS NULL AND NOT is_valid_utf8(" + VALUE + ") THEN"
            + " 'value is not valid UTF-8 (a change-event envelope is JSON text in UTF-8)'"
            + " WHEN " + E + " IS NULL OR " + op + " IS NULL THEN"
            + " 'value is not a change-event envelope (no op field)'"
            + " WHEN " + op + " NOT IN ('c','u','d','r','t') THEN concat('unknown op ', " + op + ")"
            + " WHEN " + SEQ + " IS NULL THEN 'source.seq is missing'"
            + " WHEN NOT (" + SEQ + " RLIKE '^[0-9]{1,20}$') OR try_cast(" + SEQ
            + " AS DECIMAL(20,0)) IS NULL THEN"
            + " concat('source.seq must be a string of decimal digits below 2^64, got ', " + SEQ + ")"
            + " ELSE concat('op ', " + op + ", ' needs an after image') END";

    List<String> keyParts = new ArrayList<>();
    List<String> keyMessages = new ArrayList<>();
    for (String k : t.keyColumns) {
      String kv = K + "[" + Sql.str(k) + "]";
      String av = E + ".after[" + Sql.str(k) + "]";
      String bv = E + ".before[" + Sql.str(k) + "]";
      String bad =
          kv + " IS NULL OR (" + op + " <> 'd' AND NOT (" + kv + " <=> " + av + ")) OR (" + op
              + " = 'd' AND " + E + ".before IS NOT NULL AND NOT (" + kv + " <=> " + bv + "))";
      keyParts.add("(" + bad + ")");
      keyMessages.add(
          "WHEN " + kv + " IS NULL THEN " + Sql.str("key column " + k + " is missing from the message key")
              + " WHEN (" + bad + ") THEN concat(" + Sql.str("key column " + k + " is ")
              + ", coalesce(" + kv + ", 'null'), ' in the message key but ', coalesce(CASE WHEN "
              + op + " = 'd' THEN " + bv + " ELSE " + av + " END, 'null'), ' in the row image')");
    }
    String keyBad = K + " IS NULL OR " + String.join(" OR ", keyParts);
    String keyMessage =
        "CASE WHEN " + K + " IS NULL THEN 'message key is not a JSON object' "
            + String.join(" ", keyMessages) + " END";

    List<String> checks = new ArrayList<>();
    // When each check fails (for op <> 'd'), to tell the common case, no failure, apart cheaply.
    List<String> failing = new ArrayList<>();
    for (int i = 0; i < t.columns.size(); i++) {
      Column c = t.columns.get(i);
      String v = afterValue(i);
      String present = afterHas(t, i);
      failing.add("NOT " + present + " OR (" + v + " IS NOT NULL AND " + Sql.id(c.name) + " IS NULL)");
      checks.add(
          "IF(" + op + " <> 'd' AND NOT " + present + ", "
              + fail("column:" + c.name, Sql.str("column " + c.name + " is missing from the row image"))
              + ", IF(" + op + " <> 'd' AND " + v + " IS NOT NULL AND " + Sql.id(c.name) + " IS NULL, "
              + fail("column:" + c.name,
                  "concat(" + Sql.str("column " + c.name + ": ") + ", " + v + ", "
                      + Sql.str(" is not a valid " + c.kind.wireName() + " value") + ")")
              + ", NULL))");
      if (!c.nullable) {
        failing.add(present + " AND " + v + " IS NULL");
        checks.add(
            "IF(" + op + " <> 'd' AND " + present + " AND " + v + " IS NULL, "
                + fail("not_null:" + c.name,
                    Sql.str("column " + c.name + " is NOT NULL in MySQL but the event has null"))
                + ", NULL)");
      }
    }
    for (Rule r : t.validate) {
      String message = r.message != null ? r.message : "failed: " + r.expr;
      // NULL counts as a failure (config docs: "false or NULL fails"): a rule on an optional
      // column says so itself, e.g. `email IS NULL OR email RLIKE ...`.
      failing.add("NOT coalesce((" + r.expr + "), false)");
      checks.add(
          "IF(" + op + " <> 'd' AND NOT coalesce((" + r.expr + "), false), "
              + fail(r.name, Sql.str(message)) + ", NULL)");
    }
    return "CASE WHEN " + envelopeBad + " THEN array(" + fail("envelope", envelopeMessage) + ")"
        + " WHEN " + op + " = 't' THEN array()"
        + " WHEN " + keyBad + " THEN array(" + fail("key", keyMessage) + ")"
        + allFine(op, failing)
        + " ELSE filter(array(" + String.join(", ", checks) + "), x -> x IS NOT NULL) END";
  }

  /**
   * A branch for events that fail no check. Spark evaluates {@code filter(array(...), lambda)}
   * without generated code, and with it every check below it (a profile of the initial load
   * found a quarter of the tasks' CPU there); this condition is compiled, so the array of
   * failures is only built for an event that has one.
   */
  private static String allFine(String op, List<String> failing) {
    if (failing.isEmpty()) {
      return "";
    }
    List<String> any = new ArrayList<>();
    for (String f : failing) {
      any.add("coalesce((" + f + "), false)");
    }
    return " WHEN " + op + " = 'd' OR NOT (" + String.join(" OR ", any) + ") THEN array()";
  }

  /** The SQL of the struct of computed transform fields, or null when there are none. */
  static String fieldsExpr(Table t) {
    if (t.transform.fields.isEmpty()) {
      return null;
    }
    List<String> parts = new ArrayList<>();
    for (Map.Entry<String, String> f : t.transform.fields.entrySet()) {
      parts.add(Sql.str(f.getKey()) + ", (" + f.getValue() + ")");
    }
    return "named_struct(" + String.join(", ", parts) + ")";
  }

  /** The plan's output (kept a record so callers need not change when the plan grows). */
  record Planned(Dataset<Row> out) {}

  /**
   * Full plan, one row per Kafka record in the partition's order, no shuffle and no cache: a dead
   * letter ('dlq'), a truncate ('truncate') or a valid change ('write') with its transform
   * results. The newest event per key is chosen inside each partition by {@link
   * PartitionWriter#collapse}: the relay keys every row's changes into one Kafka partition, and the
   * version guards keep the sinks right should that ever not hold.
   */
  static Planned plan(Dataset<Row> raw, Table t) {
    Dataset<Row> checked = checked(typed(raw, t), t);
    String fields = fieldsExpr(t);
    String fieldsCol = fields == null ? "CAST(NULL AS STRING)" : fields;
    String keep =
        t.transform.filter == null
            ? "(" + OP + " <> 'd')"
            : "(" + OP + " <> 'd' AND coalesce((" + t.transform.filter + "), false))";
    String kind =
        "CASE WHEN size(" + FAIL + ") > 0 THEN 'dlq' WHEN " + OP + " = 't' THEN 'truncate' ELSE 'write' END";
    Dataset<Row> out =
        checked.selectExpr(
            kind + " AS " + KIND,
            KEY,
            // As bytes: the writer parses them, and a String would be decoded here only to be
            // encoded again there (decision 0096).
            "CAST(" + VALUE + " AS BINARY) AS " + VALUE,
            OP,
            SEQ,
            TS,
            "IF(size(" + FAIL + ") > 0, " + FAIL + ", NULL) AS " + FAIL,
            "IF(" + kind + " = 'write', " + keep + ", NULL) AS " + KEEP,
            TOPIC,
            PARTITION,
            OFFSET,
            "IF(" + kind + " = 'write' AND " + keep + ", " + fieldsCol + ", NULL) AS " + FIELDS);
    return new Planned(out);
  }

  /** The Kafka batch columns this plan expects, from a Kafka source DataFrame. */
  static Dataset<Row> fromKafka(Dataset<Row> kafka) {
    return kafka.select(
        col("key").cast("string").as(KEY),
        col("value").cast("string").as(VALUE),
        col("topic").as(TOPIC),
        col("partition").as(PARTITION),
        col("offset").as(OFFSET));
  }

  static Dataset<Row> emptyRaw(org.apache.spark.sql.SparkSession spark) {
    return spark
        .createDataFrame(
            java.util.Collections.emptyList(),
            (StructType)
                DataType.fromDDL(
                    KEY + " STRING, " + VALUE + " STRING, " + TOPIC + " STRING, " + PARTITION
                        + " INT, " + OFFSET + " BIGINT"));
  }
}
