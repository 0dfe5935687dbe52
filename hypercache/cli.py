"""hypercache-server: parse the flags and the config file, set up logging, run the server.

    hypercache-server [/path/to/hypercache.yaml] [--name value ...]

As redis-server: the config file comes first (or `--config FILE`), then any parameter
of `hypercache.configtable` as `--name value` (`--maxmemory 1gb`, `--save ""`,
`--bind 127.0.0.1 ::1`); flags override the file. A mistake in either is one line on
stderr and exit code 2; a failure to start (the port is taken, the data directory
cannot be made) is one line and exit code 1.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import sys
import time
from datetime import datetime
from typing import NoReturn

from hypercache import __version__
from hypercache.config import Config, ConfigError, ValueProblem, load_config
from hypercache.configtable import BOOL, LOG_LEVELS, PARAMS, PARAMS_LIST, VERBOSE, Param, lookup

PROG = "hypercache-server"
EXIT_USAGE = 2  # bad flag, bad value, bad or missing config file
EXIT_FAILURE = 1  # could not start: bind, data directory, log file

log = logging.getLogger("hypercache")


class UsageError(Exception):
    """A mistake on the command line or in the config file: one line, exit code 2."""


# ---------------------------------------------------------------------------------------
# Command line


def parse_command_line(argv: list[str]) -> tuple[str | None, list[tuple[Param, object]]]:
    """(config file, [(param, parsed value), ...]) from argv, or UsageError.

    Handles --version and --help itself (prints, exits 0)."""
    config_path: str | None = None
    settings: list[tuple[Param, object]] = []
    i = 0
    if argv and not argv[0].startswith("-"):
        config_path = argv[0]
        i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("-v", "--version"):
            print(f"HyperCache server v={__version__}")
            sys.exit(0)
        if arg in ("-h", "--help"):
            print(usage())
            sys.exit(0)
        if not arg.startswith("--") or arg == "--":
            if i == 0:
                raise UsageError(f"unknown option '{arg}'")
            raise UsageError(f"unexpected argument '{arg}' (a config file must come first, or use --config FILE)")
        name, has_value, value = arg[2:].partition("=")
        i += 1
        if not has_value:  # redis-server's way: the words up to the next --option
            words = []
            while i < len(argv) and not argv[i].startswith("--"):
                words.append(argv[i])
                i += 1
            value = " ".join(words)
            has_value = bool(words)
        if name.lower() == "config":
            if not value:
                raise UsageError("option '--config' needs a file name")
            if config_path is not None:
                raise UsageError(f"config file given twice: '{config_path}' and '{value}'")
            config_path = value
            continue
        param = lookup(name)
        if param is None:
            close = difflib.get_close_matches(name.lower(), [*PARAMS, "config", "version"], n=1, cutoff=0.6)
            hint = f" (did you mean --{close[0]}?)" if close else ""
            raise UsageError(f"unknown option '--{name}'{hint}")
        if not has_value:
            if param.kind is not BOOL:
                raise UsageError(f"option '--{param.name}' needs a value ({param.metavar})")
            value = "yes"
        try:
            settings.append((param, param.parse(value, lenient=True)))
        except ValueProblem as err:
            shown = value if len(value) <= 60 else value[:57] + "..."
            raise UsageError(f"bad value for --{param.name} '{shown}': {err.explain()}") from None
    return config_path, settings


def build_config(argv: list[str]) -> Config:
    """Defaults <- config file <- flags, validated; UsageError/ConfigError on a mistake."""
    config_path, settings = parse_command_line(argv)
    config = load_config(config_path) if config_path else Config()
    names = {param.name for param, _value in settings}
    for param, value in settings:
        param.set(config, value)
    # --wal-sync-interval picks the seed's interval policy unless --appendfsync says otherwise.
    if "wal-sync-interval" in names and "appendfsync" not in names:
        config.appendfsync = "interval"
    config.dir = os.path.abspath(config.dir)
    return config


def usage() -> str:
    lines = [
        f"Usage: {PROG} [/path/to/hypercache.yaml] [options]",
        f"       {PROG} --config /path/to/hypercache.yaml [options]",
        f"       {PROG} -v or --version",
        f"       {PROG} -h or --help",
        "",
        "Options (flags override the config file; CONFIG GET/SET use the same names):",
    ]
    width = max(len(p.name) + len(p.metavar) for p in PARAMS_LIST) + 4
    for param in PARAMS_LIST:
        left = f"--{param.name} {param.metavar}"
        lines.append(f"  {left:<{width}} {param.help}")
    lines += [
        "",
        "Examples:",
        f"  {PROG} hypercache.yaml --port 7001",
        f"  {PROG} --port 7000 --dir ./data --maxmemory 1gb --maxmemory-policy allkeys-lru",
        f"  {PROG} --appendfsync always --requirepass secret",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Logging


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def redis_level(levelno: int) -> tuple[str, str]:
    """(Redis's level name, its mark in a log line) for a Python level."""
    if levelno < VERBOSE:
        return "debug", "."
    if levelno < logging.INFO:
        return "verbose", "-"
    if levelno < logging.WARNING:
        return "notice", "*"
    return "warning", "#"


class RedisFormatter(logging.Formatter):
    """`<pid>:M 24 Nov 2026 18:01:57.123 * message`, as redis-server writes its log."""

    def format(self, record: logging.LogRecord) -> str:
        t = time.localtime(record.created)
        millis = int(record.msecs)
        stamp = (
            f"{t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{millis:03d}"
        )
        line = f"{record.process}:M {stamp} {redis_level(record.levelno)[1]} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, pid, level (Redis's names), logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "pid": record.process,
            "role": "master",
            "level": redis_level(record.levelno)[0],
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(config: Config) -> None:
    """Log to config.logfile (standard output if empty) at config.loglevel."""
    if config.logfile:
        handler: logging.Handler = logging.FileHandler(config.logfile, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if config.logformat == "json" else RedisFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LOG_LEVELS[config.loglevel])


# ---------------------------------------------------------------------------------------
# Main


def fail(message: str, code: int) -> NoReturn:
    print(f"{PROG}: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        config = build_config(argv)
    except (UsageError, ConfigError) as err:
        fail(str(err), EXIT_USAGE)
    try:
        os.makedirs(config.dir, exist_ok=True)
    except OSError as err:
        fail(f"cannot create data directory '{config.dir}': {err.strerror}", EXIT_FAILURE)
    try:
        setup_logging(config)
    except OSError as err:
        fail(f"cannot open log file '{config.logfile}': {err.strerror}", EXIT_FAILURE)
    return run(config)


def run(config: Config) -> int:
    import trio

    try:
        from hypercache.server import Server
    except ImportError as err:  # the C extension was not built: say so, no traceback
        fail(str(err), EXIT_FAILURE)

    log.warning("oO0OoO0OoO0Oo HyperCache is starting oO0OoO0OoO0Oo")
    log.warning("HyperCache version=%s, bits=64, pid=%d, just started", __version__, os.getpid())
    if config.config_file:
        log.warning("Configuration loaded from %s", config.config_file)
    else:
        log.warning(
            "Warning: no config file specified, using the default config. In order to specify "
            "a config file use %s /path/to/hypercache.yaml", PROG
        )
    try:
        trio.run(Server(config).run)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # noqa: BLE001  (one line for the operator, the details in the log)
        oserror = _first_oserror(exc)
        if oserror is not None:
            message = oserror.strerror or str(oserror)
            if oserror.filename:
                message = f"{message}: '{oserror.filename}'"
            log.warning("%s", message)
            fail(message, EXIT_FAILURE)
        log.exception("fatal error")
        fail(f"fatal error: {type(exc).__name__}: {exc}", EXIT_FAILURE)
    return 0


def _first_oserror(exc: BaseException) -> OSError | None:
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_oserror(inner)
            if found is not None:
                return found
    return None


if __name__ == "__main__":
    sys.exit(main())
