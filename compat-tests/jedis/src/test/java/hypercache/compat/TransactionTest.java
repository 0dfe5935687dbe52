package hypercache.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.Response;
import redis.clients.jedis.Transaction;
import redis.clients.jedis.exceptions.JedisDataException;

/** MULTI/EXEC, DISCARD and WATCH as Jedis users write them. */
class TransactionTest extends CompatBase {

  /** An aborted EXEC: Jedis maps the null reply to null (an empty list is accepted too). */
  static void assertAborted(List<Object> result) {
    assertTrue(result == null || result.isEmpty(), "EXEC should have been aborted, got " + result);
  }

  @Test
  void multiExec() {
    Transaction t = jedis.multi();
    Response<String> set = t.set(k("a"), "1");
    Response<Long> incr = t.incr(k("a"));
    Response<String> get = t.get(k("a"));
    t.mset(k("b"), "x", k("c"), "y");
    t.mget(k("b"), k("c"), k("missing"));
    List<Object> result = t.exec();
    assertEquals(
        Arrays.asList("OK", 2L, "2", "OK", Arrays.asList("x", "y", null)), result);
    assertEquals("OK", set.get());
    assertEquals(2L, incr.get());
    assertEquals("2", get.get());
  }

  @Test
  void runtimeErrorInsideExec() {
    jedis.set(k("s"), "abc");
    Transaction t = jedis.multi();
    t.incr(k("s"));
    t.set(k("after"), "1");
    List<Object> result = t.exec();
    assertEquals(2, result.size());
    assertInstanceOf(JedisDataException.class, result.get(0));
    assertEquals("OK", result.get(1));
    assertEquals("1", jedis.get(k("after")), "commands after a failing one still run");
  }

  @Test
  void discard() {
    jedis.set(k("a"), "1");
    Transaction t = jedis.multi();
    t.set(k("a"), "2");
    t.incr(k("b"));
    assertEquals("OK", t.discard());
    assertEquals("1", jedis.get(k("a")));
    assertFalse(jedis.exists(k("b")));
    assertEquals("PONG", jedis.ping(), "connection usable after DISCARD");
  }

  @Test
  void watchWithoutChangeCommits() {
    jedis.set(k("a"), "1");
    assertEquals("OK", jedis.watch(k("a")));
    Transaction t = jedis.multi();
    t.set(k("a"), "2");
    List<Object> result = t.exec();
    assertEquals(List.of("OK"), result);
    assertEquals("2", jedis.get(k("a")));
  }

  @Test
  void watchWithConcurrentChangeAborts() {
    jedis.set(k("a"), "1");
    jedis.watch(k("a"));
    try (Jedis other = open()) {
      other.set(k("a"), "changed");
    }
    Transaction t = jedis.multi();
    t.set(k("a"), "mine");
    assertAborted(t.exec());
    assertEquals("changed", jedis.get(k("a")));
    // the connection is out of the transaction and no longer watching
    Transaction again = jedis.multi();
    again.set(k("a"), "second");
    assertEquals(List.of("OK"), again.exec());
  }

  @Test
  void watchedKeyDeletedOrExpiredAborts() throws InterruptedException {
    jedis.set(k("a"), "1");
    jedis.set(k("b"), "1");
    jedis.pexpire(k("b"), 100);
    jedis.watch(k("a"));
    try (Jedis other = open()) {
      other.del(k("a"));
    }
    Transaction t = jedis.multi();
    t.set(k("x"), "1");
    assertAborted(t.exec());
    assertFalse(jedis.exists(k("x")));
  }

  @Test
  void unwatch() {
    jedis.set(k("a"), "1");
    jedis.watch(k("a"));
    try (Jedis other = open()) {
      other.set(k("a"), "2");
    }
    assertEquals("OK", jedis.unwatch());
    Transaction t = jedis.multi();
    t.set(k("a"), "3");
    assertEquals(List.of("OK"), t.exec());
  }

  @Test
  void optimisticRetryLoop() {
    jedis.set(k("counter"), "10");
    int attempts = 0;
    List<Object> result;
    do {
      attempts++;
      jedis.watch(k("counter"));
      long value = Long.parseLong(jedis.get(k("counter")));
      if (attempts == 1) {
        try (Jedis other = open()) {
          other.incrBy(k("counter"), 100); // a concurrent writer wins the first round
        }
      }
      Transaction t = jedis.multi();
      t.set(k("counter"), Long.toString(value + 1));
      result = t.exec();
    } while ((result == null || result.isEmpty()) && attempts < 5);
    assertEquals(2, attempts, "the first EXEC must abort, the second commit");
    assertNotNull(result);
    assertEquals("111", jedis.get(k("counter")));
  }

  @Test
  void queueTimeErrorAbortsExec() {
    Transaction t = jedis.multi();
    t.set(k("a"), "1");
    Response<Object> bad = t.sendCommand(redis.clients.jedis.Protocol.Command.GET, new String[0]);
    JedisDataException err = assertThrows(JedisDataException.class, t::exec);
    assertTrue(err.getMessage().startsWith("EXECABORT"), err.getMessage());
    assertFalse(jedis.exists(k("a")), "nothing ran");
    assertNotNull(bad);
  }
}
