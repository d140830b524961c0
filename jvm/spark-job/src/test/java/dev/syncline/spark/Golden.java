package dev.syncline.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.syncline.spark.JobDescription.Column;
import dev.syncline.spark.JobDescription.Table;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** The golden events of contract/golden and the golden tables, as the Java tests need them. */
final class Golden {
  static final ObjectMapper JSON = new ObjectMapper();
  static final Path DIR = locate();

  record Event(String name, String topic, String key, String value, JsonNode valueNode) {}

  private Golden() {}

  private static Path locate() {
    Path p = Path.of(System.getProperty("user.dir")).toAbsolutePath();
    for (int i = 0; i < 4 && p != null; i++, p = p.getParent()) {
      Path g = p.resolve("contract").resolve("golden");
      if (Files.isDirectory(g)) {
        return g;
      }
    }
    throw new IllegalStateException("contract/golden not found above " + System.getProperty("user.dir"));
  }

  static List<Event> events() throws IOException {
    List<Event> out = new ArrayList<>();
    try (Stream<Path> files = Files.list(DIR)) {
      for (Path f : files.filter(x -> x.getFileName().toString().matches("\\d+-.*\\.json")).sorted().toList()) {
        JsonNode n = JSON.readTree(f.toFile());
        out.add(new Event(n.get("description").asText(), n.get("topic").asText(), n.get("key").toString(), n.get("value").toString(), n.get("value")));
      }
    }
    return out;
  }

  static Event event(String name) throws IOException {
    return events().stream().filter(e -> e.name().equals(name)).findFirst().orElseThrow();
  }

  /** golden-tables.json holds the catalog's TableSchema objects; map them to job tables. */
  static Table table(String name) throws IOException {
    try (InputStream in = Golden.class.getResourceAsStream("/golden-tables.json")) {
      for (JsonNode t : JSON.readTree(in)) {
        if (!t.get("name").asText().equals(name)) {
          continue;
        }
        Table table = new Table();
        table.db = t.get("database").asText();
        table.table = name;
        table.topic = "syncline." + table.db + "." + name;
        table.keyColumns = new ArrayList<>();
        t.get("primaryKey").forEach(k -> table.keyColumns.add(k.asText()));
        table.columns = new ArrayList<>();
        for (JsonNode c : t.get("columns")) {
          Column col = new Column();
          col.name = c.get("name").asText();
          col.mysqlType = c.get("columnType").asText();
          col.kind = Kind.fromWire(c.get("kind").asText());
          col.nullable = c.get("nullable").asBoolean();
          table.columns.add(col);
        }
        table.mongodb = new JobDescription.TableMongo();
        table.mongodb.collection = name;
        table.redis = new JobDescription.TableRedis();
        return table;
      }
    }
    throw new IllegalArgumentException("no golden table " + name);
  }
}
