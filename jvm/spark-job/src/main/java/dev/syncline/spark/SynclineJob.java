package dev.syncline.spark;

import static org.apache.spark.sql.functions.col;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.syncline.spark.JobDescription.Table;
import java.io.File;
import java.io.FileWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.function.VoidFunction2;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.streaming.DataStreamReader;
import org.apache.spark.sql.streaming.StreamingQuery;
import org.apache.spark.sql.streaming.StreamingQueryException;
import org.apache.spark.sql.streaming.StreamingQueryListener;
import org.apache.spark.sql.streaming.Trigger;
import org.apache.spark.storage.StorageLevel;

/**
 * The syncline Spark job: Kafka change events → validation (DLQ) → newest per key → transforms →
 * MongoDB and Redis, version-guarded. Usage: {@code SynclineJob [--check] <job.json>}.
 */
public final class SynclineJob {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

  private SynclineJob() {}

  /**
   * Under `syncline run` the driver must not outlive its supervisor: an orphaned driver would
   * keep the checkpoint busy when `run` is restarted. The supervisor keeps our stdin open; when it
   * dies the pipe closes and we exit. Set by the launcher with SYNCLINE_EXIT_WITH_PARENT=1.
   */
  static void exitWithParent() {
    if (!"1".equals(System.getenv("SYNCLINE_EXIT_WITH_PARENT"))) {
      return;
    }
    Thread watchdog = new Thread(() -> {
      try {
        while (System.in.read() >= 0) {
          // the supervisor never writes; any byte is ignored
        }
      } catch (java.io.IOException e) {
        // a broken pipe means the same as end of file
      }
      System.err.println("syncline spark: the supervising process is gone; exiting");
      Runtime.getRuntime().halt(3);
    }, "syncline-parent-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
  }

  public static void main(String[] args) throws Exception {
    boolean check = args.length == 2 && args[0].equals("--check");
    if (!(args.length == 1 && !args[0].startsWith("--")) && !check) {
      System.err.println("usage: SynclineJob [--check] <job.json>");
      System.exit(2);
    }
    exitWithParent();
    JobDescription job;
    try {
      job = JobDescription.read(new File(args[args.length - 1]));
    } catch (IllegalArgumentException e) {
      System.err.println("syncline spark: " + e.getMessage());
      System.exit(2);
      return;
    }
    SparkSession spark = session(job, check);
    List<Checker.Problem> problems = Checker.check(spark, job);
    if (check) {
      OUT.println(Checker.toJson(problems));
      spark.stop();
      System.exit(problems.isEmpty() ? 0 : 1);
    }
    if (!problems.isEmpty()) {
      System.err.println("syncline spark: the job description has invalid expressions:");
      for (Checker.Problem p : problems) {
        System.err.println("  " + p.table() + " " + p.field() + ": " + p.message());
      }
      System.exit(2);
    }
    int code = run(spark, job);
    spark.stop();
    System.exit(code);
  }

  static SparkSession session(JobDescription job, boolean check) {
    SparkConf conf = new SparkConf();
    SparkSession.Builder b = SparkSession.builder().appName("syncline-" + (job.name == null ? "job" : job.name));
    String master = conf.contains("spark.master") ? conf.get("spark.master") : (check ? "local[1]" : (job.master == null ? "local[2]" : job.master));
    b.master(master);
    if (master.startsWith("local")) {
      b.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1");
      if (!conf.contains("spark.ui.enabled")) {
        b.config("spark.ui.enabled", "false");
      }
    }
    b.config("spark.sql.shuffle.partitions", String.valueOf(job.shufflePartitions == null ? 2 : job.shufflePartitions));
    b.config("spark.sql.session.timeZone", "UTC");
    // Bad data must reach the DLQ, never stop the job: without ANSI mode a rule or transform
    // over an odd value yields NULL instead of throwing (see docs/decisions/0011).
    b.config("spark.sql.ansi.enabled", "false");
    b.config("spark.sql.adaptive.enabled", "false");
    if (job.conf != null) {
      job.conf.forEach(b::config);
    }
    return b.getOrCreate();
  }

  static PartitionWriter.Settings settings(JobDescription job) {
    PartitionWriter.Settings s = new PartitionWriter.Settings();
    if (job.sinks.mongodb != null) {
      s.mongoUri = env(job.sinks.mongodb.uriEnv, "sinks.mongodb.uriEnv");
      s.mongoDatabase = job.sinks.mongodb.database;
      s.tombstoneCollection = job.sinks.mongodb.tombstoneCollection;
      s.mongoTombstoneTtlSeconds = job.sinks.mongodb.tombstoneTtlSeconds;
    }
    if (job.sinks.redis != null) {
      s.redisUrl = env(job.sinks.redis.urlEnv, "sinks.redis.urlEnv");
      s.redisTombstoneTtlSeconds = job.sinks.redis.tombstoneTtlSeconds;
    }
    s.dlqTopic = job.kafka.dlqTopic;
    s.kafkaProducerProps.put("bootstrap.servers", job.kafka.bootstrapServers);
    s.kafkaProducerProps.putAll(extraKafkaOptions(job));
    return s;
  }

  private static String env(String name, String where) {
    String v = System.getenv(name);
    if (v == null || v.isBlank()) {
      throw new IllegalStateException(
          "environment variable " + name + " (named by " + where + " in the job description) is not set;"
              + " `syncline spark` sets it from the config, or export it yourself");
    }
    return v;
  }

  @SuppressWarnings("unchecked")
  static Map<String, String> extraKafkaOptions(JobDescription job) {
    Map<String, String> out = new HashMap<>();
    if (job.kafka.optionsEnv == null) {
      return out;
    }
    String text = env(job.kafka.optionsEnv, "kafka.optionsEnv");
    try {
      Map<String, Object> m = JSON.readValue(text, Map.class);
      m.forEach((k, v) -> out.put(k, String.valueOf(v)));
      return out;
    } catch (IOException e) {
      // The value may hold secrets: name the variable, never echo its content.
      throw new IllegalStateException("environment variable " + job.kafka.optionsEnv + " must hold a JSON object of Kafka client options");
    }
  }

  static int run(SparkSession spark, JobDescription job) throws Exception {
    PartitionWriter.Settings settings = settings(job);
    Map<Long, ObjectNode> batchTables = new ConcurrentHashMap<>();
    spark.streams().addListener(new ProgressListener(job.progressFile, batchTables));

    int failures = 0;
    long lastFailure = 0;
    while (true) {
      StreamingQuery q = start(spark, job, settings, batchTables);
      try {
        q.awaitTermination();
        return 0;
      } catch (StreamingQueryException e) {
        long now = System.currentTimeMillis();
        failures = consecutiveFailures(failures, now - lastFailure);
        lastFailure = now;
        // A class that failed to load stays failed in this JVM: retrying here would fail every
        // batch forever. Exiting lets `syncline run` start a fresh JVM (its supervisor backs off).
        if (linkageError(e) != null) {
          System.err.println(
              "syncline spark: batch failed (" + linkageError(e)
                  + "); the job's classes cannot be loaded in this JVM (was the jar rebuilt while it ran?); exiting so that a fresh JVM starts");
          return 3;
        }
        long backoff = backoffMs(failures);
        System.err.println(
            "syncline spark: batch failed (" + Checker.firstLine(e.cause() == null ? e : e.cause())
                + "); restarting from the checkpoint in " + backoff + " ms (failure " + failures + ")");
        if (job.availableNow && failures >= 3) {
          return 1;
        }
        Thread.sleep(backoff);
      }
    }
  }

  /**
   * Failures count as consecutive while they come less than a minute apart: a job that ran fine
   * for a while and meets one sink outage starts again at the short backoff, not at the longest
   * one left over from an outage hours ago.
   */
  static int consecutiveFailures(int failuresSoFar, long msSinceLastFailure) {
    return msSinceLastFailure > 60_000 ? 1 : failuresSoFar + 1;
  }

  /** 2 s, 4 s, 8 s, then 10 s between restarts of the query from its checkpoint. */
  static long backoffMs(int failures) {
    return Math.min(10_000, 1000L << Math.min(failures, 4));
  }

  static Throwable linkageError(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof LinkageError) {
        return t;
      }
    }
    return null;
  }

  static StreamingQuery start(SparkSession spark, JobDescription job, PartitionWriter.Settings settings, Map<Long, ObjectNode> batchTables) throws Exception {
    StringBuilder topics = new StringBuilder();
    for (Table t : job.tables) {
      topics.append(topics.length() == 0 ? "" : ",").append(t.topic);
    }
    DataStreamReader r =
        spark.readStream()
            .format("kafka")
            .option("kafka.bootstrap.servers", job.kafka.bootstrapServers)
            .option("subscribe", topics.toString())
            .option("startingOffsets", job.kafka.startingOffsets == null ? "earliest" : job.kafka.startingOffsets);
    if (job.kafka.maxOffsetsPerTrigger != null) {
      r = r.option("maxOffsetsPerTrigger", job.kafka.maxOffsetsPerTrigger);
    }
    for (Map.Entry<String, String> e : extraKafkaOptions(job).entrySet()) {
      r = r.option("kafka." + e.getKey(), e.getValue());
    }
    Dataset<Row> source = r.load();
    VoidFunction2<Dataset<Row>, Long> perBatch = (batch, batchId) -> processBatch(job, settings, batch, batchId, batchTables);
    return source
        .writeStream()
        .queryName("syncline")
        .option("checkpointLocation", job.checkpointLocation)
        .trigger(job.availableNow ? Trigger.AvailableNow() : Trigger.ProcessingTime(job.triggerIntervalMs))
        .foreachBatch(perBatch)
        .start();
  }

  static void processBatch(JobDescription job, PartitionWriter.Settings settings, Dataset<Row> batch, long batchId, Map<Long, ObjectNode> batchTables) {
    Dataset<Row> raw = TablePlan.fromKafka(batch).persist(StorageLevel.MEMORY_AND_DISK());
    try {
      Map<String, Long> perTopic = new HashMap<>();
      if (job.tables.size() == 1) {
        // One table: no need for a separate Spark job to learn which tables have events.
        perTopic.put(job.tables.get(0).topic, -1L);
      } else {
        for (Row row : raw.groupBy(col(TablePlan.TOPIC)).count().collectAsList()) {
          perTopic.put(row.getString(0), row.getLong(1));
        }
      }
      // Tables are independent (per-row order is all the invariants ask for), so their Spark jobs
      // run side by side: a batch is no longer the sum of every table's job overhead.
      List<Future<ObjectNode>> pending = new ArrayList<>();
      for (Table t : job.tables) {
        Long n = perTopic.get(t.topic);
        if (n == null || n == 0) {
          continue;
        }
        pending.add(TABLE_POOL.submit(() -> processTable(settings, raw, t, n)));
      }
      ObjectNode tables = JsonNodeFactory.instance.objectNode();
      RuntimeException failed = null;
      for (Future<ObjectNode> f : pending) {
        try {
          ObjectNode o = f.get();
          tables.set(o.remove("__table").asText(), o);
        } catch (ExecutionException e) {
          // Every table's job is awaited before the batch fails, so none still writes while
          // Spark re-runs the batch.
          if (failed == null) {
            failed = e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted while writing batch " + batchId, e);
        }
      }
      if (failed != null) {
        throw failed;
      }
      batchTables.put(batchId, tables);
    } finally {
      raw.unpersist();
    }
  }

  private static final ExecutorService TABLE_POOL =
      Executors.newFixedThreadPool(
          4,
          r -> {
            Thread th = new Thread(r, "syncline-table");
            th.setDaemon(true);
            return th;
          });

  /** One table's part of a batch: dead letters and sink writes; its figures for the progress line. */
  static ObjectNode processTable(PartitionWriter.Settings settings, Dataset<Row> raw, Table t, long n) {
    long planStart = System.nanoTime();
    TablePlan.Planned p = TablePlan.plan(raw.filter(col(TablePlan.TOPIC).equalTo(t.topic)), t);
    try {
      PartitionWriter w = new PartitionWriter(t, settings, p.out().schema().apply(TablePlan.FIELDS).dataType());
      Stats total = new Stats();
      for (Stats s : p.out().mapPartitions(w, Encoders.javaSerialization(Stats.class)).collectAsList()) {
        total.merge(s);
      }
      ObjectNode o = JsonNodeFactory.instance.objectNode();
      o.put("__table", t.label());
      o.put("ms.total", (System.nanoTime() - planStart) / 1_000_000);
      if (n >= 0) {
        o.put("events", n);
      }
      total.counts.forEach(o::put);
      if (!total.dlqRules.isEmpty()) {
        ObjectNode rules = o.putObject("dlqRules");
        total.dlqRules.forEach(rules::put);
      }
      return o;
    } finally {
      p.cached().unpersist();
    }
  }

  /** Prints one SYNCLINE_PROGRESS line per batch that carried data, and appends it to a file. */
  static final class ProgressListener extends StreamingQueryListener {
    private final String progressFile;
    private final Map<Long, ObjectNode> batchTables;

    ProgressListener(String progressFile, Map<Long, ObjectNode> batchTables) {
      this.progressFile = progressFile;
      this.batchTables = batchTables;
    }

    @Override
    public void onQueryStarted(QueryStartedEvent event) {
      OUT.println("SYNCLINE_STARTED {\"id\":\"" + event.id() + "\"}");
    }

    @Override
    public void onQueryProgress(QueryProgressEvent event) {
      var p = event.progress();
      ObjectNode tables = batchTables.remove(p.batchId());
      if (tables == null) {
        return; // an idle tick without data: nothing was written
      }
      if (tables.size() == 1) {
        ObjectNode only = (ObjectNode) tables.elements().next();
        if (!only.has("events")) {
          only.put("events", p.numInputRows());
        }
      }
      ObjectNode o = JsonNodeFactory.instance.objectNode();
      o.put("batchId", p.batchId());
      o.put("timestamp", p.timestamp());
      o.put("numInputRows", p.numInputRows());
      o.put("inputRowsPerSecond", finite(p.inputRowsPerSecond()));
      o.put("processedRowsPerSecond", finite(p.processedRowsPerSecond()));
      o.put("durationMs", p.batchDuration());
      ObjectNode phases = o.putObject("phasesMs");
      p.durationMs().forEach((k, v) -> phases.put(k, v));
      o.set("tables", tables);
      Map<String, Long> dlq = new LinkedHashMap<>();
      tables.properties().forEach(e -> {
        if (e.getValue().has("dlq")) {
          dlq.put(e.getKey(), e.getValue().get("dlq").asLong());
        }
      });
      ObjectNode d = o.putObject("dlq");
      dlq.forEach(d::put);
      String line = o.toString();
      OUT.println("SYNCLINE_PROGRESS " + line);
      if (progressFile != null) {
        try (Writer w = new FileWriter(progressFile, StandardCharsets.UTF_8, true)) {
          w.write(line + "\n");
        } catch (IOException e) {
          System.err.println("syncline spark: cannot append progress to " + progressFile + ": " + e.getMessage());
        }
      }
    }

    @Override
    public void onQueryTerminated(QueryTerminatedEvent event) {}

    private static double finite(double v) {
      return Double.isFinite(v) ? v : 0;
    }
  }
}
