"""One client connection: read, parse the whole batch, execute it, answer with one send.

Commands run synchronously between two awaits, so a pipelined batch executes
atomically and costs one recv and one send however many requests it holds.
"""

from __future__ import annotations

import logging
import socket as pysocket
import time

import trio

from hypercache.commands.context import Context, ServerState
from hypercache.commands.dispatch import execute
from hypercache.resp.errors import QueryBufferLimit
from hypercache.resp.reader import RequestReader
from hypercache.resp.types import ErrorReply
from hypercache.resp.writer import write_reply

log = logging.getLogger("hypercache.server")

RECV_SIZE = 256 * 1024


async def send_all(sock: trio.socket.SocketType, data: bytes | bytearray) -> int:
    """Send every byte of `data` (trio.socket has no sendall)."""
    view = memoryview(data)
    total = len(view)
    sent = 0
    while sent < total:
        sent += await sock.send(view[sent:])
    return total


def _address(sockaddr: object) -> str:
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        host, port = sockaddr[0], sockaddr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(sockaddr)


async def serve_connection(state: ServerState, sock: trio.socket.SocketType) -> None:
    """Serve one client until it quits, breaks the protocol, is killed or the server stops."""
    try:
        sock.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_NODELAY, 1)
        peer, local = _address(sock.getpeername()), _address(sock.getsockname())
    except OSError:  # the client is already gone
        sock.close()
        return
    ctx = Context(state, addr=peer, laddr=local)
    ctx.fd = sock.fileno()
    config = state.config
    reader = RequestReader(config.proto_max_bulk_len, config.client_query_buffer_limit)
    reader.authenticated = ctx.authenticated
    state.clients[ctx.id] = ctx
    stats = state.stats
    stats.total_connections_received += 1
    keyspace = state.keyspace
    acked_seq = 0  # the newest write seq this client has had an answer for
    with sock, trio.CancelScope() as scope:
        ctx.kill = scope.cancel
        try:
            while True:
                data = await sock.recv(RECV_SIZE)
                if not data:
                    break
                stats.net_input_bytes += len(data)
                ctx.last_interaction = time.monotonic()
                reader.feed(data)
                out = bytearray()
                for args in reader.read_requests():
                    write_reply(out, execute(ctx, args), ctx.proto)
                    if ctx.close_after_reply:
                        break
                persistence = state.persistence  # None while loading, or a pure cache
                if persistence is not None:
                    seq = persistence.after_batch()
                    if seq > acked_seq:
                        if persistence.reply_waits_for_sync:
                            await persistence.wait_durable(seq)
                        if persistence.write_stall:
                            await persistence.wait_unstalled()
                        acked_seq = seq
                if keyspace.maxmemory:
                    keyspace.enforce_memory_limit()
                reader.authenticated = ctx.authenticated
                error = reader.error
                if error is not None and not ctx.close_after_reply:
                    ctx.close_after_reply = True
                    if not isinstance(error, QueryBufferLimit):
                        write_reply(out, ErrorReply(error.reply_line()), ctx.proto)
                    log.debug("closing client %s: %s", peer, error)
                ctx.query_buffer_bytes = reader.pending_bytes()
                if ctx.drop_output:
                    break
                if out:
                    stats.net_output_bytes += await send_all(sock, out)
                if ctx.close_after_reply:
                    break
        except (ConnectionError, OSError) as err:
            log.debug("client %s: %s", peer, err)
        finally:
            ctx.reset_multi()
            state.clients.pop(ctx.id, None)
