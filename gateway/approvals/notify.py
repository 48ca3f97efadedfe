"""The optional webhook (``approvals.notify_url``): tells a chat bot or ticketing system that a request waits.

Each new request is POSTed as JSON: the event, the approval id, the tool, the requester's subject and
tenant, the expiry, what required the approval, and where an approver can look at it. Never an argument
value: whoever receives it must come to callgate, as an approver, to see what the call would do.

The call that created the request never waits for the webhook: the POST runs in a task of its own,
bounded by ``approvals.notify_timeout_s``, through the gateway's one upstream pool. A failure is logged
with the approval id and the kind of failure only (no URL, which may hold a token; no subject, which may
name a person) and otherwise ignored: the request waits in the store all the same.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from gateway.approvals.record import ApprovalRequest, iso
from gateway.backends import UpstreamClient
from gateway.jsoncodec import dumps

log = logging.getLogger("callgate.approvals")

EVENT = "approval/requested"


class Notifier:
    def __init__(self, url: str, timeout_s: float, client: UpstreamClient, resource_uri: str | None = None) -> None:
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._timeout_s = timeout_s
        self._client = client
        self._resource_uri = resource_uri.rstrip("/") if resource_uri else None
        # Tasks are referenced until they finish: the loop itself keeps only weak references to them.
        self._tasks: set[asyncio.Task[None]] = set()

    def requested(self, request: ApprovalRequest) -> None:
        """Send the notification in the background; returns at once."""
        task = asyncio.get_running_loop().create_task(self._send(request.id, payload(request, self._resource_uri)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, approval_id: str, body: dict[str, Any]) -> None:
        try:
            async with self._client.session.post(
                self._url,
                data=dumps(body),
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                await response.read()
                if response.status >= 300:
                    log.warning("approval webhook answered HTTP %d for %s", response.status, approval_id)
        except TimeoutError:
            log.warning("approval webhook did not answer within %.1f s for %s", self._timeout_s, approval_id)
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("approval webhook failed for %s: %s", approval_id, type(exc).__name__)


def payload(request: ApprovalRequest, resource_uri: str | None = None) -> dict[str, Any]:
    """What the webhook is told of a new request: who asks for what, until when; no argument values."""
    body: dict[str, Any] = {
        "event": EVENT,
        "approval_id": request.id,
        "tool": request.tool,
        "subject": request.subject,
        "tenant": request.tenant,
        "expires_at": iso(request.expires_at),
        "required_by": request.required_by,
    }
    if resource_uri is not None:
        body["url"] = f"{resource_uri}/admin/approvals/{request.id}"
    return body
