"""gateway/policy/arguments.py: what a condition sees of a call's arguments, and which of them it read."""

from __future__ import annotations

import pytest

from gateway.policy.arguments import Arguments, ArgumentsUnknown, MissingArgument, names_read


def test_arguments_expose_only_the_calls_arguments_and_record_what_is_read() -> None:
    arguments = Arguments({"amount": 5, "items": [1], "read": "any name is an argument"})
    assert arguments.amount == 5
    assert arguments.read == "any name is an argument"
    assert "items" in arguments
    assert "currency" not in arguments
    with pytest.raises(MissingArgument):
        _ = arguments.currency
    with pytest.raises(AttributeError):
        _ = arguments._values_of_someone_else
    assert names_read(arguments) == ["amount", "read", "items", "currency", "currency"]
    with pytest.raises(ArgumentsUnknown):
        _ = Arguments(None).amount
