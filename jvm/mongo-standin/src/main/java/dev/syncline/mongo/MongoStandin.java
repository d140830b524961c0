package dev.syncline.mongo;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.ServerVersion;
import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.IndexKey;
import de.bwaldvogel.mongo.backend.KeyValue;
import de.bwaldvogel.mongo.backend.ArrayFilters;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.Utils;
import de.bwaldvogel.mongo.backend.ValueComparator;
import de.bwaldvogel.mongo.oplog.Oplog;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.h2.H2Collection;
import de.bwaldvogel.mongo.backend.h2.H2Database;
import de.bwaldvogel.mongo.bson.BsonRegularExpression;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.bson.ObjectId;
import de.bwaldvogel.mongo.exception.DuplicateKeyError;
import io.netty.channel.Channel;
import java.io.File;
import java.lang.reflect.Constructor;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;

/**
 * Runs mongo-java-server with its H2 MVStore backend on a chosen host, port and data file.
 *
 * <p>The library's own main classes bind only localhost:27017 and keep data in memory, which is
 * why the local stack needs this launcher. Prints {@code READY host:port} once listening; on
 * SIGTERM it stops listening and closes the store so everything written is on disk.
 */
public final class MongoStandin {

  /**
   * The newest version the library models (MongoDB 5.0 data model, wire version 8). Claiming a
   * higher wire version would make clients send commands the stand-in does not implement; the
   * Node side therefore pins the mongodb driver 6 (docs/decisions/0003).
   */
  static final MongoVersion ANNOUNCED_VERSION = ServerVersion.MONGO_5_0;

  /**
   * Network threads (netty event loops). The library runs each command on its connection's loop,
   * and netty's default of two loops per core made connections share one: a command waited for
   * whatever another connection had sent first, even to another collection. Connections take the
   * loops in turn, so this many opened one after another each get a loop of their own, close to
   * MongoDB's thread per connection; an idle loop is a thread blocked in epoll.
   */
  static final int DEFAULT_IO_THREADS = 32;

  private MongoStandin() {}

  public static void main(String[] args) throws Exception {
    String host = "127.0.0.1";
    int port = 27017;
    String dataFile = null;
    int cacheMb = defaultCacheMb();
    // A page changed several times between two checkpoints is written once, and random writes to
    // a large collection change nearly every page within one interval, so a checkpoint costs about
    // the same whatever its interval: 60 s (WiredTiger's own default) took the flat out after the
    // bench's offered loads from 0.81 to 0.99-1.0 of the committed changes (decisions 0093, 0095).
    // A restart after a kill replays at most that much log (or 192 MB).
    long checkpointMs = 60_000;
    int ioThreads = DEFAULT_IO_THREADS;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (i + 1 >= args.length) {
        fail("option " + arg + " needs a value");
      }
      switch (arg) {
        case "--host" -> host = args[++i];
        case "--port" -> port = parsePort(args[++i]);
        case "--data-file" -> dataFile = args[++i];
        case "--cache-mb" -> cacheMb = (int) Math.min(Integer.MAX_VALUE, parseAtLeast(arg, args[++i], 1, "megabytes"));
        case "--checkpoint-ms" -> checkpointMs = parseAtLeast(arg, args[++i], 10, "milliseconds");
        case "--io-threads" -> ioThreads = (int) Math.min(1024, parseAtLeast(arg, args[++i], 1, "threads"));
        default -> fail("unknown option " + arg);
      }
    }
    if (dataFile == null) {
      fail("--data-file F.mv is required (the H2 MVStore file that keeps the data)");
    }
    File parent = new File(dataFile).getAbsoluteFile().getParentFile();
    if (parent != null && !parent.isDirectory() && !parent.mkdirs()) {
      fail("cannot create the folder " + parent + " for the data file");
    }

    MVStore store;
    try {
      store = StoreFile.open(dataFile, cacheMb, unsavedBufferMb());
    } catch (RuntimeException e) {
      fail("cannot open the data file: " + rootMessage(e));
      return;
    }
    WriteLog log;
    try {
      log = WriteLog.open(store, dataFile, checkpointMs);
    } catch (RuntimeException e) {
      store.closeImmediately();
      fail("cannot replay the write log of " + dataFile + ": " + rootMessage(e));
      return;
    }
    LoggingH2Backend backend = new LoggingH2Backend(store, log);
    backend.version(ANNOUNCED_VERSION);
    MongoServer server = new MongoServer(backend);
    try {
      server.bind(new java.net.InetSocketAddress(host, port), 1, ioThreads);
    } catch (RuntimeException e) {
      backend.close();
      fail("cannot listen on " + host + ":" + port + " (" + rootMessage(e)
          + "); is the port taken? choose another one with --port");
    }

    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    log.close();
                    server.shutdown();
                  } finally {
                    try {
                      // shutdown() closes the backend too; closing again is harmless and makes
                      // the flush explicit should that change in a later library version.
                      backend.close();
                      if (store.isClosed()) {
                        // Closing committed everything; the log's records are in the file now.
                        log.discard();
                      }
                    } finally {
                      stopped.countDown();
                    }
                  }
                },
                "mongo-standin-shutdown"));

    log.startCommitter();
    System.out.println("READY " + host + ":" + port);
    System.out.flush();
    stopped.await();
  }

  /**
   * MVStore keeps its pages decoded in a cache of 16 MB by default; on a 1,000,000-document
   * collection most random reads and writes then missed it and decoded a whole page for one
   * document (docs/decisions/0050). The cache counts a page by {@link BsonStorage}'s estimate of
   * its decoded size on the heap. With the older format it counted serialized bytes, which
   * decoded take several times that: half the heap as cache then ran the bench's 1,000,000-row
   * load out of memory, and an eighth was the most that was safe. A quarter, now that the count
   * is of heap bytes, left the rest of the heap to the server's own work. A sixth since the
   * changed-page buffer below grew to a third (decision 0095): 1 GB of the stack's 6 GB, as before.
   */
  private static int defaultCacheMb() {
    long maxHeapMb = Runtime.getRuntime().maxMemory() / (1024 * 1024);
    return (int) Math.max(16, maxHeapMb / 6);
  }

  /**
   * How much changed-page memory MVStore may hold before it commits on its own, in the writing
   * thread. Its default (19 MB at most) made it commit several times a second under random
   * writes to a large collection, each commit re-encoding every page touched since the last one:
   * with the write log holding every acknowledged change, the store commits at the checkpoint
   * instead, and a page changed many times between two is written once (decision 0090). An eighth
   * of the heap was still too little: random writes to the bench's 1,000,000 documents changed
   * 512 MB of pages before the checkpoint came, so the commits were started by the server's own
   * threads in the middle of commands (decision 0093). With checkpoints every 60 s the bench's
   * 1,300,000 documents are all changed between two, about 1.3 GB by the estimate: a third of the
   * heap, at most 2 GB (decision 0095; half of a 4 GB heap ran into full collections of 5 s).
   */
  private static int unsavedBufferMb() {
    long maxHeapMb = Runtime.getRuntime().maxMemory() / (1024 * 1024);
    return (int) Math.max(19, Math.min(2048, maxHeapMb / 3));
  }

  /** A whole number of at least {@code min}, or the launcher stops naming the option and unit. */
  private static long parseAtLeast(String option, String value, long min, String unit) {
    try {
      long n = Long.parseLong(value);
      if (n >= min) {
        return n;
      }
    } catch (NumberFormatException ignored) {
      // reported below
    }
    fail(option + " must be a whole number of " + unit + " (" + min + " or more), got '" + value + "'");
    return -1;
  }

  private static int parsePort(String value) {
    try {
      int port = Integer.parseInt(value);
      if (port >= 0 && port <= 65535) {
        return port;
      }
    } catch (NumberFormatException ignored) {
      // reported below
    }
    fail("--port must be a number between 0 and 65535, got '" + value + "'");
    return -1;
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null) {
      t = t.getCause();
    }
    return t.getClass().getSimpleName() + ": " + t.getMessage();
  }

  private static void fail(String message) {
    System.err.println("mongo-standin: " + message);
    System.exit(2);
  }

  /**
   * Makes every acknowledged write durable before its reply: the command's changes are appended to
   * the write log ({@link WriteLog}), and commands that create, drop or rename collections or
   * indexes, which the log does not record, commit the MVStore as before. Without either, a SIGKILL
   * could drop writes that the client saw acknowledged (the store commits only at checkpoints), and
   * the pipeline's crash tests would blame the sink writer for the stand-in's loss. Bulk inserts are
   * logged too: with checkpoints a minute apart, committing after them cost more CPU than logging
   * them, in an initial load and in a backlog drain (decision 0107).
   */
  static final class LoggingH2Backend extends H2Backend {
    private static final Set<String> MAP_COMMANDS =
        Set.of("createindexes", "dropindexes", "drop", "dropdatabase", "create", "renamecollection");
    // Null while H2Backend's constructor opens the existing databases: their maps were all opened
    // by WriteLog.open already, so the store hands out those logged instances.
    private final WriteLog log;

    LoggingH2Backend(MVStore store, WriteLog log) {
      super(store);
      this.log = log;
    }

    @Override
    protected MongoDatabase openOrCreateDatabase(String databaseName) {
      return new IdServedDatabase(databaseName, getMvStore(), getCursorRegistry());
    }

    /** Opens its collections as {@link IdServedCollection}s; otherwise the library's H2 database. */
    final class IdServedDatabase extends H2Database {
      IdServedDatabase(String databaseName, MVStore store, CursorRegistry cursorRegistry) {
        super(databaseName, store, cursorRegistry);
      }

      // Called from H2Database's constructor (it opens the existing collections), before any
      // field of this class is set: the store comes from the enclosing backend. The maps have the
      // names H2Database gives them; StoreFile chose their types by those names when it converted
      // an older file.
      @Override
      protected MongoCollection<Object> openOrCreateCollection(String collectionName, CollectionOptions options) {
        String fullName = getFullCollectionNamespace(collectionName);
        MVStore store = getMvStore();
        @SuppressWarnings({"unchecked", "rawtypes"})
        MVMap<Object, Document> dataMap = (MVMap) StoreFile.openMap(store, "databases." + fullName, log);
        @SuppressWarnings({"unchecked", "rawtypes"})
        MVMap<String, Object> metaMap = (MVMap) StoreFile.openMap(store, "meta." + fullName, log);
        return new IdServedCollection(this, collectionName, options, dataMap, metaMap, cursorRegistry);
      }

      @Override
      protected Index<Object> openOrCreateUniqueIndex(
          String collectionName, String indexName, List<IndexKey> keys, boolean sparse) {
        MVMap<Object, Object> map =
            StoreFile.openMap(getMvStore(), getFullCollectionNamespace(collectionName) + "._index_" + indexName, log);
        try {
          // H2UniqueIndex's constructor is package-private; it is the library's own index, only
          // its map is opened here with the BSON key type.
          Constructor<?> c =
              Class.forName("de.bwaldvogel.mongo.backend.h2.H2UniqueIndex")
                  .getDeclaredConstructor(MVMap.class, String.class, List.class, boolean.class);
          c.setAccessible(true);
          @SuppressWarnings("unchecked")
          Index<Object> index = (Index<Object>) c.newInstance(map, indexName, keys, sparse);
          if (!sparse) {
            IdServedCollection.INDEX_MAPS.put(index, map);
          }
          return index;
        } catch (ReflectiveOperationException e) {
          throw new IllegalStateException("mongo-java-server's H2UniqueIndex changed: " + e, e);
        }
      }
    }

    @Override
    public Document handleCommand(Channel channel, String databaseName, String command, Document query) {
      String name = command.toLowerCase(Locale.ROOT);
      log.commandStarts(!MAP_COMMANDS.contains(name));
      Document result;
      try {
        result = super.handleCommand(channel, databaseName, command, query);
      } catch (RuntimeException e) {
        try {
          log.commandDone();
        } catch (RuntimeException f) {
          e.addSuppressed(f);
        }
        throw e;
      }
      log.commandDone();
      return result;
    }
  }

  /**
   * Lets the {@code _id} index serve every filter that pins {@code _id}, not only a filter on
   * {@code _id} alone.
   *
   * <p>The library asks each index whether it can answer the whole filter, and the {@code _id}
   * index says yes only when {@code _id} is the filter's sole field. The sink's version guard
   * {@code {_id: k, "_sync.v": {$lt: v}}} therefore scanned the whole collection for each write
   * (decision 0014). Here the index finds the candidates for the {@code _id} part and the rest of
   * the filter is matched against those documents only, which is what MongoDB's planner does.
   *
   * <p>For {@code {_id: {$in: [...]}}} the index lookups are exact already; matching each found
   * document against the list again cost O(n) per document, O(n²) per query (~0.2 ms per id at
   * 500 ids), so only the remaining conditions are matched.
   */
  static final class IdServedCollection extends H2Collection {
    /**
     * The map behind each unique index this backend opened that is not sparse (H2UniqueIndex keeps
     * its own private), so that an insert by a plain {@code _id} can use it ({@link #addDocument}).
     */
    static final Map<Index<?>, MVMap<Object, Object>> INDEX_MAPS =
        java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /** The document map, keyed by each document's own {@code _id} (H2Collection's position). */
    private final MVMap<Object, Document> data;

    /** False while the library's constructor runs ({@link #getDataSize}). */
    private final boolean opened;

    IdServedCollection(
        MongoDatabase database,
        String collectionName,
        CollectionOptions options,
        MVMap<Object, Document> dataMap,
        MVMap<String, Object> metaMap,
        CursorRegistry cursorRegistry) {
      super(database, collectionName, options, dataMap, metaMap, cursorRegistry);
      this.data = dataMap;
      this.opened = true;
    }

    /**
     * An insert into a collection whose only index is {@code _id}, of a document whose {@code _id}
     * is a plain value ({@link #plainId(Object)}), without the library's general path. That path works
     * out the index key three times through streams and looks it up twice (a check for every
     * index before the document is stored, and the same check again inside each index's add);
     * inserts were a fifth of the stand-in's samples in a sink drain (decision 0104). Here the key
     * is worked out once and looked up once; the error for a taken key and the order of the changes
     * (document, then index entry) are the library's. The document is stored with shared field
     * names ({@link FieldNames}).
     */
    @Override
    public synchronized void addDocument(Document document) {
      Object id = document.get("_id");
      Index<Object> index = soleIdIndex();
      MVMap<Object, Object> keys = index == null || !plainId(id) ? null : INDEX_MAPS.get(index);
      if (keys == null) {
        super.addDocument(document);
        return;
      }
      KeyValue given = new KeyValue(id);
      KeyValue key = given.normalized();
      if (keys.containsKey(key)) {
        throw new DuplicateKeyError(index, this, index.getKeys(), given);
      }
      Document previous = data.put(id, (Document) FieldNames.STORED.withSharedNames(document));
      if (previous != null) {
        // The index and the documents disagree; the library asserts the same.
        throw new IllegalStateException("Document with key '" + id + "' already existed in " + this);
      }
      keys.put(key, id);
    }

    /**
     * An {@code _id} whose index key is the value itself, normalized: no array (several keys), no
     * document (compared field by field), no null or missing. The sink's keys are these. H2Collection
     * stores each document under its {@code _id} only when that is the collection's id field.
     */
    private boolean plainId(Object id) {
      return (id instanceof Long || id instanceof Integer || id instanceof String || id instanceof ObjectId)
          && "_id".equals(getIdField());
    }

    /** The {@code _id} index when it is the collection's only index (sparse: see INDEX_MAPS). */
    private Index<Object> soleIdIndex() {
      return getIndexes().size() == 1 ? idIndex() : null;
    }

    @Override
    protected QueryResult queryDocuments(
        Document query,
        Document orderBy,
        int numberToSkip,
        int limit,
        int batchSize,
        Document fieldSelector) {
      Index<Object> idIndex = idIndex();
      if (idIndex == null || !query.containsKey("_id") || query.size() == 1 && !isPlainIn(query.get("_id"))) {
        // Nothing to gain: no _id index, no _id in the filter, or a filter on _id alone that is
        // not an $in (the library serves that from the index itself).
        return super.queryDocuments(query, orderBy, numberToSkip, limit, batchSize, fieldSelector);
      }
      Object id = query.get("_id");
      Document idQuery = new Document("_id", id);
      if (!servable(id) || !idIndex.canHandle(idQuery)) {
        return super.queryDocuments(query, orderBy, numberToSkip, limit, batchSize, fieldSelector);
      }
      Document rest = query;
      if (isPlainIn(id)) {
        rest = query.clone();
        rest.remove("_id");
      }
      Iterable<Object> positions = isPlainIn(id) ? inPositions((Collection<?>) ((Document) id).get("$in"), idIndex) : null;
      if (positions == null) {
        positions = idIndex.getPositions(idQuery);
      }
      return matchDocuments(rest, positions, orderBy, numberToSkip, limit, batchSize, fieldSelector);
    }

    /**
     * The documents an {@code _id $in} list of plain ids names, found in the documents themselves
     * (each is stored under its own {@code _id}), in the order and without the repeats of the
     * library's answer; null when a value is not a plain id, and the library answers.
     *
     * <p>The library sorts the whole list first (a tree set ordered by its general value
     * comparator), then normalizes and looks up every value in the index. The sink asks for 500
     * tombstones at a time before its creates and finds almost none: that sort was most of the
     * read (decision 0110). Here only what was found is sorted. A string or ObjectId equals no
     * other value, so a miss in the documents is a miss; a number may be stored as another number
     * type (5 and 5L are one key), so a miss asks the index for that value.
     */
    private List<Object> inPositions(Collection<?> values, Index<Object> idIndex) {
      List<Object> found = new java.util.ArrayList<>();
      for (Object v : values) {
        if (!plainId(v)) {
          return null;
        }
        if (data.containsKey(v)) {
          found.add(v);
        } else if (v instanceof Integer || v instanceof Long) {
          for (Object p : idIndex.getPositions(new Document("_id", v))) {
            found.add(p);
          }
        }
      }
      if (found.size() > 1) {
        Comparator<Object> order = ValueComparator.asc();
        found.sort(order);
        // Equal values (a repeat, or 5 beside 5L) name one document: keep it once.
        int kept = 1;
        for (int i = 1; i < found.size(); i++) {
          if (order.compare(found.get(kept - 1), found.get(i)) != 0) {
            found.set(kept++, found.get(i));
          }
        }
        found.subList(kept, found.size()).clear();
      }
      return found;
    }

    /**
     * A replacement of one document found by its {@code _id} (the sinks' guarded replace, Kafka
     * Connect's replace-by-id), without the library's general update path. That path deep-copies
     * the stored document, finds its position in the index a second time, and encodes the old and
     * the new document to BSON only to count the collection's data size; for the sink's
     * 9-field documents with a nested {@code _sync} that was about half of a replace's cost
     * (decision 0090). Anything else (operators, multi, array filters, several indexes, an upsert that
     * matches nothing, a replacement that names another {@code _id}) goes the library's way.
     */
    @Override
    public synchronized Document updateDocuments(
        Document selector, Document update, ArrayFilters arrayFilters, boolean isMulti, boolean isUpsert, Oplog oplog) {
      Object id = selector.get("_id");
      Index<Object> idIndex = soleIdIndex();
      if (idIndex == null
          || isMulti
          || !arrayFilters.isEmpty()
          || id == null
          || !servable(id)
          || isPlainIn(id)
          || hasOperator(update)) {
        return super.updateDocuments(selector, update, arrayFilters, isMulti, isUpsert, oplog);
      }
      // A document stored under this very _id is the one the index would name (the index is
      // unique and keys each document by its _id): one lookup instead of two for the common
      // case, a replace of a document that exists. Anything else, e.g. 5 asked for a document
      // stored under 5L, is found through the index.
      Object position = null;
      Document stored = plainId(id) ? data.get(id) : null;
      if (stored != null) {
        position = id;
      } else {
        for (Object p : idIndex.getPositions(new Document("_id", id))) {
          position = p;
        }
        stored = position == null ? null : getDocument(position);
      }
      Boolean guard = stored == null ? Boolean.FALSE : SinkGuard.matches(stored, selector);
      boolean matches = guard != null ? guard : documentMatchesQuery(stored, selector);
      if (!matches && isUpsert
          || matches && update.containsKey("_id") && !java.util.Objects.equals(update.get("_id"), stored.get("_id"))) {
        return super.updateDocuments(selector, update, arrayFilters, isMulti, isUpsert, oplog);
      }
      if (!matches) {
        oplog.handleUpdate(getFullName(), selector, update, List.of());
        return new Document("n", 0).append("nModified", 0);
      }
      Document replacement = new Document("_id", stored.get("_id"));
      for (Map.Entry<String, Object> e : update.entrySet()) {
        if (!e.getKey().equals("_id")) {
          replacement.put(FieldNames.STORED.shared(e.getKey()), FieldNames.STORED.withSharedNames(e.getValue()));
        }
      }
      Utils.validateFieldNames(replacement);
      boolean modified = !replacement.equals(stored);
      if (modified) {
        handleUpdate(position, stored, replacement);
      }
      oplog.handleUpdate(getFullName(), selector, update, modified ? List.of(stored.get("_id")) : List.of());
      return new Document("n", 1).append("nModified", modified ? 1 : 0);
    }

    /** Documents deleted per hold of the collection's lock by a deleteMany that scans. */
    static final int DELETE_SLICE = 500;

    /**
     * A deleteMany the {@code _id} index cannot serve (the sink's tombstone sweep on {@code
     * expireAt}, a TRUNCATE's {@code _sync.v} floor) scans the whole collection. The library did
     * that under the collection's lock, and every handler of a collection takes that lock, so each
     * read and write of the collection waited for the whole scan. Measured: 43–70 ms per 100,000
     * tombstones, once a minute (decision 0099). Here the scan reads the store's snapshot without
     * the lock, then the matches are deleted by {@code _id} in slices, each under the lock and
     * checked against the whole filter again. A document changed after the scan is decided by its
     * new state; one that starts to match after the scan is left, as if written after the delete.
     * MongoDB's own deleteMany is not atomic either: it yields between documents.
     */
    @Override
    public int deleteDocuments(Document selector, int limit, Oplog oplog) {
      if (limit != 0 || selector.containsKey("_id") || idIndex() == null) {
        return super.deleteDocuments(selector, limit, oplog);
      }
      List<Object> matched = new java.util.ArrayList<>();
      streamAllDocumentsWithPosition().forEach(
          d -> {
            if (documentMatchesQuery(d.getDocument(), selector)) {
              matched.add(d.getDocument().get("_id"));
            }
          });
      int deleted = 0;
      for (int i = 0; i < matched.size(); i += DELETE_SLICE) {
        Document slice = new Document("_id", new Document("$in", matched.subList(i, Math.min(matched.size(), i + DELETE_SLICE))));
        slice.putAll(selector);
        deleted += super.deleteDocuments(slice, 0, oplog);
      }
      return deleted;
    }

    /** A loop, not a stream: this runs for every replace. */
    private static boolean hasOperator(Document update) {
      for (String k : update.keySet()) {
        if (k.startsWith("$")) {
          return true;
        }
      }
      return false;
    }

    /**
     * The library keeps a running data size in the collection's meta map, and paid for it on every
     * write: a BSON encoding of each document inserted, of both versions of each one updated, and a
     * logged change of the meta map. Only {@code collStats} and {@code dbStats} read it, so it is
     * counted when they ask.
     */
    @Override
    protected boolean tracksDataSize() {
      return false;
    }

    /**
     * The library's constructor asks for the data size to log it at debug level, and the argument
     * is worked out whatever the level: counting it here read every document of every collection
     * when the stand-in opened its file. That took 7 s for the bench's 1.3 GB store and filled the
     * page cache with 2.2 million documents that nothing had asked for, which every marking cycle
     * of the collector then traced (decision 0110). Before the constructor has returned, the size
     * is 0.
     */
    @Override
    protected int getDataSize() {
      if (!opened) {
        return 0;
      }
      long size = streamAllDocumentsWithPosition().mapToLong(d -> BsonStorage.bsonSize(d.getDocument())).sum();
      return (int) Math.min(Integer.MAX_VALUE, size);
    }

    private Index<Object> idIndex() {
      for (Index<Object> index : getIndexes()) {
        if (index.isUnique() && index.getKeys().size() == 1 && "_id".equals(index.getKeys().get(0).getKey())) {
          return index;
        }
      }
      return null;
    }

    /** An equality on a value or a composite key document, or a plain $in list of such values. */
    private static boolean servable(Object id) {
      if (id == null || BsonRegularExpression.isRegularExpression(id)) {
        return false;
      }
      if (id instanceof Document doc) {
        if (isPlainIn(doc)) {
          return true;
        }
        return !hasOperator(doc);
      }
      return true;
    }

    private static boolean isPlainIn(Object id) {
      if (!(id instanceof Document doc) || doc.size() != 1 || !(doc.get("$in") instanceof Collection<?> values)) {
        return false;
      }
      for (Object v : values) {
        if (v == null || BsonRegularExpression.isRegularExpression(v)) {
          return false;
        }
        if (v instanceof Document d && hasOperator(d)) {
          return false;
        }
      }
      return true;
    }
  }
}
