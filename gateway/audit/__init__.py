"""The audit trail: one durable JSON Lines record for every call, allowed or refused."""

from gateway.audit.writer import AuditWriter

__all__ = ["AuditWriter"]
