"""The one error tree of callgate, and the one mapping from it to the wire.

Every refusal is raised as a subclass of :class:`GatewayError`. Each class
carries a JSON-RPC ``code``, a short stable ``reason`` (used in audit records,
metrics and logs) and the HTTP status of a response that carries it alone.
:func:`error_object` is the only place that turns one into a JSON-RPC error.

    GatewayError
    ├── ProtocolError
    │   ├── ParseError             -32700 protocol.parse
    │   │   └── UnsupportedMediaType -32700 protocol.parse    (HTTP 415)
    │   ├── InvalidRequest         -32600 protocol.invalid_request
    │   │   ├── PayloadTooLarge    -32600 protocol.invalid_request (HTTP 413)
    │   │   ├── RequestTimeout     -32600 protocol.invalid_request (HTTP 408)
    │   │   ├── HeadersTooLarge    -32600 protocol.invalid_request (HTTP 431)
    │   │   └── SiteNotAllowed     -32600 protocol.invalid_request (HTTP 403)
    │   ├── MethodNotFound         -32601 protocol.method_not_found
    │   │   └── UnknownMethod      -32601 protocol.method_not_found (HTTP 404, MCP 2026-07-28)
    │   ├── InvalidParams          -32602 protocol.invalid_params
    │   │   ├── SchemaInvalid      -32602 schema.invalid
    │   │   └── InvalidMeta        -32602 protocol.invalid_params (HTTP 400, MCP 2026-07-28)
    │   ├── HeaderMismatch         -32020 protocol.header_mismatch (HTTP 400, MCP 2026-07-28)
    │   └── UnsupportedVersion     -32022 protocol.unsupported_version (HTTP 400, MCP 2026-07-28)
    ├── Unauthenticated            -31401 auth.unauthenticated   (HTTP 401)
    ├── PolicyDenied               -31403 policy.denied
    │   └── SelfApproval           -31403 approval.self          (HTTP 403; /admin/approvals)
    ├── RateLimited                -31429 ratelimit.exceeded
    ├── StoreUnavailable           -31503 store.unavailable      (HTTP 503)
    ├── PiiBlocked                 -31451 pii.blocked
    │   └── PiiOverBudget          -31451 pii.over_budget
    ├── ApprovalPending            -31202 approval.pending
    ├── ApprovalRefused            -31403 (never raised itself)
    │   ├── ApprovalDenied         -31403 approval.denied
    │   ├── ApprovalExpired        -31403 approval.expired
    │   └── ApprovalMismatch       -31403 approval.mismatch
    │       └── ApprovalUsed       -31403 approval.used
    ├── ApprovalNotFound           -31404 approval.not_found     (HTTP 404; /admin/approvals)
    ├── ApprovalConflict           -31409 approval.conflict      (HTTP 409; /admin/approvals)
    ├── BackendError
    │   ├── BackendUnavailable     -31503 backend.unavailable
    │   ├── BackendTimeout         -31504 backend.timeout
    │   └── BackendBadResponse     -31502 backend.bad_response
    │       └── BackendTransient   -31502 backend.bad_response (retried for idempotent tools)
    └── InternalError              -32603 internal
        └── AuditUnavailable       -32603 audit.unavailable      (HTTP 503)

Messages and ``data`` are safe to show to the caller: they never hold argument
values, personal data, secrets or internals.
"""

from __future__ import annotations

from typing import Any, ClassVar


class GatewayError(Exception):
    """Root of every refusal callgate makes."""

    code: ClassVar[int] = -32603
    reason: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 200
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


class MethodNotFound(ProtocolError):
    """The method does not exist on this endpoint."""

    code = -32601
    reason = "protocol.method_not_found"
    default_message = "Method not found"
    http_status = 200


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
    """

    code = -31401
    reason = "auth.unauthenticated"
    http_status = 401
    default_message = "Authentication required"

    def __init__(self, message: str | None = None, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


class PolicyDenied(GatewayError):
    """The policy does not allow this principal to do this (deny by default)."""

    code = -31403
    reason = "policy.denied"
    default_message = "Denied by policy"


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

    outcome = "failed"


class AuditUnavailable(InternalError):
    """The audit record could not be made durable, so the call is refused (fail closed)."""

    reason = "audit.unavailable"
    http_status = 503
    default_message = "Audit trail unavailable"


def error_object(exc: GatewayError) -> dict[str, Any]:
    """The JSON-RPC error object for ``exc``: code, message and data with its reason."""
    return {"code": exc.code, "message": exc.message, "data": {"reason": exc.reason, **exc.data}}


def as_gateway_error(exc: BaseException) -> GatewayError:
    """``exc`` itself when it is a refusal, else a bare :class:`InternalError` that leaks nothing."""
    return exc if isinstance(exc, GatewayError) else InternalError()
