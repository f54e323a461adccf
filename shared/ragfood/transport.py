"""The HTTP/1.1 transport under every client of ours: httpx's API over the standard library's
`http.client`, with a keep-alive pool per destination.

Why not httpx's own transport: it loads httpcore and h11 when the first client is built, ~12 ms of
CPU of the ask function's ~245 ms cold start (docs/performance.md), while `http.client` is loaded
already (by httpx itself, through `http.cookiejar`). Everything above the transport stays httpx:
the SDK's calls, timeouts, retries (ragfood.retry), streaming, content decoding. Only HTTP/1.1 is
spoken; proxies from the environment are not used (httpx ignores them too once a transport is
given).
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator
from functools import cache

import httpx

_CHUNK = 64 * 1024
_MAX_IDLE_PER_ORIGIN = 8

Origin = tuple[str, str, int]


@cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context per process for every client: each one otherwise loads the CA bundle
    again, ~50 ms of CPU per client on a cold start."""
    return httpx.create_ssl_context()


def http_transport(url: str | None = None) -> StdlibTransport:
    """A transport for `url`; plain http:// destinations (local stand-ins) need no TLS context
    (one is still made at the first https:// connection, should there be one)."""
    plain = url is not None and url.lower().startswith("http://")
    return StdlibTransport(None if plain else shared_ssl_context())


class StdlibTransport(httpx.BaseTransport):
    """Sends each request on an idle kept-alive connection to its origin, or a new one.

    A connection goes back to the pool only once its answer has been read to the end, and is
    dropped at reuse if the peer has closed it meanwhile (servers close idle connections; a
    Lambda container may sleep for minutes between invocations). Timeouts are httpx's: `connect`
    bounds the connection, `write` the sending, `read` each read.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout") or {}
        origin = _origin(request.url)
        connection = self._connection(origin, timeouts.get("connect"), request)
        try:
            _send(connection, request, timeouts.get("write"))
        except BaseException as exc:
            connection.close()
            _raise_as_httpx(exc, request, "write")
            raise
        try:
            connection.sock.settimeout(timeouts.get("read"))  # type: ignore[union-attr]
            answer = connection.getresponse()
        except BaseException as exc:
            connection.close()
            _raise_as_httpx(exc, request, "read")
            raise
        return httpx.Response(
            answer.status,
            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.getheaders()],
            stream=_Body(answer, connection, request, self, origin),
            extensions={
                "http_version": b"HTTP/1.1" if answer.version == 11 else b"HTTP/1.0",
                "reason_phrase": answer.reason.encode("latin-1", "replace"),
            },
        )

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _connection(
        self, origin: Origin, timeout: float | None, request: httpx.Request
    ) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                pooled = self._idle.get(origin)
                connection = pooled.pop() if pooled else None
            if connection is None:
                break
            if connection.sock is not None and not _peer_spoke(connection.sock):
                return connection
            connection.close()  # closed by the peer while idle (or it sent what we never asked)
        scheme, host, port = origin
        if scheme == "https":
            context = self._ssl_context or shared_ssl_context()
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.connect()
        except BaseException as exc:
            connection.close()
            _raise_as_httpx(exc, request, "connect")
            raise
        return connection

    def _release(self, origin: Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            pooled = self._idle.setdefault(origin, [])
            if len(pooled) < _MAX_IDLE_PER_ORIGIN:
                pooled.append(connection)
                return
        connection.close()


class _Body(httpx.SyncByteStream):
    """An answer's body as it arrives; its connection is pooled again once it is read whole."""

    def __init__(
        self,
        answer: http.client.HTTPResponse,
        connection: http.client.HTTPConnection,
        request: httpx.Request,
        transport: StdlibTransport,
        origin: Origin,
    ) -> None:
        self._answer, self._connection, self._request = answer, connection, request
        self._transport, self._origin = transport, origin
        self._whole = self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        answer = self._answer
        try:
            # read1: whatever has arrived (one read at most), so streamed tokens are not held back.
            while chunk := answer.read1(_CHUNK):
                yield chunk
        except Exception as exc:
            self._connection.close()
            _raise_as_httpx(exc, self._request, "read")
            raise
        if answer.length:  # read1 ends quietly when the peer closes before Content-Length
            self._connection.close()
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body",
                request=self._request,
            )
        self._whole = True

    def close(self) -> None:
        if self._closed:  # pooled once only: another thread may be using it by now
            return
        self._closed = True
        answer, connection = self._answer, self._connection
        answer.close()
        if self._whole and not answer.will_close and connection.sock is not None:
            self._transport._release(self._origin, connection)
        else:
            connection.close()


def _origin(url: httpx.URL) -> Origin:
    scheme = url.scheme
    if scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
    host = url.raw_host.decode("ascii")
    return scheme, host, url.port or (443 if scheme == "https" else 80)


def _send(
    connection: http.client.HTTPConnection, request: httpx.Request, timeout: float | None
) -> None:
    connection.sock.settimeout(timeout)  # type: ignore[union-attr]
    # httpx has written Host, Accept-Encoding and the body's length or chunking: send them as is.
    connection.putrequest(
        request.method,
        request.url.raw_path.decode("ascii"),
        skip_host=True,
        skip_accept_encoding=True,
    )
    for name, value in request.headers.raw:
        connection.putheader(name, value)
    chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
    body: Iterable[bytes] | bytes | None = (
        iter(request.stream) if chunked else request.read() or None  # type: ignore[call-overload]
    )
    connection.endheaders(body, encode_chunked=chunked)


def _peer_spoke(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: the peer's close (or junk)."""
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


_TIMEOUTS: dict[str, type[httpx.TimeoutException]] = {
    "connect": httpx.ConnectTimeout,
    "write": httpx.WriteTimeout,
    "read": httpx.ReadTimeout,
}
_ERRORS: dict[str, type[httpx.NetworkError]] = {
    "connect": httpx.ConnectError,
    "write": httpx.WriteError,
    "read": httpx.ReadError,
}


def _raise_as_httpx(exc: BaseException, request: httpx.Request, phase: str) -> None:
    """Raise the httpx exception httpx's own transport raises for the same failure in `phase`
    (returns for anything else, for the caller to re-raise as it is)."""
    message = str(exc) or type(exc).__name__
    translated: httpx.TransportError
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        translated = _TIMEOUTS[phase](message, request=request)
    elif isinstance(exc, http.client.RemoteDisconnected):
        translated = httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    elif isinstance(exc, http.client.HTTPException):
        translated = httpx.RemoteProtocolError(message, request=request)
    elif isinstance(exc, OSError):
        translated = _ERRORS[phase](message, request=request)
    else:
        return
    raise translated from exc
