"""Command handlers. Importing this package registers every command in the table."""

from hypercache.commands import (  # noqa: F401  (imported for their registrations)
    clients,
    config_cmd,
    connection,
    introspection,
    keys,
    persistence,
    server,
    strings,
    transactions,
)
