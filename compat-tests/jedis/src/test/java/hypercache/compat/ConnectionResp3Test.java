package hypercache.compat;

import redis.clients.jedis.RedisProtocol;

/** ConnectionTest over RESP3: the connection starts with HELLO 3. */
class ConnectionResp3Test extends ConnectionTest {
  @Override
  protected RedisProtocol protocol() {
    return RedisProtocol.RESP3;
  }
}
