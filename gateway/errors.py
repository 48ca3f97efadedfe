"""The one error tree of callgate, and the one mapping from it to the wire.

Every refusal is raised as a subclass of :class:`GatewayError`. Each class
carries a JSON-RPC ``code``, a short stable ``reason`` (used in audit records,
metrics and logs) and the HTTP status of a response that carries it alone.
The functions at the end are the one mapping to the wire: :func:`error_object`
(the JSON-RPC error), :func:`http_status` and :func:`http_headers` (a response
that is the refusal alone), :func:`answer_status` (a response carrying a JSON-RPC
answer). :data:`REASONS` is every reason string an audit record, log line or
metric may hold: the tree's, and the few for outcomes that are no refusal.

    GatewayError
    ├── ProtocolError                                            (HTTP 400)
    │   ├── ParseError             -32700 protocol.parse          (HTTP 400)
    │   │   └── UnsupportedMediaType -32700 protocol.parse        (HTTP 415)
    │   ├── InvalidRequest         -32600 protocol.invalid_request (HTTP 400)
    │   │   ├── PayloadTooLarge    -32600 protocol.invalid_request (HTTP 413)
    │   │   ├── RequestTimeout     -32600 protocol.invalid_request (HTTP 408)
    │   │   ├── HeadersTooLarge    -32600 protocol.invalid_request (HTTP 431)
    │   │   ├── SiteNotAllowed     -32600 protocol.invalid_request (HTTP 403)
    │   │   ├── HttpMethodNotAllowed -32600 protocol.invalid_request (HTTP 405 + Allow)
    │   │   └── SessionNotFound    -32600 protocol.invalid_request (HTTP 404; MCP sessions)
    │   ├── MethodNotFound         -32601 protocol.method_not_found (HTTP 404 on /admin)
    │   │   └── UnknownMethod      -32601 protocol.method_not_found (HTTP 404; MCP 2026-07-28)
    │   ├── InvalidParams          -32602 protocol.invalid_params
    │   │   ├── SchemaInvalid      -32602 schema.invalid
    │   │   └── InvalidMeta        -32602 protocol.invalid_params (HTTP 400; MCP 2026-07-28)
    │   ├── HeaderMismatch         -32020 protocol.header_mismatch (HTTP 400; MCP 2026-07-28)
    │   └── UnsupportedVersion     -32022 protocol.unsupported_version (HTTP 400; MCP 2026-07-28)
    ├── Unauthenticated            -31401 auth.unauthenticated    (HTTP 401 + WWW-Authenticate)
    │   └── Challenged             -31401 auth.unauthenticated    (HTTP 401 + WWW-Authenticate)
    ├── PolicyDenied               -31403 policy.denied           (HTTP 403 on /admin)
    │   └── SelfApproval           -31403 approval.self           (HTTP 403 on /admin; /admin/approvals)
    ├── RateLimited                -31429 ratelimit.exceeded
    ├── StoreUnavailable           -31503 store.unavailable       (HTTP 503)
    ├── PiiBlocked                 -31451 pii.blocked
    │   └── PiiOverBudget          -31451 pii.over_budget
    ├── ApprovalPending            -31202 approval.pending
    ├── ApprovalRefused            -31403 approval.refused        (never raised itself)
    │   ├── ApprovalDenied         -31403 approval.denied
    │   ├── ApprovalExpired        -31403 approval.expired
    │   └── ApprovalMismatch       -31403 approval.mismatch
    │       └── ApprovalUsed       -31403 approval.used
    ├── ApprovalNotFound           -31404 approval.not_found      (HTTP 404; /admin/approvals)
    ├── ApprovalConflict           -31409 approval.conflict       (HTTP 409; /admin/approvals)
    ├── BackendError
    │   ├── BackendUnavailable     -31503 backend.unavailable
    │   ├── BackendTimeout         -31504 backend.timeout
    │   └── BackendBadResponse     -31502 backend.bad_response
    │       └── BackendTransient   -31502 backend.bad_response    (retried for idempotent tools)
    └── InternalError              -32603 internal                (HTTP 500)
        └── AuditUnavailable       -32603 audit.unavailable       (HTTP 503)

"HTTP" is the status of a response that is the refusal alone; without it, 200
(the refusal is a JSON-RPC answer). ``/admin`` has no JSON-RPC call to answer,
so a denial there says so in HTTP too. A test keeps this picture and the
classes below in step.

Messages and ``data`` are safe to show to the caller: they never hold argument
values, personal data, secrets or internals.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

#: The ``WWW-Authenticate`` of a 401 when there is no identity provider to point at (RFC 9110 section 11.6.1).
DEFAULT_CHALLENGE = 'Bearer realm="callgate"'


class GatewayError(Exception):
    """Root of every refusal callgate makes."""

    code: ClassVar[int] = -32603
    reason: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 200
    #: The status on ``/admin`` when it differs (``None``: the same as :attr:`http_status`).
    admin_http_status: ClassVar[int | None] = None
    default_message: ClassVar[str] = "Internal error"
    #: "refused" when callgate said no on purpose, "failed" when something broke.
    outcome: ClassVar[str] = "refused"

    def __init__(self, message: str | None = None, *, data: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        self.data = data or {}
        super().__init__(self.message)


class ProtocolError(GatewayError):
    """The request is not a well-formed JSON-RPC or MCP request."""

    http_status = 400


class ParseError(ProtocolError):
    """The body is not JSON: invalid UTF-8, bad syntax, absurd nesting or numbers."""

    code = -32700
    reason = "protocol.parse"
    default_message = "Parse error"


class UnsupportedMediaType(ParseError):
    """The body is not declared as ``application/json``."""

    http_status = 415
    default_message = "Content-Type must be application/json"


class InvalidRequest(ProtocolError):
    """The body is JSON but not a valid request object (or a batch where none is allowed)."""

    code = -32600
    reason = "protocol.invalid_request"
    default_message = "Invalid Request"


class PayloadTooLarge(InvalidRequest):
    """The request body is over the configured maximum; refused before it is parsed."""

    http_status = 413
    default_message = "Request body too large"


class RequestTimeout(InvalidRequest):
    """The request body did not all arrive within ``server.body_read_timeout_s`` of the first read.

    A slow or stalled body (a slowloris client) would otherwise hold a request, and its
    connection, open for as long as the client likes. The response asks to close the connection.
    """

    http_status = 408
    default_message = "Request body not received in time"


class HeadersTooLarge(InvalidRequest):
    """The request head is over ``server.max_header_bytes`` or ``server.max_headers``.

    Answered by the HTTP protocol itself as soon as the limit is passed, before the rest is read
    or any credential is looked at; the connection is then closed.
    """

    http_status = 431
    default_message = "Request header fields too large"


class SiteNotAllowed(InvalidRequest):
    """The ``Host`` (or a browser's ``Origin``) names a site this gateway does not serve.

    A DNS-rebinding page reaches the gateway under its own name, and a cross-site page
    carries its own Origin: neither may read or call anything. Also raised for a /metrics
    scrape from a client off loopback when no metrics token is configured.
    """

    http_status = 403
    default_message = "Host not allowed"


class HttpMethodNotAllowed(InvalidRequest):
    """The endpoint does not serve this HTTP method; ``allow`` (the ``Allow`` header) names those it does.

    ``GET /mcp`` is one: callgate sends no server-initiated messages, so there is no stream to open.
    """

    http_status = 405
    default_message = "Method not allowed on this endpoint"

    def __init__(self, allow: str) -> None:
        super().__init__(data={"allow": allow})
        self.allow = allow


class SessionNotFound(InvalidRequest):
    """The MCP session id is unknown, expired, closed, or belongs to another principal."""

    http_status = 404
    default_message = "Session not found"


class MethodNotFound(ProtocolError):
    """The method does not exist on this endpoint."""

    code = -32601
    reason = "protocol.method_not_found"
    default_message = "Method not found"
    http_status = 200
    admin_http_status = 404


class InvalidParams(ProtocolError):
    """The params are malformed, or name a tool that does not exist."""

    code = -32602
    reason = "protocol.invalid_params"
    default_message = "Invalid params"
    http_status = 200


class SchemaInvalid(InvalidParams):
    """The arguments violate the tool's input schema.

    On MCP this becomes a tool result with ``isError: true`` so the model can
    correct itself; on plain JSON-RPC it is a -32602 error. ``errors`` lists the
    failing paths and constraints, never the offending values.
    """

    reason = "schema.invalid"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("Arguments do not match the tool's input schema", data={"errors": errors})


class UnknownMethod(MethodNotFound):
    """MCP 2026-07-28: the method is unknown, or one the revision removed (initialize, ping, logging/setLevel).

    That revision answers it with HTTP 404, so a client tells it from a legacy endpoint's plain 404 by the body.
    """

    http_status = 404


class InvalidMeta(InvalidParams):
    """MCP 2026-07-28: ``params._meta`` lacks a required per-request field, or one is malformed.

    ``io.modelcontextprotocol/protocolVersion`` and ``/clientCapabilities`` are required, ``/clientInfo``
    optional; the message names the key, never the value.
    """

    http_status = 400


class HeaderMismatch(ProtocolError):
    """MCP 2026-07-28: a required header (MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Param-*) is
    missing, malformed, or says something other than the body.

    A proxy in front may route or rate-limit on those headers, so the body alone is never trusted over them.
    """

    code = -32020
    reason = "protocol.header_mismatch"
    default_message = "Header mismatch"


class UnsupportedVersion(ProtocolError):
    """MCP 2026-07-28: the request names a protocol version callgate does not serve that way.

    ``data.supported`` lists the versions callgate speaks, ``data.requested`` echoes the one asked for.
    """

    code = -32022
    reason = "protocol.unsupported_version"
    default_message = "Unsupported protocol version"


class Unauthenticated(GatewayError):
    """No credential, or one that is unknown, expired, malformed or beyond what its issuer may grant.

    ``detail``, when set, names the check that refused in a few stable words
    (``jwt.role_not_allowed``; the list is in gateway/auth/jwt.py) for the audit
    trail. It is never sent to the caller, who sees the same message whatever failed.
    ``challenge`` is the ``WWW-Authenticate`` value the 401 carries.
    """

    code = -31401
    reason = "auth.unauthenticated"
    http_status = 401
    default_message = "Authentication required"

    def __init__(
        self, message: str | None = None, *, detail: str | None = None, challenge: str = DEFAULT_CHALLENGE
    ) -> None:
        super().__init__(message)
        self.detail = detail
        self.challenge = challenge


class Challenged(Unauthenticated):
    """:class:`Unauthenticated` as the authenticator answers every refused credential.

    Its challenge points at the RFC 9728 metadata when JWT issuers are configured, with
    ``error="invalid_token"`` when a credential was sent (RFC 6750 section 3.1); ``detail``
    is the refusal's own (``jwt.role_not_allowed``, or None when the check set none).
    """

    def __init__(self, message: str, challenge: str, detail: str | None = None) -> None:
        super().__init__(message, detail=detail, challenge=challenge)


class PolicyDenied(GatewayError):
    """The policy does not allow this principal to do this (deny by default)."""

    code = -31403
    reason = "policy.denied"
    default_message = "Denied by policy"
    admin_http_status = 403


class RateLimited(GatewayError):
    """A rate limit is exhausted; ``data.retry_after_s`` says when to try again."""

    code = -31429
    reason = "ratelimit.exceeded"
    default_message = "Rate limit exceeded"


class StoreUnavailable(GatewayError):
    """The shared store (Redis) does not answer, so what needs it is refused (fail closed).

    Rate-limit decisions and MCP sessions need the store; ``data.retry_after_s``
    says when callgate will next try it.
    """

    code = -31503
    reason = "store.unavailable"
    http_status = 503
    default_message = "Gateway state store unavailable"
    outcome = "failed"


class PiiBlocked(GatewayError):
    """Personal data of a blocked type was found; ``data.entities`` names the types."""

    code = -31451
    reason = "pii.blocked"
    default_message = "Personal data blocked by policy"


class PiiOverBudget(PiiBlocked):
    """A call's text in one direction is longer than ``pii.max_text_chars`` and ``pii.over_budget`` is refuse.

    Text is never passed on unscanned; ``data.max_text_chars`` says the budget, ``data.direction`` which way.
    """

    reason = "pii.over_budget"
    default_message = "Too much text to scan for personal data"


class ApprovalPending(GatewayError):
    """The call needs a human's approval, which has not been given yet.

    ``data.approval_id`` names the request and ``data.expires_at`` (ISO 8601, UTC) says until when it
    can be decided and executed. Repeating the same call with ``_meta["callgate/approval_id"]`` executes
    it once it is approved.
    """

    code = -31202
    reason = "approval.pending"
    default_message = "Waiting for human approval"


class ApprovalRefused(GatewayError):
    """A call that claims an approval (``_meta["callgate/approval_id"]``) and may not run on it."""

    code = -31403
    reason = "approval.refused"
    default_message = "Approval refused"


class ApprovalDenied(ApprovalRefused):
    """A human approver denied the request this call claims."""

    reason = "approval.denied"
    default_message = "A human approver denied this call"


class ApprovalExpired(ApprovalRefused):
    """The request this call claims was not decided, or its approval not used, before it expired."""

    reason = "approval.expired"
    default_message = "The approval expired"


class ApprovalMismatch(ApprovalRefused):
    """The approval id is unknown, or was given for another call.

    Another call is any change to the tool, the arguments, the subject, the tenant or the
    configuration version. Which of them differs is not said: the caller learns nothing of
    another principal's requests.
    """

    reason = "approval.mismatch"
    default_message = "The approval does not match this call"


class ApprovalUsed(ApprovalMismatch):
    """The approval was already spent: an approval executes its call once (a replay, or the loser of a race)."""

    reason = "approval.used"
    default_message = "The approval was already used"


class SelfApproval(PolicyDenied):
    """An approver tried to decide a request it made itself; the requester never approves its own call."""

    reason = "approval.self"
    default_message = "The requester cannot decide its own request"


class ApprovalNotFound(GatewayError):
    """``/admin/approvals``: no request with this id in the caller's tenant (another tenant's is not found either)."""

    code = -31404
    reason = "approval.not_found"
    http_status = 404
    default_message = "No such approval request"


class ApprovalConflict(GatewayError):
    """``/admin/approvals``: the request was already decided, or expired, so it cannot be decided now."""

    code = -31409
    reason = "approval.conflict"
    http_status = 409
    default_message = "The approval request is no longer pending"


class BackendError(GatewayError):
    """The backend behind a tool could not give a usable answer."""

    outcome = "failed"


class BackendUnavailable(BackendError):
    """The backend's circuit is open or its queue is full; ``data.retry_after_s`` may say when."""

    code = -31503
    reason = "backend.unavailable"
    default_message = "Backend unavailable"


class BackendTimeout(BackendError):
    """The backend did not answer within the tool's deadline."""

    code = -31504
    reason = "backend.timeout"
    default_message = "Backend timed out"


class BackendBadResponse(BackendError):
    """The backend was unreachable, failed (5xx), or answered something unusable."""

    code = -31502
    reason = "backend.bad_response"
    default_message = "Backend returned a bad response"


class BackendTransient(BackendBadResponse):
    """A failure that may pass by the next attempt: no connection, one dropped before a response, or 502/503/504.

    Raised where the failure is seen (the http adapter), so the retry stage need not guess; it retries only
    these, and only for tools marked ``idempotent``. To the caller, audit and metrics it is a bad response.
    """


class InternalError(GatewayError):
    """An unexpected fault inside callgate; no internals are shown."""

    http_status = 500
    outcome = "failed"


class AuditUnavailable(InternalError):
    """The audit record could not be made durable, so the call is refused (fail closed)."""

    reason = "audit.unavailable"
    http_status = 503
    default_message = "Audit trail unavailable"


# Reasons for outcomes that are no refusal: audit records, logs and metrics name them beside the tree's.

#: The call ran and the tool answered; a reload took effect; an approved call ran; an export was written.
OK = "ok"
#: The caller went away, or the server shut down, before the call was answered.
CANCELLED = "cancelled"
#: The tool answered with its own business error (``isError: true``): a result, not a refusal.
TOOL_ERROR = "backend.tool_error"
#: A reload found the files broken; the configuration in force stays (``config/reload`` records).
CONFIG_INVALID = "config.invalid"
#: An approver approved a request (``approval/decided``; a denial has :class:`ApprovalDenied`'s reason).
APPROVAL_APPROVED = "approval.approved"


def _tree(root: type[GatewayError] = GatewayError) -> Iterator[type[GatewayError]]:
    yield root
    for subclass in root.__subclasses__():
        yield from _tree(subclass)


#: Every reason string callgate writes; a test keeps each one used in the source declared here.
REASONS = frozenset({cls.reason for cls in _tree()} | {OK, CANCELLED, TOOL_ERROR, CONFIG_INVALID, APPROVAL_APPROVED})

#: Reasons that, as the whole answer to a request, say so in the HTTP status too: a load balancer or
#: client library that reads only the status must see that callgate itself cannot serve, and an
#: operator's script that a reload left the configuration as it was.
_STATUS_OF_ANSWER = {
    **{cls.reason: cls.http_status for cls in (AuditUnavailable, StoreUnavailable)},
    CONFIG_INVALID: 422,
}


def error_object(exc: GatewayError) -> dict[str, Any]:
    """The JSON-RPC error object for ``exc``: code, message and data with its reason."""
    return {"code": exc.code, "message": exc.message, "data": {"reason": exc.reason, **exc.data}}


def http_status(exc: GatewayError, *, admin: bool = False) -> int:
    """The HTTP status of a response that is ``exc`` alone; ``admin`` for ``/admin``, where no JSON-RPC
    call carries it, so a denial (200 as a tool call's answer) is 403 there."""
    if admin and exc.admin_http_status is not None:
        return exc.admin_http_status
    return exc.http_status


def http_headers(exc: GatewayError) -> dict[str, str]:
    """The headers a response that is ``exc`` alone must carry besides its body."""
    if isinstance(exc, Unauthenticated):
        # With JWT issuers configured, the challenge points at the RFC 9728 metadata (gateway.auth.metadata).
        return {"WWW-Authenticate": exc.challenge}
    if isinstance(exc, HttpMethodNotAllowed):
        return {"Allow": exc.allow}
    return {}


def answer_status(reason: object) -> int:
    """The HTTP status of a response whose whole answer has one outcome, ``reason``: a JSON-RPC answer
    that is one error, or the result of ``/admin/policy/reload``.

    200, except 503 for ``audit.unavailable`` and ``store.unavailable``, and 422 for ``config.invalid``
    (a batch, or an answer beside others, stays 200 whatever it holds).
    """
    return _STATUS_OF_ANSWER.get(reason, 200) if isinstance(reason, str) else 200


def as_gateway_error(exc: BaseException) -> GatewayError:
    """``exc`` itself when it is a refusal, else a bare :class:`InternalError` that leaks nothing."""
    return exc if isinstance(exc, GatewayError) else InternalError()
