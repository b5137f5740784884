"""`grasp eval` and `grasp runs` from the shell, against a fake OpenAI-compatible server."""

from __future__ import annotations

from pathlib import Path

from .conftest import run_cli
from .helpers import FakeOpenAI, serve


def test_eval_from_the_shell_stores_a_run_and_never_the_key(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    secret = "sk-never-store-me-42"

    def answer(messages: list[dict]) -> str:
        question = messages[1]["content"].split("What is ")[1].rstrip("?")
        return f"CALC: {question}" if messages[-1]["role"] == "user" and len(messages) == 2 else f"ANSWER: {messages[-1]['content']}"

    fake = FakeOpenAI(text=answer)
    config = tmp_path / "model.yaml"
    with serve(fake.app()) as url:
        config.write_text(f"provider: openai\nmodel: fake\nbase_url: {url}/v1\napi_key_env: FAKE_KEY\n")
        result = run_cli("eval", "--env", "arithmetic", "--split", "dev", "--no-skills", "--model", str(config),
                         "--limit", "6", db=db, env={"FAKE_KEY": secret})
    assert result.returncode == 0, result.stderr
    assert "100.0%" in result.stdout and "product" in result.stdout
    listing = run_cli("runs", "list", db=db)
    run_id = listing.stdout.split("eval-")[1].split()[0]
    shown = run_cli("runs", "show", f"eval-{run_id}", db=db)
    assert "executor" in shown.stdout and "episodes stored: 6" in shown.stdout
    for path in tmp_path.iterdir():
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert fake.headers[0]["authorization"] == f"Bearer {secret}"


def test_eval_user_errors(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    both = run_cli("eval", "--env", "arithmetic", "--library", "x", "--no-skills", db=db)
    assert both.returncode == 1 and "exactly one of" in both.stderr
    missing = run_cli("eval", "--env", "arithmetic", "--no-skills", "--model", str(tmp_path / "none.yaml"), db=db)
    assert missing.returncode == 1 and "no such config file" in missing.stderr
    unknown = run_cli("eval", "--env", "mars", "--no-skills", db=db)
    assert unknown.returncode == 1 and "no environment 'mars'" in unknown.stderr and "weather" in unknown.stderr


def test_eval_reads_val_by_default_and_names_the_sealed_split_when_asked_for_test(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    fake = FakeOpenAI(text=lambda messages: "ANSWER: 0")
    with serve(fake.app()) as url:
        plain = run_cli("eval", "--env", "arithmetic", "--no-skills", "--model", f"openai:fake@{url}/v1",
                        "--limit", "2", db=db, env={"OPENAI_API_KEY": "sk-ambient"})
        sealed = run_cli("eval", "--env", "arithmetic", "--no-skills", "--model", f"openai:fake@{url}/v1",
                         "--split", "test", "--limit", "2", db=db)
    assert plain.returncode == 0 and "arithmetic/val" in plain.stdout and "sealed" not in plain.stderr
    assert sealed.returncode == 0 and "arithmetic/test" in sealed.stdout and "sealed split" in sealed.stderr
    # openai:MODEL@URL names no key variable: the key in the shell's environment never travelled.
    assert all("authorization" not in headers for headers in fake.headers)


def test_runs_items_shows_the_sealed_test_answer_by_answer(tmp_path: Path) -> None:
    """The answers behind the paired counts: a fix that reads a value, a break to a constant answer."""
    from grasp.environment import Episode
    from grasp.store import Database
    from grasp.store.runs import RunStore

    db = tmp_path / "g.db"
    runs = RunStore(Database(db))
    run_id = runs.create(kind="improve", environment="fhir", config={})
    outcomes = {"look-1": ((False, "Patient not found"), (True, "S1824167")),
                "look-2": ((True, "Patient not found"), (False, -1)),
                "lab-1": ((True, -1), (True, -1))}
    for task_id, arms in outcomes.items():
        for arm, (passed, answer) in zip(("none", "final", "reference"), (*arms, arms[0])):
            runs.save_episode(run_id, f"test:{arm}:{task_id}:x", "test",
                              Episode(task_id=task_id, family=task_id[:-2], passed=passed, answer=[answer]))
    everything = run_cli("runs", "items", run_id, db=db, env={"COLUMNS": "200"})
    assert everything.returncode == 0, everything.stderr
    assert "fixed 1, broken 1 of 3 item(s)" in everything.stdout
    assert "pass: S1824167" in everything.stdout and "fail: -1" in everything.stdout and "lab-1" in everything.stdout
    changed = run_cli("runs", "items", run_id, "--changed", db=db, env={"COLUMNS": "200"})
    assert "look-1" in changed.stdout and "look-2" in changed.stdout and "lab-1" not in changed.stdout
    unknown = run_cli("runs", "items", "no-such-run", db=db)
    assert unknown.returncode == 1 and "no-such-run" in unknown.stderr and "Traceback" not in unknown.stderr


def test_runs_list_shows_every_run_id_whole_at_80_columns_and_runs_show_prints_the_config_as_yaml(
        tmp_path: Path) -> None:
    from grasp.store import Database
    from grasp.store.runs import RunStore

    db = tmp_path / "g.db"
    store = RunStore(Database(db))
    ids = ["bench-20261202-170908-grasp-bare-s2", "improve-20261202-171013-a6b0"]
    for run_id in ids:
        store.create(kind="improve", environment="fhir", run_id=run_id, library=run_id,
                     config={"seed": 2, "limits": {"dev": 18, "val": 0}, "loop": {"epochs": 1}})
        store.update(run_id, status="finished", summary={"headline": "test 38% -> 96% (fixed 14, broken 0, p=0.00012); "
                                                                     "none 9/9 -> 9/9; value 0/15 -> 14/15"})
    listing = run_cli("runs", "list", db=db, env={"COLUMNS": "80"})
    assert listing.returncode == 0, listing.stderr
    assert all(run_id in listing.stdout for run_id in ids)
    assert max(len(line) for line in listing.stdout.splitlines()) <= 80
    shown = run_cli("runs", "show", ids[0], db=db, env={"COLUMNS": "80"})
    assert "config:\nseed: 2\nlimits:\n  dev: 18\n  val: 0\nloop:\n  epochs: 1\n" in shown.stdout


def test_eval_with_a_run_config_measures_what_that_run_measures(tmp_path: Path) -> None:
    """The environment, executor, rounds and last-round notice come from the run config when not given."""
    db = tmp_path / "g.db"
    seen: list[list[dict]] = []

    def answer(messages: list[dict]) -> str:
        seen.append(messages)
        return "CALC: 1 + 1"

    fake = FakeOpenAI(text=answer)
    with serve(fake.app()) as url:
        config = tmp_path / "run.yaml"
        config.write_text(f"environment: arithmetic\nmax_rounds: 2\nexecutor:\n  provider: openai\n  model: fake\n"
                          f"  base_url: {url}/v1\nadvanced:\n  last_round_notice: 'Now ANSWER, nothing else.'\n")
        result = run_cli("eval", "--config", str(config), "--split", "dev", "--no-skills", "--limit", "1", db=db)
    assert result.returncode == 0, result.stderr
    assert "arithmetic/dev" in result.stdout and "on fake" in result.stdout
    assert len(seen) == 2  # two rounds, the config's, not the environment's own
    assert seen[-1][-1]["content"].endswith("Now ANSWER, nothing else.")
