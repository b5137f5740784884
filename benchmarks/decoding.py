"""Executor call speed of the embedded model under llama.cpp decoding options, on recorded calls.

Replays the executor calls of a finished run (its dev and val episodes, never test) through fresh
llama.cpp contexts, one per arm, in the recorded order (so each arm sees the same prefix reuse as
the run did), and prints per arm: total and median seconds per call, prompt and completion tokens
per second of model time, the ratio to the plain arm, and how many replies are identical to the
plain arm's. An arm that changes replies changes what a run learns; speed alone does not choose it.

Arms: plain (the shipped settings), flash (flash attention), and lookupN (prompt-lookup speculative
decoding drafting N tokens copied from the prompt: actions mostly copy a skill's URL and the task's
identifiers).

Run: python benchmarks/decoding.py --db bench/main7.db [--run RUN] [--calls 40] [--arms plain,flash,lookup4]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grasp.models.weights import embedded_gguf  # noqa: E402


def recorded_calls(db: Path, run: str | None, count: int) -> list[list[dict[str, str]]]:
    """The executor's requests of one run's dev-side episodes (train, val, gate, trial), in order."""
    with sqlite3.connect(db) as connection:
        if run is None:
            run = connection.execute("select id from runs where id like 'improve-%' order by id limit 1").fetchone()[0]
        rows = connection.execute(
            "select record from episodes where run_id = ? and phase != 'test' order by id", (run,)).fetchall()
    calls: list[list[dict[str, str]]] = []
    for (record,) in rows:
        messages = json.loads(record)["messages"]
        calls += [messages[:index] for index, message in enumerate(messages) if message["role"] == "assistant"]
    return calls[:count]


def build(arm: str, gguf: Path) -> Any:
    import llama_cpp
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    options: dict[str, Any] = {"model_path": str(gguf), "n_ctx": 8192, "seed": 0, "verbose": False}
    if arm == "flash":
        options["flash_attn"] = True
    elif arm.startswith("lookup"):
        options["draft_model"] = LlamaPromptLookupDecoding(num_pred_tokens=int(arm.removeprefix("lookup")))
        options["logits_all"] = True  # llama-cpp-python sizes its logits buffer from this flag, not the draft
    elif arm != "plain":
        raise SystemExit(f"unknown arm {arm!r}: plain, flash or lookupN")
    return llama_cpp.Llama(**options)


def replay(llm: Any, calls: list[list[dict[str, str]]]) -> tuple[list[float], list[str], int, int]:
    seconds, replies, prompt, completion = [], [], 0, 0
    for messages in calls:
        started = time.perf_counter()
        reply = llm.create_chat_completion(messages=messages, max_tokens=96, temperature=0.0, seed=0)
        seconds.append(time.perf_counter() - started)
        replies.append(reply["choices"][0]["message"]["content"] or "")
        prompt += reply["usage"]["prompt_tokens"]
        completion += reply["usage"]["completion_tokens"]
    return seconds, replies, prompt, completion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--run", default=None, help="an improve run id (default: the first in the database)")
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--arms", default="plain,flash,lookup4")
    args = parser.parse_args()
    calls = recorded_calls(args.db, args.run, args.calls)
    gguf = embedded_gguf()
    print(f"{len(calls)} recorded executor calls; the first arm is the base of the ratio", flush=True)
    base_total, base_replies = 0.0, []
    for arm in args.arms.split(","):
        llm = build(arm, gguf)
        seconds, replies, prompt, completion = replay(llm, calls)
        llm.close()
        total = sum(seconds)
        if not base_replies:
            base_total, base_replies = total, replies
        same = sum(a == b for a, b in zip(replies, base_replies, strict=True))
        print(f"{arm:>9}: {total:6.1f} s total, median {statistics.median(seconds):.2f} s/call, "
              f"{prompt / total:5.0f} prompt tok/s, {completion / total:4.1f} completion tok/s of model time, "
              f"ratio {total / base_total:.2f}, identical replies {same}/{len(calls)}", flush=True)


if __name__ == "__main__":
    main()
