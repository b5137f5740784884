"""How each skill is used: how often it was shown, how often the agent's actions followed it, and how episodes
ended when they did and when they did not.

A weak executor loads and follows a skill far less often than a strong one; a skill that is shown and never
followed is dead weight in every prompt, and one whose followed episodes fail is worse. The gate judges a skill
once, on its probe; these counts say what it did afterwards, on every episode it was shown in. "Followed" is
``Episode.followed``: the shown skill whose steps the episode's actions matched best (``grasp.agent.selection``).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from .environment import Episode
from .store.runs import RunStore


class SkillUse(BaseModel):
    skill: str
    shown: int = 0
    followed: int = 0
    passed_followed: int = 0  # episodes that followed it and passed
    passed_unfollowed: int = 0  # episodes that showed it, followed something else or nothing, and passed

    @property
    def unfollowed(self) -> int:
        return self.shown - self.followed

    def line(self) -> str:
        """``calc-products: shown 12, followed 9 (75%); passed 8/9 followed, 1/3 not``."""
        share = f" ({self.followed / self.shown:.0%})" if self.shown else ""
        return (f"{self.skill}: shown {self.shown}, followed {self.followed}{share}; passed "
                f"{self.passed_followed}/{self.followed} followed, {self.passed_unfollowed}/{self.unfollowed} not")


def skill_usage(episodes: Iterable[Episode], skills: Iterable[str] | None = None) -> list[SkillUse]:
    """Each skill's use over ``episodes`` (errored ones aside: they say nothing of a skill), by name; with
    ``skills``, those skills only and each of them even if never shown."""
    uses: dict[str, SkillUse] = {name: SkillUse(skill=name) for name in skills or ()}
    for episode in episodes:
        if episode.error is not None:
            continue
        for name in episode.skills:
            if skills is not None and name not in uses:
                continue
            use = uses.setdefault(name, SkillUse(skill=name))
            use.shown += 1
            if episode.followed == name:
                use.followed += 1
                use.passed_followed += int(episode.passed)
            else:
                use.passed_unfollowed += int(episode.passed)
    return [uses[name] for name in sorted(uses)]


def library_usage(runs: RunStore, library: str, skills: Iterable[str]) -> list[SkillUse]:
    """``skills``' use over every stored run that learned into, or was evaluated with, ``library``."""
    episodes = (episode for info in runs.list() if info.library == library for episode in runs.episodes(info.id))
    return skill_usage(episodes, skills)
