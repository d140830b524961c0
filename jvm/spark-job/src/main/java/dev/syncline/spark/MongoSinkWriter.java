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
import com.mongodb.client.model.WriteModel;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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
  private final long tombstoneTtlMs;
  private final boolean standIn;

  MongoSinkWriter(String uri, String database, String collection, String tombstoneCollection, long tombstoneTtlSeconds) {
    MongoClient client = CLIENTS.computeIfAbsent(uri, MongoClients::create);
    MongoDatabase db = client.getDatabase(database);
    this.data = db.getCollection(collection);
    this.tombstones = db.getCollection(tombstoneCollection);
    this.collectionName = collection;
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

  record Upsert(Object id, Document doc, Object version) {}

  record Delete(Object id, Object version) {}

  void write(List<Upsert> upserts, List<Delete> deletes, Stats stats) {
    if (!upserts.isEmpty()) {
      List<Upsert> live = withoutTombstoned(upserts, stats);
      Map<String, Object> stored = storedVersions(data, "_sync.v", idsOf(live));
      List<WriteModel<Document>> ops = new ArrayList<>();
      long stale = 0;
      for (Upsert u : live) {
        Object current = stored.get(idKey(u.id()));
        if (current == null) {
          ops.add(new InsertOneModel<>(u.doc()));
        } else if (Versions.compare(current, u.version()) < 0) {
          // Against the stand-in the version read just above is the guard: one writer per key
          // at a time (one partition of one batch) makes it as good there. Real MongoDB keeps
          // the guard in the filter, where the _id index serves it anyway.
          Bson filter =
              standIn
                  ? Filters.eq("_id", u.id())
                  : Filters.and(Filters.eq("_id", u.id()), Filters.lt("_sync.v", u.version()));
          ops.add(new ReplaceOneModel<>(filter, u.doc()));
        } else {
          stale++;
        }
      }
      stale += bulkIgnoringDuplicates(data, ops);
      stats.add("mongo.upserted", live.size() - stale);
      stats.add("mongo.stale", stale);
    }
    if (!deletes.isEmpty()) {
      List<WriteModel<Document>> ops = new ArrayList<>();
      List<WriteModel<Document>> tombs = new ArrayList<>();
      Date expireAt = new Date(System.currentTimeMillis() + tombstoneTtlMs);
      List<Object> tombIds = new ArrayList<>();
      for (Delete d : deletes) {
        tombIds.add(tombstoneId(d.id()));
      }
      Map<String, Object> tombVersions = storedVersions(tombstones, "v", tombIds);
      // The stand-in scans the whole collection for {_id, _sync.v <= v} (as for replaces, 0014):
      // there the version read here is the guard and the delete filters on _id alone.
      Map<String, Object> stored = standIn ? storedVersions(data, "_sync.v", deleteIds(deletes)) : Map.of();
      for (int i = 0; i < deletes.size(); i++) {
        Delete d = deletes.get(i);
        if (standIn) {
          Object current = stored.get(idKey(d.id()));
          if (current != null && Versions.compare(current, d.version()) <= 0) {
            ops.add(new DeleteOneModel<>(Filters.eq("_id", d.id())));
          }
        } else {
          ops.add(new DeleteOneModel<>(Filters.and(Filters.eq("_id", d.id()), Filters.lte("_sync.v", d.version()))));
        }
        Object tombId = tombIds.get(i);
        Document tomb = new Document("_id", tombId).append("c", collectionName).append("k", d.id())
            .append("v", d.version()).append("expireAt", expireAt);
        Object current = tombVersions.get(idKey(tombId));
        if (current == null) {
          tombs.add(new InsertOneModel<>(tomb));
        } else if (Versions.compare(current, d.version()) < 0) {
          tombs.add(new ReplaceOneModel<>(Filters.and(Filters.eq("_id", tombId), Filters.lt("v", d.version())), tomb));
        }
      }
      // Tombstones first: should the deletes fail half way, the retry finds them in place.
      bulkIgnoringDuplicates(tombstones, tombs);
      if (!ops.isEmpty()) {
        BulkWriteResult r = data.bulkWrite(ops, new BulkWriteOptions().ordered(false));
        stats.add("mongo.deleted", r.getDeletedCount());
      }
    }
  }

  private static List<Object> deleteIds(List<Delete> deletes) {
    List<Object> ids = new ArrayList<>();
    for (Delete d : deletes) {
      ids.add(d.id());
    }
    return ids;
  }

  private static List<Object> idsOf(List<Upsert> upserts) {
    List<Object> ids = new ArrayList<>();
    for (Upsert u : upserts) {
      ids.add(u.id());
    }
    return ids;
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

  /** The version field of the documents with these _ids, by idKey. */
  private static Map<String, Object> storedVersions(MongoCollection<Document> coll, String field, List<Object> ids) {
    Map<String, Object> out = new HashMap<>();
    if (ids.isEmpty()) {
      return out;
    }
    for (Document d : coll.find(Filters.in("_id", ids)).projection(new Document(field, 1))) {
      Object v = field.equals("_sync.v") ? ((Document) d.get("_sync")).get("v") : d.get(field);
      out.put(idKey(d.get("_id")), v);
    }
    return out;
  }

  private List<Upsert> withoutTombstoned(List<Upsert> upserts, Stats stats) {
    List<Object> ids = new ArrayList<>();
    for (Upsert u : upserts) {
      ids.add(tombstoneId(u.id()));
    }
    Map<String, Object> tombVersion = storedVersions(tombstones, "v", ids);
    if (tombVersion.isEmpty()) {
      return upserts;
    }
    List<Upsert> live = new ArrayList<>();
    for (int i = 0; i < upserts.size(); i++) {
      Object tv = tombVersion.get(idKey(ids.get(i)));
      if (tv != null && Versions.compare(tv, upserts.get(i).version()) >= 0) {
        stats.add("mongo.tombstoned", 1);
      } else {
        live.add(upserts.get(i));
      }
    }
    return live;
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
