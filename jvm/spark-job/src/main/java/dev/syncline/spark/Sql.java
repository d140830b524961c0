package dev.syncline.spark;

/** Quoting for the Spark SQL text this job generates around user expressions. */
final class Sql {
  private Sql() {}

  /** A column or field identifier, backtick-quoted so any MySQL column name is safe. */
  static String id(String name) {
    return "`" + name.replace("`", "``") + "`";
  }

  /** A string literal. */
  static String str(String value) {
    StringBuilder b = new StringBuilder("'");
    for (char ch : value.toCharArray()) {
      if (ch == '\\' || ch == '\'') {
        b.append('\\');
      }
      b.append(ch);
    }
    return b.append('\'').toString();
  }
}
