"""Is the embedded runtime safe to load on this machine? Asked once per build and CPU, in a child process.

Why a child process: a llama.cpp built for a CPU path that does not hold on this host (the native build on
a CPU with AVX-512 FP16/BF16 and AMX) does not raise, it dies with SIGSEGV inside its first ``decode`` and
takes the Python process with it, mid-run, with nothing said. So before the embedded model is loaded for
the first time on a machine, a child loads it and generates a few tokens; if the child dies or hangs, one
line names the signal, the runtime's version and build flags, the CPU, and the command that rebuilds the
runtime portably, before anything is stored. A pass is remembered per (runtime build, CPU), so later starts
pay nothing; a failure is never remembered (a rebuild changes the build, and the check runs again).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ModelError
from .weights import cache_dir

RUNTIME_REQUIREMENT = "llama-cpp-python==0.3.36"
# The build the README's commands make: AVX2-class kernels, no AVX-512 and no AMX. The native build
# (-march=native) crashes on hosts with AVX-512 FP16/BF16 and AMX, even with the AMX options off.
PORTABLE_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF"
# CPU flags that decide which llama.cpp kernels can run; the rest of /proc/cpuinfo says nothing here.
KERNEL_FLAG_PREFIXES = ("sse4", "ssse3", "avx", "fma", "f16c", "bmi2", "amx")
VERDICTS = "runtime-checks.json"


class RuntimeBroken(ModelError):
    """The embedded runtime died, hung or failed in its child-process check on this machine."""


@dataclass(frozen=True)
class CpuFacts:
    model: str
    cores: int
    features: tuple[str, ...]  # only the kernel-relevant flags, sorted

    def line(self) -> str:
        return f"{self.model}, {self.cores} core(s); {' '.join(self.features) or 'no AVX'}"


@dataclass
class ProbeResult:
    """What a child process saw: the runtime it loaded and, when it lived, its speed."""

    version: str = "unknown"
    build_flags: list[str] = field(default_factory=list)  # the CPU features the runtime was built for
    prompt_tokens: int = 0
    prompt_tokens_per_s: float = 0.0
    generated_tokens: int = 0
    generation_tokens_per_s: float = 0.0
    threads: int = 0
    failure: str | None = None  # None: the runtime generated its tokens

    @classmethod
    def from_fields(cls, fields: dict) -> ProbeResult:
        """A result from what a child reported (or a verdict remembered): known fields only, never a failure."""
        return cls(**{name: fields[name] for name in cls.__dataclass_fields__ if name in fields and name != "failure"})

    @property
    def ok(self) -> bool:
        return self.failure is None

    def build_line(self) -> str:
        return f"llama-cpp-python {self.version}, built for {' '.join(self.build_flags) or 'unknown flags'}"


def cpu_facts() -> CpuFacts:
    """The CPU's name and kernel-relevant features (Linux reads /proc/cpuinfo; elsewhere the name only)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            model = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
    features = tuple(sorted(flag for flag in flags if flag.startswith(KERNEL_FLAG_PREFIXES)))
    return CpuFacts(model=model, cores=os.cpu_count() or 1, features=features)


def runtime_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def build_identity() -> str:
    """Which build of the runtime is installed, without loading it: its version and its files' sizes and times.

    A rebuild (say, the portable one after a crash) changes the files, so it is checked anew."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        raise ModelError(f"the embedded model needs llama-cpp-python: pip install -e \".[local]\"")
    package = Path(spec.origin).parent
    try:
        version = importlib.metadata.version("llama_cpp_python")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    parts = [version, str(package)]
    for path in sorted(package.rglob("*")):
        if path.is_file() and (path.suffix in {".so", ".dylib", ".dll"} or path.name == "__init__.py"):
            stat = path.stat()
            parts.append(f"{path.relative_to(package)}:{stat.st_size}:{int(stat.st_mtime)}")
    return "\n".join(parts)


def verdict_key() -> str:
    cpu = cpu_facts()
    return hashlib.sha256(f"{build_identity()}\n{cpu.model}\n{' '.join(cpu.features)}".encode()).hexdigest()


def rebuild_command() -> str:
    """The one command that replaces the installed runtime with the portable build."""
    return (f'CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}" {sys.executable} -m pip install --force-reinstall --no-cache-dir '
            f"--no-deps {RUNTIME_REQUIREMENT}")


def probe(gguf: Path, *, timeout_s: float, tokens: int = 8, threads: int | None = None,
          prompt_repeat: int = 1) -> ProbeResult:
    """Load ``gguf`` in a child process and generate ``tokens`` tokens; report how it went, never raise."""
    command = [sys.executable, "-m", "grasp.models._probe", str(gguf), "--tokens", str(tokens),
               "--prompt-repeat", str(prompt_repeat)]
    if threads:
        command += ["--threads", str(threads)]
    try:
        child = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as expired:
        result = ProbeResult.from_fields(_reported(expired.stdout))
        result.failure = f"hung: no answer within {timeout_s:g} s (killed)"
        return result
    report = _reported(child.stdout)
    result = ProbeResult.from_fields(report)
    if child.returncode < 0:
        result.failure = f"killed by {_signal_name(-child.returncode)}"
    elif child.returncode > 0 or "done" not in report:
        tail = (child.stderr or "").strip().splitlines()[-1:] or [f"exit status {child.returncode}"]
        result.failure = f"failed: {tail[0][:300]}"
    return result


def check_runtime(gguf: Path, *, timeout_s: float = 180.0, remember: bool = True) -> ProbeResult:
    """Raise :class:`RuntimeBroken` with one line when the runtime cannot generate on this machine.

    A pass is remembered per build and CPU in the cache folder (``remember``), so it is paid once."""
    key = verdict_key()
    verdicts = _read_verdicts()
    if remember and key in verdicts:
        return ProbeResult.from_fields(verdicts[key].get("result") or {})
    result = probe(gguf, timeout_s=timeout_s)
    if not result.ok:
        raise RuntimeBroken(broken_line(result))
    if remember:
        verdicts[key] = {"checked": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "gguf": str(gguf), "result": asdict(result)}
        _write_verdicts(verdicts)
    return result


def broken_line(result: ProbeResult) -> str:
    return (f"the embedded runtime {result.failure} while generating its first tokens in a check "
            f"({result.build_line()}; this CPU: {cpu_facts().line()}); nothing was stored. "
            f"Rebuild it portably with: {rebuild_command()}")


def _reported(stdout: str | bytes | None) -> dict:
    """The child's JSON lines merged into one dict; a line cut off by a crash is skipped."""
    if isinstance(stdout, bytes):
        stdout = stdout.decode(errors="replace")
    seen: dict = {}
    for line in (stdout or "").splitlines():
        try:
            fields = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(fields, dict):
            seen.update(fields)
    return seen


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} (signal {number})"
    except ValueError:
        return f"signal {number}"


def _read_verdicts() -> dict:
    try:
        verdicts = json.loads((cache_dir() / VERDICTS).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return verdicts if isinstance(verdicts, dict) else {}


def _write_verdicts(verdicts: dict) -> None:
    """Remember the verdicts; a cache folder that cannot be written only means the check runs again next time."""
    target = cache_dir() / VERDICTS
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps(verdicts, indent=1), encoding="utf-8")
        os.replace(partial, target)
    except OSError:
        return  # not remembered: the check runs again at the next start
