package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class RestartPolicyTest {
  @Test
  void aClassThatCannotLoadDeepInTheCauseChainMakesTheJobLeaveTheJvm() {
    Throwable failure =
        new RuntimeException("batch failed", new IllegalStateException("task", new NoClassDefFoundError("dev/syncline/spark/PartitionWriter")));
    assertNotNull(SynclineJob.linkageError(failure));
  }

  @Test
  void aSinkOutageIsRetriedInTheSameJvm() {
    Throwable failure = new RuntimeException("batch failed", new IllegalStateException("MongoDB rejected writes"));
    assertNull(SynclineJob.linkageError(failure));
  }

  @Test
  void anOutageLongAfterTheLastOneStartsAgainAtTheShortBackoff() {
    int failures = 0;
    failures = SynclineJob.consecutiveFailures(failures, Long.MAX_VALUE);
    failures = SynclineJob.consecutiveFailures(failures, 3_000);
    failures = SynclineJob.consecutiveFailures(failures, 5_000);
    assertEquals(3, failures);
    assertEquals(8_000, SynclineJob.backoffMs(failures));
    assertEquals(10_000, SynclineJob.backoffMs(SynclineJob.consecutiveFailures(failures, 9_000) + 5));
    failures = SynclineJob.consecutiveFailures(failures, 3_600_000);
    assertEquals(1, failures);
    assertEquals(2_000, SynclineJob.backoffMs(failures));
  }
}
