package dev.syncline.mongo;

import de.bwaldvogel.mongo.bson.Document;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One string per field name for the documents the stand-in keeps. The wire decoder makes a new
 * string for every field name of every document it reads, and a stored document keeps them until
 * it is replaced, so the collector copied the same few names again and again (decision 0104).
 */
final class FieldNames {
  /** The names of the documents the collections store. */
  static final FieldNames STORED = new FieldNames(10_000);

  /** Names beyond this many are kept as they come, so odd documents cannot grow the table forever. */
  private final int limit;

  private final Map<String, String> names = new ConcurrentHashMap<>();

  FieldNames(int limit) {
    this.limit = limit;
  }

  String shared(String name) {
    String known = names.get(name);
    if (known != null) {
      return known;
    }
    if (names.size() >= limit) {
      return name;
    }
    String first = names.putIfAbsent(name, name);
    return first != null ? first : name;
  }

  /** A value to store: a document (at any depth inside documents) with the shared field names. */
  Object withSharedNames(Object value) {
    if (!(value instanceof Document doc)) {
      return value;
    }
    Document out = new Document();
    for (Map.Entry<String, Object> e : doc.entrySet()) {
      out.put(shared(e.getKey()), withSharedNames(e.getValue()));
    }
    return out;
  }
}
