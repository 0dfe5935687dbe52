"""One client connection: its socket, parser, command context and pending output.

The reactor (reactor.py) owns every connection and calls `handle_input` with what a
read returned: the whole batch is parsed and executed synchronously, its replies are
appended to `out`, and the reactor sends them once the round's WAL write is done, so a
pipelined batch executes atomically and costs one recv and one send however many
requests it holds.
"""

from __future__ import annotations

import logging
import socket as pysocket
import time

import trio

from hypercache.commands.context import Context, ServerState
from hypercache.commands.dispatch import execute
from hypercache.commands.fastlane import LANE_COMMANDS, count_lane_calls, lane_answered, lane_for
from hypercache.native import recv_lane
from hypercache.resp.errors import QueryBufferLimit
from hypercache.resp.reader import RequestReader
from hypercache.resp.types import ErrorReply
from hypercache.resp.writer import write_reply

log = logging.getLogger("hypercache.server")

# Bytes read from one client per reactor round: Redis's PROTO_IOBUF_LEN. A round runs
# everything a read completes before any other client is answered, so this bounds what
# one pipelining client can make the others wait for (~150 small SETs).
RECV_SIZE = 16 * 1024
# ... and per read of a quiet client in native lane_round, whose requests cost a tenth
# of the Python path's: a pipeline of 16 MSETs of 10 keys (~21 KB) fits in one read and
# stays in C instead of leaving its tail, half an MSET, to the Python reader.
LANE_RECV_SIZE = 64 * 1024

# What Connection.receive did.
RECV_EOF = 0  # the client closed its side
RECV_REPLY = 1  # `out` may hold replies: the reactor sends them after the round's WAL write
RECV_SENT = 2  # every request read was answered and the replies are sent already


async def send_all(sock: trio.socket.SocketType, data: bytes | bytearray) -> int:
    """Send every byte of `data` on a trio socket (trio.socket has no sendall)."""
    view = memoryview(data)
    total = len(view)
    sent = 0
    while sent < total:
        sent += await sock.send(view[sent:])
    return total


def address(sockaddr: object) -> str:
    """host:port as CLIENT LIST shows it ([host]:port for IPv6)."""
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        host, port = sockaddr[0], sockaddr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(sockaddr)


class Connection:
    """A client as the reactor serves it."""

    __slots__ = ("sock", "fd", "ctx", "reader", "out", "acked_seq", "hold_seq", "hold_since",
                 "closing", "registered_events", "peer")

    def __init__(self, state: ServerState, sock: pysocket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = address(sock.getpeername())
        self.ctx = Context(state, addr=self.peer, laddr=address(sock.getsockname()))
        self.ctx.fd = self.fd
        config = state.config
        self.reader = RequestReader(config.proto_max_bulk_len, config.client_query_buffer_limit)
        self.reader.authenticated = self.ctx.authenticated
        self.out = bytearray()  # replies not sent yet
        self.acked_seq = 0  # the newest write seq this client has had an answer for
        self.hold_seq = 0  # > 0: `out` waits for this seq to be durable (appendfsync always)
        self.hold_since = 0.0  # when the hold began (write stalls give up after a while)
        self.closing = False  # close once `out` is sent
        self.registered_events = 0  # what the epoll set watches for this socket now

    def receive(self, send_now: bool = False) -> int:
        """One read from the socket, parsed and executed (replies go to `out`): RECV_EOF
        at EOF, RECV_REPLY when `out` may hold replies for the reactor to send,
        RECV_SENT when everything read was answered and sent already. Raises OSError as
        socket.recv does (BlockingIOError: nothing to read).

        While the reader holds nothing and the lane is open, the read goes through
        native recv_lane: the (M)GETs the lane answers cost no Python per request, and
        whatever else the read holds continues on the ordinary path. With `send_now`
        (the round has written nothing the replies could depend on yet) a read the lane
        answered whole is also sent by recv_lane."""
        reader = self.reader
        lane = lane_for(self.ctx, self.out) if reader.drained and reader.error is None else None
        if lane is None:
            data = self.sock.recv(RECV_SIZE)
            if not data:
                return RECV_EOF
            self.handle_input(data)
            return RECV_REPLY
        requests: list[list[bytes]] = []
        try:
            nread, rest, last, sent = recv_lane(self.fd, RECV_SIZE, requests, reader.fast_max_bulk, lane, send_now)
        finally:
            self._take_lane_writes()
        return self.lane_read(nread, rest, requests, last, sent)

    def _take_lane_writes(self) -> None:
        """What the write lane did during the last native call, into the keyspace and
        the store (at once: nothing may run before)."""
        server = self.ctx.server
        if server.lane_deltas[0]:
            server.keyspace.apply_lane_writes(server.lane_deltas)

    def lane_read(self, nread: int, rest: bytes, requests: list[list[bytes]], last: int, sent: int) -> int:
        """Carry on with a read the native lane made (recv_lane, or the reactor's
        lane_round): `nread` bytes read, of which it answered some (the last of them a
        LANE_COMMANDS[last], `sent` reply bytes sent) and left `requests` and the bytes
        `rest` to the ordinary path. Returns as `receive`."""
        if not nread:
            return RECV_EOF
        ctx = self.ctx
        stats = ctx.server.stats
        stats.net_input_bytes += nread
        ctx.last_interaction = time.monotonic()
        if last:
            ctx.last_command = LANE_COMMANDS[last]
        if sent:
            stats.net_output_bytes += sent
        if requests or rest:
            self._run(rest, requests)
            return RECV_REPLY
        return RECV_REPLY if self.out else RECV_SENT

    def lane_entry(self) -> tuple[bytearray, bool, int] | None:
        """What the reactor's native lane_round needs to serve this client whole
        (its reply buffer, protocol and bulk limit), or None while it must not: replies
        pending or held, a request half read, closing, or a client state the lane is
        closed to (fastlane.lane_for; the server-wide conditions are checked per round)."""
        reader = self.reader
        ctx = self.ctx
        if (self.out or self.closing or self.hold_seq or not reader.drained or reader.error is not None
                or ctx.multi is not None or not ctx.authenticated):
            return None
        return (self.out, ctx.proto == 3, reader.fast_max_bulk)

    def handle_input(self, data: bytes) -> None:
        """Parse and execute everything `data` completes; replies go to `out`."""
        ctx = self.ctx
        ctx.server.stats.net_input_bytes += len(data)
        ctx.last_interaction = time.monotonic()
        self._run(data, [])

    def _run(self, data: bytes, requests: list[list[bytes]]) -> None:
        """Execute `requests` (parsed already, they come first), then everything `data`
        completes."""
        ctx = self.ctx
        reader = self.reader
        if data:
            reader.feed(data)
        out = self.out
        server = ctx.server
        totals = server.lane_totals
        while not ctx.close_after_reply:
            if requests and lane_answered(totals):  # before any command: INFO must see them
                count_lane_calls(server, totals)
            for args in requests:
                # ctx.proto is read after execute: HELLO's own reply is in the new protocol
                write_reply(out, execute(ctx, args), ctx.proto)
                if ctx.close_after_reply:
                    break
            if reader.drained or ctx.close_after_reply:
                break
            # Parsed in steps: (M)GETs the lane answers come back already in `out`, and
            # each step's requests run before the next is read (AUTH, MULTI or MONITOR
            # among them decide how the rest is read and whether the lane stays open).
            reader.authenticated = ctx.authenticated
            try:
                requests = reader.read_requests(lane_for(ctx, out))
            finally:
                self._take_lane_writes()
            if reader.lane_last:
                ctx.last_command = LANE_COMMANDS[reader.lane_last]
                reader.lane_last = 0
            if not requests:
                break
        reader.authenticated = ctx.authenticated
        error = reader.error
        if error is not None and not ctx.close_after_reply:
            ctx.close_after_reply = True
            if not isinstance(error, QueryBufferLimit):
                write_reply(out, ErrorReply(error.reply_line()), ctx.proto)
            log.debug("closing client %s: %s", self.peer, error)
        ctx.query_buffer_bytes = reader.pending_bytes()
        if ctx.drop_output:
            out.clear()
            self.closing = True
        elif ctx.close_after_reply:
            self.closing = True
