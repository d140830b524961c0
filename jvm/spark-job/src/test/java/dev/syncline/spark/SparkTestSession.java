package dev.syncline.spark;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;

/** One local Spark session for all tests of the JVM run (starting one costs seconds). */
final class SparkTestSession {
  private static SparkSession spark;

  private SparkTestSession() {}

  static synchronized SparkSession get() {
    if (spark == null) {
      JobDescription job = new JobDescription();
      job.master = "local[2]";
      spark = SynclineJob.session(job, false);
    }
    return spark;
  }

  /** Raw Kafka-like rows (key, value, topic, partition, offset) for TablePlan. */
  static Dataset<Row> raw(List<String[]> keyValues, String topic) {
    List<Row> rows = new ArrayList<>();
    long offset = 0;
    for (String[] kv : keyValues) {
      rows.add(RowFactory.create(kv[0], kv[1], topic, 0, offset++));
    }
    SparkSession s = get();
    return s.createDataFrame(rows, TablePlan.emptyRaw(s).schema());
  }
}
