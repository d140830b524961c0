package dev.syncline.spark;

import java.io.Serializable;
import java.util.List;
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

  /** The counters' names per sink: {@code latency.<sink>.le_<bound>}, the last {@code .le_inf}. */
  private static final Map<String, String[]> LATENCY_NAMES = new java.util.concurrent.ConcurrentHashMap<>();

  private static String[] latencyNames(String sink) {
    return LATENCY_NAMES.computeIfAbsent(
        sink,
        s -> {
          String[] names = new String[LATENCY_BUCKETS_MS.length + 1];
          for (int i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
            names[i] = "latency." + s + ".le_" + LATENCY_BUCKETS_MS[i];
          }
          names[LATENCY_BUCKETS_MS.length] = "latency." + s + ".le_inf";
          return names;
        });
  }

  /**
   * Counts the latency of each event acknowledged at {@code doneMs} (commit time {@code
   * sourceTs}; null: none to count) into the sink's histogram, bucket by bucket: a counter per
   * event cost a name built and a sorted-map lookup for every event.
   */
  void addLatencies(String sink, long doneMs, List<Long> sourceTs) {
    long[] buckets = new long[LATENCY_BUCKETS_MS.length + 1];
    for (Long ts : sourceTs) {
      if (ts != null) {
        buckets[bucket(Math.max(0, doneMs - ts))]++;
      }
    }
    String[] names = latencyNames(sink);
    for (int i = 0; i < buckets.length; i++) {
      add(names[i], buckets[i]);
    }
  }

  /** The histogram bucket of one latency: the first bound it does not exceed, else the last. */
  static int bucket(long latencyMs) {
    for (int i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
      if (latencyMs <= LATENCY_BUCKETS_MS[i]) {
        return i;
      }
    }
    return LATENCY_BUCKETS_MS.length;
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
