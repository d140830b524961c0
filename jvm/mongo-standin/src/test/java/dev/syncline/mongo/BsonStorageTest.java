package dev.syncline.mongo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import de.bwaldvogel.mongo.backend.KeyValue;
import de.bwaldvogel.mongo.backend.Missing;
import de.bwaldvogel.mongo.bson.BinData;
import de.bwaldvogel.mongo.bson.BsonTimestamp;
import de.bwaldvogel.mongo.bson.Decimal128;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.bson.MaxKey;
import de.bwaldvogel.mongo.bson.MinKey;
import de.bwaldvogel.mongo.bson.ObjectId;
import de.bwaldvogel.mongo.wire.bson.BsonEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.h2.mvstore.DataUtils;
import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;
import org.h2.mvstore.WriteBuffer;
import org.h2.mvstore.type.DataType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BsonStorageTest {

  private static Document everyType() {
    return new Document("_id", 7L)
        .append("int", 1)
        .append("long", 1L << 40)
        .append("double", -0.5)
        .append("decimal", new Decimal128(new BigDecimal("12345.678")))
        .append("string", "ünïcødé \u0000 inside")
        .append("bool", true)
        .append("null", null)
        .append("date", Instant.ofEpochMilli(1_700_000_000_123L))
        .append("oid", new ObjectId("65a1b2c3d4e5f60718293a4b"))
        .append("bin", new BinData(new byte[] {1, 2, 3}))
        .append("uuid", UUID.fromString("0f8fad5b-d9cb-469f-a165-70867728950e"))
        .append("ts", new BsonTimestamp(5L << 32 | 1))
        .append("min", MinKey.getInstance())
        .append("max", MaxKey.getInstance())
        .append("list", Arrays.asList(1, "two", new Document("three", 3.0), List.of()))
        .append("nested", new Document("a", new Document("b", List.of(1L, 2L))).append("_sync", new Document("v", 9L)));
  }

  /** The value's type; any list is a list (the decoder builds ArrayLists). */
  private static Class<?> kind(Object v) {
    return v == null ? null : v instanceof List<?> ? List.class : v.getClass();
  }

  private static <T> T roundTrip(DataType<T> type, T value) {
    WriteBuffer buff = new WriteBuffer();
    type.write(buff, value);
    ByteBuffer bytes = buff.getBuffer();
    bytes.flip();
    T back = type.read(bytes);
    assertEquals(0, bytes.remaining(), "the reader consumed exactly what the writer wrote");
    return back;
  }

  @Test
  void aDocumentOfEveryBsonTypeComesBackEqualWithItsTypes() {
    Document doc = everyType();
    Document back = roundTrip(BsonStorage.DocumentType.INSTANCE, doc);
    assertEquals(doc, back);
    assertEquals(new ArrayList<>(doc.keySet()), new ArrayList<>(back.keySet()), "field order is kept");
    for (String key : doc.keySet()) {
      Object v = doc.get(key);
      assertEquals(kind(v), kind(back.get(key)), key);
    }
  }

  private static List<Object> distinctKeys() {
    return new ArrayList<>(
        Arrays.asList(
            Missing.getInstance(),
            null,
            MinKey.getInstance(),
            1,
            -1,
            Integer.MAX_VALUE,
            1L,
            -5L,
            Long.MIN_VALUE,
            1.0,
            -0.5,
            Double.NaN,
            "",
            "a",
            "b",
            "ab",
            new Document("order_id", 1L).append("line", 1),
            new Document("order_id", 1L).append("line", 2),
            new Document("line", 1).append("order_id", 1L),
            new Document("order_id", 1L),
            new KeyValue(1.0),
            new KeyValue(1.0, "x"),
            new KeyValue("x"),
            new KeyValue((Object) null),
            List.of(1, 2),
            List.of(1, 2, 3),
            new ObjectId("65a1b2c3d4e5f60718293a4b"),
            new ObjectId("65a1b2c3d4e5f60718293a4c"),
            false,
            true,
            Instant.ofEpochMilli(5),
            Instant.ofEpochMilli(6),
            new Decimal128(new BigDecimal("1.0")),
            new Decimal128(new BigDecimal("1.00")),
            new BinData(new byte[] {1}),
            UUID.fromString("0f8fad5b-d9cb-469f-a165-70867728950e"),
            new BsonTimestamp(42L),
            MaxKey.getInstance()));
  }

  /** The library's wire encoding of {@code doc}: what the stand-in wrote before decision 0083. */
  private static byte[] libraryBson(Document doc) {
    ByteBuf buf = Unpooled.buffer();
    BsonEncoder.encodeDocument(doc, buf);
    byte[] bytes = new byte[buf.readableBytes()];
    buf.readBytes(bytes);
    return bytes;
  }

  private static byte[] storedBson(Document doc) {
    WriteBuffer buff = new WriteBuffer();
    BsonStorage.writeBson(buff, doc);
    ByteBuffer stored = buff.getBuffer();
    stored.flip();
    int n = DataUtils.readVarInt(stored);
    assertEquals(n, stored.remaining(), "the length prefix counts the BSON bytes");
    byte[] bytes = new byte[n];
    stored.get(bytes);
    return bytes;
  }

  @Test
  void documentsAreStoredAsTheLibrarysExactBsonBytes() {
    List<Document> docs =
        List.of(
            everyType(),
            new Document(),
            new Document("empty", new Document()).append("emptyList", List.of()),
            new Document("nan", Double.NaN).append("negZero", -0.0).append("max", Long.MIN_VALUE),
            new Document("latin", "café").append("astral", "𝄞 clef").append("lone", "a\uD800b").append("nul", "\u0000"),
            new Document("naïve key", 1).append("", "empty name"),
            new Document("nulls", Arrays.asList(null, null, new Document("x", null))),
            new Document("set", new java.util.LinkedHashSet<>(List.of(3, 1, 2))),
            new Document("deep", new Document("a", List.of(List.of(new Document("b", List.of(1, 2L, 3.5)))))),
            new Document("long string", "x".repeat(5000)).append("after", true));
    for (Document doc : docs) {
      assertArrayEquals(libraryBson(doc), storedBson(doc), doc.keySet().toString());
    }
  }

  @Test
  void distinctKeysNeverCompareEqualAndTheOrderIsTotal() {
    List<Object> keys = distinctKeys();
    BsonStorage.KeyType type = BsonStorage.KeyType.INSTANCE;
    for (Object a : keys) {
      assertEquals(0, type.compare(a, a), "a key equals itself: " + a);
      for (Object b : keys) {
        if (a == b) continue;
        int ab = type.compare(a, b);
        assertNotEquals(0, ab, a + " and " + b + " are two keys");
        assertEquals(-Integer.signum(ab), Integer.signum(type.compare(b, a)), "antisymmetric: " + a + ", " + b);
      }
    }
    List<Object> sorted = new ArrayList<>(keys);
    sorted.sort(type);
    for (int i = 0; i < sorted.size(); i++) {
      for (int j = i + 1; j < sorted.size(); j++) {
        assertTrue(type.compare(sorted.get(i), sorted.get(j)) < 0, "transitive: " + sorted.get(i) + " < " + sorted.get(j));
      }
    }
  }

  /**
   * A store's B-trees are sorted in this order, so a faster compare must give exactly the old one:
   * within a type the type's own order, and across types int32 < int64 < double < string <
   * document (the order files were written in before int32 and string keys got their own path).
   */
  @Test
  void keysKeepTheOrderExistingStoresWereSortedIn() {
    List<Object> expected =
        List.of(
            Integer.MIN_VALUE, -1, 0, 1, 2, 10, Integer.MAX_VALUE,
            Long.MIN_VALUE, -1L, 0L, 1L,
            -0.5, 1.0,
            "", "10", "2", "A", "a", "ab", "b", "kv\u00011",
            new Document("a", 1));
    List<Object> shuffled = new ArrayList<>(expected);
    java.util.Collections.shuffle(shuffled, new java.util.Random(7));
    shuffled.sort(BsonStorage.KeyType.INSTANCE);
    assertEquals(expected, shuffled);
    // Index keys are one-part KeyValues of the same values, in the same order.
    List<Object> wrapped = new ArrayList<>();
    for (Object o : expected) {
      wrapped.add(new KeyValue(o));
    }
    List<Object> wrappedShuffled = new ArrayList<>(wrapped);
    java.util.Collections.shuffle(wrappedShuffled, new java.util.Random(11));
    wrappedShuffled.sort(BsonStorage.KeyType.INSTANCE);
    assertEquals(wrapped, wrappedShuffled);
  }

  @Test
  void everyKeyComesBackAsTheSameKey() {
    BsonStorage.KeyType type = BsonStorage.KeyType.INSTANCE;
    for (Object key : distinctKeys()) {
      Object back = roundTrip(type, key);
      assertEquals(0, type.compare(key, back), "round trip of " + key);
      assertEquals(kind(key), kind(back), "type of " + key);
    }
  }

  @Test
  void anIntAndALongIdAreTwoDocumentsAsBefore() {
    MVStore store = MVStore.open(null);
    MVMap<Object, Document> docs = store.openMap("databases.db.c", StoreFile.documentsMap());
    docs.put(1, new Document("_id", 1));
    docs.put(1L, new Document("_id", 1L));
    assertEquals(2, docs.size());
    assertEquals(1L, docs.get(1L).get("_id"));
    store.close();
  }

  @Test
  void aFileInTheOldFormatIsConvertedOnOpenWithEveryEntry(@TempDir Path dir) {
    String file = dir.resolve("old.mv").toString();
    MVStore old = new MVStore.Builder().fileName(file).open();
    MVMap<Object, Document> docs = old.openMap("databases.shop.orders");
    MVMap<Object, Object> index = old.openMap("shop.orders._index__id_");
    MVMap<String, Object> meta = old.openMap("meta.shop.orders");
    for (long i = 0; i < 1_000; i++) {
      Document d = everyType().append("_id", i);
      docs.put(i, d);
      index.put(new KeyValue((double) i), i);
    }
    Document composite = new Document("order_id", 1L).append("line", 2);
    docs.put(composite, new Document("_id", composite).append("qty", 3));
    index.put(new KeyValue(composite), composite);
    meta.put("dataSize", 12_345L);
    old.close();

    MVStore store = StoreFile.open(file, 16);
    try {
      MVMap<Object, Document> newDocs = store.openMap("databases.shop.orders", StoreFile.documentsMap());
      MVMap<Object, Object> newIndex = store.openMap("shop.orders._index__id_", StoreFile.indexMap());
      MVMap<String, Object> newMeta = store.openMap("meta.shop.orders");
      assertEquals(1_001, newDocs.size());
      assertEquals(everyType().append("_id", 500L), newDocs.get(500L));
      assertEquals(3, newDocs.get(new Document("order_id", 1L).append("line", 2)).get("qty"));
      assertEquals(500L, newIndex.get(new KeyValue(500.0)));
      assertEquals(composite, newIndex.get(new KeyValue(new Document("order_id", 1L).append("line", 2))));
      assertEquals(12_345L, newMeta.get("dataSize"));
      assertTrue(Files.notExists(Path.of(file + ".converting")), "the converted file replaced the old one");
    } finally {
      store.close();
    }
    // Opened again, it is already in the current format: nothing to convert.
    MVStore again = StoreFile.open(file, 16);
    assertEquals(StoreFile.CURRENT_FORMAT, again.<String, String>openMap(StoreFile.FORMAT_MAP).get(StoreFile.FORMAT_KEY));
    again.close();
  }

  @Test
  void aFileFromANewerFormatIsRefusedWithWhatToDo(@TempDir Path dir) {
    String file = dir.resolve("newer.mv").toString();
    MVStore store = new MVStore.Builder().fileName(file).open();
    store.<String, String>openMap(StoreFile.FORMAT_MAP).put(StoreFile.FORMAT_KEY, "bson-99");
    store.close();
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> StoreFile.open(file, 16));
    assertTrue(e.getMessage().contains("bson-99") && e.getMessage().contains("newer build"), e.getMessage());
  }
}
