"""celpy's interpreter with `||` and `&&` that skip their right operand once the left one decides.

celpy evaluates both operands before combining them, so `!has(p.pool) || self.children.all(...)` walks the
whole list for every child even when the left side is already true: a rule nested over a list of n items costs
n^2 body evaluations at a millisecond or so each, and a supervisor of a few hundred children held the API
server's event loop for minutes. cel-go stops at the deciding operand, as CEL's semantics allow:
`true || x` is true and `false && x` is false whatever `x` is, an error included. The result is the same
either way; only the work differs.
"""

from __future__ import annotations

from typing import Any, cast

import celpy
import lark
from celpy import celtypes
from celpy.evaluation import CELEvalError, Evaluator


class ShortCircuitEvaluator(Evaluator):
    """An Evaluator whose logical operators evaluate the right operand only when the left does not decide."""

    def sub_evaluator(self, ast: lark.Tree[lark.Token]) -> Evaluator:
        # Macro bodies (`all`, `exists`, ...) get the same evaluator, so nested rules short-circuit too.
        return ShortCircuitEvaluator(ast, activation=self.activation)

    def conditionalor(self, tree: lark.Tree[lark.Token]) -> Any:
        return self._logical(tree, "_||_", decided_by=True)

    def conditionaland(self, tree: lark.Tree[lark.Token]) -> Any:
        return self._logical(tree, "_&&_", decided_by=False)

    def _logical(self, tree: lark.Tree[lark.Token], operator: str, decided_by: bool) -> Any:
        if len(tree.children) != 2:
            return super().conditionalor(tree) if operator == "_||_" else super().conditionaland(tree)
        left = self.visit(cast("lark.Tree[lark.Token]", tree.children[0]))
        if isinstance(left, celtypes.BoolType) and bool(left) is decided_by:
            return left
        right = self.visit(cast("lark.Tree[lark.Token]", tree.children[1]))
        combine = self.activation.resolve_function(operator)
        try:
            return combine(left, right)
        except TypeError as error:
            # celpy's own wording for operands of the wrong type, which cel_rules turns into cel-go's.
            text = f"found no matching overload for {operator} applied to '({type(left)}, {type(right)})'"
            value = CELEvalError(text, error.__class__, error.args, tree=tree)
            value.__cause__ = error
            return value


class ShortCircuitRunner(celpy.InterpretedRunner):
    """The interpreted runner, with ShortCircuitEvaluator."""

    def evaluate(self, context: Any) -> Any:
        return ShortCircuitEvaluator(ast=self.ast, activation=self.new_activation()).evaluate(context)
