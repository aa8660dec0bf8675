"""``when`` conditions and the tiny expression language they may use.

The expression language is parsed by a small recursive-descent parser and
evaluated over a fixed set of names — never by Python's ``eval``::

    expr   := or
    or     := and ("or" and)*
    and    := not ("and" not)*
    not    := "not" not | cmp
    cmp    := atom (("=="|"!="|"<"|"<="|">"|">="|"in"|"not in") atom)?
    atom   := STRING | NUMBER | true | false | null | NAME("." NAME)* | "(" expr ")" | "[" atoms "]"
"""

from __future__ import annotations

import re
from typing import Any

import fnmatch

_TOKEN = re.compile(r"""\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>'[^']*'|"[^"]*")|(?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
                        |(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*))""", re.X)
MAX_LEN = 1000


class ExpressionError(ValueError):
    """The expression cannot be parsed."""


def _tokens(text: str) -> list[tuple[str, Any]]:
    if len(text) > MAX_LEN:
        raise ExpressionError(f"expression longer than {MAX_LEN} characters")
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"unexpected character {text[pos:].lstrip()[:1]!r} at offset {pos}")
        pos = m.end()
        if m.group("num"):
            n = m.group("num")
            out.append(("lit", float(n) if "." in n else int(n)))
        elif m.group("str"):
            out.append(("lit", m.group("str")[1:-1]))
        elif m.group("op"):
            out.append(("op", m.group("op")))
        else:
            name = m.group("name")
            if name in ("and", "or", "not", "in"):
                out.append(("op", name))
            elif name in ("true", "false", "null"):
                out.append(("lit", {"true": True, "false": False, "null": None}[name]))
            else:
                out.append(("name", name))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, *ops: str) -> bool:
        return self.i < len(self.toks) and self.toks[self.i][0] == "op" and self.toks[self.i][1] in ops

    def take(self) -> tuple[str, Any]:
        if self.i >= len(self.toks):
            raise ExpressionError("unexpected end of expression")
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, op: str) -> None:
        t = self.take()
        if t != ("op", op):
            raise ExpressionError(f"expected '{op}', got {t[1]!r}")

    def parse(self):
        node = self.or_()
        if self.i != len(self.toks):
            raise ExpressionError(f"unexpected {self.toks[self.i][1]!r}")
        return node

    def or_(self):
        node = self.and_()
        while self.peek("or"):
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self):
        node = self.not_()
        while self.peek("and"):
            self.take()
            node = ("and", node, self.not_())
        return node

    def not_(self):
        if self.peek("not"):
            self.take()
            return ("not", self.not_())
        return self.cmp()

    def cmp(self):
        left = self.atom()
        if self.peek("==", "!=", "<", "<=", ">", ">=", "in"):
            return ("cmp", self.take()[1], left, self.atom())
        if self.peek("not") and self.i + 1 < len(self.toks) and self.toks[self.i + 1] == ("op", "in"):
            self.i += 2
            return ("not", ("cmp", "in", left, self.atom()))
        return left

    def atom(self):
        kind, val = self.take()
        if kind == "lit":
            return ("lit", val)
        if kind == "name":
            return ("name", val)
        if val == "(":
            node = self.or_()
            self.expect(")")
            return node
        if val == "[":
            items = []
            while not self.peek("]"):
                items.append(self.atom())
                if not self.peek("]"):
                    self.expect(",")
            self.take()
            return ("list", items)
        raise ExpressionError(f"unexpected {val!r}")


def matches(value: str | None, patterns: Any) -> bool:
    """Whether ``value`` matches any glob of ``patterns`` (a string or list)."""
    if value is None:
        return False
    pats = [patterns] if isinstance(patterns, str) else list(patterns or [])
    return any(fnmatch.fnmatchcase(value, p) for p in pats)


def parse_expression(text: str):
    """Parse ``text`` into a small tree; raise :class:`ExpressionError` with what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty expression")
    return _Parser(text).parse()


def _lookup(name: str, names: dict[str, Any]) -> Any:
    value: Any = names
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _eval(node, names: dict[str, Any]) -> Any:
    op = node[0]
    if op == "lit":
        return node[1]
    if op == "name":
        return _lookup(node[1], names)
    if op == "list":
        return [_eval(n, names) for n in node[1]]
    if op == "not":
        return not _eval(node[1], names)
    if op == "and":
        return bool(_eval(node[1], names)) and bool(_eval(node[2], names))
    if op == "or":
        return bool(_eval(node[1], names)) or bool(_eval(node[2], names))
    cmp, a, b = node[1], _eval(node[2], names), _eval(node[3], names)
    try:
        if cmp == "==":
            return a == b
        if cmp == "!=":
            return a != b
        if cmp == "in":
            return a in b if isinstance(b, (list, str)) and (isinstance(b, list) or isinstance(a, str)) else False
        return _order(cmp, a, b)
    except TypeError:
        return False


def _order(cmp: str, a: Any, b: Any) -> bool:
    if cmp == "<":
        return a < b
    if cmp == "<=":
        return a <= b
    if cmp == ">":
        return a > b
    return a >= b


def evaluate(text: str, names: dict[str, Any]) -> bool:
    """Evaluate an expression over ``names`` (dicts for dotted access); errors count as false."""
    try:
        return bool(_eval(parse_expression(text), names))
    except ExpressionError:
        return False


def holds(when: dict | None, facts: dict[str, Any]) -> bool:
    """Whether a ``when`` mapping holds for the run's ``facts``.

    ``facts``: branch, tag, event, changed_paths (list or None when unknown), env (dict), params (dict), commit.
    Unknown changed paths count as "changed" so that a stage is never skipped wrongly.
    """
    if not when:
        return True
    if "branch" in when and not matches(facts.get("branch"), when["branch"]):
        return False
    if "tag" in when and not matches(facts.get("tag"), when["tag"]):
        return False
    if "event" in when and not matches(facts.get("event"), when["event"]):
        return False
    if "changeset" in when:
        paths = facts.get("changed_paths")
        if paths is not None and not any(matches(p, when["changeset"]) for p in paths):
            return False
    env = facts.get("env") or {}
    if any(str(env.get(k)) != str(v) for k, v in (when.get("environment") or {}).items()):
        return False
    if "expression" in when and not evaluate(when["expression"], facts):
        return False
    if "all" in when and not all(holds(w, facts) for w in when["all"]):
        return False
    if "any" in when and not any(holds(w, facts) for w in when["any"]):
        return False
    if "not" in when and holds(when["not"], facts):
        return False
    return True
