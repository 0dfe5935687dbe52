"""The trio network layer: listeners, the per-connection loop, background services."""

from hypercache.server.listener import Server

__all__ = ["Server"]
