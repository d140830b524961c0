package dev.syncline.spark;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/**
 * The column kinds of the job description: one per distinct row-image representation
 * (contract/README.md) and sink mapping, not one per MySQL type.
 */
public enum Kind {
  INT,
  BIGINT,
  BIGINT_UNSIGNED,
  DECIMAL,
  FLOAT,
  DOUBLE,
  BIT1,
  BITN,
  BOOL,
  DATE,
  DATETIME,
  TIMESTAMP,
  TIME,
  YEAR,
  STRING,
  BINARY,
  ENUM,
  SET,
  JSON,
  GEOMETRY;

  @JsonValue
  public String wireName() {
    return name().toLowerCase(Locale.ROOT);
  }

  @JsonCreator
  public static Kind fromWire(String value) {
    for (Kind k : values()) {
      if (k.wireName().equals(value)) {
        return k;
      }
    }
    throw new IllegalArgumentException(
        "unknown column kind '" + value + "' (expected one of int, bigint, bigint_unsigned,"
            + " decimal, float, double, bit1, bitn, bool, date, datetime, timestamp, time, year,"
            + " string, binary, enum, set, json, geometry)");
  }
}
