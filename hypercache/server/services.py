"""Long-lived background tasks owned by the server's nursery (trio's rule: none unowned)."""

from __future__ import annotations

import logging

import trio

from hypercache.commands.context import ServerState

log = logging.getLogger("hypercache.server")

# Keys deleted per pass of the active expiry cycle: bounds the time one pass holds the loop.
EXPIRE_KEYS_PER_PASS = 2000


async def active_expiry(state: ServerState) -> None:
    """Delete expired keys that nobody reads (Redis's activeExpireCycle), `hz` times a second.

    When a pass hits its budget, run the next one at once (after letting clients in)."""
    while True:
        removed = state.keyspace.expire_cycle(EXPIRE_KEYS_PER_PASS)
        if removed >= EXPIRE_KEYS_PER_PASS:
            await trio.sleep(0)
        else:
            await trio.sleep(1 / max(1, state.config.hz))


async def idle_client_reaper(state: ServerState) -> None:
    """Close clients idle longer than `timeout` seconds (0 = never), as Redis's `timeout`."""
    import time

    while True:
        await trio.sleep(1)
        limit = state.config.timeout
        if limit <= 0:
            continue
        now = time.monotonic()
        for ctx in list(state.clients.values()):
            if now - ctx.last_interaction > limit and ctx.multi is None:
                ctx.kill()
