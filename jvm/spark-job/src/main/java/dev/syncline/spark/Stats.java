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

  void merge(Stats other) {
    other.counts.forEach(this::add);
    other.dlqRules.forEach((k, v) -> dlqRules.merge(k, v, Long::sum));
  }

  long get(String name) {
    return counts.getOrDefault(name, 0L);
  }
}
