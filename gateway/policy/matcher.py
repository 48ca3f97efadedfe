"""Casbin's matcher, compiled once and evaluated one rule at a time, with the caller's roles per request.

Everything here is Casbin's: the matcher language and its expression engine,
the built-in functions (``keyMatch``, ``regexMatch``, ...), ``eval()`` of a
rule's field (Casbin's ABAC with policy rules), the role managers and the
effector. What callgate adds is where the values come from:

- The request fields are filled by name: ``sub`` the subject, ``dom`` the
  tenant, ``obj`` the tool, ``act`` the action, ``args`` the call's arguments.
  A model declares the ones it uses (Casbin's examples use ``sub, obj, act``
  or ``sub, dom, obj, act``); any other name is refused at load.
- In a model with roles (``g``), ``r.sub`` is ``user:`` + the subject, so a
  subject never equals a role name (subjects.py); a model without ``g`` sees
  the plain subject.
- ``g(r.sub, role)`` also holds for the roles the caller brings with the
  request (an API key's roles, a token's role claim), within the caller's
  tenant, and for every role those inherit through ``g`` lines. So one
  evaluation sees all of a caller's roles and a deny rule for any of them wins.
  A role spelled like a subject (``user:...``) is never one of them.

Every pycasbin structure read here comes through casbin_internals.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config import ConfigError
from gateway.policy import casbin_internals
from gateway.policy.arguments import Arguments
from gateway.policy.casbin_internals import Effector
from gateway.policy.subjects import ROLE_TYPE, is_reserved, subject_name

#: The request fields callgate fills, and with what.
REQUEST_FIELDS = {
    "sub": "the subject",
    "dom": "the tenant",
    "obj": "the tool",
    "act": "the action",
    "args": "the call's arguments",
}

_EFFECTS = {"allow": Effector.ALLOW, "deny": Effector.DENY}
#: The effect of a rule that makes the calls it matches wait for a human's approval. It never allows
#: on its own: the model's effector never sees it (decide.py keeps such rules apart), so a call it
#: matches is still allowed or denied by the other rules, and only an allowed one waits for a human.
APPROVE = "approve"


@dataclass(frozen=True, slots=True)
class Request:
    """One question to the policy: may this caller, holding these roles, do this to this tool?"""

    subject: str
    tenant: str
    roles: tuple[str, ...]
    tool: str
    action: str
    arguments: Arguments


class Matcher:
    """The model's matcher and rules, from a loaded ``casbin.Enforcer``, ready to test one rule at a time."""

    def __init__(self, enforcer: Any, model_path: Path) -> None:
        model = enforcer.get_model()
        self._fields = [token.removeprefix("r_") for token in casbin_internals.field_tokens(model, "r", "r")]
        for name in self._fields:
            if name not in REQUEST_FIELDS:
                known = ", ".join(REQUEST_FIELDS)
                raise ConfigError(model_path, f"request field {name!r} is not one callgate fills ({known})")
        p_tokens = casbin_internals.field_tokens(model, "p", "p")
        #: The policy fields the model declares (``sub, dom, obj, act, eft, cond``), in its order.
        self.policy_fields: list[str] = [token.removeprefix("p_") for token in p_tokens]
        #: The rules in the order Casbin evaluates them (it may sort them at load, for priority models).
        self.rules: list[list[str]] = casbin_internals.policy_rules(enforcer)
        #: Whether the model has roles, so that ``r.sub`` is ``user:NAME`` (subjects.py).
        self.has_roles = casbin_internals.has_type(model, "g", ROLE_TYPE)
        # Casbin evaluates an empty policy as one rule whose fields are all empty: so does this.
        self.empty = not self.rules
        self._parameters = [dict(zip(p_tokens, values, strict=True)) for values in self.rules]
        if self.empty:
            self._parameters = [dict.fromkeys(p_tokens, "")]
        #: How many rules an evaluation may read.
        self.size = len(self._parameters)
        #: The effect of each rule when it matches (allow unless its ``eft`` field says otherwise).
        self.effects = [_effect(parameters, self.empty) for parameters in self._parameters]
        #: Whether each rule's ``eft`` is ``approve``: it parks the calls it matches for a human (APPROVE).
        self.approves = [not self.empty and parameters.get("p_eft") == APPROVE for parameters in self._parameters]
        self.effector = casbin_internals.effector(enforcer)
        self._source = casbin_internals.definition(model, "m", "m")
        self._eval_fields = casbin_internals.eval_fields(self._source)
        self._functions = _functions(enforcer, model, self._current)
        self._serving: _Serving | None = None
        self._compiled: dict[str, Any] = {}
        self._by_rule: list[Any] = [None] * self.size
        if not self._eval_fields:
            try:
                shared = self._compile(self._source)
            except Exception as exc:  # SyntaxError and simpleeval's own errors
                raise ConfigError(model_path, f"the matcher does not parse: {exc}") from None
            self._by_rule = [shared] * self.size

    @property
    def uses_eval(self) -> bool:
        """Whether the matcher evaluates a rule's field with ``eval()``, so rules may carry conditions."""
        return bool(self._eval_fields)

    @property
    def fields(self) -> list[str]:
        """The request fields the model declares, in its order."""
        return list(self._fields)

    def subject_of(self, request: Request) -> str:
        """``r.sub`` for ``request``: ``user:NAME`` in a model with roles, else the subject itself."""
        return subject_name(request.subject) if self.has_roles else request.subject

    @contextmanager
    def serving(self, request: Request) -> Iterator[dict[str, Any]]:
        """Evaluate for ``request`` inside this block: yields the request's parameters for :meth:`matches`.

        Not reentrant and not thread-safe: the engine holds a lock around it.
        """
        subject = self.subject_of(request)
        values = {
            "sub": subject,
            "dom": request.tenant,
            "obj": request.tool,
            "act": request.action,
            "args": request.arguments,
        }
        roles = tuple(role for role in request.roles if not is_reserved(role))
        self._serving = _Serving(subject, request.tenant, roles)
        try:
            yield {"r_" + name: values[name] for name in self._fields}
        finally:
            self._serving = None

    def matches(self, index: int, request_parameters: dict[str, Any]) -> bool:
        """Whether rule ``index`` matches the request being served; raises whatever evaluation raises."""
        result = self.expression(index).eval(request_parameters | self._parameters[index])
        # The same tests as casbin's enforce_ex: a bool, or a float that is not 0; anything else is an error.
        if isinstance(result, bool):
            return result
        if isinstance(result, float):
            return result != 0
        raise RuntimeError("matcher result should be bool, int or float")

    def expression(self, index: int) -> Any:
        """Rule ``index``'s matcher, compiled (with its ``eval()`` fields in place when the matcher has them)."""
        compiled = self._by_rule[index]
        if compiled is None:
            if self.empty:
                raise RuntimeError("please make sure rule exists in policy when using eval() in matcher")
            parameters = self._parameters[index]
            fields = [casbin_internals.escape_assertion(parameters[name]) for name in self._eval_fields]
            compiled = self._compile(casbin_internals.replace_eval(self._source, fields))
            self._by_rule[index] = compiled
        return compiled

    def _compile(self, source: str) -> Any:
        compiled = self._compiled.get(source)
        if compiled is None:
            compiled = casbin_internals.compile_expression(source, self._functions)
            self._compiled[source] = compiled
        return compiled

    def _current(self) -> _Serving | None:
        return self._serving


@dataclass(frozen=True, slots=True)
class _Serving:
    """What ``g`` needs of the request being served: ``r.sub`` as filled, the tenant, the usable roles."""

    subject: str
    tenant: str
    roles: tuple[str, ...]


def _effect(parameters: dict[str, str], empty: bool) -> int:
    if empty or "p_eft" not in parameters:
        return int(Effector.ALLOW)
    return int(_EFFECTS.get(parameters["p_eft"], Effector.INDETERMINATE))


def _functions(enforcer: Any, model: Any, current: Callable[[], _Serving | None]) -> dict[str, Any]:
    """Casbin's function map as enforce_ex builds it, with ``g`` taught the request's roles."""
    functions = casbin_internals.functions(enforcer)
    keys = casbin_internals.grouping_types(model)
    for key in keys:
        role_function = casbin_internals.role_function(enforcer, key)
        if role_function is not None:
            functions[key] = role_function
    if ROLE_TYPE in keys:
        links = casbin_internals.grouping_rules(enforcer, ROLE_TYPE)
        functions[ROLE_TYPE] = _with_request_roles(functions[ROLE_TYPE], links, current)
    return functions


def _with_request_roles(
    base: Callable[..., bool], links: list[list[str]], current: Callable[[], _Serving | None]
) -> Callable[..., bool]:
    # Casbin's role managers keep every name and domain they are asked about; asking only about
    # those that appear in g lines keeps callers with ever new subjects (tokens) from growing them.
    names = {name for link in links for name in link[:2]}
    domains = {link[2] for link in links if len(link) > 2}

    def linked(name1: str, name2: str, domain: tuple[str, ...]) -> bool:
        # Casbin's g() holds for equal names. That is safe here: r.sub is user:NAME and no role may
        # be spelled so (subjects.py), so a subject equals only a rule naming that very subject.
        if name1 == name2:
            return True
        if name1 not in names or (domain and domain[0] not in domains):
            return False
        return bool(base(name1, name2, *domain))

    def g(name1: Any, name2: Any, *domain_args: Any) -> bool:
        domain = tuple(str(value) for value in domain_args)
        if linked(name1, name2, domain):
            return True
        request = current()
        if request is None or name1 != request.subject or (domain and domain[0] != request.tenant):
            return False
        return any(linked(role, name2, domain) for role in request.roles)

    return g
