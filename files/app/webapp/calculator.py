"""A bounded arithmetic evaluator that walks the Python AST.

Only numeric literals (int and float), the binary operators ``+ - * / // % **``,
unary ``+``/``-`` and parentheses are accepted. Everything else (names, calls,
attributes, subscripts, lambdas, comprehensions, strings, ...) is refused before
anything is evaluated. Sizes are checked *before* an operation that could grow
a number is carried out, so inputs such as ``9**9**9`` are refused at once.

This module never calls ``eval``/``exec`` and never compiles code.
"""

from __future__ import annotations

import ast
import math
import operator
import warnings
from collections.abc import Callable
from dataclasses import dataclass

Number = int | float

MAX_EXPRESSION_LENGTH = 200
MAX_NODES = 128
MAX_DEPTH = 64
MAX_EXPONENT = 1000
MAX_INT_BITS = 4096


class CalculationError(ValueError):
    """The expression is not allowed or cannot be evaluated within the limits."""


@dataclass(frozen=True)
class Limits:
    """Bounds applied to one evaluation."""

    max_length: int = MAX_EXPRESSION_LENGTH
    max_nodes: int = MAX_NODES
    max_depth: int = MAX_DEPTH
    max_exponent: int = MAX_EXPONENT
    max_int_bits: int = MAX_INT_BITS


DEFAULT_LIMITS = Limits()

# The parser warns on stderr about odd input (invalid escape sequences, `1(2)`),
# quoting it: user input must not reach the logs. Set once at import for the
# process (warnings.catch_warnings() is not thread-safe); ast.parse's warnings
# name no module to filter on, and the app compiles nothing else at run time.
warnings.filterwarnings("ignore", category=SyntaxWarning)

_FORBIDDEN_MESSAGES: dict[type[ast.AST], str] = {
    ast.Name: "names are not allowed",
    ast.Call: "function calls are not allowed",
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "subscripts are not allowed",
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "boolean operators are not allowed",
    ast.IfExp: "conditional expressions are not allowed",
    ast.NamedExpr: "assignments are not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.List: "containers are not allowed",
    ast.Tuple: "containers are not allowed",
    ast.Set: "containers are not allowed",
    ast.Dict: "containers are not allowed",
    ast.Starred: "starred expressions are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.UAdd,
    ast.USub,
)

_SIMPLE_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


def evaluate(expression: str, limits: Limits = DEFAULT_LIMITS) -> Number:
    """Evaluate an arithmetic expression and return an int or a finite float."""
    tree = _parse(expression, limits)
    _check_shape(tree, limits)
    return _Evaluator(limits).visit(tree.body)


def _parse(expression: str, limits: Limits) -> ast.Expression:
    text = expression.strip()
    if not text:
        raise CalculationError("expression is empty")
    if len(text) > limits.max_length:
        raise CalculationError(f"expression is longer than {limits.max_length} characters")
    if not text.isascii() or not text.isprintable():
        raise CalculationError("expression may only contain printable ASCII characters")
    if "\\" in text:  # escape sequences exist only in strings, which are refused anyway
        raise CalculationError("strings are not allowed")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CalculationError("expression is not valid arithmetic") from None
    if not isinstance(tree, ast.Expression):  # pragma: no cover - mode="eval" guarantees it
        raise CalculationError("expression is not valid arithmetic")
    return tree


def _check_shape(tree: ast.Expression, limits: Limits) -> None:
    """Refuse oversized, overly deep or non-arithmetic trees before evaluating."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        _check_node_type(node)
        if isinstance(node, ast.expr):
            count += 1
        if count > limits.max_nodes:
            raise CalculationError(f"expression has more than {limits.max_nodes} elements")
        if depth > limits.max_depth:
            raise CalculationError(f"expression is nested deeper than {limits.max_depth} levels")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_node_type(node: ast.AST) -> None:
    if isinstance(node, _ALLOWED_NODES):
        if isinstance(node, ast.Constant):
            _check_constant(node.value)
        return
    message = _FORBIDDEN_MESSAGES.get(type(node))
    if message is None:
        message = f"operation '{type(node).__name__}' is not allowed"
    raise CalculationError(message)


def _check_constant(value: object) -> None:
    # bool is a subclass of int: compare exact types to refuse True/False.
    if type(value) is int:
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise CalculationError("number is out of range")
        return
    if type(value) is complex:
        raise CalculationError("complex numbers are not allowed")
    if isinstance(value, (str, bytes)):
        raise CalculationError("strings are not allowed")
    raise CalculationError("only numbers are allowed")


class _Evaluator:
    """Evaluates a tree already vetted by ``_check_shape``."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits

    def visit(self, node: ast.expr) -> Number:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.BinOp):
            return self._binary(node)
        raise CalculationError("expression is not valid arithmetic")  # pragma: no cover

    def _unary(self, node: ast.UnaryOp) -> Number:
        value = self.visit(node.operand)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        raise CalculationError("operator is not allowed")  # pragma: no cover

    def _binary(self, node: ast.BinOp) -> Number:
        left = self.visit(node.left)
        right = self.visit(node.right)
        try:
            if isinstance(node.op, ast.Pow):
                result = self._power(left, right)
            elif isinstance(node.op, ast.Mult):
                result = self._multiply(left, right)
            else:
                result = _SIMPLE_BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise CalculationError("division by zero") from None
        except OverflowError:
            raise CalculationError("result is out of range") from None
        return self._checked(result)

    def _multiply(self, left: Number, right: Number) -> Number:
        if _min_product_bits(left, right) > self._limits.max_int_bits:
            raise CalculationError("result is too large")
        return left * right

    def _power(self, base: Number, exponent: Number) -> Number:
        if abs(exponent) > self._limits.max_exponent:
            raise CalculationError(f"exponent magnitude is above {self._limits.max_exponent}")
        if _min_power_bits(base, exponent) > self._limits.max_int_bits:
            raise CalculationError("result is too large")
        result = base**exponent
        if isinstance(result, complex):
            raise CalculationError("result is not a real number")
        return result

    def _checked(self, value: Number) -> Number:
        if isinstance(value, float) and not math.isfinite(value):
            raise CalculationError("result is out of range")
        if isinstance(value, int) and _bits(value) > self._limits.max_int_bits:
            raise CalculationError("result is too large")
        return value


def _min_product_bits(left: Number, right: Number) -> int:
    """Lower bound of the bit length of an int product: bits(a) + bits(b) - 1."""
    if isinstance(left, int) and isinstance(right, int) and left and right:
        return _bits(left) + _bits(right) - 1
    return 0


def _min_power_bits(base: Number, exponent: Number) -> int:
    """Lower bound of the bit length of an int power: (bits(b) - 1) * e + 1 for |b| >= 2."""
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) >= 2:
        return (_bits(base) - 1) * exponent + 1
    return 0


def _bits(value: int) -> int:
    return abs(value).bit_length()
