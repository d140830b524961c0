package dev.syncline.spark;

import java.util.Arrays;
import java.util.Date;
import java.util.List;
import java.util.Map;
import org.bson.BsonBinarySubType;
import org.bson.BsonDocument;
import org.bson.BsonDocumentWrapper;
import org.bson.Document;
import org.bson.RawBsonDocument;
import org.bson.codecs.Codec;
import org.bson.types.Binary;
import org.bson.types.Decimal128;

/**
 * A sink document (or a write's guard filter) as the bytes the driver would send for it, encoded
 * here (decision 0091). The driver copies a {@link RawBsonDocument} into its command as it is,
 * where a {@link Document} goes through its codec registry value by value: that encoding was
 * 15–18 % of the job's CPU in a backlog drain into MongoDB. The bytes are the same the driver's
 * {@code DocumentCodec} writes ({@code MongoBsonTest} compares them over every value type the
 * sink documents hold).
 *
 * <p>Values of the types {@link SinkValues} produces are written here: null, string, int32,
 * int64, double, boolean, date, Decimal128, generic binary, and documents and lists of them.
 * Anything else, and a document the driver would check or refuse itself (a top-level name with
 * {@code $}, which a replacement may not have; a name with a NUL; an {@code _id} that is not the
 * first field, which the codec would move first), stays a {@link Document} wrapped for the
 * driver's own codec, exactly as before.
 */
final class MongoBson {
  private static final byte DOUBLE = 0x01;
  private static final byte STRING = 0x02;
  private static final byte DOCUMENT = 0x03;
  private static final byte ARRAY = 0x04;
  private static final byte BINARY = 0x05;
  private static final byte BOOLEAN = 0x08;
  private static final byte DATE = 0x09;
  private static final byte NULL = 0x0A;
  private static final byte INT32 = 0x10;
  private static final byte INT64 = 0x12;
  private static final byte DECIMAL128 = 0x13;

  /** The driver's default codec for {@link Document}, for what is not written here. */
  private static final Codec<Document> DOCUMENT_CODEC =
      com.mongodb.MongoClientSettings.getDefaultCodecRegistry().get(Document.class);

  private static final ThreadLocal<Out> OUT = ThreadLocal.withInitial(Out::new);

  private MongoBson() {}

  /** The document ready for a write: raw BSON when it can be written here, else wrapped. */
  static BsonDocument encode(Document doc) {
    if (!plainTopLevel(doc)) {
      return new BsonDocumentWrapper<>(doc, DOCUMENT_CODEC);
    }
    Out out = OUT.get();
    out.n = 0;
    boolean written = out.document(doc);
    byte[] bytes = written ? Arrays.copyOf(out.bytes, out.n) : null;
    if (out.bytes.length > Out.KEEP_BYTES) {
      out.bytes = new byte[Out.INITIAL_BYTES]; // a rare large row does not pin its size per thread
    }
    return written ? new RawBsonDocument(bytes) : new BsonDocumentWrapper<>(doc, DOCUMENT_CODEC);
  }

  /**
   * No name the driver's replacement check would refuse ({@code $…}) and {@code _id}, if present,
   * first (the codec writes it first wherever it is).
   */
  private static boolean plainTopLevel(Document doc) {
    boolean first = true;
    for (String name : doc.keySet()) {
      if (name.startsWith("$") || (!first && name.equals("_id"))) {
        return false;
      }
      first = false;
    }
    return true;
  }

  /** A growing little-endian buffer, one per thread, reused. */
  private static final class Out {
    static final int INITIAL_BYTES = 1024;
    static final int KEEP_BYTES = 1024 * 1024;
    byte[] bytes = new byte[INITIAL_BYTES];
    int n;

    /** False when a value is not of a type written here; the caller then discards the bytes. */
    boolean document(Map<String, Object> doc) {
      int start = open();
      for (Map.Entry<String, Object> e : doc.entrySet()) {
        if (!element(e.getKey(), e.getValue())) {
          return false;
        }
      }
      close(start);
      return true;
    }

    private boolean array(List<?> list) {
      int start = open();
      int i = 0;
      for (Object v : list) {
        if (!element(Integer.toString(i++), v)) {
          return false;
        }
      }
      close(start);
      return true;
    }

    private boolean element(String name, Object v) {
      int typeAt = n;
      byte1((byte) 0);
      if (!cstring(name)) {
        return false;
      }
      byte type;
      if (v == null) {
        type = NULL;
      } else if (v instanceof String s) {
        type = STRING;
        int at = n;
        int32(0);
        utf8(s);
        byte1((byte) 0);
        int32At(at, n - at - 4);
      } else if (v instanceof Integer i) {
        type = INT32;
        int32(i);
      } else if (v instanceof Long l) {
        type = INT64;
        int64(l);
      } else if (v instanceof Double d) {
        type = DOUBLE;
        int64(Double.doubleToRawLongBits(d));
      } else if (v instanceof Boolean b) {
        type = BOOLEAN;
        byte1((byte) (b ? 1 : 0));
      } else if (v instanceof Date d) {
        type = DATE;
        int64(d.getTime());
      } else if (v instanceof Decimal128 d) {
        type = DECIMAL128;
        int64(d.getLow());
        int64(d.getHigh());
      } else if (v instanceof Binary b && b.getType() == BsonBinarySubType.BINARY.getValue()) {
        type = BINARY;
        byte[] data = b.getData();
        int32(data.length);
        byte1(b.getType());
        raw(data);
      } else if (v instanceof Document d) {
        type = DOCUMENT;
        if (!document(d)) {
          return false;
        }
      } else if (v instanceof List<?> l) {
        type = ARRAY;
        if (!array(l)) {
          return false;
        }
      } else {
        return false;
      }
      bytes[typeAt] = type;
      return true;
    }

    private int open() {
      int start = n;
      int32(0);
      return start;
    }

    private void close(int start) {
      byte1((byte) 0);
      int32At(start, n - start);
    }

    /** A name with its terminator; false for one holding a NUL, which the driver refuses. */
    private boolean cstring(String s) {
      if (s.indexOf('\0') >= 0) {
        return false;
      }
      utf8(s);
      byte1((byte) 0);
      return true;
    }

    /**
     * UTF-8 by code point as BSON's output buffer writes it: a lone surrogate becomes its own
     * three bytes, where {@code String.getBytes} would write '?'.
     */
    private void utf8(String s) {
      int len = s.length();
      ensure(len);
      int i = 0;
      for (; i < len; i++) {
        char c = s.charAt(i);
        if (c >= 0x80) {
          break;
        }
        bytes[n++] = (byte) c;
      }
      while (i < len) {
        int c = Character.codePointAt(s, i);
        i += Character.charCount(c);
        ensure(4);
        if (c < 0x80) {
          bytes[n++] = (byte) c;
        } else if (c < 0x800) {
          bytes[n++] = (byte) (0xc0 + (c >> 6));
          bytes[n++] = (byte) (0x80 + (c & 0x3f));
        } else if (c < 0x10000) {
          bytes[n++] = (byte) (0xe0 + (c >> 12));
          bytes[n++] = (byte) (0x80 + ((c >> 6) & 0x3f));
          bytes[n++] = (byte) (0x80 + (c & 0x3f));
        } else {
          bytes[n++] = (byte) (0xf0 + (c >> 18));
          bytes[n++] = (byte) (0x80 + ((c >> 12) & 0x3f));
          bytes[n++] = (byte) (0x80 + ((c >> 6) & 0x3f));
          bytes[n++] = (byte) (0x80 + (c & 0x3f));
        }
      }
    }

    private void raw(byte[] b) {
      ensure(b.length);
      System.arraycopy(b, 0, bytes, n, b.length);
      n += b.length;
    }

    private void byte1(byte b) {
      ensure(1);
      bytes[n++] = b;
    }

    private void int32(int v) {
      ensure(4);
      int32At(n, v);
      n += 4;
    }

    private void int32At(int at, int v) {
      bytes[at] = (byte) v;
      bytes[at + 1] = (byte) (v >> 8);
      bytes[at + 2] = (byte) (v >> 16);
      bytes[at + 3] = (byte) (v >> 24);
    }

    private void int64(long v) {
      ensure(8);
      for (int k = 0; k < 8; k++) {
        bytes[n++] = (byte) (v >> (8 * k));
      }
    }

    private void ensure(int more) {
      if (n + more > bytes.length) {
        bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, n + more));
      }
    }
  }
}
