package hypercache.compat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.exceptions.JedisDataException;
import redis.clients.jedis.params.GetExParams;
import redis.clients.jedis.params.SetParams;

/** String commands (RESP2; StringsResp3Test runs them again over RESP3). */
class StringsTest extends CompatBase {

  @Test
  void setAndGet() {
    assertEquals("OK", jedis.set(k("a"), "v"));
    assertEquals("v", jedis.get(k("a")));
    assertNull(jedis.get(k("missing")));
    assertEquals("OK", jedis.set(k("a"), "w"));
    assertEquals("w", jedis.get(k("a")));
  }

  @Test
  void binaryValues() {
    byte[] key = k("bin").getBytes(StandardCharsets.UTF_8);
    byte[] value = {0, (byte) 0xff, '\r', '\n', 'x'};
    assertEquals("OK", jedis.set(key, value));
    assertArrayEquals(value, jedis.get(key));
    byte[] big = new byte[300_000];
    Arrays.fill(big, (byte) 'z');
    jedis.set(key, big);
    assertArrayEquals(big, jedis.get(key));
  }

  @Test
  void setWithParams() {
    jedis.set(k("a"), "1");
    assertNull(jedis.set(k("a"), "2", SetParams.setParams().nx()), "SET NX on an existing key");
    assertNull(jedis.set(k("b"), "2", SetParams.setParams().xx()), "SET XX on a missing key");
    assertEquals("OK", jedis.set(k("a"), "3", SetParams.setParams().xx()));
    assertEquals("OK", jedis.set(k("c"), "v", SetParams.setParams().nx().ex(100)));
    assertBetween(98, 100, jedis.ttl(k("c")), "ttl after SET NX EX");
    assertEquals("OK", jedis.set(k("c"), "w", SetParams.setParams().keepTtl()));
    assertBetween(98, 100, jedis.ttl(k("c")), "ttl after SET KEEPTTL");
    assertEquals("OK", jedis.set(k("d"), "v", SetParams.setParams().px(100_000)));
    assertBetween(98_000, 100_000, jedis.pttl(k("d")), "pttl after SET PX");
    assertEquals("3", jedis.setGet(k("a"), "4"));
    assertNull(jedis.setGet(k("missing"), "1"));
  }

  @Test
  void counters() {
    assertEquals(1L, jedis.incr(k("n")));
    assertEquals(42L, jedis.incrBy(k("n"), 41));
    assertEquals(41L, jedis.decr(k("n")));
    assertEquals(31L, jedis.decrBy(k("n"), 10));
    assertEquals(-1L, jedis.incrBy(k("neg"), -1));
    assertEquals("31", jedis.get(k("n")));
  }

  @Test
  void incrByFloat() {
    assertEquals(1.5, jedis.incrByFloat(k("f"), 1.5), 1e-9);
    assertEquals(3.75, jedis.incrByFloat(k("f"), 2.25), 1e-9);
    assertEquals("3.75", jedis.get(k("f")));
    jedis.set(k("i"), "10");
    assertEquals(10.5, jedis.incrByFloat(k("i"), 0.5), 1e-9);
  }

  @Test
  void appendAndStrlen() {
    assertEquals(2L, jedis.append(k("s"), "ab"));
    assertEquals(5L, jedis.append(k("s"), "cde"));
    assertEquals("abcde", jedis.get(k("s")));
    assertEquals(5L, jedis.strlen(k("s")));
    assertEquals(0L, jedis.strlen(k("missing")));
  }

  @Test
  void getrangeAndSetrange() {
    jedis.set(k("s"), "Hello World");
    assertEquals("Hello", jedis.getrange(k("s"), 0, 4));
    assertEquals("World", jedis.getrange(k("s"), -5, -1));
    assertEquals("", jedis.getrange(k("s"), 20, 30));
    assertEquals(11L, jedis.setrange(k("s"), 6, "Redis"));
    assertEquals("Hello Redis", jedis.get(k("s")));
    assertEquals(5L, jedis.setrange(k("pad"), 2, "abc"));
    assertEquals("\0\0abc", jedis.get(k("pad")));
  }

  @Test
  void msetAndMget() {
    assertEquals("OK", jedis.mset(k("a"), "1", k("b"), "2"));
    assertEquals(Arrays.asList("1", "2", null), jedis.mget(k("a"), k("b"), k("missing")));
    assertEquals(0L, jedis.msetnx(k("a"), "9", k("c"), "3"));
    assertFalse(jedis.exists(k("c")));
    assertEquals(1L, jedis.msetnx(k("c"), "3", k("d"), "4"));
    assertEquals(Arrays.asList("3", "4"), jedis.mget(k("c"), k("d")));
  }

  @Test
  void setnx() {
    assertEquals(1L, jedis.setnx(k("a"), "1"));
    assertEquals(0L, jedis.setnx(k("a"), "2"));
    assertEquals("1", jedis.get(k("a")));
  }

  @Test
  @SuppressWarnings("deprecation")
  void getSetAndGetDel() {
    assertNull(jedis.getSet(k("a"), "1"));
    assertEquals("1", jedis.getSet(k("a"), "2"));
    assertEquals("2", jedis.getDel(k("a")));
    assertFalse(jedis.exists(k("a")));
    assertNull(jedis.getDel(k("a")));
  }

  @Test
  void getExWithParams() {
    jedis.set(k("a"), "v");
    assertEquals("v", jedis.getEx(k("a"), GetExParams.getExParams().ex(100)));
    assertBetween(98, 100, jedis.ttl(k("a")), "ttl after GETEX EX");
    assertEquals("v", jedis.getEx(k("a"), GetExParams.getExParams().px(50_000)));
    assertBetween(48_000, 50_000, jedis.pttl(k("a")), "pttl after GETEX PX");
    long at = System.currentTimeMillis() / 1000 + 200;
    assertEquals("v", jedis.getEx(k("a"), GetExParams.getExParams().exAt(at)));
    assertBetween(198, 200, jedis.ttl(k("a")), "ttl after GETEX EXAT");
    assertEquals("v", jedis.getEx(k("a"), GetExParams.getExParams().persist()));
    assertEquals(-1L, jedis.ttl(k("a")));
    assertNull(jedis.getEx(k("missing"), GetExParams.getExParams().ex(10)));
  }

  @Test
  void setexAndPsetex() {
    assertEquals("OK", jedis.setex(k("a"), 100, "v"));
    assertEquals("v", jedis.get(k("a")));
    assertBetween(98, 100, jedis.ttl(k("a")), "ttl after SETEX");
    assertEquals("OK", jedis.psetex(k("b"), 100_000, "v"));
    assertBetween(98_000, 100_000, jedis.pttl(k("b")), "pttl after PSETEX");
    JedisDataException err =
        assertThrows(JedisDataException.class, () -> jedis.setex(k("c"), 0, "v"));
    assertTrue(err.getMessage().contains("invalid expire time"), err.getMessage());
  }

  @Test
  void errorReplies() {
    jedis.set(k("s"), "abc");
    JedisDataException err = assertThrows(JedisDataException.class, () -> jedis.incr(k("s")));
    assertEquals("ERR value is not an integer or out of range", err.getMessage());
    err = assertThrows(JedisDataException.class, () -> jedis.incrByFloat(k("s"), 1.0));
    assertEquals("ERR value is not a valid float", err.getMessage());
    jedis.set(k("big"), "9223372036854775807");
    err = assertThrows(JedisDataException.class, () -> jedis.incr(k("big")));
    assertEquals("ERR increment or decrement would overflow", err.getMessage());
    // the connection is still usable after error replies
    assertEquals("abc", jedis.get(k("s")));
  }
}
