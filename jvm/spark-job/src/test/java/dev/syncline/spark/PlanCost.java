package dev.syncline.spark;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.syncline.spark.JobDescription.Table;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;

/**
 * The rate of one table's plan alone (parse, type, check, transform; no Kafka, no sinks) over
 * copies of a golden event with growing seqs, read through Rows as the writers read them. Run by
 * bench/plan-cost.ts; prints one JSON line per golden event.
 */
public final class PlanCost {
  private PlanCost() {}

  public static void main(String[] args) throws Exception {
    int events = Integer.parseInt(args[0]);
    int rounds = Integer.parseInt(args[1]);
    for (String name : Arrays.copyOfRange(args, 2, args.length)) {
      Golden.Event e = Golden.event(name);
      Table t = Golden.table(e.topic().substring(e.topic().lastIndexOf('.') + 1));
      List<String[]> copies = new ArrayList<>();
      for (int i = 0; i < events; i++) {
        ObjectNode v = (ObjectNode) e.valueNode().deepCopy();
        ((ObjectNode) v.get("source")).put("seq", String.valueOf(1000 + i));
        copies.add(new String[] {e.key(), Golden.JSON.writeValueAsString(v)});
      }
      // Two partitions held in memory, as two Kafka partitions' tasks would see them.
      Dataset<Row> raw = SparkTestSession.raw(copies, e.topic()).repartition(2).cache();
      raw.count();
      Dataset<Row> out = TablePlan.plan(raw, t).out();
      List<Long> rates = new ArrayList<>();
      for (int round = 0; round < rounds; round++) {
        long started = System.nanoTime();
        long rows =
            out.mapPartitions(
                    (MapPartitionsFunction<Row, Long>)
                        it -> {
                          long n = 0;
                          while (it.hasNext()) {
                            n += it.next().getAs(TablePlan.KIND) == null ? 0 : 1;
                          }
                          return List.of(n).iterator();
                        },
                    Encoders.LONG())
                .collectAsList()
                .stream()
                .mapToLong(Long::longValue)
                .sum();
        rates.add(rows * 1_000_000_000L / Math.max(1, System.nanoTime() - started));
      }
      raw.unpersist();
      System.out.println(
          "{\"event\":\"" + name + "\",\"columns\":" + t.columns.size() + ",\"events\":" + events
              + ",\"eventsPerSecondByRound\":" + rates + "}");
    }
    System.exit(0);
  }
}
