package dev.syncline.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.BooleanNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.LongNode;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Plain envelopes, message keys and after images read without Jackson: ASCII JSON whose returned
 * strings have no escapes, which is what the relay writes for most rows. The envelope parse was a
 * quarter of the plan threads' samples during a drain, Jackson's parser set-up alone 4.8 %
 * (decision 0097).
 *
 * <p>It reads a strict subset of JSON and gives up ({@link #UNSURE}) on anything else, a byte
 * outside printable ASCII and JSON whitespace, an escape in a string it would return, a grammar
 * error, deep nesting or a long number, so that {@link Envelope} reads that record with Jackson as
 * before. On what it accepts, the result is the one Jackson's reading gives (EnvelopeScanTest
 * compares the two on mutated golden events).
 */
final class EnvelopeScan {
  /** The scan cannot decide: Jackson reads the record. No stack trace, shared. */
  static final class Unsure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private Unsure() {
      super("not read by the fast path", null, false, false);
    }
  }

  static final Unsure UNSURE = new Unsure();

  private static final int MAX_DEPTH = 64;
  private static final int MAX_NUMBER_CHARS = 100;
  private static final UTF8String TRUE = UTF8String.fromString("true");
  private static final UTF8String FALSE = UTF8String.fromString("false");
  private static final byte[] OP = ascii("op");
  private static final byte[] BEFORE = ascii("before");
  private static final byte[] AFTER = ascii("after");
  private static final byte[] SOURCE = ascii("source");
  private static final byte[] TS_MS = ascii("ts_ms");
  private static final byte[] SEQ = ascii("seq");

  private final byte[] b;
  private int i;
  /** Set by {@link #member}: where the member's name is (quotes excluded). */
  private int nameFrom;
  private int nameTo;
  /** Set by {@link #skipString}: the string just passed had an escape. */
  private boolean escaped;
  /** Set by {@link #skipNumber}: the number just passed had a fraction or an exponent. */
  private boolean fractional;

  private EnvelopeScan(byte[] b) {
    this.b = b;
  }

  /** The envelope as {@link Envelope#parse(byte[])} reads it, or null; throws {@link #UNSURE}. */
  static Row envelope(byte[] text) {
    EnvelopeScan s = new EnvelopeScan(text);
    if (!s.startsObject()) {
      return null;
    }
    String op = null;
    int beforeFrom = -1;
    int beforeTo = -1;
    Map<String, Object> after = null;
    Row source = null;
    Long tsMs = null;
    if (s.open('}')) {
      do {
        s.member();
        int from = s.i;
        if (s.named(OP)) {
          UTF8String t = s.text(0);
          op = t == null ? null : t.toString();
        } else if (s.named(BEFORE)) {
          boolean object = s.b[from] == '{';
          s.skipValue(0);
          beforeFrom = object ? from : -1;
          beforeTo = s.i;
        } else if (s.named(AFTER)) {
          after = s.b[from] == '{' ? s.textMap(0) : s.skipNull(0);
        } else if (s.named(SOURCE)) {
          source = s.b[from] == '{' ? s.source() : s.skipNull(0);
        } else if (s.named(TS_MS)) {
          tsMs = s.longValue();
        } else {
          s.skipValue(0);
        }
      } while (!s.next('}'));
    }
    if (s.ws() != -1) {
      return null; // more after the object: not one JSON object
    }
    Map<String, Object> before =
        "d".equals(op) && beforeFrom >= 0 ? map(java.util.Arrays.copyOfRange(text, beforeFrom, beforeTo)) : null;
    return RowFactory.create(op, before, after, source, tsMs);
  }

  /** A flat JSON object as {@link Envelope#parseMap(byte[])} reads it, or null; throws {@link #UNSURE}. */
  static Map<String, Object> map(byte[] text) {
    EnvelopeScan s = new EnvelopeScan(text);
    if (!s.startsObject()) {
      return null;
    }
    Map<String, Object> out = s.textMap(0);
    return s.ws() == -1 ? out : null;
  }

  /**
   * The message key as the writers' {@code ObjectMapper.readTree} builds it, for a flat or nested
   * object of plain strings, integers, booleans and nulls; throws {@link #UNSURE} otherwise.
   */
  static JsonNode keyTree(byte[] text) {
    EnvelopeScan s = new EnvelopeScan(text);
    if (!s.startsObject()) {
      throw UNSURE;
    }
    JsonNode key = s.node(0);
    if (s.ws() != -1) {
      throw UNSURE;
    }
    return key;
  }

  /**
   * The envelope's after image as a tree, as {@link PartitionWriter#afterImage(byte[])} builds it
   * with Jackson (the last {@code after} of the object; the rest skipped); throws {@link #UNSURE}
   * for anything but an object of the values {@link #keyTree} takes.
   */
  static JsonNode afterTree(byte[] text) {
    EnvelopeScan s = new EnvelopeScan(text);
    if (!s.startsObject()) {
      throw UNSURE;
    }
    JsonNode after = null;
    if (s.open('}')) {
      do {
        s.member();
        if (s.named(AFTER)) {
          if (s.b[s.i] != '{') {
            throw UNSURE;
          }
          after = s.node(0);
        } else {
          s.skipValue(0);
        }
      } while (!s.next('}'));
    }
    return after;
  }

  /** The value at {@link #i} as a Jackson tree node with the node types Jackson's reader picks. */
  private JsonNode node(int depth) {
    if (depth > MAX_DEPTH) {
      throw UNSURE;
    }
    int from = i;
    int c = b[i];
    switch (c) {
      case '"' -> {
        skipString();
        if (escaped) {
          throw UNSURE;
        }
        return TextNode.valueOf(new String(b, from + 1, i - from - 2, StandardCharsets.ISO_8859_1));
      }
      case '{' -> {
        ObjectNode o = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
        if (open('}')) {
          do {
            member();
            o.set(memberName(), node(depth + 1)); // a name twice: the last value, in the first one's place
          } while (!next('}'));
        }
        return o;
      }
      case '[' -> {
        ArrayNode a = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.arrayNode();
        if (open(']')) {
          do {
            a.add(node(depth + 1));
          } while (!next(']'));
        }
        return a;
      }
      case 't' -> {
        literal("true");
        return BooleanNode.TRUE;
      }
      case 'f' -> {
        literal("false");
        return BooleanNode.FALSE;
      }
      case 'n' -> {
        literal("null");
        return NullNode.instance;
      }
      default -> {
        if (c != '-' && (c < '0' || c > '9')) {
          throw UNSURE;
        }
        skipNumber();
        if (fractional || i - from > 18) {
          throw UNSURE; // a double or a long near its bounds: Jackson's
        }
        long v = longAt(from);
        // Jackson reads an integer in int range as an IntNode, else as a LongNode.
        return v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE ? IntNode.valueOf((int) v) : LongNode.valueOf(v);
      }
    }
  }

  /**
   * Whether the text starts with an object. Jackson picks the encoding from the first four bytes
   * and returns no object for text that starts otherwise; only plain ASCII is decided here.
   */
  private boolean startsObject() {
    for (int k = 0; k < Math.min(4, b.length); k++) {
      if (b[k] <= 0) {
        throw UNSURE;
      }
    }
    int c = ws();
    if (c == -1) {
      return false; // no token at all
    }
    if (c != '{') {
      if (c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
        return false; // another JSON value: not an object
      }
      throw UNSURE;
    }
    return true;
  }

  /** The object at {@link #i} as an insertion-ordered map of value texts (a name twice: the last value). */
  private Map<String, Object> textMap(int depth) {
    Map<String, Object> out = new LinkedHashMap<>();
    if (open('}')) {
      do {
        member();
        out.put(memberName(), text(depth + 1));
      } while (!next('}'));
    }
    return out;
  }

  private Row source() {
    String seq = null;
    Long tsMs = null;
    if (open('}')) {
      do {
        member();
        if (named(SEQ)) {
          UTF8String t = text(1);
          seq = t == null ? null : t.toString();
        } else if (named(TS_MS)) {
          tsMs = longValue();
        } else {
          skipValue(1);
        }
      } while (!next('}'));
    }
    return RowFactory.create(seq, tsMs);
  }

  /** The value at {@link #i} as {@link Envelope}'s text: cut from the bytes, null for JSON null. */
  private UTF8String text(int depth) {
    int from = i;
    switch (b[i]) {
      case '"' -> {
        skipString();
        if (escaped) {
          throw UNSURE; // Jackson decodes it
        }
        return UTF8String.fromBytes(b, from + 1, i - from - 2);
      }
      case 't' -> {
        literal("true");
        return TRUE;
      }
      case 'f' -> {
        literal("false");
        return FALSE;
      }
      case 'n' -> {
        literal("null");
        return null;
      }
      default -> {
        skipValue(depth);
        return UTF8String.fromBytes(b, from, i - from);
      }
    }
  }

  /** An integer that fits a long, else null (Jackson's getLongValue, or a skipped value). */
  private Long longValue() {
    int from = i;
    int c = b[i];
    if (c == '-' || (c >= '0' && c <= '9')) {
      skipNumber();
      if (fractional) {
        return null;
      }
      try {
        return longAt(from);
      } catch (NumberFormatException e) {
        return null; // beyond a long: Jackson's BIG_INTEGER, read as null
      }
    }
    skipValue(0);
    return null;
  }

  /** Skips the value (of the wrong JSON type) and gives null. */
  private <T> T skipNull(int depth) {
    skipValue(depth);
    return null;
  }

  /**
   * Passes the bracket at {@link #i}: true if a member or element follows, false if the bracket
   * closes at once (passed too).
   */
  private boolean open(char close) {
    i++;
    int c = ws();
    if (c == -1) {
      throw UNSURE;
    }
    if (c == close) {
      i++;
      return false;
    }
    return true;
  }

  /**
   * Passes a member's name and colon, up to its value ({@link #nameFrom}, {@link #nameTo}); names
   * with escapes are left to Jackson.
   */
  private void member() {
    if (i >= b.length || b[i] != '"') {
      throw UNSURE;
    }
    nameFrom = i + 1;
    skipString();
    if (escaped) {
      throw UNSURE;
    }
    nameTo = i - 1;
    if (ws() != ':') {
      throw UNSURE;
    }
    i++;
    if (ws() == -1) {
      throw UNSURE;
    }
  }

  private String memberName() {
    return new String(b, nameFrom, nameTo - nameFrom, StandardCharsets.ISO_8859_1);
  }

  /** Whether the last member's name is {@code word}. */
  private boolean named(byte[] word) {
    if (nameTo - nameFrom != word.length) {
      return false;
    }
    for (int k = 0; k < word.length; k++) {
      if (b[nameFrom + k] != word[k]) {
        return false;
      }
    }
    return true;
  }

  /**
   * The integer of JSON's grammar from {@code from} to {@link #i}. Up to 18 characters it cannot
   * overflow and is summed here (no String per value: ts_ms is read twice per event).
   */
  private long longAt(int from) {
    if (i - from > 18) {
      return Long.parseLong(new String(b, from, i - from, StandardCharsets.ISO_8859_1));
    }
    boolean negative = b[from] == '-';
    long v = 0;
    for (int k = negative ? from + 1 : from; k < i; k++) {
      v = v * 10 + (b[k] - '0');
    }
    return negative ? -v : v;
  }

  /** After a member or element: true at the closing bracket (passed), false after a comma. */
  private boolean next(char close) {
    int c = ws();
    if (c == close) {
      i++;
      return true;
    }
    if (c != ',') {
      throw UNSURE;
    }
    i++;
    if (ws() == -1) {
      throw UNSURE;
    }
    return false;
  }

  private void skipValue(int depth) {
    if (depth > MAX_DEPTH) {
      throw UNSURE;
    }
    int c = b[i];
    switch (c) {
      case '"' -> skipString();
      case '{' -> {
        if (open('}')) {
          do {
            member();
            skipValue(depth + 1);
          } while (!next('}'));
        }
      }
      case '[' -> {
        if (open(']')) {
          do {
            skipValue(depth + 1);
          } while (!next(']'));
        }
      }
      case 't' -> literal("true");
      case 'f' -> literal("false");
      case 'n' -> literal("null");
      default -> {
        if (c == '-' || (c >= '0' && c <= '9')) {
          skipNumber();
        } else {
          throw UNSURE;
        }
      }
    }
  }

  /** Passes a string, quotes included, checking its escapes; sets {@link #escaped}. */
  private void skipString() {
    escaped = false;
    i++;
    while (i < b.length) {
      int c = b[i];
      if (c == '"') {
        i++;
        return;
      }
      if (c < 0x20 || c == 0x7F) { // control characters and every byte above 0x7F (negative)
        throw UNSURE;
      }
      if (c == '\\') {
        escaped = true;
        if (i + 1 >= b.length) {
          throw UNSURE;
        }
        int e = b[i + 1];
        if (e == 'u') {
          if (i + 5 >= b.length) {
            throw UNSURE;
          }
          for (int k = i + 2; k < i + 6; k++) {
            if (Character.digit(b[k], 16) < 0) {
              throw UNSURE;
            }
          }
          i += 6;
          continue;
        }
        if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't') {
          throw UNSURE;
        }
        i += 2;
        continue;
      }
      i++;
    }
    throw UNSURE; // unterminated
  }

  /** Passes a number of JSON's grammar; sets {@link #fractional}. */
  private void skipNumber() {
    int from = i;
    fractional = false;
    if (b[i] == '-') {
      i++;
    }
    if (i >= b.length) {
      throw UNSURE;
    }
    if (b[i] == '0') {
      i++;
    } else if (b[i] >= '1' && b[i] <= '9') {
      digits();
    } else {
      throw UNSURE;
    }
    if (i < b.length && b[i] == '.') {
      fractional = true;
      i++;
      if (digits() == 0) {
        throw UNSURE;
      }
    }
    if (i < b.length && (b[i] == 'e' || b[i] == 'E')) {
      fractional = true;
      i++;
      if (i < b.length && (b[i] == '+' || b[i] == '-')) {
        i++;
      }
      if (digits() == 0) {
        throw UNSURE;
      }
    }
    if (i - from > MAX_NUMBER_CHARS) {
      throw UNSURE;
    }
    // What follows must end the number ("01", "1a", "1-" are errors in Jackson).
    if (i < b.length) {
      int c = b[i];
      if (c != ',' && c != '}' && c != ']' && c != ' ' && c != '\n' && c != '\r' && c != '\t') {
        throw UNSURE;
      }
    }
  }

  private int digits() {
    int from = i;
    while (i < b.length && b[i] >= '0' && b[i] <= '9') {
      i++;
    }
    return i - from;
  }

  private void literal(String word) {
    int n = word.length();
    if (i + n > b.length) {
      throw UNSURE;
    }
    for (int k = 0; k < n; k++) {
      if (b[i + k] != word.charAt(k)) {
        throw UNSURE;
      }
    }
    i += n;
    if (i < b.length) {
      int c = b[i];
      if (c != ',' && c != '}' && c != ']' && c != ' ' && c != '\n' && c != '\r' && c != '\t') {
        throw UNSURE; // "truex", "nullnull": Jackson's error
      }
    }
  }

  /** Skips JSON whitespace; the byte there (0..127), or -1 at the end. Any other byte: Jackson's. */
  private int ws() {
    while (i < b.length) {
      int c = b[i];
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
        i++;
      } else if (c <= 0 || c == 0x7F || (c < 0x20)) {
        throw UNSURE;
      } else {
        return c;
      }
    }
    return -1;
  }


  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }
}
