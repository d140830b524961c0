package dev.syncline.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.syncline.spark.JobDescription.Column;
import dev.syncline.spark.JobDescription.Table;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Date;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.MapType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.bson.Document;
import org.bson.types.Binary;
import org.bson.types.Decimal128;

/**
 * Turns row-image values (JSON, in the contract's representation) and transform results (Spark
 * values) into what the sinks store: BSON values for MongoDB per the documented type mapping,
 * strings for Redis hashes, JSON for Redis JSON entries.
 */
final class SinkValues {
  private static final BigInteger LONG_MAX = BigInteger.valueOf(Long.MAX_VALUE);

  private SinkValues() {}

  // ---- MongoDB ---------------------------------------------------------------------------

  static Object toBson(Column c, JsonNode n) {
    if (n == null || n.isNull() || n.isMissingNode()) {
      return null;
    }
    String text = n.asText();
    return switch (c.kind) {
      case INT -> isUnsignedInt(c.mysqlType) ? (Object) n.asLong() : (Object) Math.toIntExact(n.asLong());
      case YEAR -> n.asInt();
      case BIGINT -> Long.parseLong(text);
      case BIGINT_UNSIGNED, BITN -> unsignedToBson(new BigInteger(text));
      case DECIMAL -> decimalToBson(new BigDecimal(text), text);
      case FLOAT, DOUBLE -> n.asDouble();
      case BIT1 -> n.isBoolean() ? n.asBoolean() : !"0".equals(text) && !"false".equals(text);
      case BOOL -> n.asLong() != 0;
      case DATE, TIME, STRING, ENUM -> text;
      case DATETIME -> Date.from(LocalDateTime.parse(text).toInstant(ZoneOffset.UTC));
      case TIMESTAMP -> Date.from(Instant.parse(text));
      case SET -> text.isEmpty() ? new ArrayList<String>() : new ArrayList<>(Arrays.asList(text.split(",", -1)));
      case JSON -> jsonToBson(n);
      case BINARY, GEOMETRY -> new Binary(Base64.getDecoder().decode(text));
    };
  }

  /** INT UNSIGNED exceeds int32; every other integer type up to INT fits it. */
  static boolean isUnsignedInt(String mysqlType) {
    if (mysqlType == null) {
      return false;
    }
    String t = mysqlType.toLowerCase(Locale.ROOT).trim();
    return t.startsWith("int") && t.contains("unsigned");
  }

  /** int64 while it fits (the common case for ids), Decimal128 beyond 2^63-1. */
  static Object unsignedToBson(BigInteger v) {
    return v.compareTo(LONG_MAX) <= 0 ? (Object) v.longValue() : new Decimal128(new BigDecimal(v));
  }

  /** Decimal128 holds 34 significant digits; wider MySQL decimals stay exact as strings. */
  static Object decimalToBson(BigDecimal v, String text) {
    try {
      return new Decimal128(v);
    } catch (NumberFormatException | ArithmeticException e) {
      return text;
    }
  }

  static Object jsonToBson(JsonNode n) {
    if (n == null || n.isNull()) {
      return null;
    }
    if (n.isObject()) {
      Document d = new Document();
      Iterator<Map.Entry<String, JsonNode>> it = n.fields();
      while (it.hasNext()) {
        Map.Entry<String, JsonNode> e = it.next();
        d.put(e.getKey(), jsonToBson(e.getValue()));
      }
      return d;
    }
    if (n.isArray()) {
      List<Object> l = new ArrayList<>();
      for (JsonNode x : n) {
        l.add(jsonToBson(x));
      }
      return l;
    }
    if (n.isBoolean()) {
      return n.asBoolean();
    }
    if (n.isIntegralNumber()) {
      if (n.canConvertToInt()) {
        return n.intValue();
      }
      if (n.canConvertToLong()) {
        return n.longValue();
      }
      return decimalToBson(new BigDecimal(n.bigIntegerValue()), n.asText());
    }
    if (n.isNumber()) {
      return n.doubleValue();
    }
    return n.asText();
  }

  /** Transform results: mapped by their Spark type. */
  static Object sparkToBson(Object v, DataType type) {
    if (v == null) {
      return null;
    }
    if (type instanceof StructType st) {
      Row r = (Row) v;
      Document d = new Document();
      StructField[] fs = st.fields();
      for (int i = 0; i < fs.length; i++) {
        d.put(fs[i].name(), sparkToBson(r.get(i), fs[i].dataType()));
      }
      return d;
    }
    if (type instanceof ArrayType at) {
      List<Object> l = new ArrayList<>();
      for (Object x : asJavaList(v)) {
        l.add(sparkToBson(x, at.elementType()));
      }
      return l;
    }
    if (type instanceof MapType mt) {
      Document d = new Document();
      for (Map.Entry<Object, Object> e : asJavaMap(v).entrySet()) {
        d.put(String.valueOf(e.getKey()), sparkToBson(e.getValue(), mt.valueType()));
      }
      return d;
    }
    if (v instanceof BigDecimal bd) {
      return decimalToBson(bd, bd.toPlainString());
    }
    if (v instanceof java.sql.Timestamp ts) {
      return new Date(ts.getTime());
    }
    if (v instanceof Instant i) {
      return Date.from(i);
    }
    if (v instanceof LocalDateTime ldt) {
      return Date.from(ldt.toInstant(ZoneOffset.UTC));
    }
    if (v instanceof java.sql.Date d) {
      return d.toLocalDate().toString();
    }
    if (v instanceof LocalDate d) {
      return d.toString();
    }
    if (v instanceof byte[] b) {
      return new Binary(b);
    }
    if (v instanceof Short s) {
      return (int) s;
    }
    if (v instanceof Byte b) {
      return (int) b;
    }
    if (v instanceof Float f) {
      return (double) f;
    }
    return v;
  }

  @SuppressWarnings("unchecked")
  static List<Object> asJavaList(Object v) {
    if (v instanceof List<?> l) {
      return (List<Object>) l;
    }
    if (v instanceof scala.collection.Seq<?> s) {
      return (List<Object>) scala.jdk.javaapi.CollectionConverters.asJava(s);
    }
    return List.of(v);
  }

  @SuppressWarnings("unchecked")
  static Map<Object, Object> asJavaMap(Object v) {
    if (v instanceof Map<?, ?> m) {
      return (Map<Object, Object>) m;
    }
    return (Map<Object, Object>) scala.jdk.javaapi.CollectionConverters.asJava((scala.collection.Map<Object, Object>) v);
  }

  /** {@code _id}: the key value for a one-column key, else a document of the key columns. */
  static Object mongoId(Table t, JsonNode key) {
    if (t.keyColumns.size() == 1) {
      String k = t.keyColumns.get(0);
      return toBson(t.column(k), key.get(k));
    }
    Document d = new Document();
    for (String k : t.keyColumns) {
      d.put(k, toBson(t.column(k), key.get(k)));
    }
    return d;
  }

  /** Output columns after include/exclude/rename: source column name to output field name. */
  static Map<String, String> outputColumns(Table t) {
    Map<String, String> out = new LinkedHashMap<>();
    for (Column c : t.columns) {
      if (t.transform.include != null && !t.transform.include.contains(c.name)) {
        continue;
      }
      if (t.transform.exclude != null && t.transform.exclude.contains(c.name)) {
        continue;
      }
      out.put(c.name, t.transform.rename.getOrDefault(c.name, c.name));
    }
    return out;
  }

  // ---- Redis -----------------------------------------------------------------------------

  /** A row-image value as the text stored in a Redis hash field (null means: no field). */
  static String toRedisText(JsonNode n) {
    if (n == null || n.isNull() || n.isMissingNode()) {
      return null;
    }
    if (n.isBoolean()) {
      return n.asBoolean() ? "1" : "0";
    }
    if (n.isContainerNode()) {
      return n.toString();
    }
    return n.asText();
  }

  static String sparkToRedisText(Object v, DataType type) {
    if (v == null) {
      return null;
    }
    JsonNode n = sparkToJson(v, type);
    return toRedisText(n);
  }

  static JsonNode sparkToJson(Object v, DataType type) {
    JsonNodeFactory f = JsonNodeFactory.instance;
    if (v == null) {
      return f.nullNode();
    }
    if (type instanceof StructType st) {
      Row r = (Row) v;
      ObjectNode o = f.objectNode();
      StructField[] fs = st.fields();
      for (int i = 0; i < fs.length; i++) {
        o.set(fs[i].name(), sparkToJson(r.get(i), fs[i].dataType()));
      }
      return o;
    }
    if (type instanceof ArrayType at) {
      var a = f.arrayNode();
      for (Object x : asJavaList(v)) {
        a.add(sparkToJson(x, at.elementType()));
      }
      return a;
    }
    if (type instanceof MapType mt) {
      ObjectNode o = f.objectNode();
      for (Map.Entry<Object, Object> e : asJavaMap(v).entrySet()) {
        o.set(String.valueOf(e.getKey()), sparkToJson(e.getValue(), mt.valueType()));
      }
      return o;
    }
    if (v instanceof BigDecimal bd) {
      return f.textNode(bd.toPlainString());
    }
    if (v instanceof Long l) {
      return f.numberNode(l);
    }
    if (v instanceof Integer i) {
      return f.numberNode(i);
    }
    if (v instanceof Short s) {
      return f.numberNode(s);
    }
    if (v instanceof Byte b) {
      return f.numberNode(b);
    }
    if (v instanceof Double d) {
      return f.numberNode(d);
    }
    if (v instanceof Float fl) {
      return f.numberNode(fl);
    }
    if (v instanceof Boolean b) {
      return f.booleanNode(b);
    }
    if (v instanceof java.sql.Timestamp ts) {
      return f.textNode(ts.toInstant().toString());
    }
    if (v instanceof Instant i) {
      return f.textNode(i.toString());
    }
    if (v instanceof byte[] b) {
      return f.textNode(Base64.getEncoder().encodeToString(b));
    }
    return f.textNode(v.toString());
  }

  /**
   * Redis key from the table's template: {table}, {db}, {key} (key values joined by ':') and
   * {column} for a key column. Braces in values are percent-encoded so a value can never form a
   * Redis Cluster hash tag of its own (see the tombstone key below).
   */
  static String redisKey(Table t, String template, JsonNode key) {
    List<String> values = new ArrayList<>();
    Map<String, String> byName = new LinkedHashMap<>();
    for (String k : t.keyColumns) {
      String v = encodeKeyPart(toRedisText(key.get(k)));
      values.add(v);
      byName.put(k, v);
    }
    StringBuilder out = new StringBuilder();
    int i = 0;
    while (i < template.length()) {
      char ch = template.charAt(i);
      int end = ch == '{' ? template.indexOf('}', i) : -1;
      if (end > i) {
        String name = template.substring(i + 1, end);
        String replacement =
            switch (name) {
              case "table" -> t.table;
              case "db" -> t.db;
              case "key" -> String.join(":", values);
              default -> byName.get(name);
            };
        if (replacement != null) {
          out.append(replacement);
          i = end + 1;
          continue;
        }
      }
      out.append(ch);
      i++;
    }
    return out.toString();
  }

  /**
   * A SCAN pattern that matches every data key of the table's template: table and database
   * literally (glob characters escaped), each key placeholder as {@code *}.
   */
  static String redisKeyPattern(Table t, String template) {
    StringBuilder out = new StringBuilder();
    int i = 0;
    while (i < template.length()) {
      char ch = template.charAt(i);
      int end = ch == '{' ? template.indexOf('}', i) : -1;
      if (end > i) {
        String name = template.substring(i + 1, end);
        String replacement =
            switch (name) {
              case "table" -> globEscape(t.table);
              case "db" -> globEscape(t.db);
              case "key" -> "*";
              default -> t.keyColumns.contains(name) ? "*" : null;
            };
        if (replacement != null) {
          out.append(replacement);
          i = end + 1;
          continue;
        }
      }
      out.append(globEscape(String.valueOf(ch)));
      i++;
    }
    return out.toString();
  }

  private static String globEscape(String s) {
    return s.replaceAll("([\\\\*?\\[\\]])", "\\\\$1");
  }

  static String encodeKeyPart(String v) {
    if (v == null) {
      return "null";
    }
    return v.replace("%", "%25").replace("{", "%7B").replace("}", "%7D").replace(":", "%3A");
  }

  /**
   * The tombstone key of a data key. It must hash to the data key's Redis Cluster slot so the
   * one Lua call may touch both: a data key without a hash tag is hashed whole, so the whole data
   * key becomes the tombstone's hash tag; a data key with a tag (from a template with literal
   * braces) lends that tag.
   */
  static String tombstoneKey(String dataKey) {
    int open = dataKey.indexOf('{');
    if (open >= 0) {
      int close = dataKey.indexOf('}', open + 1);
      if (close > open + 1) {
        return "syncline:tomb:{" + dataKey.substring(open + 1, close) + "}:" + dataKey;
      }
    }
    return "syncline:tomb:{" + dataKey + "}";
  }
}
