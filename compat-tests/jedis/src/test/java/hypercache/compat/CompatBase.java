package hypercache.compat;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInfo;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisClientConfig;
import redis.clients.jedis.RedisProtocol;

/**
 * Shared set-up: where the server is (system property or env HC_HOST / HC_PORT), one Jedis
 * connection per test, and a key prefix per test class and method so that tests never see
 * each other's keys (no FLUSHALL needed).
 *
 * <p>Subclasses run with Jedis's default protocol (RESP2); the *Resp3Test subclasses
 * override {@link #protocol()} and run the same tests over RESP3 (HELLO 3).
 */
abstract class CompatBase {
  protected Jedis jedis;
  private String prefix;

  static String host() {
    return setting("HC_HOST", "127.0.0.1");
  }

  static int port() {
    return Integer.parseInt(setting("HC_PORT", "6379"));
  }

  private static String setting(String name, String fallback) {
    String value = System.getProperty(name);
    if (value == null || value.isBlank()) {
      value = System.getenv(name);
    }
    return value == null || value.isBlank() ? fallback : value.trim();
  }

  /** null means Jedis's default (RESP2, no HELLO). */
  protected RedisProtocol protocol() {
    return null;
  }

  protected JedisClientConfig config(String clientName) {
    DefaultJedisClientConfig.Builder builder =
        DefaultJedisClientConfig.builder().timeoutMillis(10_000);
    if (protocol() != null) {
      builder.protocol(protocol());
    }
    if (clientName != null) {
      builder.clientName(clientName);
    }
    return builder.build();
  }

  protected Jedis open() {
    return new Jedis(new HostAndPort(host(), port()), config(null));
  }

  @BeforeEach
  void connect(TestInfo info) {
    String proto = protocol() == null ? "default" : protocol().name();
    prefix = "jedis:" + proto + ":" + getClass().getSimpleName() + ":"
        + info.getTestMethod().map(m -> m.getName()).orElse("?") + ":";
    jedis = open();
    List<String> leftovers = List.copyOf(jedis.keys(prefix + "*"));
    if (!leftovers.isEmpty()) {
      jedis.del(leftovers.toArray(new String[0]));
    }
  }

  @AfterEach
  void disconnect() {
    if (jedis != null) {
      jedis.close();
    }
  }

  /** A key private to this test. */
  protected String k(String name) {
    return prefix + name;
  }

  protected String prefix() {
    return prefix;
  }

  static void assertBetween(long low, long high, long actual, String what) {
    assertTrue(low <= actual && actual <= high,
        what + ": expected between " + low + " and " + high + ", got " + actual);
  }
}
