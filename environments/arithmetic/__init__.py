"""A complete, tiny non-FHIR environment: the documented example of the environment API.

Tasks are small arithmetic questions; the agent replies ``ANSWER: <number>``
(or ``CALC: <expression>`` to get a calculation done). It exists to show how
little a custom environment needs, and to test grasp without FHIR.
"""

from __future__ import annotations

import ast
import operator
import random
import re
from typing import Any

from grasp.environment import Environment, Session, Step
from grasp.tasks import Grade, Task

OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


def safe_eval(expression: str) -> int | None:
    """Integers with + - * only; None for anything else."""
    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            return OPERATORS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and abs(node.value) < 10**6:
            return node.value
        raise ValueError("unsupported")

    try:
        return walk(ast.parse(expression, mode="eval").body)
    except (SyntaxError, ValueError, RecursionError):
        return None


class ArithmeticEnvironment(Environment):
    name = "arithmetic"
    max_rounds = 3

    def __init__(self, seed: int = 0, per_split: int = 12) -> None:
        rng = random.Random(seed)
        families = {"sum": "{a} + {b}", "product": "{a} * {b}", "mixed": "{a} + {b} * {c}"}
        self._splits: dict[str, list[Task]] = {}
        for split in ("dev", "val", "test"):
            tasks = []
            for index in range(per_split):
                family = sorted(families)[index % 3]
                values = {name: rng.randint(2, 60) for name in "abc"}
                expression = families[family].format(**values)
                used = {name.upper(): str(value) for name, value in values.items() if f"{{{name}}}" in families[family]}
                tasks.append(Task(id=f"{split}-{family}-{index:02d}", family=family,
                                  instruction=f"What is {expression}?", solution={"expected": safe_eval(expression)},
                                  variables=used))  # the operands: induction writes <A>, <B>, <C> for them
            self._splits[split] = tasks

    def tasks(self, split: str) -> list[Task]:
        return list(self._splits.get(split, []))

    def instructions(self) -> str:
        return ("Answer arithmetic questions. Reply with exactly one line: 'CALC: <expression>' to have it "
                "computed, or 'ANSWER: <integer>' to finish.")

    def action_grammar(self) -> str:
        return r'root ::= ("CALC: " [0-9 +*-]{1,40}) | ("ANSWER: " "-"? [0-9]{1,9})'

    def last_round_notice(self) -> str:
        return "This is your last action: reply 'ANSWER: <integer>' now."

    async def open(self, task: Task) -> Session:
        return ArithmeticSession(task)


class ArithmeticSession(Session):
    def __init__(self, task: Task) -> None:
        self.task = task

    async def step(self, reply: str) -> Step:
        text = str(reply).strip()
        if match := re.fullmatch(r"ANSWER:\s*(-?\d+)", text):
            return Step(observation="", done=True, action=text, answer=[int(match.group(1))])
        if match := re.fullmatch(r"CALC:\s*(.+)", text):
            value = safe_eval(match.group(1))
            return Step(observation="cannot compute that" if value is None else str(value), action=text)
        return Step(observation="Reply 'CALC: <expression>' or 'ANSWER: <integer>'.", invalid=True)

    async def grade(self, answer: list[Any] | None) -> Grade:
        if answer == [self.task.solution["expected"]]:
            return Grade(passed=True, reason="correct")
        return Grade(passed=False, reason=f"answered {answer}, expected {self.task.solution['expected']}",
                     tags=["wrong-value"])
