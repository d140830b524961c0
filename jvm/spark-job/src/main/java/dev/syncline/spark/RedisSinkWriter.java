package dev.syncline.spark;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisPool;
import redis.clients.jedis.Pipeline;
import redis.clients.jedis.Response;
import redis.clients.jedis.exceptions.JedisDataException;

/**
 * Version-guarded Redis writes: every row is one EVALSHA of redis-write.lua, pipelined per
 * chunk. When Redis has lost its script cache (restart, SCRIPT FLUSH) the answers say NOSCRIPT;
 * the script is loaded again and the whole chunk re-sent, which the compare-and-set makes safe.
 */
final class RedisSinkWriter {
  static final String SCRIPT = loadScript();
  private static final Map<String, JedisPool> POOLS = new ConcurrentHashMap<>();

  private final JedisPool pool;
  private final String url;

  RedisSinkWriter(String url) {
    this.url = url;
    this.pool = POOLS.computeIfAbsent(url, u -> new JedisPool(URI.create(u)));
  }

  /**
   * One row's write: the data key and the script's arguments; {@code tag} comes back with a
   * refusal. The arguments are bytes: most are the same for every row of a table and are encoded
   * once, where Jedis would encode every String argument of every call (a profile of the Redis
   * path had 5 % of the job's CPU there).
   */
  record Write(String dataKey, List<byte[]> args, Object tag) {}

  /** A write refused because the entry belongs to another source. */
  record Foreign(Write write, String otherSource) {}

  /** {@code unapplied}: the indexes of the writes that changed nothing (stale or another source's). */
  record Result(long applied, long stale, List<Foreign> foreign, java.util.BitSet unapplied) {}

  /** Raises a table's truncate floor to a version (never lowers it). */
  private static final String FLOOR_SCRIPT =
      "local function pad(s) return string.rep('0', 20 - #s) .. s end "
          + "local c = redis.call('GET', KEYS[1]) "
          + "if not c or pad(c) < pad(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) return 1 end return 0";

  /** One SCRIPT LOAD per Redis and JVM: a batch costs no extra round trip for it. */
  private static final Map<String, String> SHAS = new ConcurrentHashMap<>();

  private String sha(Jedis jedis, boolean reload) {
    if (reload) {
      SHAS.remove(url);
    }
    return SHAS.computeIfAbsent(url, u -> jedis.scriptLoad(SCRIPT));
  }

  Result write(List<Write> writes) {
    if (writes.isEmpty()) {
      return new Result(0, 0, List.of(), new java.util.BitSet());
    }
    try (Jedis jedis = pool.getResource()) {
      String sha = sha(jedis, false);
      for (int attempt = 0; ; attempt++) {
        Pipeline p = jedis.pipelined();
        List<Response<Object>> answers = new ArrayList<>(writes.size());
        byte[] shaBytes = sha.getBytes(StandardCharsets.US_ASCII);
        for (Write w : writes) {
          answers.add(p.evalsha(shaBytes, List.of(utf8(w.dataKey()), utf8(SinkValues.tombstoneKey(w.dataKey()))), w.args()));
        }
        p.sync();
        long applied = 0;
        long stale = 0;
        List<Foreign> foreign = new ArrayList<>();
        java.util.BitSet unapplied = new java.util.BitSet(answers.size());
        boolean noScript = false;
        for (int i = 0; i < answers.size(); i++) {
          try {
            Object v = answers.get(i).get();
            if (v instanceof Long l && l == 1L) {
              applied++;
            } else if (v instanceof List<?> list && list.size() == 2) {
              Object other = list.get(1);
              foreign.add(new Foreign(writes.get(i), other instanceof byte[] b ? new String(b, StandardCharsets.UTF_8) : String.valueOf(other)));
              unapplied.set(i);
            } else {
              stale++;
              unapplied.set(i);
            }
          } catch (JedisDataException e) {
            if (e.getMessage() != null && e.getMessage().startsWith("NOSCRIPT") && attempt < 3) {
              noScript = true;
            } else {
              throw e;
            }
          }
        }
        if (!noScript) {
          return new Result(applied, stale, foreign, unapplied);
        }
        sha = sha(jedis, true);
      }
    }
  }

  /** The key holding a table's truncate floor for one source; verify ignores syncline: keys. */
  static String floorKey(String sourceId, String pattern) {
    return "syncline:floor:" + sourceId + ":" + pattern;
  }

  /** The floor (version digits) or null. */
  String floor(String floorKey) {
    try (Jedis jedis = pool.getResource()) {
      return jedis.get(floorKey);
    }
  }

  /**
   * A TRUNCATE at version {@code seq}: raise the floor first (so no write older than it lands
   * from now on), then delete every entry of this source older than it among the keys matching
   * the table's pattern. Idempotent; a newer entry stays. Returns the entries deleted.
   */
  long truncate(String floorKey, String pattern, String format, String seq, String sourceId) {
    try (Jedis jedis = pool.getResource()) {
      jedis.eval(FLOOR_SCRIPT, List.of(floorKey), List.of(seq));
      String sha = sha(jedis, false);
      long deleted = 0;
      redis.clients.jedis.params.ScanParams params = new redis.clients.jedis.params.ScanParams().match(pattern).count(1000);
      String cursor = redis.clients.jedis.params.ScanParams.SCAN_POINTER_START;
      do {
        redis.clients.jedis.resps.ScanResult<String> page = jedis.scan(cursor, params);
        cursor = page.getCursor();
        List<Write> batch = new ArrayList<>();
        List<byte[]> args = List.of(utf8(format), utf8("trunc"), utf8(seq), utf8("0"), utf8("0"), utf8(sourceId), utf8(""));
        for (String key : page.getResult()) {
          batch.add(new Write(key, args, null));
        }
        deleted += write(batch).applied();
      } while (!cursor.equals(redis.clients.jedis.params.ScanParams.SCAN_POINTER_START));
      return deleted;
    }
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String loadScript() {
    try (InputStream in = RedisSinkWriter.class.getResourceAsStream("redis-write.lua")) {
      if (in == null) {
        throw new IllegalStateException("redis-write.lua is missing from the job jar");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }
}
