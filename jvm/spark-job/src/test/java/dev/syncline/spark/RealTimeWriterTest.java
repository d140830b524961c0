package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
      List<Long> offsets = new ArrayList<>();
      rows.forEachRemaining(r -> offsets.add(r.<Long>getAs(TablePlan.OFFSET)));
      flushes.add(offsets);
      return new Stats();
    }
  }

  /** An opened task writer that flushes into {@code recorder}, with the settle's gap and bound. */
  private RealTimeWriter opened(Recorder recorder, long gapMs, long maxMs) {
    RealTimeWriter w =
        new RealTimeWriter(
            recorder,
            new StatsAccumulator(),
            dir.toString(),
            TimeUnit.MILLISECONDS.toNanos(gapMs),
            TimeUnit.MILLISECONDS.toNanos(maxMs));
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
}
