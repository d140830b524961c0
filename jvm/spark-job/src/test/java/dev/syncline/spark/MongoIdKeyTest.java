package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.bson.Document;
import org.bson.json.JsonMode;
import org.bson.json.JsonWriterSettings;
import org.junit.jupiter.api.Test;

/**
 * Tombstone _ids stored in MongoDB embed the key's extended JSON: the shortcut for whole-number
 * keys must spell exactly what BSON's writer spells, or tombstones written before it are missed
 * and a deleted row could come back.
 */
class MongoIdKeyTest {
  @Test
  void wholeNumberKeysAreSpelledExactlyAsTheBsonWriterSpellsThem() {
    JsonWriterSettings extended = JsonWriterSettings.builder().outputMode(JsonMode.EXTENDED).build();
    for (Object id : List.of(0L, 1L, -1L, 42L, Long.MAX_VALUE, Long.MIN_VALUE, 0, 7, -7, Integer.MAX_VALUE, Integer.MIN_VALUE)) {
      assertEquals(new Document("k", id).toJson(extended), MongoSinkWriter.idKey(id), String.valueOf(id));
    }
  }
}
