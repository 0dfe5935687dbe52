"""Command handlers. Importing this package registers every command in the table."""

from hypercache.commands import (  # noqa: F401  (imported for their registrations)
    bloom,
    clients,
    config_cmd,
    connection,
    cuckoo,
    introspection,
    keys,
    latency,
    monitor,
    persistence,
    server,
    slowlog,
    strings,
    transactions,
)
