package dev.syncline.mongo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import de.bwaldvogel.mongo.bson.Document;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Documents stored with shared field names are equal to what came in and share each name once. */
class FieldNamesTest {
  /** A field name as the wire decoder makes it: a string of its own, not a constant. */
  private static String fresh(String name) {
    return new String(name.toCharArray());
  }

  private static Document decoded() {
    return new Document(fresh("_id"), 7L)
        .append(fresh("status"), "paid")
        .append(fresh("items"), List.of(new Document(fresh("sku"), "a")))
        .append(fresh("_sync"), new Document(fresh("v"), "12").append(fresh("src"), "s1"));
  }

  private static String nameAt(Document doc, int i) {
    return doc.keySet().stream().skip(i).findFirst().orElseThrow();
  }

  @Test
  void twoDocumentsDecodedApartShareTheirFieldNamesAtEveryDocumentDepthAndStayEqual() {
    Document a = decoded();
    Document b = decoded();
    assertNotSame(nameAt(a, 1), nameAt(b, 1));
    FieldNames names = new FieldNames(100);
    Document sa = (Document) names.withSharedNames(a);
    Document sb = (Document) names.withSharedNames(b);
    assertEquals(a, sa);
    assertEquals(List.copyOf(a.keySet()), List.copyOf(sa.keySet()), "field order kept");
    for (int i = 0; i < 4; i++) {
      assertSame(nameAt(sa, i), nameAt(sb, i));
    }
    assertSame(nameAt((Document) sa.get("_sync"), 1), nameAt((Document) sb.get("_sync"), 1));
    // Values are kept as they are, arrays included.
    assertSame(a.get("items"), sa.get("items"));
  }

  @Test
  void namesBeyondTheLimitAreKeptAsTheyComeWithoutGrowingTheTable() {
    FieldNames names = new FieldNames(3);
    String first = fresh("a");
    for (String n : List.of(first, fresh("b"), fresh("c"), fresh("d"))) {
      names.shared(n);
    }
    assertSame(first, names.shared(fresh("a")), "a name seen before the limit stays shared");
    String late = fresh("d");
    assertSame(late, names.shared(late), "a name first seen past the limit is kept as it comes");
    assertNotSame(late, names.shared(fresh("d")));
  }
}
