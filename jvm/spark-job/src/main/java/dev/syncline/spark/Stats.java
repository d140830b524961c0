package dev.syncline.spark;

import java.io.Serializable;
import java.util.Map;
import java.util.TreeMap;

/** Counters of one batch for one table; partitions' counters are added up on the driver. */
public final class Stats implements Serializable {
  private static final long serialVersionUID = 1L;

  public final Map<String, Long> counts = new TreeMap<>();
  public final Map<String, Long> dlqRules = new TreeMap<>();

  void add(String name, long n) {
    if (n != 0) {
      counts.merge(name, n, Long::sum);
    }
  }

  void addRule(String rule) {
    dlqRules.merge(rule, 1L, Long::sum);
  }

  /**
   * Upper bounds (ms) of the commit → sink latency histogram. Counts per bucket add up across
   * partitions and batches, so `syncline status` can compute percentiles over any window.
   */
  static final long[] LATENCY_BUCKETS_MS = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000};

  /** Counts one event's latency into {@code latency.<sink>.le_<bound>} (or {@code .le_inf}). */
  void addLatency(String sink, long latencyMs) {
    for (long bound : LATENCY_BUCKETS_MS) {
      if (latencyMs <= bound) {
        add("latency." + sink + ".le_" + bound, 1);
        return;
      }
    }
    add("latency." + sink + ".le_inf", 1);
  }

  void merge(Stats other) {
    other.counts.forEach(this::add);
    other.dlqRules.forEach((k, v) -> dlqRules.merge(k, v, Long::sum));
  }

  boolean isEmpty() {
    return counts.isEmpty() && dlqRules.isEmpty();
  }

  long get(String name) {
    return counts.getOrDefault(name, 0L);
  }
}
