"""OCSF 1.5.0 API Activity (class_uid 6003) events, one JSON object per line.

Every attribute the class requires is set: ``activity_id``, ``category_uid``
(6, Application Activity), ``class_uid``, ``type_uid`` (class_uid x 100 +
activity_id), ``time`` (milliseconds since the epoch), ``severity_id``,
``metadata`` (product and schema version), ``actor``, ``api.operation`` and
``src_endpoint``. The mapping:

| OCSF attribute | record field |
| --- | --- |
| ``activity_id`` | 2 Read for ``tools/list`` and ``audit/export``; 99 Other (``activity_name``: the event) else |
| ``severity_id`` | 1 Informational (allowed), 2 Low (tool_error, cancelled), 3 Medium (refused), 4 High (failed) |
| ``status_id`` / ``status`` | 1 Success when ``decision`` is allowed, else 2 Failure |
| ``status_code`` / ``status_detail`` | ``reason`` / ``decision`` |
| ``metadata.uid`` | ``decision_id`` |
| ``metadata.correlation_uid`` | ``conversation_id`` (one agent task's events), else ``request_id`` |
| ``metadata.tenant_uid`` | ``tenant`` |
| ``metadata.sequence`` / ``metadata.log_name`` | ``seq`` / ``chain`` |
| ``metadata.original_time`` | ``time`` as written |
| ``actor.user`` | ``uid``: ``subject``, ``groups``: ``roles``, ``org.uid``: ``tenant`` |
| ``actor.app_name`` | ``callgate`` when no subject is known (a refused credential) |
| ``actor.session.uid`` | ``session_id`` (the MCP session) |
| ``actor.authorizations`` | ``[{decision: decision, policy: {uid: rule}}]`` when a rule decided |
| ``api.operation`` | ``method``, else the event |
| ``api.service.name`` | ``tool`` |
| ``api.version`` | ``protocol_version`` (the MCP revision) |
| ``api.request.uid`` | ``request_id`` |
| ``api.request.data`` | ``arguments`` (redacted), or an ``audit/export``'s ``export`` (format and filters) |
| ``api.response.code`` / ``error`` | ``code`` / ``reason`` |
| ``src_endpoint`` | ``ip``: ``source`` when known, else ``name``: ``transport`` |
| ``duration`` | ``latency_us`` / 1000 |
| ``unmapped`` | every other field, under its own name: ``arg_keys``, ``args_digest``, ``config_version``, |
| ``unmapped`` (cont.) | ``pii``, ``attempts``, ``backend_us``, ``backend_status``, ``approval_id``, ``notes``... |
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from gateway import __version__
from gateway.jsoncodec import dumps

OCSF_VERSION = "1.5.0"
CLASS_UID, CATEGORY_UID = 6003, 6
SEVERITY = {"allowed": 1, "tool_error": 2, "cancelled": 2, "refused": 3, "failed": 4}
_MAPPED = frozenset(
    (
        "time",
        "event",
        "decision_id",
        "request_id",
        "tenant",
        "seq",
        "chain",
        "subject",
        "roles",
        "method",
        "tool",
        "code",
        "reason",
        "decision",
        "source",
        "latency_us",
        "session_id",
        "conversation_id",
        "protocol_version",
        "rule",
        "arguments",
        "export",
    )
)
#: Events whose activity is reading (API Activity's Read, 2).
_READS = frozenset(("tools/list", "audit/export"))


def ocsf_event(record: dict[str, Any]) -> dict[str, Any]:
    event = str(record.get("event", ""))
    decision = record.get("decision")
    activity_id = 2 if event in _READS else 99
    time = str(record["time"])
    metadata: dict[str, Any] = {
        "product": {"name": "callgate", "vendor_name": "callgate", "version": __version__},
        "version": OCSF_VERSION,
        "original_time": time,
    }
    correlation = record.get("conversation_id") or record.get("request_id")
    if correlation is not None:
        metadata["correlation_uid"] = str(correlation)
    for attribute, field in (
        ("uid", "decision_id"),
        ("tenant_uid", "tenant"),
        ("sequence", "seq"),
        ("log_name", "chain"),
    ):
        if record.get(field) is not None:
            metadata[attribute] = record[field]
    actor: dict[str, Any] = {"app_name": "callgate"}
    if record.get("subject") is not None:
        user: dict[str, Any] = {"uid": str(record["subject"]), "name": str(record["subject"])}
        if record.get("roles"):
            user["groups"] = [{"name": str(role)} for role in record["roles"]]
        if record.get("tenant") is not None:
            user["org"] = {"uid": str(record["tenant"])}
        actor = {"user": user}
    if record.get("session_id") is not None:
        actor["session"] = {"uid": str(record["session_id"])}
    if record.get("rule") is not None:
        actor["authorizations"] = [{"decision": str(decision), "policy": {"uid": str(record["rule"])}}]
    api: dict[str, Any] = {"operation": str(record.get("method") or event)}
    if record.get("tool"):
        api["service"] = {"name": str(record["tool"])}
    if record.get("protocol_version") is not None:
        api["version"] = str(record["protocol_version"])
    data = record.get("arguments") if record.get("arguments") is not None else record.get("export")
    if record.get("request_id") is not None:
        api["request"] = {"uid": str(record["request_id"])}
        if data is not None:
            api["request"]["data"] = data
    response: dict[str, Any] = {}
    if isinstance(record.get("code"), int):
        response["code"] = record["code"]
    if record.get("reason") is not None:
        response["error" if decision != "allowed" else "message"] = str(record["reason"])
    if response:
        api["response"] = response
    source = record.get("source")
    endpoint = {"ip": source} if source and source != "-" else {"name": str(record.get("transport") or "callgate")}
    out: dict[str, Any] = {
        "activity_id": activity_id,
        "activity_name": "Read" if activity_id == 2 else event,
        "category_uid": CATEGORY_UID,
        "category_name": "Application Activity",
        "class_uid": CLASS_UID,
        "class_name": "API Activity",
        "type_uid": CLASS_UID * 100 + activity_id,
        "time": round(datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp() * 1000),
        "severity_id": SEVERITY.get(str(decision), 1),
        "status_id": 1 if decision == "allowed" else 2,
        "status": "Success" if decision == "allowed" else "Failure",
        "metadata": metadata,
        "actor": actor,
        "api": api,
        "src_endpoint": endpoint,
    }
    if record.get("reason") is not None:
        out["status_code"] = str(record["reason"])
    if decision is not None:
        out["status_detail"] = str(decision)
    if isinstance(record.get("latency_us"), int):
        out["duration"] = record["latency_us"] // 1000
    mapped = _MAPPED if "request" in api else _MAPPED - {"arguments", "export"}
    unmapped = {name: value for name, value in record.items() if name not in mapped and value is not None}
    if unmapped:
        out["unmapped"] = unmapped
    return out


def ocsf_lines(records: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for record in records:
        yield dumps(ocsf_event(record)) + b"\n"
