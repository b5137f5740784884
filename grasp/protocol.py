"""How an environment's actions are written: what the core may do with an action that no model wrote.

Search (amending a rejected action from the environment's answer, finding an action's shortest spelling:
``grasp.improve.amend``, ``grasp.improve.shorten``) works on actions without knowing their shape. What an
action looks like, which edits of it are near, and which may be sent again outside an episode is the
environment's knowledge, given through its :class:`Protocol`. The default is an opaque line: nothing is
replayable, nothing has a variant, so no search runs. ``environments/http_api.py`` is the protocol of a
one-line HTTP request (``GET path?key=value``) that the built-in FHIR and weather environments share.
"""

from __future__ import annotations

import re

from .trace import Action

LEADING_WORD = re.compile(r"[A-Za-z_][\w.-]*")


class Protocol:
    """An environment's actions as the core sees them. Subclass and override what your actions allow."""

    def parse(self, reply: str) -> Action:
        """``reply`` as a typed action, parsed once when it is sent and recorded in the episode's trace. The
        default knows no shape: the reply's first word is its name. Never raises: a reply that is no action is
        still recorded (the environment's step says it was invalid)."""
        word = LEADING_WORD.match(reply.strip())
        return Action(text=reply, name=word.group(0) if word else "")

    def replayable(self, action: str) -> bool:
        """Whether ``action`` is safe to send again outside an episode, in a fresh session of its own. Say yes
        only for actions that change nothing (reads), and only where each session is isolated."""
        return False

    def variants(self, action: str, answer: str) -> list[tuple[str, str | None]]:
        """Actions one edit away from ``action`` within what ``answer`` (the environment's rejection of it) names,
        each with the word of the answer it brought in (None for an edit that brings in nothing, like a removal);
        never ``action`` itself. The search that walks them is the core's (best-first, a budget of calls)."""
        return []

    def shorter(self, action: str) -> list[str]:
        """Shorter spellings of ``action`` that may mean the same to the environment, shortest first; which of
        them does is for the environment to answer, in a fresh session."""
        return []
