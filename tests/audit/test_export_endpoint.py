"""``GET /admin/audit/export``: the same export, streamed to admins only, with the same filters."""

from __future__ import annotations

import json

import httpx

from tests.audit.test_export import ocsf_validator
from tests.conftest import RunningGateway


def some_calls(gateway: RunningGateway) -> None:
    for customer in ("C1001", "C1002"):
        gateway.rpc("tools/call", {"name": "crm.get_customer", "arguments": {"customer_id": customer}})
    gateway.rpc("tools/call", {"name": "billing.issue_refund", "arguments": {}})


def export(gateway: RunningGateway, role: str = "admin", **params: str) -> httpx.Response:
    return httpx.get(f"{gateway.url}/admin/audit/export", params=params, headers=gateway.headers(role), timeout=10)


def test_an_admin_gets_the_records_as_json_lines(gateway: RunningGateway) -> None:
    some_calls(gateway)
    response = export(gateway)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    records = [json.loads(line) for line in response.text.splitlines()]
    assert [r["tool"] for r in records if r["event"] == "tools/call"] == [
        "crm.get_customer",
        "crm.get_customer",
        "billing.issue_refund",
    ]


def test_filters_and_formats_are_those_of_the_command(gateway: RunningGateway) -> None:
    some_calls(gateway)
    refused = export(gateway, decision="refused", tool="billing.issue_refund", format="ocsf")
    (event,) = [json.loads(line) for line in refused.text.splitlines()]
    assert not list(ocsf_validator().iter_errors(event))
    assert event["api"]["service"]["name"] == "billing.issue_refund"
    csv = export(gateway, format="csv", subject="support-bot", since="2000-01-01")
    assert csv.headers["content-type"] == "text/csv"
    assert len(csv.text.splitlines()) == 1 + 3


def test_an_agent_may_not_export_and_its_attempt_is_audited(gateway: RunningGateway) -> None:
    response = export(gateway, role="support-agent")
    assert response.status_code == 403
    (record,) = [r for r in gateway.audit_records() if r["event"] == "request/refused"]
    assert (record["method"], record["subject"]) == ("audit.export", "support-bot")


def test_a_bad_format_or_time_is_refused(gateway: RunningGateway) -> None:
    for params in ({"format": "xml"}, {"since": "last week"}):
        error = export(gateway, **params).json()["error"]
        assert error["data"]["reason"] == "protocol.invalid_params"


def test_an_export_is_itself_audited_with_who_and_which_filters(gateway: RunningGateway) -> None:
    some_calls(gateway)
    headers = gateway.headers("admin", **{"X-Request-Id": "export-1"})
    params = {"format": "ocsf", "subject": "ops-admin", "since": "2000-01-01"}
    response = httpx.get(f"{gateway.url}/admin/audit/export", params=params, headers=headers, timeout=10)
    assert response.status_code == 200
    (record,) = [r for r in gateway.audit_records() if r["event"] == "audit/export"]
    assert (record["request_id"], record["subject"], record["roles"]) == ("export-1", "ops-admin", ["admin"])
    assert (record["method"], record["transport"], record["source"]) == ("audit.export", "admin", "127.0.0.1")
    assert record["export"] == {
        "format": "ocsf",
        "filters": {"subject": "ops-admin", "since": "2000-01-01T00:00:00.000000Z"},
    }
    # Written before the first line: the export holds its own record (it reads the trail after writing it).
    (event,) = [json.loads(line) for line in response.text.splitlines()]
    assert not list(ocsf_validator().iter_errors(event))
    assert (event["api"]["operation"], event["activity_name"], event["actor"]["user"]["uid"]) == (
        "audit.export",
        "Read",
        "ops-admin",
    )
    assert event["api"]["request"]["data"] == record["export"]


def test_an_export_is_refused_when_its_record_cannot_be_written(gateway: RunningGateway) -> None:
    gateway.check_trail = False  # its segments are deleted on purpose
    for path in gateway.audit_dir.iterdir():
        path.unlink()
    gateway.audit_dir.rmdir()
    statuses = [export(gateway).status_code for _ in range(2)]  # the first lands in the removed file (noticed)
    assert statuses[-1] == 503
    assert export(gateway).json()["error"]["data"]["reason"] == "audit.unavailable"
