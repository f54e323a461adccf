"""The Upstash metadata filter language: a tokenizer and recursive-descent parser that compile a
filter string into a predicate over metadata dicts.

Grammar (keywords are case-insensitive; AND binds tighter than OR)::

    filter     := or_expr EOF | <empty>
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := term ("AND" term)*
    term       := "(" or_expr ")"
                | "HAS" ["NOT"] "FIELD" path
                | path compare_op literal            compare_op: = != < <= > >=
                | path ["NOT"] "IN" "(" literal ("," literal)* ")"
                | path ["NOT"] "GLOB" string
                | path ["NOT"] "CONTAINS" literal
    path       := name ("." name | "[" int "]" | "[#-" int "]")*
    name       := [A-Za-z_$][A-Za-z0-9_$-]*
    literal    := string | number | "true" | "false"

Semantics: values compare only with values of the same kind (number, string, boolean), so
``price = 5`` does not match ``"5"``; ``<``-style operators need numbers. Any comparison with a
missing field is false, including the negated forms (``!=``, ``NOT IN``, ``NOT GLOB``,
``NOT CONTAINS``): only ``HAS NOT FIELD`` selects items that lack a field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Metadata = Mapping[str, Any] | None
Predicate = Callable[[Metadata], bool]
Literal = str | int | float | bool
PathSegment = str | int


class FilterError(ValueError):
    """A malformed filter; ``position`` is the 0-based character offset of the problem."""

    def __init__(self, problem: str, position: int) -> None:
        super().__init__(f"{problem} at position {position}")
        self.problem = problem
        self.position = position


# ---------------------------------------------------------------------------------------------
# Tokenizer


@dataclass(frozen=True)
class Token:
    kind: str  # "(" ")" "," "op" "string" "number" "word" "eof"
    text: str  # the source text (for error messages)
    value: Any  # decoded value: str for strings/words, int/float for numbers
    position: int


_WS = re.compile(r"\s+")
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# Upstash's identifiers are [a-zA-Z_][a-zA-Z_0-9.[\]#-]*: a name may contain '-' ("food-group").
_NAME = r"[A-Za-z_$][A-Za-z0-9_$-]*"
_WORD = re.compile(rf"{_NAME}(?:\.{_NAME}|\[#-\d+\]|\[\d+\])*")
_OPERATORS = ("!=", "<=", ">=", "=", "<", ">")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ws = _WS.match(text, i)
        if ws:
            i = ws.end()
            continue
        ch = text[i]
        if ch in "(),":
            tokens.append(Token(ch, ch, ch, i))
            i += 1
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op is not None:
            tokens.append(Token("op", op, op, i))
            i += len(op)
            continue
        if ch in "'\"":
            value, end = _read_string(text, i)
            tokens.append(Token("string", text[i:end], value, i))
            i = end
            continue
        number = _NUMBER.match(text, i)
        if number:
            raw = number.group()
            is_float = any(c in raw for c in ".eE")
            tokens.append(Token("number", raw, float(raw) if is_float else int(raw), i))
            i = number.end()
            continue
        word = _WORD.match(text, i)
        if word:
            tokens.append(Token("word", word.group(), word.group(), i))
            i = word.end()
            continue
        raise FilterError(f"unexpected character {ch!r}", i)
    tokens.append(Token("eof", "end of filter", None, len(text)))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                break
            # A backslash takes the next character literally: \' \" \\ (and anything else).
            out.append(text[i + 1])
            i += 2
            continue
        if ch == quote:
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise FilterError(f"unterminated string starting with {quote}", start)


# ---------------------------------------------------------------------------------------------
# Value semantics

_MISSING = object()


def _kind(value: Any) -> str | None:
    # bool first: it is a subclass of int, and true must not equal 1.
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _equal(value: Any, literal: Literal) -> bool:
    kind = _kind(value)
    return kind is not None and kind == _kind(literal) and value == literal


def _resolve(metadata: Metadata, path: tuple[PathSegment, ...]) -> Any:
    current: Any = metadata
    for segment in path:
        if isinstance(segment, str):
            if not isinstance(current, Mapping) or segment not in current:
                return _MISSING
            current = current[segment]
        else:
            if not isinstance(current, list) or not -len(current) <= segment < len(current):
                return _MISSING
            current = current[segment]
    return current


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a GLOB pattern (``*``, ``?``, ``[abc]``, ``[^abc]`` / ``[!abc]``) to a regex."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            start = i + 2 if pattern[i + 1 : i + 2] in ("^", "!") else i + 1
            # The first character of a class may be a literal ']', so search after it.
            close = pattern.find("]", start + 1)
            if close == -1:
                out.append(re.escape(ch))  # an unclosed bracket is literal, as in SQLite
            else:
                body = pattern[i + 1 : close]
                negate = body[:1] in ("^", "!")
                if negate:
                    body = body[1:]
                body = body.replace("\\", "\\\\").replace("]", "\\]").replace("[", "\\[")
                body = body.replace("^", "\\^")
                out.append(f"[{'^' if negate else ''}{body}]")
                i = close
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _compare(op: str, value: Any, literal: Literal) -> bool:
    if op == "=":
        return _equal(value, literal)
    if op == "!=":
        return not _equal(value, literal)
    if _kind(value) != "number":
        return False
    if op == "<":
        return bool(value < literal)
    if op == "<=":
        return bool(value <= literal)
    if op == ">":
        return bool(value > literal)
    return bool(value >= literal)


# ---------------------------------------------------------------------------------------------
# Parser: each parse_* method returns a compiled predicate.


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        self.index += 1
        return token

    def at_keyword(self, word: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token.kind == "word" and token.value.lower() == word

    def expect_keyword(self, word: str, context: str) -> Token:
        token = self.peek()
        if not self.at_keyword(word):
            raise FilterError(
                f"expected {word.upper()} {context}, found {token.text!r}", token.position
            )
        return self.advance()

    def parse(self) -> Predicate:
        predicate = self.parse_or()
        token = self.peek()
        if token.kind != "eof":
            if token.kind == ")":
                raise FilterError("unbalanced ')' without a matching '('", token.position)
            raise FilterError(
                f"unexpected {token.text!r}; conditions must be joined with AND or OR",
                token.position,
            )
        return predicate

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.at_keyword("or"):
            self.advance()
            parts.append(self.parse_and())
        if len(parts) == 1:
            return parts[0]
        return lambda metadata: any(part(metadata) for part in parts)

    def parse_and(self) -> Predicate:
        parts = [self.parse_term()]
        while self.at_keyword("and"):
            self.advance()
            parts.append(self.parse_term())
        if len(parts) == 1:
            return parts[0]
        return lambda metadata: all(part(metadata) for part in parts)

    def parse_term(self) -> Predicate:
        token = self.peek()
        if token.kind == "(":
            self.advance()
            inner = self.parse_or()
            closing = self.peek()
            if closing.kind != ")":
                found = "the end of the filter" if closing.kind == "eof" else repr(closing.text)
                raise FilterError(
                    f"unclosed '(' from position {token.position}: expected ')', found {found}",
                    closing.position,
                )
            self.advance()
            return inner
        if self.at_keyword("has") and (
            self.at_keyword("field", 1)
            or (self.at_keyword("not", 1) and self.at_keyword("field", 2))
        ):
            return self.parse_has_field()
        path = self.parse_path("a field name")
        return self.parse_condition(path)

    def parse_has_field(self) -> Predicate:
        self.advance()  # HAS
        negate = self.at_keyword("not")
        if negate:
            self.advance()
        self.expect_keyword("field", "after HAS")
        path = self.parse_path("a field name after HAS FIELD")
        if negate:
            return lambda metadata: _resolve(metadata, path) is _MISSING
        return lambda metadata: _resolve(metadata, path) is not _MISSING

    def parse_path(self, what: str) -> tuple[PathSegment, ...]:
        token = self.peek()
        if token.kind != "word" or token.value.lower() in {"and", "or"}:
            raise FilterError(f"expected {what}, found {token.text!r}", token.position)
        self.advance()
        segments: list[PathSegment] = []
        for match in re.finditer(rf"({_NAME})|\[(#-)?(\d+)\]", token.value):
            name, from_end, number = match.groups()
            if name is not None:
                segments.append(name)
            else:
                segments.append(-int(number) if from_end else int(number))
        return tuple(segments)

    def parse_condition(self, path: tuple[PathSegment, ...]) -> Predicate:
        token = self.peek()
        if token.kind == "op":
            self.advance()
            literal_token = self.peek()
            literal = self.parse_literal(f"a value after {token.text!r}")
            op = token.value
            if op not in ("=", "!=") and _kind(literal) != "number":
                raise FilterError(
                    f"operator {op!r} needs a number, found {literal_token.text!r}",
                    literal_token.position,
                )

            def compare(metadata: Metadata) -> bool:
                value = _resolve(metadata, path)
                return value is not _MISSING and _compare(op, value, literal)

            return compare
        negate = self.at_keyword("not")
        if negate:
            self.advance()
        operator = self.peek()
        if self.at_keyword("in"):
            self.advance()
            return self.parse_in(path, negate)
        if self.at_keyword("glob"):
            self.advance()
            return self.parse_glob(path, negate)
        if self.at_keyword("contains"):
            self.advance()
            return self.parse_contains(path, negate)
        if negate:
            expected = "IN, GLOB or CONTAINS after NOT"
        else:
            expected = "an operator (=, !=, <, <=, >, >=, [NOT] IN, [NOT] GLOB, [NOT] CONTAINS)"
        raise FilterError(f"expected {expected}, found {operator.text!r}", operator.position)

    def parse_in(self, path: tuple[PathSegment, ...], negate: bool) -> Predicate:
        opening = self.peek()
        if opening.kind != "(":
            raise FilterError(f"expected '(' after IN, found {opening.text!r}", opening.position)
        self.advance()
        if self.peek().kind == ")":
            raise FilterError("IN needs at least one value", self.peek().position)
        values = [self.parse_literal("a value in the IN list")]
        while self.peek().kind == ",":
            self.advance()
            values.append(self.parse_literal("a value after ','"))
        closing = self.peek()
        if closing.kind != ")":
            raise FilterError(
                f"expected ',' or ')' in the IN list, found {closing.text!r}", closing.position
            )
        self.advance()

        def member(metadata: Metadata) -> bool:
            value = _resolve(metadata, path)
            if value is _MISSING:
                return False
            return any(_equal(value, v) for v in values) != negate

        return member

    def parse_glob(self, path: tuple[PathSegment, ...], negate: bool) -> Predicate:
        token = self.peek()
        if token.kind != "string":
            raise FilterError(f"GLOB needs a quoted pattern, found {token.text!r}", token.position)
        self.advance()
        regex = _glob_regex(token.value)

        def glob(metadata: Metadata) -> bool:
            value = _resolve(metadata, path)
            if not isinstance(value, str):
                return False
            return (regex.fullmatch(value) is not None) != negate

        return glob

    def parse_contains(self, path: tuple[PathSegment, ...], negate: bool) -> Predicate:
        literal = self.parse_literal("a value after CONTAINS")

        def contains(metadata: Metadata) -> bool:
            value = _resolve(metadata, path)
            if not isinstance(value, list):
                return False
            return any(_equal(item, literal) for item in value) != negate

        return contains

    def parse_literal(self, what: str) -> Literal:
        token = self.peek()
        if token.kind in ("string", "number"):
            self.advance()
            return token.value  # type: ignore[no-any-return]
        if token.kind == "word" and token.value.lower() in ("true", "false"):
            self.advance()
            return token.value.lower() == "true"
        found = "the end of the filter" if token.kind == "eof" else repr(token.text)
        hint = " (strings must be quoted)" if token.kind == "word" else ""
        raise FilterError(f"expected {what}, found {found}{hint}", token.position)


def _match_all(metadata: Metadata) -> bool:
    return True


def compile_filter(text: str | None) -> Predicate:
    """Compile ``text`` into a predicate; an empty filter matches everything.

    Raises :class:`FilterError` naming the problem and its position when ``text`` is malformed.
    """
    if text is None or not text.strip():
        return _match_all
    return _Parser(text).parse()


def is_match_all(predicate: Predicate) -> bool:
    """Whether ``predicate`` is the one an empty filter compiles to (lets search skip filtering)."""
    return predicate is _match_all
