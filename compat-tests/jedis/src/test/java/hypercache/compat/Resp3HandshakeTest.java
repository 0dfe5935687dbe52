package hypercache.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.RedisProtocol;

/** A RESP3 connection as Jedis sets it up; RESP3 nulls and doubles come back as Java values. */
class Resp3HandshakeTest extends CompatBase {
  @Override
  protected RedisProtocol protocol() {
    return RedisProtocol.RESP3;
  }

  @Test
  void resp3Connection() {
    assertEquals(RedisProtocol.RESP3, jedis.getConnection().getRedisProtocol());
    assertEquals("PONG", jedis.ping());
    assertNull(jedis.get(k("missing")));
    assertEquals(Arrays.asList(null, null), jedis.mget(k("m1"), k("m2")));
    assertEquals(2.5, jedis.incrByFloat(k("f"), 2.5), 1e-9);
  }
}
