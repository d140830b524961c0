package dev.syncline.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.spark.sql.ForeachWriter;
import org.apache.spark.sql.Row;

/**
 * The sink side of a Real-Time Mode query (decision 0044): one long-running task per Kafka
 * partition hands every record to {@link #process} as soon as it is read. Records are applied by
 * a flusher thread, which takes everything gathered since its previous flush and applies it with
 * the same code as a micro-batch partition ({@link PartitionWriter#apply}: newest per key, dead
 * letters, truncates, chunks in flight). Before it takes them, the flusher lets a run of rows that
 * are still arriving finish (a gap of 0.2 ms, 2 ms at most; {@link #settle}), so one Kafka fetch
 * is one flush. A lone record waits one gap (0.2 ms; a few ms on a loaded machine, where a park
 * sleeps longer than asked), and under load the flushes grow by themselves, with no linger to tune.
 *
 * <p>Spark commits the query's offsets only after {@link #close} returned without an error, and
 * close waits for every flush: nothing is acknowledged to Kafka before the sinks have it. A failed
 * flush fails the task (the next {@link #process} or close throws), and the query restarts from its
 * last checkpoint; the replay is absorbed by the version guards.
 *
 * <p>Spark writes the query's offsets only at the end of a batch (the checkpoint interval), so
 * after each flush the task also records how far its partition is applied, in
 * {@code <checkpoint>/applied/<topic>-<partition>} (the next offset to apply, written at most every
 * {@link #APPLIED_EVERY_MS} ms): `syncline status` and `verify --wait` read it to show the lag as
 * it is, not as it was at the last checkpoint. The checkpoint is on a path every node reaches.
 *
 * <p>The task's counters and latency histograms go the same way, not with the task's end (which
 * comes only at the checkpoint interval, 5 minutes by default): every {@link #STATS_EVERY_MS} ms
 * after a write the counters gathered since the previous report are written as a new file in
 * {@code <checkpoint>/stats/}, which the driver collects, prints as progress lines and deletes
 * ({@link SynclineJob.StatsCollector}). Counters that cannot be written there (a checkpoint that is
 * not a local path, a failed write) go to the driver with the task's end, as before (decision
 * 0074).
 */
final class RealTimeWriter extends ForeachWriter<Row> {
  private static final long serialVersionUID = 1L;
  /**
   * Records gathered and not yet applied, at most: process() waits beyond this (backpressure).
   * Four chunks in flight take 2,000 rows, so a larger queue buys no parallelism; it only keeps
   * rows alive across young collections (every task of every query holds up to twice this while a
   * flush runs): 20,000 cost the initial load 107 ms of job CPU per 1,000 rows, 2,000 (with
   * Kafka polls of 2,000 records) cost 90 (decision 0085).
   */
  static final int MAX_PENDING = 2_000;
  /**
   * The settle before a flush ({@link #settle}): rows less than this apart belong to one run. The
   * plan took 11 µs per row of a fetch in the trace of decision 0086; a lone row waits this once.
   */
  static final long SETTLE_GAP_NANOS = 200_000;
  /** The settle's bound: a steady stream is flushed at least this often. */
  static final long SETTLE_MAX_NANOS = 2_000_000;
  static final long APPLIED_EVERY_MS = 200;
  /**
   * The wait before a flush is tried again after an unreachable sink; it doubles up to the max. A
   * negative first wait: not tried again, the task fails.
   */
  static final long RETRY_FIRST_MS = 250;
  static final long RETRY_MAX_MS = 4_000;
  static final long STATS_EVERY_MS = 1000;
  private static final ObjectMapper JSON = new ObjectMapper();
  /**
   * Writes the applied positions and counter files of every task in this JVM, in the order they
   * were handed over. A write (create, write, rename) took 0.3–1 ms, and 14–29 ms a few times a
   * minute while Kafka and MongoDB wrote to the same disk; on the flusher it held back the next
   * flush, and with it that flush's commit → sink latency (decision 0111). The files are best
   * effort, so nothing waits for them but close().
   */
  private static final ExecutorService REPORTER = Executors.newSingleThreadExecutor(daemon("syncline-report"));

  /** Threads that never keep the JVM alive, all named {@code name}. */
  private static java.util.concurrent.ThreadFactory daemon(String name) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    };
  }

  /** Checkpoints of queries whose writer failed a flush and does not retry, with the failure. */
  static final java.util.Map<String, Throwable> FAILED_WITHOUT_RETRY = new java.util.concurrent.ConcurrentHashMap<>();

  /** Applies one flush's rows to the sinks and returns their counters ({@link PartitionWriter#apply}). */
  interface Applier extends java.io.Serializable {
    Stats apply(java.util.Iterator<Row> rows) throws Exception;

    /** Applies a flush, given the {@link #lookAhead}s of some of its rows (maybe still running). */
    default Stats apply(java.util.Iterator<Row> rows, List<? extends Future<?>> lookAheads) throws Exception {
      return apply(rows);
    }

    /** Whether {@link #lookAhead} has anything to read for this row; asked of every row, so cheap. */
    default boolean looksAhead(Row row) {
      return false;
    }

    /**
     * Reads what a flush of these rows will need, while the rest of its rows arrive (decision
     * 0111); null when there is nothing to read. Only a hint: the flush checks what it gets.
     */
    default Object lookAhead(List<Row> rows) throws Exception {
      return null;
    }
  }

  /** Runs the look-aheads of the flushes being gathered, for every task of this JVM. */
  private static final ExecutorService LOOK_AHEAD = Executors.newFixedThreadPool(2, daemon("syncline-look-ahead"));
  /**
   * Rows of one flush that are looked ahead, at most: it pays while rows trickle in and the flush
   * waits for them (the settle), not once a backlog fills flushes at once.
   */
  static final int LOOK_AHEAD_ROWS = 200;

  private final Applier writer;
  private final long settleGapNanos;
  private final long settleMaxNanos;
  private final long retryFirstMs;
  private final StatsAccumulator stats;
  private final String checkpoint;

  private transient List<Row> pending;
  /** Look-aheads of the rows in {@link #pending}, maybe still running. */
  private transient List<CompletableFuture<Object>> lookAheads;
  /** Rows in {@link #pending} that no look-ahead has taken yet. */
  private transient List<Row> toLookAhead;
  private transient boolean lookingAhead;
  /** The flusher is applying: rows arriving meanwhile go without a look-ahead. */
  private transient boolean flushing;
  private transient Thread flusher;
  private transient Throwable failure;
  private transient boolean closing;
  private transient boolean abandoned;
  /** Counters not yet reported; only the flusher thread (and close(), after joining it) touches them. */
  private transient Stats unreported;
  private transient long statsWrittenAt;
  /** Where this task reports its counters, or null when they go with the task's end. */
  private transient File statsDir;
  private transient String statsName;
  private transient int statsSeq;
  private transient long appliedWrittenAt;
  /** The last report handed to {@link #REPORTER} by this task; close() waits for it. */
  private transient Future<?> lastReport;
  /** Counters the reporter could not write; they go to the driver with the task's end. */
  private transient Queue<Stats> unwritten;
  /** Only the flusher thread (and close(), after joining it) touches the applied position. */
  private transient boolean appliedDirty;
  private transient long appliedOffset;
  private transient String appliedTopic;
  private transient int appliedPartition;

  /**
   * {@code retryOutages}: false for the shared read of both sinks ({@link SharedReader}), which
   * hands over to the sink queries when a sink is unreachable instead of holding the other back.
   */
  RealTimeWriter(PartitionWriter writer, StatsAccumulator stats, String checkpoint, boolean retryOutages) {
    this(writer, stats, checkpoint, SETTLE_GAP_NANOS, SETTLE_MAX_NANOS, retryOutages ? RETRY_FIRST_MS : -1);
  }

  RealTimeWriter(
      Applier writer, StatsAccumulator stats, String checkpoint, long settleGapNanos, long settleMaxNanos, long retryFirstMs) {
    this.writer = writer;
    this.settleGapNanos = settleGapNanos;
    this.settleMaxNanos = settleMaxNanos;
    this.retryFirstMs = retryFirstMs;
    this.stats = stats;
    this.checkpoint = checkpoint;
  }

  @Override
  public boolean open(long partitionId, long epochId) {
    pending = new ArrayList<>();
    lookAheads = new ArrayList<>();
    toLookAhead = new ArrayList<>();
    lookingAhead = false;
    flushing = false;
    failure = null;
    closing = false;
    abandoned = false;
    unreported = new Stats();
    statsWrittenAt = System.currentTimeMillis();
    File root = Checkpoints.localPath(checkpoint);
    statsDir = root == null ? null : new File(root, SynclineJob.StatsCollector.DIR);
    statsName = UUID.randomUUID().toString().substring(0, 8);
    statsSeq = 0;
    appliedWrittenAt = 0;
    lastReport = null;
    unwritten = new ConcurrentLinkedQueue<>();
    appliedOffset = -1;
    appliedDirty = false;
    flusher = new Thread(this::flushLoop, "syncline-rtm-" + partitionId + "-" + epochId);
    flusher.setDaemon(true);
    flusher.start();
    return true;
  }

  @Override
  public void process(Row row) {
    synchronized (this) {
      while (pending.size() >= MAX_PENDING && failure == null) {
        waitQuietly();
      }
      rethrow();
      pending.add(row);
      // The flusher only waits while nothing is queued: one wake-up per run of rows, not per row.
      if (pending.size() == 1) {
        notifyAll();
      }
      if (!flushing && pending.size() <= LOOK_AHEAD_ROWS && writer.looksAhead(row)) {
        toLookAhead.add(row);
        if (!lookingAhead) {
          lookingAhead = true;
          LOOK_AHEAD.execute(this::lookAheadLoop);
        }
      }
    }
  }

  @Override
  public void close(Throwable error) {
    synchronized (this) {
      closing = true;
      // A failed or killed task leaves what it queued to the replay, not to its flusher.
      abandoned = error != null || Thread.currentThread().isInterrupted();
      notifyAll();
    }
    // The flusher's current write is waited for even when the task is being killed: a write
    // that lands after the replacement attempt has replayed the same keys must not go on
    // unseen (the MongoDB writer serialises writes of one key, see MongoSinkWriter.write).
    boolean interrupted = false;
    while (flusher.isAlive()) {
      try {
        flusher.join();
      } catch (InterruptedException e) {
        interrupted = true;
        synchronized (this) {
          abandoned = true;
        }
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    synchronized (this) {
      if (error == null && abandoned && !pending.isEmpty()) {
        // Never a normal end with rows left unwritten: the batch must not be committed.
        throw new IllegalStateException("the task was stopped before " + pending.size() + " queued rows were written; they are replayed");
      }
    }
    interrupted |= awaitReports();
    // The writes made so far count even when the task failed (its batch is replayed anyway).
    for (Stats s; (s = unwritten.poll()) != null; ) {
      unreported.merge(s);
    }
    writeStats();
    stats.add(unreported);
    if (error == null && !interrupted) {
      synchronized (this) {
        rethrow();
      }
      writeApplied();
    }
  }

  /**
   * Looks ahead for the rows queued since the last look-ahead, as long as there are any: rows
   * that come while one read runs are taken together by the next. A look-ahead that fails is
   * no loss: the flush reads for itself.
   */
  private void lookAheadLoop() {
    while (true) {
      List<Row> rows;
      CompletableFuture<Object> done = new CompletableFuture<>();
      synchronized (this) {
        if (toLookAhead.isEmpty() || closing) {
          lookingAhead = false;
          return;
        }
        rows = toLookAhead;
        toLookAhead = new ArrayList<>();
        lookAheads.add(done); // the flush that takes these rows takes this too
      }
      try {
        done.complete(writer.lookAhead(rows));
      } catch (Throwable t) {
        done.complete(null);
      }
    }
  }

  private synchronized int pendingSize() {
    return pending.size();
  }

  /**
   * Before a flush, waits while rows keep coming less than the settle gap apart ({@link
   * #SETTLE_GAP_NANOS}), for at most the settle's bound in all ({@link #SETTLE_MAX_NANOS}). Spark
   * hands over the records of one Kafka fetch one by one, and the flusher wakes at the first:
   * without this a fetch became a flush of one row and a flush of the rest, each with its own
   * MongoDB reads and commits (decision 0086).
   */
  private void settle() {
    long deadline = System.nanoTime() + settleMaxNanos;
    int seen = pendingSize();
    while (seen < MAX_PENDING && System.nanoTime() < deadline) {
      java.util.concurrent.locks.LockSupport.parkNanos(Math.min(settleGapNanos, deadline - System.nanoTime()));
      int now = pendingSize();
      if (now == seen) {
        return;
      }
      seen = now;
    }
  }

  private void flushLoop() {
    boolean settled = false;
    while (true) {
      List<Row> batch = null;
      List<CompletableFuture<Object>> ahead = List.of();
      boolean writePosition = false;
      boolean settle = false;
      synchronized (this) {
        while (pending.isEmpty() && !closing && !writePosition) {
          // A position or counters not yet recorded are recorded once the writes pause.
          long due = reportDueInMs();
          if (due <= 0) {
            writePosition = true;
          } else {
            waitQuietly(due == Long.MAX_VALUE ? 0 : due);
          }
        }
        if (!writePosition && !settled && !closing && failure == null && pending.size() < MAX_PENDING) {
          settle = true;
        }
      }
      if (settle) {
        settle();
        settled = true;
        continue;
      }
      settled = false;
      synchronized (this) {
        if (!writePosition) {
          if (pending.isEmpty() || failure != null || abandoned) {
            return;
          }
          batch = pending;
          ahead = lookAheads;
          pending = new ArrayList<>();
          lookAheads = new ArrayList<>();
          toLookAhead = new ArrayList<>(); // not taken yet: the flush reads for those itself
          flushing = true;
          notifyAll(); // a writer blocked on MAX_PENDING may go on
        }
      }
      if (batch == null) {
        reportDue();
        continue;
      }
      try {
        unreported.merge(applyThroughOutages(batch, ahead));
      } catch (Throwable t) {
        if (retryFirstMs < 0) {
          // A failed flush reaches Spark only with the task's next row or at the batch's end;
          // the shared read's driver (same JVM: local master only) hands over at once instead.
          FAILED_WITHOUT_RETRY.putIfAbsent(checkpoint, t);
        }
        synchronized (this) {
          failure = t;
          notifyAll();
        }
        return;
      }
      synchronized (this) {
        flushing = false;
      }
      Row last = batch.get(batch.size() - 1);
      appliedTopic = last.getAs(TablePlan.TOPIC);
      appliedPartition = last.<Integer>getAs(TablePlan.PARTITION);
      appliedOffset = Math.max(appliedOffset, last.<Long>getAs(TablePlan.OFFSET) + 1);
      appliedDirty = true;
      reportDue();
    }
  }

  /**
   * Applies a flush, and applies the same rows again while the failure is an unreachable sink (a
   * connection refused, reset, cut short or timed out) and the task is not closing. A failed flush
   * only reaches Spark at the task's next row or at the end of its batch (the checkpoint interval,
   * 5 minutes by default): after a 4 s SIGSTOP of Redis, a partition that got no further rows kept
   * that sink stale for 4 minutes (chaos, 2026-12-05). The writes are version-guarded and
   * idempotent, so applying rows again only counts them as stale; a dead letter may go out twice.
   * Other failures, and an outage still on when the batch ends, fail the task as before: close()
   * then throws and the batch is replayed from the checkpoint.
   */
  private Stats applyThroughOutages(List<Row> batch, List<CompletableFuture<Object>> ahead) throws Exception {
    long backoff = retryFirstMs;
    int tries = 0;
    while (true) {
      try {
        // A retry reads for itself: what was read ahead is older than the outage.
        Stats applied = writer.apply(batch.iterator(), tries == 0 ? ahead : List.of());
        if (tries > 0) {
          System.err.println("syncline spark: " + where(batch) + " answers again; " + batch.size() + " rows written after " + (tries + 1) + " tries");
        }
        return applied;
      } catch (Exception e) {
        if (!unreachable(e) || retryFirstMs < 0) {
          throw e;
        }
        synchronized (this) {
          if (closing) {
            throw e;
          }
          if (tries == 0) {
            System.err.println(
                "syncline spark: " + where(batch) + " is unreachable (" + Checker.firstLine(e)
                    + "); its rows are tried again until it answers or the batch ends");
          }
          tries++;
          waitQuietly(backoff);
          if (closing) {
            throw e;
          }
        }
        backoff = Math.min(RETRY_MAX_MS, backoff * 2);
      }
    }
  }

  /** "sink (topic-partition)" for a message: the checkpoint ends in {@code <sink>/<topic>}. */
  private String where(List<Row> batch) {
    String[] folders = checkpoint.split("/+");
    String sink = folders.length >= 2 ? folders[folders.length - 2] : "the sink";
    Row first = batch.get(0);
    return sink + " (" + first.getAs(TablePlan.TOPIC) + "-" + first.getAs(TablePlan.PARTITION) + ")";
  }

  /** A connection to a sink failed, as opposed to a write the sink refused. */
  static boolean unreachable(Throwable e) {
    return Checker.cause(
            e,
            t -> t instanceof redis.clients.jedis.exceptions.JedisConnectionException
                || t instanceof com.mongodb.MongoSocketException
                || t instanceof com.mongodb.MongoTimeoutException
                || t instanceof java.net.SocketException
                || t instanceof java.net.SocketTimeoutException)
        != null;
  }

  /** Ms until the applied position or the counters are due to be recorded; MAX_VALUE: nothing to record. */
  private long reportDueInMs() {
    long now = System.currentTimeMillis();
    long due = Long.MAX_VALUE;
    if (appliedDirty) {
      due = appliedWrittenAt + APPLIED_EVERY_MS - now;
    }
    if (statsDir != null && !unreported.isEmpty()) {
      due = Math.min(due, statsWrittenAt + STATS_EVERY_MS - now);
    }
    return due;
  }

  /**
   * Hands what is due to the reporter: the applied position every {@link #APPLIED_EVERY_MS} ms,
   * the counters gathered since the last report every {@link #STATS_EVERY_MS} ms. The flusher
   * only takes the values; the files are written by {@link #REPORTER}.
   */
  private void reportDue() {
    long now = System.currentTimeMillis();
    String topic = null;
    int partition = appliedPartition;
    long offset = appliedOffset;
    if (appliedDirty && now - appliedWrittenAt >= APPLIED_EVERY_MS && appliedOffset >= 0 && appliedTopic != null) {
      appliedWrittenAt = now;
      appliedDirty = false;
      topic = appliedTopic;
    }
    Stats counters = null;
    String name = null;
    if (now - statsWrittenAt >= STATS_EVERY_MS) {
      statsWrittenAt = now;
      if (statsDir != null && !unreported.isEmpty()) {
        counters = unreported; // handed over whole: the flusher goes on with a new one
        unreported = new Stats();
        name = nextStatsName();
      }
    }
    if (topic == null && counters == null) {
      return;
    }
    String appliedTopicNow = topic;
    Stats countersNow = counters;
    String nameNow = name;
    File dir = statsDir;
    lastReport =
        REPORTER.submit(
            () -> {
              if (appliedTopicNow != null) {
                writeAppliedFile(appliedTopicNow, partition, offset);
              }
              if (countersNow != null && !writeCounters(dir, nameNow, countersNow)) {
                unwritten.add(countersNow);
              }
            });
  }

  /** Waits for this task's last report; true when the wait was interrupted (it is then left to run). */
  private boolean awaitReports() {
    if (lastReport == null) {
      return false;
    }
    try {
      lastReport.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt(); // as the flusher's join above leaves it
      return true;
    } catch (java.util.concurrent.ExecutionException e) {
      System.err.println("syncline spark: a progress report failed: " + Checker.firstLine(e.getCause()));
    }
    return false;
  }

  private String nextStatsName() {
    return statsName + "-" + (statsSeq++) + ".json";
  }

  /**
   * Writes the counters gathered since the last report as a new file for the driver to collect
   * (never rewritten, so the driver may read and delete it at any time), in the closing thread.
   * Best effort: counters not written stay in {@link #unreported} and go to the driver with the
   * task's end.
   */
  private void writeStats() {
    statsWrittenAt = System.currentTimeMillis();
    if (statsDir == null || unreported.isEmpty()) {
      return;
    }
    if (writeCounters(statsDir, nextStatsName(), unreported)) {
      unreported = new Stats();
    }
  }

  private static boolean writeCounters(File dir, String name, Stats counters) {
    ObjectNode o = JSON.createObjectNode();
    ObjectNode counts = o.putObject("counts");
    counters.counts.forEach(counts::put);
    ObjectNode rules = o.putObject("dlqRules");
    counters.dlqRules.forEach(rules::put);
    try {
      writeWhole(dir.toPath(), name, o.toString());
      return true;
    } catch (IOException e) {
      System.err.println("syncline spark: cannot record counters in " + dir + " (they are reported at the next checkpoint): " + e.getMessage());
      return false;
    }
  }

  /** The applied position, in the closing thread. */
  private void writeApplied() {
    if (appliedOffset < 0 || appliedTopic == null) {
      return;
    }
    appliedWrittenAt = System.currentTimeMillis();
    appliedDirty = false;
    writeAppliedFile(appliedTopic, appliedPartition, appliedOffset);
  }

  /** Best effort: a position not written only makes the lag look larger until the next one. */
  private void writeAppliedFile(String topic, int partition, long offset) {
    try {
      writeWhole(Path.of(checkpoint, "applied"), topic + "-" + partition, Long.toString(offset));
    } catch (IOException e) {
      System.err.println("syncline spark: cannot record the applied position in " + checkpoint + ": " + e.getMessage());
    }
  }

  /** Writes a file under a dot-name and renames it into place: a reader never sees half of it. */
  private static void writeWhole(Path dir, String name, String text) throws IOException {
    Files.createDirectories(dir);
    Path tmp = dir.resolve("." + name + ".tmp");
    Files.writeString(tmp, text, StandardCharsets.UTF_8);
    Files.move(tmp, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private void rethrow() {
    if (failure != null) {
      throw failure instanceof RuntimeException re
          ? re
          : new IllegalStateException("a sink write failed: " + Checker.firstLine(failure), failure);
    }
  }

  private void waitQuietly() {
    waitQuietly(0);
  }

  /** Waits up to {@code ms} (0 = until notified). */
  private void waitQuietly(long ms) {
    try {
      wait(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the sinks", e);
    }
  }
}
