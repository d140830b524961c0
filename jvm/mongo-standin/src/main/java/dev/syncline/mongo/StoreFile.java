package dev.syncline.mongo;

import de.bwaldvogel.mongo.bson.Document;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;

/**
 * Opens the stand-in's data file in the current storage format (BSON, see {@link BsonStorage}),
 * converting a file written by an earlier build (Java serialization) first.
 *
 * <p>MVStore does not record the types of a map, so the format is kept in a small marker map: a
 * file without it that holds data is in the old format. The conversion writes a new file beside
 * the old one and moves it over the old one in one rename, so a kill during it leaves the old
 * file as it was and the next start converts again.
 */
final class StoreFile {
  static final String FORMAT_MAP = "syncline.storage";
  static final String FORMAT_KEY = "format";
  static final String CURRENT_FORMAT = "bson-1";

  private static final String DATA_PREFIX = "databases.";
  private static final String META_PREFIX = "meta.";
  private static final String INDEX_INFIX = "._index_";

  private StoreFile() {}

  /** The builder of a collection's documents map: {@code _id} → document. */
  static MVMap.Builder<Object, Document> documentsMap() {
    return new MVMap.Builder<Object, Document>()
        .keyType(BsonStorage.KeyType.INSTANCE)
        .valueType(BsonStorage.DocumentType.INSTANCE);
  }

  /** The builder of a unique index's map: key values → the document's {@code _id}. */
  static MVMap.Builder<Object, Object> indexMap() {
    return new MVMap.Builder<Object, Object>()
        .keyType(BsonStorage.KeyType.INSTANCE)
        .valueType(BsonStorage.KeyType.INSTANCE);
  }

  static MVStore open(String dataFile, int cacheMb) {
    return open(dataFile, cacheMb, 0);
  }

  /** {@code unsavedMb}: changed-page memory that makes MVStore commit by itself (0: its default). */
  static MVStore open(String dataFile, int cacheMb, int unsavedMb) {
    MVStore store = build(dataFile, cacheMb, false, unsavedMb);
    String format = formatOf(store);
    if (CURRENT_FORMAT.equals(format)) {
      return store;
    }
    if (format != null) {
      store.close();
      throw new IllegalStateException(
          dataFile + " is in storage format '" + format + "', which this build does not know ("
              + "it reads '" + CURRENT_FORMAT + "'); it was written by a newer build: run that one, or"
              + " move the file away to start empty");
    }
    if (!holdsData(store)) {
      markCurrent(store);
      return store;
    }
    store.close();
    convert(dataFile, cacheMb);
    return build(dataFile, cacheMb, false, unsavedMb);
  }

  private static MVStore build(String dataFile, int cacheMb, boolean readOnly) {
    return build(dataFile, cacheMb, readOnly, 0);
  }

  private static MVStore build(String dataFile, int cacheMb, boolean readOnly, int unsavedMb) {
    MVStore.Builder builder = new MVStore.Builder().fileName(dataFile).cacheSize(cacheMb);
    if (readOnly) {
      builder.readOnly();
    }
    if (unsavedMb > 0) {
      builder.autoCommitBufferSize(unsavedMb * 1024);
    }
    return builder.open();
  }

  private static String formatOf(MVStore store) {
    if (!store.hasMap(FORMAT_MAP)) {
      return null;
    }
    MVMap<String, String> marker = store.openMap(FORMAT_MAP);
    return marker.get(FORMAT_KEY);
  }

  private static boolean holdsData(MVStore store) {
    return store.getMapNames().stream().anyMatch(name -> !name.equals(FORMAT_MAP));
  }

  private static void markCurrent(MVStore store) {
    MVMap<String, String> marker = store.openMap(FORMAT_MAP);
    marker.put(FORMAT_KEY, CURRENT_FORMAT);
    store.commit();
  }

  /** Copies every map of an old-format file into a new file in the current format. */
  static void convert(String dataFile, int cacheMb) {
    Path source = Path.of(dataFile);
    Path target = Path.of(dataFile + ".converting");
    long started = System.nanoTime();
    long entries = 0;
    try {
      Files.deleteIfExists(target);
      // Both close (the new file first) even when one of them fails to.
      try (MVStore from = build(dataFile, cacheMb, true);
          MVStore to = build(target.toString(), cacheMb, false)) {
        List<String> names = from.getMapNames().stream().filter(n -> !n.equals(FORMAT_MAP)).sorted().toList();
        System.err.println(
            "mongo-standin: converting " + dataFile + " (" + names.size() + " maps) from Java serialization to "
                + CURRENT_FORMAT + "; this happens once, about 20 s per 100,000 documents (the server"
                + " answers when it is done; if `syncline stack up` stops waiting, run it again)");
        for (String name : names) {
          // The old format is H2's default object type for keys and values alike.
          MVMap<Object, Object> in = from.openMap(name);
          MVMap<Object, Object> out = openConverted(to, name);
          for (Map.Entry<Object, Object> e : in.entrySet()) {
            out.put(e.getKey(), e.getValue());
            if (++entries % 50_000 == 0) {
              to.commit();
            }
          }
        }
        markCurrent(to);
      }
      Files.move(target, source, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException("converting " + dataFile + " failed: " + e.getMessage(), e);
    }
    System.err.printf(
        "mongo-standin: converted %,d entries in %.1f s%n", entries, (System.nanoTime() - started) / 1e9);
  }

  /** Opens a converted map in the new file, unlogged: the conversion commits as it goes. */
  private static MVMap<Object, Object> openConverted(MVStore to, String name) {
    return openMap(to, name, null, false);
  }

  /**
   * Opens the map {@code name} with the types its name implies (documents, a unique index, or the
   * library's own metadata), as a map whose changes go to {@code log}.
   */
  static MVMap<Object, Object> openMap(MVStore store, String name, WriteLog log) {
    return openMap(store, name, log, true);
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static MVMap<Object, Object> openMap(MVStore store, String name, WriteLog log, boolean logged) {
    MVMap.Builder builder = logged ? new WriteLog.Builder<>(log) : new MVMap.Builder<>();
    MVMap.Builder<?, ?> types =
        name.startsWith(DATA_PREFIX)
            ? documentsMap()
            : !name.startsWith(META_PREFIX) && name.contains(INDEX_INFIX) ? indexMap() : null;
    if (types != null) {
      builder.keyType(types.getKeyType()).valueType(types.getValueType());
    }
    return (MVMap<Object, Object>) store.openMap(name, builder);
  }
}
