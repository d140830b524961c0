package dev.syncline.spark;

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
}
