"""The agent loop: one episode of one task, recorded whole.

The system prompt is the environment's stable instructions followed by the
selected skills, built once per episode (never re-ranked per turn), so a
local model reuses its KV cache across turns and across episodes that share
skills. A model failure ends the episode as *errored*, which the gate treats
identically in every run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..environment import Environment, Episode, Session
from ..errors import GraspError, ModelError, ModelUnavailable
from ..models.base import Model
from ..skills import Skill
from ..tasks import Task
from ..trace import Turn
from .selection import followed, skills_block


async def run_episode(
    environment: Environment,
    task: Task,
    model: Model,
    skills: list[Skill],
    *,
    max_rounds: int | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    notice: str | None = None,
    opening: Sequence[str] = (),
) -> Episode:
    """Run one episode; ``max_tokens`` / ``temperature`` None leave them to the model's own config
    (exploration passes a temperature and a seed).

    ``notice``: a line added to the message the model reads before its last allowed action (e.g.
    "last action: FINISH with your answer"). A small model that has the value in front of it often
    repeats its request instead of answering; told that this is its last turn, it answers.

    ``opening``: replies sent in the model's place for its first turns (an amended action from
    ``grasp.improve.amend``); the model takes over from the environment's answer to the last of
    them. They count as rounds and are recorded as ``Episode.opening``, so no reader mistakes them
    for the model's own.

    Nothing a session, a grader or a model reply does can raise out of here except an endpoint
    outage (``ModelUnavailable``, which pauses the run): every other exception becomes an errored
    episode that names its type and message, and the run goes on."""
    rounds_allowed = max_rounds or environment.max_rounds
    grammar = environment.action_grammar() if model.supports_grammar else None
    messages: list[dict[str, str]] = [
        {"role": "system", "content": environment.instructions() + skills_block(skills)},
        {"role": "user", "content": environment.task_prompt(task)},
    ]
    record = Episode(task_id=task.id, family=task.family, passed=False, skills=[s.name for s in skills],
                     opening=min(len(opening), rounds_allowed))
    started = time.perf_counter()
    answer: list[Any] | None = None
    session: Session | None = None
    try:
        session = await environment.open(task)
        for round_number in range(rounds_allowed):
            if notice and round_number == rounds_allowed - 1:
                messages[-1] = {**messages[-1], "content": f"{messages[-1]['content']}\n\n{notice}"}
                if record.trace:
                    record.trace[-1].note = notice
            if round_number < len(opening):
                reply = opening[round_number]
            else:
                reply = await _reply(environment, model, messages, record, grammar=grammar, max_tokens=max_tokens,
                                     temperature=temperature, seed=seed)
            record.rounds += 1
            step = await session.step(reply)
            turn = Turn(action=environment.protocol.parse(reply), step=step,
                        by="search" if round_number < len(opening) else "model")
            record.trace.append(turn)
            messages.append({"role": "assistant", "content": reply})
            record.invalid_actions += int(step.invalid)
            record.refused_actions += int(step.refused)
            if step.done:
                answer = step.answer
                break
            messages.append({"role": "user", "content": step.observation})
        else:
            record.reason = f"no FINISH within {rounds_allowed} rounds"
        grade = await session.grade(answer)
        record.passed = grade.passed
        record.reason = grade.reason if grade.passed or not record.reason else f"{record.reason}; {grade.reason}"
        record.tags = grade.tags
    except ModelUnavailable:
        raise  # an outage: the caller pauses the run; this episode is not recorded
    except ModelError as error:
        record.passed, record.error, record.reason = False, str(error), "errored: model failed"
    except Exception as error:  # noqa: BLE001 - a session or grader bug must not end the whole run
        where = "environment failed" if isinstance(error, GraspError) else f"{type(error).__name__} raised"
        record.passed, record.error = False, f"{type(error).__name__}: {str(error)[:300]}"
        record.reason = f"errored: {where}"
    finally:
        try:
            if session is not None:
                await session.close()
        except Exception as error:  # noqa: BLE001 - the episode is recorded either way
            record.error = record.error or f"{type(error).__name__} on close: {str(error)[:200]}"
        record.answer = answer
        record.messages = messages
        record.followed = followed(skills, record.actions)
        record.latency_s = time.perf_counter() - started
    return record


async def _reply(environment: Environment, model: Model, messages: list[dict[str, str]], record: Episode, *,
                 grammar: str | None, max_tokens: int | None, temperature: float | None, seed: int | None) -> str:
    """The model's next action. A reply cut at the token limit, whose beginning the environment gives a
    larger budget (``Environment.action_tokens``: a write's body), is generated again with that budget:
    the same prompt, temperature and seed, so the same beginning, finished this time."""
    result = await model.chat(messages, grammar=grammar, max_tokens=max_tokens, temperature=temperature, seed=seed)
    record.prompt_tokens += result.prompt_tokens
    record.completion_tokens += result.completion_tokens
    budget = environment.action_tokens(result.text) if result.finish_reason == "length" else None
    if budget is not None and budget > result.completion_tokens:
        result = await model.chat(messages, grammar=grammar, max_tokens=budget, temperature=temperature, seed=seed)
        record.prompt_tokens += result.prompt_tokens
        record.completion_tokens += result.completion_tokens
    return result.text
