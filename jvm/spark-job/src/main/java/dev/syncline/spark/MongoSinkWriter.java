package dev.syncline.spark;

import com.mongodb.MongoBulkWriteException;
import com.mongodb.bulk.BulkWriteError;
import com.mongodb.bulk.BulkWriteResult;
import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoClients;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.MongoDatabase;
import com.mongodb.client.model.BulkWriteOptions;
import com.mongodb.client.model.DeleteOneModel;
import com.mongodb.client.model.Filters;
import com.mongodb.client.model.IndexOptions;
import com.mongodb.client.model.InsertOneModel;
import com.mongodb.client.model.Indexes;
import com.mongodb.client.model.ReplaceOneModel;
import com.mongodb.client.model.ReplaceOptions;
import com.mongodb.client.model.UpdateOptions;
import com.mongodb.client.model.Updates;
import com.mongodb.client.model.WriteModel;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Date;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.bson.BsonDocument;
import org.bson.Document;
import org.bson.conversions.Bson;

/**
 * Version-guarded MongoDB writes for one table (invariants 3 and 3b), in one of three ways
 * (decisions 0051 and 0052; write-first by default):
 *
 * <ul>
 *   <li><b>Write first</b> (default): creates and snapshot reads are inserted (E11000: the key
 *       exists), updates replaced with the guard {@code {_id, _sync.v < v, _sync.src in [this
 *       source, none]}} and no upsert; only what those refused (or, when a replace bulk matched
 *       fewer than it sent, that bulk's keys) is read and decided as in read-then-write. In the
 *       common case a chunk of updates costs one bulk write, one with creates or deletes also a
 *       read of their tombstones (for a real-time flush's creates, often made while its rows
 *       still arrived: {@link #lookAhead}).
 *   <li><b>Guarded upserts</b> (SYNCLINE_MONGO_WRITES=upsert and a server that passes the
 *       capability probe {@link #probe}): each change is one {@code replaceOne(guard, doc,
 *       upsert)}; a duplicate-key error (E11000) means a newer version or another source's
 *       document holds the key, told apart by reading only those keys.
 *   <li><b>Read, then write</b> (SYNCLINE_MONGO_WRITES=read-first; decision 0005): the stored
 *       versions of the chunk's keys are read first; an absent key is inserted, an older one
 *       replaced with the guard, the rest skipped as stale.
 * </ul>
 *
 * <p>Deletes are deleteOne({_id, _sync.v <= v}) plus a tombstone in a side collection, so an older
 * update that is replayed later (after a relay crash) does not bring the row back; their keys are
 * read first in both ways, to tell another source's document apart. A key is written by one
 * thread of a JVM at a time ({@link #claim}), so a version read before a write stays true until it.
 */
final class MongoSinkWriter {
  private static final Map<String, MongoClient> CLIENTS = new ConcurrentHashMap<>();
  /** Tombstone collections whose sweep this JVM runs ({@link #prepareTombstones}). */
  private static final Set<String> SWEPT = ConcurrentHashMap.newKeySet();
  private static final java.util.concurrent.ScheduledExecutorService SWEEPER =
      java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "syncline-tombstone-sweep");
            t.setDaemon(true);
            return t;
          });
  private static final Map<String, Mode> MODES = new ConcurrentHashMap<>();
  private static final int DUPLICATE_KEY = 11000;
  private static final long CLEANUP_EVERY_MS = 60_000;

  private final MongoCollection<Document> data;
  /** The same collection for the writes, whose documents come encoded ({@link MongoBson}). */
  private final MongoCollection<BsonDocument> dataWrites;
  private final MongoCollection<Document> tombstones;
  private final String collectionName;
  /** Server and database, for the in-JVM claim of a key (two pipelines never share one). */
  private final String where;
  /** {@link #where} and the collection, the start of each of its keys' claims. */
  private final String claimPrefix;
  /** The table's tombstones: {@link #claimPrefix} and the tombstone collection (look-aheads, 0111). */
  private final String tombstoneNamespace;
  private final long tombstoneTtlMs;
  private final Mode mode;
  private final String sourceId;

  MongoSinkWriter(String uri, String database, String collection, String tombstoneCollection, long tombstoneTtlSeconds, String sourceId) {
    this.sourceId = sourceId;
    MongoClient client = CLIENTS.computeIfAbsent(uri, MongoClients::create);
    MongoDatabase db = client.getDatabase(database);
    this.data = db.getCollection(collection);
    this.dataWrites = data.withDocumentClass(BsonDocument.class);
    this.tombstones = db.getCollection(tombstoneCollection);
    this.collectionName = collection;
    this.where = uri + "/" + database;
    this.claimPrefix = where + "\u0001" + collection + "\u0001";
    this.tombstoneNamespace = claimPrefix + tombstoneCollection;
    this.tombstoneTtlMs = tombstoneTtlSeconds * 1000;
    prepareTombstones(uri + "/" + database + "/" + tombstoneCollection);
    this.mode = MODES.computeIfAbsent(uri + "/" + database, k -> chooseMode(tombstones, database));
  }

  /**
   * A TTL index lets real MongoDB expire tombstones by itself; servers without TTL support (the
   * local stand-in) get an explicit sweep once a minute per JVM, on a thread of its own. The
   * sweep used to run inside a chunk's write, before it, and on the stand-in it scans the whole
   * collection: 43–70 ms per 100,000 tombstones (decision 0099), which that write waited for.
   * Tombstones live for days, so a sweep that is late or fails (it is tried again a minute later)
   * costs only space.
   */
  private void prepareTombstones(String id) {
    if (!SWEPT.add(id)) {
      return;
    }
    try {
      tombstones.createIndex(Indexes.ascending("expireAt"), new IndexOptions().expireAfter(0L, TimeUnit.SECONDS));
    } catch (RuntimeException e) {
      SWEPT.remove(id); // the task fails; the writer of its retry creates the index and the sweep
      throw e;
    }
    MongoCollection<Document> swept = tombstones;
    SWEEPER.scheduleWithFixedDelay(
        () -> {
          try {
            try {
              swept.deleteMany(Filters.lt("expireAt", new Date()));
            } finally {
              // It sweeps every table's tombstones: none read before it may be seen ahead.
              TOMBSTONE_WRITES.values().forEach(java.util.concurrent.atomic.AtomicLong::incrementAndGet);
            }
          } catch (RuntimeException e) {
            System.err.println("syncline spark: the tombstone sweep failed (tried again in a minute): " + Checker.firstLine(e));
          }
        },
        0,
        CLEANUP_EVERY_MS,
        TimeUnit.MILLISECONDS);
  }

  /** How version-guarded writes are sent. */
  enum Mode {
    UPSERT,
    WRITE_FIRST,
    PRE_READ
  }

  /**
   * Write-first unless SYNCLINE_MONGO_WRITES asks for another way: {@code upsert} (used when the
   * server passes the probe; decision 0051: on the stand-in it made the demo workload's flat-out
   * apply rate 34 changes/s against 995 with read-then-write, cause not yet found) or
   * {@code read-first} (the read-then-write of decision 0005, kept for comparison; 0052). Printed
   * once per database and JVM, without the URI (it may hold a password).
   */
  private static Mode chooseMode(MongoCollection<Document> scratch, String database) {
    String asked = System.getenv("SYNCLINE_MONGO_WRITES");
    if ("read-first".equals(asked)) {
      System.err.println("syncline spark: MongoDB database " + database + " gets versions read before each write (SYNCLINE_MONGO_WRITES=read-first)");
      return Mode.PRE_READ;
    }
    if (!"upsert".equals(asked)) {
      System.err.println(
          "syncline spark: MongoDB database " + database
              + " gets creates inserted and updates replaced under their version guard, reading back only what those refused"
              + " (others: SYNCLINE_MONGO_WRITES=upsert | read-first)");
      return Mode.WRITE_FIRST;
    }
    String failed = probe(scratch, java.util.UUID.randomUUID().toString());
    if (failed == null) {
      System.err.println("syncline spark: MongoDB database " + database + " takes guarded upserts (probe passed): one bulk write per chunk");
      return Mode.UPSERT;
    }
    System.err.println(
        "syncline spark: MongoDB database " + database + " failed the guarded-upsert probe (" + failed
            + "): creates are inserted and updates replaced under their version guard instead (equally exact)");
    return Mode.WRITE_FIRST;
  }

  static final int PROBE_KEYS = 64;

  /**
   * Whether the server gives guarded upserts of document-valued _ids the semantics the writer
   * relies on: create when absent, replace when older, E11000 when the stored version is the
   * same or newer, and every document found again by its _id afterwards (mongo-java-server
   * before decision 0050 lost composite _ids from its index after upserts, 0005). Runs on
   * scratch documents of the tombstone collection (unique per probe, expiring within the hour
   * should the process die before it removes them). Returns null, or what went wrong.
   */
  static String probe(MongoCollection<Document> scratch, String probeId) {
    List<Object> ids = new ArrayList<>();
    for (int i = 0; i < PROBE_KEYS; i++) {
      ids.add(new Document("probe", probeId).append("n", (long) i));
    }
    Date expireAt = new Date(System.currentTimeMillis() + 3_600_000L);
    try {
      for (long v = 1; v <= 2; v++) {
        List<WriteModel<Document>> ops = new ArrayList<>();
        for (Object id : ids) {
          ops.add(
              new ReplaceOneModel<>(
                  guardFilter(id, "$lt", v),
                  new Document("_id", id).append("_sync", new Document("v", v)).append("expireAt", expireAt),
                  new ReplaceOptions().upsert(true)));
        }
        BulkWriteResult r = scratch.bulkWrite(ops, new BulkWriteOptions().ordered(false));
        int created = r.getUpserts().size();
        if (v == 1 && created != PROBE_KEYS) {
          return created + " of " + PROBE_KEYS + " absent keys created";
        }
        if (v == 2 && (created != 0 || r.getMatchedCount() != PROBE_KEYS)) {
          return "a newer version replaced " + r.getMatchedCount() + " of " + PROBE_KEYS + " documents and created " + created;
        }
      }
      try {
        scratch.replaceOne(
            guardFilter(ids.get(0), "$lt", 1L),
            new Document("_id", ids.get(0)).append("_sync", new Document("v", 1L)).append("expireAt", expireAt),
            new ReplaceOptions().upsert(true));
        return "an older version was not refused with E11000";
      } catch (com.mongodb.MongoWriteException e) {
        if (e.getError().getCode() != DUPLICATE_KEY) {
          return "an older version was refused with " + e.getError().getCode() + " instead of E11000";
        }
      }
      long found = 0;
      for (Document d : scratch.find(Filters.in("_id", ids))) {
        Object v = field(d, "_sync.v");
        if (!(v instanceof Number n) || n.longValue() != 2) {
          return "a document holds version " + v + " after a newer one was written";
        }
        found++;
      }
      if (found != PROBE_KEYS) {
        return found + " of " + PROBE_KEYS + " documents found again by _id";
      }
      return null;
    } catch (RuntimeException e) {
      return Checker.firstLine(e);
    } finally {
      try {
        scratch.deleteMany(Filters.in("_id", ids));
      } catch (RuntimeException ignored) {
        // they expire by themselves
      }
    }
  }

  /**
   * {@code tag} is handed back when the write is refused (e.g. for the dead letter); {@code
   * created}: a create or snapshot read, so most likely a key the sink does not hold yet.
   */
  record Upsert(Object id, BsonDocument doc, Object version, Object tag, boolean created, String key) {
    Upsert(Object id, BsonDocument doc, Object version, Object tag, boolean created) {
      this(id, doc, version, tag, created, idKey(id));
    }
  }

  /** {@code key}: the _id's {@link #idKey}, spelled once (it names the claim, the tombstone and reads). */
  record Delete(Object id, Object version, Object tag, String key) {
    Delete(Object id, Object version, Object tag) {
      this(id, version, tag, idKey(id));
    }
  }

  /** A write refused because the document or its tombstone belongs to another source. */
  record Foreign(Object id, Object tag, String otherSource) {}

  /** What the pre-read found for one _id: the document's and the tombstone's version and source. */
  record Stored(Object version, String source) {}

  /**
   * Writes a chunk with the round trips its mode needs (class comment; a tombstone read also
   * fetches the table's truncate floor). Returns the writes refused because another source owns
   * the entry; they are not applied. Adds to {@code unapplied} the tags of the writes that
   * changed nothing because the sink already held them or something newer (a replay, the shared
   * read beside a sink query, decision 0109), or that another source or a newer delete or
   * truncate outranked: their commit → sink latency is not theirs to report. Replaces a bulk
   * partly applied cannot be told apart per operation; they count as applied.
   */
  List<Foreign> write(List<Upsert> upserts, List<Delete> deletes, Stats stats, Set<Object> unapplied) {
    return write(upserts, deletes, stats, unapplied, List.of());
  }

  /**
   * As above, with reads ahead of the chunk's tombstones ({@link #lookAhead}, as futures), used
   * where they still hold once the keys are claimed.
   */
  List<Foreign> write(
      List<Upsert> upserts, List<Delete> deletes, Stats stats, Set<Object> unapplied, List<? extends java.util.concurrent.Future<?>> lookAheads) {
    if (upserts.isEmpty() && deletes.isEmpty()) {
      return new ArrayList<>();
    }
    Set<String> keys = new HashSet<>(2 * (upserts.size() + deletes.size()));
    for (Upsert u : upserts) {
      keys.add(claimKey(u.key()));
    }
    for (Delete d : deletes) {
      keys.add(claimKey(d.key()));
    }
    claim(keys);
    try {
      return writeClaimed(upserts, deletes, stats, unapplied, lookAheads);
    } finally {
      release(keys);
    }
  }

  /**
   * Keys whose read-decide-write is under way in this JVM. The version read before a write is
   * only a guard while no other writer of the key comes in between (and an insert after a delete
   * is unguarded on any server): a task of a failed attempt can still be writing while its
   * replacement replays the same keys (measured in the chaos suite: a deleted order came back).
   * Two writes of one key therefore never overlap here; chunks with distinct keys still do.
   */
  private static final Set<String> IN_FLIGHT = new HashSet<>();

  private String claimKey(String key) {
    return claimPrefix + key;
  }

  static void claim(Set<String> keys) {
    synchronized (IN_FLIGHT) {
      boolean interrupted = false;
      while (!Collections.disjoint(IN_FLIGHT, keys)) {
        try {
          IN_FLIGHT.wait();
        } catch (InterruptedException e) {
          interrupted = true; // the write itself decides whether to go on; the claim must hold
        }
      }
      IN_FLIGHT.addAll(keys);
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  static void release(Set<String> keys) {
    synchronized (IN_FLIGHT) {
      IN_FLIGHT.removeAll(keys);
      IN_FLIGHT.notifyAll();
    }
  }

  /**
   * Tombstone and truncate-floor writes finished in this JVM, failed or not, per table's
   * tombstones ({@link #tombstoneNamespace}: a tombstone's _id and the floor's name the table). A
   * tombstone read made before its keys were claimed is as good as one made after the claim as
   * long as its count has not moved in between: in this JVM a key's tombstone is only written under
   * the key's claim, and the count goes up once that write is over (decision 0111).
   */
  private static final Map<String, java.util.concurrent.atomic.AtomicLong> TOMBSTONE_WRITES = new ConcurrentHashMap<>();

  private static java.util.concurrent.atomic.AtomicLong tombstoneWrites(String namespace) {
    return TOMBSTONE_WRITES.computeIfAbsent(namespace, n -> new java.util.concurrent.atomic.AtomicLong());
  }

  /**
   * A look-ahead older than this is read again: what other processes wrote since (another
   * source's pipeline, an executor elsewhere) is only as stale as a read made before a claim.
   */
  static final long LOOK_AHEAD_MAX_AGE_NANOS = 20_000_000;

  /** Called once a tombstone or floor write of this JVM is over, whether it failed or not. */
  static void tombstonesWritten(String namespace) {
    tombstoneWrites(namespace).incrementAndGet();
  }

  /** A look-ahead that found nothing, read now (for tests of {@link LookAhead#holds}). */
  static LookAhead readNow(String namespace, Set<String> ids) {
    return new LookAhead(namespace, tombstoneWrites(namespace).get(), System.nanoTime(), ids, Map.of());
  }

  /** How long a write waits, in all, for look-aheads still running before it reads for itself. */
  static final long LOOK_AHEAD_WAIT_MS = 20;

  /**
   * Tombstones and the truncate floor read ahead of a real-time flush, while its rows were still
   * arriving ({@link #lookAhead}); {@code read} holds every _id asked for, found or not.
   */
  record LookAhead(String tombstones, long writesBefore, long readAtNanos, Set<String> read, Map<String, Stored> found) {
    /** Whether it still stands for the tombstones of {@code namespace}; asked after the claim. */
    boolean holds(String namespace) {
      return tombstones.equals(namespace)
          && writesBefore == tombstoneWrites(namespace).get()
          && System.nanoTime() - readAtNanos < LOOK_AHEAD_MAX_AGE_NANOS;
    }
  }

  /** Reads the tombstones of these _ids (creates not yet flushed) and the truncate floor. */
  LookAhead lookAhead(List<Object> ids) {
    long before = tombstoneWrites(tombstoneNamespace).get();
    long at = System.nanoTime();
    List<Object> tombIds = new ArrayList<>(ids.size() + 1);
    Set<String> read = new HashSet<>(2 * ids.size() + 2);
    for (Object id : ids) {
      String t = tombstoneId(idKey(id));
      tombIds.add(t);
      read.add(t);
    }
    tombIds.add(floorId());
    read.add(floorId());
    return new LookAhead(tombstoneNamespace, before, at, read, stored(tombstones, "v", "src", tombIds, String::valueOf));
  }

  /** Tombstones and the truncate floor read for a chunk, in one or two reads (writeClaimed). */
  private final class Tombstones {
    private final Map<String, Stored> byId = new HashMap<>();
    /** What was read ahead for this chunk and still holds after its claim; checked once. */
    private final List<LookAhead> ahead;
    /** Tombstone _ids answered by a look-ahead instead of a read here. */
    private long servedAhead;
    private boolean floorRead;
    private Object floor;

    /**
     * Takes the look-aheads that hold now. One still running is waited for up to {@link
     * #LOOK_AHEAD_WAIT_MS} in all (it began before the flush did); a failed or late one is left
     * out, and its keys are read here as before.
     */
    Tombstones(List<? extends java.util.concurrent.Future<?>> lookAheads) {
      List<LookAhead> holding = new ArrayList<>();
      long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(LOOK_AHEAD_WAIT_MS);
      for (java.util.concurrent.Future<?> f : lookAheads) {
        Object a;
        try {
          a = f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
          continue;
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt(); // the write goes on with its own reads
          break;
        }
        if (a instanceof LookAhead la && la.holds(tombstoneNamespace)) {
          holding.add(la);
        }
      }
      this.ahead = holding;
    }

    void read(List<Upsert> upserts, List<Delete> deletes) {
      List<Object> ids = new ArrayList<>();
      for (Upsert u : upserts) {
        ids.add(tombstoneId(u.key()));
      }
      for (Delete d : deletes) {
        ids.add(tombstoneId(d.key()));
      }
      if (!floorRead) {
        ids.add(floorId());
      }
      List<Object> unread = ids;
      if (!ahead.isEmpty()) {
        unread = new ArrayList<>();
        for (Object id : ids) {
          LookAhead a = covering((String) id);
          if (a == null) {
            unread.add(id);
            continue;
          }
          servedAhead++;
          if (a.found().containsKey(id)) {
            byId.put((String) id, a.found().get(id));
          }
        }
      }
      // Tombstone _ids are strings, so they key their own map without an idKey.
      byId.putAll(stored(tombstones, "v", "src", unread, String::valueOf));
      if (!floorRead) {
        Stored floorDoc = byId.get(floorId());
        floor = floorDoc == null ? null : floorDoc.version();
        floorRead = true;
      }
    }

    private LookAhead covering(String tombstoneId) {
      for (LookAhead a : ahead) {
        if (a.read().contains(tombstoneId)) {
          return a;
        }
      }
      return null;
    }

    Stored get(String key) {
      return byId.get(tombstoneId(key));
    }

    boolean blocks(Upsert u) {
      return get(u.key()) != null || (floor != null && Versions.compare(u.version(), floor) < 0);
    }
  }

  private List<Foreign> writeClaimed(
      List<Upsert> upserts, List<Delete> deletes, Stats stats, Set<Object> unapplied, List<? extends java.util.concurrent.Future<?>> lookAheads) {
    List<Foreign> foreign = new ArrayList<>();
    List<Upsert> inserts = new ArrayList<>();
    List<Upsert> replaces = new ArrayList<>();
    for (Upsert u : upserts) {
      (mode == Mode.WRITE_FIRST && !u.created() ? replaces : inserts).add(u);
    }
    // Tombstones and the table's truncate floor are read for creates (a plain insert would bring
    // a deleted row back) and deletes. Updates in WRITE_FIRST go without them: their guard only
    // matches a document of this source older than the update, and none can exist beside a
    // tombstone or floor that outranks it (a delete removes what it outranks, a re-create is
    // newer than the delete, a truncate deletes this source's older documents once its floor is
    // up). A chunk of updates is then one round trip; what the guard refused is decided below.
    Tombstones tombs = new Tombstones(lookAheads); // checked here, under the claim
    if (!inserts.isEmpty() || !deletes.isEmpty()) {
      tombs.read(inserts, deletes);
      if (tombs.servedAhead > 0) {
        stats.add("mongo.readAhead", tombs.servedAhead);
      }
    }

    // Upserts decided on a read of their documents (below); in WRITE_FIRST only those the
    // optimistic writes could not settle.
    List<Upsert> decided = upserts;
    long writtenFirst = 0;
    long presumedApplied = 0;
    if (mode == Mode.WRITE_FIRST) {
      decided = new ArrayList<>();
      List<Upsert> insertable = new ArrayList<>();
      for (Upsert u : inserts) {
        // A tombstone or a truncate floor needs the full decision (stale, or another source's).
        if (tombs.blocks(u)) {
          decided.add(u);
        } else {
          insertable.add(u);
        }
      }
      // Creates first: at a low rate the change someone waits for is as often a new row.
      if (!insertable.isEmpty()) {
        List<WriteModel<BsonDocument>> ops = new ArrayList<>();
        for (Upsert u : insertable) {
          ops.add(new InsertOneModel<>(u.doc()));
        }
        Set<Integer> notApplied = insertsNotApplied(dataWrites, ops);
        for (int i : notApplied) {
          decided.add(insertable.get(i)); // the key exists (a replay, a newer row, another source's)
        }
        writtenFirst += insertable.size() - notApplied.size();
      }
      if (!replaces.isEmpty()) {
        List<WriteModel<BsonDocument>> ops = new ArrayList<>();
        for (Upsert u : replaces) {
          ops.add(new ReplaceOneModel<>(guard(u.id(), "$lt", u.version()), u.doc()));
        }
        long matched = guardedReplaces(dataWrites, ops);
        if (matched == replaces.size()) {
          writtenFirst += matched;
        } else {
          // Which ones missed (absent, stale, another source's) is not reported per operation:
          // read them all; those this bulk replaced read back as equal versions.
          decided.addAll(replaces);
          presumedApplied = Math.max(0, matched);
          tombs.read(replaces, List.of());
        }
      }
    }
    Object floor = tombs.floor;

    // Deletes always read their documents (to tell another source's apart, which a delete
    // filter cannot report); upserts when the mode or the writes above left them undecided.
    List<Object> ids = new ArrayList<>();
    if (mode != Mode.UPSERT) {
      for (Upsert u : decided) {
        ids.add(u.id());
      }
    }
    for (Delete d : deletes) {
      ids.add(d.id());
    }
    Map<String, Stored> stored = stored(data, "_sync.v", "_sync.src", ids, MongoSinkWriter::idKey);

    List<WriteModel<BsonDocument>> ops = new ArrayList<>();
    /** The upsert behind each op, null for a delete: an E11000 is traced back to it. */
    List<Upsert> opUpserts = new ArrayList<>();
    long stale = -presumedApplied;
    for (Upsert u : decided) {
      Stored cur = stored.get(u.key());
      Stored tomb = tombs.get(u.key());
      String other = otherSource(cur, tomb);
      if (other != null) {
        foreign.add(new Foreign(u.id(), u.tag(), other));
        unapplied.add(u.tag());
      } else if (floor != null && Versions.compare(u.version(), floor) < 0) {
        stats.add("mongo.truncated", 1);
        unapplied.add(u.tag());
      } else if (tomb != null && Versions.compare(tomb.version(), u.version()) >= 0) {
        stats.add("mongo.tombstoned", 1);
        unapplied.add(u.tag());
      } else if (mode == Mode.UPSERT) {
        ops.add(new ReplaceOneModel<>(guard(u.id(), "$lt", u.version()), u.doc(), new ReplaceOptions().upsert(true)));
        opUpserts.add(u);
      } else if (cur == null) {
        ops.add(new InsertOneModel<>(u.doc()));
        opUpserts.add(u);
      } else if (Versions.compare(cur.version(), u.version()) < 0) {
        ops.add(new ReplaceOneModel<>(guard(u.id(), "$lt", u.version()), u.doc()));
        opUpserts.add(u);
      } else {
        stale++;
        if (presumedApplied == 0 || u.created()) {
          unapplied.add(u.tag()); // else maybe one this chunk's replaces applied
        }
      }
    }
    List<WriteModel<Document>> tombOps = new ArrayList<>();
    Date expireAt = new Date(System.currentTimeMillis() + tombstoneTtlMs);
    for (Delete d : deletes) {
      Stored cur = stored.get(d.key());
      String tombId = tombstoneId(d.key());
      Stored tomb = tombs.get(d.key());
      String other = otherSource(cur, tomb);
      if (other != null) {
        foreign.add(new Foreign(d.id(), d.tag(), other));
        unapplied.add(d.tag());
        continue;
      }
      if (floor != null && Versions.compare(d.version(), floor) < 0) {
        stats.add("mongo.truncated", 1); // the truncate removed what this delete would
        unapplied.add(d.tag());
        continue;
      }
      if (cur != null && Versions.compare(cur.version(), d.version()) <= 0) {
        ops.add(new DeleteOneModel<>(guard(d.id(), "$lte", d.version())));
        opUpserts.add(null);
        stats.add("mongo.deleted", 1);
      } else if (tomb != null && Versions.compare(tomb.version(), d.version()) >= 0) {
        unapplied.add(d.tag()); // deleted before, by this delete or a newer one
      }
      Document doc = new Document("_id", tombId).append("c", collectionName).append("k", d.id())
          .append("v", d.version()).append("src", sourceId).append("expireAt", expireAt);
      if (tomb == null) {
        tombOps.add(new InsertOneModel<>(doc));
      } else if (Versions.compare(tomb.version(), d.version()) < 0) {
        tombOps.add(new ReplaceOneModel<>(Filters.eq("_id", tombId), doc));
      }
    }
    // Tombstones first: should the deletes fail half way, the retry finds them in place.
    if (!tombOps.isEmpty()) {
      try {
        bulkCollectingDuplicates(tombstones, tombOps);
      } finally {
        tombstonesWritten(tombstoneNamespace); // after the write: a look-ahead from before it is dropped
      }
    }
    List<Integer> dup = bulkCollectingDuplicates(dataWrites, ops);
    long refused = 0;
    if (!dup.isEmpty()) {
      // E11000: the key holds the same or a newer version (stale), or, for a guarded upsert,
      // another source's document, which the filter kept out; only these keys are read.
      List<Object> dupIds = new ArrayList<>();
      for (int i : dup) {
        dupIds.add(opUpserts.get(i).id());
      }
      Map<String, Stored> holders = mode == Mode.UPSERT ? stored(data, "_sync.v", "_sync.src", dupIds, MongoSinkWriter::idKey) : Map.of();
      for (int i : dup) {
        Upsert u = opUpserts.get(i);
        String other = otherSource(holders.get(u.key()), null);
        if (other != null) {
          foreign.add(new Foreign(u.id(), u.tag(), other));
        } else {
          stale++;
        }
        unapplied.add(u.tag());
        refused++;
      }
    }
    long sent = opUpserts.stream().filter(java.util.Objects::nonNull).count();
    stats.add("mongo.upserted", writtenFirst + presumedApplied + sent - refused);
    // Clamped: a replace the bulk applied reads back as stale only if a truncate did not remove
    // it in between (a truncate racing the chunk).
    stats.add("mongo.stale", Math.max(0, stale));
    stats.add("mongo.foreign", foreign.size());
    return foreign;
  }

  /**
   * The write filter of a key: its _id, the version condition ({@code $lt} for a replace,
   * {@code $lte} for a delete), and a document of this source or of none, so that a guarded
   * upsert never takes over another source's document. A flat document, not {@code Filters.and}
   * (which the driver renders as {@code $and}): servers serve a top-level {@code _id} from the
   * index, and the stand-in only that form (under {@code $and} it scanned the collection).
   */
  private Bson guard(Object id, String op, Object version) {
    // Encoded here like the documents: one per write, and the driver's codec cost as much again.
    return MongoBson.encode(
        guardFilter(id, op, version).append("_sync.src", new Document("$in", java.util.Arrays.asList(sourceId, null))));
  }

  static Document guardFilter(Object id, String op, Object version) {
    return new Document("_id", id).append("_sync.v", new Document(op, version));
  }

  /** The other source owning the document or its tombstone, or null (unstamped = ours). */
  private String otherSource(Stored doc, Stored tomb) {
    if (doc != null && doc.source() != null && !doc.source().equals(sourceId)) {
      return doc.source();
    }
    if (tomb != null && tomb.source() != null && !tomb.source().equals(sourceId)) {
      return tomb.source();
    }
    return null;
  }

  /** The table's truncate floor for this source: a document in the tombstone collection. */
  private String floorId() {
    return collectionName + ":floor:" + sourceId;
  }

  /**
   * A TRUNCATE at {@code version}: raise the floor first (no older write lands from now on), then
   * delete every document of this source older than it. Idempotent; a newer document stays.
   */
  long truncate(Object version) {
    try {
      tombstones.updateOne(
          Filters.eq("_id", floorId()),
          Updates.combine(
              Updates.max("v", version),
              Updates.set("c", collectionName),
              Updates.set("src", sourceId),
              Updates.set("floor", true)),
          new UpdateOptions().upsert(true));
    } finally {
      tombstonesWritten(tombstoneNamespace);
    }
    return data.deleteMany(
            Filters.and(
                Filters.lt("_sync.v", version),
                Filters.or(Filters.eq("_sync.src", sourceId), Filters.exists("_sync.src", false))))
        .getDeletedCount();
  }

  private static final org.bson.json.JsonWriterSettings EXTENDED =
      org.bson.json.JsonWriterSettings.builder().outputMode(org.bson.json.JsonMode.EXTENDED).build();

  /**
   * A map key for an _id value: its extended JSON (Long and Integer print differently), which is
   * also part of the stored tombstone _ids, so it must not change. Common keys are spelled here
   * directly: BSON's JSON writer took a tenth of the writer's CPU for whole-number keys, and over
   * a quarter for composite ones (MongoIdKeyTest holds both spellings equal).
   */
  static String idKey(Object id) {
    StringBuilder b = new StringBuilder(48).append("{\"k\": ");
    if (spell(id, b)) {
      return b.append('}').toString();
    }
    return new Document("k", id).toJson(EXTENDED);
  }

  /**
   * Appends the extended JSON of whole numbers, plain strings and documents of them (composite
   * keys); false for anything else, which BSON's writer then spells.
   */
  private static boolean spell(Object v, StringBuilder b) {
    if (v instanceof Long l) {
      b.append("{\"$numberLong\": \"").append(l).append("\"}");
    } else if (v instanceof Integer i) {
      b.append("{\"$numberInt\": \"").append(i).append("\"}");
    } else if (v instanceof String str && plain(str)) {
      quote(str, b);
    } else if (v instanceof Document d && !d.isEmpty()) {
      b.append('{');
      boolean first = true;
      for (Map.Entry<String, Object> e : d.entrySet()) {
        if (!plain(e.getKey())) {
          return false;
        }
        b.append(first ? "" : ", ");
        quote(e.getKey(), b);
        b.append(": ");
        first = false;
        if (!spell(e.getValue(), b)) {
          return false;
        }
      }
      b.append('}');
    } else {
      return false;
    }
    return true;
  }

  /**
   * Printable ASCII: the JSON writer escapes only its quote and backslash (tombstone _ids hold
   * both, being "collection:" + an idKey).
   */
  private static boolean plain(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x20 || c > 0x7e) {
        return false;
      }
    }
    return true;
  }

  /** A plain string in quotes, escaped as BSON's JSON writer escapes it. */
  private static void quote(String s, StringBuilder b) {
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '"' || c == '\\') {
        b.append('\\');
      }
      b.append(c);
    }
    b.append('"');
  }

  /**
   * The tombstone of a key: a string _id, so that tombstones of composite keys never need a
   * document-valued _id (see the class comment).
   */
  private String tombstoneId(String key) {
    return collectionName + ":" + key;
  }

  /** Version and source of the documents with these _ids, by {@code key} of the _id (dotted fields one deep). */
  private static Map<String, Stored> stored(
      MongoCollection<Document> coll, String versionField, String sourceField, List<Object> ids, java.util.function.Function<Object, String> key) {
    Map<String, Stored> out = new HashMap<>();
    if (ids.isEmpty()) {
      return out;
    }
    for (Document d : coll.find(Filters.in("_id", ids)).projection(new Document(versionField, 1).append(sourceField, 1))) {
      out.put(key.apply(d.get("_id")), new Stored(field(d, versionField), (String) field(d, sourceField)));
    }
    return out;
  }

  private static Object field(Document d, String path) {
    int dot = path.indexOf('.');
    if (dot < 0) {
      return d.get(path);
    }
    Object inner = d.get(path.substring(0, dot));
    return inner instanceof Document id ? id.get(path.substring(dot + 1)) : null;
  }

  /**
   * Inserts unordered and returns the positions not applied: refused with E11000 (the key exists),
   * or never tried because the server stopped at the first error (the stand-in does, even
   * unordered). Any other error fails the batch.
   */
  static <T> Set<Integer> insertsNotApplied(MongoCollection<T> coll, List<WriteModel<T>> ops) {
    Set<Integer> out = new HashSet<>();
    try {
      coll.bulkWrite(ops, new BulkWriteOptions().ordered(false));
      return out;
    } catch (MongoBulkWriteException e) {
      failOnOtherThanDuplicates(coll, e);
      int last = -1;
      for (BulkWriteError err : e.getWriteErrors()) {
        out.add(err.getIndex());
        last = Math.max(last, err.getIndex());
      }
      if (e.getWriteResult().getInsertedCount() + e.getWriteErrors().size() < ops.size()) {
        for (int i = last + 1; i < ops.size(); i++) {
          out.add(i); // maybe not tried; a second try of an applied one reads back as stale
        }
      }
      return out;
    }
  }

  /**
   * Guarded replaces (no upsert), unordered; returns how many matched, or -1 when the server
   * refused some with E11000 (e.g. a unique index of the user's), which leaves every one to the
   * read that follows. Any other error fails the batch.
   */
  static <T> long guardedReplaces(MongoCollection<T> coll, List<WriteModel<T>> ops) {
    try {
      return coll.bulkWrite(ops, new BulkWriteOptions().ordered(false)).getMatchedCount();
    } catch (MongoBulkWriteException e) {
      failOnOtherThanDuplicates(coll, e);
      return -1;
    }
  }

  /** E11000 is an answer (the key holds something); any other refusal fails the chunk. */
  private static void failOnOtherThanDuplicates(MongoCollection<?> coll, MongoBulkWriteException e) {
    List<String> real = new ArrayList<>();
    for (BulkWriteError err : e.getWriteErrors()) {
      if (err.getCode() != DUPLICATE_KEY) {
        real.add(err.getCode() + ": " + err.getMessage());
      }
    }
    if (!real.isEmpty()) {
      throw new IllegalStateException("MongoDB rejected writes to " + coll.getNamespace() + ": " + String.join("; ", real), e);
    }
  }

  /**
   * Runs writes unordered and returns the positions (in {@code ops}) of those refused with E11000.
   * Any other error fails the batch. Some servers (the local stand-in) stop at the first error
   * even when asked for unordered execution; operations after it that were neither applied nor
   * reported are sent again, which is safe because every one is version-guarded.
   */
  static <T> List<Integer> bulkCollectingDuplicates(MongoCollection<T> coll, List<WriteModel<T>> ops) {
    List<Integer> duplicates = new ArrayList<>();
    int base = 0;
    while (base < ops.size()) {
      List<WriteModel<T>> pending = ops.subList(base, ops.size());
      try {
        coll.bulkWrite(pending, new BulkWriteOptions().ordered(false));
        return duplicates;
      } catch (MongoBulkWriteException e) {
        failOnOtherThanDuplicates(coll, e);
        int last = -1;
        for (BulkWriteError err : e.getWriteErrors()) {
          duplicates.add(base + err.getIndex());
          last = Math.max(last, err.getIndex());
        }
        BulkWriteResult r = e.getWriteResult();
        long done = r.getInsertedCount() + r.getMatchedCount() + r.getDeletedCount() + r.getUpserts().size() + e.getWriteErrors().size();
        if (done >= pending.size() || last + 1 >= pending.size()) {
          return duplicates;
        }
        base += last + 1;
      }
    }
    return duplicates;
  }
}
