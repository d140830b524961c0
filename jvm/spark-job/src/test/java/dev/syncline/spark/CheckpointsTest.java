package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointsTest {
  @TempDir Path dir;

  @Test
  void aKilledDriversUnfinishedLogFilesAreRemovedAndFinishedEntriesKept() throws Exception {
    Path commits = Files.createDirectories(dir.resolve("commits"));
    Path offsets = Files.createDirectories(dir.resolve("offsets"));
    Files.writeString(commits.resolve(".0.f579bde4.tmp"), "");
    Files.writeString(commits.resolve("..0.f579bde4.tmp.crc"), "");
    Files.writeString(offsets.resolve("0"), "v1");
    Files.writeString(offsets.resolve(".0.crc"), "crc");
    Files.writeString(commits.resolve("0"), "v1");

    assertEquals(2, Checkpoints.removeTempFiles(dir.toString()));
    assertFalse(new File(commits.toFile(), ".0.f579bde4.tmp").exists());
    assertTrue(new File(offsets.toFile(), "0").exists(), "a finished offsets entry stays");
    assertTrue(new File(offsets.toFile(), ".0.crc").exists(), "its checksum stays");
    assertTrue(new File(commits.toFile(), "0").exists(), "a finished commit stays");
  }

  @Test
  void aCheckpointOnARemoteFileSystemIsLeftAlone() {
    assertEquals(0, Checkpoints.removeTempFiles("hdfs://namenode:8020/syncline/checkpoints"));
  }
}
