"""``callgate agent run`` and ``callgate agent scripts``: the bundled agent runtime, acting through a gateway."""

from __future__ import annotations

import asyncio
import os
import sys

import click

from agent_runtime import Agent, Budget, GatewayClient, Trace, WaitPolicy
from agent_runtime.memory import ConversationStore, MemoryConversationStore, RedisConversationStore
from agent_runtime.models import ModelError, load_model
from agent_runtime.models.scripted import load_script
from agent_runtime.models.scripts import BUILTIN_SCRIPTS


@click.group()
def agent() -> None:
    """The bundled agent runtime: it acts only through callgate."""


@agent.command("run")
@click.argument("task", required=False)
@click.option(
    "--model",
    "model_spec",
    required=True,
    metavar="scripted:NAME|openai:MODEL",
    help="A scripted model (a built-in script or a .yaml/.json file) or a model behind an OpenAI-compatible "
    "server (CALLGATE_MODEL_BASE_URL, CALLGATE_MODEL_API_KEY).",
)
@click.option(
    "--key-env", required=True, metavar="VAR", help="Environment variable holding the agent's API key or JWT."
)
@click.option("--url", default="http://127.0.0.1:8700", envvar="CALLGATE_URL", show_default=True, help="The gateway.")
@click.option("--conversation", "conversation_id", default=None, help="Continue this conversation.")
@click.option(
    "--redis-url",
    envvar="CALLGATE_AGENT_REDIS_URL",
    default=None,
    help="Keep conversations in this Redis, so another process can continue them (default: this process only).",
)
@click.option("--max-steps", default=12, show_default=True, type=click.IntRange(1), help="Model turns.")
@click.option("--max-tokens", default=50_000, show_default=True, type=click.IntRange(1), help="Tokens in + out.")
@click.option("--deadline-s", default=300.0, show_default=True, type=click.FloatRange(0), help="Wall clock.")
@click.option("--poll-s", default=2.0, show_default=True, type=click.FloatRange(0.01), help="Approval polling.")
@click.option("--max-approval-wait-s", default=300.0, show_default=True, type=click.FloatRange(0))
@click.option("--json", "as_json", is_flag=True, help="Print the trace as JSON.")
def run(
    task: str | None,
    model_spec: str,
    key_env: str,
    url: str,
    conversation_id: str | None,
    redis_url: str | None,
    max_steps: int,
    max_tokens: int,
    deadline_s: float,
    poll_s: float,
    max_approval_wait_s: float,
    as_json: bool,
) -> None:
    """Run TASK with an agent; exit 0 when it ends with an answer, 1 on any other stop.

    TASK may be left out to continue a conversation where it stopped.
    """
    key = os.environ.get(key_env)
    if not key:
        raise click.UsageError(f"environment variable {key_env} holds no key")
    if not task and not conversation_id:
        raise click.UsageError("give a TASK, or --conversation to continue one")
    try:
        model = load_model(model_spec, os.environ)
    except ModelError as exc:
        raise click.UsageError(str(exc)) from None
    budget = Budget(max_steps=max_steps, max_tokens=max_tokens, deadline_s=deadline_s)
    waits = WaitPolicy(poll_s=poll_s, max_approval_wait_s=max_approval_wait_s)

    async def main() -> Trace:
        store: ConversationStore = (
            RedisConversationStore.from_url(redis_url) if redis_url else MemoryConversationStore()
        )
        try:
            async with GatewayClient(url, key, waits=waits) as client:
                return await Agent(client, model, store=store, budget=budget).run(task, conversation_id=conversation_id)
        finally:
            await model.aclose()
            await store.aclose()

    try:
        trace = asyncio.run(main())
    except ValueError as exc:  # a malformed conversation id, a new conversation without a task
        raise click.UsageError(str(exc)) from None
    click.echo(trace.to_json() if as_json else trace.render())
    sys.exit(0 if trace.stop_reason == "answer" else 1)


@agent.command("scripts")
def scripts() -> None:
    """List the scripts the scripted model ships with."""
    for name in sorted(BUILTIN_SCRIPTS):
        click.echo(f"{name:<26} {load_script(name).description}")
