package dev.syncline.spark;

import static org.apache.spark.sql.functions.col;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.syncline.spark.JobDescription.Table;
import java.io.File;
import java.io.FileWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
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
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
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
    // On SIGTERM the queries end inside the shutdown hook, which then still waits for their
    // cancelled tasks; stopping the context here raced that wait (CI, 2026-12-04: "Cannot call
    // methods on a stopped SparkContext" and ERROR lines at a plain stop). Spark's own hook stops
    // the context after ours, and exit() just waits for the hooks.
    if (!stopping) {
      spark.stop();
    }
    System.exit(code);
  }

  static SparkSession session(JobDescription job, boolean check) {
    SparkConf conf = new SparkConf();
    SparkSession.Builder b = SparkSession.builder().appName("syncline-" + (job.name == null ? "job" : job.name));
    String master = conf.contains("spark.master") ? conf.get("spark.master") : (check ? "local[1]" : (job.master == null ? "local[2]" : job.master));
    if (!check && realTime(job) && !conf.contains("spark.master")) {
      master = realTimeMaster(master, realTimeSlots(job, master.startsWith("local")));
    }
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

  /**
   * Real-Time Mode runs one long-running task per Kafka partition of every query, all at once: a
   * query short of slots would leave partitions unread. A local master gets as many threads as
   * that (the tasks mostly wait on Kafka and the sinks); a cluster master is checked in run().
   */
  static String realTimeMaster(String master, int slots) {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("local\\[(\\d+|\\*)(,\\s*\\d+)?\\]").matcher(master);
    int have =
        master.equals("local") ? 1
            : !m.matches() ? -1
            : m.group(1).equals("*") ? Runtime.getRuntime().availableProcessors()
            : Integer.parseInt(m.group(1));
    if (have < 0 || have >= slots) {
      return master;
    }
    String widened = "local[" + slots + (m.matches() && m.group(2) != null ? m.group(2) : "") + "]";
    System.err.println(
        "syncline spark: real-time mode runs one task per Kafka partition of each query (" + slots
            + " in all): master " + master + " widened to " + widened);
    return widened;
  }

  /**
   * Task slots Real-Time Mode needs: the partitions of every query's topic, plus one spare. On a
   * local master that includes the shared reads (decision 0108), which run beside their table's
   * sink queries while those start.
   */
  static int realTimeSlots(JobDescription job, boolean local) {
    Map<String, String> kafka = extraKafkaOptions(job);
    Map<String, Integer> partitions = new HashMap<>();
    List<QuerySpec> specs = new ArrayList<>(querySpecs(job));
    if (local) {
      try {
        specs.addAll(sharedSpecs(job).values());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    int slots = 1;
    for (QuerySpec spec : specs) {
      slots += partitions.computeIfAbsent(spec.table().topic, topic -> Upgrade.partitionCount(job, topic, kafka));
    }
    return slots;
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
    s.sourceId = job.source.id;
    s.sourceLabel = job.source.label == null ? job.source.id : job.source.label;
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

  /**
   * One streaming query per sink and table (decision 0040): each has its own checkpoint, so a
   * stopped MongoDB never delays Redis, and a slow table never delays another. The table's first
   * sink (Redis when it is on) sends its validation dead letters, so each is sent once.
   */
  record QuerySpec(String sink, Table table, boolean deadLetters, String name, String checkpoint) {}

  static List<QuerySpec> querySpecs(JobDescription job) {
    List<QuerySpec> out = new ArrayList<>();
    for (Table t : job.tables) {
      List<String> sinks = new ArrayList<>();
      if (job.sinks.redis != null && t.redis != null) {
        sinks.add("redis");
      }
      if (job.sinks.mongodb != null && t.mongodb != null) {
        sinks.add("mongodb");
      }
      if (sinks.isEmpty()) {
        // Neither sink takes the table: a query still reads it so bad events reach the DLQ.
        sinks.add(job.sinks.redis != null ? "redis" : "mongodb");
      }
      for (int i = 0; i < sinks.size(); i++) {
        String sink = sinks.get(i);
        out.add(new QuerySpec(sink, t, i == 0, sink + ":" + t.label(), sinkCheckpoint(job.checkpointLocation, sink, t.topic)));
      }
    }
    return out;
  }

  /** The shared read of each table that starts on one (decision 0108), by topic. */
  static Map<String, QuerySpec> sharedSpecs(JobDescription job) throws IOException {
    Map<String, QuerySpec> out = new LinkedHashMap<>();
    for (Table t : job.tables) {
      if (SharedReader.wanted(job, t, System.getenv())) {
        out.put(t.topic, new QuerySpec(SharedReader.BOTH, t, true, SharedReader.BOTH + ":" + t.label(), SharedReader.checkpoint(job, t.topic)));
      }
    }
    return out;
  }

  /** Where a sink's query for a topic keeps its checkpoint, under the job's checkpointLocation. */
  static String sinkCheckpoint(String checkpointLocation, String sink, String topic) {
    return new File(new File(new File(checkpointLocation, "sinks"), sink), topic).getPath();
  }

  static int run(SparkSession spark, JobDescription job) throws Exception {
    PartitionWriter.Settings settings = settings(job);
    if (realTime(job) && !spark.sparkContext().isLocal()) {
      int slots = realTimeSlots(job, false);
      int have = spark.sparkContext().defaultParallelism();
      if (have < slots) {
        System.err.println(
            "syncline spark: WARNING real-time mode needs " + slots + " task slots (one per Kafka partition of each query)"
                + " and the cluster offers " + have + " now; partitions without a slot are not read. Give the job more"
                + " executor cores, or set spark.mode: micro-batch");
      }
    }
    Map<String, ObjectNode> batchTables = new ConcurrentHashMap<>();
    List<QuerySpec> specs = querySpecs(job);
    // Tables read once for both sinks until they catch up (decision 0108), by topic.
    Map<String, QuerySpec> shared = spark.sparkContext().isLocal() ? sharedSpecs(job) : Map.of();
    Map<String, java.util.concurrent.CompletableFuture<Boolean>> handedOver = new HashMap<>();
    shared.keySet().forEach(topic -> handedOver.put(topic, new java.util.concurrent.CompletableFuture<>()));
    List<QuerySpec> reported = new ArrayList<>(specs);
    reported.addAll(shared.values());
    ProgressListener progress = new ProgressListener(job.progressFile, batchTables, reported);
    spark.streams().addListener(progress);
    StatsCollector collector = new StatsCollector(spark, reported, progress);
    ScheduledExecutorService collecting = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread th = new Thread(r, "syncline-stats");
      th.setDaemon(true);
      return th;
    });
    if (realTime(job)) {
      collecting.scheduleWithFixedDelay(collector, StatsCollector.EVERY_MS, StatsCollector.EVERY_MS, TimeUnit.MILLISECONDS);
    }
    ExecutorService loops = Executors.newFixedThreadPool(specs.size(), r -> {
      Thread th = new Thread(r, "syncline-query");
      th.setDaemon(true);
      return th;
    });
    stopQueriesFirstOnShutdown(spark);
    List<Future<Integer>> running = new ArrayList<>();
    for (QuerySpec spec : specs) {
      running.add(
          loops.submit(
              () -> {
                java.util.concurrent.CompletableFuture<Boolean> handed = handedOver.get(spec.table().topic);
                if (handed != null) {
                  // The table's first sink query runs the shared read; the other waits for its end.
                  if (spec.deadLetters()) {
                    try {
                      handed.complete(SharedReader.run(spark, job, shared.get(spec.table().topic), settings, batchTables, () -> stopping));
                    } catch (Exception e) {
                      handed.completeExceptionally(e);
                      throw e;
                    }
                  }
                  if (!handed.join()) {
                    return 0; // the job is stopping; the next start resumes the shared read
                  }
                  SharedReader.startOneAtATime(spec);
                }
                return runQuery(spark, job, spec, settings.forSink(spec.sink(), spec.deadLetters()), batchTables);
              }));
    }
    int code = 0;
    for (Future<Integer> f : running) {
      code = Math.max(code, f.get());
    }
    collecting.shutdownNow();
    if (realTime(job)) {
      collector.run(); // what the last tasks reported as they ended
    }
    return code;
  }

  /** Set once the JVM is shutting down: a query that ends then is not started again. */
  private static volatile boolean stopping;

  /** How long the shutdown waits for the queries to stop before Spark's own hook goes on. */
  static final long STOP_QUERIES_MS = 10_000;

  /** Loggers that report a stopped query's interrupted batch as a failure. */
  static final List<String> QUIET_WHILE_STOPPING =
      List.of(
          "org.apache.spark.sql.execution.datasources.v2",
          "org.apache.spark.sql.execution.streaming",
          // "Aborting task", logged by the helper that runs a task's failure callbacks.
          "org.apache.spark.util.Utils");

  /**
   * On SIGTERM (`syncline run` stopping, Ctrl-C) the queries are stopped before Spark's shutdown
   * hook stops the context. Left to that hook, the context went away under running queries and
   * every stop filled the log with Spark's ERROR lines and stack traces (a write "aborting", a
   * query "terminated with error") that a user reads as a failure. Hadoop's hook manager runs
   * hooks by priority, highest first, and Spark's whole shutdown runs at
   * FileSystem.SHUTDOWN_HOOK_PRIORITY + 30. What a stopped query had not yet committed is replayed
   * from its checkpoint at the next start, as after any stop.
   */
  static void stopQueriesFirstOnShutdown(SparkSession spark) {
    org.apache.hadoop.util.ShutdownHookManager.get()
        .addShutdownHook(
            () -> {
              stopping = true;
              // Stopping a query interrupts the batch it has running (in real-time mode one runs
              // all the time), and Spark logs that abort at ERROR with a stack trace per task. Here
              // it is the intended outcome, said once below, so those loggers are quiet from now on.
              for (String logger : QUIET_WHILE_STOPPING) {
                org.apache.logging.log4j.core.config.Configurator.setLevel(logger, org.apache.logging.log4j.Level.OFF);
              }
              StreamingQuery[] active = spark.streams().active();
              List<Thread> stoppers = new ArrayList<>();
              for (StreamingQuery q : active) {
                Thread th = new Thread(() -> {
                  try {
                    q.stop();
                  } catch (Exception e) {
                    System.err.println("syncline spark: stopping query " + q.name() + ": " + Checker.firstLine(e));
                  }
                }, "syncline-stop-" + q.name());
                th.setDaemon(true);
                th.start();
                stoppers.add(th);
              }
              long deadline = System.currentTimeMillis() + STOP_QUERIES_MS;
              for (Thread th : stoppers) {
                try {
                  th.join(Math.max(1, deadline - System.currentTimeMillis()));
                } catch (InterruptedException e) {
                  Thread.currentThread().interrupt();
                  return;
                }
              }
              long left = stoppers.stream().filter(Thread::isAlive).count();
              // A stopped query's tasks are cancelled, not yet gone: their last status reaches the
              // scheduler a moment later, and one that arrives after Spark's hook has shut the
              // scheduler's pools down is logged as an ERROR. Wait for them within the same bound.
              while (System.currentTimeMillis() < deadline && runningTasks(spark) > 0) {
                try {
                  Thread.sleep(20);
                } catch (InterruptedException e) {
                  Thread.currentThread().interrupt();
                  return;
                }
              }
              System.err.println(
                  "syncline spark: stopping: " + (active.length - left) + " of " + active.length + " queries stopped"
                      + (left > 0 ? " (the rest stop with the Spark context)" : "")
                      + "; what their running batches had not committed is read again at the next start");
            },
            org.apache.hadoop.fs.FileSystem.SHUTDOWN_HOOK_PRIORITY + 40);
  }

  /**
   * Tasks the scheduler still counts as running. Its own map, not the status tracker: the tracker
   * is fed by the listener bus and showed none while a killed task's last status update had not
   * reached the scheduler yet (CI, 2026-12-04: "ERROR TaskSchedulerImpl: Exception in
   * statusUpdate" after the wait). The scheduler forgets a task only when that update arrives.
   */
  static int runningTasks(SparkSession spark) {
    if (spark.sparkContext().taskScheduler() instanceof org.apache.spark.scheduler.TaskSchedulerImpl scheduler) {
      return scheduler.taskIdToTaskSetManager().size();
    }
    int n = 0;
    for (org.apache.spark.SparkExecutorInfo e : spark.sparkContext().statusTracker().getExecutorInfos()) {
      n += e.numRunningTasks();
    }
    return n;
  }

  /** Runs one sink's query for one table, restarting it from its checkpoint after a failure. */
  static int runQuery(SparkSession spark, JobDescription job, QuerySpec spec, PartitionWriter.Settings settings, Map<String, ObjectNode> batchTables) throws Exception {
    int failures = 0;
    long lastFailure = 0;
    while (true) {
      if (stopping) {
        return 0;
      }
      StreamingQuery q = start(spark, job, spec, settings, batchTables);
      try {
        q.awaitTermination();
        return 0;
      } catch (StreamingQueryException e) {
        if (stopping || spark.sparkContext().isStopped()) {
          // The JVM is shutting down (SIGTERM from `syncline run`, Ctrl-C) and the query did not
          // stop cleanly before the context went: no batch failed, and a restart on a stopped
          // context cannot succeed. Non-zero all the same, so that a context lost any other way
          // gets a fresh JVM.
          System.err.println("syncline spark: " + spec.name() + " stopped: the job is stopping");
          return 1;
        }
        long now = System.currentTimeMillis();
        failures = consecutiveFailures(failures, now - lastFailure);
        lastFailure = now;
        // A class that failed to load stays failed in this JVM: retrying here would fail every
        // batch forever. Exiting lets `syncline run` start a fresh JVM (its supervisor backs off).
        if (linkageError(e) != null) {
          System.err.println(
              "syncline spark: batch failed (" + linkageError(e)
                  + "); the job's classes cannot be loaded in this JVM (was the jar rebuilt while it ran?); exiting so that a fresh JVM starts");
          System.out.flush();
          Runtime.getRuntime().halt(3);
        }
        long backoff = backoffMs(failures);
        System.err.println(
            "syncline spark: " + spec.name() + " batch failed (" + Checker.firstLine(e.cause() == null ? e : e.cause())
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
    return Checker.cause(e, t -> t instanceof LinkageError);
  }

  static final int MAX_POLL_RECORDS = 2_000;

  static StreamingQuery start(SparkSession spark, JobDescription job, QuerySpec spec, PartitionWriter.Settings settings, Map<String, ObjectNode> batchTables) throws Exception {
    Table t = spec.table();
    DataStreamReader r =
        spark.readStream()
            .format("kafka")
            .option("kafka.bootstrap.servers", job.kafka.bootstrapServers)
            .option("subscribe", t.topic)
            .option("startingOffsets", Upgrade.startingOffsets(job, spec, extraKafkaOptions(job)));
    long perTrigger = job.kafka.maxOffsetsPerTrigger != null ? job.kafka.maxOffsetsPerTrigger : DEFAULT_MAX_OFFSETS_PER_TRIGGER;
    // Real-Time Mode refuses a per-trigger limit: its batches are time-bounded.
    if (perTrigger > 0 && !realTime(job)) {
      r = r.option("maxOffsetsPerTrigger", perTrigger);
    }
    // Kafka's default of 500 records per poll made a catching-up reader poll ~20 times a second
    // per partition, each poll allocating the client's request and metrics objects; a user's own
    // setting (kafka.options) comes after and wins (decision 0085).
    r = r.option("kafka.max.poll.records", String.valueOf(MAX_POLL_RECORDS));
    for (Map.Entry<String, String> e : extraKafkaOptions(job).entrySet()) {
      r = r.option("kafka." + e.getKey(), e.getValue());
    }
    // The table's plan is built and analysed once, on the stream: each micro-batch only runs it
    // (re-analysing its validation and transform expressions cost hundreds of ms per batch).
    Dataset<Row> planned = TablePlan.plan(TablePlan.fromKafka(r.load()), t).out();
    PartitionWriter writer = new PartitionWriter(t, settings, planned.schema().apply(TablePlan.FIELDS).dataType());
    int tidied = Checkpoints.removeTempFiles(spec.checkpoint());
    if (tidied > 0) {
      System.err.println("syncline spark: " + spec.name() + ": removed " + tidied + " unfinished checkpoint file(s) left by a killed run");
    }
    if (realTime(job)) {
      StatsAccumulator acc = new StatsAccumulator();
      spark.sparkContext().register(acc, "syncline " + spec.name());
      realTimeStats.put(spec.name(), acc);
      return planned
          .writeStream()
          .queryName(spec.name())
          .option("checkpointLocation", spec.checkpoint())
          .outputMode("update")
          .trigger(Trigger.RealTime(Math.max(job.triggerIntervalMs, MIN_REAL_TIME_CHECKPOINT_MS)))
          .foreach(new RealTimeWriter(writer, acc, spec.checkpoint(), !spec.sink().equals(SharedReader.BOTH)))
          .start();
    }
    VoidFunction2<Dataset<Row>, Long> perBatch = (batch, batchId) -> processBatch(spec, writer, batch, batchId, batchTables);
    return planned
        .writeStream()
        .queryName(spec.name())
        .option("checkpointLocation", spec.checkpoint())
        .trigger(job.availableNow ? Trigger.AvailableNow() : Trigger.ProcessingTime(job.triggerIntervalMs))
        .foreachBatch(perBatch)
        .start();
  }

  /** Spark refuses a shorter Real-Time Mode batch (spark.sql.streaming.realTimeMode.minBatchDuration). */
  static final long MIN_REAL_TIME_CHECKPOINT_MS = 5000;

  /** Real-Time Mode for continuous runs; a catch-up run (availableNow) stays a micro-batch run. */
  static boolean realTime(JobDescription job) {
    return job.realTime && !job.availableNow;
  }

  /** Counters of the Real-Time Mode queries, by query name, drained at each progress report. */
  static final Map<String, StatsAccumulator> realTimeStats = new ConcurrentHashMap<>();

  /**
   * Events per micro-batch when the job description sets none: a backlog or an initial load then
   * moves in steps a user can watch instead of one batch of minutes (decision 0041).
   */
  static final long DEFAULT_MAX_OFFSETS_PER_TRIGGER = 20_000;

  /** One table's batch for one sink: a single pass over the Kafka records, no shuffle, no cache. */
  static void processBatch(QuerySpec spec, PartitionWriter w, Dataset<Row> batch, long batchId, Map<String, ObjectNode> batchTables) {
    long started = System.nanoTime();
    Stats total = new Stats();
    for (Stats s : batch.mapPartitions(w, Encoders.javaSerialization(Stats.class)).collectAsList()) {
      total.merge(s);
    }
    batchTables.put(spec.name() + "#" + batchId, tableLine(total, (System.nanoTime() - started) / 1_000_000));
  }

  /** A table's part of a SYNCLINE_PROGRESS line: its counters and dead-letter rules. */
  static ObjectNode tableLine(Stats total, long totalMs) {
    ObjectNode o = JsonNodeFactory.instance.objectNode();
    o.put("ms.total", totalMs);
    total.counts.forEach(o::put);
    if (!total.dlqRules.isEmpty()) {
      ObjectNode rules = o.putObject("dlqRules");
      total.dlqRules.forEach(rules::put);
    }
    return o;
  }

  /** Prints one SYNCLINE_PROGRESS line per batch that carried data, and appends it to a file. */
  static final class ProgressListener extends StreamingQueryListener {
    private final String progressFile;
    private final Map<String, ObjectNode> batchTables;
    private final Map<String, QuerySpec> specs = new HashMap<>();

    ProgressListener(String progressFile, Map<String, ObjectNode> batchTables, List<QuerySpec> specs) {
      this.progressFile = progressFile;
      this.batchTables = batchTables;
      specs.forEach(s -> this.specs.put(s.name(), s));
    }

    @Override
    public void onQueryStarted(QueryStartedEvent event) {
      OUT.println("SYNCLINE_STARTED {\"id\":\"" + event.id() + "\",\"name\":\"" + event.name() + "\"}");
    }

    @Override
    public void onQueryProgress(QueryProgressEvent event) {
      var p = event.progress();
      QuerySpec spec = specs.get(p.name());
      ObjectNode table = batchTables.remove(p.name() + "#" + p.batchId());
      long rows = p.numInputRows();
      StatsAccumulator rt = realTimeStats.get(p.name());
      if (rt != null) {
        // Only what the tasks could not report through the checkpoint (StatsCollector has the rest).
        Stats s = rt.drain();
        table = s.isEmpty() ? null : tableLine(s, p.batchDuration());
        rows = s.get("events");
      }
      if (table == null || spec == null) {
        return; // an idle tick without data: nothing was written
      }
      ObjectNode o = line(spec, p.batchId(), p.timestamp(), rows, finite(p.inputRowsPerSecond()), finite(p.processedRowsPerSecond()), p.batchDuration(), table);
      ObjectNode phases = o.putObject("phasesMs");
      p.durationMs().forEach((k, v) -> phases.put(k, v));
      // Where the query stands, so `syncline status` can show each sink's lag without reading
      // the checkpoint of every query.
      if (p.sources().length > 0) {
        o.put("endOffset", p.sources()[0].endOffset());
      }
      printFor(spec, o);
    }

    /**
     * Prints a query's progress line. A shared read of both sinks (decision 0108) prints one line
     * per sink, as their two queries would: the Redis line is the table's primary one (events and
     * dead letters count there, as they do for the Redis query) and each line keeps only its own
     * sink's latency, so `status`, the demo's summary and the progress file read the same either way.
     */
    void printFor(QuerySpec spec, ObjectNode o) {
      if (!spec.sink().equals(SharedReader.BOTH)) {
        print(o);
        return;
      }
      for (String sink : List.of("redis", "mongodb")) {
        boolean primary = sink.equals("redis");
        String other = primary ? "mongodb" : "redis";
        ObjectNode line = o.deepCopy();
        line.put("sink", sink);
        line.put("primary", primary);
        line.withObjectProperty("tables").properties().forEach(t -> {
          ObjectNode table = (ObjectNode) t.getValue();
          table.properties().removeIf(f -> f.getKey().startsWith("latency." + other + ".") || (!primary && f.getKey().startsWith("dlq")));
        });
        if (!primary) {
          line.putObject("dlq");
        }
        print(line);
      }
    }

    /** A progress line's common part: the query, its table's counters and its dead letters. */
    ObjectNode line(QuerySpec spec, long batchId, String timestamp, long rows, double inRate, double processedRate, long durationMs, ObjectNode table) {
      ObjectNode tables = JsonNodeFactory.instance.objectNode();
      tables.set(spec.table().label(), table);
      ObjectNode o = JsonNodeFactory.instance.objectNode();
      o.put("sink", spec.sink());
      // The query that sends the table's dead letters: its lines count events and dead letters.
      o.put("primary", spec.deadLetters());
      o.put("batchId", batchId);
      o.put("timestamp", timestamp);
      o.put("numInputRows", rows);
      o.put("inputRowsPerSecond", inRate);
      o.put("processedRowsPerSecond", processedRate);
      o.put("durationMs", durationMs);
      o.set("tables", tables);
      Map<String, Long> dlq = new LinkedHashMap<>();
      tables.properties().forEach(e -> {
        if (e.getValue().has("dlq")) {
          dlq.put(e.getKey(), e.getValue().get("dlq").asLong());
        }
      });
      ObjectNode d = o.putObject("dlq");
      dlq.forEach(d::put);
      return o;
    }

    /** Prints the line for the supervisor and appends it to the progress file. */
    synchronized void print(ObjectNode o) {
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

  /**
   * Collects the counters and latency histograms that real-time tasks write to their query's
   * checkpoint every second ({@link RealTimeWriter}) and prints them as progress lines: `status`
   * then shows rates and latency as they are, not once per checkpoint interval (decision 0074).
   * Files are deleted once read; those a killed driver left are read by the next one.
   */
  static final class StatsCollector implements Runnable {
    static final String DIR = "stats";
    static final long EVERY_MS = 1000;

    private final SparkSession spark;
    private final List<QuerySpec> specs;
    private final ProgressListener out;
    private final Map<String, Long> lastAt = new HashMap<>();

    StatsCollector(SparkSession spark, List<QuerySpec> specs, ProgressListener out) {
      this.spark = spark;
      this.specs = specs;
      this.out = out;
    }

    @Override
    public synchronized void run() {
      // A scheduled task that throws is never run again: one bad round must not end reporting.
      try {
        for (QuerySpec spec : specs) {
          collect(spec);
        }
      } catch (RuntimeException e) {
        System.err.println("syncline spark: cannot collect the real-time counters: " + Checker.firstLine(e));
      }
    }

    private void collect(QuerySpec spec) {
      long now = System.currentTimeMillis();
      long since = lastAt.getOrDefault(spec.name(), now - EVERY_MS);
      Stats total = read(spec.checkpoint());
      if (total.isEmpty()) {
        return;
      }
      lastAt.put(spec.name(), now);
      long ms = Math.max(1, now - since);
      long events = total.get("events");
      double rate = events * 1000.0 / ms;
      out.printFor(spec, out.line(spec, currentBatch(spec), Instant.ofEpochMilli(now).toString(), events, rate, rate, ms, tableLine(total, ms)));
    }

    /** Adds up and deletes the counter files under a checkpoint. */
    static Stats read(String checkpoint) {
      Stats total = new Stats();
      File root = Checkpoints.localPath(checkpoint);
      File[] files = root == null ? null : new File(root, DIR).listFiles((d, n) -> !n.startsWith(".") && n.endsWith(".json"));
      if (files == null) {
        return total;
      }
      for (File f : files) {
        try {
          JsonNode o = JSON.readTree(f);
          o.path("counts").properties().forEach(e -> total.add(e.getKey(), e.getValue().asLong()));
          o.path("dlqRules").properties().forEach(e -> total.dlqRules.merge(e.getKey(), e.getValue().asLong(), Long::sum));
        } catch (IOException e) {
          System.err.println("syncline spark: ignoring unreadable counters " + f + ": " + Checker.firstLine(e));
        }
        if (!f.delete()) {
          System.err.println("syncline spark: cannot delete " + f + "; its counters may be reported twice");
        }
      }
      return total;
    }

    /** The batch under way: the one after the query's last finished batch. */
    private long currentBatch(QuerySpec spec) {
      for (StreamingQuery q : spark.streams().active()) {
        if (spec.name().equals(q.name())) {
          var last = q.lastProgress();
          return last == null ? 0 : last.batchId() + 1;
        }
      }
      return 0;
    }
  }
}
