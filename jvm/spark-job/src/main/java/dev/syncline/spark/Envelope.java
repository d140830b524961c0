package dev.syncline.spark;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * The change-event envelope and the message key read from their JSON text for the table plan,
 * in one pass of Jackson's streaming parser. Spark's {@code from_json} built a reader with an
 * 8 KB buffer and ran a converter closure per token for every record: half the plan's CPU on a
 * narrow table (JFR of bench/plan-cost.ts).
 *
 * <p>The result has {@link TablePlan#ENVELOPE}'s shape and the meaning the plan's checks rely
 * on: a row-image value keeps its JSON text (a string without its quotes, a number as written,
 * nested JSON as its exact text, JSON null as NULL); a name given twice keeps its last value (as
 * from_json and the writers' Jackson trees do); text that is not one JSON object is NULL as a
 * whole (the envelope check dead-letters it); a field of the wrong JSON type (an image that is not
 * an object, a non-integer {@code ts_ms}) is NULL on its own.
 *
 * <p>The value is read from its UTF-8 bytes as Kafka holds them: decoding it into a String first
 * and Jackson's char reader copying that String into a char array were about 4 % of the job's
 * samples during an initial load (decision 0085). Bytes that are not UTF-8 make the value not an
 * envelope (a dead letter) instead of text with replacement characters in the sinks.
 *
 * <p>The before image is read only for a delete, the one event whose checks look at it (its key
 * must match the message key): an update's before image is as large as its after image, and
 * building it was a third of the parse for nothing. Other events get NULL there.
 */
final class Envelope {
  /**
   * No limit on a string's length (Jackson's default stops at 20 million characters): the relay
   * bounds an event by source.relay.maxEventBytes, which a user may raise past it, and a value the
   * parser refused would read as no envelope at all. Shared with the writers' trees.
   */
  static final JsonFactory JSON =
      JsonFactory.builder()
          .streamReadConstraints(StreamReadConstraints.builder().maxStringLength(Integer.MAX_VALUE).build())
          .build();

  private Envelope() {}

  /** The envelope as a Row of {@link TablePlan#ENVELOPE}, or null. */
  static Row parse(String text) {
    return text == null ? null : parse(text.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * The envelope in UTF-8 as a Row of {@link TablePlan#ENVELOPE}, or null. Plain ASCII is read by
   * {@link EnvelopeScan}; what it leaves undecided, by Jackson.
   */
  static Row parse(byte[] text) {
    if (text == null) {
      return null;
    }
    try {
      return EnvelopeScan.envelope(text);
    } catch (EnvelopeScan.Unsure e) {
      return parseWithJackson(text);
    }
  }

  /** {@link #parse(byte[])} by Jackson's streaming parser alone. */
  static Row parseWithJackson(byte[] text) {
    try (JsonParser p = JSON.createParser(text)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return null;
      }
      String op = null;
      // Where the before image is (its text's start and end), read only for a delete below.
      int beforeFrom = -1;
      int beforeTo = -1;
      Map<String, Object> after = null;
      Row source = null;
      Long tsMs = null;
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String field = p.currentName();
        p.nextToken();
        switch (field) {
          case "op" -> op = string(p, text);
          case "before" -> {
            beforeFrom = p.currentToken() == JsonToken.START_OBJECT ? (int) p.currentTokenLocation().getByteOffset() : -1;
            p.skipChildren();
            beforeTo = (int) p.currentLocation().getByteOffset();
          }
          case "after" -> after = stringMap(p, text);
          case "source" -> source = source(p, text);
          case "ts_ms" -> tsMs = longValue(p);
          default -> p.skipChildren();
        }
      }
      if (p.nextToken() != null) {
        return null;
      }
      Map<String, Object> before = "d".equals(op) && beforeFrom >= 0 ? parseMapWithJackson(java.util.Arrays.copyOfRange(text, beforeFrom, beforeTo)) : null;
      return RowFactory.create(op, before, after, source, tsMs);
    } catch (IOException e) {
      return null;
    }
  }

  /** A flat JSON object (the message key) as a string map, or null. */
  static Map<String, Object> parseMap(String text) {
    if (text == null) {
      return null;
    }
    return parseMap(text.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * A flat JSON object in UTF-8 as a string map, or null. Byte offsets below are from the array's
   * start, so a part of one is copied out, not viewed.
   */
  static Map<String, Object> parseMap(byte[] text) {
    if (text == null) {
      return null;
    }
    try {
      return EnvelopeScan.map(text);
    } catch (EnvelopeScan.Unsure e) {
      return parseMapWithJackson(text);
    }
  }

  /** {@link #parseMap(byte[])} by Jackson's streaming parser alone. */
  static Map<String, Object> parseMapWithJackson(byte[] text) {
    try (JsonParser p = JSON.createParser(text)) {
      p.nextToken();
      Map<String, Object> out = stringMap(p, text);
      return p.nextToken() == null ? out : null;
    } catch (IOException e) {
      return null;
    }
  }

  private static Row source(JsonParser p, byte[] text) throws IOException {
    if (p.currentToken() != JsonToken.START_OBJECT) {
      p.skipChildren();
      return null;
    }
    String seq = null;
    Long tsMs = null;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String field = p.currentName();
      p.nextToken();
      switch (field) {
        case "seq" -> seq = string(p, text);
        case "ts_ms" -> tsMs = longValue(p);
        default -> p.skipChildren();
      }
    }
    return RowFactory.create(seq, tsMs);
  }

  /**
   * The object at the parser as an insertion-ordered map of value texts ({@link #text}); null if
   * not an object.
   */
  private static Map<String, Object> stringMap(JsonParser p, byte[] text) throws IOException {
    if (p.currentToken() != JsonToken.START_OBJECT) {
      p.skipChildren();
      return null;
    }
    Map<String, Object> out = new LinkedHashMap<>();
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      p.nextToken();
      out.put(name, text(p, text));
    }
    return out;
  }

  /** {@link #text} as a Java String, for the fields read here. */
  private static String string(JsonParser p, byte[] text) throws IOException {
    UTF8String u = text(p, text);
    return u == null ? null : u.toString();
  }

  private static final UTF8String TRUE = UTF8String.fromString("true");
  private static final UTF8String FALSE = UTF8String.fromString("false");

  /**
   * The text of the value at the parser, as Spark's UTF-8 string (Spark takes it as it is): nested
   * JSON is cut from the source as written; JSON null is null.
   *
   * <p>A string without escapes and a number are also cut from the source's bytes, as Spark would
   * store them: decoding them into a Java String and Spark encoding that again were most of the
   * parse (decision 0096). Only plain ASCII is cut; a string with an escape, a control character
   * or any non-ASCII byte is decoded by Jackson as before, which also refuses invalid UTF-8.
   */
  private static UTF8String text(JsonParser p, byte[] text) throws IOException {
    JsonToken t = p.currentToken();
    switch (t) {
      case VALUE_NULL:
        return null;
      case VALUE_TRUE:
        return TRUE;
      case VALUE_FALSE:
        return FALSE;
      case VALUE_STRING: {
        // Jackson reads a string lazily: its end is found here, and it is skipped, not decoded,
        // when the parser moves on.
        int from = (int) p.currentTokenLocation().getByteOffset() + 1;
        for (int i = from; i < text.length; i++) {
          byte b = text[i];
          if (b == '"') {
            return UTF8String.fromBytes(text, from, i - from);
          }
          if (b == '\\' || b < 0x20) { // an escape, a control character, or a byte above 0x7F
            break;
          }
        }
        return UTF8String.fromString(p.getText());
      }
      case VALUE_NUMBER_INT:
      case VALUE_NUMBER_FLOAT: {
        int from = (int) p.currentTokenLocation().getByteOffset();
        return UTF8String.fromBytes(text, from, p.getTextLength());
      }
      case START_OBJECT:
      case START_ARRAY: {
        int from = (int) p.currentTokenLocation().getByteOffset();
        p.skipChildren();
        int to = (int) p.currentLocation().getByteOffset();
        for (int i = from; i < to; i++) {
          if (text[i] < 0) { // not ASCII: decoded, so invalid UTF-8 reads as before
            return UTF8String.fromString(new String(text, from, to - from, StandardCharsets.UTF_8));
          }
        }
        return UTF8String.fromBytes(text, from, to - from);
      }
      default:
        return UTF8String.fromString(p.getText());
    }
  }

  private static Long longValue(JsonParser p) throws IOException {
    if (p.currentToken() == JsonToken.VALUE_NUMBER_INT && p.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
      return p.getLongValue();
    }
    p.skipChildren();
    return null;
  }
}
