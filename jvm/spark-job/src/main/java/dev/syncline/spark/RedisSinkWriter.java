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

  RedisSinkWriter(String url) {
    this.pool = POOLS.computeIfAbsent(url, u -> new JedisPool(URI.create(u)));
  }

  /** One row's write: keys and arguments of the script. */
  record Write(String dataKey, List<String> args) {}

  /** Returns how many writes were applied; the rest were stale. */
  long write(List<Write> writes) {
    if (writes.isEmpty()) {
      return 0;
    }
    try (Jedis jedis = pool.getResource()) {
      String sha = jedis.scriptLoad(SCRIPT);
      for (int attempt = 0; ; attempt++) {
        Pipeline p = jedis.pipelined();
        List<Response<Object>> answers = new ArrayList<>(writes.size());
        for (Write w : writes) {
          answers.add(p.evalsha(sha, List.of(w.dataKey(), SinkValues.tombstoneKey(w.dataKey())), w.args()));
        }
        p.sync();
        long applied = 0;
        boolean noScript = false;
        for (Response<Object> r : answers) {
          try {
            Object v = r.get();
            if (v instanceof Long l && l == 1L) {
              applied++;
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
          return applied;
        }
        sha = jedis.scriptLoad(SCRIPT);
      }
    }
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
