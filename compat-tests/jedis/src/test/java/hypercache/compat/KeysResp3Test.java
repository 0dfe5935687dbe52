package hypercache.compat;

import redis.clients.jedis.RedisProtocol;

/** KeysTest over RESP3: the connection starts with HELLO 3. */
class KeysResp3Test extends KeysTest {
  @Override
  protected RedisProtocol protocol() {
    return RedisProtocol.RESP3;
  }
}
