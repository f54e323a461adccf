"""ragfood.transport: httpx over http.client, against real sockets that answer as scripted
(kept-alive or closed connections, trickled, cut short, silent, TLS)."""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ragfood.transport import StdlibTransport

Handler = Callable[[socket.socket], None]


class Scripted:
    """A TCP server on 127.0.0.1 that hands each accepted connection to `handler` in a thread."""

    def __init__(self, handler: Handler, wrap: ssl.SSLContext | None = None) -> None:
        self._handler, self._wrap = handler, wrap
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"{'https' if self._wrap else 'http'}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self._wrap is not None:
                conn = self._wrap.wrap_socket(conn, server_side=True)
            self._handler(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Scripted]]:
    servers: list[Scripted] = []

    def start(handler: Handler, wrap: ssl.SSLContext | None = None) -> Scripted:
        servers.append(Scripted(handler, wrap))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def read_request(conn: socket.socket) -> bytes:
    """One request's head and body (Content-Length or chunked); b"" when the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if b"transfer-encoding: chunked" in head.lower():
        while not body.endswith(b"0\r\n\r\n"):
            body += conn.recv(65536)
    else:
        while len(body) < length:
            body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def answer(body: bytes = b"ok", *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def keep_alive(conn: socket.socket) -> None:
    while read_request(conn):
        conn.sendall(answer())


def client(context: ssl.SSLContext | None = None, **kwargs: object) -> httpx.Client:
    return httpx.Client(transport=StdlibTransport(context), **kwargs)  # type: ignore[arg-type]


def test_consecutive_requests_share_one_connection(serve):
    server = serve(keep_alive)
    with client() as http:
        assert [http.get(f"{server.url}/info").text for _ in range(3)] == ["ok"] * 3
        assert http.post(f"{server.url}/query", json={"topK": 3}).text == "ok"
    assert server.connections == 1


def test_a_connection_the_peer_closed_while_idle_is_not_reused(serve):
    # Servers close idle keep-alive connections (uvicorn after 5 s), and a Lambda container may
    # sleep for minutes between invocations: sending on such a connection would fail.
    def once_then_close(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(answer())
        time.sleep(0.05)

    server = serve(once_then_close)
    with client() as http:
        assert http.get(server.url).text == "ok"
        time.sleep(0.3)
        assert http.get(server.url).text == "ok"
    assert server.connections == 2


def test_a_body_left_unread_does_not_go_back_to_the_pool(serve):
    # The rest of it is still on its way: a request sent on that connection would read it as
    # its own answer.
    slow = [True]

    def slow_then_keep_alive(conn: socket.socket) -> None:
        if slow.pop() if slow else False:
            read_request(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nxxxxx")
            time.sleep(0.3)
            conn.sendall(b"xxxxx")
        keep_alive(conn)

    server = serve(slow_then_keep_alive)
    with client() as http:
        with http.stream("GET", server.url) as response:
            pieces = response.iter_raw()
            assert next(pieces) == b"xxxxx"  # then left
        assert http.get(server.url).text == "ok"
        del pieces
    assert server.connections == 2


def test_streamed_chunks_are_delivered_as_they_arrive(serve):
    first_seen = threading.Event()
    waited: list[bool] = []

    def trickle(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        conn.sendall(b'6\r\n{"a":1\r\n')
        waited.append(first_seen.wait(5))  # the client must have it before the rest is sent
        conn.sendall(b"2\r\n}\n\r\n0\r\n\r\n")
        read_request(conn)

    server = serve(trickle)
    with client() as http, http.stream("GET", server.url) as response:
        pieces = []
        for piece in response.iter_raw():
            pieces.append(piece)
            first_seen.set()
    assert pieces == [b'{"a":1', b"}\n"] and waited == [True]


def test_a_body_cut_short_is_a_protocol_error(serve):
    def cut(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)

    server = serve(cut)
    with client() as http, pytest.raises(httpx.RemoteProtocolError, match="complete message"):
        http.get(server.url)


def test_a_peer_that_hangs_up_without_answering(serve):
    server = serve(lambda conn: read_request(conn) and None)
    with client() as http, pytest.raises(httpx.RemoteProtocolError, match="disconnected"):
        http.get(server.url)


def test_a_silent_peer_times_out_on_read(serve):
    def silent(conn: socket.socket) -> None:
        read_request(conn)
        time.sleep(2)

    server = serve(silent)
    with client(timeout=httpx.Timeout(5.0, read=0.2)) as http, pytest.raises(httpx.ReadTimeout):
        http.get(server.url)


def test_a_refused_connection_is_a_connect_error():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with client() as http, pytest.raises(httpx.ConnectError, match="refused"):
        http.get(f"http://127.0.0.1:{port}/")


def test_compressed_answers_are_decoded(serve):
    def gzipped(conn: socket.socket) -> None:
        while read_request(conn):
            conn.sendall(answer(gzip.compress(b'{"result": []}'), "Content-Encoding: gzip"))

    server = serve(gzipped)
    with client() as http:
        assert http.get(server.url).json() == {"result": []}


def test_request_headers_and_bodies_go_out_as_httpx_wrote_them(serve):
    seen: list[bytes] = []

    def record(conn: socket.socket) -> None:
        while request := read_request(conn):
            seen.append(request)
            conn.sendall(answer())

    server = serve(record)
    with client() as http:
        http.post(
            f"{server.url}/upsert-data/ns?x=1", content=b"[1]", headers={"Authorization": "t"}
        )
        http.post(f"{server.url}/chunks", content=iter([b"ab", b"cd"]))
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /upsert-data/ns?x=1 HTTP/1.1"
    assert sum(line.lower().startswith(b"host:") for line in lines) == 1
    assert b"Authorization: t" in lines and body == b"[1]"
    assert seen[1].endswith(b"\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n")


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for 127.0.0.1, and the file that trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return server, folder / "cert.pem"


def test_https_verifies_the_peer_with_the_given_context(serve, tls):
    server_context, trusted = tls
    server = serve(keep_alive, wrap=server_context)
    with client(context=ssl.create_default_context(cafile=str(trusted))) as http:
        assert [http.get(server.url).text for _ in range(2)] == ["ok", "ok"]
    assert server.connections == 1
    untrusting = client(context=ssl.create_default_context())
    with untrusting, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        untrusting.get(server.url)
