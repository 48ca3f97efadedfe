"""``/admin/approvals``: approvers list, show, approve and deny the requests of their tenant.

    GET  /admin/approvals[?all=1]          pending requests the caller may decide (all=1: decided too)
    GET  /admin/approvals/{id}             one request, its arguments as the caller's PII rules allow
    POST /admin/approvals/{id}/approve     body (optional): {"reason": "..."}
    POST /admin/approvals/{id}/deny        body (optional): {"reason": "..."}

Open to approvers, not only admins: a caller whose roles hold the ``approve`` action on some tool
(policy.csv), and only for requests of its tenant to tools it may approve. It authenticates like any
caller (API key or JWT). Refusals are the gateway's JSON-RPC error objects with an HTTP status: 401
unauthenticated, 403 not an approver (or the caller's own request, ``approval.self``), 404 no such
request in the caller's tenant, 409 no longer pending, 503 the store or the audit trail unavailable.
Every refusal of an authenticated caller is audited as ``request/refused``; every decision as
``approval/decided``.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from gateway.audit import AuditWriter
from gateway.audit.refusals import record_admin_refusal
from gateway.auth import Principal
from gateway.errors import GatewayError, InvalidParams, MethodNotFound, PolicyDenied
from gateway.runtime import RuntimeHolder
from gateway.transport import Request, Response, authenticate, error_response, json_response, read_json

PREFIX = "/admin/approvals"
_DECISIONS = {"approve": True, "deny": False}


class ApprovalEndpoints:
    #: Where the endpoints are mounted.
    PREFIX = PREFIX

    def __init__(self, holder: RuntimeHolder, audit: AuditWriter) -> None:
        self._holder = holder
        self._audit = audit

    async def handle(self, request: Request) -> Response:
        """Every ``/admin/approvals`` path: the route is read from the path, the verb from the method."""
        parts = [part for part in request.scope["path"].removeprefix(PREFIX).split("/") if part]
        runtime = self._holder.current
        desk = runtime.approvals
        action = _action(request.method, parts)
        principal: Principal | None = None
        try:
            principal = authenticate(request, runtime)
            if action is None:
                raise MethodNotFound("No such approvals endpoint")
            if not desk.is_approver(principal):
                raise PolicyDenied("/admin/approvals is for approvers: no role of yours may approve any tool")
            if action == "approvals.list":
                query = parse_qs(request.scope.get("query_string", b"").decode("latin-1"))
                everything = query.get("all", ["0"])[-1] in ("1", "true", "yes")
                return json_response({"approvals": await desk.listing(principal, everything=everything)})
            if action == "approvals.show":
                return json_response(await desk.show(principal, parts[0]))
            reason = await self._reason(request)
            decided = await desk.decide(
                principal, parts[0], approve=_DECISIONS[parts[1]], reason=reason, request_id=request.request_id
            )
            return json_response(decided)
        except GatewayError as exc:
            # A denial of a known caller is audited here, with who it was; the endpoint audits anything else.
            if principal is not None and isinstance(exc, PolicyDenied):
                await record_admin_refusal(
                    self._audit,
                    request.request_id,
                    request.source,
                    principal,
                    action or "approvals",
                    exc,
                    self._holder.current.config.version,
                )
                return error_response(exc, admin=True, audit=False)
            return error_response(exc, admin=True)

    async def _reason(self, request: Request) -> str | None:
        """The optional ``{"reason": "..."}`` of a decision; no body at all is no reason."""
        if request.headers.get("content-length", "0") == "0" and "transfer-encoding" not in request.headers:
            return None
        body = await read_json(request, self._holder.current)
        if body is None:
            return None
        reason = body.get("reason") if isinstance(body, dict) else body
        if reason is not None and not isinstance(reason, str):
            raise InvalidParams('the body is {"reason": "..."}, the reason a string')
        return reason


def _action(method: str, parts: list[str]) -> str | None:
    """Which endpoint a method and path name (``approvals.approve``...), or None for none."""
    if method == "GET" and not parts:
        return "approvals.list"
    if method == "GET" and len(parts) == 1:
        return "approvals.show"
    if method == "POST" and len(parts) == 2 and parts[1] in _DECISIONS:
        return f"approvals.{parts[1]}"
    return None


__all__ = ["PREFIX", "ApprovalEndpoints"]
