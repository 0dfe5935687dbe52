"""Errors raised by the keyspace and command handlers, with Redis's texts.

A CommandError carries the whole error line, code included; dispatch turns it into
an error reply. The texts are Redis's byte for byte: clients parse some of them.
"""

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
OVERFLOW = "ERR increment or decrement would overflow"
NO_SUCH_KEY = "ERR no such key"
INVALID_EXPIRE = "ERR invalid expire time in '{}' command"
NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"


class CommandError(Exception):
    """A command failed; `str(err)` is the full Redis error line ('ERR ...')."""


class WrongTypeError(CommandError):
    """The key holds a value of another type."""

    def __init__(self) -> None:
        super().__init__(WRONGTYPE)
