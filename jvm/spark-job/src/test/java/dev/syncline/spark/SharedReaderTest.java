package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** When a table starts on one read for both sinks, and where its sink queries take over (decision 0108). */
class SharedReaderTest {
  @TempDir File dir;

  private static final String TOPIC = "x.shop.t";
  private static final Map<String, String> DEFAULT_ENV = Map.of();

  private JobDescription job(boolean realTime, boolean redis) throws Exception {
    String json =
        "{\"version\":1,\"name\":\"t\",\"source\":{\"id\":\"3f1c\",\"label\":\"shop@h:1\"},\"kafka\":{\"bootstrapServers\":\"127.0.0.1:1\",\"dlqTopic\":\"d\"},"
            + "\"checkpointLocation\":\"" + new File(dir, "ck").getPath() + "\",\"triggerIntervalMs\":500,\"realTime\":" + realTime + ","
            + "\"sinks\":{\"mongodb\":{\"uriEnv\":\"M\",\"database\":\"db\"},\"redis\":" + (redis ? "{\"urlEnv\":\"R\"}" : "null") + "},"
            + "\"tables\":[{\"db\":\"shop\",\"table\":\"t\",\"topic\":\"" + TOPIC + "\",\"keyColumns\":[\"id\"],"
            + "\"columns\":[{\"name\":\"id\",\"mysqlType\":\"int(11)\",\"kind\":\"int\",\"nullable\":false}],"
            + "\"validate\":[],\"transform\":{},\"mongodb\":{\"collection\":\"t\"},\"redis\":" + (redis ? "{\"keyTemplate\":\"{db}:{table}:{key}\",\"format\":\"hash\"}" : "null") + "}]}";
    File f = new File(dir, "job.json");
    Files.writeString(f.toPath(), json);
    return JobDescription.read(f);
  }

  private static void commit(Path checkpoint, String offsetsJson) throws Exception {
    Files.createDirectories(checkpoint.resolve("offsets"));
    Files.createDirectories(checkpoint.resolve("commits"));
    Files.writeString(checkpoint.resolve("offsets").resolve("0"), "v1\n{\"batchWatermarkMs\":0}\n" + offsetsJson + "\n");
    Files.writeString(checkpoint.resolve("commits").resolve("0"), "v1\n{}\n");
  }

  private static void applied(Path checkpoint, int partition, long next) throws Exception {
    Files.createDirectories(checkpoint.resolve("applied"));
    Files.writeString(checkpoint.resolve("applied").resolve(TOPIC + "-" + partition), Long.toString(next));
  }

  @Test
  void aTableNoSinkQueryHasAppliedStartsSharedInRealTimeModeWithBothSinks() throws Exception {
    JobDescription job = job(true, true);
    assertTrue(SharedReader.wanted(job, job.tables.get(0), DEFAULT_ENV));
    assertTrue(SharedReader.wanted(job, job.tables.get(0), Map.of()), "on by default");
    assertFalse(SharedReader.wanted(job, job.tables.get(0), Map.of("SYNCLINE_SHARED_READER", "off")), "switched off");
    JobDescription microBatch = job(false, true);
    assertFalse(SharedReader.wanted(microBatch, microBatch.tables.get(0), DEFAULT_ENV), "micro-batch mode");
    JobDescription mongoOnly = job(true, false);
    assertFalse(SharedReader.wanted(mongoOnly, mongoOnly.tables.get(0), DEFAULT_ENV), "one sink: nothing to share");
  }

  @Test
  void theSharedReadStopsOnlyOnceASinkQueryWrotePastItsStartOrRanIdle() {
    Map<Integer, Long> from = Map.of(0, 100L, 1, 40L);
    assertFalse(SharedReader.sinkRuns(Map.of(), from, null, 10_000, SharedReader.IDLE_RUN_MS), "not started");
    assertFalse(SharedReader.sinkRuns(Map.of(0, 100L, 1, 40L), from, null, 10_000, SharedReader.IDLE_RUN_MS), "only where it started (its first position, nothing applied since)");
    assertTrue(SharedReader.sinkRuns(Map.of(0, 100L, 1, 41L), from, null, 10_000, SharedReader.IDLE_RUN_MS), "applied past its start on one partition");
    assertTrue(SharedReader.sinkRuns(Map.of(2, 1L), from, null, 10_000, SharedReader.IDLE_RUN_MS), "a partition the shared read had not applied");
    assertFalse(SharedReader.sinkRuns(Map.of(), from, 10_000L - SharedReader.IDLE_RUN_MS + 1, 10_000, SharedReader.IDLE_RUN_MS), "planned, not yet long enough to be reading");
    assertTrue(SharedReader.sinkRuns(Map.of(), from, 10_000L - SharedReader.IDLE_RUN_MS, 10_000, SharedReader.IDLE_RUN_MS), "planned and running on a quiet topic");
  }

  @Test
  void waitingForASinkQueryEndsWhenItAppliesAtTheDeadlineOrWhenTheSharedReadHasEnded() throws Exception {
    Path sink = dir.toPath().resolve("sink");
    Files.createDirectories(sink);
    long now = System.currentTimeMillis();
    assertFalse(SharedReader.awaitRuns(List.of(sink.toFile()), TOPIC, Map.of(0, 10L), 60_000, now + 300, () -> false), "nothing applied by the deadline");
    assertFalse(SharedReader.awaitRuns(List.of(sink.toFile()), TOPIC, Map.of(0, 10L), 60_000, now + 60_000, () -> true), "the shared read ended: no wait");
    applied(sink, 0, 11);
    assertTrue(SharedReader.awaitRuns(List.of(sink.toFile()), TOPIC, Map.of(0, 10L), 60_000, System.currentTimeMillis() + 60_000, () -> false), "applied past the hand-over");
  }

  @Test
  void aFailureOrAStallStopsTheSharedReadAtOnceACatchUpDoesNot() {
    assertTrue(SharedReader.overlaps(SharedReader.CAUGHT_UP + " (12 events behind)"));
    assertTrue(SharedReader.overlaps(SharedReader.KEPT_UP + " for 15 s"));
    assertFalse(SharedReader.overlaps("it stalled for 15 s with 900 events to go"));
    assertFalse(SharedReader.overlaps("a write failed (Exception receiving message)"));
    assertFalse(SharedReader.overlaps("it stopped"));
  }

  @Test
  void aSinkQueryThatHasRunOrAHandOverKeepsTheTableOnItsSinkQueries() throws Exception {
    JobDescription job = job(true, true);
    Path redis = Path.of(SynclineJob.sinkCheckpoint(job.checkpointLocation, "redis", TOPIC));
    applied(redis, 0, 5);
    assertFalse(SharedReader.wanted(job, job.tables.get(0), DEFAULT_ENV), "the Redis query applied rows");

    JobDescription other = job(true, true);
    Path shared = Path.of(SharedReader.checkpoint(other, TOPIC));
    Files.createDirectories(shared);
    Files.writeString(shared.resolve(SharedReader.HANDED_OVER), "it caught up\n");
    // (the first job's Redis position was written under the same folder: start clean)
    Files.delete(redis.resolve("applied").resolve(TOPIC + "-0"));
    assertFalse(SharedReader.wanted(other, other.tables.get(0), DEFAULT_ENV), "handed over once, for good");
  }

  @Test
  void theSinkQueriesStartWhereBothSinksHadAppliedTheLaterOfCommitAndAppliedPerPartition() throws Exception {
    JobDescription job = job(true, true);
    assertNull(SharedReader.handedOffsets(job, TOPIC), "no shared read: nothing to start from");
    Path shared = Path.of(SharedReader.checkpoint(job, TOPIC));
    commit(shared, "{\"" + TOPIC + "\":{\"0\":100,\"1\":200,\"2\":300}}");
    applied(shared, 0, 150); // applied after the commit
    applied(shared, 1, 120); // an older position than the commit (written before it)
    applied(shared, 3, 7); // a partition the commit did not name
    assertEquals(Map.of(0, 150L, 1, 200L, 2, 300L, 3, 7L), SharedReader.handedOffsets(job, TOPIC));
  }

  @Test
  void aSharedReadReportsOneProgressLinePerSinkAsTheTwoSinkQueriesWould() throws Exception {
    JobDescription job = job(true, true);
    SynclineJob.QuerySpec spec =
        new SynclineJob.QuerySpec(SharedReader.BOTH, job.tables.get(0), true, "both:shop.t", SharedReader.checkpoint(job, TOPIC));
    File progress = new File(dir, "progress.jsonl");
    SynclineJob.ProgressListener listener = new SynclineJob.ProgressListener(progress.getPath(), Map.of(), List.of(spec));
    ObjectNode table = JsonNodeFactory.instance.objectNode();
    table.put("events", 7).put("dlq", 1).put("latency.redis.le_50", 6).put("latency.mongodb.le_100", 6);
    listener.printFor(spec, listener.line(spec, 0, "2026-12-06T00:00:00Z", 7, 7, 7, 1000, table));

    List<String> lines = Files.readAllLines(progress.toPath());
    assertEquals(2, lines.size(), String.join("\n", lines));
    ObjectMapper json = new ObjectMapper();
    JsonNode redis = json.readTree(lines.get(0));
    JsonNode mongo = json.readTree(lines.get(1));
    assertEquals("redis", redis.get("sink").asText());
    assertTrue(redis.get("primary").asBoolean(), "the Redis line counts the table's events and dead letters");
    assertEquals("mongodb", mongo.get("sink").asText());
    assertFalse(mongo.get("primary").asBoolean());
    assertEquals(7, redis.get("numInputRows").asLong());
    assertEquals(7, mongo.get("numInputRows").asLong());
    assertEquals(7, mongo.at("/tables/shop.t/events").asLong(), "each sink counts every event it was given");
    assertEquals(1, redis.at("/dlq/shop.t").asLong());
    assertTrue(mongo.at("/dlq/shop.t").isMissingNode(), "a dead letter is counted once");
    assertTrue(mongo.at("/tables/shop.t/dlq").isMissingNode());
    assertEquals(6, redis.at("/tables/shop.t/latency.redis.le_50").asLong());
    assertTrue(redis.at("/tables/shop.t/latency.mongodb.le_100").isMissingNode(), "each line keeps its own sink's latency");
    assertEquals(6, mongo.at("/tables/shop.t/latency.mongodb.le_100").asLong());
    assertTrue(mongo.at("/tables/shop.t/latency.redis.le_50").isMissingNode());
  }
}
