"""The agent loop: one episode of one task, recorded whole.

The system prompt is the environment's stable instructions followed by the
selected skills, built once per episode (never re-ranked per turn), so a
local model reuses its KV cache across turns and across episodes that share
skills. A model failure ends the episode as *errored*, which the gate treats
identically in every run.
"""

from __future__ import annotations

import time
from typing import Any

from ..environment import Environment, Episode
from ..errors import GraspError, ModelError
from ..models.base import Model
from ..models.openai import ModelUnavailable
from ..skills import Skill
from ..tasks import Task
from .selection import skills_block


async def run_episode(
    environment: Environment,
    task: Task,
    model: Model,
    skills: list[Skill],
    *,
    max_rounds: int | None = None,
    max_tokens: int = 384,
) -> Episode:
    rounds_allowed = max_rounds or environment.max_rounds
    grammar = environment.action_grammar() if model.supports_grammar else None
    messages: list[dict[str, str]] = [
        {"role": "system", "content": environment.instructions() + skills_block(skills)},
        {"role": "user", "content": environment.task_prompt(task)},
    ]
    record = Episode(task_id=task.id, family=task.family, passed=False, skills=[s.name for s in skills])
    started = time.perf_counter()
    answer: list[Any] | None = None
    session = await environment.open(task)
    try:
        for _ in range(rounds_allowed):
            result = await model.chat(messages, grammar=grammar, max_tokens=max_tokens)
            record.rounds += 1
            record.prompt_tokens += result.prompt_tokens
            record.completion_tokens += result.completion_tokens
            step = await session.step(result.text)
            messages.append({"role": "assistant", "content": result.text})
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
    except GraspError as error:
        record.passed, record.error, record.reason = False, str(error), "errored: environment failed"
    finally:
        await session.close()
        record.answer = answer
        record.messages = messages
        record.latency_s = time.perf_counter() - started
    return record
