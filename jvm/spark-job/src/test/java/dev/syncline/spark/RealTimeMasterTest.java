package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** Real-Time Mode needs a task slot per Kafka partition of each query (decision 0044). */
class RealTimeMasterTest {
  @Test
  void aLocalMasterWithTooFewThreadsIsWidenedToOneThreadPerPartition() {
    assertEquals("local[25]", SynclineJob.realTimeMaster("local[2]", 25));
    assertEquals("local[7]", SynclineJob.realTimeMaster("local", 7));
  }

  @Test
  void theRetryCountOfALocalMasterIsKept() {
    assertEquals("local[13, 3]", SynclineJob.realTimeMaster("local[4, 3]", 13));
  }

  @Test
  void aLocalMasterWithEnoughThreadsAndAClusterMasterAreLeftAlone() {
    assertEquals("local[32]", SynclineJob.realTimeMaster("local[32]", 25));
    assertEquals("spark://10.0.0.1:7077", SynclineJob.realTimeMaster("spark://10.0.0.1:7077", 25));
  }
}
