package hypercache.compat;

import redis.clients.jedis.RedisProtocol;

/** PipelineTest over RESP3: the connection starts with HELLO 3. */
class PipelineResp3Test extends PipelineTest {
  @Override
  protected RedisProtocol protocol() {
    return RedisProtocol.RESP3;
  }
}
