"""Protocol-level errors: the request stream itself is broken, so the connection closes."""


class ProtocolError(Exception):
    """A malformed or oversized request. `str(err)` is the text after 'ERR Protocol error: '."""

    def reply_line(self) -> str:
        return f"ERR Protocol error: {self}"


class QueryBufferLimit(ProtocolError):
    """The client sent more unparsed bytes than the query-buffer limit; Redis closes it silently."""
