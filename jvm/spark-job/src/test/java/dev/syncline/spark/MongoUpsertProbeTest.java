package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mongodb.MongoBulkWriteException;
import com.mongodb.MongoWriteException;
import com.mongodb.ServerAddress;
import com.mongodb.WriteError;
import com.mongodb.bulk.BulkWriteError;
import com.mongodb.bulk.BulkWriteResult;
import com.mongodb.bulk.BulkWriteUpsert;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.ReplaceOneModel;
import com.mongodb.client.model.WriteModel;
import com.mongodb.client.result.DeleteResult;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bson.BsonDocument;
import org.bson.BsonInt64;
import org.bson.BsonValue;
import org.bson.Document;
import org.bson.conversions.Bson;
import org.junit.jupiter.api.Test;

/**
 * The capability probe decides between one guarded upsert per change and reading versions first
 * (decision 0051). Real servers are covered by the integration tests (the stand-in passes the
 * probe); the failures below are those of servers we cannot start here on demand, e.g.
 * mongo-java-server before decision 0050, which created a second document with the same
 * composite _id instead of refusing an older version (decision 0005). An in-memory collection
 * plays such a server.
 */
class MongoUpsertProbeTest {
  @Test
  void aServerWithGuardedUpsertSemanticsPassesAndTheProbeLeavesNothingBehind() {
    FakeServer server = new FakeServer();
    assertNull(MongoSinkWriter.probe(server.collection(), "p1"));
    assertTrue(server.docs.isEmpty(), "the probe's scratch documents are removed");
  }

  @Test
  void aServerThatAcceptsAnOlderVersionAsASecondDocumentFailsTheProbe() {
    FakeServer server = new FakeServer();
    server.duplicatesInsteadOfRefusing = true;
    String why = MongoSinkWriter.probe(server.collection(), "p2");
    assertNotNull(why);
    assertTrue(why.contains("older version was not refused"), why);
  }

  @Test
  void aServerThatLosesUpsertedIdsFromItsIndexFailsTheProbe() {
    FakeServer server = new FakeServer();
    server.loseEveryThirdUpsert = true;
    String why = MongoSinkWriter.probe(server.collection(), "p3");
    assertNotNull(why);
    assertTrue(why.contains("replaced") || why.contains("found again"), why);
  }

  @Test
  void aServerThatRejectsUpsertsOutrightFailsTheProbeWithItsError() {
    FakeServer server = new FakeServer();
    server.rejectUpserts = true;
    String why = MongoSinkWriter.probe(server.collection(), "p4");
    assertNotNull(why);
    assertTrue(why.contains("upsert not supported"), why);
  }

  /** Just enough of a collection for the probe: _id-pinned guarded replaces, $in reads, deletes. */
  static final class FakeServer {
    final Map<BsonValue, BsonDocument> docs = new LinkedHashMap<>();
    boolean duplicatesInsteadOfRefusing;
    boolean loseEveryThirdUpsert;
    boolean rejectUpserts;
    int upserts;
    final List<BsonDocument> duplicates = new ArrayList<>();

    @SuppressWarnings("unchecked")
    MongoCollection<Document> collection() {
      return (MongoCollection<Document>)
          Proxy.newProxyInstance(
              getClass().getClassLoader(),
              new Class<?>[] {MongoCollection.class},
              (proxy, method, args) ->
                  switch (method.getName()) {
                    case "bulkWrite" -> bulk((List<WriteModel<Document>>) args[0]);
                    case "replaceOne" -> single((Bson) args[0], (Document) args[1]);
                    case "find" -> found(render((Bson) args[0]));
                    case "deleteMany" -> deleteMany(render((Bson) args[0]));
                    default -> throw new UnsupportedOperationException(method.getName());
                  });
    }

    private static BsonDocument render(Bson b) {
      return b.toBsonDocument();
    }

    /** {_id: x, "_sync.v": {$lt: v}} however the driver nests it. */
    private static BsonValue id(BsonDocument f) {
      return f.containsKey("$and") ? f.getArray("$and").get(0).asDocument().get("_id") : f.get("_id");
    }

    private static long below(BsonDocument f) {
      BsonDocument v = f.containsKey("$and") ? f.getArray("$and").get(1).asDocument() : f;
      return v.getDocument("_sync.v").getNumber("$lt").longValue();
    }

    /** 0 = replaced, 1 = created, -1 = refused with E11000. */
    private int apply(Bson filter, Document replacement) {
      if (rejectUpserts) {
        throw new IllegalStateException("upsert not supported");
      }
      BsonDocument f = render(filter);
      BsonValue id = id(f);
      BsonDocument doc = replacement.toBsonDocument(Document.class, com.mongodb.MongoClientSettings.getDefaultCodecRegistry());
      BsonDocument cur = docs.get(id);
      if (cur == null) {
        if (!(loseEveryThirdUpsert && ++upserts % 3 == 0)) {
          docs.put(id, doc);
        }
        return 1;
      }
      if (cur.getDocument("_sync").getNumber("v").longValue() < below(f)) {
        docs.put(id, doc);
        return 0;
      }
      if (duplicatesInsteadOfRefusing) {
        duplicates.add(doc);
        return 1;
      }
      return -1;
    }

    private BulkWriteResult bulk(List<WriteModel<Document>> ops) {
      int matched = 0;
      List<BulkWriteUpsert> created = new ArrayList<>();
      List<BulkWriteError> errors = new ArrayList<>();
      for (int i = 0; i < ops.size(); i++) {
        ReplaceOneModel<Document> op = (ReplaceOneModel<Document>) ops.get(i);
        int r = apply(op.getFilter(), op.getReplacement());
        if (r == 0) {
          matched++;
        } else if (r == 1) {
          created.add(new BulkWriteUpsert(i, new BsonInt64(i)));
        } else {
          errors.add(new BulkWriteError(11000, "E11000 duplicate key", new BsonDocument(), i));
        }
      }
      BulkWriteResult result = BulkWriteResult.acknowledged(0, matched, 0, matched, created, List.of());
      if (!errors.isEmpty()) {
        throw new MongoBulkWriteException(result, errors, null, new ServerAddress(), java.util.Set.of());
      }
      return result;
    }

    private Object single(Bson filter, Document replacement) {
      if (apply(filter, replacement) < 0) {
        throw new MongoWriteException(new WriteError(11000, "E11000 duplicate key", new BsonDocument()), new ServerAddress(), java.util.Set.of());
      }
      return null;
    }

    private List<BsonValue> in(BsonDocument f) {
      return new ArrayList<>(f.getDocument("_id").getArray("$in").getValues());
    }

    /** A FindIterable is only iterated by the probe. */
    private Object found(BsonDocument f) {
      List<Document> out = new ArrayList<>();
      for (BsonValue id : in(f)) {
        BsonDocument d = docs.get(id);
        if (d != null) {
          out.add(Document.parse(d.toJson()));
        }
      }
      Iterator<Document> it = out.iterator();
      return Proxy.newProxyInstance(
          getClass().getClassLoader(),
          new Class<?>[] {com.mongodb.client.FindIterable.class},
          (proxy, method, args) ->
              switch (method.getName()) {
                case "iterator", "cursor" -> cursor(it);
                default -> throw new UnsupportedOperationException(method.getName());
              });
    }

    private Object cursor(Iterator<Document> it) {
      return Proxy.newProxyInstance(
          getClass().getClassLoader(),
          new Class<?>[] {com.mongodb.client.MongoCursor.class},
          (proxy, method, args) ->
              switch (method.getName()) {
                case "hasNext" -> it.hasNext();
                case "next" -> it.next();
                case "close" -> null;
                default -> throw new UnsupportedOperationException(method.getName());
              });
    }

    private DeleteResult deleteMany(BsonDocument f) {
      long n = 0;
      for (BsonValue id : in(f)) {
        if (docs.remove(id) != null) {
          n++;
        }
      }
      return DeleteResult.acknowledged(n);
    }
  }
}
