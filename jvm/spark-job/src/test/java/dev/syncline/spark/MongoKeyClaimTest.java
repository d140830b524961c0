package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A task of a failed attempt may still be writing a key while its replacement replays it: the
 * two read-decide-write sequences of one key must not overlap (the chaos suite met a deleted
 * MongoDB document written back by such a late write).
 */
class MongoKeyClaimTest {
  @Test
  void aSecondWriterOfTheSameKeyWaitsUntilTheFirstHasWritten() throws Exception {
    Set<String> first = Set.of("db\u0001orders\u00018236", "db\u0001orders\u00011");
    MongoSinkWriter.claim(first);
    CountDownLatch claimed = new CountDownLatch(1);
    Thread second = new Thread(() -> {
      MongoSinkWriter.claim(Set.of("db\u0001orders\u00018236"));
      claimed.countDown();
      MongoSinkWriter.release(Set.of("db\u0001orders\u00018236"));
    });
    second.start();
    assertFalse(claimed.await(300, TimeUnit.MILLISECONDS), "the second writer waits while the key is claimed");
    MongoSinkWriter.release(first);
    assertTrue(claimed.await(5, TimeUnit.SECONDS), "and goes on once it is released");
    second.join();
  }

  @Test
  void writersOfDistinctKeysDoNotWaitForEachOther() throws Exception {
    MongoSinkWriter.claim(Set.of("db\u0001orders\u00012"));
    CountDownLatch claimed = new CountDownLatch(1);
    Thread other = new Thread(() -> {
      MongoSinkWriter.claim(Set.of("db\u0001orders\u00013"));
      claimed.countDown();
      MongoSinkWriter.release(Set.of("db\u0001orders\u00013"));
    });
    other.start();
    assertTrue(claimed.await(5, TimeUnit.SECONDS));
    other.join();
    MongoSinkWriter.release(Set.of("db\u0001orders\u00012"));
  }
}
