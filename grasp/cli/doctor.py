"""`grasp doctor`: what the embedded model runs on here, and whether it runs at all.

A user whose run died, or who is about to start a long one, needs the facts a bug report needs: the
runtime's version and build flags, the CPU's features, the weights' sha256, and a measured speed from a
child process (so that a runtime that crashes is reported, not obeyed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ModelError
from ..models import runtime
from ..models.weights import GGUF_SHA256, embedded_gguf, sha256_of
from ._common import console


def doctor_command(
    gguf: Annotated[Path | None, typer.Option(help="A GGUF to check instead of the embedded weights.")] = None,
    tokens: Annotated[int, typer.Option(help="Tokens to generate for the speed measurement.")] = 64,
    threads: Annotated[int | None, typer.Option(help="Threads [default: every core].")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds before the check counts the runtime as hung.")] = 300.0,
) -> None:
    """Check the embedded runtime on this machine: build, CPU, weights, and a measured tokens/s."""
    cpu = runtime.cpu_facts()
    console.print(f"cpu: {cpu.line()}", markup=False)
    if not runtime.runtime_installed():
        raise ModelError('the embedded runtime is not installed: pip install -e ".[local]" '
                         f'(portable build: CMAKE_ARGS="{runtime.PORTABLE_CMAKE_ARGS}")')
    if gguf is None:
        weights = embedded_gguf()
        console.print(f"weights: {weights} sha256 {GGUF_SHA256} (verified against the pinned hash)", markup=False)
    else:
        if not gguf.is_file():
            raise ModelError(f"{gguf}: no such GGUF file")
        weights = gguf
        console.print(f"weights: {weights} sha256 {sha256_of(weights)}", markup=False)
    result = runtime.probe(weights, timeout_s=timeout, tokens=tokens, threads=threads, prompt_repeat=12)
    console.print(f"runtime: {result.build_line()}", markup=False)
    console.print(f"portable rebuild: {runtime.rebuild_command()}", markup=False)
    if not result.ok:
        raise runtime.RuntimeBroken(runtime.broken_line(result))
    console.print(f"check: passed in a child process; prompt {result.prompt_tokens_per_s:g} tokens/s "
                  f"({result.prompt_tokens} tokens), generation {result.generation_tokens_per_s:g} tokens/s "
                  f"({result.generated_tokens} tokens), {result.threads} thread(s)", markup=False)
