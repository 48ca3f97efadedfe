"""A configuration change invalidates the approvals made under the old one: the policy they were judged by is gone."""

from __future__ import annotations

import httpx

from tests.approvals.conftest import AGENT, APPROVER, ConfigCopy, Refunds, call, decide, park, reason
from tests.conftest import GatewayFactory


def test_a_reload_makes_an_approval_of_the_old_configuration_a_mismatch(
    start_gateway: GatewayFactory, config_copy: ConfigCopy, counting_backend: str, refunds: Refunds
) -> None:
    gateway = start_gateway(config_copy.path, CALLGATE_DEMO_BACKEND_URL=counting_backend)
    agent = gateway.keys[AGENT]
    approved = park(gateway.url, agent)
    assert decide(gateway.url, gateway.keys[APPROVER], approved).status_code == 200
    config_copy.add_rules("# a comment is enough: the configuration version is a hash of the files")
    reloaded = httpx.post(f"{gateway.url}/admin/policy/reload", headers=gateway.headers("admin"), timeout=30).json()
    assert reloaded["reloaded"] and reloaded["version"] != reloaded["previous_version"]
    answer = call(gateway.url, agent, approval_id=approved)
    assert (answer["error"]["code"], reason(answer)) == (-31403, "approval.mismatch")
    assert refunds.issued == 0
    # Under the new configuration the same call is simply asked again, and runs once approved.
    again = park(gateway.url, agent)
    assert again != approved
    decide(gateway.url, gateway.keys[APPROVER], again)
    assert reason(call(gateway.url, agent, approval_id=again)) == "ok"
    assert refunds.issued == 1
