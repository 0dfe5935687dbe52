"""HyperCache: a Redis-protocol server on trio with its own LSM store."""

__version__ = "0.1.0"

# The Redis version we answer as: clients gate features on it (redis-py, Jedis).
REDIS_COMPAT_VERSION = "7.0.0"
