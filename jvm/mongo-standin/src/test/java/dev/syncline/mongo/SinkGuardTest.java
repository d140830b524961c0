package dev.syncline.mongo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import de.bwaldvogel.mongo.backend.DefaultQueryMatcher;
import de.bwaldvogel.mongo.bson.Decimal128;
import de.bwaldvogel.mongo.bson.Document;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The guard's fast decision is the library matcher's, wherever it decides at all. */
class SinkGuardTest {

  /** `_sync` as the stored documents may hold it: the sink's own, older forms, and odd ones. */
  private static List<Object> storedSyncs() {
    List<Object> out = new ArrayList<>();
    Object[] versions = {4L, 5L, 6L, 5, 6, Long.MAX_VALUE, Long.MIN_VALUE, null, 5.0, "5", new Decimal128(new BigDecimal("5")), List.of(4L, 9L)};
    Object[] sources = {"a", "b", null, 7, List.of("a")};
    for (Object v : versions) {
      for (Object src : sources) {
        out.add(new Document("v", v).append("src", src));
      }
      out.add(new Document("v", v)); // written before sources were stamped
    }
    for (Object src : sources) {
      out.add(new Document("src", src));
    }
    out.add(new Document());
    out.add(null);
    out.add(5L);
    out.add("text");
    out.add(List.of(new Document("v", 4L).append("src", "a")));
    out.add(ABSENT);
    return out;
  }

  private static final Object ABSENT = new Object();

  private static List<Document> selectors(Object id) {
    List<Document> out = new ArrayList<>();
    Object[] bounds = {5L, 5, Long.MAX_VALUE, Long.MIN_VALUE, 5.0, new Decimal128(new BigDecimal("5"))};
    List<List<Object>> ins = List.of(Arrays.asList("a", null), List.of("a"), Arrays.asList((Object) null), List.of("a", "b"), List.of(), List.of(7));
    for (String op : List.of("$lt", "$lte", "$gt")) {
      for (Object bound : bounds) {
        Document v = new Document(op, bound);
        out.add(new Document("_id", id).append("_sync.v", v));
        for (List<Object> in : ins) {
          out.add(new Document("_id", id).append("_sync.v", v).append("_sync.src", new Document("$in", in)));
          out.add(new Document("_id", id).append("_sync.src", new Document("$in", in)).append("_sync.v", v));
        }
      }
    }
    for (List<Object> in : ins) {
      out.add(new Document("_id", id).append("_sync.src", new Document("$in", in)));
    }
    out.add(new Document("_id", id));
    out.add(new Document("_id", id).append("_sync.v", 5L)); // an equality: not the guard's shape
    out.add(new Document("_id", id).append("_sync.v", new Document("$lt", 5L).append("$gt", 1L)));
    out.add(new Document("_id", id).append("other", 1));
    return out;
  }

  @Test
  void decidesAsTheLibraryMatcherForEveryStoredFormAndGuard() {
    int decided = 0;
    int total = 0;
    // Stored and asked _ids differ in type where the index finds one for the other (1 and 1L).
    Object[][] ids = {{1L, 1L}, {1, 1}, {1, 1L}, {1L, 1}, {"k", "k"}};
    for (Object[] pair : ids) {
      Object storedId = pair[0];
      Object id = pair[1];
      for (Object sync : storedSyncs()) {
        Document stored = new Document("_id", storedId).append("f", "x");
        if (sync != ABSENT) {
          stored.append("_sync", sync);
        }
        for (Document selector : selectors(id)) {
          boolean library = new DefaultQueryMatcher().matches(stored, selector);
          Boolean fast = SinkGuard.matches(stored, selector);
          total++;
          if (fast != null) {
            decided++;
            assertEquals(library, fast, () -> "stored " + stored + " selector " + selector);
          }
        }
      }
    }
    // A comparison only counts where the fast path answered (a fifth of the matrix when written).
    assertTrue(decided > total / 10, decided + " of " + total + " decided");
  }

  @Test
  void decidesTheSinksOwnGuardBothWays() {
    Document stored = new Document("_id", 3L).append("_sync", new Document("v", 5L).append("src", "a"));
    Document newer = new Document("_id", 3L).append("_sync.v", new Document("$lt", 6L)).append("_sync.src", new Document("$in", Arrays.asList("a", null)));
    Document stale = new Document("_id", 3L).append("_sync.v", new Document("$lt", 5L)).append("_sync.src", new Document("$in", Arrays.asList("a", null)));
    Document foreign = new Document("_id", 3L).append("_sync.v", new Document("$lt", 6L)).append("_sync.src", new Document("$in", Arrays.asList("b", null)));
    assertEquals(Boolean.TRUE, SinkGuard.matches(stored, newer));
    assertEquals(Boolean.FALSE, SinkGuard.matches(stored, stale));
    assertEquals(Boolean.FALSE, SinkGuard.matches(stored, foreign));
  }

  @Test
  void leavesOtherIdsAndShapesToTheLibrary() {
    Document stored = new Document("_id", new Document("a", 1)).append("_sync", new Document("v", 5L));
    assertNull(SinkGuard.matches(stored, new Document("_id", new Document("a", 1)).append("_sync.v", new Document("$lt", 6L))));
    Document plain = new Document("_id", 1L).append("_sync", new Document("v", 5L));
    assertNull(SinkGuard.matches(plain, new Document("_id", 1L).append("_sync.v", new Document("$gt", 1L))));
    assertNotNull(SinkGuard.matches(plain, new Document("_id", 1L).append("_sync.v", new Document("$lte", 5L))));
  }
}
