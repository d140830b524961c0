package dev.syncline.spark;

import java.io.File;
import java.net.URI;

/** Housekeeping of a query's checkpoint before the query starts. */
final class Checkpoints {
  private Checkpoints() {}

  /**
   * Removes the temporary files a killed driver can leave in the offset and commit logs
   * ({@code .<batch>.<uuid>.tmp} and its {@code .crc}). Spark 4.1.1 counts them as log entries:
   * measured in real-time mode, a SIGKILL during the first asynchronous commit left
   * {@code commits/.0.<uuid>.tmp} with no offsets, and every restart then failed with
   * STATE_STORE_CHECKPOINT_LOCATION_NOT_EMPTY. A temporary file is never a finished entry, and
   * nothing else writes the checkpoint while the query is down (one pipeline per state folder).
   * Only checkpoints on a local path are tidied. Returns how many files were removed.
   */
  static int removeTempFiles(String checkpoint) {
    File root = localPath(checkpoint);
    if (root == null) {
      return 0;
    }
    int removed = 0;
    for (String log : new String[] {"offsets", "commits"}) {
      File[] files = new File(root, log).listFiles();
      if (files == null) {
        continue;
      }
      for (File f : files) {
        String n = f.getName();
        if (n.startsWith(".") && (n.endsWith(".tmp") || n.endsWith(".tmp.crc")) && f.delete()) {
          removed++;
        }
      }
    }
    return removed;
  }

  /** The checkpoint as a local folder, or null when it is a URI of another file system. */
  static File localPath(String checkpoint) {
    if (checkpoint.startsWith("file:")) {
      return new File(URI.create(checkpoint));
    }
    return checkpoint.matches("^[a-zA-Z][a-zA-Z0-9+.-]*://.*") ? null : new File(checkpoint);
  }
}
