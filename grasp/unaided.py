"""An environment with its hand-written help to the learner switched off: the method on its own.

An environment may help the loop beyond running tasks: ``check_skill`` and ``mend_skill`` lint a draft,
``proposer_brief`` gives the proposer a persona and a worked example, ``variable_notes`` say what each
placeholder stands for. Each is written by hand for one environment, and a user's own environment will
have none of it. ``Unaided(environment)`` is the same environment without those four hooks (each gives
the core's generic default), so a run on it (the bench method ``grasp-bare``, config
``environment_help: false``) shows how much of a lift is the method's and how much the help's.

Everything else is the environment's own: its tasks, sessions, graders, instructions, strata, trivial
answer, reference library and held-out world. What the executor reads is unchanged.
"""

from __future__ import annotations

from typing import Any

from .environment import Environment, ProposerBrief, Session
from .protocol import Protocol
from .skills import Skill
from .tasks import Task

HELP_HOOKS = ("check_skill", "mend_skill", "proposer_brief", "variable_notes")


class Unaided(Environment):
    """``inner`` with ``HELP_HOOKS`` at their generic defaults; every other hook is ``inner``'s."""

    def __init__(self, inner: Environment) -> None:
        self.inner = inner
        self.name = inner.name

    @property  # type: ignore[override]
    def max_rounds(self) -> int:
        return self.inner.max_rounds

    @max_rounds.setter
    def max_rounds(self, value: int) -> None:
        self.inner.max_rounds = value

    # -- the help, off ------------------------------------------------------------------
    def check_skill(self, text: str) -> str | None:
        return None

    def mend_skill(self, text: str) -> str:
        return text

    def proposer_brief(self) -> ProposerBrief:
        return ProposerBrief()

    def variable_notes(self) -> dict[str, str]:
        return {}

    # -- the environment itself, unchanged ------------------------------------------------
    def tasks(self, split: str) -> list[Task]:
        return self.inner.tasks(split)

    def instructions(self) -> str:
        return self.inner.instructions()

    def task_prompt(self, task: Task) -> str:
        return self.inner.task_prompt(task)

    async def open(self, task: Task) -> Session:
        return await self.inner.open(task)

    def action_grammar(self) -> str | None:
        return self.inner.action_grammar()

    @property
    def protocol(self) -> Protocol:
        return self.inner.protocol

    def last_round_notice(self) -> str:
        return self.inner.last_round_notice()

    def action_tokens(self, reply: str) -> int | None:
        return self.inner.action_tokens(reply)

    def protocol_notes(self) -> str:
        return self.inner.protocol_notes()

    def common_words(self) -> frozenset[str]:
        return self.inner.common_words()

    def mask_identifiers(self, text: str) -> str:
        return self.inner.mask_identifiers(text)

    def forbidden_values(self, task: Task) -> set[str]:
        return self.inner.forbidden_values(task)

    def stratum(self, task: Task) -> str:
        return self.inner.stratum(task)

    def trivial_answer(self, task: Task) -> list[Any] | None:
        return self.inner.trivial_answer(task)

    def reference_library(self) -> list[Skill]:
        return self.inner.reference_library()

    def manifest_hash(self) -> str | None:
        return self.inner.manifest_hash()

    def held_out(self, seed: int) -> Environment:
        return self.inner.held_out(seed)

    def world(self) -> str | None:
        return self.inner.world()

    async def aclose(self) -> None:
        await self.inner.aclose()
