package hypercache.compat;

import redis.clients.jedis.RedisProtocol;

/** TransactionTest over RESP3: the connection starts with HELLO 3. */
class TransactionResp3Test extends TransactionTest {
  @Override
  protected RedisProtocol protocol() {
    return RedisProtocol.RESP3;
  }
}
