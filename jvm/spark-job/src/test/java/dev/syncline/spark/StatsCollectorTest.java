package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StatsCollectorTest {
  @TempDir Path dir;

  @Test
  void countersTheTasksReportedAreAddedUpOnceAndUnfinishedFilesAreLeftForTheirWriter() throws Exception {
    Path stats = Files.createDirectories(dir.resolve(SynclineJob.StatsCollector.DIR));
    Files.writeString(stats.resolve("a1b2c3d4-0.json"), "{\"counts\":{\"events\":3,\"latency.redis.le_50\":2},\"dlqRules\":{}}");
    Files.writeString(stats.resolve("a1b2c3d4-1.json"), "{\"counts\":{\"events\":2,\"dlq\":1},\"dlqRules\":{\"id is not null\":1}}");
    Files.writeString(stats.resolve("9f9f9f9f-0.json"), "{\"counts\":{\"events\":5,\"latency.redis.le_50\":1}}");
    // A file a task is still writing (renamed into place only when complete).
    Files.writeString(stats.resolve(".a1b2c3d4-2.json.tmp"), "{\"counts\":{\"ev");

    Stats first = SynclineJob.StatsCollector.read(dir.toString());
    assertEquals(10, first.get("events"));
    assertEquals(3, first.get("latency.redis.le_50"));
    assertEquals(1, first.get("dlq"));
    assertEquals(1L, first.dlqRules.get("id is not null"));
    assertArrayEquals(new String[] {".a1b2c3d4-2.json.tmp"}, stats.toFile().list(), "read files are deleted");

    assertTrue(SynclineJob.StatsCollector.read(dir.toString()).isEmpty(), "nothing is counted twice");
  }

  @Test
  void anUnreadableFileIsSkippedAndRemovedWithoutLosingTheOthers() throws Exception {
    Path stats = Files.createDirectories(dir.resolve(SynclineJob.StatsCollector.DIR));
    Files.writeString(stats.resolve("bad-0.json"), "not json");
    Files.writeString(stats.resolve("good-0.json"), "{\"counts\":{\"events\":4}}");

    assertEquals(4, SynclineJob.StatsCollector.read(dir.toString()).get("events"));
    assertEquals(0, stats.toFile().list().length);
  }

  @Test
  void aQueryThatNeverReportedHasNothingToCollect() {
    assertTrue(SynclineJob.StatsCollector.read(dir.toString()).isEmpty());
    assertTrue(SynclineJob.StatsCollector.read("hdfs://namenode:8020/syncline/checkpoints").isEmpty());
  }
}
