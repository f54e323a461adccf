"""A loopback TCP proxy that adds a cloud-like round trip to every HTTP request.

The delay is added once per request/response turn (half on the way in, half on the way out), not
per packet, so large bodies are not penalised more than a real network would. It also counts the
requests it forwarded, which is how the benchmarks count network round trips, and the most
requests that were in flight at once (sent, not yet answered), which is how tests see parallelism.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class LatencyProxy:
    def __init__(self, target_host: str, target_port: int, rtt_ms: float = 40.0) -> None:
        self.target = (target_host, target_port)
        self.half_delay = rtt_ms / 2000.0
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        turn = {"last": "response"}

        async def pump(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str
        ) -> None:
            try:
                while chunk := await reader.read(65536):
                    if turn["last"] != direction:  # a new request (or response) begins
                        turn["last"] = direction
                        if direction == "request":
                            self.requests += 1
                            self.in_flight += 1
                            self.max_in_flight = max(self.max_in_flight, self.in_flight)
                        await asyncio.sleep(self.half_delay)
                        if direction == "response":
                            self.in_flight -= 1
                    writer.write(chunk)
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()  # also on cancellation, while the loop still runs

        with contextlib.suppress(asyncio.CancelledError):  # the proxy is shutting down
            await asyncio.gather(
                pump(client_r, server_w, "request"), pump(server_r, client_w, "response")
            )
