"""``callgate agent run`` and ``callgate agent scripts`` (gateway/cli/agent.py) against a real gateway."""

from __future__ import annotations

import json

from click.testing import CliRunner

from gateway.cli import main
from tests.conftest import RunningGateway


def agent_run(gateway: RunningGateway, role: str, *options: str) -> tuple[int, str]:
    runner = CliRunner()
    arguments = ["agent", "run", "--key-env", "TEST_AGENT_KEY", "--url", gateway.url, *options]
    result = runner.invoke(main, arguments, env={"TEST_AGENT_KEY": gateway.keys[role]}, catch_exceptions=False)
    return result.exit_code, result.output


def test_run_prints_the_trace_readably(gateway: RunningGateway) -> None:
    code, output = agent_run(gateway, "support-agent", "--model", "scripted:support-refund", "refund C1001")

    assert code == 0
    lines = output.splitlines()
    assert lines[0].startswith("conversation conv-")
    assert "model scripted:support-refund" in lines[0]
    assert any(line.strip().startswith("tool   billing.issue_refund: refused policy.denied -31403") for line in lines)
    assert any(line.strip().startswith("tool   docs.search: allowed") for line in lines)
    assert any(line.startswith("stop     answer  (3 steps,") for line in lines)
    assert lines[-1].startswith("answer   I may not issue refunds")


def test_run_json_prints_the_whole_trace(gateway: RunningGateway) -> None:
    code, output = agent_run(gateway, "sales-agent", "--model", "scripted:sales-meeting", "--json", "book it")

    trace = json.loads(output)
    assert code == 0
    assert trace["stop_reason"] == "answer"
    model_event, tool_event = trace["events"][:2]
    assert set(model_event) >= {"kind", "step", "tokens_in", "tokens_out", "latency_ms", "tool_calls"}
    assert (tool_event["kind"], tool_event["decision"], tool_event["reason"]) == ("tool", "refused", "schema.invalid")


def test_a_budget_stop_exits_1(gateway: RunningGateway) -> None:
    code, output = agent_run(gateway, "support-agent", "--model", "scripted:support-lookup", "--max-steps", "1", "x")

    assert code == 1
    assert "stop     max_steps: 1 steps taken" in output


def test_a_missing_key_or_an_unknown_model_is_a_usage_error(gateway: RunningGateway) -> None:
    runner = CliRunner()
    no_key = runner.invoke(main, ["agent", "run", "--model", "scripted:support-lookup", "--key-env", "NOPE", "x"])
    bad_model = agent_run(gateway, "support-agent", "--model", "gpt-4", "x")

    assert no_key.exit_code == 2 and "NOPE holds no key" in no_key.output
    assert bad_model[0] == 2 and "write scripted:NAME or openai:MODEL" in bad_model[1]


def test_scripts_lists_the_shipped_scripts() -> None:
    result = CliRunner().invoke(main, ["agent", "scripts"])

    assert result.exit_code == 0
    assert "finance-refund-approval" in result.output and "support-lookup" in result.output
