"""The condition language: tokens, syntax tree and a recursive-descent parser.

Grammar (lowest precedence first)::

    condition  := [ or ]                      empty means always true
    or         := and ( "or" and )*
    and        := not ( "and" not )*
    not        := "not" not | comparison
    comparison := value [ op value ]          op: == != < <= > >= in "not in"
    value      := INT | "-" INT | STRING | true | false | null | fact
                | "(" or ")" | "[" [ literal ( "," literal )* [","] ] "]"
    fact       := NAME ( "." NAME )*

Comparisons do not chain (``a < b < c`` is rejected with a hint), strings are
double-quoted with backslash escapes, integers are whole numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rules.errors import RuleError

KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in", "not in"})

# Syntax from other languages that marketers type, and what to write instead.
_FOREIGN = {
    "&&": ("use 'and' to combine conditions", "and"),
    "||": ("use 'or' to combine conditions", "or"),
    "!": ("use 'not' to negate a condition", "not"),
    "=": ("use '==' to compare", "=="),
    "<>": ("use '!=' for 'not equal'", "!="),
    "=>": ("did you mean '>='?", ">="),
    "=<": ("did you mean '<='?", "<="),
}

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<string>")
  | (?P<op>==|!=|<=|>=|&&|\|\||<>|=>|=<|[<>()\[\],=!-])
    """,
    re.VERBOSE,
)
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "/": "/"}


@dataclass(frozen=True)
class Token:
    """One token: its kind (int, str, name, op, end), value and offset."""

    kind: str
    value: Any
    position: int


def tokenize(text: str) -> list[Token]:
    """Split a condition into tokens, or raise RuleError at the first bad character."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            char = text[pos]
            if char == "'":
                raise RuleError("strings use double quotes", pos, _requote(text, pos), text=text)
            raise RuleError(f"unexpected character {char!r}", pos, text=text)
        kind = match.lastgroup
        if kind == "string":
            value, end = _read_string(text, pos)
            tokens.append(Token("str", value, pos))
            pos = end
            continue
        lexeme = match.group()
        if kind == "number":
            if not lexeme.isdigit():
                raise RuleError("numbers are whole numbers (amounts in minor units: 12.50 is 1250)", pos, text=text)
            tokens.append(Token("int", int(lexeme), pos))
        elif kind == "name":
            tokens.append(Token("name", lexeme, pos))
        elif kind == "op":
            if lexeme in _FOREIGN:
                message, suggestion = _FOREIGN[lexeme]
                raise RuleError(message, pos, suggestion, text=text)
            tokens.append(Token("op", lexeme, pos))
        pos = match.end()
    tokens.append(Token("end", None, len(text)))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    chars: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == '"':
            return "".join(chars), pos + 1
        if char == "\\":
            escaped = text[pos + 1 : pos + 2]
            if escaped not in _ESCAPES:
                raise RuleError('unknown escape; write \\" for a quote and \\\\ for a backslash', pos, text=text)
            chars.append(_ESCAPES[escaped])
            pos += 2
            continue
        if char == "\n":
            break
        chars.append(char)
        pos += 1
    raise RuleError("this string is not closed with a double quote", start, text=text)


def _requote(text: str, pos: int) -> str | None:
    end = text.find("'", pos + 1)
    return None if end < 0 else '"' + text[pos + 1 : end] + '"'


# The syntax tree. Every node keeps the offset of its first character for errors.


@dataclass(frozen=True)
class Literal:
    """A string, integer, boolean or null written in the condition."""

    value: str | int | bool | None
    position: int


@dataclass(frozen=True)
class FactRef:
    """A dotted fact name, e.g. ``purchase.total_minor``."""

    name: str
    position: int


@dataclass(frozen=True)
class ListLiteral:
    """``[...]`` of literals, only usable on the right of ``in``."""

    items: tuple[Literal, ...]
    position: int


@dataclass(frozen=True)
class Not:
    """``not operand``."""

    operand: Node
    position: int


@dataclass(frozen=True)
class BoolOp:
    """``a and b and c`` or ``a or b or c`` (flattened)."""

    op: str
    operands: tuple[Node, ...]
    position: int


@dataclass(frozen=True)
class Compare:
    """``left op right`` with one of ``== != < <= > >= in not in``."""

    op: str
    left: Node
    right: Node
    position: int


Node = Literal | FactRef | ListLiteral | Not | BoolOp | Compare


def parse(text: str) -> Node | None:
    """Parse a condition into its syntax tree; None for an empty (always true) condition."""
    if not text.strip():
        return None
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at(self, kind: str, value: Any = None) -> bool:
        token = self.token
        return token.kind == kind and (value is None or token.value == value)

    def error(self, message: str, token: Token | None = None, suggestion: str | None = None) -> RuleError:
        token = token or self.token
        return RuleError(message, token.position, suggestion, text=self.text)

    def parse(self) -> Node:
        node = self.parse_or()
        if not self.at("end"):
            raise self.unexpected("'and', 'or' or the end of the condition")
        return node

    def parse_or(self) -> Node:
        return self._bool_chain("or", self.parse_and)

    def parse_and(self) -> Node:
        return self._bool_chain("and", self.parse_not)

    def _bool_chain(self, keyword: str, operand) -> Node:
        first = operand()
        operands = [first]
        while self.at("name", keyword):
            self.advance()
            operands.append(operand())
        return first if len(operands) == 1 else BoolOp(keyword, tuple(operands), first.position)

    def parse_not(self) -> Node:
        if self.at("name", "not"):
            token = self.advance()
            return Not(self.parse_not(), token.position)
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        left = self.parse_value()
        op = self.comparison_operator()
        if op is None:
            return left
        op_token = self.token
        self.advance()
        if op == "not in":
            self.advance()
        right = self.parse_value()
        if self.comparison_operator() is not None:
            raise self.error("comparisons do not chain; join them with 'and' (a < b and b < c)", suggestion=None)
        return Compare(op, left, right, op_token.position)

    def comparison_operator(self) -> str | None:
        token = self.token
        if token.kind == "op" and token.value in COMPARISONS:
            return token.value
        if token.kind == "name" and token.value == "in":
            return "in"
        if token.kind == "name" and token.value == "not":
            following = self.tokens[self.index + 1]
            if following.kind == "name" and following.value == "in":
                return "not in"
        return None

    def parse_value(self) -> Node:
        token = self.token
        if token.kind == "int":
            self.advance()
            return Literal(token.value, token.position)
        if token.kind == "str":
            self.advance()
            return Literal(token.value, token.position)
        if token.kind == "op" and token.value == "-":
            self.advance()
            if not self.at("int"):
                raise self.error("'-' must be followed by a whole number")
            return Literal(-self.advance().value, token.position)
        if token.kind == "op" and token.value == "(":
            self.advance()
            node = self.parse_or()
            if not self.at("op", ")"):
                raise self.unexpected("')' to close the '(' at column " + str(token.position + 1))
            self.advance()
            return node
        if token.kind == "op" and token.value == "[":
            return self.parse_list()
        if token.kind == "name":
            return self.parse_name()
        raise self.unexpected("a value (a fact, a number, a \"string\", true, false, null, '(' or '[')")

    def parse_name(self) -> Node:
        token = self.advance()
        name = token.value
        constants = {"true": True, "false": False, "null": None}
        if name in constants:
            return Literal(constants[name], token.position)
        if name in KEYWORDS:
            raise self.error(f"'{name}' needs a value before it", token)
        if name.lower() in KEYWORDS:
            raise self.error("keywords are written in lower case", token, name.lower())
        return FactRef(name, token.position)

    def parse_list(self) -> ListLiteral:
        opening = self.advance()
        items: list[Literal] = []
        while not self.at("op", "]"):
            item = self.parse_value()
            if not isinstance(item, Literal):
                raise RuleError(
                    'a list holds only literal values (numbers, "strings", true, false, null)',
                    item.position,
                    text=self.text,
                )
            items.append(item)
            if self.at("op", ","):
                self.advance()
            elif not self.at("op", "]"):
                raise self.unexpected("',' or ']'")
        self.advance()
        return ListLiteral(tuple(items), opening.position)

    def unexpected(self, expected: str) -> RuleError:
        token = self.token
        if token.kind == "end":
            return self.error(f"the condition ends too early: expected {expected}")
        shown = token.value if token.kind != "str" else '"' + token.value + '"'
        return self.error(f"unexpected {shown!s}: expected {expected}")
