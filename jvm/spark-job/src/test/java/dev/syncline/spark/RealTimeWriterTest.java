package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.exceptions.JedisConnectionException;

/**
 * How a real-time task groups the rows Spark hands it one by one into flushes (the settle of
 * decision 0086). The flushes go to a recorder instead of the sinks: what is asserted is which
 * rows travel together, which no sink can report.
 */
class RealTimeWriterTest {
  @TempDir Path dir;

  private static final StructType SCHEMA =
      new StructType()
          .add(TablePlan.TOPIC, DataTypes.StringType)
          .add(TablePlan.PARTITION, DataTypes.IntegerType)
          .add(TablePlan.OFFSET, DataTypes.LongType);

  private static Row row(long offset) {
    return new GenericRowWithSchema(new Object[] {"orders", 0, offset}, SCHEMA);
  }

  /** Remembers the offsets of each flush, in order. */
  private static final class Recorder implements RealTimeWriter.Applier {
    private static final long serialVersionUID = 1L;
    final List<List<Long>> flushes = new CopyOnWriteArrayList<>();

    @Override
    public Stats apply(Iterator<Row> rows) {
      flushes.add(offsets(rows));
      return new Stats();
    }
  }

  private static List<Long> offsets(Iterator<Row> rows) {
    List<Long> offsets = new ArrayList<>();
    rows.forEachRemaining(r -> offsets.add(r.<Long>getAs(TablePlan.OFFSET)));
    return offsets;
  }

  /** An opened task writer that flushes into {@code recorder}, with the settle's gap and bound. */
  private RealTimeWriter opened(Recorder recorder, long gapMs, long maxMs) {
    RealTimeWriter w =
        new RealTimeWriter(
            recorder,
            new StatsAccumulator(),
            dir.toString(),
            TimeUnit.MILLISECONDS.toNanos(gapMs),
            TimeUnit.MILLISECONDS.toNanos(maxMs),
            RealTimeWriter.RETRY_FIRST_MS);
    w.open(0, 0);
    return w;
  }

  @Test
  void rowsOfOneFetchHandedOverOneByOneAreAppliedAsOneFlush() throws Exception {
    Recorder recorder = new Recorder();
    RealTimeWriter w = opened(recorder, 50, 2_000);
    for (long o = 0; o < 50; o++) {
      w.process(row(o));
    }
    w.close(null);

    assertEquals(1, recorder.flushes.size(), "flush sizes: " + recorder.flushes);
    assertEquals(50, recorder.flushes.get(0).size());
    assertEquals("50", Files.readString(dir.resolve("applied").resolve("orders-0")), "applied position");
  }

  @Test
  void aLoneRowIsAppliedAfterOneGapWithoutWaitingForTheBound() throws Exception {
    Recorder recorder = new Recorder();
    RealTimeWriter w = opened(recorder, 20, 60_000);
    long started = System.nanoTime();
    w.process(row(7));
    while (recorder.flushes.isEmpty() && System.nanoTime() - started < TimeUnit.SECONDS.toNanos(30)) {
      Thread.sleep(1);
    }
    long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
    w.close(null);

    assertEquals(List.of(List.of(7L)), recorder.flushes);
    assertTrue(waitedMs < 10_000, "a lone row waited " + waitedMs + " ms");
  }

  @Test
  void aSteadyStreamWithoutGapsIsStillFlushedWithinTheBound() throws Exception {
    Recorder recorder = new Recorder();
    // Rows 2 ms apart never leave a 1 s gap: only the 100 ms bound lets a flush go.
    RealTimeWriter w = opened(recorder, 1_000, 100);
    long started = System.nanoTime();
    long o = 0;
    while (System.nanoTime() - started < TimeUnit.MILLISECONDS.toNanos(600)) {
      w.process(row(o++));
      Thread.sleep(2);
    }
    int beforeClose = recorder.flushes.size();
    w.close(null);

    assertTrue(beforeClose >= 2, "flushes while the stream ran: " + beforeClose);
    assertEquals(o, recorder.flushes.stream().mapToLong(List::size).sum(), "every row applied once");
  }

  @Test
  void aProgressFileThatCannotBeWrittenDoesNotHoldBackTheNextFlush() throws Exception {
    // The applied position is written as .orders-0.tmp, then renamed. A FIFO in that place makes
    // the write block until someone reads it: a disk that stalls, held as long as the test likes.
    Path applied = Files.createDirectories(dir.resolve("applied"));
    Path stalled = applied.resolve(".orders-0.tmp");
    assertEquals(0, new ProcessBuilder("mkfifo", stalled.toString()).inheritIO().start().waitFor(), "mkfifo");
    Recorder recorder = new Recorder();
    RealTimeWriter w = opened(recorder, 5, 50);
    w.process(row(0));
    waitFor(() -> recorder.flushes.size() == 1); // its position is now due, and its write stalls
    Thread.sleep(100);
    w.process(row(1));
    long started = System.nanoTime();
    while (recorder.flushes.size() < 2 && System.nanoTime() - started < TimeUnit.SECONDS.toNanos(5)) {
      Thread.sleep(1);
    }
    List<List<Long>> beforeUnblocking = List.copyOf(recorder.flushes);
    byte[] written = Files.readAllBytes(stalled); // lets the stalled write finish
    w.close(null);

    assertEquals(List.of(List.of(0L), List.of(1L)), beforeUnblocking, "flushes while a progress file stalled");
    assertEquals("1", new String(written, java.nio.charset.StandardCharsets.UTF_8), "the stalled write's position");
    assertEquals("2", Files.readString(applied.resolve("orders-0")), "the position close() writes last");
  }

  /** Fails its first {@code failures} flushes with what {@code failure} makes, then records them. */
  private static final class FailingSink implements RealTimeWriter.Applier {
    private static final long serialVersionUID = 1L;
    final AtomicInteger calls = new AtomicInteger();
    final List<Long> applied = new CopyOnWriteArrayList<>();
    private final int failures;
    private final transient Supplier<RuntimeException> failure;

    FailingSink(int failures, Supplier<RuntimeException> failure) {
      this.failures = failures;
      this.failure = failure;
    }

    @Override
    public Stats apply(Iterator<Row> rows) {
      List<Long> offsets = offsets(rows);
      if (calls.incrementAndGet() <= failures) {
        throw failure.get();
      }
      applied.addAll(offsets);
      return new Stats();
    }
  }

  /** A writer whose flush waits 50 ms for more rows (all of a test's rows go as one) and retries after 10 ms. */
  private RealTimeWriter openedWithRetries(FailingSink sink) {
    RealTimeWriter w =
        new RealTimeWriter(sink, new StatsAccumulator(), dir.toString(), TimeUnit.MILLISECONDS.toNanos(50), TimeUnit.MILLISECONDS.toNanos(200), 10);
    w.open(0, 0);
    return w;
  }

  private static void waitFor(java.util.function.BooleanSupplier done) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!done.getAsBoolean() && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
  }

  @Test
  void rowsThatMetAnUnreachableSinkAreWrittenOnceItAnswersThoughNoFurtherRowCame() throws Exception {
    FailingSink sink = new FailingSink(2, () -> new JedisConnectionException("Unexpected end of stream."));
    RealTimeWriter w = openedWithRetries(sink);
    for (long o = 0; o < 5; o++) {
      w.process(row(o));
    }
    // No further row: before the retry the failure waited for one, or for the batch's end.
    waitFor(() -> sink.applied.size() == 5);

    assertEquals(List.of(0L, 1L, 2L, 3L, 4L), sink.applied, "the same rows, once the sink answered");
    assertEquals(3, sink.calls.get(), "two refused tries, then the one that landed");
    w.close(null); // the batch commits: everything it read is written
  }

  @Test
  void aWriteTheSinkRefusesIsNotTriedAgainAndFailsTheBatch() throws Exception {
    FailingSink sink = new FailingSink(Integer.MAX_VALUE, () -> new IllegalStateException("document too large"));
    RealTimeWriter w = openedWithRetries(sink);
    w.process(row(0));
    waitFor(() -> sink.calls.get() > 0);
    Thread.sleep(100);

    IllegalStateException e = assertThrows(IllegalStateException.class, () -> w.close(null));
    assertEquals("document too large", e.getMessage());
    assertEquals(1, sink.calls.get(), "a refusal is not an outage");
  }

  @Test
  void anOutageStillOnWhenTheBatchEndsFailsItSoTheBatchIsReadAgain() throws Exception {
    FailingSink sink = new FailingSink(Integer.MAX_VALUE, () -> new JedisConnectionException("Connection refused"));
    RealTimeWriter w = openedWithRetries(sink);
    w.process(row(0));
    waitFor(() -> sink.calls.get() >= 3);

    long closing = System.nanoTime();
    assertThrows(JedisConnectionException.class, () -> w.close(null));
    assertTrue(System.nanoTime() - closing < TimeUnit.SECONDS.toNanos(5), "close does not wait out the retries");
    assertTrue(sink.applied.isEmpty());
  }
}
