"""hypercache-server: parse flags and the config file, set up logging, run the server."""

from __future__ import annotations

import argparse
import logging
import sys

import trio

from hypercache import __version__
from hypercache.config import Config
from hypercache.server import Server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hypercache-server")
    parser.add_argument("--port", type=int, default=7000)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--dir", default="./data")
    parser.add_argument("--requirepass", default=None)
    parser.add_argument("--version", action="version", version=f"HyperCache v={__version__}")
    opts = parser.parse_args(argv)
    config = Config(port=opts.port, bind=opts.bind, dir=opts.dir, requirepass=opts.requirepass)
    logging.basicConfig(level=logging.INFO, format="%(process)d:M %(asctime)s * %(message)s")
    try:
        trio.run(Server(config).run)
    except OSError as err:
        print(f"hypercache-server: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
