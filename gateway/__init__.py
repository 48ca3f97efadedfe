"""callgate: a secure tool gateway and policy-enforcement proxy for AI agents."""

__version__ = "0.1.0"
