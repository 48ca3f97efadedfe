"""JSON-RPC 2.0 over ``POST /rpc``: the specification's own examples, then the real gateway's methods.

The first half serves :class:`gateway.rpc.RpcEndpoint` on a real uvicorn server
with a dispatcher that has the specification's example methods (``subtract``,
``sum``, ``get_data``, ...), and sends every example of section 7 of
https://www.jsonrpc.org/specification byte for byte as written there. The
second half talks to the whole gateway with the shipped configuration.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import Routes
from gateway.auth import ApiKeyAuthenticator
from gateway.auth.apikeys import hash_key
from gateway.auth.authenticator import Authenticator
from gateway.config import ApiKeyEntry, ServerSettings
from gateway.dispatcher import Dispatcher, RequestContext
from gateway.errors import InvalidParams, InvalidRequest, error_object
from gateway.jsonrpc import Params, decode
from gateway.rpc import RpcEndpoint
from gateway.serving import serve_in_thread
from gateway.transport import endpoint as asgi_endpoint
from tests.conftest import RunningGateway

SPEC_KEY = "spec-client-key-0123456789"
SECRET = "secret-value-123@example.com"


# --- a tiny app whose dispatcher has the specification's example methods --------------------------


@dataclass(frozen=True)
class _SpecGatewaySettings:
    server: ServerSettings


@dataclass(frozen=True)
class _SpecConfig:
    gateway: _SpecGatewaySettings


@dataclass(frozen=True)
class _SpecRuntime:
    """The two parts of a runtime that :class:`RpcEndpoint` reads: the authenticator and the server limits."""

    authenticator: Authenticator
    config: _SpecConfig


@dataclass
class _SpecHolder:
    current: _SpecRuntime


class SpecDispatcher(Dispatcher):
    """The methods the specification's examples call, in place of callgate's own."""

    def __init__(self, holder: Any) -> None:
        super().__init__(holder)
        self.methods = {
            "subtract": self.subtract,
            "sum": self.sum,
            "update": self.nothing,
            "notify_hello": self.nothing,
            "notify_sum": self.nothing,
            "get_data": self.get_data,
            "explode": self.explode,
        }

    async def subtract(self, params: Params, context: RequestContext) -> Any:
        if isinstance(params, list) and len(params) == 2:
            minuend, subtrahend = params
        elif isinstance(params, dict) and set(params) == {"minuend", "subtrahend"}:
            minuend, subtrahend = params["minuend"], params["subtrahend"]
        else:
            raise InvalidParams()
        if not all(_is_number(n) for n in (minuend, subtrahend)):
            raise InvalidParams()
        return minuend - subtrahend

    async def sum(self, params: Params, context: RequestContext) -> Any:
        if not isinstance(params, list) or not all(_is_number(n) for n in params):
            raise InvalidParams()
        return sum(params)

    async def nothing(self, params: Params, context: RequestContext) -> None:
        return None

    async def get_data(self, params: Params, context: RequestContext) -> Any:
        return ["hello", 5]

    async def explode(self, params: Params, context: RequestContext) -> Any:
        raise RuntimeError("/srv/callgate/internal/secret-path is on fire")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@pytest.fixture(scope="module")
def spec_url() -> Iterator[str]:
    """``/rpc`` of a real uvicorn server whose dispatcher has the specification's example methods."""
    entry = ApiKeyEntry(sha256=hash_key(SPEC_KEY), subject="spec-client", tenant="spec", roles=("tester",))
    runtime = _SpecRuntime(
        authenticator=Authenticator(ApiKeyAuthenticator([entry])),
        config=_SpecConfig(_SpecGatewaySettings(ServerSettings())),
    )
    holder = _SpecHolder(runtime)
    endpoint = RpcEndpoint(holder, SpecDispatcher(holder))  # type: ignore[arg-type]
    app = Routes({"/rpc": asgi_endpoint(endpoint.handle, methods=("POST",))}, fallback=Starlette())
    with serve_in_thread(app) as url:
        yield f"{url}/rpc"


def send(url: str, text: str) -> httpx.Response:
    """POST ``text`` exactly as written, as the specification's ``-->`` lines show it."""
    headers = {"Authorization": f"Bearer {SPEC_KEY}", "Content-Type": "application/json"}
    return httpx.post(url, content=text.encode(), headers=headers, timeout=10)


def as_spec_writes_it(message: Any) -> Any:
    """``message`` without the optional ``error.data`` member, which the specification's examples leave out."""
    if isinstance(message, list):
        return [as_spec_writes_it(item) for item in message]
    if isinstance(message, dict) and isinstance(message.get("error"), dict):
        error = {k: v for k, v in message["error"].items() if k != "data"}
        return {**message, "error": error}
    return message


def batch_of(response: httpx.Response) -> list[str]:
    """A batch response as a sorted list of canonical members: the specification lets them come in any order."""
    body = response.json()
    assert isinstance(body, list)
    return sorted(json.dumps(as_spec_writes_it(item), sort_keys=True) for item in body)


def canonical(items: list[Any]) -> list[str]:
    return sorted(json.dumps(item, sort_keys=True) for item in items)


def assert_no_body(response: httpx.Response) -> None:
    assert response.status_code == 204
    assert response.content == b""


# --- section 7: every example, as written -------------------------------------------------------


def test_spec_positional_subtract_42_23_is_19(spec_url: str) -> None:
    response = send(spec_url, '{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}')
    assert response.json() == {"jsonrpc": "2.0", "result": 19, "id": 1}


def test_spec_positional_subtract_23_42_is_minus_19(spec_url: str) -> None:
    response = send(spec_url, '{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}')
    assert response.json() == {"jsonrpc": "2.0", "result": -19, "id": 2}


def test_spec_named_subtract_is_19(spec_url: str) -> None:
    response = send(
        spec_url, '{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}'
    )
    assert response.json() == {"jsonrpc": "2.0", "result": 19, "id": 3}


def test_spec_named_subtract_ignores_param_order(spec_url: str) -> None:
    response = send(
        spec_url, '{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}'
    )
    assert response.json() == {"jsonrpc": "2.0", "result": 19, "id": 4}


def test_spec_notification_with_params_gets_no_response(spec_url: str) -> None:
    assert_no_body(send(spec_url, '{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}'))


def test_spec_notification_of_unknown_method_gets_no_response(spec_url: str) -> None:
    assert_no_body(send(spec_url, '{"jsonrpc": "2.0", "method": "foobar"}'))


def test_spec_unknown_method_is_method_not_found(spec_url: str) -> None:
    response = send(spec_url, '{"jsonrpc": "2.0", "method": "foobar", "id": "1"}')
    assert as_spec_writes_it(response.json()) == {
        "jsonrpc": "2.0",
        "error": {"code": -32601, "message": "Method not found"},
        "id": "1",
    }


def test_spec_invalid_json_is_parse_error_with_null_id(spec_url: str) -> None:
    response = send(spec_url, '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]')
    assert as_spec_writes_it(response.json()) == {
        "jsonrpc": "2.0",
        "error": {"code": -32700, "message": "Parse error"},
        "id": None,
    }


def test_spec_invalid_request_object_is_invalid_request_with_null_id(spec_url: str) -> None:
    response = send(spec_url, '{"jsonrpc": "2.0", "method": 1, "params": "bar"}')
    assert as_spec_writes_it(response.json()) == {
        "jsonrpc": "2.0",
        "error": {"code": -32600, "message": "Invalid Request"},
        "id": None,
    }


def test_spec_batch_with_invalid_json_is_one_parse_error(spec_url: str) -> None:
    response = send(
        spec_url,
        '[\n  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},\n  {"jsonrpc": "2.0", "method"\n]',
    )
    assert as_spec_writes_it(response.json()) == {
        "jsonrpc": "2.0",
        "error": {"code": -32700, "message": "Parse error"},
        "id": None,
    }


def test_spec_empty_batch_is_one_invalid_request_error(spec_url: str) -> None:
    """Not an array: the specification answers ``[]`` with a single error object."""
    response = send(spec_url, "[]")
    assert as_spec_writes_it(response.json()) == {
        "jsonrpc": "2.0",
        "error": {"code": -32600, "message": "Invalid Request"},
        "id": None,
    }


def test_spec_batch_of_one_non_object_is_an_array_of_one_invalid_request(spec_url: str) -> None:
    response = send(spec_url, "[1]")
    assert as_spec_writes_it(response.json()) == [
        {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}
    ]


def test_spec_batch_of_three_non_objects_is_three_invalid_requests(spec_url: str) -> None:
    response = send(spec_url, "[1,2,3]")
    invalid = {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}
    assert batch_of(response) == canonical([invalid, invalid, invalid])


def test_spec_mixed_batch_answers_each_request_and_skips_notifications(spec_url: str) -> None:
    response = send(
        spec_url,
        """[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]""",
    )
    assert batch_of(response) == canonical(
        [
            {"jsonrpc": "2.0", "result": 7, "id": "1"},
            {"jsonrpc": "2.0", "result": 19, "id": "2"},
            {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None},
            {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
            {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"},
        ]
    )


def test_spec_batch_of_only_notifications_gets_no_response(spec_url: str) -> None:
    response = send(
        spec_url,
        """[
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ]""",
    )
    assert_no_body(response)


# --- the rest of the specification's rules, on the same app --------------------------------------


@pytest.mark.parametrize(
    "params",
    [[42], [42, 23, 1], [42, "23"], {"minuend": 42}, {"minuend": 42, "subtrahend": 23, "x": 1}, {}],
    ids=["too-few", "too-many", "string", "missing-name", "extra-name", "empty-object"],
)
def test_wrong_params_to_subtract_are_invalid_params(spec_url: str, params: Any) -> None:
    message = {"jsonrpc": "2.0", "method": "subtract", "params": params, "id": 7}
    response = send(spec_url, json.dumps(message))
    assert as_spec_writes_it(response.json()) == {
        "jsonrpc": "2.0",
        "error": {"code": -32602, "message": "Invalid params"},
        "id": 7,
    }


def test_missing_params_to_subtract_are_invalid_params(spec_url: str) -> None:
    response = send(spec_url, '{"jsonrpc": "2.0", "method": "subtract", "id": 8}')
    assert as_spec_writes_it(response.json())["error"] == {"code": -32602, "message": "Invalid params"}


def test_fault_in_a_method_is_internal_error_without_details(spec_url: str) -> None:
    response = send(spec_url, '{"jsonrpc": "2.0", "method": "explode", "id": 9}')
    assert as_spec_writes_it(response.json()) == {
        "jsonrpc": "2.0",
        "error": {"code": -32603, "message": "Internal error"},
        "id": 9,
    }
    assert "secret-path" not in response.text
    assert "Traceback" not in response.text


def test_fault_in_a_notification_stays_silent(spec_url: str) -> None:
    assert_no_body(send(spec_url, '{"jsonrpc": "2.0", "method": "explode"}'))


@pytest.mark.parametrize(
    "text",
    [
        '{"method": "subtract", "params": [1, 2], "id": 1}',
        '{"jsonrpc": "1.0", "method": "subtract", "params": [1, 2], "id": 1}',
        '{"jsonrpc": "2.0", "params": [1, 2], "id": 1}',
        '{"jsonrpc": "2.0", "method": "subtract", "params": "1,2", "id": 1}',
        '{"jsonrpc": "2.0", "method": "subtract", "params": null, "id": 1}',
        '{"jsonrpc": "2.0", "method": "subtract", "params": [1, 2], "id": true}',
        '{"jsonrpc": "2.0", "method": "subtract", "params": [1, 2], "id": {"a": 1}}',
        '"subtract"',
    ],
    ids=["no-version", "wrong-version", "no-method", "string-params", "null-params", "bool-id", "object-id", "string"],
)
def test_malformed_request_objects_are_invalid_request(spec_url: str, text: str) -> None:
    error = send(spec_url, text).json()["error"]
    assert {"code": error["code"], "message": error["message"]} == {"code": -32600, "message": "Invalid Request"}


def test_null_id_is_a_request_not_a_notification(spec_url: str) -> None:
    response = send(spec_url, '{"jsonrpc": "2.0", "method": "subtract", "params": [3, 1], "id": null}')
    assert response.json() == {"jsonrpc": "2.0", "result": 2, "id": None}


def test_batch_answers_only_its_requests(spec_url: str) -> None:
    """A notification that fails is not answered, even inside a batch."""
    response = send(
        spec_url,
        '[{"jsonrpc": "2.0", "method": "explode"}, {"jsonrpc": "2.0", "method": "sum", "params": [1, 2], "id": 1}]',
    )
    assert response.json() == [{"jsonrpc": "2.0", "result": 3, "id": 1}]


# --- the real gateway over /rpc -----------------------------------------------------------------


def post_rpc(gateway: RunningGateway, payload: Any, role: str = "support-agent") -> httpx.Response:
    return httpx.post(f"{gateway.url}/rpc", json=payload, headers=gateway.headers(role), timeout=10)


def test_tools_list_shows_only_the_tools_the_caller_may_call(gateway: RunningGateway) -> None:
    response = gateway.rpc("tools/list")
    assert response.status_code == 200
    names = {tool["name"] for tool in response.json()["result"]["tools"]}
    assert "crm.get_customer" in names
    assert "billing.issue_refund" not in names


def test_batch_mixes_a_tool_call_and_an_unknown_method(gateway: RunningGateway) -> None:
    response = post_rpc(
        gateway,
        [
            {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "clock.now"}, "id": "call"},
            {"jsonrpc": "2.0", "method": "tools/frobnicate", "id": "unknown"},
        ],
    )
    assert response.status_code == 200
    by_id = {item["id"]: item for item in response.json()}
    assert set(by_id) == {"call", "unknown"}
    assert by_id["call"]["result"]["isError"] is False
    assert by_id["unknown"]["error"]["code"] == -32601


def test_batch_longer_than_the_limit_is_refused_whole(gateway: RunningGateway) -> None:
    """``max_batch_length`` is 100 in the shipped gateway.yaml."""
    batch = [{"jsonrpc": "2.0", "method": "ping", "id": n} for n in range(101)]
    body = post_rpc(gateway, batch).json()
    assert isinstance(body, dict)
    assert body["error"]["code"] == -32600
    assert body["id"] is None


def test_batch_at_the_limit_is_answered(gateway: RunningGateway) -> None:
    batch = [{"jsonrpc": "2.0", "method": "ping", "id": n} for n in range(100)]
    body = post_rpc(gateway, batch).json()
    assert sorted(item["id"] for item in body) == list(range(100))


def test_schema_violation_is_invalid_params_listing_paths_not_values(gateway: RunningGateway) -> None:
    response = gateway.rpc("tools/call", {"name": "crm.get_customer", "arguments": {"customer_id": SECRET}})
    error = response.json()["error"]
    assert error["code"] == -32602
    assert error["data"]["reason"] == "schema.invalid"
    assert [e["path"] for e in error["data"]["errors"]] == ["$.customer_id"]
    assert SECRET not in response.text
    assert "secret-value-123" not in response.text


def test_schema_violation_in_a_nested_value_does_not_echo_it(gateway: RunningGateway) -> None:
    response = gateway.rpc(
        "tools/call",
        {"name": "crm.update_email", "arguments": {"customer_id": "C1001", "email": [SECRET]}},
        role="sales-agent",
    )
    error = response.json()["error"]
    assert error["data"]["reason"] == "schema.invalid"
    assert "$.email" in [e["path"] for e in error["data"]["errors"]]
    assert "secret-value-123" not in response.text


def test_unknown_tool_is_invalid_params(gateway: RunningGateway) -> None:
    error = gateway.rpc("tools/call", {"name": "crm.delete_everything", "arguments": {}}).json()["error"]
    assert error["code"] == -32602
    assert error["data"]["reason"] == "protocol.invalid_params"


def test_support_agent_may_not_issue_refunds(gateway: RunningGateway) -> None:
    arguments = {"customer_id": "C1001", "amount": 10, "currency": "EUR"}
    error = gateway.rpc("tools/call", {"name": "billing.issue_refund", "arguments": arguments}).json()["error"]
    assert error["code"] == -31403
    assert error["data"]["reason"] == "policy.denied"


def test_unknown_api_key_is_401_with_www_authenticate(gateway: RunningGateway) -> None:
    message = {"jsonrpc": "2.0", "method": "tools/list", "id": 1}
    headers = {"Authorization": "Bearer cg_not_a_key_anyone_has"}
    response = httpx.post(f"{gateway.url}/rpc", json=message, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == -31401


def test_missing_authorization_is_401(gateway: RunningGateway) -> None:
    message = {"jsonrpc": "2.0", "method": "tools/list", "id": 1}
    response = httpx.post(f"{gateway.url}/rpc", json=message, timeout=10)
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers
    assert response.json()["error"]["code"] == -31401


# --- decoding: the limits on a body's shape ------------------------------------------------------

STRING_LIMIT = 1024


def ping_with_params(params: bytes) -> bytes:
    return b'{"jsonrpc":"2.0","method":"ping","id":1,"params":' + params + b"}"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(ping_with_params(b'{"note":"' + b"x" * 1025 + b'"}'), id="value"),
        pytest.param(ping_with_params(b'{"' + b"x" * 1025 + b'":1}'), id="object-key"),
        pytest.param(ping_with_params(b'[[{"a":["' + b"x" * 1025 + b'"]}]]'), id="deep-inside"),
        pytest.param(b'"' + b"x" * 1025 + b'"', id="top-level-string"),
        pytest.param(ping_with_params(b'{"note":"' + b"\\u0078" * 1025 + b'"}'), id="escaped-characters"),
        pytest.param(ping_with_params(('{"note":"' + "é" * 1025 + '"}').encode()), id="two-byte-utf8"),
    ],
)
def test_string_longer_than_the_limit_is_invalid_request_naming_the_limit_not_the_content(body: bytes) -> None:
    with pytest.raises(InvalidRequest) as caught:
        decode(body, 64, STRING_LIMIT)
    error = error_object(caught.value)
    assert error["code"] == -32600
    assert error["data"] == {
        "reason": "protocol.invalid_request",
        "detail": "JSON string or key longer than 1024 characters",
    }
    assert "xxx" not in str(error)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("x" * 1024, id="ascii"),
        pytest.param("\\u00e9" * 1024, id="escapes"),
        pytest.param("\\ud83d\\ude00" * 1024, id="surrogate-pairs"),
        pytest.param("\U0001f600" * 1024, id="four-byte-utf8"),
    ],
)
def test_string_of_exactly_the_limit_in_characters_is_accepted(text: str) -> None:
    """Characters are counted, not bytes: an escape or a multi-byte character is one."""
    body = ping_with_params(('{"note":"' + text + '","' + text + '":1}').encode())
    params = decode(body, 64, STRING_LIMIT)["params"]
    assert [len(key) for key in params] == [4, 1024]
    assert len(params["note"]) == 1024


def test_body_far_longer_than_the_string_limit_with_short_strings_is_accepted() -> None:
    body = ping_with_params(json.dumps({"words": [f"word{i}" for i in range(5_000)]}).encode())
    assert len(body) > 20 * STRING_LIMIT
    assert len(decode(body, 64, STRING_LIMIT)["params"]["words"]) == 5_000


def test_nesting_is_still_checked_when_strings_are_checked_too() -> None:
    """A body that needs both checks gets one walk; it must still find the depth."""
    body = ping_with_params(b'{"pad":"' + b"x" * 1000 + b'","deep":' + b"[" * 64 + b"]" * 64 + b"}")
    assert len(body) > STRING_LIMIT
    with pytest.raises(InvalidRequest) as caught:
        decode(body, 64, STRING_LIMIT)
    assert caught.value.data == {"detail": "JSON nested deeper than 64 levels"}


@pytest.mark.parametrize("key", [False, True], ids=["value", "key"])
def test_string_just_over_the_limit_is_refused_wherever_it_falls_in_a_long_body(key: bool) -> None:
    """Shifted across every position relative to the points the shortcut looks at, one by one."""
    limit = 16
    for shift in range(3 * limit):
        for length, refused in ((limit, False), (limit + 1, True)):
            long = "x" * length
            message = [{long: 1} if key else long, 1]
            body = b"[" + b" " * shift + json.dumps(message[0]).encode() + b"," + b" " * 3 * limit + b"1]"
            if refused:
                with pytest.raises(InvalidRequest):
                    decode(body, 64, limit)
            else:
                assert decode(body, 64, limit) == message


def longest_string(value: Any) -> int:
    """The reference: the most characters in any string or object key of ``value``."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return max(map(longest_string, value), default=0)
    if isinstance(value, dict):
        return max([0, *map(len, value), *map(longest_string, value.values())])
    return 0


WRITERS: list[Callable[[Any], bytes]] = [
    lambda value: json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode(),
    lambda value: json.dumps(value).encode(),  # every non-ASCII character as \u escapes
    lambda value: json.dumps(value, ensure_ascii=False, indent=1).encode(),
]


def test_string_limit_agrees_with_a_plain_count_on_random_bodies() -> None:
    """Strings just under, at and over the limit, full of escapes, quotes, backslashes and multi-byte
    characters, as values and keys at any depth: refused exactly when one is longer than the limit.

    The shortcut that skips the walk for most long bodies must never skip one that breaks the limit.
    """
    rng = random.Random(20_260_101)  # fixed: the same bodies every run
    pieces = ["a", "é", "\U0001f600", '"', "\\", "\n", "/", '\\"', "\\\\", "\u2028"]

    def text(limit: int) -> str:
        length = rng.choice([0, 1, limit - 1, limit, limit + 1, 2 * limit, rng.randint(0, 3 * limit)])
        return "".join(rng.choice(pieces) for _ in range(length))

    def value(limit: int, depth: int = 0) -> Any:
        roll = rng.random()
        if depth > 4 or roll < 0.35:
            return text(limit)
        if roll < 0.45:
            return rng.randint(-(10**6), 10**6)
        if roll < 0.7:
            return [value(limit, depth + 1) for _ in range(rng.randint(0, 5))]
        return {
            text(limit) if rng.random() < 0.2 else f"k{i}": value(limit, depth + 1) for i in range(rng.randint(0, 5))
        }

    checked = refused = 0
    for _ in range(3_000):
        limit = rng.choice([4, 7, 16, 33])
        message = value(limit)
        for write in WRITERS:
            body = write(message)
            checked += 1
            if longest_string(message) > limit:
                refused += 1
                with pytest.raises(InvalidRequest):
                    decode(body, 64, limit)
            else:
                assert decode(body, 64, limit) == message
    assert checked == 9_000 and 1_000 < refused < 8_000  # both outcomes well covered
