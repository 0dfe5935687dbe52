package hypercache.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisPool;
import redis.clients.jedis.JedisPoolConfig;
import redis.clients.jedis.exceptions.JedisDataException;

/** PING, ECHO, client names, INFO, unknown commands, a JedisPool shared by threads. */
class ConnectionTest extends CompatBase {

  @Test
  void pingAndEcho() {
    assertEquals("PONG", jedis.ping());
    assertEquals("hello", jedis.ping("hello"));
    assertEquals("hi there", jedis.echo("hi there"));
  }

  @Test
  void clientName() {
    assertEquals("OK", jedis.clientSetname("jedis-app"));
    assertEquals("jedis-app", jedis.clientGetname());
    try (Jedis named = new Jedis(new HostAndPort(host(), port()), config("named-on-connect"))) {
      assertEquals("named-on-connect", named.clientGetname());
    }
  }

  @Test
  void info() {
    String all = jedis.info();
    assertTrue(all.contains("redis_version:"), "INFO lacks redis_version");
    assertTrue(all.contains("# Server"), "INFO lacks the # Server section");
    String server = jedis.info("server");
    assertTrue(server.contains("tcp_port:" + port()), "INFO server lacks tcp_port:" + port());
    jedis.set(k("a"), "1");
    assertTrue(jedis.info("keyspace").contains("db0:keys="), "INFO keyspace lacks db0:keys=");
  }

  @Test
  void configGet() {
    java.util.Map<String, String> got = jedis.configGet("maxmemory");
    assertTrue(got.containsKey("maxmemory"), "CONFIG GET maxmemory -> " + got);
  }

  @Test
  void unknownCommand() {
    JedisDataException err = assertThrows(JedisDataException.class,
        () -> jedis.sendCommand(() -> "NOSUCHCMD".getBytes(), "x"));
    assertTrue(err.getMessage().startsWith("ERR unknown command 'NOSUCHCMD'"), err.getMessage());
    assertEquals("PONG", jedis.ping());
  }

  @Test
  void poolSharedByThreads() throws Exception {
    JedisPoolConfig poolConfig = new JedisPoolConfig();
    poolConfig.setMaxTotal(6);
    try (JedisPool pool = new JedisPool(poolConfig, new HostAndPort(host(), port()), config(null))) {
      ExecutorService threads = Executors.newFixedThreadPool(6);
      List<Future<?>> futures = new ArrayList<>();
      for (int t = 0; t < 6; t++) {
        final int n = t;
        futures.add(threads.submit(() -> {
          for (int i = 0; i < 100; i++) {
            try (Jedis j = pool.getResource()) {
              j.set(k(n + ":" + i), n + "-" + i);
              assertEquals(n + "-" + i, j.get(k(n + ":" + i)));
              j.incr(k("total"));
            }
          }
          return null;
        }));
      }
      for (Future<?> f : futures) {
        f.get(60, TimeUnit.SECONDS);
      }
      threads.shutdown();
    }
    assertEquals("600", jedis.get(k("total")));
  }
}
