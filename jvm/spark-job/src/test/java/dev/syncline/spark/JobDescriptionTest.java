package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JobDescriptionTest {
  @TempDir File dir;

  private JobDescription read(String json) throws Exception {
    File f = new File(dir, "job.json");
    Files.writeString(f.toPath(), json);
    return JobDescription.read(f);
  }

  private static final String MINIMAL =
      "{\"version\":1,\"name\":\"t\",\"source\":{\"id\":\"3f1c\",\"label\":\"shop@h:1\"},\"kafka\":{\"bootstrapServers\":\"127.0.0.1:1\",\"dlqTopic\":\"d\"},"
          + "\"checkpointLocation\":\"/tmp/c\",\"triggerIntervalMs\":500,"
          + "\"sinks\":{\"mongodb\":{\"uriEnv\":\"M\",\"database\":\"db\"},\"redis\":null},"
          + "\"tables\":[{\"db\":\"shop\",\"table\":\"t\",\"topic\":\"x.shop.t\",\"keyColumns\":[\"id\"],"
          + "\"columns\":[{\"name\":\"id\",\"mysqlType\":\"int(11)\",\"kind\":\"int\",\"nullable\":false}],"
          + "\"validate\":[],\"transform\":{},\"mongodb\":{\"collection\":\"t\"},\"redis\":null}]}";

  @Test
  void aMinimalDescriptionIsReadWithDefaults() throws Exception {
    JobDescription job = read(MINIMAL);
    assertEquals("_syncline_tombstones", job.sinks.mongodb.tombstoneCollection);
    assertEquals(Kind.INT, job.tables.get(0).columns.get(0).kind);
    assertEquals("earliest", job.kafka.startingOffsets);
  }

  @Test
  void unknownKeysUnknownKindsAndMissingKeysAreRejectedWithTheirPlace() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> read(MINIMAL.replace("\"triggerIntervalMs\"", "\"triggerInterval\"")));
    assertTrue(e.getMessage().contains("unknown key 'triggerInterval'"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> read(MINIMAL.replace("\"kind\":\"int\"", "\"kind\":\"integer\"")));
    assertTrue(e.getMessage().contains("unknown column kind 'integer'"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> read(MINIMAL.replace("\"keyColumns\":[\"id\"]", "\"keyColumns\":[\"nope\"]")));
    assertTrue(e.getMessage().contains("key column nope is not among the columns"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> read(MINIMAL.replace("\"source\":{\"id\":\"3f1c\",\"label\":\"shop@h:1\"},", "")));
    assertTrue(e.getMessage().contains("source.id is required"), e.getMessage());
  }
}
