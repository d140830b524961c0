package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mongodb.MongoBulkWriteException;
import com.mongodb.ServerAddress;
import com.mongodb.bulk.BulkWriteError;
import com.mongodb.bulk.BulkWriteResult;
import com.mongodb.client.MongoCollection;
import com.mongodb.client.model.InsertOneModel;
import com.mongodb.client.model.WriteModel;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import org.bson.BsonDocument;
import org.bson.Document;
import org.junit.jupiter.api.Test;

/**
 * Write-first (decision 0052) reads back only the writes a bulk did not apply. How servers report
 * a partly refused unordered bulk differs: MongoDB tries every operation and lists each refusal,
 * the stand-in stops at the first one (the integration tests run that case on the real stand-in).
 * A collection that answers one bulk with a given outcome plays both here.
 */
class MongoWriteFirstTest {
  private static List<WriteModel<Document>> inserts(int n) {
    List<WriteModel<Document>> ops = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      ops.add(new InsertOneModel<>(new Document("_id", (long) i)));
    }
    return ops;
  }

  @SuppressWarnings("unchecked")
  private static MongoCollection<Document> answering(Function<List<WriteModel<Document>>, BulkWriteResult> bulk) {
    return (MongoCollection<Document>)
        Proxy.newProxyInstance(
            MongoWriteFirstTest.class.getClassLoader(),
            new Class<?>[] {MongoCollection.class},
            (proxy, method, args) ->
                switch (method.getName()) {
                  case "bulkWrite" -> bulk.apply((List<WriteModel<Document>>) args[0]);
                  case "getNamespace" -> new com.mongodb.MongoNamespace("db.kv");
                  default -> throw new UnsupportedOperationException(method.getName());
                });
  }

  private static MongoBulkWriteException refused(int inserted, int matched, int code, int... at) {
    List<BulkWriteError> errors = new ArrayList<>();
    for (int i : at) {
      errors.add(new BulkWriteError(code, "refused", new BsonDocument(), i));
    }
    return new MongoBulkWriteException(
        BulkWriteResult.acknowledged(inserted, matched, 0, matched, List.of(), List.of()),
        errors,
        null,
        new ServerAddress(),
        Set.of());
  }

  @Test
  void insertsThatAllLandLeaveNothingToRead() {
    MongoCollection<Document> c = answering(ops -> BulkWriteResult.acknowledged(ops.size(), 0, 0, 0, List.of(), List.of()));
    assertTrue(MongoSinkWriter.insertsNotApplied(c, inserts(5)).isEmpty());
  }

  @Test
  void aServerThatTriesEveryInsertLeavesOnlyTheRefusedKeysToRead() {
    MongoCollection<Document> c = answering(ops -> {
      throw refused(3, 0, 11000, 1, 3);
    });
    assertEquals(Set.of(1, 3), MongoSinkWriter.insertsNotApplied(c, inserts(5)));
  }

  @Test
  void aServerThatStopsAtTheFirstRefusalLeavesEveryUntriedInsertToRead() {
    MongoCollection<Document> c = answering(ops -> {
      throw refused(1, 0, 11000, 1);
    });
    assertEquals(Set.of(1, 2, 3, 4), MongoSinkWriter.insertsNotApplied(c, inserts(5)));
  }

  @Test
  void anInsertRefusedForAnotherReasonFailsTheChunkNamingTheCollectionAndCode() {
    MongoCollection<Document> c = answering(ops -> {
      throw refused(4, 0, 2, 2);
    });
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> MongoSinkWriter.insertsNotApplied(c, inserts(5)));
    assertTrue(e.getMessage().contains("db.kv") && e.getMessage().contains("2: refused"), e.getMessage());
  }

  @Test
  void guardedReplacesReportWhatMatchedOrThatEveryKeyMustBeRead() {
    assertEquals(3, MongoSinkWriter.guardedReplaces(answering(ops -> BulkWriteResult.acknowledged(0, 3, 0, 3, List.of(), List.of())), inserts(5)));
    assertEquals(-1, MongoSinkWriter.guardedReplaces(answering(ops -> {
      throw refused(0, 2, 11000, 4);
    }), inserts(5)));
    assertThrows(IllegalStateException.class, () -> MongoSinkWriter.guardedReplaces(answering(ops -> {
      throw refused(0, 2, 121, 0);
    }), inserts(5)));
  }
}
