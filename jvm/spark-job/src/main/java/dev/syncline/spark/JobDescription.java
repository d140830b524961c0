package dev.syncline.spark;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import java.io.File;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The job description: the one document the TypeScript side generates and this job reads
 * (contract/job-description.md). Public fields keep it a plain data holder for Jackson and Java
 * serialization to executors.
 */
public final class JobDescription implements Serializable {
  private static final long serialVersionUID = 1L;

  public int version;
  public String name;
  /** Who writes: every sink entry is stamped with {@code source.id} (issue 11). */
  public Source source;
  public Kafka kafka;
  public String checkpointLocation;
  public long triggerIntervalMs = 1000;
  /**
   * Spark Real-Time Mode instead of micro-batches (decision 0044): long-running tasks, one per
   * Kafka partition of every query, write each record as it arrives; triggerIntervalMs is then
   * the checkpoint interval (Spark's minimum is 5 s).
   */
  public boolean realTime;
  /** Process what is in Kafka now, then stop (used by tests and catch-up runs). */
  public boolean availableNow;
  public String master;
  public Integer shufflePartitions;
  /** Extra Spark configuration (spark.* keys), applied last. */
  public Map<String, String> conf = new LinkedHashMap<>();
  public String progressFile;
  public Sinks sinks;
  public List<Table> tables;

  public static final class Source implements Serializable {
    private static final long serialVersionUID = 1L;
    /** A UUID generated once per source database. */
    public String id;
    /** For people: e.g. "shop@127.0.0.1:13306". */
    public String label;
  }

  public static final class Kafka implements Serializable {
    private static final long serialVersionUID = 1L;
    public String bootstrapServers;
    public String optionsEnv;
    public String dlqTopic;
    public String startingOffsets = "earliest";
    public Long maxOffsetsPerTrigger;
  }

  public static final class Sinks implements Serializable {
    private static final long serialVersionUID = 1L;
    public MongoSink mongodb;
    public RedisSink redis;
  }

  public static final class MongoSink implements Serializable {
    private static final long serialVersionUID = 1L;
    public String uriEnv;
    public String database;
    public String tombstoneCollection = "_syncline_tombstones";
    public long tombstoneTtlSeconds = 7 * 24 * 3600;
  }

  public static final class RedisSink implements Serializable {
    private static final long serialVersionUID = 1L;
    public String urlEnv;
    public long tombstoneTtlSeconds = 7 * 24 * 3600;
  }

  public static final class Table implements Serializable {
    private static final long serialVersionUID = 1L;
    public String db;
    public String table;
    public String topic;
    public List<String> keyColumns;
    public List<Column> columns;
    public List<Rule> validate = new ArrayList<>();
    public Transform transform = new Transform();
    public TableMongo mongodb;
    public TableRedis redis;

    public Column column(String name) {
      for (Column c : columns) {
        if (c.name.equals(name)) {
          return c;
        }
      }
      return null;
    }

    public String label() {
      return db + "." + table;
    }
  }

  public static final class Column implements Serializable {
    private static final long serialVersionUID = 1L;
    public String name;
    public String mysqlType;
    public Kind kind;
    public boolean nullable = true;
  }

  public static final class Rule implements Serializable {
    private static final long serialVersionUID = 1L;
    public String name;
    public String expr;
    public String message;
  }

  public static final class Transform implements Serializable {
    private static final long serialVersionUID = 1L;
    public List<String> include;
    public List<String> exclude;
    public Map<String, String> rename = new LinkedHashMap<>();
    public Map<String, String> fields = new LinkedHashMap<>();
    public String filter;
  }

  public static final class TableMongo implements Serializable {
    private static final long serialVersionUID = 1L;
    public String collection;
  }

  public static final class TableRedis implements Serializable {
    private static final long serialVersionUID = 1L;
    public String keyTemplate = "{table}:{key}";
    public String format = "hash";
    public List<String> fields;
    public Long ttlSeconds;
  }

  public static JobDescription read(File file) throws IOException {
    ObjectMapper mapper =
        new ObjectMapper().enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
    JobDescription job;
    try {
      job = mapper.readValue(file, JobDescription.class);
    } catch (UnrecognizedPropertyException e) {
      throw new IllegalArgumentException(
          "job description " + file + ": unknown key '" + e.getPropertyName() + "' at "
              + e.getPathReference() + " (see contract/job-description.md)");
    } catch (com.fasterxml.jackson.core.JacksonException e) {
      throw new IllegalArgumentException(
          "job description " + file + " is not valid: " + e.getOriginalMessage() + " at "
              + e.getLocation());
    }
    List<String> problems = job.problems();
    if (!problems.isEmpty()) {
      throw new IllegalArgumentException(
          "job description " + file + " is not valid:\n  " + String.join("\n  ", problems));
    }
    return job;
  }

  /** Structural checks that Jackson cannot do; expressions are checked by {@link Checker}. */
  public List<String> problems() {
    List<String> p = new ArrayList<>();
    if (version != 1) {
      p.add("version must be 1, got " + version);
    }
    if (source == null || blank(source.id)) {
      p.add("source.id is required (syncline generates it once per source database; a hand-written job"
          + " description needs a stable id of its own, e.g. a UUID)");
    } else if (source.id.contains("@") || source.id.length() > 200) {
      p.add("source.id must be at most 200 characters without '@', got " + source.id);
    }
    if (kafka == null || blank(kafka.bootstrapServers)) {
      p.add("kafka.bootstrapServers is required");
    }
    if (kafka != null && blank(kafka.dlqTopic)) {
      p.add("kafka.dlqTopic is required");
    }
    if (blank(checkpointLocation)) {
      p.add("checkpointLocation is required");
    }
    if (sinks == null || (sinks.mongodb == null && sinks.redis == null)) {
      p.add("sinks needs mongodb, redis or both");
    }
    if (sinks != null && sinks.mongodb != null) {
      if (blank(sinks.mongodb.uriEnv) || blank(sinks.mongodb.database)) {
        p.add("sinks.mongodb needs uriEnv and database");
      }
    }
    if (sinks != null && sinks.redis != null && blank(sinks.redis.urlEnv)) {
      p.add("sinks.redis needs urlEnv");
    }
    if (tables == null || tables.isEmpty()) {
      p.add("tables must list at least one table");
      return p;
    }
    Set<String> topics = new HashSet<>();
    for (int i = 0; i < tables.size(); i++) {
      Table t = tables.get(i);
      String at = "tables[" + i + "]";
      if (blank(t.db) || blank(t.table) || blank(t.topic)) {
        p.add(at + " needs db, table and topic");
        continue;
      }
      at = at + " (" + t.label() + ")";
      if (!topics.add(t.topic)) {
        p.add(at + ": topic " + t.topic + " is used by two tables");
      }
      if (t.columns == null || t.columns.isEmpty()) {
        p.add(at + ": columns must not be empty");
        continue;
      }
      for (Column c : t.columns) {
        if (blank(c.name) || c.kind == null) {
          p.add(at + ": every column needs name and kind");
        }
      }
      if (t.keyColumns == null || t.keyColumns.isEmpty()) {
        p.add(at + ": keyColumns must not be empty (syncline needs a primary key)");
      } else {
        for (String k : t.keyColumns) {
          if (t.column(k) == null) {
            p.add(at + ": key column " + k + " is not among the columns");
          }
        }
      }
      if (t.validate == null) {
        t.validate = new ArrayList<>();
      }
      if (t.transform == null) {
        t.transform = new Transform();
      }
      if (t.transform.rename == null) {
        t.transform.rename = new LinkedHashMap<>();
      }
      if (t.transform.fields == null) {
        t.transform.fields = new LinkedHashMap<>();
      }
      Set<String> ruleNames = new HashSet<>();
      for (Rule r : t.validate) {
        if (blank(r.name) || blank(r.expr)) {
          p.add(at + ": every validation rule needs name and expr");
        } else if (!ruleNames.add(r.name)) {
          p.add(at + ": two validation rules are named " + r.name);
        }
      }
      if (t.redis != null) {
        if (!"hash".equals(t.redis.format) && !"json".equals(t.redis.format)) {
          p.add(at + ": redis.format must be hash or json, got " + t.redis.format);
        }
        if (blank(t.redis.keyTemplate)) {
          t.redis.keyTemplate = "{table}:{key}";
        }
      }
      if (t.mongodb != null && blank(t.mongodb.collection)) {
        t.mongodb.collection = t.table;
      }
    }
    return p;
  }

  private static boolean blank(String s) {
    return s == null || s.isBlank();
  }
}
