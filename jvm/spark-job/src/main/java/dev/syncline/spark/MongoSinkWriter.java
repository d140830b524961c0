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
import org.bson.Document;
import org.bson.conversions.Bson;

/**
 * Version-guarded MongoDB writes for one table (invariants 3 and 3b).
 *
 * <p>The stored versions of a batch's keys (and their tombstones) are read first; then a key that
 * is absent is inserted, a key whose stored version is older is replaced with the guard
 * {_id, _sync.v < v} (no upsert), and a key that holds the same or a newer version is skipped
 * as stale. An insert that meets E11000 found a document written meanwhile (a re-run of the same
 * batch) and is stale too; any other error fails the batch so Spark retries it. Upserts are
 * avoided on purpose: the local stand-in (mongo-java-server 1.47) corrupts its _id index when an
 * upsert creates a document whose _id is a document (composite keys), see
 * docs/decisions/0005-mongodb-writes-without-upsert.md. Deletes are deleteOne({_id, _sync.v <=
 * v}) plus a tombstone in a side collection, so an older update that is replayed later (after a
 * relay crash) does not bring the row back. There is one writer per key at a time (a key lives in
 * one partition of one batch), so reading before writing is not racy.
 */
final class MongoSinkWriter {
  private static final Map<String, MongoClient> CLIENTS = new ConcurrentHashMap<>();
  private static final Map<String, Long> LAST_CLEANUP = new ConcurrentHashMap<>();
  private static final Map<String, Boolean> STAND_IN = new ConcurrentHashMap<>();
  private static final int DUPLICATE_KEY = 11000;
  private static final long CLEANUP_EVERY_MS = 60_000;

  private final MongoCollection<Document> data;
  private final MongoCollection<Document> tombstones;
  private final String collectionName;
  /** Server and database, for the in-JVM claim of a key (two pipelines never share one). */
  private final String where;
  private final long tombstoneTtlMs;
  private final boolean standIn;
  private final String sourceId;

  MongoSinkWriter(String uri, String database, String collection, String tombstoneCollection, long tombstoneTtlSeconds, String sourceId) {
    this.sourceId = sourceId;
    MongoClient client = CLIENTS.computeIfAbsent(uri, MongoClients::create);
    MongoDatabase db = client.getDatabase(database);
    this.data = db.getCollection(collection);
    this.tombstones = db.getCollection(tombstoneCollection);
    this.collectionName = collection;
    this.where = uri + "/" + database;
    this.tombstoneTtlMs = tombstoneTtlSeconds * 1000;
    this.standIn = STAND_IN.computeIfAbsent(uri, u -> isStandIn(client));
    prepareTombstones(uri + "/" + database + "/" + tombstoneCollection);
  }

  /**
   * A TTL index lets real MongoDB expire tombstones by itself; servers without TTL support (the
   * local stand-in) get an explicit sweep at most once a minute per JVM.
   */
  private void prepareTombstones(String id) {
    long now = System.currentTimeMillis();
    Long last = LAST_CLEANUP.get(id);
    if (last != null && now - last < CLEANUP_EVERY_MS) {
      return;
    }
    LAST_CLEANUP.put(id, now);
    if (last == null) {
      tombstones.createIndex(
          Indexes.ascending("expireAt"), new IndexOptions().expireAfter(0L, TimeUnit.SECONDS));
    }
    tombstones.deleteMany(Filters.lt("expireAt", new Date(now)));
  }

  /**
   * The local stand-in (mongo-java-server) answers buildInfo without a gitVersion, which every
   * real MongoDB reports. It uses its _id index only for a filter on _id alone: the guarded
   * replace {_id, _sync.v < v} scans the collection (4 ms per write at 6,000 documents, growing
   * with the collection) where {_id} takes 0.2 ms. See docs/decisions/0014.
   */
  private static boolean isStandIn(MongoClient client) {
    Document info = client.getDatabase("admin").runCommand(new Document("buildInfo", 1));
    return !info.containsKey("gitVersion");
  }

  /** {@code tag} is handed back when the write is refused (e.g. for the dead letter). */
  record Upsert(Object id, Document doc, Object version, Object tag) {}

  record Delete(Object id, Object version, Object tag) {}

  /** A write refused because the document or its tombstone belongs to another source. */
  record Foreign(Object id, Object tag, String otherSource) {}

  /** What the pre-read found for one _id: the document's and the tombstone's version and source. */
  private record Stored(Object version, String source) {}

  /**
   * Writes a chunk. One read of the chunk's documents and one of their tombstones (which also
   * fetches the table's truncate floor), then one bulk write per collection. Returns the writes
   * refused because another source owns the entry; they are not applied.
   */
  List<Foreign> write(List<Upsert> upserts, List<Delete> deletes, Stats stats) {
    if (upserts.isEmpty() && deletes.isEmpty()) {
      return new ArrayList<>();
    }
    Set<String> keys = new HashSet<>();
    for (Upsert u : upserts) {
      keys.add(claimKey(u.id()));
    }
    for (Delete d : deletes) {
      keys.add(claimKey(d.id()));
    }
    claim(keys);
    try {
      return writeClaimed(upserts, deletes, stats);
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

  private String claimKey(Object id) {
    return where + "\u0001" + collectionName + "\u0001" + idKey(id);
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

  private List<Foreign> writeClaimed(List<Upsert> upserts, List<Delete> deletes, Stats stats) {
    List<Foreign> foreign = new ArrayList<>();
    List<Object> ids = new ArrayList<>();
    List<Object> tombIds = new ArrayList<>();
    for (Upsert u : upserts) {
      ids.add(u.id());
      tombIds.add(tombstoneId(u.id()));
    }
    for (Delete d : deletes) {
      ids.add(d.id());
      tombIds.add(tombstoneId(d.id()));
    }
    tombIds.add(floorId());
    Map<String, Stored> stored = stored(data, "_sync.v", "_sync.src", ids);
    Map<String, Stored> tombs = stored(tombstones, "v", "src", tombIds);
    Stored floorDoc = tombs.get(idKey(floorId()));
    Object floor = floorDoc == null ? null : floorDoc.version();

    List<WriteModel<Document>> ops = new ArrayList<>();
    long stale = 0;
    long applied = 0;
    for (Upsert u : upserts) {
      Stored cur = stored.get(idKey(u.id()));
      Stored tomb = tombs.get(idKey(tombstoneId(u.id())));
      String other = otherSource(cur, tomb);
      if (other != null) {
        foreign.add(new Foreign(u.id(), u.tag(), other));
      } else if (floor != null && Versions.compare(u.version(), floor) < 0) {
        stats.add("mongo.truncated", 1);
      } else if (tomb != null && Versions.compare(tomb.version(), u.version()) >= 0) {
        stats.add("mongo.tombstoned", 1);
      } else if (cur == null) {
        ops.add(new InsertOneModel<>(u.doc()));
        applied++;
      } else if (Versions.compare(cur.version(), u.version()) < 0) {
        // Against the stand-in the version read just above is the guard: one writer per key
        // at a time (the claim in write()) makes it as good there. Real MongoDB keeps the guard
        // in the filter, where the _id index serves it anyway.
        Bson filter =
            standIn
                ? Filters.eq("_id", u.id())
                : Filters.and(Filters.eq("_id", u.id()), Filters.lt("_sync.v", u.version()));
        ops.add(new ReplaceOneModel<>(filter, u.doc()));
        applied++;
      } else {
        stale++;
      }
    }
    List<WriteModel<Document>> tombOps = new ArrayList<>();
    Date expireAt = new Date(System.currentTimeMillis() + tombstoneTtlMs);
    for (Delete d : deletes) {
      Stored cur = stored.get(idKey(d.id()));
      Object tombId = tombstoneId(d.id());
      Stored tomb = tombs.get(idKey(tombId));
      String other = otherSource(cur, tomb);
      if (other != null) {
        foreign.add(new Foreign(d.id(), d.tag(), other));
        continue;
      }
      if (floor != null && Versions.compare(d.version(), floor) < 0) {
        stats.add("mongo.truncated", 1); // the truncate removed what this delete would
        continue;
      }
      if (cur != null && Versions.compare(cur.version(), d.version()) <= 0) {
        // The stand-in scans the whole collection for {_id, _sync.v <= v} (as for replaces,
        // 0014): there the version read here is the guard and the delete filters on _id alone.
        ops.add(new DeleteOneModel<>(
            standIn ? Filters.eq("_id", d.id()) : Filters.and(Filters.eq("_id", d.id()), Filters.lte("_sync.v", d.version()))));
        stats.add("mongo.deleted", 1);
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
    bulkIgnoringDuplicates(tombstones, tombOps);
    long dup = bulkIgnoringDuplicates(data, ops);
    stats.add("mongo.upserted", applied - dup);
    stats.add("mongo.stale", stale + dup);
    stats.add("mongo.foreign", foreign.size());
    return foreign;
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
    tombstones.updateOne(
        Filters.eq("_id", floorId()),
        Updates.combine(
            Updates.max("v", version),
            Updates.set("c", collectionName),
            Updates.set("src", sourceId),
            Updates.set("floor", true)),
        new UpdateOptions().upsert(true));
    return data.deleteMany(
            Filters.and(
                Filters.lt("_sync.v", version),
                Filters.or(Filters.eq("_sync.src", sourceId), Filters.exists("_sync.src", false))))
        .getDeletedCount();
  }

  /** A map key for an _id value: its extended JSON (Long and Integer print differently). */
  private static String idKey(Object id) {
    return new Document("k", id).toJson(org.bson.json.JsonWriterSettings.builder()
        .outputMode(org.bson.json.JsonMode.EXTENDED).build());
  }

  /**
   * The tombstone of a key: a string _id, so that tombstones of composite keys never need a
   * document-valued _id (see the class comment).
   */
  private Object tombstoneId(Object id) {
    return collectionName + ":" + idKey(id);
  }

  /** Version and source of the documents with these _ids, by idKey (dotted fields one deep). */
  private static Map<String, Stored> stored(MongoCollection<Document> coll, String versionField, String sourceField, List<Object> ids) {
    Map<String, Stored> out = new HashMap<>();
    if (ids.isEmpty()) {
      return out;
    }
    for (Document d : coll.find(Filters.in("_id", ids)).projection(new Document(versionField, 1).append(sourceField, 1))) {
      out.put(idKey(d.get("_id")), new Stored(field(d, versionField), (String) field(d, sourceField)));
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
   * Runs guarded upserts unordered and returns how many were stale (E11000). Any other error
   * fails the batch. Some servers (the local stand-in) stop at the first error even when asked
   * for unordered execution; operations after it that were neither applied nor reported are
   * sent again, which is safe because every one is version-guarded.
   */
  static long bulkIgnoringDuplicates(MongoCollection<Document> coll, List<WriteModel<Document>> ops) {
    long stale = 0;
    List<WriteModel<Document>> pending = ops;
    while (!pending.isEmpty()) {
      try {
        coll.bulkWrite(pending, new BulkWriteOptions().ordered(false));
        return stale;
      } catch (MongoBulkWriteException e) {
        int last = -1;
        List<String> real = new ArrayList<>();
        for (BulkWriteError err : e.getWriteErrors()) {
          if (err.getCode() == DUPLICATE_KEY) {
            stale++;
          } else {
            real.add(err.getCode() + ": " + err.getMessage());
          }
          last = Math.max(last, err.getIndex());
        }
        if (!real.isEmpty()) {
          throw new IllegalStateException(
              "MongoDB rejected writes to " + coll.getNamespace() + ": " + String.join("; ", real), e);
        }
        BulkWriteResult r = e.getWriteResult();
        long done = r.getInsertedCount() + r.getMatchedCount() + r.getUpserts().size() + e.getWriteErrors().size();
        if (done >= pending.size() || last + 1 >= pending.size()) {
          return stale;
        }
        pending = pending.subList(last + 1, pending.size());
      }
    }
    return stale;
  }
}
