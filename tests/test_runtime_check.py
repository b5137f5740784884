"""A runtime that crashes or hangs is named before a run starts, in one line, and nothing is stored.

The stand-ins are `llama_cpp` packages put first on the child's PYTHONPATH: one that dies with a real
SIGSEGV where llama.cpp died on AVX-512 FP16/AMX hosts (in decode), one that never answers, one that works.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grasp.models import runtime
from grasp.store import Database
from grasp.store.runs import RunStore

from .conftest import run_cli

COMMON = '''
import os, signal, time
__version__ = "0.0-standin"

def llama_print_system_info():
    return b"CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_FP16 = 0 | AMX_INT8 = 1 | "

class Llama:
    def __init__(self, model_path, **options):
        self.fed = 0
    def tokenize(self, text):
        return list(range(12))
    def token_eos(self):
        return -1
    def sample(self, temp=0.0):
        return 7
'''
BEHAVIOURS = {
    "segfault": "    def eval(self, tokens):\n        os.kill(os.getpid(), signal.SIGSEGV)\n",
    "hang": "    def eval(self, tokens):\n        time.sleep(3600)\n",
    "works": ("    def eval(self, tokens):\n        self.fed += len(tokens)\n"
              "with open(os.environ['STANDIN_LOG'], 'a') as log:\n    log.write('loaded\\n')\n"),
}


def standin(tmp_path: Path, behaviour: str) -> Path:
    """A folder whose `llama_cpp` package behaves as ``behaviour``; returns the folder for PYTHONPATH."""
    folder = tmp_path / f"runtime-{behaviour}"
    (folder / "llama_cpp").mkdir(parents=True)
    (folder / "llama_cpp" / "__init__.py").write_text(textwrap.dedent(COMMON) + BEHAVIOURS[behaviour])
    return folder


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("GRASP_CACHE_DIR", str(cache))
    return cache


@pytest.mark.parametrize(("behaviour", "words"), [("segfault", "killed by SIGSEGV"), ("hang", "hung: no answer within 3 s")])
def test_a_broken_runtime_is_one_line_naming_signal_build_cpu_and_the_portable_rebuild(
        behaviour: str, words: str, tmp_path: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(standin(tmp_path, behaviour)))
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(runtime.RuntimeBroken) as caught:
        runtime.check_runtime(gguf, timeout_s=3)
    message = str(caught.value)
    assert "\n" not in message and words in message
    assert "llama-cpp-python 0.0-standin, built for SSE3 AVX AVX2 AVX512 AMX_INT8" in message  # read before it died
    assert runtime.cpu_facts().model in message and runtime.PORTABLE_CMAKE_ARGS in message
    assert not (isolated_cache / runtime.VERDICTS).exists()  # a failure is never remembered


def test_a_pass_is_remembered_per_build_and_cpu(tmp_path: Path, isolated_cache: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "loads.log"
    monkeypatch.setenv("PYTHONPATH", str(standin(tmp_path, "works")))
    monkeypatch.setenv("STANDIN_LOG", str(log))
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    first = runtime.check_runtime(gguf, timeout_s=30)
    second = runtime.check_runtime(gguf, timeout_s=30)
    assert first.ok and first.prompt_tokens == 12 and first.generated_tokens == 8 and first.generation_tokens_per_s > 0
    assert second.generated_tokens == 8 and log.read_text().count("loaded") == 1  # the second start spawned nothing
    monkeypatch.setattr(runtime, "build_identity", lambda: "another build")
    runtime.check_runtime(gguf, timeout_s=30)
    assert log.read_text().count("loaded") == 2  # a rebuilt runtime is checked anew


@pytest.mark.parametrize(("behaviour", "command"), [("segfault", "improve"), ("hang", "eval")])
def test_improve_and_eval_stop_before_storing_anything(behaviour: str, command: str, tmp_path: Path) -> None:
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    model = tmp_path / "model.yaml"
    model.write_text(f"provider: local\ngguf: {gguf}\ntimeout_s: 3\n")
    config = tmp_path / "run.yaml"
    config.write_text(f"environment: arithmetic\nexecutor: {{provider: local, gguf: '{gguf}', timeout_s: 3}}\n"
                      "epochs: 1\nbatch_size: 4\nprobe_size: 4\nlimits: {dev: null, val: null, test: null}\n")
    arguments = (["improve", "--config", str(config)] if command == "improve"
                 else ["eval", "--env", "arithmetic", "--no-skills", "--model", str(model)])
    db = tmp_path / "g.db"
    done = run_cli(*arguments, db=db, env={"PYTHONPATH": str(standin(tmp_path, behaviour)),
                                          "GRASP_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the embedded runtime "), done.stderr
    assert "Traceback" not in done.stderr and "Rebuild it portably with: CMAKE_ARGS=" in lines[0]
    assert not db.exists() or RunStore(Database(db)).list() == []


@pytest.mark.parametrize("behaviour", ["works", "segfault"])
def test_doctor_prints_the_runtime_cpu_weights_and_speed_or_names_the_crash(behaviour: str, tmp_path: Path) -> None:
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    done = run_cli("doctor", "--gguf", str(gguf), "--tokens", "4", db=tmp_path / "g.db",
                   env={"PYTHONPATH": str(standin(tmp_path, behaviour)), "STANDIN_LOG": str(tmp_path / "loads.log")})
    assert f"cpu: {runtime.cpu_facts().line()}" in done.stdout
    assert "runtime: llama-cpp-python 0.0-standin, built for SSE3 AVX AVX2 AVX512 AMX_INT8" in done.stdout
    assert "weights: " in done.stdout and "sha256 " in done.stdout
    if behaviour == "works":
        assert done.returncode == 0 and "check: passed in a child process" in done.stdout
        assert "generation" in done.stdout and "(4 tokens)" in done.stdout
    else:
        assert done.returncode == 1 and "killed by SIGSEGV" in done.stderr and "Traceback" not in done.stderr
