package dev.syncline.bench;

import com.mongodb.client.model.DeleteOneModel;
import com.mongodb.client.model.ReplaceOneModel;
import com.mongodb.client.model.ReplaceOptions;
import com.mongodb.client.model.WriteModel;
import com.mongodb.kafka.connect.sink.MongoSinkTopicConfig;
import com.mongodb.kafka.connect.sink.cdc.CdcHandler;
import com.mongodb.kafka.connect.sink.converter.SinkDocument;
import java.util.Optional;
import org.apache.kafka.connect.errors.DataException;
import org.bson.BsonDocument;
import org.bson.BsonValue;

/**
 * The MongoDB sink connector's CDC handler for syncline's change event, used only by the
 * benchmark baseline (bench/connect-baseline.ts).
 *
 * <p>The connector's own Debezium handler (RdbmsHandler) does the same writes, replace with
 * upsert on {@code c}/{@code r}/{@code u} and delete on {@code d}, but always makes the key
 * document the {@code _id} ({@code {_id: {k: 1}}}). Two reasons not to use it here: syncline
 * writes a single-column key as the plain value ({@code {_id: 1}}), so the documents would not be
 * comparable, and upserts that create documents with a document {@code _id} corrupt the MongoDB
 * stand-in's {@code _id} index (docs/decisions/0005), which fails the connector's bulk writes with
 * E11000. A composite key stays a document, as in syncline. No version guard: that is how the
 * connector applies CDC events.
 */
public final class SynclineEnvelopeHandler extends CdcHandler {
  private static final ReplaceOptions UPSERT = new ReplaceOptions().upsert(true);

  public SynclineEnvelopeHandler(MongoSinkTopicConfig config) {
    super(config);
  }

  @Override
  public Optional<WriteModel<BsonDocument>> handle(SinkDocument doc) {
    BsonDocument key =
        doc.getKeyDoc().orElseThrow(() -> new DataException("a change event needs its key"));
    BsonDocument value = doc.getValueDoc().orElse(null);
    if (value == null || value.isEmpty()) {
      return Optional.empty();
    }
    BsonValue id = key.size() == 1 ? key.values().iterator().next() : key;
    BsonDocument filter = new BsonDocument("_id", id);
    String op = value.getString("op").getValue();
    if (op.equals("d")) {
      return Optional.of(new DeleteOneModel<>(filter));
    }
    if (!value.isDocument("after")) {
      throw new DataException("a '" + op + "' event needs an 'after' row image");
    }
    BsonDocument replacement = new BsonDocument("_id", id);
    value.getDocument("after").forEach(replacement::put);
    replacement.put("_id", id);
    return Optional.of(new ReplaceOneModel<>(filter, replacement, UPSERT));
  }
}
