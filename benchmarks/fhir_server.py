"""FHIR environment figures: world build time and size, search latency (in process and over HTTP), memory.

Run: python benchmarks/fhir_server.py [--patients 100] [--queries 500]
Prints medians and 99th percentiles; the target is p50 under 1 ms in process on the default world.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from environments.fhir.server import create_app  # noqa: E402
from environments.fhir.storage import WorldStore  # noqa: E402
from environments.fhir.world import generate  # noqa: E402
from tests.helpers import serve  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def queries(patients: list[str], count: int) -> list[str]:
    rng = random.Random(0)
    out = []
    for _ in range(count):
        mrn, code = rng.choice(patients), rng.choice(["MG", "K", "GLU", "A1C"])
        out.append(f"Observation?patient={mrn}&code={code}&date=ge2024-03-14T09:30:00%2B00:00&_sort=-date")
    return out


async def timed(client: httpx.AsyncClient, urls: list[str]) -> list[float]:
    times = []
    for url in urls:
        start = time.perf_counter()
        response = await client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "world.db"
        start = time.perf_counter()
        store = WorldStore.open(42, args.patients, path=path)
        build_s = time.perf_counter() - start
        world = generate(42, args.patients)
        print(f"world: {len(world.resources)} resources, {path.stat().st_size / 1e6:.1f} MB, "
              f"built and validated in {build_s:.1f} s")
        urls = queries([p["id"] for p in world.patients()], args.queries)
        app = create_app(store)

        async def in_process() -> list[float]:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b/fhir/") as c:
                await timed(c, urls[:50])  # warm up
                return await timed(c, urls)

        local = asyncio.run(in_process())
        print(f"search in process: p50 {percentile(local, .5) * 1e3:.3f} ms, p99 {percentile(local, .99) * 1e3:.3f} ms "
              f"({len(local)} patient+code+date queries)")
        with serve(app) as base:
            async def over_http() -> list[float]:
                async with httpx.AsyncClient(base_url=f"{base}/fhir/") as c:
                    await timed(c, urls[:50])
                    return await timed(c, urls)

            remote = asyncio.run(over_http())
        print(f"search over HTTP:  p50 {percentile(remote, .5) * 1e3:.3f} ms, p99 {percentile(remote, .99) * 1e3:.3f} ms")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory of this process (world generation + server): {rss:.0f} MB")


if __name__ == "__main__":
    main()
