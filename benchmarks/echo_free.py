"""What dropping the Bundle's echoed ``self`` link changes for the embedded executor, on recorded dev calls.

Takes a finished run's dev-side episodes (training batches, trials, probes: never val or test), finds each
executor call whose last message is a Bundle that carried a ``self`` link, and replays it twice through one
llama.cpp context at temperature 0 (the two arms in alternating order, so that each pays for the
shared head of half the calls): as recorded, and with the observation as the agent reads it now
(``environments.fhir.environment.without_echo``). Prints the tokens of those observations both ways, the
model seconds both ways, and how many replies are identical (a changed reply is printed whole).

Run: python benchmarks/echo_free.py --db bench/main8.db [--run RUN]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from environments.fhir.environment import without_echo  # noqa: E402
from grasp.models.weights import embedded_gguf  # noqa: E402


def bundle_calls(db: Path, run: str | None) -> list[list[dict[str, str]]]:
    with sqlite3.connect(db) as connection:
        if run is None:
            run = connection.execute("select id from runs where id like 'improve-%' order by id limit 1").fetchone()[0]
        rows = connection.execute("select record from episodes where run_id = ? and phase in "
                                  "('train', 'trial', 'probe', 'explore') order by id", (run,)).fetchall()
    calls, seen = [], set()
    for (record,) in rows:
        messages = json.loads(record)["messages"]
        for index, message in enumerate(messages):
            if message["role"] == "assistant" and index >= 3 and '"relation": "self"' in messages[index - 1]["content"]:
                key = json.dumps(messages[:index])
                if key not in seen:  # an identical call is served from the reply cache in a run
                    seen.add(key)
                    calls.append(messages[:index])
    return calls


def echo_free(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    head, _, rest = messages[-1]["content"].partition("\n")
    body, notice, tail = rest.partition("\n\n")
    return [*messages[:-1], {"role": "user", "content": f"{head}\n{without_echo(body)}{notice}{tail}"}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--run", default=None, help="an improve run id (default: the first in the database)")
    args = parser.parse_args()
    import llama_cpp

    calls = bundle_calls(args.db, args.run)
    llm = llama_cpp.Llama(model_path=str(embedded_gguf()), n_ctx=8192, seed=0, verbose=False)
    tokens = {"recorded": 0, "echo-free": 0}
    seconds = {"recorded": 0.0, "echo-free": 0.0}
    same = 0
    for index, messages in enumerate(calls):
        replies = {}
        arms = [("recorded", messages), ("echo-free", echo_free(messages))]
        for arm, shown in arms if index % 2 else arms[::-1]:  # alternated: the shared head is paid by each arm in turn
            tokens[arm] += len(llm.tokenize(shown[-1]["content"].encode(), add_bos=False))
            started = time.perf_counter()
            reply = llm.create_chat_completion(messages=shown, max_tokens=96, temperature=0.0, seed=0)
            seconds[arm] += time.perf_counter() - started
            replies[arm] = reply["choices"][0]["message"]["content"] or ""
        same += replies["recorded"] == replies["echo-free"]
        if replies["recorded"] != replies["echo-free"]:
            print(f"changed: {replies['recorded']!r} -> {replies['echo-free']!r}")
    print(f"{len(calls)} dev calls after a Bundle with a self link; identical replies {same}/{len(calls)}")
    for arm, count in tokens.items():
        print(f"{arm:>9}: observation tokens {count}, model time {seconds[arm]:.1f} s "
              f"(ratio {seconds[arm] / seconds['recorded']:.2f})")


if __name__ == "__main__":
    main()
