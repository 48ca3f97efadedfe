"""A call's arguments as a policy condition sees them: ``r.args.amount``, ``"reason" in r.args``.

Reading an argument the call does not carry raises :class:`MissingArgument`,
which denies the whole decision: leaving an argument out can neither satisfy a
condition nor escape a deny rule. Every read is recorded, so a decision can be
cached on exactly the argument values it depended on.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from gateway.jsoncodec import dumps_canonical


class MissingArgument(Exception):
    """A condition read an argument that the call does not carry."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"a condition reads argument {name!r}, which the call does not carry")


class ArgumentsUnknown(Exception):
    """A condition read the arguments while they were unknown: the rule's outcome depends on them."""


class Arguments:
    """The object behind ``r.args``: attributes are the call's arguments and nothing else.

    ``values`` of ``None`` means the arguments are not known (``tools/list``,
    and the engine's per-request pre-pass): any read raises ArgumentsUnknown.
    """

    # Casbin's expression engine refuses names that start with "_", so a condition can reach only arguments.
    __slots__ = ("_read", "_values")

    def __init__(self, values: Mapping[str, Any] | None) -> None:
        self._values = values
        self._read: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        values = self._values
        if values is None:
            raise ArgumentsUnknown(name)
        self._read.append(name)
        try:
            return values[name]
        except KeyError:
            raise MissingArgument(name) from None

    def __contains__(self, name: object) -> bool:
        if self._values is None:
            raise ArgumentsUnknown(str(name))
        if not isinstance(name, str):
            return False
        self._read.append(name)
        return name in self._values

    def __repr__(self) -> str:
        return "<arguments unknown>" if self._values is None else f"<arguments {sorted(self._values)}>"


def names_read(arguments: Arguments) -> list[str]:
    """The names conditions have read (or tested with ``in``) so far, in order, with repeats.

    A function, not an attribute: every public attribute of Arguments is an argument.
    """
    return arguments._read


_ABSENT = ("absent",)


def frozen_values(arguments: Mapping[str, Any], names: tuple[str, ...]) -> tuple[Hashable, ...]:
    """A hashable key for the values of ``names`` in ``arguments``; absent names get a marker of their own.

    The type is part of the key: ``True == 1`` and ``1 == 1.0`` in Python, but a
    condition may still tell them apart.
    """
    key: list[Hashable] = []
    for name in names:
        if name not in arguments:
            key.append(_ABSENT)
            continue
        value = arguments[name]
        if value is None or isinstance(value, str | bool | int | float):
            key.append((type(value), value))
        else:  # lists and objects: their canonical JSON
            key.append((type(value), dumps_canonical(value)))
    return tuple(key)
