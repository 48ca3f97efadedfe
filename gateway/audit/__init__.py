"""The audit trail: one hash-chained JSON Lines record for every decision, allowed or refused."""

from gateway.audit.record import EVENTS, AuditRecord
from gateway.audit.writer import AuditWriter

__all__ = ["EVENTS", "AuditRecord", "AuditWriter"]
