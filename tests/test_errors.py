"""gateway/errors.py is the one error tree and the one mapping: every refusal class and reason string lives there.

The source is read with :mod:`ast`, so a refusal class or a reason spelled out in any module of gateway/
is found whether or not a test happens to import it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TypeGuard

import pytest

from gateway import errors
from gateway.errors import (
    CONFIG_INVALID,
    DEFAULT_CHALLENGE,
    REASONS,
    AuditUnavailable,
    Challenged,
    GatewayError,
    HttpMethodNotAllowed,
    InternalError,
    MethodNotFound,
    PolicyDenied,
    RateLimited,
    SelfApproval,
    StoreUnavailable,
    Unauthenticated,
    answer_status,
    http_headers,
    http_status,
)
from tests.conftest import REPO_ROOT

GATEWAY = REPO_ROOT / "gateway"
ERRORS = GATEWAY / "errors.py"
#: Strings spelled like a reason, in a reason's namespace, that are something else.
NOT_REASONS = {
    "policy.csv": "a file of the configuration",
    "pii.key": "a key file",
    "policy.reload": "an admin action (the method of its audit records)",
    "policy.explain": "an admin action",
    "audit.export": "an admin action, and its event",
}
#: The modules that answer HTTP requests: their statuses come from the tree, never a number of their own.
ANSWERING = ["edge.py", "http_protocol.py", "transport.py", "admin.py", "approvals/http.py", "mcp*.py", "rpc.py"]
_STATUS_NAMES = {"status", "status_code", "http_status"}


def tree() -> list[type[GatewayError]]:
    found: list[type[GatewayError]] = []
    pending: list[type[GatewayError]] = [GatewayError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(GATEWAY.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(REPO_ROOT)}:{getattr(node, 'lineno', '?')}"


def _strings(node: ast.expr | None) -> Iterator[str]:
    """The string constants ``node`` evaluates to: itself, or a branch of ``a if c else b`` / ``a or b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _strings(node.body)
        yield from _strings(node.orelse)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _strings(value)


def _is_reason_name(target: ast.expr) -> bool:
    name = target.id if isinstance(target, ast.Name) else target.attr if isinstance(target, ast.Attribute) else ""
    return name.lower() == "reason" or name.lower().endswith("_reason")


def _reads_reason(node: ast.expr) -> bool:
    """``x.reason``, ``x["reason"]`` or ``x.get("reason")``."""
    if isinstance(node, ast.Attribute):
        return node.attr == "reason"
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "reason"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == "reason"
    return False


def _spelled_like_a_reason(node: ast.AST, pattern: re.Pattern[str]) -> TypeGuard[ast.Constant]:
    """A string in a reason's namespace (``backend.whatever``) that is not known to be something else."""
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and pattern.match(node.value) is not None
        and node.value not in NOT_REASONS
    )


def reasons_in(tree_: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    """Every string the module uses as a reason: assigned to or passed as one, or compared with one."""
    namespaces = {reason.split(".")[0] for reason in REASONS if "." in reason}
    spelled_like = re.compile(rf"^(?:{'|'.join(sorted(namespaces))})\.[a-z_]+$")
    for node in ast.walk(tree_):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple | ast.IfExp):
                    branches = (
                        [node.value] if isinstance(node.value, ast.Tuple) else [node.value.body, node.value.orelse]
                    )
                    for branch in branches:
                        if isinstance(branch, ast.Tuple):
                            for name, value in zip(target.elts, branch.elts, strict=False):
                                if _is_reason_name(name):
                                    yield from ((node, text) for text in _strings(value))
                elif _is_reason_name(target):
                    yield from ((node, text) for text in _strings(node.value))
        elif isinstance(node, ast.keyword) and node.arg is not None and _is_reason_name(ast.Name(node.arg)):
            yield from ((node.value, text) for text in _strings(node.value))
        elif isinstance(node, ast.Compare) and len(node.comparators) == 1:
            left, right = node.left, node.comparators[0]
            if _reads_reason(left):
                yield from ((node, text) for text in _strings(right))
            elif _reads_reason(right):
                yield from ((node, text) for text in _strings(left))
        elif _spelled_like_a_reason(node, spelled_like):
            yield node, node.value


def test_every_reason_used_in_the_source_is_declared_in_the_error_tree() -> None:
    undeclared = {
        f"{_where(path, node)}: {reason!r}"
        for path, module in sources()
        for node, reason in reasons_in(module)
        if reason not in REASONS
    }
    assert sorted(undeclared) == [], "declare these reasons in gateway/errors.py (or use the declared ones)"


def test_the_reason_finder_sees_reasons_however_they_are_spelled() -> None:
    """The check itself: class attributes, keywords, tuples, comparisons and bare strings in a namespace."""
    source = """
class Refusal(Exception):
    reason = "made.up"
record(reason="nope" if failed else "ok")
outcome, reason = ("tool_error", "backend.oops") if bad else ("allowed", "ok")
seen = entry.get("reason") == "pii.leaked"
LABEL = "ratelimit.other"
NOT_ONE = "callgate.audit"
"""
    found = {reason for _, reason in reasons_in(ast.parse(source))}
    assert found == {"made.up", "nope", "ok", "backend.oops", "pii.leaked", "ratelimit.other"}


def test_every_refusal_class_lives_in_the_error_tree() -> None:
    """A class deriving from any class of the tree, anywhere else in gateway/, is a refusal outside the tree."""
    names = {cls.__name__ for cls in tree()}
    elsewhere: list[str] = []
    grew = True
    while grew:  # a subclass of a subclass defined elsewhere counts too
        grew = False
        for path, module in sources():
            if path == ERRORS:
                continue
            for node in ast.walk(module):
                if not isinstance(node, ast.ClassDef) or node.name in names:
                    continue
                bases = {base.id if isinstance(base, ast.Name) else getattr(base, "attr", "") for base in node.bases}
                if bases & names:
                    elsewhere.append(f"{_where(path, node)}: {node.name}")
                    names.add(node.name)
                    grew = True
    assert elsewhere == []


@pytest.mark.parametrize("cls", tree(), ids=lambda cls: cls.__name__)
def test_each_refusal_class_has_a_docstring_a_code_a_reason_and_a_status(cls: type[GatewayError]) -> None:
    assert cls.__module__ == "gateway.errors"
    assert (cls.__dict__.get("__doc__") or "").strip(), "say when it is raised"
    # JSON-RPC's reserved range, MCP's own codes (-32020...), or callgate's -31xxx.
    assert -32768 <= cls.code <= -32000 or -31999 <= cls.code <= -31000
    assert cls.reason in REASONS and re.fullmatch(r"[a-z]+(\.[a-z_]+)?", cls.reason)
    assert 200 <= cls.http_status <= 599
    assert cls.admin_http_status is None or 400 <= cls.admin_http_status <= 599
    assert cls.outcome in ("refused", "failed")


_DRAWN = re.compile(r"^    (?P<indent>(?:[│ ]   )*)(?:[├└]── )?(?P<name>[A-Z]\w+)(?P<rest>.*)$")


def drawn_tree() -> dict[str, tuple[str | None, str]]:
    """Class name -> (its parent, the rest of its line) as the module docstring draws the tree."""
    doc = errors.__doc__ or ""
    drawn: dict[str, tuple[str | None, str]] = {}
    parents: list[str] = []
    for line in doc.splitlines():
        match = _DRAWN.match(line)
        if match is None or not line.startswith("    "):
            continue
        depth = len(match["indent"]) // 4 + (0 if match["name"] == "GatewayError" else 1)
        del parents[depth:]
        drawn[match["name"]] = (parents[-1] if parents else None, match["rest"])
        parents.append(match["name"])
    return drawn


def test_the_tree_drawn_at_the_top_of_errors_is_the_tree() -> None:
    drawn = drawn_tree()
    assert set(drawn) == {cls.__name__ for cls in tree()}
    for cls in tree():
        parent, rest = drawn[cls.__name__]
        assert parent == (None if cls is GatewayError else cls.__bases__[0].__name__), cls.__name__
        if cls is GatewayError:
            continue
        codes = re.findall(r"-3\d{4}", rest)
        if "code" in cls.__dict__ or codes:
            assert codes == [str(cls.code)], cls.__name__
        reasons = re.findall(r"\b[a-z]+\.[a-z_]+\b|\binternal\b", rest.split("(")[0])
        if "reason" in cls.__dict__ or reasons:
            assert reasons == [cls.reason], cls.__name__
        statuses = dict(
            (where.strip(), int(status)) for status, where in re.findall(r"HTTP (\d{3})( on /admin)?", rest)
        )
        assert statuses.get("", 200) == cls.http_status, cls.__name__
        if "admin_http_status" in cls.__dict__ or "on /admin" in statuses:
            assert statuses.get("on /admin") == cls.admin_http_status, cls.__name__


def test_refusal_statuses_in_answering_modules_come_from_the_tree() -> None:
    """No module that answers HTTP writes a refusal status of its own: 4xx and 5xx come from gateway/errors.py."""
    found: list[str] = []
    for pattern in ANSWERING:
        for path in sorted(GATEWAY.glob(pattern)):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                values: list[ast.expr] = []
                if isinstance(node, ast.keyword) and node.arg in _STATUS_NAMES:
                    values.append(node.value)
                elif isinstance(node, ast.Dict):
                    keys = [key.value if isinstance(key, ast.Constant) else None for key in node.keys]
                    values += [value for key, value in zip(keys, node.values, strict=True) if key in _STATUS_NAMES]
                elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                    "send_error",
                    "json_response",
                ):
                    values += node.args[1:2]
                for value in values:
                    found += [
                        f"{_where(path, constant)}: {constant.value}"
                        for constant in ast.walk(value)
                        if isinstance(constant, ast.Constant)
                        and isinstance(constant.value, int)
                        and constant.value >= 400
                    ]
    assert found == []


def test_a_refusal_alone_carries_its_status_and_headers() -> None:
    assert http_status(PolicyDenied()) == 200, "a tool call's denial is a JSON-RPC answer"
    assert http_status(PolicyDenied(), admin=True) == 403
    assert http_status(SelfApproval(), admin=True) == 403
    assert http_status(MethodNotFound(), admin=True) == 404
    assert http_status(RateLimited(), admin=True) == 200
    assert http_status(InternalError()) == 500
    assert http_status(AuditUnavailable()) == 503
    assert http_headers(Unauthenticated()) == {"WWW-Authenticate": DEFAULT_CHALLENGE}
    assert http_headers(Unauthenticated(challenge="Bearer")) == {"WWW-Authenticate": "Bearer"}
    assert http_headers(Challenged("Invalid token", 'Bearer resource_metadata="x"')) == {
        "WWW-Authenticate": 'Bearer resource_metadata="x"'
    }
    assert http_headers(HttpMethodNotAllowed("POST, DELETE")) == {"Allow": "POST, DELETE"}
    assert http_headers(PolicyDenied()) == {}


def test_an_answer_says_in_http_only_that_callgate_cannot_serve() -> None:
    assert answer_status(StoreUnavailable.reason) == 503
    assert answer_status(AuditUnavailable.reason) == 503
    assert answer_status(CONFIG_INVALID) == 422
    assert answer_status(PolicyDenied.reason) == 200
    assert answer_status(None) == 200
    assert answer_status(["store.unavailable"]) == 200
