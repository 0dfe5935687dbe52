package hypercache.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Pipeline;
import redis.clients.jedis.Response;
import redis.clients.jedis.exceptions.JedisDataException;

/** Pipelines: Response objects after sync(), syncAndReturnAll(), errors inside a pipeline. */
class PipelineTest extends CompatBase {

  @Test
  void responsesAfterSync() {
    Pipeline p = jedis.pipelined();
    Response<String> set = p.set(k("a"), "1");
    Response<Long> incr = p.incr(k("a"));
    Response<String> get = p.get(k("a"));
    Response<String> missing = p.get(k("missing"));
    Response<List<String>> mget = p.mget(k("a"), k("missing"));
    Response<Long> expire = p.expire(k("a"), 100);
    Response<Long> ttl = p.ttl(k("a"));
    Response<Long> del = p.del(k("a"));
    p.sync();
    assertEquals("OK", set.get());
    assertEquals(2L, incr.get());
    assertEquals("2", get.get());
    assertNull(missing.get());
    assertEquals(Arrays.asList("2", null), mget.get());
    assertEquals(1L, expire.get());
    assertEquals(100L, ttl.get());
    assertEquals(1L, del.get());
  }

  @Test
  void syncAndReturnAll() {
    Pipeline p = jedis.pipelined();
    p.set(k("a"), "1");
    p.incrBy(k("a"), 9);
    p.get(k("a"));
    p.exists(k("a"));
    p.del(k("a"));
    p.get(k("a"));
    assertEquals(Arrays.asList("OK", 10L, "10", true, 1L, null), p.syncAndReturnAll());
  }

  @Test
  void manyCommands() {
    Pipeline p = jedis.pipelined();
    for (int i = 0; i < 2000; i++) {
      p.set(k("n" + i), Integer.toString(i));
    }
    List<Response<String>> gets = new ArrayList<>();
    for (int i = 0; i < 2000; i++) {
      gets.add(p.get(k("n" + i)));
    }
    p.sync();
    for (int i = 0; i < 2000; i++) {
      assertEquals(Integer.toString(i), gets.get(i).get());
    }
  }

  @Test
  void errorInsidePipeline() {
    Pipeline p = jedis.pipelined();
    p.set(k("s"), "abc");
    Response<Long> bad = p.incr(k("s"));
    Response<String> after = p.get(k("s"));
    p.sync();
    JedisDataException err = assertThrows(JedisDataException.class, bad::get);
    assertEquals("ERR value is not an integer or out of range", err.getMessage());
    assertEquals("abc", after.get());

    Pipeline q = jedis.pipelined();
    q.incr(k("s"));
    q.get(k("s"));
    List<Object> all = q.syncAndReturnAll();
    assertInstanceOf(JedisDataException.class, all.get(0));
    assertEquals("abc", all.get(1));
  }
}
