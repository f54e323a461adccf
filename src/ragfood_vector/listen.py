"""Opening a server's listening socket before anything claims to serve, so that a port already
in use is named as such (uvicorn alone logs a bare `[Errno 98]` line and exits 3)."""

from __future__ import annotations

import errno
import socket


class ServeError(Exception):
    """The server cannot listen where it was asked to."""


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, for `uvicorn.Server.run(sockets=[...])`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)  # SO_REUSEADDR, as uvicorn
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(
                f"port {port} on {host} is already in use: stop what listens there or choose "
                "another with --port"
            ) from None
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
