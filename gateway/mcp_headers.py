"""MCP 2026-07-28 routing headers: how a header value is decoded, and which tool arguments are mirrored.

A client mirrors the method (``Mcp-Method``), the tool name (``Mcp-Name``) and
every argument whose schema carries ``x-mcp-header`` (``Mcp-Param-{name}``)
into HTTP headers, so that a proxy in front can route or rate-limit without
reading the body. A proxy trusting a header the body contradicts is the attack
this guards against: callgate executes what the body says, so it refuses any
request whose headers say something else.

Pure functions only; nothing here imports the rest of the gateway.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: RFC 9110 ``token``: what an ``x-mcp-header`` name may be made of.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: Visible ASCII, space and tab: what a header value may hold (RFC 9110 field values).
_FIELD_VALUE = re.compile(r"[\x20-\x7e\t]*")
_SENTINEL_PREFIX, _SENTINEL_SUFFIX = "=?base64?", "?="
#: Integers a JavaScript client represents exactly; the spec allows no others in a header.
_SAFE_INTEGER = 2**53 - 1
#: The other keywords that hold subschemas: an annotation under any of them is not statically reachable.
#: (Values such as ``default`` or ``const`` are data, not schemas, and are not searched.)
_SUBSCHEMAS = frozenset(
    {"items", "prefixItems", "additionalProperties", "patternProperties", "oneOf", "anyOf", "allOf", "not"}
    | {"if", "then", "else", "$defs", "definitions", "dependentSchemas", "contains", "propertyNames"}
    | {"unevaluatedItems", "unevaluatedProperties"}
)
#: Keywords whose value maps names to subschemas.
_SCHEMA_MAPS = frozenset({"patternProperties", "$defs", "definitions", "dependentSchemas"})


class HeaderValueError(ValueError):
    """A header value holds characters a header may not, or a Base64 sentinel that does not decode."""


@dataclass(frozen=True, slots=True)
class HeaderParam:
    """One argument a client mirrors into ``Mcp-Param-{header}``: where it sits in the arguments."""

    header: str
    path: tuple[str, ...]

    @property
    def field(self) -> str:
        """The lower-case header field name, as the ASGI server hands it over."""
        return f"mcp-param-{self.header.lower()}"


def plain_value(raw: str | None) -> str | None:
    """A header value without the whitespace around it (RFC 9110 section 5.5), for headers never encoded."""
    return None if raw is None else raw.strip(" \t")


def decode_value(raw: str) -> str:
    """A header value as the client meant it: surrounding whitespace dropped, Base64 sentinels decoded.

    Whitespace around a field value is not part of it (RFC 9110 section 5.5); a value that starts or
    ends with some travels Base64-encoded.
    """
    raw = raw.strip(" \t")
    if not _FIELD_VALUE.fullmatch(raw):
        raise HeaderValueError("header value holds characters a header may not")
    if raw.startswith(_SENTINEL_PREFIX) and raw.endswith(_SENTINEL_SUFFIX) and len(raw) >= 11:
        encoded = raw[len(_SENTINEL_PREFIX) : -len(_SENTINEL_SUFFIX)]
        try:
            return base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise HeaderValueError("Base64 header value does not decode to UTF-8 text") from None
    return raw


def header_params(schema: Mapping[str, Any]) -> tuple[HeaderParam, ...]:
    """The ``x-mcp-header`` annotations of a tool's input schema; ValueError for one the spec forbids.

    Allowed only on string, integer and boolean properties reachable from the root through
    ``properties`` alone, with a token for a name, unique regardless of case.
    """
    found: list[HeaderParam] = []
    _collect(schema, (), found, reachable=True)
    seen: set[str] = set()
    for param in found:
        if param.header.lower() in seen:
            raise ValueError(f"x-mcp-header {param.header!r} is used twice (names are compared regardless of case)")
        seen.add(param.header.lower())
    return tuple(found)


def _collect(node: Any, path: tuple[str, ...], found: list[HeaderParam], *, reachable: bool) -> None:
    if isinstance(node, list):
        for item in node:
            _collect(item, path, found, reachable=False)
        return
    if not isinstance(node, Mapping):
        return
    if "x-mcp-header" in node:
        _check_annotation(node, path, reachable)
        found.append(HeaderParam(node["x-mcp-header"], path))
    for key, child in node.items():
        if key == "properties" and isinstance(child, Mapping):
            for name, subschema in child.items():
                _collect(subschema, (*path, str(name)), found, reachable=reachable)
        elif key in _SCHEMA_MAPS and isinstance(child, Mapping):
            for subschema in child.values():
                _collect(subschema, path, found, reachable=False)
        elif key in _SUBSCHEMAS:
            _collect(child, path, found, reachable=False)


def _check_annotation(node: Mapping[str, Any], path: tuple[str, ...], reachable: bool) -> None:
    name = node["x-mcp-header"]
    where = ".".join(path) or "the schema root"
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise ValueError(f"x-mcp-header at {where} must be a non-empty HTTP token (RFC 9110)")
    if not reachable or not path:
        raise ValueError(f"x-mcp-header at {where} must sit on a property reached through `properties` alone")
    if node.get("type") not in ("string", "integer", "boolean"):
        raise ValueError(f"x-mcp-header at {where} must annotate a string, integer or boolean property")


def mirrored_value(arguments: Mapping[str, Any], param: HeaderParam) -> str | None:
    """The header value a client must send for ``param`` given ``arguments``; None when it sends none."""
    value: Any = arguments
    for step in param.path:
        if not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) <= _SAFE_INTEGER:
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) <= _SAFE_INTEGER:
        return str(int(value))  # 42.0 and 42 are the same integer (the spec compares numerically)
    if isinstance(value, str):
        return value
    # Any other type cannot be mirrored; the schema validator refuses the call for it.
    return None


def header_problem(headers: Mapping[str, str], arguments: Mapping[str, Any], params: tuple[HeaderParam, ...]) -> str:
    """What is wrong with the ``Mcp-Param-*`` headers for these arguments; "" when nothing is.

    The message names the header, never a value: both are the caller's text.
    """
    for param in params:
        expected = mirrored_value(arguments, param)
        raw = headers.get(param.field)
        if raw is None:
            if expected is not None:
                return f"Mcp-Param-{param.header} header is missing"
            continue
        try:
            sent = decode_value(raw)
        except HeaderValueError as exc:
            return f"Mcp-Param-{param.header}: {exc}"
        if expected is None or sent != expected:
            return f"Mcp-Param-{param.header} header does not match the arguments"
    return ""
