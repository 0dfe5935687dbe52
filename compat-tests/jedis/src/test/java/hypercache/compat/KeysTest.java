package hypercache.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.exceptions.JedisDataException;
import redis.clients.jedis.params.ScanParams;
import redis.clients.jedis.resps.ScanResult;

/** Generic key commands (RESP2; KeysResp3Test runs them again over RESP3). */
class KeysTest extends CompatBase {

  @Test
  void delAndExists() {
    jedis.mset(k("a"), "1", k("b"), "2", k("c"), "3");
    assertTrue(jedis.exists(k("a")));
    assertFalse(jedis.exists(k("missing")));
    assertEquals(3L, jedis.exists(k("a"), k("b"), k("a"), k("missing")));
    assertEquals(2L, jedis.del(k("a"), k("b"), k("missing")));
    assertEquals(0L, jedis.del(k("a")));
    assertEquals(1L, jedis.exists(k("a"), k("c")));
  }

  @Test
  void type() {
    jedis.set(k("s"), "v");
    assertEquals("string", jedis.type(k("s")));
    assertEquals("none", jedis.type(k("missing")));
  }

  @Test
  void expireTtlPersist() {
    jedis.set(k("a"), "v");
    assertEquals(-1L, jedis.ttl(k("a")));
    assertEquals(-1L, jedis.pttl(k("a")));
    assertEquals(-2L, jedis.ttl(k("missing")));
    assertEquals(-2L, jedis.pttl(k("missing")));
    assertEquals(1L, jedis.expire(k("a"), 100));
    assertBetween(99, 100, jedis.ttl(k("a")), "ttl after EXPIRE");
    assertEquals(0L, jedis.expire(k("missing"), 100));
    assertEquals(1L, jedis.pexpire(k("a"), 50_000));
    assertBetween(49_000, 50_000, jedis.pttl(k("a")), "pttl after PEXPIRE");
    assertEquals(1L, jedis.persist(k("a")));
    assertEquals(0L, jedis.persist(k("a")));
    assertEquals(-1L, jedis.ttl(k("a")));
    long at = System.currentTimeMillis() / 1000 + 100;
    assertEquals(1L, jedis.expireAt(k("a"), at));
    assertBetween(98, 100, jedis.ttl(k("a")), "ttl after EXPIREAT");
  }

  @Test
  void renameAndRenamenx() {
    jedis.set(k("a"), "1");
    jedis.set(k("b"), "2");
    assertEquals("OK", jedis.rename(k("a"), k("a2")));
    assertFalse(jedis.exists(k("a")));
    assertEquals("1", jedis.get(k("a2")));
    jedis.expire(k("a2"), 100);
    assertEquals("OK", jedis.rename(k("a2"), k("a3")));
    assertBetween(98, 100, jedis.ttl(k("a3")), "RENAME keeps the ttl");
    JedisDataException err =
        assertThrows(JedisDataException.class, () -> jedis.rename(k("missing"), k("x")));
    assertEquals("ERR no such key", err.getMessage());
    assertEquals(0L, jedis.renamenx(k("a3"), k("b")));
    assertEquals("2", jedis.get(k("b")));
    assertEquals(1L, jedis.renamenx(k("a3"), k("c")));
    assertEquals("1", jedis.get(k("c")));
  }

  @Test
  void copy() {
    jedis.set(k("a"), "1");
    jedis.set(k("b"), "2");
    assertTrue(jedis.copy(k("a"), k("a2"), false));
    assertEquals("1", jedis.get(k("a2")));
    assertFalse(jedis.copy(k("b"), k("a2"), false));
    assertEquals("1", jedis.get(k("a2")));
    assertTrue(jedis.copy(k("b"), k("a2"), true));
    assertEquals("2", jedis.get(k("a2")));
    assertFalse(jedis.copy(k("missing"), k("x"), true));
  }

  @Test
  void keys() {
    jedis.mset(k("one"), "1", k("two"), "2", k("three"), "3");
    assertEquals(Set.of(k("one"), k("two"), k("three")), jedis.keys(prefix() + "*"));
    assertEquals(Set.of(k("two"), k("three")), jedis.keys(prefix() + "t*"));
    assertEquals(Set.of(k("one"), k("two")), jedis.keys(prefix() + "???"));
    assertEquals(Set.of(), jedis.keys(prefix() + "nomatch*"));
  }

  @Test
  void scanWithParams() {
    Set<String> expected = new TreeSet<>();
    for (int i = 0; i < 300; i++) {
      jedis.set(k("s" + i), Integer.toString(i));
      expected.add(k("s" + i));
    }
    Set<String> seen = new HashSet<>();
    ScanParams params = new ScanParams().match(prefix() + "s*").count(25);
    String cursor = ScanParams.SCAN_POINTER_START;
    int rounds = 0;
    do {
      ScanResult<String> page = jedis.scan(cursor, params);
      seen.addAll(page.getResult());
      cursor = page.getCursor();
      assertTrue(++rounds < 10_000, "SCAN never returned cursor 0");
    } while (!cursor.equals(ScanParams.SCAN_POINTER_START));
    assertEquals(expected, new TreeSet<>(seen));

    Set<String> typed = new HashSet<>();
    ScanParams narrow = new ScanParams().match(prefix() + "s1?").count(1000);
    cursor = ScanParams.SCAN_POINTER_START;
    do {
      ScanResult<String> page = jedis.scan(cursor, narrow, "string");
      typed.addAll(page.getResult());
      cursor = page.getCursor();
    } while (!cursor.equals(ScanParams.SCAN_POINTER_START));
    assertEquals(10, typed.size(), "SCAN MATCH s1? COUNT 1000 TYPE string, keys found");
  }

  @Test
  void dbSizeAndRandomKey() {
    long before = jedis.dbSize();
    jedis.mset(k("a"), "1", k("b"), "2");
    assertEquals(before + 2, jedis.dbSize());
    assertNotNull(jedis.randomKey());
    jedis.del(k("a"));
    assertEquals(before + 1, jedis.dbSize());
  }

  @Test
  void touchAndUnlink() {
    jedis.mset(k("a"), "1", k("b"), "2");
    assertEquals(2L, jedis.touch(k("a"), k("b"), k("missing")));
    assertEquals(1L, jedis.touch(k("a")));
    assertEquals(2L, jedis.unlink(k("a"), k("b"), k("missing")));
    assertEquals(0L, jedis.exists(k("a"), k("b")));
  }

  @Test
  void wrongArguments() {
    JedisDataException err = assertThrows(JedisDataException.class,
        () -> jedis.sendCommand(redis.clients.jedis.Protocol.Command.EXPIRE, k("a"), "soon"));
    assertEquals("ERR value is not an integer or out of range", err.getMessage());
    err = assertThrows(JedisDataException.class,
        () -> jedis.sendCommand(redis.clients.jedis.Protocol.Command.DEL, new String[0]));
    assertEquals("ERR wrong number of arguments for 'del' command", err.getMessage());
  }
}
