"""The authenticator the transports call: an API key or a JWT, told apart by the credential's shape.

A bearer credential with three dot-separated parts whose first part decodes as
a JWS header is a JWT; anything else, and every ``X-API-Key``, is an API key,
checked exactly as before. A credential in the query string (``access_token``
or ``token``) is refused even beside a valid header: URLs end up in access logs
and proxies (RFC 6750 section 2.3; the MCP authorization specification forbids it).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from gateway.auth.apikeys import ApiKeyAuthenticator
from gateway.auth.jwt import JwtAuthenticator, jws_header
from gateway.auth.metadata import bearer_challenge
from gateway.auth.principal import Principal
from gateway.config import GatewaySettings
from gateway.errors import DEFAULT_CHALLENGE, Challenged, Unauthenticated

QUERY_CREDENTIALS = frozenset({"access_token", "token"})
#: Unauthenticated.detail of a credential refused because it came in the query string.
QUERY_CREDENTIAL = "query_credential"


class Authenticator:
    """Turns request headers (and the query string, to refuse credentials there) into a Principal."""

    def __init__(
        self,
        api_keys: ApiKeyAuthenticator,
        jwt: JwtAuthenticator | None = None,
        resource_uri: str | None = None,
        anonymous: Principal | None = None,
    ) -> None:
        self._api_keys = api_keys
        self._jwt = jwt
        #: Who presents no credential at all; set only on loopback (gateway.app.check_listener refuses it elsewhere).
        self._anonymous = anonymous
        self._challenge = bearer_challenge(resource_uri) if jwt is not None and resource_uri else None

    def authenticate(self, headers: Mapping[str, str], query_string: bytes = b"") -> Principal:
        try:
            if query_string and _credential_in(query_string):
                raise Unauthenticated("Invalid token", detail=QUERY_CREDENTIAL)
            if self._anonymous is not None and "authorization" not in headers and "x-api-key" not in headers:
                return self._anonymous
            if self._jwt is not None and "x-api-key" not in headers:
                token = _bearer(headers)
                if token is not None and jws_header(token) is not None:
                    return self._jwt.authenticate(token)
            return self._api_keys.authenticate(headers)
        except Unauthenticated as exc:
            raise Challenged(exc.message, self._challenge_for(headers), exc.detail) from None

    def _challenge_for(self, headers: Mapping[str, str]) -> str:
        if self._challenge is None:
            return DEFAULT_CHALLENGE
        # RFC 6750 section 3.1: an error code only when a credential was sent.
        presented = "authorization" in headers or "x-api-key" in headers
        return f'{self._challenge}, error="invalid_token"' if presented else self._challenge


def build_authenticator(settings: GatewaySettings) -> Authenticator:
    """API keys always; JWTs too when ``principals.jwt`` names issuers; the loopback principal when set."""
    jwt = JwtAuthenticator(settings.jwt) if settings.jwt else None
    entry = settings.loopback_anonymous
    anonymous = None if entry is None else Principal(entry.subject, entry.tenant, entry.roles, "loopback_anonymous")
    return Authenticator(ApiKeyAuthenticator(settings.api_keys), jwt, settings.server.resource_uri, anonymous)


def _bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _credential_in(query_string: bytes) -> bool:
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return any(name.lower() in QUERY_CREDENTIALS for name, _ in pairs)
