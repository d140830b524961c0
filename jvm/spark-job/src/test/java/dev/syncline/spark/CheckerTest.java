package dev.syncline.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syncline.spark.JobDescription.Rule;
import dev.syncline.spark.JobDescription.Table;
import java.util.LinkedHashMap;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Invalid expressions are rejected before the job runs, naming the table and the field. */
class CheckerTest {

  private static JobDescription jobWith(Table t) {
    JobDescription job = new JobDescription();
    job.tables = List.of(t);
    return job;
  }

  @Test
  void aValidTableHasNoProblems() throws Exception {
    Table t = Golden.table("order_lines");
    Rule r = new Rule();
    r.name = "positive";
    r.expr = "quantity > 0";
    t.validate = List.of(r);
    t.transform.fields = new LinkedHashMap<>();
    t.transform.fields.put("total", "quantity * price");
    t.transform.filter = "sku IS NOT NULL";
    assertEquals(List.of(), Checker.check(SparkTestSession.get(), jobWith(t)));
  }

  @Test
  void unknownColumnsSyntaxErrorsAndNonBooleanRulesAreReportedPerField() throws Exception {
    Table t = Golden.table("order_lines");
    Rule unknown = new Rule();
    unknown.name = "unknown_column";
    unknown.expr = "qty > 0";
    Rule notBool = new Rule();
    notBool.name = "not_boolean";
    notBool.expr = "quantity + 1";
    t.validate = List.of(unknown, notBool);
    t.transform.fields = new LinkedHashMap<>();
    t.transform.fields.put("broken", "concat(sku,");
    t.transform.filter = "price";
    t.transform.rename = new LinkedHashMap<>();
    t.transform.rename.put("nope", "x");
    List<Checker.Problem> problems = Checker.check(SparkTestSession.get(), jobWith(t));
    List<String> fields = problems.stream().map(Checker.Problem::field).sorted().toList();
    assertEquals(
        List.of("transform.fields.broken", "transform.filter", "transform.rename", "validate.not_boolean", "validate.unknown_column"),
        fields);
    for (Checker.Problem p : problems) {
      assertEquals("shop.order_lines", p.table());
      if (p.field().equals("validate.unknown_column")) {
        assertTrue(p.message().contains("qty"), p.message());
      }
      if (p.field().equals("validate.not_boolean")) {
        assertTrue(p.message().contains("must be a boolean"), p.message());
      }
    }
  }
}
