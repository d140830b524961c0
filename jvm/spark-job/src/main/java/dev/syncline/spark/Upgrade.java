package dev.syncline.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;

/**
 * Moving from the single query of earlier versions (one checkpoint for all topics and both sinks,
 * directly under checkpointLocation) to one query per sink and table (decision 0040). A new
 * query without a checkpoint of its own starts where the old query had committed, so nothing is
 * skipped and nothing is loaded again; the batch the old query had begun but not committed is
 * replayed, which the version guards make harmless.
 */
final class Upgrade {
  private static final ObjectMapper JSON = new ObjectMapper();

  private Upgrade() {}

  /** The Kafka source's startingOffsets for a query (ignored by Spark once it has a checkpoint). */
  static String startingOffsets(JobDescription job, SynclineJob.QuerySpec spec, Map<String, String> kafkaOptions) throws IOException {
    String fallback = job.kafka.startingOffsets == null ? "earliest" : job.kafka.startingOffsets;
    if (hasCommits(new File(spec.checkpoint()))) {
      return fallback;
    }
    String topic = spec.table().topic;
    // After the table's shared read (decision 0108): where both sinks had applied.
    Map<Integer, Long> old =
        !spec.sink().equals(SharedReader.BOTH) && SharedReader.handedOver(job, topic) ? SharedReader.handedOffsets(job, topic) : null;
    String from = "where the shared read of both sinks handed over";
    if (old == null) {
      old = oldCommitted(new File(job.checkpointLocation), topic);
      from = "the previous single query's checkpoint";
    }
    if (old == null) {
      return fallback;
    }
    // Spark wants every partition of the topic named; one the old query never saw starts at
    // the beginning (-2), as a new partition would.
    int partitions = partitionCount(job, topic, kafkaOptions);
    ObjectNode parts = JsonNodeFactory.instance.objectNode();
    for (int p = 0; p < Math.max(partitions, 1); p++) {
      parts.put(String.valueOf(p), old.getOrDefault(p, -2L));
    }
    ObjectNode out = JsonNodeFactory.instance.objectNode();
    out.set(topic, parts);
    System.err.println("syncline spark: " + spec.name() + " starts from " + from + " at " + parts);
    return out.toString();
  }

  static boolean hasCommits(File checkpoint) {
    String[] ids = new File(checkpoint, "commits").list((d, n) -> n.matches("\\d+"));
    return ids != null && ids.length > 0;
  }

  /** The end offsets of the old checkpoint's last committed batch for a topic, or null. */
  static Map<Integer, Long> oldCommitted(File checkpoint, String topic) throws IOException {
    String[] ids = new File(checkpoint, "commits").list((d, n) -> n.matches("\\d+"));
    if (ids == null || ids.length == 0) {
      return null;
    }
    long last = -1;
    for (String id : ids) {
      last = Math.max(last, Long.parseLong(id));
    }
    File offsets = new File(new File(checkpoint, "offsets"), String.valueOf(last));
    if (!offsets.isFile()) {
      return null;
    }
    List<String> lines = Files.readAllLines(offsets.toPath(), StandardCharsets.UTF_8);
    // Line 1 is the format version, line 2 the batch metadata, then one line per source.
    for (String line : lines.subList(Math.min(2, lines.size()), lines.size())) {
      if (!line.startsWith("{")) {
        continue;
      }
      JsonNode parsed = JSON.readTree(line);
      JsonNode parts = parsed.get(topic);
      if (parts != null) {
        Map<Integer, Long> out = new HashMap<>();
        parts.fields().forEachRemaining(e -> out.put(Integer.parseInt(e.getKey()), e.getValue().asLong()));
        return out;
      }
    }
    return null;
  }

  /** A Kafka admin client's settings: the job's brokers and the user's Kafka options. */
  static Properties adminProperties(JobDescription job, Map<String, String> kafkaOptions) {
    Properties props = new Properties();
    props.putAll(kafkaOptions);
    props.put("bootstrap.servers", job.kafka.bootstrapServers);
    return props;
  }

  static int partitionCount(JobDescription job, String topic, Map<String, String> kafkaOptions) {
    try (Admin admin = Admin.create(adminProperties(job, kafkaOptions))) {
      TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
      return d.partitions().size();
    } catch (Exception e) {
      throw new IllegalStateException("cannot read the partitions of " + topic + " from Kafka: " + e.getMessage(), e);
    }
  }
}
