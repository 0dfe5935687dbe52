"""The HTTP admin endpoint (admin.bind_addr): /health, /stats (INFO as JSON), /metrics
(Prometheus text), an ASGI app served by hypercorn's trio worker in the server's nursery."""

from hypercache.admin.app import AdminApp, serve_admin

__all__ = ["AdminApp", "serve_admin"]
