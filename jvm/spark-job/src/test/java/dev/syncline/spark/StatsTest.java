package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The commit → sink histogram that `syncline status` turns into p50/p99. */
class StatsTest {
  @Test
  void eachLatencyCountsInTheFirstBucketItDoesNotExceedAndEventsWithoutACommitTimeNotAtAll() {
    Stats s = new Stats();
    long done = 1_000_000;
    s.addLatencies("mongodb", done, Arrays.asList(done - 5, done - 6, null, done - 300_001, done + 40, done - 10));
    assertEquals(
        Map.of(
            "latency.mongodb.le_5", 2L, // 5 ms, and a commit stamped after the ack (clock skew) as 0
            "latency.mongodb.le_10", 2L,
            "latency.mongodb.le_inf", 1L),
        s.counts);
  }

  @Test
  void chunksOfOneSinkAddUpAndSinksStayApart() {
    Stats s = new Stats();
    s.addLatencies("redis", 100, Arrays.asList(99L, 50L));
    s.addLatencies("redis", 200, Arrays.asList(199L));
    s.addLatencies("mongodb", 200, Arrays.asList(199L));
    assertEquals(Map.of("latency.redis.le_5", 2L, "latency.redis.le_50", 1L, "latency.mongodb.le_5", 1L), s.counts);
  }
}
