"""The reactor: every client socket in one epoll set, served by one trio task.

Why not a trio task per client: trio's per-wakeup cost (a reschedule, an epoll re-arm,
checkpoints) was measured here at 30-45 µs of CPU per request, more than parsing and
executing the command. One task that waits for the epoll set's own descriptor and then
serves every ready client in one synchronous round costs ~4 µs a request instead, and
gives Redis's event-loop shape for free:

    round:  read every ready client, parse and execute its whole batch (replies buffered)
            -> one WAL write for the round (every client's writes, one syscall)
            -> send each client's replies (or hold them until the fsync that covers
               them under appendfsync always, or while the store stalls writes)

Quiet clients (nothing pending, the lane open to them: commands/fastlane.py) sit in
`lanes`, and the round hands runs of their read events to native lane_round, which
reads, answers what the lane can (GET, MGET, and SET, MSET, INCR, DECR through the
write lane) and sends the replies without returning to Python per client; the first
client it cannot finish (another command, EOF, a full socket) comes back to the
ordinary path below with what was read. Replies go out at once only while the round
has written nothing; after a write they wait for the round's WAL write and then go
out through native send_lane_replies (or client by client when must_hold could hold
them). After a round, a burst of further rounds waits on the epoll set directly (Reactor.run).

The rest of the server stays trio: this is a task in the server's nursery, cancelled
with it; accepting, the WAL syncer, background jobs and timers are tasks beside it. A
held reply or a write from outside a round (MONITOR) wakes the round through an eventfd.
"""

from __future__ import annotations

import logging
import os
import select
import socket as pysocket
import time

import trio
from trio.lowlevel import notify_closing, wait_readable

from hypercache.commands.context import ServerState
from hypercache.commands.fastlane import LANE_COMMANDS, count_lane_calls, lane_answered, lane_open
from hypercache.native import lane_round, send_lane_replies
from hypercache.server.connection import LANE_RECV_SIZE, RECV_EOF, RECV_SENT, Connection

log = logging.getLogger("hypercache.server")

MAX_EVENTS = 1024
HOLD_POLL_S = 0.005  # while replies are held, look again this often even without events
BURST_S = 0.002  # rounds in a row outside trio's scheduler (see Reactor.run) ...
SPIN_S = 0.0005  # ... each waiting at most this long on the epoll set for the next events

READ = select.EPOLLIN
WRITE = select.EPOLLOUT
GONE = select.EPOLLHUP | select.EPOLLERR


class Reactor:
    """Serves every client connection of one server."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.epoll = select.epoll()
        self.conns: dict[int, Connection] = {}
        self.held: dict[int, Connection] = {}  # replies waiting for durability / a stall
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.epoll.register(self._wake_fd, READ)
        self._in_round = False
        self._pushed: list[Connection] = []  # output added during a round outside replies
        # Quiet clients the native lane_round may serve whole: fd -> Connection.lane_entry()
        self.lanes: dict[int, tuple[bytearray, bool, int]] = {}
        self._touched: list[int] = []  # lane_round's list of the clients it served
        self._pending: list[int] = []  # ... and of those whose replies wait for the WAL write
        self._unsent: list[int] = []  # lane clients whose replies go out after the WAL write
        self.lane_failed = False  # set if lane_round ever raised (a bug): not used again

    # ---- connections -------------------------------------------------------------------

    def add(self, trio_sock: trio.socket.SocketType) -> None:
        """Take over an accepted socket."""
        sock = pysocket.socket(fileno=trio_sock.detach())
        try:
            sock.setblocking(False)
            sock.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_NODELAY, 1)
            conn = Connection(self.state, sock)
        except OSError:  # the client is already gone
            sock.close()
            return
        ctx = conn.ctx
        ctx.kill = lambda: self.close(conn)
        ctx.push = lambda data: self.push(conn, data)
        self.conns[conn.fd] = conn
        self.state.clients[ctx.id] = ctx
        self.state.stats.total_connections_received += 1
        self.epoll.register(conn.fd, READ)
        conn.registered_events = READ

    def close(self, conn: Connection) -> None:
        """Close a connection now (QUIT after its reply, CLIENT KILL, idle timeout, EOF)."""
        if self.conns.get(conn.fd) is not conn:
            return  # already closed
        del self.conns[conn.fd]
        self.held.pop(conn.fd, None)
        self.lanes.pop(conn.fd, None)
        try:
            self.epoll.unregister(conn.fd)
        except OSError:
            pass
        conn.sock.close()
        ctx = conn.ctx
        ctx.reset_multi()
        self.state.clients.pop(ctx.id, None)

    def push(self, conn: Connection, data: bytes) -> None:
        """Send bytes that are not a reply (MONITOR lines); in order with the replies."""
        if self.conns.get(conn.fd) is not conn:
            return
        self.lanes.pop(conn.fd, None)  # it has output pending now
        conn.out += data
        if self._in_round:
            self._pushed.append(conn)
        elif not conn.hold_seq:
            self._send(conn)

    def wake(self) -> None:
        """Have the reactor run a round soon (a sync finished, a stall ended)."""
        try:
            os.eventfd_write(self._wake_fd, 1)
        except BlockingIOError:
            pass  # the counter is full: a wake-up is pending anyway

    def set_reader_limits(self, max_bulk_len: int, query_buffer_limit: int) -> None:
        """Every connected client's request limits (CONFIG SET), the lane's copy too."""
        for fd, conn in self.conns.items():
            conn.reader.set_limits(max_bulk_len, query_buffer_limit)
            if fd in self.lanes:
                self._refresh_lane(conn, True)

    def _refresh_lane(self, conn: Connection, may_serve: bool) -> None:
        """Put `conn` in `lanes` with what lane_round needs now, or take it out."""
        entry = conn.lane_entry() if may_serve and not self.lane_failed else None
        if entry is None:
            self.lanes.pop(conn.fd, None)
        else:
            self.lanes[conn.fd] = entry

    def _watch(self, conn: Connection, events: int) -> None:
        """Watch `conn` for `events`; a client watched for reading alone and quiet is
        served by the native lane_round (self.lanes) until the round next looks at it."""
        if conn.registered_events != events:
            self.epoll.modify(conn.fd, events)
            conn.registered_events = events
        self._refresh_lane(conn, events == READ)

    def _lane_round(self, ready: list[tuple[int, int]], start: int, storage: object,
                    served: list[Connection]) -> tuple[int, tuple | None]:
        """Run native lane_round over ready[start:]: (the index of the first event left
        to the ordinary path, and what lane_round read for it or None if it did not).
        Replies go out at once only while the round has written nothing (no WAL bytes
        they could depend on wait in the process); the rest wait in `served`."""
        state = self.state
        keyspace = state.keyspace
        deltas = state.lane_deltas
        may_send = storage is None or state.persistence.handed_seq == storage.last_seq
        try:
            i, nread, rest, requests, last, sent, bytes_in, bytes_out, wrote = lane_round(
                ready, start, self.lanes, keyspace.hot_tier_shared_view(state.lane_totals), LANE_RECV_SIZE,
                self._touched, may_send, keyspace.hot_tier_write_view(deltas), self._pending)
        except Exception:  # a bug in the lane must not take the server down
            log.exception("the native lane failed; every client takes the ordinary path from now on")
            self.lane_failed = True
            # Which of these clients it had read from is unknown: their streams cannot go on.
            for fd, _ in ready[start:]:
                conn = self.conns.get(fd) if fd in self.lanes else None
                if conn is not None:
                    self.close(conn)
            self.lanes.clear()
            self._touched.clear()
            self._pending.clear()
            return len(ready), None
        finally:
            if deltas[0]:  # what the write lane did, into the keyspace and the store at once
                keyspace.apply_lane_writes(deltas)
        self._lane_served(bytes_in, bytes_out, storage, served)
        return i, (nread, rest, requests, last, sent, wrote) if nread >= 0 else None

    def _lane_served(self, bytes_in: int, bytes_out: int, storage: object, served: list[Connection]) -> None:
        """Bookkeeping for the clients lane_round served whole: their bytes, each one's
        idle time and last command (self._touched: fd << 3 | LANE_COMMANDS index), and
        those whose replies wait for the round's WAL write (self._pending: fd << 1 |
        wrote) join `served`, a writer's replies depending on the newest write."""
        stats = self.state.stats
        stats.net_input_bytes += bytes_in
        stats.net_output_bytes += bytes_out
        pending = self._pending
        if pending:
            persistence = self.state.persistence
            if persistence is None or not persistence.replies_may_wait():
                # No reply can be held: they stay lane clients, sent in C after the WAL write
                self._unsent.extend(code >> 1 for code in pending)
            else:  # each client's replies go through must_hold
                conns = self.conns
                lanes = self.lanes
                seq = storage.last_seq if storage is not None else 0  # type: ignore[attr-defined]
                for code in pending:
                    conn = conns.get(code >> 1)
                    if conn is not None:
                        lanes.pop(conn.fd, None)
                        if code & 1 and seq:
                            conn.hold_seq = seq
                        served.append(conn)
            pending.clear()
        touched = self._touched
        if touched:
            now = time.monotonic()
            conns = self.conns
            for code in touched:
                conn = conns.get(code >> 3)
                if conn is not None:
                    ctx = conn.ctx
                    ctx.last_interaction = now
                    ctx.last_command = LANE_COMMANDS[code & 7]
            touched.clear()

    # ---- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until cancelled (server shutdown); then close every client."""
        epoll_fd = self.epoll.fileno()
        poll = self.epoll.poll
        clock = time.monotonic
        try:
            while True:
                if self.held:
                    with trio.move_on_after(HOLD_POLL_S):
                        await wait_readable(epoll_fd)
                else:
                    await wait_readable(epoll_fd)
                self._round(poll(0, MAX_EVENTS))
                # A burst: while clients keep sending, wait for them on the epoll set
                # itself rather than through trio, whose scheduling costs more than a
                # round of one client (a request-reply client sends again within tens
                # of µs). Other tasks wait at most BURST_S; held replies end it, as
                # their fsync is reported through trio.
                until = clock() + BURST_S
                while not self.held and (ready := poll(SPIN_S, MAX_EVENTS)):
                    self._round(ready)
                    if clock() >= until:
                        break
        finally:
            for conn in list(self.conns.values()):
                self.close(conn)
            notify_closing(epoll_fd)
            self.epoll.close()
            os.close(self._wake_fd)

    def _round(self, ready: list[tuple[int, int]]) -> None:
        """Serve the `ready` events of one epoll poll (see the module docstring)."""
        state = self.state
        persistence = state.persistence
        storage = getattr(persistence, "storage", None)
        served: list[Connection] = []
        lanes = self.lanes
        self._in_round = True
        try:
            count = len(ready)
            i = 0
            while i < count:
                lane_read = None
                # The clients the lane serves whole go through native lane_round.
                if lanes and not self.lane_failed and lane_open(state):
                    i, lane_read = self._lane_round(ready, i, storage, served)
                    if i >= count:
                        break
                fd, events = ready[i]
                i += 1
                lanes.pop(fd, None)  # until the round is done with it
                conn = self.conns.get(fd)
                if conn is None:
                    if fd == self._wake_fd:
                        try:
                            os.eventfd_read(self._wake_fd)
                        except BlockingIOError:
                            pass
                    continue
                if lane_read is None:
                    if events & WRITE:
                        self._send(conn)
                        continue
                    if conn.registered_events != READ:
                        if events & GONE:  # hung up while its reply was held
                            self.close(conn)
                        continue
                before = storage.last_seq if storage is not None else 0
                if lane_read is not None and lane_read[-1]:  # the lane wrote for it
                    before = -1  # so its replies depend on the newest write (hold_seq below)
                try:
                    if lane_read is not None:
                        done = conn.lane_read(*lane_read[:-1])
                    else:
                        # Replies may go out at once while the round has written nothing
                        # (no WAL bytes they could depend on wait for the OS yet).
                        done = conn.receive(storage is None or persistence.handed_seq == before)
                except BlockingIOError:
                    continue
                except OSError as err:
                    log.debug("client %s: %s", conn.peer, err)
                    self.close(conn)
                    continue
                if done == RECV_SENT:
                    self._watch(conn, READ)
                    continue
                if done == RECV_EOF:
                    self.close(conn)
                    continue
                if storage is not None and storage.last_seq != before:
                    conn.hold_seq = storage.last_seq  # its replies depend on this write
                served.append(conn)
        finally:
            self._in_round = False
        totals = state.lane_totals
        if lane_answered(totals):  # what the lane answered this round, into the statistics
            count_lane_calls(state, totals)
        # One WAL write for everything this round wrote, before any reply goes out.
        if persistence is not None:
            persistence.after_batch()
        keyspace = state.keyspace
        if keyspace.maxmemory:
            keyspace.enforce_memory_limit()
        if self._unsent:
            self._send_unsent()
        now = time.monotonic()
        for conn in served:
            if self.conns.get(conn.fd) is not conn:
                continue  # killed during the round
            if conn.hold_seq and persistence is not None and persistence.must_hold(conn.hold_seq):
                conn.hold_since = now
                self.held[conn.fd] = conn
                self._watch(conn, 0)
                persistence.request_sync()
                continue
            conn.hold_seq = 0
            self._send(conn)
        if self._pushed:
            pushed, self._pushed = self._pushed, []
            for conn in pushed:
                if self.conns.get(conn.fd) is conn and not conn.hold_seq:
                    self._send(conn)
        if self.held:
            self._release_held(now)

    def _send_unsent(self) -> None:
        """Send what lane_round left in lane clients' buffers (self._unsent) for after the
        round's WAL write; a client whose replies do not all go out leaves the lane for
        the ordinary send (writability, errors)."""
        blocked: list[int] = []
        unsent, self._unsent = self._unsent, []
        self.state.stats.net_output_bytes += send_lane_replies(unsent, self.lanes, blocked)
        for fd in blocked:
            self.lanes.pop(fd, None)
            conn = self.conns.get(fd)
            if conn is not None:
                self._send(conn)

    def _release_held(self, now: float) -> None:
        persistence = self.state.persistence
        for fd, conn in list(self.held.items()):
            if persistence is None or not persistence.must_hold(conn.hold_seq, now - conn.hold_since):
                del self.held[fd]
                conn.hold_seq = 0
                self._send(conn)

    def _send(self, conn: Connection) -> None:
        """Send what `conn` has pending; watch for writability if the kernel is full."""
        out = conn.out
        if out:
            try:
                sent = conn.sock.send(out)
            except BlockingIOError:
                sent = 0
            except OSError as err:
                log.debug("client %s: %s", conn.peer, err)
                self.close(conn)
                return
            self.state.stats.net_output_bytes += sent
            del out[:sent]
            if out:
                self._watch(conn, WRITE)  # stop reading until the client takes its replies
                return
        if conn.closing:
            self.close(conn)
        else:
            self._watch(conn, READ)
