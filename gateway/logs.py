"""Log lines: one JSON object per event in production, a readable line in development; uvicorn's lines too.

The format is chosen by ``CALLGATE_LOG_FORMAT`` (``json`` or ``console``), else
``logging.format`` in ``policies/gateway.yaml``; the level by ``--log-level``,
else ``CALLGATE_LOG_LEVEL``, else ``logging.level``. Both are read at start.

Every line logged while a request is served carries its request id, and while a
tool call runs, its decision id: the ``decision_id`` of the call's audit record,
so a log line leads straight to the record. They travel in context variables
(set by :class:`LogContext` at the edge and by the pipeline's entry), so no
function has to pass them on.

What a line never holds: arguments, results, headers, query strings, client
addresses or exception messages (any of them may quote personal data or a
credential). uvicorn's access line is rebuilt from the method, the path without
its query and the status; in the JSON format an exception is its type and the
frames it passed through. The console format, for development, keeps Python's
whole traceback.
"""

from __future__ import annotations

import logging
import logging.config
import traceback
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.jsoncodec import dumps

LogFormat = Literal["json", "console"]
FORMATS: tuple[LogFormat, ...] = ("json", "console")
LEVELS = ("debug", "info", "warning", "error")

#: The request being served by this task (set at the edge by :class:`LogContext`).
REQUEST_ID: ContextVar[str | None] = ContextVar("callgate_request_id", default=None)
#: The tool call being decided by this task: the ``decision_id`` its audit record carries.
DECISION_ID: ContextVar[str | None] = ContextVar("callgate_decision_id", default=None)

#: ``extra={FIELDS: {...}}`` adds bounded, non-personal facts to a line (tool, decision, reason, latency).
FIELDS = "callgate_fields"

#: uvicorn's access logger and its record's arguments: client, method, full path, HTTP version, status.
_ACCESS_LOGGER = "uvicorn.access"
#: Paths an access line names as they are; below these prefixes only the prefix (ids follow it).
_PATHS = frozenset(("/mcp", "/rpc", "/healthz", "/readyz", "/metrics", "/admin/policy/reload", "/admin/policy/explain"))
_PREFIXES = frozenset(("/admin", "/.well-known"))


def current_decision_id() -> str | None:
    """The decision id of the tool call this task is running, if any (the audit stage puts it on the record)."""
    return DECISION_ID.get()


def resolve(
    configured_format: LogFormat,
    configured_level: str,
    env: Mapping[str, str],
    *,
    level: str | None = None,
) -> tuple[LogFormat, str]:
    """The format and level in force: ``level`` (the command line), then the environment, then the file."""
    given = env.get("CALLGATE_LOG_FORMAT", "").strip().lower() or configured_format
    chosen_format = next((name for name in FORMATS if name == given), None)
    if chosen_format is None:
        raise ValueError(f"CALLGATE_LOG_FORMAT must be one of {', '.join(FORMATS)}")
    chosen_level = (level or env.get("CALLGATE_LOG_LEVEL", "").strip() or configured_level).lower()
    if chosen_level not in LEVELS:
        raise ValueError(f"the log level must be one of {', '.join(LEVELS)}")
    return chosen_format, chosen_level


def logging_config(log_format: LogFormat, level: str) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for callgate and uvicorn: also what uvicorn's ``log_config`` takes.

    uvicorn applies it in each worker process, so every worker logs the same way.
    """
    formatter = f"gateway.logs.{'JsonFormatter' if log_format == 'json' else 'ConsoleFormatter'}"
    handler = {"class": "logging.StreamHandler", "formatter": "callgate", "stream": "ext://sys.stderr"}
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"callgate": {"()": formatter}},
        "handlers": {"callgate": handler},
        "root": {"handlers": ["callgate"], "level": upper},
        "loggers": {
            # uvicorn's own loggers: the same handler, not their default colour formatters.
            "uvicorn": {"handlers": [], "level": upper, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": upper, "propagate": True},
            _ACCESS_LOGGER: {"handlers": [], "level": upper, "propagate": True},
            # pycasbin prints the whole model and policy at INFO on every load.
            "casbin": {"handlers": [], "level": "WARNING", "propagate": True},
        },
    }


def configure(log_format: LogFormat, level: str) -> None:
    logging.config.dictConfig(logging_config(log_format, level))


def _facts(record: logging.LogRecord) -> tuple[str, dict[str, Any]]:
    """The line's message and its fields; an access line is rebuilt without query string or client."""
    fields: dict[str, Any] = {}
    given = getattr(record, FIELDS, None)
    if isinstance(given, dict):
        fields.update(given)
    if record.name == _ACCESS_LOGGER and isinstance(record.args, tuple) and len(record.args) == 5:
        _client, method, full_path, http_version, status = record.args
        path = _served_path(str(full_path).split("?", 1)[0])
        fields.update(event="http.access", method=str(method), path=path, status=status, http=str(http_version))
        return f"{method} {path} {status}", fields
    return record.getMessage(), fields


def _served_path(path: str) -> str:
    """A path callgate serves as it is; any other is the caller's text, so it is only "(other)"."""
    if path in _PATHS:
        return path
    first = "/" + path[1:].split("/", 1)[0]
    return f"{first}/..." if first in _PREFIXES else "(other)"


def _context(record: logging.LogRecord) -> dict[str, str]:
    found: dict[str, str] = {}
    request_id, decision_id = REQUEST_ID.get(), DECISION_ID.get()
    if request_id is not None:
        found["request_id"] = request_id
    if decision_id is not None:
        found["decision_id"] = decision_id
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request and decision ids, fields."""

    def format(self, record: logging.LogRecord) -> str:
        message, fields = _facts(record)
        when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line: dict[str, Any] = {
            "time": when.replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
            **_context(record),
            **fields,
        }
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, trace = record.exc_info
            # The type and the frames, never the message: it may quote arguments or a credential.
            line["exception"] = {
                "type": kind.__name__,
                "frames": [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(trace)],
            }
        return dumps(line).decode()


class ConsoleFormatter(logging.Formatter):
    """``time LEVEL logger message key=value ... [request R decision D]``, and the traceback below."""

    def __init__(self) -> None:
        super().__init__(datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        message, fields = _facts(record)
        parts = [self.formatTime(record, self.datefmt), f"{record.levelname:<7}", record.name, message]
        parts += [f"{key}={value}" for key, value in fields.items() if key != "event"]
        context = _context(record)
        if context:
            parts.append("[" + " ".join(f"{key.removesuffix('_id')} {value}" for key, value in context.items()) + "]")
        line = " ".join(parts)
        if record.exc_info and record.exc_info[0] is not None:
            line += "\n" + self.formatException(record.exc_info)
        return line


class LogContext:
    """Pure ASGI: the request id (set by :class:`gateway.edge.RequestId` just outside) in the log context."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = scope.get("state", {}).get("request_id") if scope["type"] == "http" else None
        if request_id is None:
            await self.app(scope, receive, send)
            return
        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send)
        finally:
            REQUEST_ID.reset(token)


__all__ = [
    "DECISION_ID",
    "FIELDS",
    "REQUEST_ID",
    "ConsoleFormatter",
    "JsonFormatter",
    "LogContext",
    "LogFormat",
    "configure",
    "current_decision_id",
    "logging_config",
    "resolve",
]
