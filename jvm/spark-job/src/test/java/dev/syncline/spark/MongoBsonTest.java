package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.syncline.spark.JobDescription.Column;
import dev.syncline.spark.JobDescription.Table;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.List;
import java.util.UUID;
import org.bson.BsonBinaryWriter;
import org.bson.BsonDocument;
import org.bson.BsonDocumentWrapper;
import org.bson.ByteBuf;
import org.bson.Document;
import org.bson.RawBsonDocument;
import org.bson.codecs.DocumentCodec;
import org.bson.codecs.EncoderContext;
import org.bson.io.BasicOutputBuffer;
import org.bson.types.Binary;
import org.bson.types.Decimal128;
import org.bson.types.ObjectId;
import org.junit.jupiter.api.Test;

/**
 * The job's own BSON encoding of sink documents (decision 0091) sends the bytes the driver's codec
 * would have sent, and leaves to the driver what it does not write itself.
 */
class MongoBsonTest {
  private static final DocumentCodec CODEC = new DocumentCodec(com.mongodb.MongoClientSettings.getDefaultCodecRegistry());

  /** What the driver writes for a document it inserts or replaces. */
  private static byte[] driverBytes(Document d) {
    BasicOutputBuffer buf = new BasicOutputBuffer();
    CODEC.encode(new BsonBinaryWriter(buf), d, EncoderContext.builder().isEncodingCollectibleDocument(true).build());
    return buf.toByteArray();
  }

  private static byte[] rawBytes(BsonDocument b) {
    ByteBuf bb = assertInstanceOf(RawBsonDocument.class, b, "encoded by the job, not left to the driver").getByteBuffer();
    byte[] out = new byte[bb.remaining()];
    bb.get(out);
    return out;
  }

  private static void assertSameBytes(Document d) {
    assertArrayEquals(driverBytes(d), rawBytes(MongoBson.encode(d)), () -> "bytes differ for " + abbreviated(d.toJson()));
  }

  private static String abbreviated(String s) {
    return s.length() <= 300 ? s : s.substring(0, 300) + "…";
  }

  /** The sink document of an after image, built as PartitionWriter.mongoDocument builds it. */
  private static Document sinkDocument(Table t, JsonNode key, JsonNode after) {
    Document d = new Document("_id", SinkValues.mongoId(t, key));
    for (Column c : t.columns) {
      d.put(c.name, SinkValues.toBson(c, after.get(c.name)));
    }
    d.put(
        "_sync",
        new Document("v", Versions.toBson("18446744073709551615"))
            .append("ts", new Date(1_700_000_000_123L))
            .append("wt", new Date())
            .append("op", "u")
            .append("src", "source-1"));
    return d;
  }

  @Test
  void everyGoldenRowIsSentAsTheBytesTheDriverWouldWrite() throws Exception {
    int compared = 0;
    for (Golden.Event e : Golden.events()) {
      JsonNode after = e.valueNode().path("after");
      if (!after.isObject()) {
        continue;
      }
      String tableName = e.topic().substring(e.topic().lastIndexOf('.') + 1);
      Table t;
      try {
        t = Golden.table(tableName);
      } catch (IllegalArgumentException notGolden) {
        continue;
      }
      assertSameBytes(sinkDocument(t, Golden.JSON.readTree(e.key()), after));
      compared++;
    }
    assertTrue(compared >= 5, "golden rows compared: " + compared);
  }

  @Test
  void edgeValuesAreWrittenByteForByteAsTheDriverDoes() {
    StringBuilder big = new StringBuilder();
    for (int i = 0; i < 300_000; i++) {
      big.append((char) ('a' + i % 26));
    }
    List<Object> mixed = new ArrayList<>(Arrays.asList(1, null, "x", new Document("in", List.of()), List.of(List.of(2L))));
    Document d =
        new Document("_id", new Document("a", 1).append("b", "k"))
            .append("ascii", "plain")
            .append("accents", "héllo wörld")
            .append("astral", "👋 emoji")
            .append("lone high", "a\uD800b")
            .append("lone low", "\uDC00")
            .append("nul inside a value", "a\0b")
            .append("empty", "")
            .append("nömé", 1)
            .append("ints", List.of(Integer.MIN_VALUE, Integer.MAX_VALUE, 0))
            .append("longs", List.of(Long.MIN_VALUE, Long.MAX_VALUE))
            .append("doubles", List.of(-0.0, Double.NaN, Double.POSITIVE_INFINITY, 1.5e-300))
            .append("bools", List.of(true, false))
            .append("date", new Date(-1L))
            .append("decimals", List.of(new Decimal128(new BigDecimal("-0.00")), Decimal128.NaN, Decimal128.POSITIVE_INFINITY))
            .append("binary", new Binary(new byte[] {0, 1, (byte) 0xff}))
            .append("empty binary", new Binary(new byte[0]))
            .append("null", null)
            .append("empty doc", new Document())
            .append("mixed", mixed)
            .append("big", big.toString());
    assertSameBytes(d);
    // A write's guard filter is encoded the same way.
    assertSameBytes(MongoSinkWriter.guardFilter(new Document("a", 1).append("b", "k"), "$lt", 5L).append("_sync.src", new Document("$in", Arrays.asList("s", null))));
    // The per-thread buffer grew for the big one and is given back; the next is still exact.
    assertSameBytes(new Document("_id", 7L).append("after", "big"));
  }

  @Test
  void whatTheDriverChecksOrEncodesItselfIsLeftToIt() {
    List<Document> left =
        List.of(
            new Document("_id", 1).append("$set", 2), // a replacement may not hold it: the driver says so
            new Document("a", 1).append("_id", 2), // the codec moves _id first
            new Document("_id", 1).append("a\0b", 2), // the driver refuses a NUL in a name
            new Document("_id", 1).append("oid", new ObjectId()),
            new Document("_id", 1).append("uuid", new Binary((byte) 4, new byte[16])),
            new Document("_id", 1).append("nested", new Document("u", UUID.randomUUID())),
            new Document("_id", 1).append("list", List.of(1, new BigDecimal("1.5"))));
    for (Document d : left) {
      BsonDocument b = MongoBson.encode(d);
      assertInstanceOf(BsonDocumentWrapper.class, b, () -> "left to the driver: " + d);
      assertTrue(((BsonDocumentWrapper<?>) b).getWrappedDocument() == d);
    }
  }
}
