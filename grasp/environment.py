"""The environment interface: what a custom environment implements.

An environment lists its tasks per split, opens one *session* per episode,
and grades the session at the end. The agent loop owns the conversation; the
session turns each model reply into an observation. A failed or malformed
step is a recorded outcome, never an exception (GEPA's adapter contract).

A complete example that is not FHIR lives in ``environments/arithmetic``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from pydantic import BaseModel, Field, model_validator

from .protocol import Protocol
from .skills import Skill
from .tasks import Grade, Task
from .trace import Step, Turn, turns_from_messages


class ProposerBrief(BaseModel):
    """How the skill proposer is briefed about an environment: who it is, and one worked example (a SKILL.md
    draft, the form the proposer answers in: grasp/improve/drafts.py)."""

    persona: str = ("You coach an AI agent that works in an environment through a text protocol, one action "
                    "per reply. You write a skill: a short numbered checklist the agent will read before similar "
                    "tasks, so that it avoids the mistake it made.")
    # A shape no lookup family answers with (a guarded change), so that a draft copied from it is seen for a copy;
    # the run's own passing traces and accepted skills replace it as soon as there are any (grasp/improve/examples.py).
    example: str = ("---\naction: ADD\nname: change-only-what-exists\ndescription: Use when a task asks to change a "
                    "record that may not exist.\n---\n1. Send the request that finds the record for <ID>.\n"
                    "2. If nothing is found, answer that nothing was changed.\n3. Otherwise send the change for that "
                    "record, then answer with what its result confirms.\n")


class Hints:
    """An environment's hand-written help to the learner, each part at its generic default. Subclass and
    override what you can say; ``Environment.hints`` returns it. Each is written by hand for one environment, so
    a bench's ``grasp-bare`` arm (no hints) shows how much of a lift is the method's and how much the help's."""

    def check_skill(self, text: str) -> str | None:
        """Why a skill's text (description and steps) would fail here (a request the server rejects), or None.
        Say exactly what to change: the refine loop sends the message back to the writer."""
        return None

    def mend_skill(self, text: str) -> str:
        """``text`` with what ``check_skill`` would reject and the environment can correct by itself corrected
        (a misspelt parameter renamed, a character encoded). Done instead of asked: a writer call that only
        copies a correction costs as much as a draft, and a small writer asked to change one thing changes others."""
        return text

    def proposer_brief(self) -> ProposerBrief:
        """The writer's persona and one worked example of a skill for this environment."""
        return ProposerBrief()

    def variable_notes(self) -> dict[str, str]:
        """What each task variable's placeholder stands for, written into a learned skill's text and shown to
        the writer beside the placeholders it may use."""
        return {}


def task_values(task: Task) -> set[str]:
    """Concrete values of ``task`` that a skill must not contain (the generic rule).

    Every spelling of every declared variable, plus the solution's values, except those the
    instruction itself spells out (an answer format such as "not found" is not a leak)."""
    values = {spelling for spellings in task.spellings().values() for spelling in spellings if len(spelling) >= 2}
    for value in task.solution.values():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= 1.05:
            text = f"{value:g}"
            if len(text) >= 3:
                values.add(text)
        elif isinstance(value, str) and len(value) >= 6 and value not in task.instruction:
            values.add(value)
    return values


class Session(ABC):
    """One episode of one task."""

    @abstractmethod
    async def step(self, reply: str) -> Step:
        """Act on one model reply; must not raise on any text."""

    @abstractmethod
    async def grade(self, answer: list[Any] | None) -> Grade:
        """Grade the episode from its final answer and the state it left."""

    async def close(self) -> None:
        """Release what the episode held (its writes, connections)."""


class Environment(ABC):
    """A place where an agent works on tasks. Subclass and implement the abstract methods."""

    name: str = "environment"
    max_rounds: int = 8
    # What search may do with actions no model wrote (grasp/protocol.py): which may be resent, their variants and
    # shorter spellings. The default sends nothing, so no search runs; environments/http_api.py is one-line HTTP.
    protocol: Protocol = Protocol()

    @abstractmethod
    def tasks(self, split: str) -> list[Task]:
        """The tasks of ``split`` (dev, val, test, ...), in a fixed order."""

    @abstractmethod
    def instructions(self) -> str:
        """The stable part of the system prompt: protocol and API description.

        Identical for every task and turn, so that a local model's KV cache
        can reuse it."""

    def task_prompt(self, task: Task) -> str:
        """The first user message of an episode."""
        return f"{task.context}\n\nTask: {task.instruction}".strip()

    @abstractmethod
    async def open(self, task: Task) -> Session:
        """Start an episode of ``task``."""

    def action_grammar(self) -> str | None:
        """Optional GBNF grammar a local model can be constrained with."""
        return None

    def action_tokens(self, reply: str) -> int | None:
        """The token budget of an action that begins like ``reply``, where that kind needs more than the
        executor's ``max_tokens`` (a write's JSON body next to a one-line read); None: the executor's own.

        Why a hook: one short limit for every reply keeps a small model from running on in a read, and
        cuts every write in half; one long limit lets every read run on. A reply cut at the limit that
        this budget would have let finish is generated again with it (``grasp.agent.loop``)."""
        return None

    def last_round_notice(self) -> str:
        """The line the executor reads before its last allowed action (the run config's default): it should name
        this environment's own way to answer. A small model that has its value in front of it otherwise often
        repeats its request instead of answering."""
        return "This is your last action: give your final answer now."

    def hints(self) -> Hints | None:
        """Optional: the environment's hand-written help to the learner (a skill linter and mender, the
        proposer's brief, what each placeholder stands for: :class:`Hints`). None: the method on its own, which
        is also how the method ``grasp-bare`` runs every environment. The executor never reads any of it."""
        return None

    def common_words(self) -> frozenset[str]:
        """Optional: words in nearly every task here, which skill selection ignores when it matches a
        skill's description against a task's instruction."""
        return frozenset()

    def mask_identifiers(self, text: str) -> str:
        """Optional: ``text`` with identifiers that no task declares (other records' ids in a result,
        say) replaced by placeholders. Traces are masked with it before the proposer sees them, and a
        skill the mask would change is refused as leaking an identifier."""
        return text

    def forbidden_values(self, task: Task) -> set[str]:
        """Optional: values of ``task`` that a skill learned from it must not contain."""
        return task_values(task)

    # -- yardsticks: what a result is measured against -------------------------------------
    def stratum(self, task: Task) -> str:
        """Optional: the stratum ``task`` belongs to, e.g. "none" when its expected answer is the
        no-result answer and "value" otherwise. Results are shown per stratum beside the overall
        figure, so that a lift that a constant answer could earn is seen for what it is."""
        return "all"

    def trivial_answer(self, task: Task) -> list[Any] | None:
        """Optional: the answer a do-nothing policy gives (for FHIR: the task's no-result answer). It is
        graded without a model on the same items as every library: a learned library must beat it.
        None: the trivial policy answers nothing."""
        return None

    def reference_library(self) -> list[Skill]:
        """Optional: a small hand-written library (written and checked on dev/val, never on test) that
        shows how far skills can lift the executor here; results report what share of its lift the
        learned library recovered. Empty: no reference."""
        return []

    def manifest_hash(self) -> str | None:
        """Content hash of the task manifest, recorded by every run."""
        return None

    # -- the sealed test: a world nobody developed on -----------------------------------------
    def world(self) -> str | None:
        """Optional: a name for the world this environment's tasks come from (e.g. "fhir world seed 42,
        100 patients"), recorded with each sealed test so that a result says where it was measured."""
        return None

    def held_out(self, seed: int) -> "Environment":
        """Optional: the same environment (families, templates, graders) on a world generated from ``seed``
        that nobody developed on: new records, names, ids and values. Its ``tasks("test")`` are the sealed
        test of a run whose held-out seed is ``seed``, so no code, setting or skill can have been tuned on
        them. Raise ``ConfigError`` when ``seed`` cannot be built, or is the world dev and val come from.

        Default: ``self``, and the sealed test is this environment's own test split (then keep that split
        out of every development look, by hand)."""
        return self

    async def aclose(self) -> None:
        """Release shared resources (servers, clients)."""


class Episode(BaseModel):
    """A finished episode as stored: the task, the turns, the outcome."""

    task_id: str
    family: str
    passed: bool
    reason: str = ""
    tags: list[str] = Field(default_factory=list)
    invalid_actions: int = 0
    refused_actions: int = 0
    rounds: int = 0
    answer: list[Any] | None = None
    messages: list[dict[str, str]] = Field(default_factory=list)  # the conversation as the model read it, for people
    skills: list[str] = Field(default_factory=list)
    followed: str | None = None  # the injected skill whose steps the actions matched best (grasp.agent.selection)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None  # the episode could not run (model outage, environment failure)
    opening: int = 0  # how many first replies were sent in the model's place (an amended action), not written by it
    trace: list[Turn] = Field(default_factory=list)  # each action, the environment's answer, who sent it: what learning reads

    @model_validator(mode="before")
    @classmethod
    def _turns_of_an_older_record(cls, data: Any) -> Any:
        """An episode stored before turns were recorded gets them from its conversation, once, here."""
        if isinstance(data, dict) and "trace" not in data and data.get("messages"):
            turns = turns_from_messages(data["messages"], data.get("step_ok") or [], data.get("answer") is not None)
            for turn in turns[: data.get("opening", 0)]:
                turn.by = "search"
            data = {**{key: value for key, value in data.items() if key != "step_ok"}, "trace": turns}
        return data

    @property
    def invalid(self) -> bool:
        return self.invalid_actions > 0

    @property
    def step_ok(self) -> list[bool]:
        """Per action: a valid action the environment accepted (an answer counts)."""
        return [turn.step.accepted for turn in self.trace]

    @property
    def actions(self) -> list[str]:
        """Each action's text as sent, the model's and any sent in its place."""
        return [turn.action.text for turn in self.trace]
