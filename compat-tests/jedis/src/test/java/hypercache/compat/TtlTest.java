package hypercache.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;
import redis.clients.jedis.args.ExpiryOption;
import redis.clients.jedis.params.SetParams;

/** Keys with a TTL really go away, and the TTL rules of Redis hold. */
class TtlTest extends CompatBase {

  @Test
  void keysExpire() throws InterruptedException {
    jedis.set(k("a"), "v");
    jedis.pexpire(k("a"), 200);
    jedis.set(k("b"), "v", SetParams.setParams().px(200));
    jedis.psetex(k("c"), 200, "v");
    jedis.set(k("keep"), "v");
    Thread.sleep(450);
    assertNull(jedis.get(k("a")));
    assertEquals(0L, jedis.exists(k("a"), k("b"), k("c")));
    assertEquals(-2L, jedis.ttl(k("b")));
    assertEquals("v", jedis.get(k("keep")));
  }

  @Test
  void overwriteClearsTtlButIncrKeepsIt() {
    jedis.setex(k("a"), 100, "1");
    assertEquals(2L, jedis.incr(k("a")));
    assertBetween(98, 100, jedis.ttl(k("a")), "INCR keeps the ttl");
    jedis.append(k("a"), "0");
    assertBetween(98, 100, jedis.ttl(k("a")), "APPEND keeps the ttl");
    jedis.set(k("a"), "x");
    assertEquals(-1L, jedis.ttl(k("a")), "SET clears the ttl");
  }

  @Test
  void nonPositiveExpireDeletes() {
    jedis.set(k("a"), "v");
    assertEquals(1L, jedis.expire(k("a"), -1));
    assertFalse(jedis.exists(k("a")));
    jedis.set(k("b"), "v");
    assertEquals(1L, jedis.pexpire(k("b"), 0));
    assertFalse(jedis.exists(k("b")));
  }

  @Test
  void expireOptions() {
    jedis.set(k("a"), "v");
    assertEquals(0L, jedis.expire(k("a"), 100, ExpiryOption.XX), "XX without a ttl");
    assertEquals(1L, jedis.expire(k("a"), 100, ExpiryOption.NX), "NX without a ttl");
    assertEquals(0L, jedis.expire(k("a"), 200, ExpiryOption.NX), "NX with a ttl");
    assertEquals(0L, jedis.expire(k("a"), 50, ExpiryOption.GT), "GT with a smaller ttl");
    assertEquals(1L, jedis.expire(k("a"), 200, ExpiryOption.GT), "GT with a larger ttl");
    assertEquals(1L, jedis.expire(k("a"), 50, ExpiryOption.LT), "LT with a smaller ttl");
    assertBetween(49, 50, jedis.ttl(k("a")), "ttl after the option dance");
  }
}
