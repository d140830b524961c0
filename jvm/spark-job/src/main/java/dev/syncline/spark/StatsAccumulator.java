package dev.syncline.spark;

import org.apache.spark.util.AccumulatorV2;

/**
 * Counters of a Real-Time Mode query that its tasks could not report through the checkpoint's
 * {@code stats/} folder (see {@link RealTimeWriter}), added up on the driver as the tasks end (a
 * real-time task ends with its batch, i.e. at each checkpoint interval). The driver takes them
 * with {@link #drain} when Spark reports the batch's progress.
 */
final class StatsAccumulator extends AccumulatorV2<Stats, Stats> {
  private static final long serialVersionUID = 1L;
  private Stats total = new Stats();

  @Override
  public boolean isZero() {
    synchronized (this) {
      return total.isEmpty();
    }
  }

  @Override
  public AccumulatorV2<Stats, Stats> copy() {
    StatsAccumulator c = new StatsAccumulator();
    synchronized (this) {
      c.total.merge(total);
    }
    return c;
  }

  @Override
  public void reset() {
    synchronized (this) {
      total = new Stats();
    }
  }

  @Override
  public void add(Stats v) {
    synchronized (this) {
      total.merge(v);
    }
  }

  @Override
  public void merge(AccumulatorV2<Stats, Stats> other) {
    Stats o = other.value();
    synchronized (this) {
      total.merge(o);
    }
  }

  @Override
  public Stats value() {
    synchronized (this) {
      return total;
    }
  }

  /** What was added since the last drain, and a fresh start. */
  Stats drain() {
    synchronized (this) {
      Stats out = total;
      total = new Stats();
      return out;
    }
  }
}
