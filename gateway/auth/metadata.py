"""OAuth 2.0 protected resource metadata (RFC 9728): how a client learns which issuers callgate trusts.

When JWT issuers are configured, every 401 points at the metadata document
(``WWW-Authenticate: Bearer resource_metadata="..."``), as the MCP
authorization specification expects, and ``GET
/.well-known/oauth-protected-resource`` serves it. Without JWT issuers there is
nothing to discover: the path answers 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from gateway.config import GatewaySettings

WELL_KNOWN_PATH = "/.well-known/oauth-protected-resource"


def metadata_url(resource_uri: str) -> str:
    """RFC 9728 section 3.1: the well-known path goes between the host and the resource's own path, if any."""
    parts = urlsplit(resource_uri)
    return f"{parts.scheme}://{parts.netloc}{WELL_KNOWN_PATH}{parts.path.rstrip('/')}"


def bearer_challenge(resource_uri: str) -> str:
    return f'Bearer resource_metadata="{metadata_url(resource_uri)}"'


def protected_resource_metadata(settings: GatewaySettings) -> dict[str, Any] | None:
    """The metadata document, or None when no JWT issuer is configured."""
    resource = settings.server.resource_uri
    if not settings.jwt or resource is None:
        return None
    return {
        "resource": resource,
        "authorization_servers": [issuer.issuer for issuer in settings.jwt],
        "bearer_methods_supported": ["header"],
        "resource_name": "callgate",
    }


def metadata_endpoint(settings: Callable[[], GatewaySettings]) -> Callable[[Request], Awaitable[Response]]:
    """The route for ``WELL_KNOWN_PATH + "{suffix:path}"``; ``settings`` gives the configuration in force."""

    async def metadata(request: Request) -> Response:
        current = settings()
        document = protected_resource_metadata(current)
        # Served at the plain path and, for a resource URI with a path, at the path-suffixed one RFC 9728 names.
        suffixes = {"", urlsplit(document["resource"]).path.rstrip("/")} if document else set()
        if document is None or request.path_params.get("suffix", "") not in suffixes:
            return PlainTextResponse("Not Found", status_code=404)
        return JSONResponse(document)

    return metadata
