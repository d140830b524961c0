package dev.syncline.spark;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.syncline.spark.JobDescription.Column;
import dev.syncline.spark.JobDescription.Table;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Date;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.math.BigInteger;
import java.util.LinkedHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
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
import org.bson.BsonDocument;
import org.bson.Document;
import org.bson.RawBsonDocument;
import org.bson.codecs.DocumentCodec;
import org.bson.codecs.EncoderContext;
import org.bson.io.BasicOutputBuffer;

/**
 * Executor side of one table's batch: sends dead letters to the DLQ topic and writes the newest
 * event per key to MongoDB and Redis. Returns one serialized {@link Stats} per partition.
 */
final class PartitionWriter implements MapPartitionsFunction<Row, Stats>, RealTimeWriter.Applier {
  private static final long serialVersionUID = 1L;
  private static final int CHUNK = 500;
  private static final ObjectMapper JSON = new ObjectMapper(Envelope.JSON.copy());
  private static final Map<String, KafkaProducer<String, String>> PRODUCERS = new HashMap<>();
  /** MongoDB's maxBsonObjectSize. */
  static final int MONGO_MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;
  private static final int MEASURE_FROM_BYTES = 1024 * 1024;
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
    /** Validation dead letters are sent by one sink's query only, so each is sent once. */
    boolean deadLetters = true;
    String sourceId;
    String sourceLabel;
    Map<String, String> kafkaProducerProps = new HashMap<>();

    /** A copy for one sink's query: the other sink's connection left out. */
    Settings forSink(String sink, boolean sendsDeadLetters) {
      Settings s = new Settings();
      if (sink.equals("mongodb")) {
        s.mongoUri = mongoUri;
        s.mongoDatabase = mongoDatabase;
        s.tombstoneCollection = tombstoneCollection;
        s.mongoTombstoneTtlSeconds = mongoTombstoneTtlSeconds;
      } else {
        s.redisUrl = redisUrl;
        s.redisTombstoneTtlSeconds = redisTombstoneTtlSeconds;
      }
      s.dlqTopic = dlqTopic;
      s.deadLetters = sendsDeadLetters;
      s.sourceId = sourceId;
      s.sourceLabel = sourceLabel;
      s.kafkaProducerProps = kafkaProducerProps;
      return s;
    }
  }

  private final Table table;
  private final Settings settings;
  private final StructType fieldsType;
  /** Source column → output field, resolved once (not per event of every chunk). */
  private final List<Output> outputs;

  /** A column the sinks receive, under its output name. */
  record Output(Column column, String field) implements Serializable {}

  PartitionWriter(Table table, Settings settings, DataType fieldsType) {
    this.table = table;
    this.settings = settings;
    this.fieldsType = fieldsType instanceof StructType st ? st : null;
    List<Output> out = new ArrayList<>();
    SinkValues.outputColumns(table).forEach((column, field) -> out.add(new Output(table.column(column), field)));
    this.outputs = List.copyOf(out);
  }

  /**
   * Where the plan's columns are in its rows ({@link TablePlan#plan}), looked up once per run of
   * rows: {@code Row.getAs(name)} finds the name in the schema on every call, about ten times per
   * event.
   */
  record Cols(int kind, int key, int value, int op, int seq, int ts, int keep, int fields) {
    static Cols of(Row r) {
      StructType s = r.schema();
      return new Cols(
          s.fieldIndex(TablePlan.KIND), s.fieldIndex(TablePlan.KEY), s.fieldIndex(TablePlan.VALUE),
          s.fieldIndex(TablePlan.OP), s.fieldIndex(TablePlan.SEQ), s.fieldIndex(TablePlan.TS),
          s.fieldIndex(TablePlan.KEEP), s.fieldIndex(TablePlan.FIELDS));
    }
  }

  /** A partition's rows sorted out: dead letters, the newest truncate, the newest write per key. */
  record Collapsed(List<Row> deadLetters, BigInteger truncateAt, Map<String, Change> newest, long events, Cols cols) {}

  /**
   * A write to make, with its message key and version read once (the collapse needs them, and so
   * do the sinks).
   */
  record Change(Row row, JsonNode key, BigInteger seq) {}

  /**
   * Invariant 4 without a shuffle: per key the event with the highest seq (a number, up to
   * 2^64-1) wins; for equal seqs (a replayed copy) the later one. Keys are compared by their
   * values, so two spellings of one key JSON still meet.
   */
  static Collapsed collapse(Iterator<Row> rows, Table table) throws Exception {
    List<Row> dlq = new ArrayList<>();
    Map<String, Change> newest = new LinkedHashMap<>();
    BigInteger truncateAt = null;
    long events = 0;
    Cols cols = null;
    while (rows.hasNext()) {
      Row r = rows.next();
      events++;
      if (cols == null) {
        cols = Cols.of(r);
      }
      String kind = r.getString(cols.kind());
      if ("dlq".equals(kind)) {
        dlq.add(r);
        continue;
      }
      BigInteger seq = new BigInteger(r.getString(cols.seq()));
      if ("truncate".equals(kind)) {
        truncateAt = truncateAt == null ? seq : truncateAt.max(seq);
        continue;
      }
      JsonNode key = keyTree(RedisSinkWriter.utf8(r.getString(cols.key())));
      StringBuilder k = new StringBuilder();
      for (String c : table.keyColumns) {
        k.append(SinkValues.toRedisText(key.get(c))).append('\u0001');
      }
      String gk = k.toString();
      Change cur = newest.get(gk);
      if (cur == null || seq.compareTo(cur.seq()) >= 0) {
        newest.remove(gk); // keep the map in the order of the newest events
        newest.put(gk, new Change(r, key, seq));
      }
    }
    return new Collapsed(dlq, truncateAt, newest, events, cols);
  }

  /**
   * Shared by the tasks of this JVM, one pool per sink: chunks of one partition are written side
   * by side, and a slow MongoDB never keeps Redis chunks waiting for a thread (one shared pool of
   * 8 let the MongoDB queries' chunks hold every thread while Redis chunks queued behind them).
   */
  private static final Map<String, ExecutorService> WRITE_POOLS = new java.util.concurrent.ConcurrentHashMap<>();

  static ExecutorService writePool(String sink) {
    return WRITE_POOLS.computeIfAbsent(
        sink,
        s ->
            Executors.newFixedThreadPool(
                8,
                r -> {
                  Thread th = new Thread(r, "syncline-write-" + s);
                  th.setDaemon(true);
                  return th;
                }));
  }

  /**
   * Chunks of one partition in flight at once (keys are distinct after the collapse), per sink.
   * SYNCLINE_WRITE_IN_FLIGHT_<SINK> overrides it for measurements.
   */
  static int inFlight(String sink) {
    String v = System.getenv("SYNCLINE_WRITE_IN_FLIGHT_" + sink.toUpperCase(java.util.Locale.ROOT));
    if (v != null && v.matches("[1-9][0-9]?")) {
      return Integer.parseInt(v);
    }
    // Redis 4. MongoDB 2: on 2 cores the server and the job share the CPU, and 4 chunks per
    // partition in flight cost the stand-in more per write than 2 (drains of 200,000 events, 2
    // partitions, 6 alternating pairs: 57,127–69,906 events/s with 4, 62,364–69,372 with 2,
    // the 2 faster in 5 of 6; decision 0097).
    return sink.equals("mongodb") ? 2 : 4;
  }

  @Override
  public Iterator<Stats> call(Iterator<Row> rows) throws Exception {
    return List.of(apply(rows)).iterator();
  }

  /**
   * Applies a run of one Kafka partition's rows (a micro-batch's share, or what a real-time task
   * gathered since its last flush) to the sinks and returns its counters. Returns only when every
   * write and dead letter is acknowledged; throws if any failed.
   */
  @Override
  public Stats apply(Iterator<Row> rows) throws Exception {
    return apply(rows, List.of());
  }

  /**
   * Reads ahead the MongoDB tombstones (and the truncate floor) of the creates among {@code rows},
   * which a real-time flush still gathering them will need after its claim; null when there are
   * none, or when MongoDB is not this query's sink.
   */
  @Override
  public Object lookAhead(List<Row> rows) throws Exception {
    List<Object> ids = new ArrayList<>();
    for (Row r : rows) {
      if (looksAhead(r)) {
        ids.add(SinkValues.mongoId(table, keyTree(RedisSinkWriter.utf8(r.getString(lookAheadCols.key())))));
      }
    }
    return ids.isEmpty() ? null : mongoWriter().lookAhead(ids);
  }

  /** Where the plan's columns are, for {@link #looksAhead}: every row of a query has one schema. */
  private transient Cols lookAheadCols;

  /** A valid create or snapshot read that MongoDB, this query's sink, reads a tombstone for. */
  @Override
  public boolean looksAhead(Row r) {
    if (table.mongodb == null || settings.mongoUri == null) {
      return false;
    }
    Cols cols = lookAheadCols;
    if (cols == null) {
      cols = lookAheadCols = Cols.of(r);
    }
    String op = r.getString(cols.op());
    return ("c".equals(op) || "r".equals(op)) && "write".equals(r.getString(cols.kind())) && Boolean.TRUE.equals(r.get(cols.keep()));
  }

  /** {@code ahead}: {@link #lookAhead}s of some of these rows, maybe still running. */
  @Override
  public Stats apply(Iterator<Row> rows, List<? extends Future<?>> ahead) throws Exception {
    Stats stats = new Stats();
    List<Future<?>> sent = java.util.Collections.synchronizedList(new ArrayList<>());
    long now = System.currentTimeMillis();
    Collapsed c = collapse(rows, table);
    stats.add("events", c.events());
    if (settings.deadLetters) {
      for (Row r : c.deadLetters()) {
        sent.add(deadLetter(r, now, stats));
      }
    }
    // A truncate first: its floor then refuses every older write of this partition, and the
    // truncate copy on each other partition clears what those wrote before it.
    if (c.truncateAt() != null) {
      truncate(c.truncateAt().toString(), stats);
    }
    byte[] floor = RedisSinkWriter.utf8(table.redis != null && settings.redisUrl != null ? redisFloor() : "");
    List<Change> writes = new ArrayList<>(c.newest().values());
    if (writes.size() <= CHUNK) {
      // One chunk (every flush at a steady rate) is written by this thread: handing it to the pool
      // and waiting for it would add two thread wake-ups to every change's latency, and on a busy
      // machine a wake-up can take milliseconds.
      handle(writes, c.cols(), stats, sent, floor, ahead);
      awaitDeadLetters(sent);
      return stats;
    }
    List<Future<Stats>> chunks = new ArrayList<>();
    String sink = settings.redisUrl != null ? "redis" : "mongodb";
    java.util.concurrent.Semaphore slots = new java.util.concurrent.Semaphore(inFlight(sink));
    ExecutorService pool = writePool(sink);
    for (int i = 0; i < writes.size(); i += CHUNK) {
      List<Change> chunk = writes.subList(i, Math.min(writes.size(), i + CHUNK));
      slots.acquire();
      chunks.add(
          pool.submit(
              () -> {
                try {
                  Stats s = new Stats();
                  handle(chunk, c.cols(), s, sent, floor, ahead);
                  return s;
                } finally {
                  slots.release();
                }
              }));
    }
    Exception failed = null;
    for (Future<Stats> f : chunks) {
      try {
        stats.merge(f.get()); // every chunk is awaited before the task fails: none writes on
      } catch (ExecutionException e) {
        if (failed == null) {
          failed = e.getCause() instanceof Exception ex ? ex : e;
        }
      }
    }
    if (failed != null) {
      throw failed;
    }
    awaitDeadLetters(sent);
    return stats;
  }

  private static void awaitDeadLetters(List<Future<?>> sent) throws Exception {
    for (Future<?> f : sent) {
      f.get(); // a dead letter that Kafka did not take fails the batch: never dropped silently
    }
  }

  /** One change of a chunk, read from its row once for both sinks. */
  private record Prepared(Change change, String op, String seq, Long ts, Long commitTs, boolean keep, byte[] value, JsonNode after, Row fields) {
    /** A create, snapshot read or delete: MongoDB reads its tombstone before writing it. */
    boolean readsTombstone() {
      return !keep || "c".equals(op) || "r".equals(op);
    }
  }

  private void handle(List<Change> chunk, Cols cols, Stats stats, List<Future<?>> sent, byte[] floor, List<? extends Future<?>> ahead) throws Exception {
    long now = System.currentTimeMillis();
    long started = System.nanoTime();
    // Counted per chunk, not per event: each add is a lookup in a sorted map of names.
    long upserted = 0;
    long deleted = 0;
    long filtered = 0;
    List<Prepared> prepared = new ArrayList<>(chunk.size());
    for (Change change : chunk) {
      Row r = change.row();
      String op = r.getString(cols.op());
      Long ts = (Long) r.get(cols.ts());
      boolean keep = Boolean.TRUE.equals(r.get(cols.keep()));
      // A snapshot read ('r') has no commit: its time is when the snapshot read it, and counting
      // it would show the initial load's queueing as the live changes' latency for a minute.
      Long commitTs = "r".equals(op) ? null : ts;
      byte[] value = (byte[]) r.get(cols.value());
      JsonNode after = keep ? afterImage(value) : null;
      Row fields = fieldsType == null ? null : r.getStruct(cols.fields());
      if (keep) {
        upserted++;
      } else {
        deleted++;
        if (!"d".equals(op)) {
          filtered++;
        }
      }
      prepared.add(new Prepared(change, op, r.getString(cols.seq()), ts, commitTs, keep, value, after, fields));
    }
    stats.add("events.applied", chunk.size());
    stats.add("upserts", upserted);
    stats.add("deletes", deleted);
    stats.add("filtered", filtered);
    stats.add("ms.build", (System.nanoTime() - started) / 1_000_000);
    long mongoStarted = System.nanoTime();
    if (table.mongodb != null && settings.mongoUri != null) {
      // Creates and deletes go out before the updates' documents are even built: their tombstone
      // read is a round trip more, and at a steady rate a new row is as often the change someone
      // waits for (a fetch of 50 rows built 49 update documents first: 0.15-0.25 ms; decision 0111).
      // Keys are distinct after the collapse, so the two writes are independent.
      List<Prepared> first = new ArrayList<>();
      List<Prepared> updates = new ArrayList<>();
      for (Prepared p : prepared) {
        (p.readsTombstone() ? first : updates).add(p);
      }
      MongoSinkWriter mongo = mongoWriter();
      writeMongo(mongo, first, cols, stats, sent, now, ahead);
      writeMongo(mongo, updates, cols, stats, sent, now, List.of());
    }
    long mongoDone = System.nanoTime();
    stats.add("ms.mongodb", (mongoDone - mongoStarted) / 1_000_000);
    if (table.redis != null && settings.redisUrl != null) {
      List<RedisSinkWriter.Write> redis = new ArrayList<>(prepared.size());
      List<Long> redisTs = new ArrayList<>(prepared.size());
      for (Prepared p : prepared) {
        redis.add(redisWrite(p.change().key(), p.after(), p.fields(), p.keep(), p.seq(), p.ts(), floor, p.change().row()));
        redisTs.add(p.commitTs());
      }
      if (!redis.isEmpty()) {
        RedisSinkWriter.Result res = new RedisSinkWriter(settings.redisUrl).write(redis);
        stats.add("redis.applied", res.applied());
        stats.add("redis.stale", res.stale());
        stats.add("redis.foreign", res.foreign().size());
        for (RedisSinkWriter.Foreign f : res.foreign()) {
          sent.add(foreignSource((Row) f.write().tag(), "redis", f.otherSource(), now, stats));
        }
        res.unapplied().stream().forEach(i -> redisTs.set(i, null)); // as for MongoDB, below
        stats.addLatencies("redis", System.currentTimeMillis(), redisTs);
      }
    }
    stats.add("ms.redis", (System.nanoTime() - mongoDone) / 1_000_000);
  }

  /** Builds the MongoDB writes of {@code part} and applies them (one {@link MongoSinkWriter#write}). */
  private void writeMongo(MongoSinkWriter mongo, List<Prepared> part, Cols cols, Stats stats, List<Future<?>> sent, long now, List<? extends Future<?>> ahead) throws Exception {
    List<MongoSinkWriter.Upsert> upserts = new ArrayList<>();
    List<MongoSinkWriter.Delete> deletes = new ArrayList<>();
    List<Long> mongoTs = new ArrayList<>();
    List<Row> mongoRows = new ArrayList<>();
    for (Prepared p : part) {
      Row r = p.change().row();
      Object id = SinkValues.mongoId(table, p.change().key());
      Object version = Versions.toBson(p.change().seq());
      if (p.keep()) {
        Document doc = mongoDocument(id, p.after(), p.fields(), p.op(), version, p.ts(), now);
        BsonDocument bson = MongoBson.encode(doc);
        if (fitsMongo(doc, bson, r.getString(cols.key()), p.value(), now, stats, sent)) {
          upserts.add(new MongoSinkWriter.Upsert(id, bson, version, r, "c".equals(p.op()) || "r".equals(p.op())));
          mongoTs.add(p.commitTs());
          mongoRows.add(r);
        }
      } else {
        deletes.add(new MongoSinkWriter.Delete(id, version, r));
        mongoTs.add(p.commitTs());
        mongoRows.add(r);
      }
    }
    if (upserts.isEmpty() && deletes.isEmpty()) {
      return;
    }
    Set<Object> unapplied = Collections.newSetFromMap(new IdentityHashMap<>());
    for (MongoSinkWriter.Foreign f : mongo.write(upserts, deletes, stats, unapplied, ahead)) {
      sent.add(foreignSource((Row) f.tag(), "mongodb", f.otherSource(), now, stats));
    }
    // A write the sink already held was made visible earlier, by whoever wrote it first (a
    // replay, or the shared read beside this query, decision 0109): its latency is not counted.
    for (int i = 0; i < mongoTs.size() && !unapplied.isEmpty(); i++) {
      if (unapplied.contains(mongoRows.get(i))) {
        mongoTs.set(i, null);
      }
    }
    stats.addLatencies("mongodb", System.currentTimeMillis(), mongoTs);
  }

  private Document mongoDocument(Object id, JsonNode after, Row fields, String op, Object version, Long ts, long now) {
    Document d = new Document("_id", id);
    for (Output o : outputs) {
      d.put(o.field(), SinkValues.toBson(o.column(), after.get(o.column().name)));
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
            .append("op", op)
            .append("src", settings.sourceId));
    return d;
  }

  MongoSinkWriter mongoWriter() {
    return new MongoSinkWriter(
        settings.mongoUri,
        settings.mongoDatabase,
        table.mongodb.collection,
        settings.tombstoneCollection,
        settings.mongoTombstoneTtlSeconds,
        settings.sourceId);
  }

  private String redisFloorKey() {
    return RedisSinkWriter.floorKey(settings.sourceId, SinkValues.redisKeyPattern(table, table.redis.keyTemplate));
  }

  /** The table's truncate floor, read once per partition after its truncate (it only grows). */
  private String redisFloor() {
    String f = new RedisSinkWriter(settings.redisUrl).floor(redisFloorKey());
    return f == null ? "" : f;
  }

  /** A TRUNCATE of this table at version {@code seq} in both sinks; figures into stats. */
  void truncate(String seq, Stats stats) {
    if (table.mongodb != null && settings.mongoUri != null) {
      stats.add("mongo.truncateDeleted", mongoWriter().truncate(Versions.toBson(seq)));
    }
    if (table.redis != null && settings.redisUrl != null) {
      stats.add(
          "redis.truncateDeleted",
          new RedisSinkWriter(settings.redisUrl)
              .truncate(redisFloorKey(), SinkValues.redisKeyPattern(table, table.redis.keyTemplate), table.redis.format, seq, settings.sourceId));
    }
    stats.add("truncates", 1);
  }

  /**
   * The entry belongs to another source (two pipelines mapped onto one key or document): not
   * written, never dropped silently.
   */
  private Future<?> foreignSource(Row r, String sink, String other, long now, Stats stats) {
    String key = r.getAs(TablePlan.KEY);
    String where =
        sink.equals("redis")
            ? "Redis key " + SinkValues.redisKey(table, table.redis.keyTemplate, readJson(key))
            : "MongoDB document " + key + " in " + settings.mongoDatabase + "." + table.mongodb.collection;
    String fix =
        sink.equals("redis")
            ? "give the two sources distinct Redis key templates (tables." + table.table
                + ".redis.key; the default {db}:{table}:{key} separates databases, add a prefix when two servers share a database name)"
            : "give the two sources distinct MongoDB databases (sinks.mongodb.database)";
    return sendDeadLetter(
        key,
        List.of(
            new DeadLetters.Failure(
                sink + ":foreign_source",
                where + " belongs to source " + other + ", not to this pipeline's source " + settings.sourceLabel
                    + " (" + settings.sourceId + "); the change was not written. Fix: " + fix)),
        valueText(r), table.topic, r.getAs(TablePlan.PARTITION), r.getAs(TablePlan.OFFSET), now, stats);
  }

  /**
   * The after image's tree alone: the rest of the envelope (an update's before image is as large)
   * is skipped, not built. A name given twice keeps its last value, as in a tree of the whole.
   */
  static JsonNode afterImage(String value) throws java.io.IOException {
    return afterImage(RedisSinkWriter.utf8(value));
  }

  /**
   * The same from the event's UTF-8 bytes, as the plan hands them over: a parser of a String
   * copies it into a char array first (widening every byte), which took more of the job's samples
   * than the parse (decision 0096).
   */
  static JsonNode afterImage(byte[] value) throws java.io.IOException {
    try {
      return EnvelopeScan.afterTree(value);
    } catch (EnvelopeScan.Unsure e) {
      return afterImageWithJackson(value);
    }
  }

  /** The message key's tree (plain ASCII by {@link EnvelopeScan}, the rest by Jackson). */
  static JsonNode keyTree(byte[] key) throws java.io.IOException {
    try {
      return EnvelopeScan.keyTree(key);
    } catch (EnvelopeScan.Unsure e) {
      return JSON.readTree(key);
    }
  }

  /** {@link #afterImage(byte[])} by Jackson alone. */
  static JsonNode afterImageWithJackson(byte[] value) throws java.io.IOException {
    try (JsonParser p = JSON.createParser(value)) {
      JsonNode after = null;
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return null;
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String field = p.currentName();
        p.nextToken();
        if (field.equals("after")) {
          after = JSON.readTree(p);
        } else {
          p.skipChildren();
        }
      }
      return after;
    }
  }

  /** The event's text for a dead letter (the plan hands the value over as its UTF-8 bytes). */
  static String valueText(Row r) {
    byte[] v = r.getAs(TablePlan.VALUE);
    return v == null ? null : new String(v, java.nio.charset.StandardCharsets.UTF_8);
  }

  private static JsonNode readJson(String text) {
    try {
      return JSON.readTree(text);
    } catch (Exception e) {
      return JsonNodeFactory.instance.objectNode();
    }
  }

  /**
   * The Redis script's arguments that are the same for every row of this table, encoded once per
   * task: built on first use by whichever write thread comes first (an immutable holder, so a
   * second build is harmless).
   */
  private transient volatile RedisConstants redisConstants;

  record RedisConstants(
      byte[] format, byte[] set, byte[] del, byte[] ttl, byte[] tombTtl, byte[] source,
      byte[] syncV, byte[] syncTs, byte[] syncSrc, byte[] empty, Map<String, byte[]> names) {}

  private RedisConstants redisConstants() {
    RedisConstants c = redisConstants;
    if (c == null) {
      Map<String, byte[]> names = new HashMap<>();
      for (Output o : outputs) {
        names.put(o.field(), RedisSinkWriter.utf8(o.field()));
      }
      long ttl = table.redis.ttlSeconds == null ? 0 : table.redis.ttlSeconds;
      c =
          new RedisConstants(
              RedisSinkWriter.utf8(table.redis.format), RedisSinkWriter.utf8("set"), RedisSinkWriter.utf8("del"),
              RedisSinkWriter.utf8(Long.toString(ttl)), RedisSinkWriter.utf8(Long.toString(settings.redisTombstoneTtlSeconds)),
              RedisSinkWriter.utf8(settings.sourceId), RedisSinkWriter.utf8("_sync_v"), RedisSinkWriter.utf8("_sync_ts"),
              RedisSinkWriter.utf8("_sync_src"), new byte[0], Map.copyOf(names));
      redisConstants = c;
    }
    return c;
  }

  private RedisSinkWriter.Write redisWrite(JsonNode key, JsonNode after, Row fields, boolean keep, String seq, Long ts, byte[] floor, Row tag) {
    String dataKey = SinkValues.redisKey(table, table.redis.keyTemplate, key);
    RedisConstants c = redisConstants();
    byte[] version = RedisSinkWriter.utf8(seq);
    List<byte[]> args = new ArrayList<>(keep ? 14 + 2 * outputs.size() : 7);
    args.add(c.format());
    args.add(keep ? c.set() : c.del());
    args.add(version);
    args.add(c.ttl());
    args.add(c.tombTtl());
    args.add(c.source());
    args.add(floor);
    if (!keep) {
      return new RedisSinkWriter.Write(dataKey, args, tag);
    }
    Map<String, JsonNode> values = new java.util.LinkedHashMap<>();
    for (Output o : outputs) {
      JsonNode n = after.get(o.column().name);
      values.put(o.field(), n == null ? JsonNodeFactory.instance.nullNode() : n);
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
      sync.put("src", settings.sourceId);
      args.add(RedisSinkWriter.utf8(o.toString()));
    } else {
      args.add(c.syncV());
      args.add(version);
      args.add(c.syncTs());
      args.add(ts == null ? c.empty() : RedisSinkWriter.utf8(Long.toString(ts)));
      args.add(c.syncSrc());
      args.add(c.source());
      for (Map.Entry<String, JsonNode> e : values.entrySet()) {
        String text = SinkValues.toRedisText(e.getValue());
        if (text != null) { // a hash cannot hold null: an absent field is the null
          byte[] name = c.names().get(e.getKey());
          args.add(name != null ? name : RedisSinkWriter.utf8(e.getKey()));
          args.add(RedisSinkWriter.utf8(text));
        }
      }
    }
    return new RedisSinkWriter.Write(dataKey, args, tag);
  }

  private Future<?> deadLetter(Row r, long now, Stats stats) throws Exception {
    List<DeadLetters.Failure> failures = new ArrayList<>();
    for (Row f : r.<Row>getList(r.fieldIndex(TablePlan.FAIL))) {
      failures.add(new DeadLetters.Failure(f.getString(0), f.getString(1)));
    }
    return sendDeadLetter(
        r.getAs(TablePlan.KEY), failures, valueText(r), r.getAs(TablePlan.TOPIC),
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
   * Redis, which has no such limit at these sizes, still gets it. An encoded document has its size;
   * one left to the driver's codec is measured only when large: below {@link #MEASURE_FROM_BYTES}
   * of event text no document comes near the limit.
   */
  private boolean fitsMongo(Document doc, BsonDocument bson, String key, byte[] event, long now, Stats stats, List<Future<?>> sent) {
    int size;
    if (bson instanceof RawBsonDocument raw) {
      size = raw.getByteBuffer().remaining();
    } else if (event == null || event.length < MEASURE_FROM_BYTES) {
      return true;
    } else {
      BasicOutputBuffer buf = new BasicOutputBuffer();
      BSON_CODEC.encode(new BsonBinaryWriter(buf), doc, EncoderContext.builder().isEncodingCollectibleDocument(true).build());
      size = buf.getSize();
    }
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
            new String(event, java.nio.charset.StandardCharsets.UTF_8), table.topic, null, null, now, stats));
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
