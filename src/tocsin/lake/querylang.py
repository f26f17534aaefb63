r"""The search language: what analysts type in the search box.

Parsed here; :mod:`tocsin.lake.querysql` compiles it to DuckDB SQL.

Terms
    ``field:value``             the field equals the value (case-insensitive for text)
    ``field:"a phrase"``        quote values with spaces, parentheses or a leading ``-``
    ``field:*cmd*``             wildcards: ``*`` any run of characters, ``?`` one character;
                                they work inside quotes too (``CommandLine:"*-enc *"``)
    ``certutil``, ``"a b"``     free text: found anywhere in the raw event (``event.original``),
                                case-insensitive; ``cert*cache`` still matches anywhere
    ``field:*``, ``_exists_:field``   the field has a value (not null, not an empty string)
    ``field:(a OR b OR c)``     value group; values side by side mean OR here: ``EventID:(1 3)``
    ``field:[1 TO 5]``          range, inclusive; ``{1 TO 5}`` exclusive, ``[1 TO 5}`` mixed,
                                ``*`` leaves an end open: ``bytes:[1000 TO *]``
    ``field>10``, ``field:>=10``, ``field<10``, ``field<=10``   comparisons
    ``@timestamp>-24h``         times: ISO (``2024-01-31``, ``2024-01-31T12:00``, ``...Z``,
                                ``+02:00``), relative to now (``-24h`` or ``24h`` ago, ``15m``,
                                ``7d``, ``2w``, ``now-1h``, ``+1h`` ahead), ``now``, or epoch
                                seconds; a date or time without its smaller parts stands for its
                                whole period: ``@timestamp:2024-01-31`` is that day (UTC), and
                                ``@timestamp:[2024-01-01 TO 2024-01-02]`` ends with Jan 2
    ``*``                       everything (as does an empty query)

Combining
    ``a AND b`` (or ``a b``), ``a OR b``, ``NOT a`` (or ``-a``), parentheses; ``and``/``or``/
    ``not`` work too. ``NOT`` binds tightest, then ``AND``, then ``OR``.

Field names
    Letters, digits, ``_ . @ -``; anything else goes in backticks: ```my field`:x``. Names match
    the dataset's columns case-insensitively. A field the dataset lacks has no value:
    ``field:x`` is false and ``NOT field:x`` true there.

Backslashes
    Outside quotes a backslash is always literal, so Windows paths type as they are:
    ``Image:C:\Windows\System32\cmd.exe``, ``Image:*\cmd.exe``, ``TargetFilename:C:\Users\*``.
    Inside quotes only a backslash before ``"`` is special, as on the Windows command line:
    ``\"`` is a literal quote, and a value ending in a backslash doubles it
    (``"C:\Program Files\\"``). There is no escape for ``*`` and ``?``: they are always
    wildcards (and also match themselves).

Types
    Text matches case-insensitively. Numbers compare as numbers (``EventID:4688``); a value that
    is not a number, or has wildcards, matches the number's text (``EventID:46*``). ``true`` and
    ``false`` match booleans. In lists (``event.category``) a term matches when any element does.
    A range or comparison on a number or time field needs a number or a time, else the search
    fails naming the field; on a text field, numeric bounds compare the text as a number.

A bare value ends at a space or at a ``)`` that it did not open, so ``*IEX(New-Object*`` works
unquoted; free text containing ``:``, ``<``, ``>`` or spaces must be quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypeAlias

from tocsin.core.errors import QuerySyntaxError
from tocsin.core.event import ORIGINAL

__all__ = [
    "And",
    "Compare",
    "CompareOp",
    "Exists",
    "MatchAll",
    "MatchKind",
    "Node",
    "Not",
    "Or",
    "Range",
    "Term",
    "parse_query",
    "referenced_fields",
]


# --------------------------------------------------------------------------- syntax tree


class MatchKind(StrEnum):
    """How a term's value is matched."""

    EXACT = "exact"  # the value as written, no wildcards
    WILDCARD = "wildcard"  # ``*`` and ``?`` are wildcards


CompareOp = Literal[">", ">=", "<", "<="]


@dataclass(frozen=True, slots=True)
class MatchAll:
    """Every event (an empty query, or ``*``)."""


@dataclass(frozen=True, slots=True)
class Term:
    """A field's value matches ``value``; ``field`` None means free text in ``event.original``."""

    field: str | None
    value: str
    kind: MatchKind = MatchKind.EXACT


@dataclass(frozen=True, slots=True)
class Exists:
    """The field has a value: not null, not an empty string, not an empty list."""

    field: str


@dataclass(frozen=True, slots=True)
class Compare:
    """``field > value`` and friends; the value is read by the column's type at compile time."""

    field: str
    op: CompareOp
    value: str


@dataclass(frozen=True, slots=True)
class Range:
    """``field:[low TO high]``; a None end is open."""

    field: str
    low: str | None
    high: str | None
    include_low: bool = True
    include_high: bool = True


@dataclass(frozen=True, slots=True)
class Not:
    """The operand does not match."""

    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    """All operands match."""

    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one operand matches."""

    operands: tuple[Node, ...]


Node: TypeAlias = MatchAll | Term | Exists | Compare | Range | Not | And | Or


def referenced_fields(node: Node) -> set[str]:
    """Return the field names a query uses (free text uses ``event.original``).

    A dataset that lacks every one of them can still match through ``NOT``.
    """
    match node:
        case Term(field=None):
            return {ORIGINAL}
        case (
            Term(field=str() as name) | Exists(field=name) | Compare(field=name) | Range(field=name)
        ):
            return {name}
        case Not(operand=operand):
            return referenced_fields(operand)
        case And(operands=operands) | Or(operands=operands):
            return set().union(*(referenced_fields(o) for o in operands))
    return set()


# --------------------------------------------------------------------------- parser

_KEYWORD = re.compile(r"(AND|and|OR|or|NOT|not)(?=[\s()\"]|$)")
_TO = re.compile(r"(TO|to)(?=[\s\]}]|$)")
_FIELD_EXTRA = frozenset("_.@-")
_TERM_STOPS = ":<>"
_RANGE_STOPS = "]}"


def parse_query(text: str) -> Node:
    """Parse a search query; an empty one matches everything.

    Raises:
        QuerySyntaxError: with the 1-based column where the query went wrong.
    """
    return _Parser(text).parse()


def _kind_of(value: str) -> MatchKind:
    return MatchKind.WILDCARD if "*" in value or "?" in value else MatchKind.EXACT


def _join(cls: type[And] | type[Or], items: list[Node]) -> Node:
    if len(items) == 1:
        return items[0]
    flat: list[Node] = []
    for item in items:
        flat.extend(item.operands if isinstance(item, cls) else (item,))
    return cls(tuple(flat))


class _Parser:
    """Recursive descent over the text; what the scanner reads depends on where the parser is."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.end = len(text)
        self.value_took_paren = False  # a bare value kept a ')': explains a missing one

    # -- helpers

    def error(self, message: str, pos: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, query=self.text, column=pos + 1)

    def skip_ws(self) -> None:
        while self.pos < self.end and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= self.end

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < self.end else ""

    def keyword(self) -> str | None:
        match = _KEYWORD.match(self.text, self.pos)
        return match.group(1).upper() if match else None

    def take_keyword(self, name: str, *, group: bool = False) -> None:
        """Consume a binary or unary keyword and check that a term follows it."""
        self.pos += len(name)
        self.skip_ws()
        if self.at_end() or self.peek() == ")":
            raise self.error(f"expected a {'value' if group else 'term'} after {name!r}", self.pos)

    # -- boolean structure

    def parse(self) -> Node:
        self.skip_ws()
        if self.at_end():
            return MatchAll()
        node = self.or_expr()
        self.skip_ws()
        if not self.at_end():  # or_expr stops only at the end or at a ')'
            raise self.error("unbalanced parenthesis: this ')' has no '(' before it", self.pos)
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while True:
            self.skip_ws()
            if self.keyword() != "OR":
                return _join(Or, items)
            self.take_keyword("OR")
            items.append(self.and_expr())

    def and_expr(self) -> Node:
        items = [self.unary()]
        while True:
            self.skip_ws()
            if self.at_end() or self.peek() == ")":
                break
            word = self.keyword()
            if word == "OR":
                break
            if word == "AND":
                self.take_keyword("AND")
            items.append(self.unary())
        return _join(And, items)

    def unary(self) -> Node:
        self.skip_ws()
        word = self.keyword()
        if word == "NOT":
            self.take_keyword("NOT")
            return Not(self.unary())
        if word is not None:
            raise self.error(f"{word!r} needs a term on each side", self.pos)
        if self.peek() == "-":
            nxt = self.text[self.pos + 1 : self.pos + 2]
            if not nxt or nxt.isspace() or nxt == ")":
                raise self.error("expected a term after '-'", self.pos + 1)
            if nxt != "-":  # ``--flag`` is a word, not a double negation
                self.pos += 1
                return Not(self.unary())
        return self.primary()

    def primary(self) -> Node:
        start = self.pos
        char = self.peek()
        if char == "(":
            self.pos += 1
            self.skip_ws()
            if self.peek() == ")":
                raise self.error("empty parentheses: put a term inside", self.pos)
            if self.at_end():
                raise self.error("unbalanced parenthesis: this '(' is never closed", start)
            node = self.or_expr()
            return self.close_paren(node, start)
        if char == ")":
            raise self.error("unbalanced parenthesis: this ')' has no '(' before it", start)
        if char == '"':
            value = self.quoted()
            return Term(None, value, _kind_of(value))
        if char == "`":
            name = self.backticked()
            return self.field_clause(name)
        word = self.bare(_TERM_STOPS)
        if not word:
            raise self.error(f"missing field name before {char!r}", start)
        after_word = self.pos
        self.skip_ws()
        if self.peek() and self.peek() in _TERM_STOPS:
            if word == "_exists_" and self.peek() == ":":
                return self.exists_clause()
            if word == "*" and self.text.startswith(":*", self.pos):
                self.pos += 2
                return MatchAll()
            if not _is_field_name(word):
                raise self.error(
                    f"{word!r} is not a field name: quote free text that contains "
                    f"{self.peek()!r}, or put an odd field name in backticks",
                    start,
                )
            return self.field_clause(word)
        self.pos = after_word
        if word.strip("*") == "":
            return MatchAll()
        return Term(None, word, _kind_of(word))

    def close_paren(self, node: Node, open_pos: int) -> Node:
        self.skip_ws()
        if self.peek() != ")":
            hint = ""
            if self.value_took_paren:
                hint = " (a value's own '(' took a ')': quote values with parentheses)"
            raise self.error(f"unbalanced parenthesis: this '(' is never closed{hint}", open_pos)
        self.pos += 1
        return node

    # -- fields

    def field_clause(self, field: str) -> Node:
        self.skip_ws()
        char = self.peek()
        if char in ("<", ">"):
            return self.comparison(field)
        if char != ":":
            raise self.error(f"expected ':' after the field name {field!r}", self.pos)
        self.pos += 1
        self.skip_ws()
        return self.value_spec(field)

    def exists_clause(self) -> Node:
        self.pos += 1  # the ':'
        self.skip_ws()
        start = self.pos
        if self.peek() == "`":
            return Exists(self.backticked())
        name = self.bare(_TERM_STOPS)
        if not name:
            raise self.error("missing field name after '_exists_:'", start)
        if not _is_field_name(name):
            raise self.error(f"{name!r} is not a field name", start)
        return Exists(name)

    def value_spec(self, field: str) -> Node:
        """What follows ``field:``: a value, a value group, a range or a comparison."""
        char = self.peek()
        if not char or char == ")":
            raise self.error(f"missing value after '{field}:'", self.pos)
        if char == "(":
            return self.value_group(field)
        if char in ("[", "{"):
            return self.range(field)
        if char in ("<", ">"):
            return self.comparison(field)
        if char == '"':
            value = self.quoted()
            return Term(field, value, _kind_of(value))
        value = self.bare("")
        if value.strip("*") == "":
            return Exists(field)
        return Term(field, value, _kind_of(value))

    def value_group(self, field: str) -> Node:
        start = self.pos
        self.pos += 1
        self.skip_ws()
        if self.peek() == ")":
            raise self.error(f"empty value group after '{field}:'", self.pos)
        if self.at_end():
            raise self.error("unbalanced parenthesis: this '(' is never closed", start)
        node = self.group_or(field)
        return self.close_paren(node, start)

    def group_or(self, field: str) -> Node:
        # Values side by side mean OR in a group: ``EventID:(4624 4625)``.
        items = [self.group_and(field)]
        while True:
            self.skip_ws()
            if self.at_end() or self.peek() == ")":
                return _join(Or, items)
            if self.keyword() == "OR":
                self.take_keyword("OR", group=True)
            items.append(self.group_and(field))

    def group_and(self, field: str) -> Node:
        items = [self.group_not(field)]
        while True:
            saved = self.pos
            self.skip_ws()
            if self.keyword() != "AND":
                self.pos = saved
                return _join(And, items)
            self.take_keyword("AND", group=True)
            items.append(self.group_not(field))

    def group_not(self, field: str) -> Node:
        self.skip_ws()
        word = self.keyword()
        if word == "NOT":
            self.take_keyword("NOT", group=True)
            return Not(self.group_not(field))
        if word is not None:
            raise self.error(f"{word!r} needs a value on each side", self.pos)
        return self.value_spec(field)

    def comparison(self, field: str) -> Node:
        op: CompareOp
        if self.text.startswith(">=", self.pos):
            op = ">="
        elif self.text.startswith("<=", self.pos):
            op = "<="
        else:
            op = ">" if self.peek() == ">" else "<"
        self.pos += len(op)
        self.skip_ws()
        start = self.pos
        if self.peek() == '"':
            value = self.quoted()
        else:
            value = self.bare("")
            if value == "*":  # an open end: any value
                return Exists(field)
        if not value:
            raise self.error(f"missing value after '{field}{op}'", start)
        return Compare(field, op, value)

    def range(self, field: str) -> Node:
        include_low = self.peek() == "["
        self.pos += 1
        low = self.range_bound("a lower bound after '['" if include_low else "a lower bound")
        self.skip_ws()
        if not _TO.match(self.text, self.pos):
            raise self.error("expected 'TO' in the range (as in [1 TO 5])", self.pos)
        self.pos += 2
        high = self.range_bound("an upper bound after 'TO'")
        self.skip_ws()
        if self.peek() not in ("]", "}") or self.at_end():
            raise self.error("the range is never closed: expected ']' or '}'", self.pos)
        include_high = self.peek() == "]"
        self.pos += 1
        if low is None and high is None:
            return Exists(field)
        return Range(field, low, high, include_low, include_high)

    def range_bound(self, what: str) -> str | None:
        self.skip_ws()
        start = self.pos
        if self.peek() == '"':
            return self.quoted()
        value = self.bare(_RANGE_STOPS)
        if not value or value in ("TO", "to"):
            raise self.error(f"the range needs {what}", start)
        return None if value == "*" else value

    # -- lexemes

    def bare(self, stops: str) -> str:
        """Read an unquoted word: it ends at a space, a stop character or an unopened ')'."""
        start = self.pos
        depth = 0
        text = self.text
        while self.pos < self.end:
            char = text[self.pos]
            if char.isspace() or char in stops:
                break
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
                self.value_took_paren = True
            self.pos += 1
        return text[start : self.pos]

    def quoted(self) -> str:
        """Read a ``"..."`` string; backslashes escape only a quote (Windows command-line rule)."""
        start = self.pos
        text = self.text
        self.pos += 1
        out: list[str] = []
        while self.pos < self.end:
            char = text[self.pos]
            if char == "\\":
                run_end = self.pos
                while run_end < self.end and text[run_end] == "\\":
                    run_end += 1
                run = run_end - self.pos
                if run_end < self.end and text[run_end] == '"':
                    out.append("\\" * (run // 2))
                    self.pos = run_end + 1
                    if run % 2 == 0:
                        return "".join(out)
                    out.append('"')
                    continue
                out.append("\\" * run)
                self.pos = run_end
                continue
            self.pos += 1
            if char == '"':
                return "".join(out)
            out.append(char)
        raise self.error(
            "unterminated quote: add the closing '\"' (\\\" is a literal quote; "
            'end a value with a backslash by doubling it: "C:\\Temp\\\\")',
            start,
        )

    def backticked(self) -> str:
        """Read a ```field name```; a doubled backtick is a literal one."""
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < self.end:
            char = self.text[self.pos]
            self.pos += 1
            if char == "`":
                if self.peek() == "`":
                    out.append("`")
                    self.pos += 1
                    continue
                if not out:
                    raise self.error("empty field name in backticks", start)
                return "".join(out)
            out.append(char)
        raise self.error("unterminated backtick: add the closing '`'", start)


def _is_field_name(word: str) -> bool:
    return bool(word) and all(c.isalnum() or c in _FIELD_EXTRA for c in word)
