"""What the portable runtime build costs against the native one: tokens/s of the embedded model, per build.

The README's commands build llama.cpp with AVX2-class kernels and no AVX-512 or AMX
(grasp.models.runtime.PORTABLE_CMAKE_ARGS), because the native build crashes on hosts with AVX-512
FP16/BF16 and AMX. On a host where the native build works, this measures what portability costs there:
each build runs the same child-process check as `grasp doctor` (a batched prompt decode, then one token at a
time) with the embedded 1.5B weights, several times, and the median of each is printed with the CPU.

Another build is given as a folder to put first on the child's path (a wheel unpacked there):

    pip wheel --no-deps --no-cache-dir -w /tmp/native llama-cpp-python==0.3.36   # default flags: native
    python -m zipfile -e /tmp/native/llama_cpp_python-*.whl /tmp/native-site
    python benchmarks/runtime_build.py --build native=/tmp/native-site [--repeats 3] [--tokens 64] [--prompt-repeat 12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grasp.models import runtime  # noqa: E402
from grasp.models.weights import embedded_gguf  # noqa: E402


def measure(name: str, path: str | None, gguf: Path, repeats: int, tokens: int, prompt_repeat: int) -> dict:
    if path:
        os.environ["PYTHONPATH"] = path + os.pathsep + os.environ.get("PYTHONPATH", "")
    else:
        os.environ.pop("PYTHONPATH", None)
    results = [runtime.probe(gguf, timeout_s=600, tokens=tokens, prompt_repeat=prompt_repeat) for _ in range(repeats)]
    broken = [result.failure for result in results if not result.ok]
    return {
        "build": name,
        "flags": " ".join(results[0].build_flags),
        "failure": broken[0] if broken else None,
        "prompt_tps": statistics.median(result.prompt_tokens_per_s for result in results),
        "generation_tps": statistics.median(result.generation_tokens_per_s for result in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="append", default=[], help="NAME=FOLDER: another build to measure")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--prompt-repeat", type=int, default=12, help="a prompt of about 45 x this many tokens")
    options = parser.parse_args()
    gguf = embedded_gguf()
    cpu = runtime.cpu_facts()
    print(f"cpu: {cpu.line()}")
    builds = [("installed", None)] + [tuple(item.split("=", 1)) for item in options.build]
    for name, path in builds:
        row = measure(name, path, gguf, options.repeats, options.tokens, options.prompt_repeat)
        print(f"{row['build']:>10}: prompt {row['prompt_tps']:7.1f} tok/s, generation {row['generation_tps']:6.1f} "
              f"tok/s{'  FAILED: ' + row['failure'] if row['failure'] else ''}  [{row['flags']}]")


if __name__ == "__main__":
    main()
