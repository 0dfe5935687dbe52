"""Start a real hypercache-server process on a free port, for tests and compat runners."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command() -> list[str]:
    """The installed console script if it is beside this Python, else `python -m`."""
    script = Path(sys.executable).parent / "hypercache-server"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "hypercache.cli"]


class ServerProcess:
    """A hypercache-server subprocess: `with ServerProcess() as srv: srv.port`."""

    def __init__(self, *extra_args: str, port: int | None = None, data_dir: str | None = None) -> None:
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="hypercache-test-")
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(self.data_dir) / "server.log"

    def start(self, timeout: float = 15.0, wait: bool = True) -> "ServerProcess":
        """Start the process; with `wait`, return once it answers PING (not -LOADING)."""
        args = server_command() + ["--port", str(self.port), "--dir", self.data_dir, *self.extra_args]
        if "--admin-port" not in self.extra_args:
            args += ["--admin-port", "0"]  # test servers run side by side: no admin port unless asked
        os.makedirs(self.data_dir, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.data_dir)
        if not wait:
            return self
        # PING (after AUTH when the server has a password: -NOAUTH would come even while
        # the store is still loading) until it answers +PONG.
        self._probe, self._probe_replies = b"*1\r\n$4\r\nPING\r\n", 1
        if "--requirepass" in self.extra_args:
            password = self.extra_args[self.extra_args.index("--requirepass") + 1].encode()
            self._probe = b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(password), password) + self._probe
            self._probe_replies = 2
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(self._probe)
                    reply = sock.recv(100)
                    while reply.count(b"\r\n") < self._probe_replies:
                        more = sock.recv(100)
                        if not more:
                            break
                        reply += more
                    if reply.endswith(b"+PONG\r\n"):  # not -LOADING: wait for the store
                        return self
                    if reply.startswith(b"-NOAUTH") and self._probe_replies == 1:
                        return self  # a password from a config file: up, loading or not

            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start on port {self.port}:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, sig: int | None = None, timeout: float = 15.0) -> int | None:
        """Stop the process (SIGTERM by default) and return its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def read_until_quiet(sock: socket.socket, quiet: float = 2.0) -> bytes:
    """Read until the peer closes the connection or sends nothing for `quiet` seconds."""
    sock.settimeout(quiet)
    out = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    return out


def raw_exchange(port: int, payload: bytes, timeout: float = 2.0) -> bytes:
    """Send raw bytes and read until the server closes the connection or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        return read_until_quiet(sock, timeout)


def raw_reply(client, *args: object) -> object:
    """A command's reply as the RESP parser gives it, without redis-py's callbacks."""
    conn = client.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        client.connection_pool.release(conn)


class RedisReference:
    """A real redis-server (Debian's) on a free port: the specification to compare with."""

    def __init__(self, *extra_args: str) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="redis-ref-")
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def start(self) -> "RedisReference":
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, *self.extra_args]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(100).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
