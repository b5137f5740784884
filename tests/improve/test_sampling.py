"""Split limits, the probe pool and the decisions: every family, and every stratum within it, gets its turn."""

from __future__ import annotations

from collections import Counter

from grasp.environment import Episode
from grasp.improve.contrast import next_group
from grasp.improve.sampling import balanced_sample
from grasp.tasks import Task


def lopsided() -> list[Task]:
    """12 tasks of family "g" (all "value"), 12 of "m" (2 "value"), 12 of "p" (1 "value")."""
    made = [Task(id=f"g{i:02d}", family="g", instruction="x", solution={"answer": [i]}) for i in range(12)]
    made += [Task(id=f"m{i:02d}", family="m", instruction="x", solution={"answer": [i if i < 2 else -1]}) for i in range(12)]
    made += [Task(id=f"p{i:02d}", family="p", instruction="x", solution={"answer": [i if i < 1 else -1]}) for i in range(12)]
    return made


def stratum(task: Task) -> str:
    return "none" if task.solution["answer"] == [-1] else "value"


def test_families_take_turns_and_a_rare_stratum_is_never_left_out() -> None:
    for seed in range(20):
        drawn = balanced_sample(lopsided(), 9, seed=str(seed), stratum=stratum)
        cells = Counter((task.family, stratum(task)) for task in drawn)
        assert Counter(task.family for task in drawn) == {"g": 3, "m": 3, "p": 3}
        assert cells[("m", "value")] >= 1 and cells[("p", "value")] == 1  # a random 9 of 36 often has neither
        assert cells[("m", "none")] >= 1 and cells[("p", "none")] >= 1


def test_the_draw_is_deterministic_sorted_and_bounded() -> None:
    tasks = lopsided()
    first = balanced_sample(tasks, 16, seed="0:limit:dev", stratum=stratum)
    assert [t.id for t in first] == [t.id for t in balanced_sample(list(reversed(tasks)), 16, seed="0:limit:dev",
                                                                    stratum=stratum)]
    assert [t.id for t in first] == sorted(t.id for t in first) and len({t.id for t in first}) == 16
    assert [t.id for t in first] != [t.id for t in balanced_sample(tasks, 16, seed="1:limit:dev", stratum=stratum)]
    assert len(balanced_sample(tasks, 100, seed="s")) == len(tasks)  # asking for more than there is: all of them


def failure(task_id: str, family: str) -> Episode:
    return Episode(task_id=task_id, family=family, passed=False)


def test_a_family_still_waiting_for_its_first_decision_goes_before_a_larger_group() -> None:
    groups = {"wrong_value": [failure("g1", "g"), failure("g2", "g")], "unknown_parameter": [failure("p1", "p")]}
    assert next_group(groups, Counter())[0] == "wrong_value"  # nobody has had a turn: the largest group
    assert next_group(groups, Counter({"g": 1}))[0] == "unknown_parameter"  # "g" had one: "p" first
    assert next_group(groups, Counter({"g": 1, "p": 1}))[0] == "wrong_value"  # even again: the largest
