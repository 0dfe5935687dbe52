"""Server limits as Redis: maxclients, proto-max-bulk-len at run time, query buffer."""

from __future__ import annotations

import socket

import pytest
import redis

from tests.support import raw_exchange


def test_maxclients_refuses_extra_clients_and_keeps_serving(start_server):
    srv = start_server("--maxclients", "3")
    held = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(3)]
    try:
        for sock in held:  # make sure each is accepted and served
            sock.sendall(b"PING\r\n")
            assert sock.recv(100) == b"+PONG\r\n"
        refused = raw_exchange(srv.port, b"PING\r\n")
        assert refused == b"-ERR max number of clients reached\r\n"
        held[0].sendall(b"INFO stats\r\n")
        assert b"rejected_connections:1" in held[0].recv(65536)
    finally:
        for sock in held:
            sock.close()
    # Once the clients leave, new ones get in again.
    client = redis.Redis(port=srv.port)
    for _ in range(50):
        try:
            assert client.ping()
            break
        except redis.ConnectionError:
            continue


def test_proto_max_bulk_len_applies_to_new_connections(start_server):
    srv = start_server()
    admin = redis.Redis(port=srv.port)
    assert admin.config_set("proto-max-bulk-len", 1024 * 1024)
    assert raw_exchange(srv.port, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n") == (
        b"-ERR Protocol error: invalid bulk length\r\n"
    )
    assert admin.ping()


def test_many_clients_at_once(server):
    clients = [redis.Redis(port=server.port, single_connection_client=True) for _ in range(200)]
    try:
        for i, client in enumerate(clients):
            client.set(f"c{i}", i)
        assert all(client.get(f"c{i}") == str(i).encode() for i, client in enumerate(clients))
    finally:
        for client in clients:
            client.close()
