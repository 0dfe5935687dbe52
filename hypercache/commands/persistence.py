"""Persistence commands and figures: SAVE, BGSAVE, and INFO's storage and filter sections.

A snapshot is a directory under `<dir>/snapshots/` that is itself a complete store
(hard-linked tables and sealed WAL files plus a manifest; storage/snapshot.py): a
backup is a copy of it, and restoring is putting it in place of `<dir>/store` while the
server is stopped (README, "Backups").
"""

from __future__ import annotations

import logging
import os
import time

from hypercache.commands.context import Context, ServerState
from hypercache.commands.table import command
from hypercache.errors import CommandError
from hypercache.resp.types import OK, Status
from hypercache.storage import StorageError

log = logging.getLogger("hypercache.server")

NO_STORE = "ERR persistence is off (appendonly no): there is nothing to save"


def snapshot(state: ServerState, durable: bool) -> str:
    """Write a snapshot of the store; returns its directory. CommandError if it cannot."""
    cold = state.keyspace.cold
    if cold is None:
        raise CommandError(NO_STORE)
    started = time.monotonic()
    name = time.strftime("snapshot-%Y%m%d-%H%M%S", time.gmtime()) + f"-{cold.storage.last_seq}"
    dest = os.path.join(state.config.dir, "snapshots", name)
    suffix = 1
    while os.path.exists(dest):  # two saves in one second with no write between
        suffix += 1
        dest = os.path.join(state.config.dir, "snapshots", f"{name}.{suffix}")
    try:
        info = cold.storage.snapshot(dest, durable=durable)
    except (OSError, StorageError) as err:
        state.save_status = "err"
        log.error("snapshot to %s failed: %s", dest, err)
        raise CommandError(f"ERR snapshot failed: {err}") from None
    state.lastsave = int(time.time())
    state.saves += 1
    state.save_status = "ok"
    state.last_save_seconds = time.monotonic() - started
    state.keyspace_version_at_save = state.keyspace.version
    log.info("DB saved on disk: %s (%d tables, %d WAL files, %d bytes)", info.path, info.tables,
             info.wal_files, info.bytes)
    return info.path


@command("save", 1, "admin noscript no-async-deny no-multi", group="server", summary="Synchronously save the dataset to disk", since="1.0.0", complexity="O(N) where N is the total number of keys in all databases", acl="admin slow dangerous")
def save(ctx: Context, args: list[bytes]) -> object:
    snapshot(ctx.server, durable=True)
    return OK


@command("bgsave", -1, "admin noscript no-async-deny", group="server", summary="Asynchronously save the dataset to disk", since="1.0.0", complexity="O(N) where N is the total number of keys in all databases", acl="admin slow dangerous")
def bgsave(ctx: Context, args: list[bytes]) -> object:
    if len(args) > 2 or (len(args) == 2 and args[1].lower() != b"schedule"):
        raise CommandError("ERR syntax error")
    # The links are made now; the sealed WAL files they share are fsynced by the WAL
    # syncer (a worker thread), so the loop never waits for that fsync.
    snapshot(ctx.server, durable=False)
    ctx.server.request_sync()
    return Status("Background saving started")


def storage_section(state: ServerState) -> list[str]:
    """INFO storage: the LSM store and the hot tier."""
    keyspace = state.keyspace
    lines = [
        f"storage_enabled:{int(keyspace.cold is not None)}",
        f"hot_keys:{keyspace.hot_keys}",
        f"hot_bytes:{keyspace.used_bytes}",
        f"hot_loaded_keys:{keyspace.loaded_keys}",
        f"hot_unloaded_keys:{keyspace.unloaded_keys}",
    ]
    if keyspace.cold is not None:
        for name, value in keyspace.cold.storage.stats().items():
            lines.append(f"storage_{name}:{value}")
    return lines


def filter_section(state: ServerState) -> list[str]:
    """INFO filter: the keyspace cuckoo filter (empty without a store)."""
    cold = state.keyspace.cold
    if cold is None:
        return []
    return [f"{name}:{value}" for name, value in cold.info().items()]
