"""Scripted models: the lint and its mends, rewrites from the environment's words, a proposer that knows no domain."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from environments.arithmetic import ArithmeticEnvironment, safe_eval
from grasp.config import LoopConfig, RunConfig
from grasp.environment import Hints, ProposerBrief
from grasp.improve import improve
from grasp.improve.lint import unknown_placeholders
from grasp.models import ScriptedModel
from grasp.store import Database, LibraryStore
from grasp.store.runs import RunStore

from .scripted_run import proposal, proposer

ROOT = Path(__file__).resolve().parents[2]


def lucky_executor() -> ScriptedModel:
    """Fails products unless a skill shows the CALC step; sums are always right."""

    def reply(messages: list[dict[str, str]]) -> str:
        question = messages[1]["content"].split("What is ")[1].rstrip("?")
        if len(messages) > 2:  # the CALC result came back
            return f"ANSWER: {messages[-1]['content']}"
        if "*" not in question:
            return f"ANSWER: {safe_eval(question)}"
        if "CALC: <A> * <B>" in messages[0]["content"] or "CALC: <A> + <B> * <C>" in messages[0]["content"]:
            return f"CALC: {question}"
        return "ANSWER: 0"

    return ScriptedModel(reply, name="lucky-executor")


def run_config(**updates: object) -> RunConfig:
    base = RunConfig(environment="arithmetic", seed=5, epochs=1, batch_size=6, capacity=4, probe_size=6,
                     limits={"dev": None, "val": None, "test": None}, advanced={"gate": {"probe_pool": 0}})
    return base.with_advanced(**updates)


class PickyHints(Hints):
    """Rejects skills that spell the action CALCULATE, and says exactly what to write instead."""

    def check_skill(self, text: str) -> str | None:
        return "unknown action 'CALCULATE:'; the action is spelled 'CALC:'" if "CALCULATE" in text else None


class PickyEnvironment(ArithmeticEnvironment):
    def hints(self) -> Hints:
        return PickyHints()


def _proposer_log(replies: list[str]) -> tuple[ScriptedModel, list[list[dict[str, str]]]]:
    seen: list[list[dict[str, str]]] = []
    inner = proposer(replies)

    async def reply(messages: list[dict[str, str]]) -> str:
        seen.append(messages)
        return (await inner.chat(messages)).text

    return ScriptedModel(reply, name="logged-proposer"), seen


def test_a_rewrite_that_repeats_the_mistake_is_refused_at_once(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    wrong = proposal("calc-first", "Use for products: compute first.", "Reply CALCULATE: <A> * <B> first.")
    model, calls = _proposer_log([wrong, wrong, wrong, wrong])
    cfg = run_config(loop=LoopConfig(sources=["proposer"], refinements=2)).model_copy(update={"batch_size": 18})
    asyncio.run(improve(PickyEnvironment(seed=2, per_split=18), lucky_executor(), cfg, db=db, proposer=model,
                        run_id="r1"))
    refusals = [d.evidence.reason for d in LibraryStore(db).decisions("r1", run_id="r1")]
    assert any("rewrite 1 repeats the mistake the environment named" in reason for reason in refusals)
    assert len(calls) == 2  # the proposal and one rewrite, not a second one
    assert "the action is spelled 'CALC:'" in calls[1][-1]["content"]  # the environment's words went back


def test_a_rewrite_that_follows_the_environment_is_judged_as_refined(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    wrong = proposal("calc-first", "Use for products: compute first.", "Reply CALCULATE: <A> * <B> first.")
    # A small model often answers a rewrite request as a MODIFY of the skill it just wrote: the edit stays an ADD.
    right = proposal("calc-first", "Use for products: compute first.", "Reply CALC: <A> * <B> first, then ANSWER.",
                     action="MODIFY")
    model, _ = _proposer_log([wrong, right])
    cfg = run_config(loop=LoopConfig(sources=["proposer"], refinements=2)).model_copy(update={"batch_size": 18})
    result = asyncio.run(improve(PickyEnvironment(seed=2, per_split=18), lucky_executor(), cfg, db=db,
                                 proposer=model, run_id="r1"))
    assert result.counts.accepted_by_origin == {"refined": 1}


def _learn_one_batch(environment: ArithmeticEnvironment, proposals: list[str], db: Path):
    """One batch of every dev task, the proposer's drafts only, two rewrites: (the result, the writer's calls)."""
    model, calls = _proposer_log(proposals)
    cfg = run_config(loop=LoopConfig(sources=["proposer"], refinements=2)).model_copy(update={"batch_size": 18})
    return asyncio.run(improve(environment, lucky_executor(), cfg, db=db, proposer=model, run_id="r1")), calls


def test_a_made_up_parameter_placeholder_goes_back_to_the_proposer_in_any_environment(tmp_path: Path) -> None:
    """``=<SCALE>`` is no value of the arithmetic task: the agent would invent one. The core says so with the
    task's own placeholders, and the rewrite that drops it is judged as refined."""
    made_up = proposal("calc-first", "Use for products: compute first.", "Reply CALC: <A> * <B> with scale=<SCALE>.")
    right = proposal("calc-first", "Use for products: compute first.", "Reply CALC: <A> * <B> first, then ANSWER.")
    result, calls = _learn_one_batch(ArithmeticEnvironment(seed=2, per_split=18), [made_up, right], tmp_path / "g.db")
    feedback = calls[1][-1]["content"]
    assert "<SCALE> is none of the task's values (<A>, <B>" in feedback
    assert result.counts.accepted_by_origin == {"refined": 1}


class NoResultEnvironment(ArithmeticEnvironment):
    """Each family's tasks prescribe their own no-result answer, as FHIR's lookups ("Patient not found") and labs
    (-1) do."""

    def tasks(self, split: str):
        return [task.model_copy(update={"no_result": [f"no {task.family}"]}) for task in super().tasks(split)]


def test_a_skill_giving_another_familys_no_result_answer_is_given_its_own_without_a_model_call(tmp_path: Path) -> None:
    foreign = proposal("calc-first", "Use for products: compute first.",
                       "Reply CALC: <A> * <B> first; if it fails, ANSWER: no sum.")
    result, calls = _learn_one_batch(NoResultEnvironment(seed=2, per_split=18), [foreign], tmp_path / "g.db")
    assert not any("when nothing is found" in call[-1]["content"] for call in calls)
    assert result.counts.accepted_by_origin == {"proposer": 1}  # mended by hand, still the draft
    assert re.search(r"if it fails, ANSWER: no (product|mixed)\.", result.library.skills["calc-first"].body)


def test_a_foreign_no_result_answer_in_the_steps_is_mended_even_when_the_description_names_the_right_one(
        tmp_path: Path) -> None:
    """The description repeats the task's words; the step the executor follows answers another family's."""
    foreign = proposal("calc-first", "Use for products; when nothing is found, answer no product or no mixed.",
                       "Reply CALC: <A> * <B> first; if it fails, ANSWER: no sum.")
    result, _ = _learn_one_batch(NoResultEnvironment(seed=2, per_split=18), [foreign], tmp_path / "g.db")
    assert result.counts.accepted_by_origin == {"proposer": 1}  # mended by hand, still the draft
    assert re.search(r"if it fails, ANSWER: no (product|mixed)\.", result.library.skills["calc-first"].body)


class CapitalHints(Hints):
    """A rule of the environment's own that only the proposer can follow: CALC in capitals."""

    def check_skill(self, text: str) -> str | None:
        return "CALC is spelled in capitals" if "calc:" in text else None


class CapitalCalc(NoResultEnvironment):
    def hints(self) -> Hints:
        return CapitalHints()


def test_a_no_result_answer_mixed_with_a_problem_only_the_proposer_can_fix_goes_back_to_it(tmp_path: Path) -> None:
    foreign = proposal("calc-first", "Use for products: compute first.", "Reply calc: <A> * <B>; if it fails, ANSWER: no sum.")
    right = proposal("calc-first", "Use for products: compute first.", "Reply CALC: <A> * <B> first, then ANSWER.")
    result, calls = _learn_one_batch(CapitalCalc(seed=2, per_split=18), [foreign, right], tmp_path / "g.db")
    assert "CALC is spelled in capitals" in calls[1][-1]["content"]
    assert result.counts.accepted_by_origin == {"refined": 1}


class SelfMendingHints(CapitalHints):
    """The same rule, and the environment corrects it by itself (as FHIR renames ``count`` to ``_count``)."""

    def mend_skill(self, text: str) -> str:
        return text.replace("calc:", "CALC:")


class SelfMendingCalc(CapitalCalc):
    def hints(self) -> Hints:
        return SelfMendingHints()


def test_a_problem_the_environment_mends_itself_costs_no_proposer_call(tmp_path: Path) -> None:
    lower = proposal("calc-first", "Use for products: compute first.", "Reply calc: <A> * <B> first, then ANSWER.")
    result, calls = _learn_one_batch(SelfMendingCalc(seed=2, per_split=18), [lower], tmp_path / "g.db")
    assert len(calls) == 1  # the draft, and no rewrite asked
    assert result.counts.accepted_by_origin == {"proposer": 1}  # mended by hand, still the draft
    assert "Reply CALC: <A> * <B> first" in result.library.skills["calc-first"].body


def test_a_rewrite_that_puts_back_a_mended_no_result_answer_is_mended_again(tmp_path: Path) -> None:
    """The proposer fixes what only it can fix and copies back another family's no-result answer, as the
    1.5B proposer did on the main job: mended by hand again, not refused as a repeat."""
    draft = proposal("calc-first", "Use for products: compute first.", "Reply calc: <A> * <B>; if it fails, ANSWER: no sum.")
    rewrite = proposal("calc-first", "Use for products: compute first.", "Reply CALC: <A> * <B>; if it fails, ANSWER: no sum.")
    result, calls = _learn_one_batch(CapitalCalc(seed=2, per_split=18), [draft, rewrite], tmp_path / "g.db")
    asked = calls[1:]  # after the draft: the rewrite requests
    assert len(asked) == 1 and "CALC is spelled in capitals" in asked[0][-1]["content"]
    assert "ANSWER: no sum" not in asked[0][-1]["content"]  # it was shown the draft already mended
    assert result.counts.accepted_by_origin == {"refined": 1}
    body = result.library.skills["calc-first"].body
    assert "CALC: <A> * <B>" in body and re.search(r"ANSWER: no (product|mixed)\.", body)


def test_placeholders_defined_in_the_skill_or_given_by_the_task_pass() -> None:
    known = {"MRN", "CODE"}
    assert unknown_placeholders("GET x?patient=<MRN>&code=<CODE>", known) is None
    assert unknown_placeholders("1. <SINCE> is now minus a day.\n2. GET x?date=ge<SINCE>", known) is None
    assert "<SINCE>" in unknown_placeholders("GET x?date=<SINCE>", known)
    assert "<SINCE>" in unknown_placeholders("GET x?date=ge<SINCE>%2B00:00", known)  # a window from another task
    assert "<ID>" in unknown_placeholders("GET x?identifier=<ID>&patient=<MRN>", known)
    assert unknown_placeholders("FINISH([<VALUE>])", known) is None  # an answer, not a request parameter


def test_a_custom_environment_without_hooks_gets_a_domain_neutral_proposer_prompt(tmp_path: Path) -> None:
    model, calls = _proposer_log([])
    asyncio.run(improve(ArithmeticEnvironment(seed=2, per_split=18), lucky_executor(),
                        run_config(), db=tmp_path / "g.db", proposer=model))
    system, user = calls[0][0]["content"], calls[0][1]["content"]
    assert system == ProposerBrief().persona
    assert ProposerBrief().example in user
    assert re.search(r"The task was: What is <A> [+*] <B>( \* <C>)?\?", user)  # the task, its values masked
    assert "<A>" in user and "<B>" in user  # placeholders named from the declared variables
    for word in ("FHIR", "MRN", "MedicationRequest", "Patient"):
        assert word not in system + user


DOMAIN_WORDS = re.compile(r"fhir|FHIR|Observation\?|Patient|_sort\b|\bMRN\b|Bundle")  # the grep


def test_the_generic_loop_and_agent_know_nothing_of_fhir() -> None:
    folders = [ROOT / "grasp" / "improve", ROOT / "grasp" / "agent"]
    hits = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}" for folder in folders
            for path in sorted(folder.rglob("*.py"))
            for number, line in enumerate(path.read_text().splitlines(), 1) if DOMAIN_WORDS.search(line)]
    assert hits == []


HTTP_SHAPED = re.compile(r"://|\b(GET|POST|PUT|DELETE|PATCH)\b")


def http_shaped(source: str) -> list[str]:
    """What in ``source`` (a module's code) imports an HTTP client or URL parser, or spells a URL or an HTTP verb
    in a string the code uses (docstrings and comments, which may give examples, aside)."""
    import ast

    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    found = [alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
             for alias in node.names if alias.name.split(".")[0] in {"httpx", "urllib", "requests"}]
    found += [f"from {node.module}" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
              and (node.module or "").split(".")[0] in {"httpx", "urllib", "requests"}]
    found += [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docstrings and HTTP_SHAPED.search(node.value)]
    return found


def test_the_learning_core_parses_no_http_and_its_check_finds_what_it_looks_for() -> None:
    """Search, induction and the refine loop reach an action's shape only through the environment's protocol."""
    hits = {str(path.relative_to(ROOT)): found for folder in (ROOT / "grasp" / "improve", ROOT / "grasp" / "agent")
            for path in sorted(folder.rglob("*.py")) if (found := http_shaped(path.read_text()))}
    assert hits == {}
    assert http_shaped('"""GET http://x is fine here."""\nimport httpx\nVERB = "GET"\nURL = "http://h/x"\n') == [
        "httpx", "GET", "http://h/x"]


def test_the_domain_word_check_finds_what_it_looks_for() -> None:
    for line in ("GET Observation?patient=x", "a Bundle", "the MRN", "_sort=-date", "a FHIR server", "environments.fhir"):
        assert DOMAIN_WORDS.search(line), line
    assert not DOMAIN_WORDS.search("sort the results; patience; bundled")


def test_the_proposer_reads_the_environments_words_on_failed_steps_whole() -> None:
    from grasp.environment import Episode
    from grasp.improve.traces import complaints

    from ..helpers import traced

    hint = "HTTP 400 " + "x" * 250 + " Did you mean '_sort'?"
    episode = Episode(task_id="t", family="f", passed=False,
                      trace=traced(("GET a?sort=-date", hint, False), ("GET a?_sort=-date", "ok", True)))
    assert complaints([episode, episode]) == [hint]  # whole (past the trace's clip), once, only the failed step


def test_skill_selection_ignores_the_environments_common_words() -> None:
    from grasp.agent.selection import select_skills
    from grasp.skills import Skill
    from grasp.tasks import Task

    task = Task(id="t", family="f", instruction="What is the latest patient weight?")
    skill = Skill(name="other", description="Use when a patient asks for a bed.", body="Ask the ward.")
    assert select_skills([skill], task, 3) == [skill]  # untagged, and shares "patient" with the task
    assert select_skills([skill], task, 3, ignore=frozenset({"patient"})) == []


def test_skill_selection_ranks_by_fit_and_never_picks_another_familys_skill() -> None:
    from grasp.agent.selection import select_skills
    from grasp.skills import Skill
    from grasp.tasks import Task

    task = Task(id="t", family="latest", instruction="What is the most recent glucose value, whenever it was taken?")
    window = Skill(name="window", description="Use when asked for the most recent value within the last 24 hours.",
                   body="GET ...&date=ge<SINCE>", tags=["window"])
    latest = Skill(name="latest", description="Use for a lab value.", body="GET ...&_sort=-date", tags=["latest"])
    loose = Skill(name="loose", description="Use when asked for the most recent glucose value.", body="x")
    vague = Skill(name="vague", description="Use for glucose, sodium, potassium, magnesium, calcium.", body="y")
    # The other family's skill shares many words and is still never shown; the family's own comes first;
    # untagged skills follow by the share of their description the task matches, not by the count.
    assert select_skills([window, latest, loose, vague], task, 3) == [latest, loose, vague]
    assert select_skills([window], task, 3) == []


def test_routing_by_words_reads_the_task_and_the_skills_description_and_name_never_the_family() -> None:
    """What a deployed agent has: no family label. The label neither admits a skill nor keeps one out."""
    from grasp.agent.selection import select_skills
    from grasp.skills import Skill
    from grasp.tasks import Task

    task = Task(id="t", family="latest", instruction="What is the most recent glucose value of patient S1?")
    own = Skill(name="latest-lab", description="Use for a lab panel.", body="x", tags=["latest"])
    said = Skill(name="recent-glucose", description="Use when asked for the most recent glucose value in an ICU chart.", body="y",
                 tags=["other"])
    notes = Skill(name="notes", description="Lessons.", body="z", tags=["all"])
    assert select_skills([own, said, notes], task, 3) == [own, notes]  # by family: the other family's is never shown
    assert select_skills([own, said, notes], task, 3, routing="words") == [notes, said]  # by words: the label is unread
    assert select_skills([own], task.model_copy(update={"family": "other"}), 3, routing="words") == []


def test_the_skill_an_episode_followed_is_the_one_its_actions_match() -> None:
    from grasp.agent.selection import followed
    from grasp.skills import Skill

    latest = Skill(name="latest", description="Use for the latest value.", body="GET Observation?patient=<MRN>&_sort=-date")
    lookup = Skill(name="lookup", description="Use to find a patient.", body="GET Patient?given=<GIVEN>&family=<FAMILY>")
    assert followed([latest, lookup], ["GET Observation?patient=S1&_sort=-date&_count=1", "FINISH([5])"]) == "latest"
    assert followed([latest, lookup], ["GET Patient?given=Ann&family=Lee"]) == "lookup"
    assert followed([latest, lookup], ["FINISH([5])"]) is None and followed([], ["GET Observation?x"]) is None


def test_the_cores_own_problems_are_mended_by_hand_without_a_model_call() -> None:
    from grasp.improve.lint import with_own_none_answer, without_unknown_parameters

    window = "1. GET Observation?patient=<MRN>&code=<CODE>&date=ge<SINCE_24H>%2B00:00&_count=1\n2. FINISH([<v>])."
    assert without_unknown_parameters(window, {"MRN", "CODE"}) == (
        "1. GET Observation?patient=<MRN>&code=<CODE>&_count=1\n2. FINISH([<v>]).")
    defined = "1. <SINCE> is now minus a day.\n2. GET x?date=ge<SINCE>&patient=<MRN>"
    assert without_unknown_parameters(defined, {"MRN"}) == defined  # defined in the skill: kept
    assert without_unknown_parameters("GET x?id=<ID>", {"MRN"}) == "GET x"  # nothing left: no '?'
    lookup = "2. If the total is 0, FINISH([-1]).\n3. Otherwise FINISH([<MRN>]); sort with _sort=-date."
    assert with_own_none_answer(lookup, ["Patient not found"], ["Patient not found", -1]) == (
        '2. If the total is 0, FINISH(["Patient not found"]).\n3. Otherwise FINISH([<MRN>]); sort with _sort=-date.')
    lab = 'If nothing matches, FINISH(["Patient not found"]); say Patient not found.'
    assert with_own_none_answer(lab, [-1], [-1, "Patient not found"]) == "If nothing matches, FINISH([-1]); say -1."
    assert with_own_none_answer("FINISH([-1]) or -1", [-1], [-1, "x"]) == "FINISH([-1]) or -1"  # its own answer


def test_a_made_up_placeholder_in_a_request_is_dropped_without_asking_the_proposer(tmp_path: Path) -> None:
    made_up = proposal("calc-first", "Use for products: compute first.",
                       "Reply CALC: <A> * <B> from GET calc?a=<A>&scale=<SCALE>, then ANSWER.")
    result, calls = _learn_one_batch(ArithmeticEnvironment(seed=2, per_split=18), [made_up], tmp_path / "g.db")
    assert not any("is none of the task's values" in call[-1]["content"] for call in calls)
    assert result.counts.accepted_by_origin == {"proposer": 1}  # mended by hand, still the draft
    assert "scale=" not in result.library.skills["calc-first"].body
    assert "GET calc?a=<A>," in result.library.skills["calc-first"].body


def test_a_rewrite_of_another_familys_skill_becomes_a_skill_of_its_own() -> None:
    from grasp.improve.drafts import parse_draft
    from grasp.improve.proposer import to_candidate
    from grasp.skills import Skill

    sums = Skill(name="sum-first", description="Use for sums.", body="Reply ANSWER: <A> + <B>.", tags=["sum"])
    rewrite = parse_draft(proposal("sum-first", "Use for products.", "Reply CALC: <A> * <B>.", action="MODIFY"))

    def drafted(family: str, capacity: int = 4):
        return to_candidate(rewrite, library={"sum-first": sums}, capacity=capacity, family=family, forbidden=set(),
                            group="g")

    own = drafted("product").edit
    assert own.kind.value == "ADD" and own.skill.name == "product" and own.skill.tags == ("product",)
    assert drafted("sum").edit.kind.value == "MODIFY"  # its own family's skill: a rewrite, as drafted
    assert "ADD at capacity (1)" in drafted("product", capacity=1).refusal
