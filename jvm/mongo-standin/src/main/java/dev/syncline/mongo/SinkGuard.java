package dev.syncline.mongo;

import de.bwaldvogel.mongo.bson.Document;
import java.util.Collection;
import java.util.Map;

/**
 * The syncline sink's version guard, {@code {_id, "_sync.v": {$lt|$lte: n}, "_sync.src": {$in:
 * [source, null]}}}, decided without the library's general query matcher on a document already
 * found by its {@code _id}. The matcher split each dotted path, looked operators up by name and
 * walked the document once per condition: a sixth of the stand-in's CPU samples while the Spark
 * job drained a backlog of updates (decision 0095), against 6 % for the connector's
 * filter on {@code _id} alone.
 *
 * <p>Only the exact shape with the value types the sink writes is decided here (integer versions,
 * string sources, a stored {@code _sync} that is a document or absent); for anything else
 * {@link #matches} answers null and the caller asks the library, so the result is always the
 * library's (JUnit compares the two over every combination the shape allows).
 */
final class SinkGuard {
  private SinkGuard() {}

  /**
   * Whether {@code stored}, found by the index under the selector's own {@code _id}, matches the
   * selector; null when this is not the guard's shape.
   */
  static Boolean matches(Document stored, Document selector) {
    Object id = selector.get("_id");
    // The index's equality is the matcher's for these (numbers compare by value in both).
    if (!(id instanceof Integer || id instanceof Long || id instanceof String)) {
      return null;
    }
    Boolean result = Boolean.TRUE;
    for (Map.Entry<String, Object> e : selector.entrySet()) {
      Boolean one =
          switch (e.getKey()) {
            case "_id" -> Boolean.TRUE;
            case "_sync.v" -> version(stored, e.getValue());
            case "_sync.src" -> source(stored, e.getValue());
            default -> null;
          };
      if (one == null) {
        return null;
      }
      if (!one) {
        result = Boolean.FALSE; // every condition is still checked for shape: null wins over false
      }
    }
    return result;
  }

  /** {@code _sync.v} against {$lt: n} or {$lte: n} with an integer n. */
  private static Boolean version(Document stored, Object condition) {
    if (!(condition instanceof Document c) || c.size() != 1) {
      return null;
    }
    String op = c.keySet().iterator().next();
    Object bound = c.get(op);
    if (!op.equals("$lt") && !op.equals("$lte") || !(bound instanceof Integer || bound instanceof Long)) {
      return null;
    }
    Object v = syncField(stored, "v");
    if (v == Absent.SHAPE) {
      return null;
    }
    if (v == Absent.VALUE || v == null) {
      return Boolean.FALSE; // a comparison with a number never matches a missing or null field
    }
    if (!(v instanceof Integer || v instanceof Long)) {
      return null;
    }
    int cmp = Long.compare(((Number) v).longValue(), ((Number) bound).longValue());
    return op.equals("$lt") ? cmp < 0 : cmp <= 0;
  }

  /** {@code _sync.src} against {$in: [...]} of strings and nulls. */
  private static Boolean source(Document stored, Object condition) {
    if (!(condition instanceof Document c) || c.size() != 1 || !(c.get("$in") instanceof Collection<?> in)) {
      return null;
    }
    for (Object o : in) {
      if (o != null && !(o instanceof String)) {
        return null;
      }
    }
    Object src = syncField(stored, "src");
    if (src == Absent.SHAPE) {
      return null;
    }
    if (src == Absent.VALUE || src == null) {
      return holds(in, null); // $in with null matches a missing field as well as a null one
    }
    if (!(src instanceof String)) {
      return null;
    }
    return holds(in, src);
  }

  /** A loop: {@code contains(null)} throws on the immutable lists a caller may hand in. */
  private static boolean holds(Collection<?> in, Object value) {
    for (Object o : in) {
      if (java.util.Objects.equals(o, value)) {
        return true;
      }
    }
    return false;
  }

  /** Why {@link #syncField} found no value to decide on. */
  private enum Absent {
    /** The field is not there (nor is {@code _sync}, or it holds a scalar). */
    VALUE,
    /** Arrays on the path: the matcher's array rules apply, left to the library. */
    SHAPE
  }

  private static Object syncField(Document stored, String name) {
    Object sync = stored.get("_sync");
    if (sync instanceof Collection<?>) {
      return Absent.SHAPE;
    }
    if (!(sync instanceof Document d)) {
      return Absent.VALUE;
    }
    if (!d.containsKey(name)) {
      return Absent.VALUE;
    }
    Object v = d.get(name);
    return v instanceof Collection<?> ? Absent.SHAPE : v;
  }
}
