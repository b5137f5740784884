"""The one door through which search reaches an environment: replayable actions only, isolated, recorded.

Search (amending a rejected action from the environment's answer, finding an action's shortest spelling)
sends many variants of an action that no model wrote. Outside an episode, nothing else would stop a variant
of a write, or a ``DELETE``, from being sent hundreds of times, or count what it cost. So every search call
goes through :class:`SearchCalls`: an action the environment does not call safe to replay
(``Environment.protocol.replayable``; by default none is) is refused without being sent; one that is goes to a
fresh session of its task, closed after that one step; and each call is stored with its phase, task, action
and outcome (``RunStore.search_calls``) and counted in the run's cost.
"""

from __future__ import annotations

from ..environment import Environment, Step
from ..store.runs import RunStore
from ..tasks import Task


def accepted(step: Step) -> bool:
    """The environment took the action and answered it (not refused, invalid, failed or the episode's end)."""
    return not (step.invalid or step.refused or step.failed or step.done)


class SearchCalls:
    """Environment calls on behalf of a search, for one run and phase (``amend``, ``shorten``)."""

    def __init__(self, environment: Environment, *, runs: RunStore | None = None, run_id: str | None = None,
                 phase: str = "search") -> None:
        self.environment, self.runs, self.run_id, self.phase = environment, runs, run_id, phase
        self.sent = 0
        self.withheld = 0  # actions the environment does not call replayable: never sent

    async def attempt(self, task: Task, action: str) -> Step | None:
        """``action`` as the one step of a fresh session of ``task``; None, unsent, when it is not replayable."""
        if not self.environment.protocol.replayable(action):
            self.withheld += 1
            return None
        session = await self.environment.open(task)
        try:
            step = await session.step(action)
        finally:
            await session.close()
        self.sent += 1
        if self.runs is not None and self.run_id is not None:
            outcome = "accepted" if accepted(step) else ("refused" if step.refused else
                                                         "invalid" if step.invalid else "failed")
            self.runs.add_search_call(self.run_id, phase=self.phase, task_id=task.id, action=action,
                                      outcome=outcome, observation=step.observation)
        return step
