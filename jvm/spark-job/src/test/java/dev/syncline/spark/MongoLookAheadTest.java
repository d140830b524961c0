package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * When a tombstone read made ahead of a flush, before its keys were claimed, may stand in for a
 * read under the claim (decision 0111). The writes that move the count are MongoSinkWriter's own
 * (tombstones, truncate floors, sweeps); the integration tests run replays through it.
 */
class MongoLookAheadTest {
  private static final String NS = "mongodb://h/db\u0001kv\u0001_syncline_tombstones";
  private static final String OTHER_TABLE = "mongodb://h/db\u0001orders\u0001_syncline_tombstones";

  @Test
  void aLookAheadHoldsUntilATombstoneWriteOfItsTableInThisJvmEnds() {
    MongoSinkWriter.LookAhead a = MongoSinkWriter.readNow(NS, Set.of("kv:{\"k\": 1}"));
    assertTrue(a.holds(NS), "nothing written since the read");
    MongoSinkWriter.tombstonesWritten(OTHER_TABLE);
    assertTrue(a.holds(NS), "another table's tombstones never hold one of its keys");
    MongoSinkWriter.tombstonesWritten(NS);
    assertFalse(a.holds(NS), "a tombstone written after the read may be one of its keys'");
    assertTrue(MongoSinkWriter.readNow(NS, Set.of()).holds(NS), "a read after that write holds again");
  }

  @Test
  void aLookAheadOfAnotherTombstoneCollectionOrTooOldDoesNotHold() {
    assertFalse(MongoSinkWriter.readNow(NS, Set.of()).holds(OTHER_TABLE));
    MongoSinkWriter.LookAhead fresh = MongoSinkWriter.readNow(NS, Set.of());
    MongoSinkWriter.LookAhead old =
        new MongoSinkWriter.LookAhead(
            NS, fresh.writesBefore(), System.nanoTime() - MongoSinkWriter.LOOK_AHEAD_MAX_AGE_NANOS - 1, Set.of(), Map.of());
    assertFalse(old.holds(NS), "older than the bound: other processes may have written since");
  }
}
