package dev.syncline.mongo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.h2.mvstore.DataUtils;
import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVMap.DecisionMaker;
import org.h2.mvstore.MVStore;
import org.h2.mvstore.WriteBuffer;
import org.h2.mvstore.type.DataType;

/**
 * The stand-in's write-ahead log: every change a write command makes to a map is appended to a
 * segment file beside the data file before the command is acknowledged, and the MVStore itself is
 * committed every 60 s by default instead of after every command (decisions 0089, 0090, 0093, 0095).
 *
 * <p>A commit writes every page a command dirtied, and with random keys that is one leaf page of
 * ~50 documents, its parents and the store's chunk table per document written: most of the
 * stand-in's CPU under small random bulks went there. A log record is the one key and value.
 * Durability is the same as a commit per command: both are a {@code write} to the file without
 * {@code fsync}, so an acknowledged write survives a kill of the process, not a power cut.
 *
 * <p>Records are the after-state of one key (put or remove), so replaying a segment on top of a
 * store that already holds some of it ends in the same state. A checkpoint moves to a new segment
 * first and commits after, so a segment is deleted only when a commit holds all of it. Changes the
 * log cannot express (maps created, dropped or renamed; writes by a decision it does not know)
 * are covered by a checkpoint at the end of the command, as before.
 */
final class WriteLog implements AutoCloseable {
  private static final byte DECLARE = 0;
  private static final byte PUT = 1;
  private static final byte REMOVE = 2;
  /** length (4) + CRC-32C (4) before each record's body. */
  private static final int HEADER = 8;
  /**
   * A segment larger than this asks for an early checkpoint, which bounds a restart's replay. At
   * the bench's 4,000 changes/s of documents of a few hundred bytes, the 64 MB of before would fill
   * within the 60 s interval and cut it short (decision 0095).
   */
  private static final long SEGMENT_LIMIT = 192L << 20;

  private final MVStore store;
  private final Path dataFile;
  private final long checkpointMillis;
  /** Taken around a map change and its record, so records of one key are in the order applied. */
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition wake = lock.newCondition();
  /** One checkpoint at a time (the committer, a DDL command, close). */
  private final Object checkpointing = new Object();

  private WriteBuffer pending = new WriteBuffer(64 << 10);
  private Segment segment;
  private boolean replaying = true;
  /** Set without the lock: see {@link LoggedMap#operate}. */
  private volatile boolean unlogged;
  /** False while this thread runs a command that is committed instead of logged. */
  private final ThreadLocal<Boolean> logging = ThreadLocal.withInitial(() -> Boolean.TRUE);
  private boolean checkpointRequested;
  private boolean closed;
  private IOException failure;
  private Thread committer;

  private WriteLog(MVStore store, Path dataFile, long checkpointMillis) {
    this.store = store;
    this.dataFile = dataFile;
    this.checkpointMillis = checkpointMillis;
  }

  /**
   * Opens the log of {@code dataFile}: replays the segments a kill left behind into the store,
   * commits them, and opens every map of the store as a logged map. The store must have been
   * opened on {@code dataFile}.
   */
  static WriteLog open(MVStore store, String dataFile, long checkpointMillis) {
    WriteLog log = new WriteLog(store, Path.of(dataFile).toAbsolutePath(), checkpointMillis);
    List<Path> segments = log.segments();
    long next = 1;
    for (int i = 0; i < segments.size(); i++) {
      log.replay(segments.get(i), i == segments.size() - 1);
      next = seqOf(segments.get(i)) + 1;
    }
    // Every map is opened here, through the logged builder: the MVStore hands out the instance it
    // already has, so a map opened later with another builder would otherwise not be logged.
    for (String name : store.getMapNames()) {
      if (!name.equals(StoreFile.FORMAT_MAP)) {
        StoreFile.openMap(store, name, log);
      }
    }
    if (!segments.isEmpty()) {
      store.commit();
      for (Path p : segments) {
        deleteQuietly(p);
      }
    }
    log.replaying = false;
    log.segment = log.newSegment(next);
    return log;
  }

  /**
   * Starts the thread that checkpoints every {@code checkpointMillis}. MVStore's own writer
   * commits once a second by default, which would undercut that interval; it is set to the same
   * delay and keeps running for its housekeeping (decision 0090).
   */
  void startCommitter() {
    store.setAutoCommitDelay((int) Math.min(Integer.MAX_VALUE, checkpointMillis));
    committer =
        new Thread(
            () -> {
              while (true) {
                lock.lock();
                try {
                  if (!checkpointRequested && !closed) {
                    wake.await(checkpointMillis, TimeUnit.MILLISECONDS);
                  }
                  if (closed) {
                    return;
                  }
                  checkpointRequested = false;
                } catch (InterruptedException e) {
                  return;
                } finally {
                  lock.unlock();
                }
                try {
                  checkpoint(false);
                } catch (RuntimeException e) {
                  // The records stay in their segment; the next checkpoint or a restart commits them.
                  System.err.println("mongo-standin: checkpoint failed: " + e);
                }
              }
            },
            "mongo-standin-checkpoint");
    committer.setDaemon(true);
    committer.start();
  }

  /**
   * Called before a command runs on this thread: with {@code logged} false its changes are not
   * recorded, and {@link #commandDone} ends it with a checkpoint.
   */
  void commandStarts(boolean logged) {
    logging.set(logged);
  }

  /**
   * Makes the records of the commands answered so far durable: called after each command, before
   * its reply. A command whose changes the log did not record gets a checkpoint instead.
   */
  void commandDone() {
    boolean needCheckpoint;
    boolean logged = logging.get();
    logging.set(Boolean.TRUE);
    lock.lock();
    try {
      throwIfFailed();
      writePending();
      needCheckpoint = unlogged || !logged;
      if (!needCheckpoint && segment.size > SEGMENT_LIMIT && !checkpointRequested) {
        checkpointRequested = true;
        wake.signal();
      }
    } finally {
      lock.unlock();
    }
    if (needCheckpoint) {
      checkpoint(true);
    }
  }

  /**
   * Commits the store and drops the records the commit holds. With {@code force} it commits even
   * when no record was written (a command changed maps, which the log does not record).
   */
  void checkpoint(boolean force) {
    synchronized (checkpointing) {
      Segment old;
      lock.lock();
      try {
        throwIfFailed();
        writePending();
        if (!force && segment.size == 0 && !unlogged) {
          return;
        }
        old = segment;
        segment = newSegment(old.seq + 1);
        unlogged = false;
      } finally {
        lock.unlock();
      }
      store.commit();
      old.closeAndDelete();
    }
  }

  /**
   * Stops the committer. The caller closes the store next (which commits), then calls
   * {@link #discard()}.
   */
  @Override
  public void close() {
    lock.lock();
    try {
      closed = true;
      wake.signal();
      writePending();
    } catch (RuntimeException e) {
      System.err.println("mongo-standin: " + e.getMessage());
    } finally {
      lock.unlock();
    }
    if (committer != null) {
      try {
        committer.join(10_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** After the store closed cleanly: its file holds everything, so the segments go. */
  void discard() {
    if (segment != null) {
      segment.closeAndDelete();
    }
    for (Path p : segments()) {
      deleteQuietly(p);
    }
  }

  // --- records -----------------------------------------------------------------------------

  private <K, V> void logPut(LoggedMap<K, V> map, K key, V value) {
    int start = beginRecord(map, PUT);
    map.getKeyType().write(pending, key);
    map.getValueType().write(pending, value);
    endRecord(start);
  }

  private <K, V> void logRemove(LoggedMap<K, V> map, K key) {
    int start = beginRecord(map, REMOVE);
    map.getKeyType().write(pending, key);
    endRecord(start);
  }

  /** Declares the map once per segment (its id in the file may differ after a replay), then the op. */
  private int beginRecord(LoggedMap<?, ?> map, byte op) {
    if (map.declaredIn != segment.seq) {
      int start = pending.position();
      byte[] name = map.getName().getBytes(StandardCharsets.UTF_8);
      pending.putInt(0).putInt(0).put(DECLARE).putVarInt(map.getId()).putVarInt(name.length).put(name);
      endRecord(start);
      map.declaredIn = segment.seq;
    }
    int start = pending.position();
    pending.putInt(0).putInt(0).put(op).putVarInt(map.getId());
    return start;
  }

  private void endRecord(int start) {
    int end = pending.position();
    ByteBuffer body = pending.getBuffer().duplicate();
    body.limit(end).position(start + HEADER);
    CRC32C crc = new CRC32C();
    crc.update(body);
    pending.putInt(start, end - start - HEADER);
    pending.putInt(start + 4, (int) crc.getValue());
  }

  private void writePending() {
    if (pending.position() == 0 || segment == null) {
      return;
    }
    ByteBuffer bytes = pending.getBuffer().duplicate();
    bytes.flip();
    try {
      segment.write(bytes);
    } catch (IOException e) {
      failure = e;
      throwIfFailed();
    } finally {
      pending.clear();
      if (pending.capacity() > (4 << 20)) {
        pending = new WriteBuffer(64 << 10);
      }
    }
  }

  private void throwIfFailed() {
    if (failure != null) {
      throw new UncheckedIOException(
          "the write log " + segment.path + " could not be written (" + failure.getMessage()
              + "); writes since the last checkpoint are not durable: restart the stand-in",
          failure);
    }
  }

  // --- replay ------------------------------------------------------------------------------

  private void replay(Path path, boolean last) {
    ByteBuffer buf;
    try {
      buf = ByteBuffer.wrap(Files.readAllBytes(path));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the write log " + path + ": " + e.getMessage(), e);
    }
    Map<Integer, MVMap<Object, Object>> maps = new HashMap<>();
    long records = 0;
    while (buf.remaining() > 0) {
      int at = buf.position();
      int length = buf.remaining() >= HEADER ? buf.getInt(at) : -1;
      if (length < 1 || buf.remaining() - HEADER < length || !crcMatches(buf, at, length)) {
        if (!last) {
          throw new IllegalStateException(
              "the write log " + path + " is damaged at byte " + at + " and later segments exist;"
                  + " move the *.wal-* files beside the data file away to start from the last"
                  + " checkpoint (the writes they hold are then lost)");
        }
        // A kill during the write of a record: that command was never acknowledged.
        System.err.printf(
            "mongo-standin: ignoring %d bytes at the end of %s (a write cut short by a kill)%n",
            buf.remaining(), path.getFileName());
        break;
      }
      ByteBuffer body = buf.duplicate().position(at + HEADER).limit(at + HEADER + length);
      buf.position(at + HEADER + length);
      byte op = body.get();
      int id = DataUtils.readVarInt(body);
      if (op == DECLARE) {
        byte[] name = new byte[DataUtils.readVarInt(body)];
        body.get(name);
        maps.put(id, StoreFile.openMap(store, new String(name, StandardCharsets.UTF_8), this));
        continue;
      }
      MVMap<Object, Object> map = maps.get(id);
      if (map == null) {
        throw new IllegalStateException("the write log " + path + " uses map " + id + " before declaring it");
      }
      Object key = map.getKeyType().read(body);
      if (op == PUT) {
        map.put(key, map.getValueType().read(body));
      } else if (op == REMOVE) {
        map.remove(key);
      } else {
        throw new IllegalStateException("the write log " + path + " has an unknown record type " + op);
      }
      records++;
    }
    System.err.printf("mongo-standin: replayed %,d changes from %s%n", records, path.getFileName());
  }

  private static boolean crcMatches(ByteBuffer buf, int at, int length) {
    CRC32C crc = new CRC32C();
    crc.update(buf.duplicate().position(at + HEADER).limit(at + HEADER + length));
    return (int) crc.getValue() == buf.getInt(at + 4);
  }

  // --- segments ----------------------------------------------------------------------------

  private Pattern segmentName() {
    return Pattern.compile(Pattern.quote(dataFile.getFileName().toString()) + "\\.wal-(\\d{12})");
  }

  private List<Path> segments() {
    Pattern p = segmentName();
    Path dir = dataFile.getParent();
    List<Path> out = new ArrayList<>();
    try (Stream<Path> files = Files.list(dir)) {
      files.filter(f -> p.matcher(f.getFileName().toString()).matches()).sorted().forEach(out::add);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
    }
    return out;
  }

  private static long seqOf(Path segment) {
    String name = segment.getFileName().toString();
    return Long.parseLong(name.substring(name.length() - 12));
  }

  private Segment newSegment(long seq) {
    Path path = dataFile.resolveSibling(dataFile.getFileName() + String.format(".wal-%012d", seq));
    try {
      return new Segment(
          seq,
          path,
          FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the write log " + path + ": " + e.getMessage(), e);
    }
  }

  private static void deleteQuietly(Path p) {
    try {
      Files.deleteIfExists(p);
    } catch (IOException e) {
      System.err.println("mongo-standin: cannot delete " + p + ": " + e.getMessage());
    }
  }

  private static final class Segment {
    final long seq;
    final Path path;
    final FileChannel channel;
    long size;

    Segment(long seq, Path path, FileChannel channel) {
      this.seq = seq;
      this.path = path;
      this.channel = channel;
    }

    void write(ByteBuffer bytes) throws IOException {
      while (bytes.hasRemaining()) {
        size += channel.write(bytes);
      }
    }

    void closeAndDelete() {
      try {
        channel.close();
      } catch (IOException ignored) {
        // deleted next
      }
      deleteQuietly(path);
    }
  }

  // --- logged maps -------------------------------------------------------------------------

  /** Builds {@link LoggedMap}s; MVStore calls it for maps it has not opened yet. */
  static final class Builder<K, V> extends MVMap.Builder<K, V> {
    private final WriteLog log;

    Builder(WriteLog log) {
      this.log = log;
    }

    @Override
    protected MVMap<K, V> create(Map<String, Object> config) {
      if (log == null) {
        throw new IllegalStateException("map " + config.get("name") + " opened before the write log");
      }
      if (config.get("type") != null) {
        throw new IllegalArgumentException("Incompatible map type " + config.get("type"));
      }
      config.put("singleWriter", false);
      return new LoggedMap<>(config, getKeyType(), getValueType(), log);
    }
  }

  /**
   * An MVMap whose changes are recorded in the log. Every write of MVMap goes through
   * {@code operate}; the four decisions the library's collections and indexes use (put, remove,
   * put if absent, replace) are logged by their outcome. Any other decision (MVStore's own page
   * rewrites during compaction, which change no value, or a future caller's) is not logged and
   * makes the end of the current command a checkpoint.
   */
  static final class LoggedMap<K, V> extends MVMap<K, V> {
    // MVMap's putIfAbsent and replace use these package-private decisions, and both methods are
    // final: the decisions are looked up once to be told apart from the others.
    private static final DecisionMaker<?> IF_ABSENT = decision("IF_ABSENT");
    private static final DecisionMaker<?> IF_PRESENT = decision("IF_PRESENT");
    /** Compaction's page rewrites, which move a page and change no value. */
    private static final Class<?> REWRITE = rewriteClass();

    private final WriteLog log;
    long declaredIn = -1;

    LoggedMap(Map<String, Object> config, DataType<K> keyType, DataType<V> valueType, WriteLog log) {
      super(config, keyType, valueType);
      this.log = log;
    }

    private static DecisionMaker<?> decision(String name) {
      try {
        Field f = DecisionMaker.class.getDeclaredField(name);
        f.setAccessible(true);
        return (DecisionMaker<?>) f.get(null);
      } catch (ReflectiveOperationException e) {
        throw new IllegalStateException("H2's MVMap.DecisionMaker." + name + " changed: " + e, e);
      }
    }

    private static Class<?> rewriteClass() {
      try {
        return Class.forName(MVMap.class.getName() + "$RewriteDecisionMaker");
      } catch (ClassNotFoundException e) {
        // Then a rewrite counts as unlogged: one extra checkpoint, nothing lost.
        return Void.class;
      }
    }

    @Override
    public V operate(K key, V value, DecisionMaker<? super V> decision) {
      boolean known =
          decision == DecisionMaker.PUT
              || decision == DecisionMaker.REMOVE
              || decision == IF_ABSENT
              || decision == IF_PRESENT;
      if (log.replaying || !log.logging.get()) {
        return super.operate(key, value, decision);
      }
      if (!known) {
        // Never under the log's lock: compaction rewrites pages holding the store's lock, and a
        // writer holding the log's lock may wait for the store's (MVStore's back-pressure commit).
        V previous = super.operate(key, value, decision);
        if (decision.getClass() != REWRITE) {
          log.unlogged = true;
        }
        return previous;
      }
      log.lock.lock();
      try {
        V previous = super.operate(key, value, decision);
        if (decision == DecisionMaker.PUT
            || decision == IF_ABSENT && previous == null
            || decision == IF_PRESENT && previous != null) {
          log.logPut(this, key, value);
        } else if (decision == DecisionMaker.REMOVE && previous != null) {
          log.logRemove(this, key);
        }
        return previous;
      } finally {
        log.lock.unlock();
      }
    }
  }
}
