package dev.syncline.spark;

import dev.syncline.spark.JobDescription.Table;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartition;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.streaming.StreamingQuery;

/**
 * A table's first catch-up read once for both sinks (decision 0108). Each sink has its own query
 * (decision 0040), so each event of a backlog is read from Kafka, parsed and validated twice; on
 * the initial load that was a third of the job's CPU. A table that neither sink's query has applied
 * yet (a new pipeline, a table added later) therefore starts with one query writing both sinks,
 * with its own checkpoint {@code <checkpointLocation>/shared/<topic>}. It hands over to the two
 * sink queries, for good, when
 *
 * <ul>
 *   <li>it has caught up with a backlog: it was once more than {@link #BACKLOG_EVENTS} events
 *       behind the topic's end and is now at most {@link #CAUGHT_UP_EVENTS} behind, twice in a row,
 *       one second apart. A topic that is still empty keeps the shared read: the snapshot loads
 *       tables one after another, and a table whose turn has not come must not hand over before
 *       its load;
 *   <li>it has kept up for {@link #KEPT_UP_MS} without such a backlog (a small table, or changes
 *       only);
 *   <li>but for these two, only once every table of the job still on a shared read is within
 *       {@link #CAUGHT_UP_EVENTS} of its end as well ({@link #BEHIND}): the two sink queries of a
 *       table cost about as much CPU to start as a second of the load, and the initial load loads
 *       one table after another, so a table that caught up early would take that from the tables
 *       still loading (and read them twice from then on);
 *   <li>it has stalled: {@link #STALLED_MS} without any partition moving while behind (one sink is
 *       slow or stopped, and in this query the other waits for it); or
 *   <li>it failed, or a write of its failed: its writer does not wait for an unreachable sink, as
 *       a sink query's does (decision 0100), so a sink that is down ends the shared read at its
 *       first write (the writer tells it at once; Spark would hear of it only with the task's
 *       next row or at the end of the batch).
 * </ul>
 *
 * <p>The hand-over writes the marker {@code handed-over} and starts the sink queries from where
 * both sinks are known to have applied: per partition the later of the shared query's last commit
 * and its tasks' applied positions ({@link #appliedOffsets}). After catching up or keeping up, the
 * shared query goes on beside them until each has written past where it started (or, on a topic
 * without new events, has run {@link #IDLE_RUN_MS}), then stops: the sink queries take seconds to
 * start, and stopped before them it left both sinks unwritten meanwhile (up to 10 s at p99 in the
 * demo). Meanwhile an event may be applied by both, which the version guards and the in-JVM key
 * claim of the MongoDB writer make harmless, as any replay; a dead letter of those seconds may be
 * published twice. After a stall or a failure it stops at once: it is not helping then. A restart
 * before the marker resumes the shared query from its checkpoint; after it, the sink queries start
 * from the same offsets until they have checkpoints of their own.
 *
 * <p>Only in Real-Time Mode, with a local master and checkpoint (the applied positions are files),
 * when both sinks take the table; SYNCLINE_SHARED_READER=off turns it off.
 */
final class SharedReader {
  static final String DIR = "shared";
  /** The sink name of a shared query: its progress lines count for both sinks. */
  static final String BOTH = "both";
  static final String HANDED_OVER = "handed-over";
  static final long CAUGHT_UP_EVENTS = 2_000;
  static final long BACKLOG_EVENTS = 10_000;
  static final long KEPT_UP_MS = 15_000;
  static final long STALLED_MS = 15_000;
  static final long CHECK_EVERY_MS = 1_000;
  static final long IDLE_RUN_MS = 5_000;
  static final long OVERLAP_MAX_MS = 120_000;
  static final String CAUGHT_UP = "it caught up";
  static final String KEPT_UP = "it kept up";

  /** Tables on a shared read that are behind their topic's end, by topic (this JVM's). */
  static final java.util.Set<String> BEHIND = java.util.concurrent.ConcurrentHashMap.newKeySet();

  private SharedReader() {}

  static String checkpoint(JobDescription job, String topic) {
    return new File(new File(job.checkpointLocation, DIR), topic).getPath();
  }

  /** Whether a table starts on the shared query in this run (class comment). */
  static boolean wanted(JobDescription job, Table t, Map<String, String> env) throws IOException {
    if ("off".equals(env.get("SYNCLINE_SHARED_READER")) || !SynclineJob.realTime(job)) {
      return false;
    }
    if (job.sinks.mongodb == null || job.sinks.redis == null || t.mongodb == null || t.redis == null) {
      return false;
    }
    File root = Checkpoints.localPath(job.checkpointLocation);
    if (root == null || handedOver(job, t.topic)) {
      return false;
    }
    for (File own : sinkCheckpoints(job, t.topic)) {
      if (Upgrade.hasCommits(own) || !appliedOffsets(own, t.topic).isEmpty() || new File(own, "offsets").exists()) {
        return false; // a sink query has run: it goes on from its own checkpoint
      }
    }
    // A checkpoint of the single query of earlier versions: its sink queries start from it.
    return Upgrade.oldCommitted(root, t.topic) == null;
  }

  /** The checkpoints of a table's two sink queries. */
  private static List<File> sinkCheckpoints(JobDescription job, String topic) {
    return List.of("mongodb", "redis").stream().map(sink -> new File(SynclineJob.sinkCheckpoint(job.checkpointLocation, sink, topic))).toList();
  }

  /** The applied positions a real-time task records ({@link RealTimeWriter}), per partition. */
  static Map<Integer, Long> appliedOffsets(File checkpoint, String topic) {
    Map<Integer, Long> out = new HashMap<>();
    File[] files = new File(checkpoint, "applied").listFiles((d, n) -> n.startsWith(topic + "-"));
    if (files == null) {
      return out;
    }
    for (File f : files) {
      String partition = f.getName().substring(topic.length() + 1);
      if (!partition.matches("\\d+")) {
        continue;
      }
      try {
        String text = Files.readString(f.toPath(), StandardCharsets.UTF_8).trim();
        if (text.matches("\\d+")) {
          out.put(Integer.parseInt(partition), Long.parseLong(text));
        }
      } catch (IOException e) {
        // replaced while read; the commit or an older position still holds
      }
    }
    return out;
  }

  /**
   * Per partition, the next offset both sinks had applied when the shared query stopped: the later
   * of its last commit and its applied positions (both are facts). Null without a shared checkpoint.
   */
  static Map<Integer, Long> handedOffsets(JobDescription job, String topic) throws IOException {
    File dir = Checkpoints.localPath(checkpoint(job, topic));
    if (dir == null || !dir.isDirectory()) {
      return null;
    }
    Map<Integer, Long> out = new HashMap<>();
    Map<Integer, Long> committed = Upgrade.oldCommitted(dir, topic);
    if (committed != null) {
      out.putAll(committed);
    }
    appliedOffsets(dir, topic).forEach((p, at) -> out.merge(p, at, Math::max));
    return out.isEmpty() ? null : out;
  }

  static boolean handedOver(JobDescription job, String topic) {
    File dir = Checkpoints.localPath(checkpoint(job, topic));
    return dir != null && new File(dir, HANDED_OVER).exists();
  }

  /**
   * Runs the shared query until it hands over (class comment) or the job stops. Returns whether
   * it handed over; the caller then starts the sink queries.
   */
  static boolean run(SparkSession spark, JobDescription job, SynclineJob.QuerySpec spec, PartitionWriter.Settings settings, Map<String, com.fasterxml.jackson.databind.node.ObjectNode> batchTables, java.util.function.BooleanSupplier stopping) throws Exception {
    String topic = spec.table().topic;
    File dir = Checkpoints.localPath(spec.checkpoint());
    Properties props = Upgrade.adminProperties(job, SynclineJob.extraKafkaOptions(job));
    BEHIND.add(topic); // behind until a look at its topic shows otherwise
    try {
      return runShared(spark, job, spec, settings, batchTables, stopping, dir, props);
    } finally {
      BEHIND.remove(topic);
    }
  }

  private static boolean runShared(SparkSession spark, JobDescription job, SynclineJob.QuerySpec spec, PartitionWriter.Settings settings, Map<String, com.fasterxml.jackson.databind.node.ObjectNode> batchTables, java.util.function.BooleanSupplier stopping, File dir, Properties props) throws Exception {
    String topic = spec.table().topic;
    StreamingQuery q = SynclineJob.start(spark, job, spec, settings, batchTables);
    String why;
    try (Admin admin = Admin.create(props)) {
      long behindSince = -1;
      long keptUpSince = -1;
      boolean backlog = false;
      Map<Integer, Long> last = Map.of();
      int caughtUp = 0;
      while (true) {
        if (stopping.getAsBoolean()) {
          return false; // the job is stopping: the next start resumes this query
        }
        if (!q.isActive()) {
          if (stopping.getAsBoolean()) {
            return false; // stopped by the job's shutdown, not failed
          }
          why = "it stopped" + (q.exception().isDefined() ? " (" + Checker.firstLine(q.exception().get()) + ")" : "");
          break;
        }
        Thread.sleep(CHECK_EVERY_MS);
        Throwable failed = RealTimeWriter.FAILED_WITHOUT_RETRY.remove(spec.checkpoint());
        if (failed != null) {
          why = "a write failed (" + Checker.firstLine(failed) + ")";
          break;
        }
        Map<Integer, Long> at = appliedOffsets(dir, topic);
        long lag;
        try {
          lag = lag(admin, topic, at);
        } catch (Exception e) {
          // Kafka not answering: the query fails by itself if that lasts; nothing is decided now.
          continue;
        }
        long now = System.currentTimeMillis();
        backlog |= lag > BACKLOG_EVENTS;
        caughtUp = lag <= CAUGHT_UP_EVENTS ? caughtUp + 1 : 0;
        if (caughtUp > 0) {
          BEHIND.remove(topic);
        } else {
          BEHIND.add(topic);
        }
        boolean othersCaughtUp = BEHIND.isEmpty();
        if (caughtUp >= 2 && backlog && othersCaughtUp) {
          why = CAUGHT_UP + " (" + lag + " events behind)";
          break;
        }
        keptUpSince = caughtUp == 0 || at.isEmpty() ? -1 : keptUpSince < 0 ? now : keptUpSince;
        if (keptUpSince >= 0 && now - keptUpSince >= KEPT_UP_MS && othersCaughtUp) {
          why = KEPT_UP + " for " + (now - keptUpSince) / 1000 + " s";
          break;
        }
        // Before its first write the query may still be planning (seconds on a busy machine); a
        // sink that fails by then is reported by the writer (FAILED_WITHOUT_RETRY, above).
        if (at.isEmpty() || !at.equals(last) || lag <= CAUGHT_UP_EVENTS) {
          behindSince = -1;
        } else if (behindSince < 0) {
          behindSince = now;
        } else if (now - behindSince >= STALLED_MS) {
          why = "it stalled for " + (now - behindSince) / 1000 + " s with " + lag + " events to go (a sink is slow or unreachable)";
          break;
        }
        last = at;
      }
    }
    // The marker first: should the job die during the hand-over, the next start goes on with the
    // sink queries (from the positions read then), never back to a shared read that might overtake
    // them.
    Files.writeString(new File(dir, HANDED_OVER).toPath(), why + "\n", StandardCharsets.UTF_8);
    System.err.println("syncline spark: " + spec.name() + " hands over to its two sink queries: " + why);
    if (!overlaps(why)) {
      stop(q, spec, "at once");
      return true;
    }
    // The sink queries take seconds to start; stopped now, the shared read would leave both sinks
    // unwritten meanwhile. It goes on until they write (class comment).
    Map<Integer, Long> from = handedOffsets(job, topic);
    Thread th = new Thread(() -> stopOnceSinksRun(q, spec, job, from == null ? Map.of() : from, stopping), "syncline-hand-over");
    th.setDaemon(true);
    th.start();
    return true;
  }

  /** One sink query after a hand-over starts at a time ({@link #startOneAtATime}). */
  private static final java.util.concurrent.Semaphore STARTING = new java.util.concurrent.Semaphore(1);
  static final long START_SETTLE_MS = 2_000;
  static final long START_MAX_MS = 15_000;
  static final long POLL_MS = 100;

  /**
   * Waits until the sink query started before this one after a hand-over runs. A query's start is
   * mostly one thread planning and compiling, about 1.3 CPU-s here. The 8 sink queries of 4 tables
   * that caught up together started at once, and on 2 cores the shared reads still serving the live
   * changes then waited for CPU: in the demo the changes of those seconds took 2.5–10 s. One at a
   * time, a start takes one core and the shared reads keep the other.
   */
  static void startOneAtATime(SynclineJob.QuerySpec spec) throws InterruptedException {
    STARTING.acquire();
    Thread th = new Thread(() -> {
      try {
        awaitRuns(List.of(new File(spec.checkpoint())), spec.table().topic, Map.of(), START_SETTLE_MS, System.currentTimeMillis() + START_MAX_MS, () -> false);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        STARTING.release();
      }
    }, "syncline-query-start");
    th.setDaemon(true);
    th.start();
  }

  /** Whether the sink queries start beside the shared read: not when a sink is failing or slow. */
  static boolean overlaps(String why) {
    return why.startsWith(CAUGHT_UP) || why.startsWith(KEPT_UP);
  }

  private static void stop(StreamingQuery q, SynclineJob.QuerySpec spec, String when) {
    try {
      if (q.isActive()) {
        q.stop();
      }
      System.err.println("syncline spark: " + spec.name() + " stopped " + when);
    } catch (Exception e) {
      System.err.println("syncline spark: stopping " + spec.name() + ": " + Checker.firstLine(e));
    }
  }

  private static void stopOnceSinksRun(StreamingQuery q, SynclineJob.QuerySpec spec, JobDescription job, Map<Integer, Long> from, java.util.function.BooleanSupplier stopping) {
    String topic = spec.table().topic;
    long began = System.currentTimeMillis();
    java.util.function.BooleanSupplier ended = () -> !q.isActive() || stopping.getAsBoolean();
    try {
      boolean ran = awaitRuns(sinkCheckpoints(job, topic), topic, from, IDLE_RUN_MS, began + OVERLAP_MAX_MS, ended);
      if (ended.getAsBoolean()) {
        return;
      }
      stop(q, spec, ran
          ? "once its sink queries ran, " + (System.currentTimeMillis() - began) + " ms after the hand-over"
          : "after " + OVERLAP_MAX_MS / 1000 + " s beside its sink queries (they had not written yet)");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Waits until every one of these sink queries runs ({@link #sinkRuns}), until {@code deadline},
   * or until {@code ended} says to stop waiting. Returns whether they all run. The queries are
   * watched together: each one's planning time is seen when it happens, not after the wait for
   * the one before it ended (which moved a quiet topic's idle clock up to {@code idleMs} later).
   */
  static boolean awaitRuns(List<File> checkpoints, String topic, Map<Integer, Long> from, long idleMs, long deadline, java.util.function.BooleanSupplier ended) throws InterruptedException {
    Map<File, Long> planned = new HashMap<>();
    while (System.currentTimeMillis() < deadline && !ended.getAsBoolean()) {
      long now = System.currentTimeMillis();
      boolean all = true;
      for (File checkpoint : checkpoints) {
        if (!planned.containsKey(checkpoint) && new File(checkpoint, "offsets").isDirectory()) {
          planned.put(checkpoint, now);
        }
        all &= sinkRuns(appliedOffsets(checkpoint, topic), from, planned.get(checkpoint), now, idleMs);
      }
      if (all) {
        return true;
      }
      Thread.sleep(POLL_MS);
    }
    return false;
  }

  /**
   * Whether a sink query is reading: it applied past {@code from} on some partition, or (on a topic
   * without new events, where nothing shows that) it planned its first batch {@code idleMs} ago.
   */
  static boolean sinkRuns(Map<Integer, Long> applied, Map<Integer, Long> from, Long plannedAt, long now, long idleMs) {
    for (var e : applied.entrySet()) {
      if (e.getValue() > from.getOrDefault(e.getKey(), 0L)) {
        return true;
      }
    }
    return plannedAt != null && now - plannedAt >= idleMs;
  }

  /** Events between what the shared query applied and the topic's end (all partitions). */
  static long lag(Admin admin, String topic, Map<Integer, Long> applied) throws Exception {
    TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
    Map<TopicPartition, OffsetSpec> ask = new HashMap<>();
    d.partitions().forEach(p -> ask.put(new TopicPartition(topic, p.partition()), OffsetSpec.latest()));
    long lag = 0;
    for (var e : admin.listOffsets(ask).all().get().entrySet()) {
      lag += Math.max(0, e.getValue().offset() - applied.getOrDefault(e.getKey().partition(), 0L));
    }
    return lag;
  }
}
