"""The child side of the runtime check (grasp/models/runtime.py): load a GGUF, generate a few tokens, report.

It prints one JSON line as soon as the runtime is imported (its version and build flags), so that the
parent can name them even when the next step kills this process, then one line with the measured speed
and ``"done"``. It runs the same kernels a run does: a batched prompt ``decode``, then one token at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

PROMPT = ("You answer questions from an API. List the steps to find a record's most recent measurement: "
          "search for it, sort by date, read the first entry, and answer with its value.")


def build_flags(system_info: str) -> list[str]:
    """``llama_print_system_info`` lists ``NAME = 1`` for each CPU feature the build compiled in."""
    flags = []
    for part in system_info.replace("|", "\n").splitlines():
        name, _, value = part.partition("=")
        name = name.split(":")[-1].strip()
        if name and value.strip() == "1":
            flags.append(name)
    return flags


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grasp.models._probe")
    parser.add_argument("gguf")
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--prompt-repeat", type=int, default=1, help="the prompt this many times: a longer batch")
    options = parser.parse_args(argv)

    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    info = info.decode(errors="replace") if isinstance(info, bytes) else str(info)
    say(version=getattr(llama_cpp, "__version__", "unknown"), build_flags=build_flags(info))
    threads = options.threads or max(1, os.cpu_count() or 1)
    prompt_text = " ".join([PROMPT] * options.prompt_repeat)
    n_ctx = 512 * (1 + (options.prompt_repeat * 45 + options.tokens) // 512)
    llm = llama_cpp.Llama(model_path=options.gguf, n_ctx=n_ctx, n_threads=threads, seed=0, verbose=False)
    prompt = llm.tokenize(prompt_text.encode())
    started = time.perf_counter()
    llm.eval(prompt)  # one batched decode: the path that crashed on AVX-512 FP16/AMX hosts
    prompt_s = time.perf_counter() - started
    say(prompt_tokens=len(prompt), prompt_tokens_per_s=round(len(prompt) / max(prompt_s, 1e-9), 1), threads=threads)
    started = time.perf_counter()
    generated = 0
    for _ in range(options.tokens):
        token = llm.sample(temp=0.0)
        if llm.token_eos() == token:
            break
        llm.eval([token])  # one token at a time: the other decode path
        generated += 1
    generation_s = time.perf_counter() - started
    say(generated_tokens=generated, generation_tokens_per_s=round(generated / max(generation_s, 1e-9), 1), done=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
