"""Cross-field checks written once: pydantic runs them, and the CRD carries them as CEL rules.

A check such as "maxTokens must leave room in maxModelLen" is an expression over a spec
object's fields. Written here as a small expression tree, it is both evaluated in Python
(``SpecModel`` runs every ``Rule`` of a class after its fields validate) and rendered as a
Kubernetes ``x-kubernetes-validations`` rule (``rule`` and ``messageExpression``) on the same
object's schema, so `kubectl apply` refuses what `acdc validate` refuses, and the two cannot
drift: there is no second copy to edit. tests/spec/test_cel_rules.py evaluates every rendered
rule with a CEL interpreter on good and bad run files and compares it with pydantic.

What the API server sees differs from a pydantic model in ways the rendering follows: an
unset optional field is absent (``has(self.x)``, where Python sees None), and every field
with a default is present, as the CRD's defaults are applied before validation. A null
written where null is the default is pruned by the API server (the CRD marks only the
other optional fields nullable: acdc.spec.crd), so it is unset for both. Checks CEL cannot
say (a model's identity after path normalisation, names derived from sources) stay plain
Python validators.
"""

from __future__ import annotations

import operator
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic.alias_generators import to_camel


class Expr:
    """A boolean or value expression over the fields of one spec object (``self``)."""

    def cel(self) -> str:
        raise NotImplementedError

    def value(self, model: Any) -> Any:
        raise NotImplementedError

    def compare(self, op: str, other: object) -> Expr:
        """``self op other`` (an operator of ``_OPS``), a plain value lifted to a constant."""
        return Op(op, (self, _lift(other)))

    def __lt__(self, other: object) -> Expr:
        return self.compare("<", other)

    def __le__(self, other: object) -> Expr:
        return self.compare("<=", other)

    def __gt__(self, other: object) -> Expr:
        return self.compare(">", other)

    def __ge__(self, other: object) -> Expr:
        return self.compare(">=", other)

    def __and__(self, other: Expr) -> Expr:
        return Op("&&", (self, other))

    def __or__(self, other: Expr) -> Expr:
        return Op("||", (self, other))

    def __invert__(self) -> Expr:
        return Op("!", (self,))


def _lift(value: object) -> Expr:
    return value if isinstance(value, Expr) else Const(value)


def _cel_literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_cel_literal(item) for item in value) + "]"
    raise TypeError(f"no CEL literal for {value!r}")


@dataclass(frozen=True, eq=False)
class Const(Expr):
    constant: object

    def cel(self) -> str:
        return _cel_literal(self.constant)

    def value(self, model: Any) -> Any:
        return self.constant


@dataclass(frozen=True, eq=False)
class F(Expr):
    """A field by its dotted Python name (``endpoint.deploy.max_model_len``); None where any part is unset."""

    path: str

    def cel(self) -> str:
        return "self." + ".".join(to_camel(part) for part in self.path.split("."))

    def value(self, model: Any) -> Any:
        for part in self.path.split("."):
            if model is None:
                return None
            model = getattr(model, part)
        return model


@dataclass(frozen=True, eq=False)
class Given(Expr):
    """The field and every object on its way are set (``has()`` each, as CEL needs)."""

    field: F

    def cel(self) -> str:
        parts = [to_camel(part) for part in self.field.path.split(".")]
        checks = [f"has(self.{'.'.join(parts[:end])})" for end in range(1, len(parts) + 1)]
        return checks[0] if len(checks) == 1 else "(" + " && ".join(checks) + ")"

    def value(self, model: Any) -> Any:
        return self.field.value(model) is not None


_OPS: dict[str, tuple[str, Callable[..., Any]]] = {
    "<": ("{0} < {1}", operator.lt), "<=": ("{0} <= {1}", operator.le), ">": ("{0} > {1}", operator.gt),
    ">=": ("{0} >= {1}", operator.ge), "==": ("{0} == {1}", operator.eq), "!=": ("{0} != {1}", operator.ne),
    "in": ("{0} in {1}", lambda item, collection: item in collection),
    "!": ("!({0})", operator.not_), "size": ("size({0})", len),
    # CEL has no max(): "every item is at most the bound" is how a list's maximum is bounded.
    "all<=": ("{0}.all(n, n <= {1})", lambda items, bound: all(item <= bound for item in items)),
}
"""Each operator's CEL form and Python meaning."""


@dataclass(frozen=True, eq=False)
class Op(Expr):
    """An operator of ``_OPS`` on its operands, or ``&&``/``||``, which Python evaluates left to
    right and stops early, as a guard (``has(a) && a > 1``) needs."""

    op: str
    operands: tuple[Expr, ...]

    def cel(self) -> str:
        parts = [operand.cel() for operand in self.operands]
        if self.op in ("&&", "||"):
            return f"({parts[0]} {self.op} {parts[1]})"
        return _OPS[self.op][0].format(*parts)

    def value(self, model: Any) -> Any:
        first = self.operands[0].value(model)
        if self.op == "&&":
            return bool(first) and bool(self.operands[1].value(model))
        if self.op == "||":
            return bool(first) or bool(self.operands[1].value(model))
        return _OPS[self.op][1](first, *(operand.value(model) for operand in self.operands[1:]))


def size(items: F) -> Expr:
    return Op("size", (items,))


def all_below(items: F, bound: Expr) -> Expr:
    """Every item of a list of numbers is at most ``bound``."""
    return Op("all<=", (items, bound))


@dataclass(frozen=True, eq=False)
class UniqueBy(Expr):
    """No two items of a list of objects share the value of ``key``."""

    items: F
    key: str

    def cel(self) -> str:
        camel = to_camel(self.key)
        return f"{self.items.cel()}.all(a, {self.items.cel()}.exists_one(b, b.{camel} == a.{camel}))"

    def value(self, model: Any) -> Any:
        keys = [getattr(item, self.key) for item in self.items.value(model)]
        return len(set(keys)) == len(keys)


def member(item: object, collection: object) -> Expr:
    """``item in collection``: a constant in a list field, or a field among constants."""
    return _lift(item).compare("in", collection)


def exactly_one(*fields: str) -> Expr:
    """Exactly one of the optional ``fields`` is set."""
    terms = [Given(F(name)) for name in fields]
    if len(terms) == 2:
        return terms[0].compare("!=", terms[1])
    return Sum(tuple(terms)).compare("==", 1)


@dataclass(frozen=True, eq=False)
class Sum(Expr):
    """How many of the conditions hold."""

    terms: tuple[Expr, ...]

    def cel(self) -> str:
        return "(" + " + ".join(f"({term.cel()} ? 1 : 0)" for term in self.terms) + ")"

    def value(self, model: Any) -> Any:
        return sum(1 for term in self.terms if term.value(model))


@dataclass(frozen=True)
class Rule:
    """A check that must hold, and the message when it does not: ``{dotted.field}`` in it is
    replaced by that field's value (in Python by ``str()``, in CEL by ``string()``)."""

    holds: Expr
    message: str

    def _parts(self) -> list[tuple[str, str | None]]:
        return [(literal, field) for literal, field, _, _ in string.Formatter().parse(self.message)]

    def failure(self, model: Any) -> str | None:
        """The message when the check fails on ``model``, else None."""
        if self.holds.value(model):
            return None
        return "".join(literal + ("" if field is None else str(F(field).value(model))) for literal, field in self._parts())

    def kubernetes(self) -> dict[str, str]:
        """The ``x-kubernetes-validations`` entry: the rule and its message; a message with values
        also as a ``messageExpression`` (the plain message, with each value's field name in
        braces, is what the API server says if that expression fails)."""
        pieces, static, parts = [], "", self._parts()
        for literal, field in parts:
            static += literal
            if literal:
                pieces.append(_cel_literal(literal))
            if field is not None:
                static += "{" + ".".join(to_camel(part) for part in field.split(".")) + "}"
                pieces.append(f"string({F(field).cel()})")
        entry = {"rule": self.holds.cel(), "message": static}
        if any(field is not None for _, field in parts):
            entry["messageExpression"] = " + ".join(pieces)
        return entry


def check_rules(model: Any, rules: Sequence[Rule]) -> None:
    """Raise the first failing rule's message as pydantic's ValueError."""
    for rule in rules:
        failure = rule.failure(model)
        if failure is not None:
            raise ValueError(failure)
