"""Type-check a condition against the fact schema and compile it to a Python function.

The checked syntax tree is translated node by node into a Python ``ast`` tree that
we build ourselves: literals become ``ast.Constant`` values, a fact becomes
``f["dotted.name"]`` (a constant key into the facts mapping), and only the
operators of the language are ever emitted. The user's text is never given to
``eval``, ``exec`` or ``compile``; what is compiled is that tree, into one plain
function per rule, so evaluating a condition costs one call and no interpretation.
"""

from __future__ import annotations

import ast
import difflib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rules.errors import RuleError
from rules.facts import CONTEXT_FACTS, WEEKDAYS, FactSchema, reject_context_fact
from rules.parser import BoolOp, Compare, FactRef, ListLiteral, Literal, Node, Not, parse

Test = Callable[[Mapping[str, Any]], bool]

WEEKDAY_FACT = "purchase.local_weekday"
HOUR_FACT = "purchase.local_hour"
# Facts with a small closed domain: a conjunct that reads only one of them is
# settled by the rule set's index (which keys candidates by weekday and hour).
INDEXED_DOMAINS: dict[str, tuple[Any, ...]] = {WEEKDAY_FACT: WEEKDAYS, HOUR_FACT: tuple(range(24))}


@dataclass(frozen=True)
class _Type:
    base: str  # int, str, bool, null, list
    nullable: bool = False
    element: str | None = None  # for lists; None for an empty list literal
    fact: str | None = None  # the fact it was read from, for choices and messages
    choices: tuple[str, ...] | None = None


_NAMES = {"int": "a number", "str": "a string", "bool": "true or false", "null": "null", "list": "a list"}


def _describe(t: _Type) -> str:
    return t.fact if t.fact else _NAMES[t.base]


def _typed(t: _Type) -> str:
    return f"{t.fact} ({_NAMES[t.base]})" if t.fact else _NAMES[t.base]


class _Checker:
    def __init__(self, schema: FactSchema, text: str) -> None:
        self.schema = schema
        self.text = text

    def error(self, message: str, position: int, suggestion: str | None = None) -> RuleError:
        return RuleError(message, position, suggestion, text=self.text)

    def check(self, node: Node) -> _Type:
        method = getattr(self, "check_" + type(node).__name__)
        return method(node)

    def check_Literal(self, node: Literal) -> _Type:
        value = node.value
        if value is None:
            return _Type("null", nullable=True)
        if isinstance(value, bool):
            return _Type("bool")
        return _Type("int" if isinstance(value, int) else "str")

    def check_FactRef(self, node: FactRef) -> _Type:
        if node.name in CONTEXT_FACTS:
            raise reject_context_fact(node.name, node.position, self.text)
        if node.name not in self.schema:
            suggestion = self.schema.suggest(node.name)
            raise self.error(f"unknown fact {node.name!r}", node.position, suggestion)
        fact = self.schema[node.name]
        if fact.type.is_list:
            return _Type("list", element=fact.type.element.value, fact=fact.name)
        return _Type(fact.type.value, fact.nullable, fact=fact.name, choices=fact.choices)

    def check_ListLiteral(self, node: ListLiteral) -> _Type:
        element: str | None = None
        nullable = False
        for item in node.items:
            t = self.check_Literal(item)
            if t.base == "null":
                nullable = True
            elif element is None:
                element = t.base
            elif t.base != element:
                raise self.error(f"a list mixes {_NAMES[element]} and {_NAMES[t.base]}", item.position)
        return _Type("list", nullable=nullable, element=element)

    def expect_bool(self, node: Node, t: _Type, context: str) -> None:
        if t.base != "bool" or t.nullable:
            raise self.error(f"{context} needs true or false, and {_describe(t)} is {_NAMES[t.base]}", node.position)

    def check_Not(self, node: Not) -> _Type:
        self.expect_bool(node.operand, self.check(node.operand), "'not'")
        return _Type("bool")

    def check_BoolOp(self, node: BoolOp) -> _Type:
        for operand in node.operands:
            self.expect_bool(operand, self.check(operand), f"'{node.op}'")
        return _Type("bool")

    def check_Compare(self, node: Compare) -> _Type:
        left, right = self.check(node.left), self.check(node.right)
        if node.op in ("in", "not in"):
            self.check_membership(node, left, right)
        elif "list" in (left.base, right.base):
            side = node.left if left.base == "list" else node.right
            example = f'"x" in {side_name(side)}'
            raise self.error(f"a list can only be on the right of 'in' (e.g. {example})", side.position)
        elif "null" in (left.base, right.base):
            self.check_null(node, left, right)
        else:
            if left.base != right.base:
                raise self.error(f"cannot compare {_typed(left)} with {_typed(right)}", node.position)
            if node.op not in ("==", "!=") and left.base == "bool":
                raise self.error("true and false have no order; use == or !=", node.position)
            self.check_choices(left, node.right)
            self.check_choices(right, node.left)
        return _Type("bool")

    def check_null(self, node: Compare, left: _Type, right: _Type) -> None:
        if node.op not in ("==", "!="):
            raise self.error("null has no order; use == null or != null", node.position)
        other, other_node = (right, node.right) if left.base == "null" else (left, node.left)
        if not other.nullable:
            raise self.error(f"{_describe(other)} is never null", other_node.position)

    def check_membership(self, node: Compare, left: _Type, right: _Type) -> None:
        if right.base != "list":
            raise self.error(
                f"'{node.op}' needs a list on its right ([...] or a list fact), and {_describe(right)} is "
                f"{_NAMES[right.base]}",
                node.right.position,
            )
        if left.base == "list":
            raise self.error("a list cannot be looked up in a list; test its items one by one", node.left.position)
        if left.base == "null":
            raise self.error("test for null with == null", node.left.position)
        if right.element is not None and right.element != left.base:
            raise self.error(
                f"{_describe(left)} is {_NAMES[left.base]} but the list holds {_NAMES[right.element]}s",
                node.position,
            )
        if isinstance(node.right, ListLiteral):
            if right.nullable and not left.nullable:
                raise self.error(f"{_describe(left)} is never null", node.left.position)
            for item in node.right.items:
                self.check_choices(left, item)

    def check_choices(self, fact_type: _Type, other: Node) -> None:
        if fact_type.choices is None or not isinstance(other, Literal) or not isinstance(other.value, str):
            return
        if other.value not in fact_type.choices:
            close = difflib.get_close_matches(other.value.lower(), fact_type.choices, n=1, cutoff=0.5)
            raise self.error(
                f"{other.value!r} is not a value of {fact_type.fact}; expected one of {', '.join(fact_type.choices)}",
                other.position,
                close[0] if close else None,
            )


def side_name(node: Node) -> str:
    """How to show an operand in a message."""
    return node.name if isinstance(node, FactRef) else "[...]"


@lru_cache(maxsize=4096)
def check_condition(text: str, schema: FactSchema) -> Node | None:
    """Parse and type-check a condition; None when it is empty (always true)."""
    # Cached: saving a rule and compiling it check the same text, and trees are immutable.
    tree = parse(text)
    if tree is None:
        return None
    result = _Checker(schema, text).check(tree)
    if result.base != "bool" or result.nullable:
        raise RuleError(
            f"a condition must be true or false, and this is {_NAMES[result.base]} (e.g. purchase.total_minor >= 1000)",
            tree.position,
            text=text,
        )
    return tree


# Code generation. Only called on trees that passed the checker.

_OPS: dict[str, ast.cmpop] = {
    "==": ast.Eq(),
    "!=": ast.NotEq(),
    "<": ast.Lt(),
    "<=": ast.LtE(),
    ">": ast.Gt(),
    ">=": ast.GtE(),
    "in": ast.In(),
    "not in": ast.NotIn(),
}


_LOCATION = {"lineno": 1, "col_offset": 0, "end_lineno": 1, "end_col_offset": 0}


def _at(node):
    # Every generated node gets the same location: faster than ast.fix_missing_locations,
    # which walks the tree again, and tracebacks only ever need the rule's name.
    node.__dict__.update(_LOCATION)
    return node


class _Emitter:
    def __init__(self, schema: FactSchema) -> None:
        self.schema = schema

    def emit(self, node: Node) -> ast.expr:
        if isinstance(node, Literal):
            return _at(ast.Constant(node.value))
        if isinstance(node, FactRef):
            return _at(ast.Subscript(_at(ast.Name("f", ast.Load())), _at(ast.Constant(node.name)), ast.Load()))
        if isinstance(node, ListLiteral):
            return _at(ast.Constant(frozenset(item.value for item in node.items)))
        if isinstance(node, Not):
            return _at(ast.UnaryOp(ast.Not(), self.emit(node.operand)))
        if isinstance(node, BoolOp):
            op = ast.And() if node.op == "and" else ast.Or()
            return _at(ast.BoolOp(op, [self.emit(o) for o in node.operands]))
        compare = _at(ast.Compare(self.emit(node.left), [_OPS[node.op]], [self.emit(node.right)]))
        if node.op in ("<", "<=", ">", ">="):
            # An order comparison with null is false rather than an error at earn time.
            guards = [
                _at(ast.Compare(self.emit(side), [ast.IsNot()], [_at(ast.Constant(None))]))
                for side in (node.left, node.right)
                if isinstance(side, FactRef) and self.schema[side.name].nullable
            ]
            if guards:
                return _at(ast.BoolOp(ast.And(), [*guards, compare]))
        return compare


def compile_tree(tree: Node, schema: FactSchema, name: str = "condition") -> Test:
    """Compile a checked syntax tree into ``f(facts) -> bool``."""
    body = _at(ast.Return(_Emitter(schema).emit(tree)))
    args = ast.arguments(posonlyargs=[], args=[_at(ast.arg("f"))], kwonlyargs=[], kw_defaults=[], defaults=[])
    function = _at(ast.FunctionDef(name="condition", args=args, body=[body], decorator_list=[]))
    code = compile(ast.Module([function], []), f"<rule {name}>", "exec")
    function_code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    # No builtins: the generated code needs none, so it can reach none.
    return types.FunctionType(function_code, {"__builtins__": {}}, "condition")


def facts_read(node: Node) -> frozenset[str]:
    """The names of the facts a tree reads."""
    if isinstance(node, FactRef):
        return frozenset({node.name})
    if isinstance(node, Not):
        return facts_read(node.operand)
    if isinstance(node, BoolOp):
        return frozenset().union(*(facts_read(o) for o in node.operands))
    if isinstance(node, Compare):
        return facts_read(node.left) | facts_read(node.right)
    return frozenset()


def conjuncts(node: Node) -> list[Node]:
    """The parts of a top-level ``and`` (the node itself otherwise)."""
    if isinstance(node, BoolOp) and node.op == "and":
        return [part for operand in node.operands for part in conjuncts(operand)]
    return [node]


@dataclass(frozen=True)
class CompiledCondition:
    """A condition ready to run, split for the index.

    ``test`` is the whole condition (None when always true). ``allowed`` maps an
    indexed fact (weekday, hour) to the values for which the condition can hold;
    ``residual`` is what remains to test once the index has settled those
    (None when nothing remains).
    """

    text: str
    test: Test | None
    residual: Test | None
    allowed: Mapping[str, frozenset[Any]]
    facts: frozenset[str]


def compile_condition(text: str, schema: FactSchema, name: str = "condition") -> CompiledCondition:
    """Check and compile a condition; raise RuleError with a position when it is invalid."""
    tree = check_condition(text, schema)
    if tree is None:
        return CompiledCondition(text, None, None, {}, frozenset())
    allowed: dict[str, frozenset[Any]] = {}
    rest: list[Node] = []
    for part in conjuncts(tree):
        read = facts_read(part)
        if len(read) == 1 and next(iter(read)) in INDEXED_DOMAINS:
            (fact,) = read
            test = compile_tree(part, schema, name)
            values = frozenset(v for v in INDEXED_DOMAINS[fact] if test({fact: v}))
            allowed[fact] = allowed.get(fact, values) & values
        else:
            rest.append(part)
    test = compile_tree(tree, schema, name)
    residual = None
    if rest and not allowed:
        residual = test  # nothing was left to the index: the residual is the whole condition
    elif rest:
        residual_tree = rest[0] if len(rest) == 1 else BoolOp("and", tuple(rest), rest[0].position)
        residual = compile_tree(residual_tree, schema, name)
    return CompiledCondition(text, test, residual, allowed, facts_read(tree))
