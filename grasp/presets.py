"""Named methods: GRASP and the baselines it is compared with, each a preset of advanced settings.

A method is a set of changes to the config's ``advanced`` section (candidate sources, acceptance rule,
trial, checkpoint), so an ablation is one more entry here and never a new branch in the loop. A run
names its method with ``method:``; a preset's settings win over the same keys written under ``advanced:``.
Every method's result is an ordinary stored run whose final library is a library version.
"""

from __future__ import annotations

from typing import Any

METHODS: dict[str, dict[str, Any]] = {
    # GRASP as configured: induction and the proposer, the refine loop, the gate, best-val checkpoint.
    "grasp": {},
    # GRASP on its own: the same loop with the environment's hand-written help to the learner off (no
    # check_skill / mend_skill, the generic proposer brief, no placeholder notes: Environment.hints unread), so that a
    # bench shows how much of a lift is the method and how much is the environment's help.
    "grasp-bare": {"environment_help": False},
    # GRASP with the grader's words about failed training items unread (the writer sees only that they failed), so
    # that a bench shows how much of a lift the grader's feedback carries.
    "grasp-no-feedback": {"grader_feedback": False},
    # GRASP with the paper's four drafts per decision, whatever the config's own count (the main job drafts one,
    # for time): the like-for-like partner of ungated-k4.
    "grasp-k4": {"loop": {"candidates": 4}},
    # The paper's ablations: no gate, one or four proposals (four are still ranked on the probe). The
    # baselines take their candidates as proposed: no trial on the batch (a step of grasp's own).
    "ungated-k1": {"gate": {"rule": "accept-all"},
                   "loop": {"sources": ["proposer"], "candidates": 1, "checkpoint": "last", "trial": False}},
    "ungated-k4": {"gate": {"rule": "accept-all"},
                   "loop": {"sources": ["proposer"], "candidates": 4, "checkpoint": "last", "trial": False}},
    # Reflexion / ExpeL-style memory: a lesson per batch appended to one notes skill, ungated, oldest out.
    "memory": {"gate": {"rule": "accept-all"}, "loop": {"sources": ["reflection"], "checkpoint": "last", "trial": False}},
    # Agent Workflow Memory: workflows induced from passing traces, kept without a gate.
    "awm": {"gate": {"rule": "accept-all"}, "loop": {"sources": ["induction"], "checkpoint": "last", "trial": False}},
    # Other acceptance rules on GRASP's candidates: SkillOpt's strict improvement, cap-evolve's k x SE.
    "strict": {"gate": {"rule": "strict"}},
    "paired-se": {"gate": {"rule": "paired-se"}},
}

# Rows that learn nothing, read from the sealed tests of the learning methods' runs (the same items per
# seed): naming one in a bench's methods runs nothing; a bench that names none shows all three.
YARDSTICKS: dict[str, str] = {"no-skills": "no skills", "trivial": "trivial answer", "reference": "reference library"}


def with_preset(advanced: dict[str, Any], method: str) -> dict[str, Any]:
    """``advanced`` (a config's advanced section, as data) with ``method``'s settings laid over it."""
    merged = dict(advanced)
    for section, changes in METHODS[method].items():
        if isinstance(changes, dict):
            current = merged.get(section) or {}
            current = current.model_dump() if hasattr(current, "model_dump") else dict(current)
            merged[section] = {**current, **changes}
        else:
            merged[section] = changes
    return merged
