package dev.syncline.mongo;

import de.bwaldvogel.mongo.backend.KeyValue;
import de.bwaldvogel.mongo.backend.Missing;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.bson.MinKey;
import de.bwaldvogel.mongo.bson.ObjectId;
import de.bwaldvogel.mongo.wire.bson.BsonDecoder;
import de.bwaldvogel.mongo.wire.bson.BsonEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.h2.mvstore.DataUtils;
import org.h2.mvstore.WriteBuffer;
import org.h2.mvstore.type.BasicDataType;

/**
 * How the stand-in keeps documents and keys on disk: BSON, the format they arrive in, instead of
 * the H2 backend's Java serialization.
 *
 * <p>Java serialization was most of the stand-in's CPU (docs/decisions/0050, 0075): every page
 * written at a commit serialized each document with {@code ObjectOutputStream} (class descriptors,
 * block data), every page read back deserialized them, and index keys ({@code KeyValue}) were
 * ordered by serializing both sides of each comparison. Here documents are BSON bytes written by
 * the library's own wire encoder, and keys are compared as values, never serialized to compare.
 */
final class BsonStorage {
  private BsonStorage() {}

  /** The document store's values: one BSON document each. */
  static final class DocumentType extends BasicDataType<Document> {
    static final DocumentType INSTANCE = new DocumentType();

    @Override
    public int getMemory(Document doc) {
      return memoryOf(doc);
    }

    @Override
    public void write(WriteBuffer buff, Document doc) {
      writeBson(buff, doc);
    }

    @Override
    public Document read(ByteBuffer buff) {
      return readBson(buff);
    }

    @Override
    public Document[] createStorage(int size) {
      return new Document[size];
    }
  }

  /**
   * Document positions ({@code _id} values), index keys ({@code KeyValue}) and the positions an
   * index points at: any BSON value, plus the library's {@code Missing} and {@code KeyValue}.
   *
   * <p>The order only has to be total and to call two keys equal exactly when they are the same
   * value of the same type: the library looks keys up by equality and never walks an index in key
   * order to answer a range (its unique indexes answer equality, {@code $in} and, by a full walk,
   * regular expressions). It follows MongoDB's type order where that is cheap, so an unsorted find
   * returns documents by {@code _id} within a type, as MongoDB's {@code _id} index would.
   */
  static final class KeyType extends BasicDataType<Object> {
    static final KeyType INSTANCE = new KeyType();

    // Tags of the stored form.
    private static final byte T_MISSING = 0;
    private static final byte T_NULL = 1;
    private static final byte T_INT = 2;
    private static final byte T_LONG = 3;
    private static final byte T_DOUBLE = 4;
    private static final byte T_STRING = 5;
    private static final byte T_KEY_VALUE = 6;
    private static final byte T_BSON = 7;

    @Override
    public int compare(Object a, Object b) {
      return compareValues(a, b);
    }

    @Override
    public int getMemory(Object key) {
      return memoryOfValue(key);
    }

    @Override
    public void write(WriteBuffer buff, Object key) {
      if (key instanceof Missing) {
        buff.put(T_MISSING);
      } else if (key == null) {
        buff.put(T_NULL);
      } else if (key instanceof Integer i) {
        buff.put(T_INT).putVarInt(i);
      } else if (key instanceof Long l) {
        buff.put(T_LONG).putVarLong(l);
      } else if (key instanceof Double d) {
        buff.put(T_DOUBLE).putLong(Double.doubleToRawLongBits(d));
      } else if (key instanceof String s) {
        buff.put(T_STRING).putVarInt(s.length()).putStringData(s, s.length());
      } else if (key instanceof KeyValue kv) {
        buff.put(T_KEY_VALUE).putVarInt(kv.size());
        for (Object part : kv) {
          write(buff, part);
        }
      } else {
        // Documents (composite keys), ObjectIds, dates and the rest: the library's BSON encoder
        // knows every type it accepts on the wire, so a one-field wrapper document carries it.
        buff.put(T_BSON);
        writeBson(buff, new Document("v", key));
      }
    }

    @Override
    public Object read(ByteBuffer buff) {
      byte tag = buff.get();
      return switch (tag) {
        case T_MISSING -> Missing.getInstance();
        case T_NULL -> null;
        case T_INT -> DataUtils.readVarInt(buff);
        case T_LONG -> DataUtils.readVarLong(buff);
        case T_DOUBLE -> Double.longBitsToDouble(buff.getLong());
        case T_STRING -> DataUtils.readString(buff, DataUtils.readVarInt(buff));
        case T_KEY_VALUE -> {
          int n = DataUtils.readVarInt(buff);
          List<Object> parts = new ArrayList<>(n);
          for (int i = 0; i < n; i++) {
            parts.add(read(buff));
          }
          yield new KeyValue(parts);
        }
        case T_BSON -> readBson(buff).get("v");
        default -> throw new IllegalStateException("unknown key tag " + tag + " in the stand-in's data file");
      };
    }

    @Override
    public Object[] createStorage(int size) {
      return new Object[size];
    }
  }

  /**
   * Writes {@code doc} as its length (varint) and its BSON bytes. The bytes are exactly those of
   * the library's wire encoder ({@code BsonStorageTest} compares them), but written without its
   * costs: it looks every field up again by name (a hash of each key, each time) and writes byte by
   * byte into a checked netty buffer. At a commit every document of a dirty page is written again,
   * so this was a fifth of the stand-in's CPU with writers flat out (decision 0083).
   */
  static void writeBson(WriteBuffer buff, Document doc) {
    BsonOut out = SCRATCH.get();
    out.n = 0;
    out.document(doc);
    buff.putVarInt(out.n);
    buff.put(out.bytes, 0, out.n);
  }

  /** The length of {@code doc}'s BSON, as MongoDB counts a collection's data size. */
  static int bsonSize(Document doc) {
    BsonOut out = SCRATCH.get();
    out.n = 0;
    out.document(doc);
    return out.n;
  }

  private static final ThreadLocal<BsonOut> SCRATCH = ThreadLocal.withInitial(BsonOut::new);

  /** A growable buffer of little-endian BSON, reused per thread. */
  static final class BsonOut {
    byte[] bytes = new byte[1024];
    int n;

    private void ensure(int more) {
      if (n + more > bytes.length) {
        bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, n + more));
      }
    }

    private void intAt(int at, int v) {
      bytes[at] = (byte) v;
      bytes[at + 1] = (byte) (v >>> 8);
      bytes[at + 2] = (byte) (v >>> 16);
      bytes[at + 3] = (byte) (v >>> 24);
    }

    private void byte1(int b) {
      ensure(1);
      bytes[n++] = (byte) b;
    }

    /** Reserves a length (int32) to be set by {@link #closeDocument}; returns where it is. */
    private int openDocument() {
      int start = n;
      int32(0);
      return start;
    }

    /** Ends a document or array: its terminator, then its length over all of it. */
    private void closeDocument(int start) {
      byte1(0);
      intAt(start, n - start);
    }

    private void int32(int v) {
      ensure(4);
      intAt(n, v);
      n += 4;
    }

    private void int64(long v) {
      ensure(8);
      for (int i = 0; i < 8; i++) {
        bytes[n++] = (byte) (v >>> (8 * i));
      }
    }

    private void raw(byte[] b) {
      ensure(b.length);
      System.arraycopy(b, 0, bytes, n, b.length);
      n += b.length;
    }

    /** UTF-8 without a terminator; ASCII (nearly every name and most values) without a copy. */
    private void utf8(String s) {
      int len = s.length();
      ensure(len);
      int start = n;
      for (int i = 0; i < len; i++) {
        char c = s.charAt(i);
        if (c >= 0x80) {
          n = start;
          raw(s.getBytes(StandardCharsets.UTF_8));
          return;
        }
        bytes[n++] = (byte) c;
      }
    }

    void document(Map<String, ?> doc) {
      int start = openDocument();
      for (Map.Entry<String, ?> e : doc.entrySet()) {
        element(e.getKey(), e.getValue());
      }
      closeDocument(start);
    }

    private void element(String name, Object value) {
      byte type = BsonEncoder.determineType(value);
      byte1(type);
      utf8(name);
      byte1(0);
      switch (type) {
        case TYPE_DOCUMENT -> {
          @SuppressWarnings("unchecked")
          Map<String, ?> map = (Map<String, ?>) value;
          document(map);
        }
        case TYPE_ARRAY -> array((Collection<?>) value);
        case TYPE_STRING -> {
          // The length counts the bytes and the terminator, not itself.
          int at = n;
          int32(0);
          utf8(value.toString());
          byte1(0);
          intAt(at, n - at - 4);
        }
        case TYPE_INT32 -> int32((Integer) value);
        case TYPE_INT64 -> int64((Long) value);
        case TYPE_DOUBLE -> int64(Double.doubleToRawLongBits((Double) value));
        case TYPE_BOOLEAN -> byte1(((Boolean) value) ? 1 : 0);
        case TYPE_DATE -> int64(((Instant) value).toEpochMilli());
        case TYPE_NULL -> {
          // no bytes
        }
        default -> rare(type, value);
      }
    }

    /** An array is a document keyed "0", "1", ... in the collection's order. */
    private void array(Collection<?> values) {
      int start = openDocument();
      int i = 0;
      for (Object v : values) {
        element(Integer.toString(i++), v);
      }
      closeDocument(start);
    }

    /** Types the sinks do not send (ObjectId, binary, decimal, ...): the library's encoder. */
    private void rare(byte type, Object value) {
      ByteBuf buf = Unpooled.buffer(32);
      try {
        BsonEncoder.encodeValue(type, value, buf);
        int len = buf.readableBytes();
        ensure(len);
        buf.readBytes(bytes, n, len);
        n += len;
      } finally {
        buf.release();
      }
    }
  }

  // BSON element types (bsonspec.org), as the library's BsonEncoder.determineType answers them.
  private static final byte TYPE_DOUBLE = 1;
  private static final byte TYPE_STRING = 2;
  private static final byte TYPE_DOCUMENT = 3;
  private static final byte TYPE_ARRAY = 4;
  private static final byte TYPE_BOOLEAN = 8;
  private static final byte TYPE_DATE = 9;
  private static final byte TYPE_NULL = 10;
  private static final byte TYPE_INT32 = 16;
  private static final byte TYPE_INT64 = 18;

  private static Document readBson(ByteBuffer buff) {
    int n = DataUtils.readVarInt(buff);
    ByteBuffer slice = buff.slice();
    slice.limit(n);
    buff.position(buff.position() + n);
    return BsonDecoder.decodeBson(Unpooled.wrappedBuffer(slice));
  }

  // Ranks of the key order: MongoDB's type order where types are distinct, and a distinct rank per
  // numeric type so that 1 (int) and 1 (long) stay two keys, as they were in the older format.
  private static int rank(Object v) {
    if (v instanceof Missing) return 0;
    if (v == null) return 1;
    if (v instanceof MinKey) return 2;
    if (v instanceof Integer) return 3;
    if (v instanceof Long) return 4;
    if (v instanceof Double) return 5;
    if (v instanceof String) return 6;
    if (v instanceof Document) return 7;
    if (v instanceof KeyValue) return 8;
    if (v instanceof List<?>) return 9;
    if (v instanceof ObjectId) return 10;
    if (v instanceof Boolean) return 11;
    if (v instanceof Instant) return 12;
    return 20;
  }

  static int compareValues(Object a, Object b) {
    if (a == b) {
      return 0;
    }
    // The index's binary search compares one-part keys of one type almost always: decided before
    // the rank chain and without iterators (27 % of the stand-in's insert samples went to this
    // compare with writers flat out in the profile of decision 0093).
    if (a instanceof KeyValue ka && b instanceof KeyValue kb) {
      return compareKeyValues(ka, kb);
    }
    if (a instanceof Long x && b instanceof Long y) {
      return Long.compare(x, y);
    }
    // An INT primary key arrives as int32 and tombstone _ids are strings, as common as int64:
    // they went through the rank chain on every compare (decision 0101). Same order as there.
    if (a instanceof Integer x && b instanceof Integer y) {
      return Integer.compare(x, y);
    }
    if (a instanceof String x && b instanceof String y) {
      return x.compareTo(y);
    }
    int ra = rank(a);
    int rb = rank(b);
    if (ra != rb) {
      return Integer.compare(ra, rb);
    }
    return switch (ra) {
      case 0, 1, 2 -> 0; // Missing, null and MinKey are single values.
      case 3 -> Integer.compare((Integer) a, (Integer) b);
      case 4 -> Long.compare((Long) a, (Long) b);
      case 5 -> Double.compare((Double) a, (Double) b);
      case 6 -> ((String) a).compareTo((String) b);
      case 7 -> compareDocuments((Document) a, (Document) b);
      case 9 -> compareSequences(((List<?>) a).iterator(), ((List<?>) b).iterator());
      case 10 -> ((ObjectId) a).compareTo((ObjectId) b);
      case 11 -> Boolean.compare((Boolean) a, (Boolean) b);
      case 12 -> ((Instant) a).compareTo((Instant) b);
      default -> compareOther(a, b);
    };
  }

  /** Field by field, names then values, in stored order: {a, b} and {b, a} are two keys. */
  private static int compareDocuments(Document a, Document b) {
    Iterator<Map.Entry<String, Object>> ia = a.entrySet().iterator();
    Iterator<Map.Entry<String, Object>> ib = b.entrySet().iterator();
    while (ia.hasNext() && ib.hasNext()) {
      Map.Entry<String, Object> ea = ia.next();
      Map.Entry<String, Object> eb = ib.next();
      int c = ea.getKey().compareTo(eb.getKey());
      if (c != 0) {
        return c;
      }
      c = compareValues(ea.getValue(), eb.getValue());
      if (c != 0) {
        return c;
      }
    }
    return Boolean.compare(ia.hasNext(), ib.hasNext());
  }

  /** Part by part, then the shorter first (as {@link #compareSequences}). */
  private static int compareKeyValues(KeyValue a, KeyValue b) {
    int na = a.size();
    int nb = b.size();
    for (int i = 0, n = Math.min(na, nb); i < n; i++) {
      int c = compareValues(a.get(i), b.get(i));
      if (c != 0) {
        return c;
      }
    }
    return Integer.compare(na, nb);
  }

  private static int compareSequences(Iterator<?> ia, Iterator<?> ib) {
    while (ia.hasNext() && ib.hasNext()) {
      int c = compareValues(ia.next(), ib.next());
      if (c != 0) {
        return c;
      }
    }
    return Boolean.compare(ia.hasNext(), ib.hasNext());
  }

  /** Rare key types (decimals, binary, UUIDs, timestamps, MaxKey): by type, then BSON bytes. */
  private static int compareOther(Object a, Object b) {
    int c = a.getClass().getName().compareTo(b.getClass().getName());
    if (c != 0) {
      return c;
    }
    return Arrays.compareUnsigned(bsonBytes(a), bsonBytes(b));
  }

  private static byte[] bsonBytes(Object value) {
    ByteBuf buf = Unpooled.buffer(64);
    try {
      BsonEncoder.encodeDocument(new Document("v", value), buf);
      byte[] bytes = new byte[buf.readableBytes()];
      buf.readBytes(bytes);
      return bytes;
    } finally {
      buf.release();
    }
  }

  // The page cache counts pages by these estimates of their size on the heap (decoded objects,
  // not bytes on disk: the amendment to decision 0050 is what counting disk bytes cost).
  static int memoryOf(Document doc) {
    int size = 64;
    for (Map.Entry<String, Object> e : doc.entrySet()) {
      size += 48 + 2 * e.getKey().length() + memoryOfValue(e.getValue());
    }
    return size;
  }

  private static int memoryOfValue(Object v) {
    if (v instanceof String s) {
      return 48 + 2 * s.length();
    } else if (v instanceof Document d) {
      return memoryOf(d);
    } else if (v instanceof Collection<?> c) {
      int size = 48;
      for (Object o : c) {
        size += 8 + memoryOfValue(o);
      }
      return size;
    } else if (v instanceof KeyValue kv) {
      int size = 64;
      for (Object o : kv) {
        size += 8 + memoryOfValue(o);
      }
      return size;
    }
    return 24;
  }
}
