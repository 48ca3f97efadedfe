"""The one connection pool callgate uses to reach every HTTP backend.

aiohttp, used directly: on this stack it serves several times the requests per
second of httpx's own pool at 32 concurrent calls, and its exceptions tell a
refused connection from a dropped one from a timeout, which the gateway
reports differently. The session is made on first use, inside the event loop.
"""

from __future__ import annotations

import aiohttp


class UpstreamClient:
    #: Idle connections are closed after this long: below uvicorn's 5 s and most servers' idle timeouts, so
    #: callgate lets a connection go before the backend does. A request written to a connection the backend
    #: is closing fails (nothing is re-sent behind the tool spec's back); this keeps that race rare.
    KEEPALIVE_S = 4.0

    def __init__(
        self,
        *,
        max_connections: int = 512,
        keepalive_s: float = KEEPALIVE_S,
        trace_configs: list[aiohttp.TraceConfig] | None = None,
    ) -> None:
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        #: aiohttp request hooks; gateway.tracing's put the trace context on every backend request.
        self._trace_configs = trace_configs
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=self._keepalive_s, ttl_dns_cache=60
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,  # no proxies or netrc from the environment: callgate talks only to its backends
                timeout=aiohttp.ClientTimeout(total=None),  # each call's own deadline bounds it
                auto_decompress=True,
                headers={"User-Agent": "callgate"},  # in place of aiohttp's own (no skip_auto_headers: a slow path)
                trace_configs=self._trace_configs,
            )
            # aiohttp quietly sends a GET, PUT or DELETE a second time when the connection drops; whether a
            # tool may be called twice is its spec's to say (idempotent), and the retry stage's to act on.
            # There is no public switch: aiohttp's own test client sets this attribute too.
            self._session._retry_connection = False
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
