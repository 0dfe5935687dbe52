"""The admin ASGI app and the task that serves it (hypercorn's trio worker).

    GET /health   200 {"status": "ok", ...} while serving; 503 while the store is being
                  recovered ("loading") or refuses writes ("failing", e.g. a full disk):
                  readiness, and Docker's HEALTHCHECK
    GET /health/live  200 whenever the process answers: liveness
    GET /stats    INFO as JSON: {"server": {...}, "memory": {...}, ...}; ?section=a,b picks
    GET /metrics  Prometheus text exposition (admin/metrics.py)

Requests are answered on the event loop's thread, between command batches, from the
same state INFO reads; none of them touches the disk.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable
from urllib.parse import parse_qs

from prometheus_client.exposition import choose_encoder

from hypercache import __version__
from hypercache.admin.info import info_dict
from hypercache.admin.metrics import registry_for

if TYPE_CHECKING:
    from hypercache.commands.context import ServerState

log = logging.getLogger("hypercache.admin")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Response = tuple[int, bytes, bytes]  # status, content type, body

JSON = b"application/json"


def _json(status: int, body: object) -> Response:
    return status, JSON, json.dumps(body, ensure_ascii=False).encode() + b"\n"


class AdminApp:
    """An ASGI application over one server's state."""

    def __init__(self, state: "ServerState", persistence: object | None = None) -> None:
        self.state = state
        self.persistence = persistence  # for the WAL replay's progress while loading
        self.registry = registry_for(state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        route = self.ROUTES.get(path)
        extra: list[tuple[bytes, bytes]] = []
        if route is None:
            status, ctype, body = _json(404, {"error": f"no such endpoint: {path}",
                                              "endpoints": sorted(self.ROUTES)})
        elif method not in ("GET", "HEAD"):
            status, ctype, body = _json(405, {"error": f"method {method} not allowed"})
            extra.append((b"allow", b"GET, HEAD"))
        else:
            status, ctype, body = route(self, scope)
        headers = [(b"content-type", ctype), (b"content-length", b"%d" % len(body)),
                   (b"cache-control", b"no-store"), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ---- endpoints ----------------------------------------------------------------------

    def health(self, scope: Scope) -> Response:
        state = self.state
        body: dict[str, Any] = {
            "status": "ok",
            "version": __version__,
            "role": "master",
            "uptime_in_seconds": int(time.monotonic() - state.started_monotonic),
            "loading": state.loading,
        }
        if state.loading:
            done, total = getattr(self.persistence, "loading_progress", (0, 0))
            body.update(status="loading", loading_wal_bytes_replayed=done, loading_wal_bytes_total=total)
            return _json(503, body)
        refused = state.keyspace.writes_refused
        if refused is not None:
            body.update(status="failing", error=refused)
            return _json(503, body)
        return _json(200, body)

    def live(self, scope: Scope) -> Response:
        """Liveness: 200 whenever the process answers, loading or not (a probe that
        restarts the server during a long recovery would never let it finish)."""
        return _json(200, {"status": "alive", "loading": self.state.loading})

    def stats(self, scope: Scope) -> Response:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        sections = [name for value in query.get("section", []) for name in value.split(",") if name]
        return _json(200, info_dict(self.state, *sections))

    def metrics(self, scope: Scope) -> Response:
        # The text format version the scraper asks for (0.0.4 when it does not say).
        accept = dict(scope.get("headers", [])).get(b"accept", b"").decode("latin-1")
        encoder, content_type = choose_encoder(accept)
        return 200, content_type.encode(), encoder(self.registry)

    ROUTES: dict[str, Callable[["AdminApp", Scope], Response]] = {
        "/health": health,
        "/health/live": live,
        "/stats": stats,
        "/metrics": metrics,
    }


class _Started:
    """A task status for hypercorn's serve: notes that the listener is up."""

    def __init__(self) -> None:
        self.binds: list[str] = []
        self.up = False

    def started(self, value: list[str] | None = None) -> None:
        self.binds, self.up = list(value or []), True
        log.info("Admin HTTP endpoint on %s (/health, /stats, /metrics)", ", ".join(self.binds))


async def serve_admin(state: "ServerState", persistence: object | None = None) -> None:
    """Serve the admin endpoint on config.admin_bind_addr until cancelled (port 0: off).

    A failure to bind is one log line and the RESP server goes on without the endpoint."""
    from hypercorn.config import Config as HypercornConfig
    from hypercorn.trio import serve

    config = state.config
    if config.admin_port == 0:
        log.info("Admin HTTP endpoint off (admin port 0)")
        return
    hconfig = HypercornConfig()
    hconfig.bind = [config.admin_bind_addr]
    hconfig.accesslog = None
    hconfig.errorlog = http_log = logging.getLogger("hypercache.admin.http")
    http_log.setLevel(logging.WARNING)  # not hypercorn's "Running on ..." line: ours above
    hconfig.graceful_timeout = 1.0
    status = _Started()
    try:
        await serve(AdminApp(state, persistence), hconfig, task_status=status)  # type: ignore[arg-type]
    except* OSError as group:
        err: BaseException = group
        while isinstance(err, BaseExceptionGroup):  # nested nurseries nest the groups
            err = err.exceptions[0]
        doing = "failed" if status.up else f"could not bind {config.admin_bind_addr}"
        log.warning("Admin HTTP endpoint %s: %s; serving without it",
                    doing, getattr(err, "strerror", None) or err)
