"""The shortest spelling of an accepted action that the environment answers the same way.

An induced skill copies the actions of a passing trace, and an executor writes its requests in full
(``GET http://host/v1/stations/EG6637?units=imperial``). A small executor copying a long line runs on
past its end: on the weather network's dev world, given an elevation skill whose step is the full URL,
the 1.5B model sent ``...?units=imperial&sort=ele&per_page=100&page=1&meta=...`` for 12 of 12 items and got
a 400; given the same step written relative to the API's base (``GET stations/<STATION>?units=imperial``), it
sent the request as written for 12 of 12 (twice with the answer run onto the same line).

No model and no knowledge of the environment's routes: the protocol offers shorter spellings
(``Protocol.shorter``: for an HTTP request, its URL's scheme, host and base path dropped one by one), each is
sent as the first step of a fresh session, and the shortest one answered exactly as the original is kept. An
environment that resolves only full URLs answers a shortened one differently, and its actions stay as they
were. Only an action the protocol calls replayable is resent (``grasp.agent.search``): a write never is.
"""

from __future__ import annotations

from ..agent.search import SearchCalls, accepted
from ..tasks import Task

async def shortest(calls: SearchCalls, task: Task, action: str) -> str:
    """The shortest spelling of ``action`` that a fresh session of ``task`` answers exactly as it answers
    ``action`` itself; ``action`` when no shorter one does (or it is not replayable, or not accepted in a
    fresh session)."""
    spellings = calls.environment.protocol.shorter(action)
    if not spellings:
        return action
    original = await calls.attempt(task, action.strip())
    if original is None or not accepted(original):
        return action
    for spelling in spellings:
        step = await calls.attempt(task, spelling)
        if step is not None and accepted(step) and step.observation == original.observation:
            return spelling
    return action
