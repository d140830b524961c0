package dev.syncline.mongo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import de.bwaldvogel.mongo.backend.KeyValue;
import de.bwaldvogel.mongo.bson.Document;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.stream.Stream;
import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A kill between two checkpoints loses nothing the log recorded: each test writes through logged
 * maps, ends the "command", and drops the store without committing, as a SIGKILL would.
 */
class WriteLogTest {
  private static final long NEVER = 3_600_000;

  @TempDir Path dir;

  private String file() {
    return dir.resolve("data.mv").toString();
  }

  private static MVMap<Object, Object> docs(MVStore store, WriteLog log) {
    return StoreFile.openMap(store, "databases.shop.orders", log);
  }

  private List<Path> segments() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().startsWith("data.mv.wal-")).sorted().toList();
    }
  }

  /** One acknowledged write in the log, then the store dropped without a commit. */
  private void writeOneDocumentAndKill() {
    MVStore store = StoreFile.open(file(), 16);
    WriteLog log = WriteLog.open(store, file(), NEVER);
    docs(store, log).put(1L, new Document("_id", 1L));
    log.commandDone();
    store.closeImmediately();
  }

  private void assertTheDocumentIsThereAfterARestart() {
    MVStore again = StoreFile.open(file(), 16);
    WriteLog.open(again, file(), NEVER);
    assertEquals(new Document("_id", 1L), docs(again, null).get(1L));
    again.close();
  }

  @Test
  void changesAfterTheLastCommitAreReplayedAfterAKill() {
    MVStore store = StoreFile.open(file(), 16);
    WriteLog log = WriteLog.open(store, file(), NEVER);
    MVMap<Object, Object> docs = docs(store, log);
    for (long i = 0; i < 100; i++) {
      docs.put(i, new Document("_id", i).append("v", 1L));
    }
    log.checkpoint(false);
    // After the commit: replaced, removed, inserted, and a collection created with its index
    // and metadata, none of it committed.
    docs.put(5L, new Document("_id", 5L).append("v", 2L));
    docs.remove(6L);
    docs.put(500L, new Document("_id", 500L).append("v", 3L));
    MVMap<Object, Object> fresh = StoreFile.openMap(store, "databases.shop.fresh", log);
    MVMap<Object, Object> index = StoreFile.openMap(store, "shop.fresh._index__id_", log);
    MVMap<Object, Object> meta = StoreFile.openMap(store, "meta.shop.fresh", log);
    fresh.put("a", new Document("_id", "a"));
    index.putIfAbsent(new KeyValue("a"), "a");
    index.putIfAbsent(new KeyValue("a"), "not this");
    meta.put("dataSize", 42L);
    log.commandDone();
    store.closeImmediately();

    MVStore again = StoreFile.open(file(), 16);
    WriteLog.open(again, file(), NEVER);
    MVMap<Object, Object> d = docs(again, null);
    assertEquals(100, d.size());
    assertEquals(2L, ((Document) d.get(5L)).get("v"));
    assertNull(d.get(6L));
    assertEquals(3L, ((Document) d.get(500L)).get("v"));
    assertEquals(new Document("_id", "a"), StoreFile.openMap(again, "databases.shop.fresh", null).get("a"));
    assertEquals("a", StoreFile.openMap(again, "shop.fresh._index__id_", null).get(new KeyValue("a")));
    assertEquals(42L, StoreFile.openMap(again, "meta.shop.fresh", null).get("dataSize"));
    again.close();
  }

  @Test
  void aCheckpointCommitsAndDropsTheSegmentsItHolds() throws IOException {
    MVStore store = StoreFile.open(file(), 16);
    WriteLog log = WriteLog.open(store, file(), NEVER);
    docs(store, log).put(1L, new Document("_id", 1L));
    log.commandDone();
    assertTrue(Files.size(segments().get(0)) > 0, "the record is in the segment before the checkpoint");
    log.checkpoint(false);
    List<Path> left = segments();
    assertEquals(1, left.size());
    assertEquals(0, Files.size(left.get(0)), "only the new, empty segment is left");
    store.closeImmediately();

    assertTheDocumentIsThereAfterARestart();
  }

  @Test
  void aRecordCutShortByAKillIsIgnoredAndTheOnesBeforeItKept() throws IOException {
    writeOneDocumentAndKill();
    // Half a record: a length that promises more than the file holds.
    Files.write(segments().get(0), new byte[] {0, 0, 1, 0, 9, 9}, StandardOpenOption.APPEND);

    assertTheDocumentIsThereAfterARestart();
  }

  @Test
  void aDamagedSegmentWithLaterOnesIsRefusedWithWhatToDo() throws IOException {
    writeOneDocumentAndKill();
    Path first = segments().get(0);
    byte[] bytes = Files.readAllBytes(first);
    bytes[bytes.length - 1] ^= 0x55;
    Files.write(first, bytes);
    Files.write(dir.resolve("data.mv.wal-999999999999"), new byte[0]);

    MVStore again = StoreFile.open(file(), 16);
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> WriteLog.open(again, file(), NEVER));
    assertTrue(e.getMessage().contains("damaged") && e.getMessage().contains("move the"), e.getMessage());
    again.closeImmediately();
  }
}
