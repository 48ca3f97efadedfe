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

import asyncio
import itertools
from collections.abc import Iterator
from urllib.parse import parse_qs

from starlette.types import Send

from gateway.audit import AuditRecord, AuditWriter
from gateway.audit.export import FORMATS, MEDIA_TYPES, Filters, export, instant
from gateway.audit.refusals import record_admin_refusal
from gateway.auth import Principal
from gateway.errors import (
    CONFIG_INVALID,
    OK,
    GatewayError,
    InvalidParams,
    PolicyDenied,
    answer_status,
)
from gateway.policy.explain import principal_for
from gateway.reload import Reloader
from gateway.runtime import RuntimeHolder
from gateway.transport import Request, Response, authenticate, error_response, json_response, read_json

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
        return json_response(result.to_json(), status=answer_status(OK if result.reloaded else CONFIG_INVALID))

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

    async def export_audit(self, request: Request) -> Response:
        """``GET /admin/audit/export?format=jsonl|csv|ocsf|cef&since=&until=&subject=&tenant=&tool=&decision=
        &conversation=``.

        The same records ``callgate audit export`` writes, streamed: the files are read a block at a
        time off the event loop, so a trail of millions of records costs constant memory. Reading the
        trail is an administrative act: an ``audit/export`` record (who, which format and filters) is
        written before the first line is sent, and the export is refused when it cannot be.
        """
        try:
            principal = await self._admin(request, "audit.export")
            query = parse_qs(request.scope.get("query_string", b"").decode("latin-1"))
            values = {name: query[name][-1] for name in _EXPORT_PARAMS if query.get(name)}
            format = values.pop("format", "jsonl")
            if format not in FORMATS:
                raise InvalidParams(f"format must be one of {', '.join(FORMATS)}")
            try:
                for name in ("since", "until"):
                    if name in values:
                        values[name] = instant(values[name])
            except ValueError:
                raise InvalidParams("since and until must be ISO 8601 times") from None
            record = AuditRecord.audit_export(
                request_id=request.request_id,
                source=request.source,
                principal=principal,
                format=format,
                filters=values,
                config_version=self._holder.current.config.version,
            )
            await self._audit.write(record)
        except GatewayError as exc:
            return _refusal(exc)
        lines = export(self._audit.directory, format, Filters(**values))
        return StreamingResponse(lines, media_type=MEDIA_TYPES[format])

    async def _admin(self, request: Request, action: str) -> Principal:
        runtime = self._holder.current
        principal = authenticate(request, runtime)
        if ADMIN_ROLE not in principal.roles:
            denial = PolicyDenied(f"/admin needs the {ADMIN_ROLE} role")
            await record_admin_refusal(
                self._audit, request.request_id, request.source, principal, action, denial, runtime.config.version
            )
            raise denial
        return principal


_EXPORT_PARAMS = ("format", "since", "until", "subject", "tenant", "tool", "decision", "conversation")
#: Lines handed from the reading thread to the event loop at a time.
_EXPORT_BATCH = 512


class StreamingResponse(Response):
    """A response whose body is produced by a blocking iterator, run a batch at a time in a thread."""

    __slots__ = ("_lines",)

    def __init__(self, lines: Iterator[bytes], media_type: str) -> None:
        super().__init__(media_type=media_type)
        self._lines = lines

    async def send(self, send: Send) -> None:
        raw = [(b"content-type", (self.media_type or "application/octet-stream").encode())]
        raw += [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (self.headers or {}).items()
        ]
        await send({"type": "http.response.start", "status": self.status_code, "headers": raw})
        while chunk := await asyncio.to_thread(_next_batch, self._lines):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def _next_batch(lines: Iterator[bytes]) -> bytes:
    return b"".join(itertools.islice(lines, _EXPORT_BATCH))


def _refusal(exc: GatewayError) -> Response:
    # A denial was audited with the caller it refused (_admin); the endpoint audits anything else.
    return error_response(exc, admin=True, audit=not isinstance(exc, PolicyDenied))
