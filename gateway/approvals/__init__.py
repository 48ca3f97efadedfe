"""Human approval: calls parked until a person decides, bound to the exact call, executed at most once.

- ``record``: the pending request and its decision, as the store keeps them (no imports from the gateway,
  so the store can hold them);
- ``binding``: the digest that binds an approval to one call, and request ids;
- ``desk``: what the approval stage and the approvers' endpoints do with them (create, claim, decide);
- ``view``: a request as an approver may see it (arguments scrubbed for the approver's roles);
- ``notify``: the optional webhook that tells a chat bot or ticketing system a request waits;
- ``http``: ``/admin/approvals``.

What needs approval is the policy's to say (gateway.policy.approval). This package is imported by module,
never from here, so that the store can use ``record`` without pulling in the rest.
"""
