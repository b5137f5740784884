"""An episode as data: each action as the environment's protocol reads it, what the environment answered, and
who sent it.

Every reader of an episode (the writer's views of a trace, induction, the trial, the search that amends a
rejected action, skill adherence) reads these records. None of them re-reads the conversation's text to find
out which reply was an action, which answer belonged to it, or whether it was accepted: that was decided once,
when the step ran. The conversation (``Episode.messages``) stays stored as what the model read, for people.

The shapes are a protocol's, not HTTP's: an :class:`Action` has a name (a verb, a tool's name), a target,
arguments and a body; a native tool call (an OpenAI-style ``tools`` reply) is an Action whose ``text`` is its
rendering and whose ``name`` and ``arguments`` are the call's own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Action(BaseModel):
    """One action as the environment's protocol parsed it (``grasp.Protocol.parse``)."""

    text: str  # exactly as sent
    name: str = ""  # the verb or tool name ("GET", "FINISH", "add")
    target: str = ""  # what it acts on (a path, a record), without its arguments
    arguments: dict[str, Any] = Field(default_factory=dict)  # a query's pairs, a tool call's arguments
    body: Any = None  # a write's payload


class Step(BaseModel):
    """What the environment says back to one model reply."""

    observation: str
    done: bool = False
    invalid: bool = False  # the reply was not a valid action
    refused: bool = False  # the action tried to reach something outside the environment
    failed: bool = False  # a valid action the environment answered with an error (e.g. an HTTP 4xx)
    action: str = ""  # the environment's label of the action, for the trajectory (e.g. "GET Patient?name=x")
    answer: list[Any] | None = None  # set when the agent finished

    @property
    def accepted(self) -> bool:
        """A valid action the environment took and answered without an error (an answer counts)."""
        return not (self.invalid or self.refused or self.failed)


class Turn(BaseModel):
    """One round of an episode: the action, the environment's answer, and who wrote the action."""

    action: Action
    step: Step
    by: Literal["model", "search"] = "model"  # "search": an amended action sent in the model's place
    note: str = ""  # what the loop added after the environment's answer for the model to read (the last-round notice)

    @property
    def read(self) -> str:
        """What the model read after this action: the environment's answer, and the loop's note if any."""
        return f"{self.step.observation}\n\n{self.note}" if self.note else self.step.observation


def turns_from_messages(messages: list[dict[str, str]], step_ok: list[bool], answered: bool) -> list[Turn]:
    """The turns of an episode stored before turns were recorded, rebuilt once from its conversation and
    per-reply acceptance (a database written by an earlier grasp). Nothing else reads the conversation."""
    replies = [index for index, message in enumerate(messages) if index >= 2 and message["role"] == "assistant"]
    turns = []
    for number, index in enumerate(replies):
        ok = step_ok[number] if number < len(step_ok) else True
        observation = messages[index + 1]["content"] if index + 1 < len(messages) else ""
        done = answered and number == len(replies) - 1
        text = messages[index]["content"]
        turns.append(Turn(action=Action(text=text, name=text.strip().split(" ", 1)[0].split("(", 1)[0]),
                          step=Step(observation=observation, done=done, failed=not ok)))
    return turns
