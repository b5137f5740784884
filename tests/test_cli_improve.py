"""`grasp improve` from the shell: Ctrl-C stops cleanly and names the run to resume; resume finishes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from grasp.config import RunConfig
from grasp.store import Database
from grasp.store.runs import RunStore

from .helpers import FakeOpenAI, serve


def endpoint_script(*, body: str = "Reply CALC: <A> * <B> first, then ANSWER.", delay_s: float = 0.0):
    """What the fake OpenAI endpoint answers: one skill to the proposer, a lesson
    to the reflection source, and a wrong answer to the executor."""

    def answer(messages: list[dict]) -> str:
        time.sleep(delay_s)
        system = messages[0]["content"]
        if "coach" in system:
            return f"---\naction: ADD\nname: compute-first\ndescription: Use for product questions.\n---\n{body}\n"
        if "lessons" in system:
            return '{"lesson": "Compute products with CALC before answering."}'
        return "ANSWER: 0"

    return answer


def test_ctrl_c_prints_how_to_resume_and_resume_finishes(tmp_path: Path) -> None:
    db = tmp_path / "g.db"

    script = endpoint_script(body="Reply CALC: <expression> first, then ANSWER.", delay_s=0.05)
    sent, calls = threading.Event(), {"n": 0}

    def held(messages: list[dict]) -> str:
        """After four replies (four stored episodes), none until Ctrl-C is sent: the run cannot finish before
        the signal, however fast the machine."""
        calls["n"] += 1
        if calls["n"] > 4:
            sent.wait(timeout=30)
        return script(messages)

    fake = FakeOpenAI(text=held)
    with serve(fake.app()) as url:
        config = tmp_path / "run.yaml"
        config.write_text(f"environment: arithmetic\nexecutor: {{provider: openai, model: fake, base_url: '{url}/v1'}}\n"
                          "epochs: 1\nbatch_size: 4\nprobe_size: 4\nlimits: {dev: null, val: null, test: null}\n")
        # A suite started in the background (nohup, `&`) passes SIGINT on ignored, and Python then leaves it
        # ignored: the child takes Ctrl-C back, as a terminal would give it.
        child = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); from grasp.cli import main; main()"
        command = [sys.executable, "-c", child, "improve", "--config", str(config)]
        env = {**os.environ, "GRASP_DB": str(db)}
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while time.time() < deadline and not (db.exists() and RunStore(Database(db)).count_episodes(
                next((r.id for r in RunStore(Database(db)).list()), "none")) >= 3):
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        sent.set()
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, (process.returncode, stderr, stdout[-2000:])
        (run,) = RunStore(Database(db)).list()
        assert f"grasp improve --resume {run.id}" in stderr and "Traceback" not in stderr
        assert RunStore(Database(db)).get(run.id).status == "interrupted"
        resumed = subprocess.run([*command[:3], "improve", "--resume", run.id], env=env, capture_output=True,
                                 text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "sealed test" in resumed.stdout
    assert RunStore(Database(db)).get(run.id).status == "finished"


def test_improve_runs_a_custom_environment_named_as_module_and_class(tmp_path: Path) -> None:
    db = tmp_path / "g.db"

    fake = FakeOpenAI(text=endpoint_script())
    with serve(fake.app()) as url:
        config = tmp_path / "run.yaml"
        config.write_text(f"executor: {{provider: openai, model: fake, base_url: '{url}/v1'}}\n"
                          "epochs: 1\nbatch_size: 6\nprobe_size: 4\nlimits: {dev: null, val: null, test: null}\n")
        command = [sys.executable, "-c", "from grasp.cli import main; main()", "improve", "--config", str(config),
                   "--env", "environments.arithmetic:ArithmeticEnvironment"]
        result = subprocess.run(command, env={**os.environ, "GRASP_DB": str(db)}, capture_output=True, text=True,
                                timeout=120)
        wrong = subprocess.run([*command[:-1], "environments.arithmetic:Nope"], env={**os.environ, "GRASP_DB": str(db)},
                               capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "sealed test" in result.stdout
    (run,) = RunStore(Database(db)).list()
    assert run.environment == "arithmetic" and run.status == "finished"
    assert run.config["environment"] == "environments.arithmetic:ArithmeticEnvironment"  # how a resume finds it
    assert wrong.returncode == 1 and "has no 'Nope'" in wrong.stderr and "Traceback" not in wrong.stderr


def test_bench_from_the_shell_prints_and_saves_the_comparison(tmp_path: Path) -> None:
    db = tmp_path / "g.db"

    fake = FakeOpenAI(text=endpoint_script())
    with serve(fake.app()) as url:
        config = tmp_path / "bench.yaml"
        config.write_text(f"environment: arithmetic\nexecutor: {{provider: openai, model: fake, base_url: '{url}/v1'}}\n"
                          "epochs: 1\nbatch_size: 6\nprobe_size: 4\nlimits: {dev: null, val: null, test: null}\n")
        command = [sys.executable, "-c", "from grasp.cli import main; main()", "bench", str(config),
                   "--methods", "grasp,memory", "--seeds", "2", "--out", str(tmp_path / "out")]
        result = subprocess.run(command, env={**os.environ, "GRASP_DB": str(db), "COLUMNS": "200"},
                                capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "no skills" in result.stdout and "grasp" in result.stdout and "memory" in result.stdout
    (table,) = (tmp_path / "out").glob("*.md")
    text = table.read_text()
    # header, then no skills, the two methods, and the trivial answer (arithmetic ships no reference library)
    assert text.count("\n| ") == 4 + 1 and "\n| trivial answer |" in text
    assert (tmp_path / "out" / table.name.replace(".md", ".html")).exists()
    kinds = sorted(run.kind for run in RunStore(Database(db)).list())
    assert kinds == ["bench"] + ["improve"] * 4
    bench_id = table.name.removesuffix(".md")
    stored = RunStore(Database(db))
    config = stored.get(bench_id).config  # as if the bench had a third method it has not reached yet
    stored.update(bench_id, config={**config, "methods": [*config["methods"], "ungated-k1"]})
    shown = subprocess.run([sys.executable, "-c", "from grasp.cli import main; main()", "bench", "--resume", bench_id,
                            "--table", "--out", str(tmp_path / "partial")],
                           env={**os.environ, "GRASP_DB": str(db), "COLUMNS": "200"}, capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0, shown.stderr
    partial = (tmp_path / "partial" / table.name).read_text()
    assert "\n| grasp |" in partial and "\n| memory |" in partial and "ungated-k1" not in partial
    assert sorted(run.kind for run in RunStore(Database(db)).list()) == ["bench"] + ["improve"] * 4  # nothing ran


def test_improve_with_no_config_file_runs_the_default_preset_on_the_named_environment(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    fake = FakeOpenAI(text=lambda messages: 'FINISH(["none"])')  # answers every weather task "none", at once
    with serve(fake.app()) as url:
        result = subprocess.run([sys.executable, "-c", "from grasp.cli import main; main()", "improve", "--env",
                                 "weather", "--model", f"openai:fake@{url}/v1"],
                                env={**os.environ, "GRASP_DB": str(db)}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (run,) = RunStore(Database(db)).list()
    assert run.environment == "weather" and run.config["method"] == "grasp"
    default = RunConfig(environment="weather").model_dump(mode="json")
    assert {**run.config, "executor": None} == {**default, "executor": None, "advanced": {
        **default["advanced"], "last_round_notice": run.config["advanced"]["last_round_notice"]}}
    assert len(run.state["drawn"]["dev"]) == 18 and len(run.state["drawn"]["test"]) == 24  # the default limits
    assert "sealed test [value]: 0/" in result.stdout  # a constant "none" learns nothing, and the run says so
