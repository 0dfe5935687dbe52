package hypercache.compat;

import redis.clients.jedis.RedisProtocol;

/** TtlTest over RESP3: the connection starts with HELLO 3. */
class TtlResp3Test extends TtlTest {
  @Override
  protected RedisProtocol protocol() {
    return RedisProtocol.RESP3;
  }
}
