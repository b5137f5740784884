"""A small world shared by the FHIR tests: built once per test session into a temp folder."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

import pytest

from environments.fhir.environment import FhirEnvironment
from environments.fhir.families import WorldIndex
from environments.fhir.server import EPISODE_HEADER, create_app
from environments.fhir.storage import WorldStore
from environments.fhir.tasks import draw_manifest
from environments.fhir.world import generate
from probes.manifest import Manifest

SEED, PATIENTS = 7, 30


@pytest.fixture(scope="session")
def world_store(tmp_path_factory: pytest.TempPathFactory) -> WorldStore:
    path: Path = tmp_path_factory.mktemp("world") / "world.db"
    return WorldStore.open(SEED, PATIENTS, path=path)


@pytest.fixture(scope="session")
def world_index() -> WorldIndex:
    return WorldIndex(generate(SEED, PATIENTS))


@pytest.fixture(scope="session")
def manifest() -> Manifest:
    return draw_manifest(SEED, PATIENTS, sizes={"dev": 4, "val": 2, "test": 2}, ood_per_family=6)


@pytest.fixture
def env(world_store: WorldStore, manifest: Manifest) -> FhirEnvironment:
    return FhirEnvironment(manifest=manifest, world_store=world_store)


@pytest.fixture
def get(world_store: WorldStore):
    """GET (or another method) against the in-process server, as one episode."""
    app = create_app(world_store)

    def fetch(url: str, episode: str = "t", method: str = "GET", body: object = None) -> httpx.Response:
        async def run() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/fhir/") as client:
                return await client.request(method, url, headers={EPISODE_HEADER: episode},
                                            content=None if body is None else json.dumps(body))
        return asyncio.run(run())

    return fetch
