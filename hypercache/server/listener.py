"""The server process: bind the listeners, accept clients, own the background services."""

from __future__ import annotations

import errno
import logging
import signal
import socket as pysocket

import trio

from hypercache.admin import serve_admin
from hypercache.commands.context import ServerState
from hypercache.config import Config
from hypercache.server.connection import send_all
from hypercache.server.persistence import Persistence
from hypercache.server.reactor import Reactor
from hypercache.server.services import active_expiry, idle_client_reaper

ACCEPT_BURST = 256  # clients taken from the backlog at once after each accept()

log = logging.getLogger("hypercache.server")

_MAX_CLIENTS_ERROR = b"-ERR max number of clients reached\r\n"


class Server:
    """A HyperCache node: `await Server(config).run()` serves until shut down."""

    def __init__(self, config: Config) -> None:
        import hypercache.commands  # noqa: F401  (registers every command in the table)

        self.config = config
        self.state = ServerState(config)
        self._shutdown = trio.Event()
        self.state.request_shutdown = self._request_shutdown
        self.state.config_changed = self._config_changed
        self._cancel_loading = lambda: None
        self.listeners: list[trio.socket.SocketType] = []
        self.reactor = Reactor(self.state)

    def _config_changed(self, names: set[str]) -> None:
        """CONFIG SET changed `names`: tell the layers that copied a setting at start."""
        config = self.config
        if names & {"maxmemory", "maxmemory-policy", "maxmemory-samples"}:
            # over a lowered limit, the round this command ran in evicts (Reactor._round)
            self.state.keyspace.set_memory_limit(config.maxmemory, config.maxmemory_policy, config.maxmemory_samples)
        if names & {"proto-max-bulk-len", "client-query-buffer-limit"}:
            self.reactor.set_reader_limits(config.proto_max_bulk_len, config.client_query_buffer_limit)
        persistence = self.state.persistence
        if persistence is not None and names & {"appendfsync", "wal-sync-interval", "memtable-size", "maxmemory"}:
            persistence.reconfigure()  # type: ignore[attr-defined]

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Bind, serve, and return after SHUTDOWN or SIGTERM/SIGINT."""
        self.listeners = await self._bind()
        self.state.tcp_port = self.listeners[0].getsockname()[1]
        persistence = Persistence(self.config, self.state.keyspace) if self.config.appendonly else None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch_signals)
                # Up before recovery starts, so /health can answer 503 while loading.
                nursery.start_soon(serve_admin, self.state, persistence)
                nursery.start_soon(self.reactor.run)
                for listener in self.listeners:
                    nursery.start_soon(self._accept_loop, listener, nursery)
                task_status.started(self.state.tcp_port)
                if persistence is not None:
                    # Clients are answered -LOADING until the store is open.
                    self.state.loading = True
                    if not await self._open_store(persistence, nursery):
                        nursery.cancel_scope.cancel()
                        return
                    self.state.loading = False
                nursery.start_soon(active_expiry, self.state)
                nursery.start_soon(idle_client_reaper, self.state)
                log.info("Ready to accept connections tcp on port %d", self.state.tcp_port)
                await self._shutdown.wait()
                log.info("Shutting down: closing listeners and clients")
                # Cancel first: closing a socket under a pending accept() is an error in trio.
                nursery.cancel_scope.cancel()
        finally:
            for listener in self.listeners:
                listener.close()
            if persistence is not None:
                persistence.close()
        log.info("HyperCache is now ready to exit, bye bye...")

    async def _open_store(self, persistence: Persistence, nursery: trio.Nursery) -> bool:
        """Recover the store (the server answers -LOADING meanwhile), then start its
        tasks; False if shutdown was asked for meanwhile."""
        with trio.CancelScope() as scope:
            self._cancel_loading = scope.cancel
            await persistence.open()
        self._cancel_loading = lambda: None
        if scope.cancelled_caught:
            return False
        self.state.persistence = persistence
        self.state.request_sync = persistence.request_sync
        persistence.on_progress = self.reactor.wake
        persistence.start_services(nursery)
        return True

    async def _bind(self) -> list[trio.socket.SocketType]:
        listeners = []
        for host in self.config.bind.split():
            family = pysocket.AF_INET6 if ":" in host else pysocket.AF_INET
            sock = trio.socket.socket(family, pysocket.SOCK_STREAM)
            sock.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, 1)
            if family == pysocket.AF_INET6:
                sock.setsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_V6ONLY, 1)
            try:
                await sock.bind((host, self.config.port))
            except OSError as err:
                sock.close()
                if err.errno == errno.EADDRNOTAVAIL and host in ("::1", "::"):
                    log.warning("skipping bind to %s: %s", host, err.strerror)
                    continue
                raise OSError(
                    err.errno, f"could not bind {host}:{self.config.port}: {err.strerror}"
                ) from None
            sock.listen(511)
            listeners.append(sock)
        if not listeners:
            raise OSError(errno.EADDRNOTAVAIL, "no address to listen on")
        return listeners

    async def _accept_loop(self, listener: trio.socket.SocketType, nursery) -> None:
        # Each trio accept() yields to the scheduler, so the reactor runs a burst between
        # two of them: 50 clients connecting at once waited up to ~0.4 s for the last one
        # to be taken. After each, the rest of the backlog is taken at once through a
        # second handle on the listening socket.
        backlog = pysocket.fromfd(listener.fileno(), listener.family, listener.type)
        try:
            while True:
                try:
                    conn, _addr = await listener.accept()
                except OSError as err:
                    if err.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                        log.warning("accept: %s; pausing", err.strerror)
                        await trio.sleep(0.1)
                        continue
                    raise
                self._take(conn, nursery)
                for _ in range(ACCEPT_BURST):
                    try:
                        raw, _addr = backlog.accept()
                    except OSError:  # empty (EAGAIN), or an error the next accept() reports
                        break
                    self._take(trio.socket.from_stdlib_socket(raw), nursery)
        finally:
            backlog.close()

    def _take(self, conn: trio.socket.SocketType, nursery: trio.Nursery) -> None:
        """Serve an accepted client, or refuse it over maxclients."""
        if len(self.state.clients) >= self.config.maxclients:
            self.state.stats.rejected_connections += 1
            nursery.start_soon(self._refuse, conn)
            return
        self.reactor.add(conn)

    @staticmethod
    async def _refuse(conn: trio.socket.SocketType) -> None:
        """Tell a client over `maxclients` why, then close without resetting the line:
        closing with its request unread would send an RST that can destroy the error."""
        with conn:
            try:
                await send_all(conn, _MAX_CLIENTS_ERROR)
                conn.shutdown(pysocket.SHUT_WR)
                with trio.move_on_after(1):
                    while await conn.recv(4096):
                        pass
            except OSError:
                pass

    def _request_shutdown(self) -> None:
        """Stop serving (SHUTDOWN, SIGTERM, SIGINT); a recovery in progress is abandoned."""
        self._shutdown.set()
        self._cancel_loading()

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.warning("Received %s, scheduling shutdown...", signal.Signals(signum).name)
                self._request_shutdown()
