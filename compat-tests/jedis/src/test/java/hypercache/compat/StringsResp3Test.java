package hypercache.compat;

import redis.clients.jedis.RedisProtocol;

/** StringsTest over RESP3: the connection starts with HELLO 3. */
class StringsResp3Test extends StringsTest {
  @Override
  protected RedisProtocol protocol() {
    return RedisProtocol.RESP3;
  }
}
