package dev.syncline.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.syncline.spark.JobDescription.Table;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import com.mongodb.MongoClientSettings;
import org.bson.BsonBinaryWriter;
import org.bson.Document;
import org.bson.codecs.DocumentCodec;
import org.bson.codecs.EncoderContext;
import org.bson.io.BasicOutputBuffer;

/**
 * Executor side of one table's batch: sends dead letters to the DLQ topic and writes the newest
 * event per key to MongoDB and Redis. Returns one serialized {@link Stats} per partition.
 */
final class PartitionWriter implements MapPartitionsFunction<Row, Stats> {
  private static final long serialVersionUID = 1L;
  private static final int CHUNK = 500;
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Map<String, KafkaProducer<String, String>> PRODUCERS = new HashMap<>();
  /** MongoDB's maxBsonObjectSize. */
  static final int MONGO_MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;
  private static final int MEASURE_FROM_CHARS = 1024 * 1024;
  private static final DocumentCodec BSON_CODEC = new DocumentCodec(MongoClientSettings.getDefaultCodecRegistry());

  /** Connection settings resolved on the driver (from the environment variables it was given). */
  static final class Settings implements Serializable {
    private static final long serialVersionUID = 1L;
    String mongoUri;
    String mongoDatabase;
    String tombstoneCollection;
    long mongoTombstoneTtlSeconds;
    String redisUrl;
    long redisTombstoneTtlSeconds;
    String dlqTopic;
    Map<String, String> kafkaProducerProps = new HashMap<>();
  }

  private final Table table;
  private final Settings settings;
  private final StructType fieldsType;

  PartitionWriter(Table table, Settings settings, DataType fieldsType) {
    this.table = table;
    this.settings = settings;
    this.fieldsType = fieldsType instanceof StructType st ? st : null;
  }

  @Override
  public Iterator<Stats> call(Iterator<Row> rows) throws Exception {
    Stats stats = new Stats();
    List<Row> chunk = new ArrayList<>(CHUNK);
    List<Future<?>> sent = new ArrayList<>();
    while (rows.hasNext()) {
      chunk.add(rows.next());
      if (chunk.size() == CHUNK) {
        handle(chunk, stats, sent);
        chunk.clear();
      }
    }
    if (!chunk.isEmpty()) {
      handle(chunk, stats, sent);
    }
    for (Future<?> f : sent) {
      f.get(); // a dead letter that Kafka did not take fails the batch: never dropped silently
    }
    return List.of(stats).iterator();
  }

  private void handle(List<Row> chunk, Stats stats, List<Future<?>> sent) throws Exception {
    List<MongoSinkWriter.Upsert> upserts = new ArrayList<>();
    List<MongoSinkWriter.Delete> deletes = new ArrayList<>();
    List<RedisSinkWriter.Write> redis = new ArrayList<>();
    List<Long> mongoTs = new ArrayList<>();
    List<Long> redisTs = new ArrayList<>();
    long now = System.currentTimeMillis();
    long started = System.nanoTime();
    for (Row r : chunk) {
      String kind = r.getAs(TablePlan.KIND);
      if ("dlq".equals(kind)) {
        sent.add(deadLetter(r, now, stats));
        continue;
      }
      stats.add("events.applied", 1);
      JsonNode key = JSON.readTree((String) r.getAs(TablePlan.KEY));
      JsonNode envelope = JSON.readTree((String) r.getAs(TablePlan.VALUE));
      String op = r.getAs(TablePlan.OP);
      String seq = r.getAs(TablePlan.SEQ);
      Long ts = r.getAs(TablePlan.TS);
      boolean keep = Boolean.TRUE.equals(r.getAs(TablePlan.KEEP));
      Row fields = fieldsType == null ? null : r.getAs(TablePlan.FIELDS);
      if (keep) {
        stats.add("upserts", 1);
      } else {
        stats.add("deletes", 1);
        if (!"d".equals(op)) {
          stats.add("filtered", 1);
        }
      }
      if (table.mongodb != null && settings.mongoUri != null) {
        Object id = SinkValues.mongoId(table, key);
        Object version = Versions.toBson(seq);
        if (keep) {
          Document doc = mongoDocument(id, envelope.get("after"), fields, op, version, ts, now);
          if (fitsMongo(doc, r.getAs(TablePlan.KEY), r.getAs(TablePlan.VALUE), now, stats, sent)) {
            upserts.add(new MongoSinkWriter.Upsert(id, doc, version));
            mongoTs.add(ts);
          }
        } else {
          deletes.add(new MongoSinkWriter.Delete(id, version));
          mongoTs.add(ts);
        }
      }
      if (table.redis != null && settings.redisUrl != null) {
        redis.add(redisWrite(key, envelope.get("after"), fields, keep, seq, ts));
        redisTs.add(ts);
      }
    }
    long built = System.nanoTime();
    stats.add("ms.build", (built - started) / 1_000_000);
    if (!upserts.isEmpty() || !deletes.isEmpty()) {
      new MongoSinkWriter(
              settings.mongoUri,
              settings.mongoDatabase,
              table.mongodb.collection,
              settings.tombstoneCollection,
              settings.mongoTombstoneTtlSeconds)
          .write(upserts, deletes, stats);
      recordLatency(stats, "mongodb", mongoTs);
    }
    long mongoDone = System.nanoTime();
    stats.add("ms.mongodb", (mongoDone - built) / 1_000_000);
    if (!redis.isEmpty()) {
      long applied = new RedisSinkWriter(settings.redisUrl).write(redis);
      stats.add("redis.applied", applied);
      stats.add("redis.stale", redis.size() - applied);
      recordLatency(stats, "redis", redisTs);
    }
    stats.add("ms.redis", (System.nanoTime() - mongoDone) / 1_000_000);
  }

  /** Commit (source ts) → acknowledged by the sink, for every event of the chunk just written. */
  private static void recordLatency(Stats stats, String sink, List<Long> sourceTs) {
    long done = System.currentTimeMillis();
    for (Long ts : sourceTs) {
      if (ts != null) {
        stats.addLatency(sink, Math.max(0, done - ts));
      }
    }
  }

  private Document mongoDocument(Object id, JsonNode after, Row fields, String op, Object version, Long ts, long now) {
    Document d = new Document("_id", id);
    for (Map.Entry<String, String> c : SinkValues.outputColumns(table).entrySet()) {
      d.put(c.getValue(), SinkValues.toBson(table.column(c.getKey()), after.get(c.getKey())));
    }
    if (fields != null) {
      StructField[] fs = fieldsType.fields();
      for (int i = 0; i < fs.length; i++) {
        d.put(fs[i].name(), SinkValues.sparkToBson(fields.get(i), fs[i].dataType()));
      }
    }
    d.put(
        "_sync",
        new Document("v", version)
            .append("ts", ts == null ? null : new Date(ts))
            .append("wt", new Date(now))
            .append("op", op));
    return d;
  }

  private RedisSinkWriter.Write redisWrite(JsonNode key, JsonNode after, Row fields, boolean keep, String seq, Long ts) {
    String dataKey = SinkValues.redisKey(table, table.redis.keyTemplate, key);
    long ttl = table.redis.ttlSeconds == null ? 0 : table.redis.ttlSeconds;
    List<String> args = new ArrayList<>();
    args.add(table.redis.format);
    args.add(keep ? "set" : "del");
    args.add(seq);
    args.add(Long.toString(ttl));
    args.add(Long.toString(settings.redisTombstoneTtlSeconds));
    if (!keep) {
      return new RedisSinkWriter.Write(dataKey, args);
    }
    Map<String, JsonNode> values = new java.util.LinkedHashMap<>();
    for (Map.Entry<String, String> c : SinkValues.outputColumns(table).entrySet()) {
      JsonNode n = after.get(c.getKey());
      values.put(c.getValue(), n == null ? JsonNodeFactory.instance.nullNode() : n);
    }
    if (fields != null) {
      StructField[] fs = fieldsType.fields();
      for (int i = 0; i < fs.length; i++) {
        values.put(fs[i].name(), SinkValues.sparkToJson(fields.get(i), fs[i].dataType()));
      }
    }
    if (table.redis.fields != null) {
      values.keySet().retainAll(table.redis.fields);
    }
    if ("json".equals(table.redis.format)) {
      ObjectNode o = JsonNodeFactory.instance.objectNode();
      values.forEach(o::set);
      ObjectNode sync = o.putObject("_sync");
      sync.put("v", seq);
      if (ts != null) {
        sync.put("ts", ts);
      }
      args.add(o.toString());
    } else {
      args.add("_sync_v");
      args.add(seq);
      args.add("_sync_ts");
      args.add(ts == null ? "" : Long.toString(ts));
      for (Map.Entry<String, JsonNode> e : values.entrySet()) {
        String text = SinkValues.toRedisText(e.getValue());
        if (text != null) { // a hash cannot hold null: an absent field is the null
          args.add(e.getKey());
          args.add(text);
        }
      }
    }
    return new RedisSinkWriter.Write(dataKey, args);
  }

  private Future<?> deadLetter(Row r, long now, Stats stats) throws Exception {
    List<DeadLetters.Failure> failures = new ArrayList<>();
    for (Row f : r.<Row>getList(r.fieldIndex(TablePlan.FAIL))) {
      failures.add(new DeadLetters.Failure(f.getString(0), f.getString(1)));
    }
    return sendDeadLetter(
        r.getAs(TablePlan.KEY), failures, r.getAs(TablePlan.VALUE), r.getAs(TablePlan.TOPIC),
        r.getAs(TablePlan.PARTITION), r.getAs(TablePlan.OFFSET), now, stats);
  }

  private Future<?> sendDeadLetter(
      String key, List<DeadLetters.Failure> failures, String event, String topic, Integer partition, Long offset, long now, Stats stats) {
    for (DeadLetters.Failure f : failures) {
      stats.addRule(f.rule());
    }
    stats.add("dlq", 1);
    ObjectNode m = DeadLetters.letter(table.label(), key, failures, event, topic, partition, offset, now);
    return producer().send(new ProducerRecord<>(settings.dlqTopic, DeadLetters.key(key), m.toString()));
  }

  /**
   * MongoDB refuses a document above 16 MiB (the driver checks maxBsonObjectSize before sending),
   * and a refused write would fail the batch on every retry. Such a row goes to the DLQ instead;
   * Redis, which has no such limit at these sizes, still gets it. Only large events are measured:
   * below {@link #MEASURE_FROM_CHARS} of event text no document comes near the limit.
   */
  private boolean fitsMongo(Document doc, String key, String event, long now, Stats stats, List<Future<?>> sent) {
    if (event == null || event.length() < MEASURE_FROM_CHARS) {
      return true;
    }
    BasicOutputBuffer buf = new BasicOutputBuffer();
    BSON_CODEC.encode(new BsonBinaryWriter(buf), doc, EncoderContext.builder().isEncodingCollectibleDocument(true).build());
    int size = buf.getSize();
    if (size <= MONGO_MAX_DOCUMENT_BYTES) {
      return true;
    }
    stats.add("mongo.tooLarge", 1);
    sent.add(
        sendDeadLetter(
            key,
            List.of(
                new DeadLetters.Failure(
                    "mongodb:document_size",
                    "the MongoDB document of this row is " + size + " bytes, above MongoDB's limit of "
                        + MONGO_MAX_DOCUMENT_BYTES + " bytes (16 MiB): it was written to Redis but not to"
                        + " MongoDB, which keeps its previous version; make the row smaller or leave the"
                        + " large column out (transform.exclude)")),
            event, table.topic, null, null, now, stats));
    return false;
  }

  private KafkaProducer<String, String> producer() {
    String id = settings.kafkaProducerProps.toString();
    synchronized (PRODUCERS) {
      return PRODUCERS.computeIfAbsent(
          id,
          k -> {
            Map<String, Object> props = new HashMap<>(settings.kafkaProducerProps);
            props.putIfAbsent("acks", "all");
            props.putIfAbsent("linger.ms", "5");
            return new KafkaProducer<>(props, new StringSerializer(), new StringSerializer());
          });
    }
  }
}
