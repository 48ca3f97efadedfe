"""``/admin/...``: operations for the security team, open only to principals that hold the ``admin`` role.

The caller authenticates like any agent (same credentials, same
authenticator of the configuration in force). Admin is a role, not a policy
rule, on purpose: a policy edit that went wrong must not lock the security
team out of the endpoint that reloads the fix. Refusals answer with the same
JSON-RPC error objects as the rest of the gateway: 401 with
``WWW-Authenticate`` when the caller is unknown, 403 when it is not an admin.
Every refusal of an authenticated caller is audited.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from gateway.audit import AuditWriter
from gateway.auth import Principal
from gateway.errors import AuditUnavailable, GatewayError, InvalidParams, PolicyDenied
from gateway.jsonrpc import failure
from gateway.policy.cases import principal_for
from gateway.reload import Reloader
from gateway.runtime import RuntimeHolder
from gateway.transport import Request, Response, authenticate, error_response, json_response, read_json

log = logging.getLogger("callgate.admin")

ADMIN_ROLE = "admin"


class AdminEndpoints:
    def __init__(self, holder: RuntimeHolder, reloader: Reloader, audit: AuditWriter) -> None:
        self._holder = holder
        self._reloader = reloader
        self._audit = audit

    async def reload_policy(self, request: Request) -> Response:
        """``POST /admin/policy/reload``: 200 when the files on disk are now in force, 422 when they are broken."""
        try:
            principal = await self._admin(request, "policy.reload")
        except GatewayError as exc:
            return _refusal(exc)
        result = await self._reloader.reload("admin", principal, request.request_id)
        return json_response(result.to_json(), status=200 if result.reloaded else 422)

    async def explain_policy(self, request: Request) -> Response:
        """``POST /admin/policy/explain``: the decision for a described call, and the rule that made it.

        Body: ``{"subject": ..., "tenant": ..., "roles": [...], "tool": ..., "action": "call", "arguments": {...}}``;
        a configured API-key subject brings its own tenant and roles.
        """
        try:
            await self._admin(request, "policy.explain")
            runtime = self._holder.current
            body = await read_json(request, runtime)
            if not isinstance(body, dict) or not isinstance(body.get("tool"), str):
                raise InvalidParams("explain needs a JSON object with a tool")
            arguments = body.get("arguments") or {}
            roles = body.get("roles")
            if not isinstance(arguments, dict) or not (roles is None or isinstance(roles, list)):
                raise InvalidParams("arguments must be an object and roles a list")
            try:
                principal = principal_for(runtime.config, body.get("subject"), body.get("tenant"), roles)
            except ValueError as exc:
                raise InvalidParams(str(exc)) from None
            decision = runtime.policy.explain(principal, body["tool"], str(body.get("action", "call")), arguments)
        except GatewayError as exc:
            return _refusal(exc)
        return json_response({"config_version": runtime.config.version, **decision.to_dict()})

    async def _admin(self, request: Request, action: str) -> Principal:
        runtime = self._holder.current
        principal = authenticate(request, runtime)
        if ADMIN_ROLE not in principal.roles:
            await self._record_refusal(principal, action, request.request_id, runtime.config.version)
            raise PolicyDenied(f"/admin needs the {ADMIN_ROLE} role")
        return principal

    async def _record_refusal(self, principal: Principal, action: str, request_id: str, version: str) -> None:
        record = {
            "ts": datetime.now(UTC).isoformat(timespec="microseconds"),
            "event": "admin",
            "action": action,
            "request_id": request_id,
            "subject": principal.subject,
            "tenant": principal.tenant,
            "roles": list(principal.roles),
            "outcome": "refused",
            "reason": PolicyDenied.reason,
            "config_version": version,
        }
        try:
            await self._audit.write(record)
        except AuditUnavailable:  # the caller is refused either way
            log.error("the audit record of a refused admin request could not be written")


def _refusal(exc: GatewayError) -> Response:
    if isinstance(exc, PolicyDenied):
        # A tool call's denial is a JSON-RPC answer (HTTP 200); here there is no RPC, so HTTP says it.
        return json_response(failure(None, exc), status=403)
    return error_response(exc)
