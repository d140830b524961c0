package dev.syncline.spark;

import java.math.BigDecimal;
import java.math.BigInteger;
import org.bson.types.Decimal128;

/** source.seq as stored in MongoDB: int64 up to 2^63-1, Decimal128 above (seq is unsigned). */
final class Versions {
  private Versions() {}

  static Object toBson(String seq) {
    return toBson(new BigInteger(seq));
  }

  static Object toBson(BigInteger seq) {
    return SinkValues.unsignedToBson(seq);
  }

  static int compare(Object a, Object b) {
    return toBig(a).compareTo(toBig(b));
  }

  private static BigDecimal toBig(Object v) {
    if (v instanceof Decimal128 d) {
      return d.bigDecimalValue();
    }
    if (v instanceof Number n) {
      return new BigDecimal(n.toString());
    }
    return new BigDecimal(String.valueOf(v));
  }
}
