package dev.syncline.spark;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.syncline.spark.JobDescription.Column;
import dev.syncline.spark.JobDescription.Rule;
import dev.syncline.spark.JobDescription.Table;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;

/**
 * Analyses every expression of a job description against its table's typed columns, without
 * running anything, so a bad rule or transform is rejected when the description is built
 * (`--check`) and again before the job starts.
 */
final class Checker {
  record Problem(String table, String field, String message) {}

  private Checker() {}

  static List<Problem> check(SparkSession spark, JobDescription job) {
    List<Problem> out = new ArrayList<>();
    Dataset<Row> empty = TablePlan.emptyRaw(spark);
    for (Table t : job.tables) {
      Dataset<Row> typed;
      try {
        typed = TablePlan.typed(empty, t);
      } catch (Exception e) {
        out.add(new Problem(t.label(), "columns", firstLine(e)));
        continue;
      }
      for (Rule r : t.validate) {
        expectType(typed, t, "validate." + r.name, r.expr, true, out);
      }
      if (t.transform.filter != null) {
        expectType(typed, t, "transform.filter", t.transform.filter, true, out);
      }
      for (Map.Entry<String, String> f : t.transform.fields.entrySet()) {
        expectType(typed, t, "transform.fields." + f.getKey(), f.getValue(), false, out);
      }
      checkColumns(t, out);
      if (out.stream().noneMatch(p -> p.table().equals(t.label()))) {
        try {
          TablePlan.plan(typed.sparkSession().createDataFrame(List.of(), empty.schema()), t).out().schema();
        } catch (Exception e) {
          out.add(new Problem(t.label(), "plan", firstLine(e)));
        }
      }
    }
    return out;
  }

  private static void expectType(Dataset<Row> typed, Table t, String field, String expr, boolean bool, List<Problem> out) {
    try {
      DataType type = typed.selectExpr("(" + expr + ") AS x").schema().apply(0).dataType();
      if (bool && !type.equals(DataTypes.BooleanType)) {
        out.add(new Problem(t.label(), field, "must be a boolean expression, but `" + expr + "` is " + type.simpleString()));
      }
    } catch (Exception e) {
      out.add(new Problem(t.label(), field, "`" + expr + "`: " + firstLine(e)));
    }
  }

  private static void checkColumns(Table t, List<Problem> out) {
    Set<String> names = new HashSet<>();
    for (Column c : t.columns) {
      names.add(c.name);
    }
    checkKnown(t, "transform.include", t.transform.include, names, out);
    checkKnown(t, "transform.exclude", t.transform.exclude, names, out);
    checkKnown(t, "transform.rename", new ArrayList<>(t.transform.rename.keySet()), names, out);
    Set<String> outputs = new HashSet<>();
    for (String o : SinkValues.outputColumns(t).values()) {
      if (!outputs.add(o)) {
        out.add(new Problem(t.label(), "transform.rename", "two output fields are named " + o));
      }
    }
    outputs.addAll(t.transform.fields.keySet());
    for (String o : outputs) {
      if (o.equals("_id") || o.equals("_sync") || o.startsWith("_sync_")) {
        out.add(new Problem(t.label(), "transform", "output field " + o + " is reserved for syncline's metadata; rename it"));
      }
    }
    if (t.redis != null && t.redis.fields != null) {
      for (String f : t.redis.fields) {
        if (!outputs.contains(f)) {
          out.add(new Problem(t.label(), "redis.fields", "field " + f + " is not an output field of the table"));
        }
      }
    }
    if (t.redis != null) {
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\{([^{}]*)\\}").matcher(t.redis.keyTemplate);
      Set<String> seen = new HashSet<>();
      while (m.find()) {
        String p = m.group(1);
        seen.add(p);
        if (!p.equals("key") && !t.keyColumns.contains(p) && !p.equals("table") && !p.equals("db")) {
          out.add(new Problem(t.label(), "redis.keyTemplate", "unknown placeholder {" + p + "} (use {table}, {db}, {key} or a key column)"));
        }
      }
      if (!seen.contains("key") && !seen.containsAll(t.keyColumns)) {
        out.add(new Problem(t.label(), "redis.keyTemplate", "the template must contain {key} or every key column, or rows would share one Redis key"));
      }
    }
  }

  private static void checkKnown(Table t, String field, List<String> list, Set<String> names, List<Problem> out) {
    if (list == null) {
      return;
    }
    for (String n : list) {
      if (!names.contains(n)) {
        out.add(new Problem(t.label(), field, "unknown column " + n));
      }
    }
  }

  /** The first of {@code e} and its causes that {@code is} accepts, or null. */
  static Throwable cause(Throwable e, java.util.function.Predicate<Throwable> is) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (is.test(t)) {
        return t;
      }
    }
    return null;
  }

  static String firstLine(Throwable e) {
    String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    int nl = m.indexOf('\n');
    m = nl >= 0 ? m.substring(0, nl) : m;
    return m.replaceAll("\\s*SQLSTATE: \\w+", "").trim();
  }

  static String toJson(List<Problem> problems) {
    ArrayNode a = JsonNodeFactory.instance.arrayNode();
    for (Problem p : problems) {
      a.addObject().put("table", p.table()).put("field", p.field()).put("message", p.message());
    }
    return a.toString();
  }
}
