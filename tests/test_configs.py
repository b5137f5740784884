"""Every shipped run config loads, names families its environment has, and fits its own limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from grasp.config import RunConfig, load_yaml
from grasp.registry import load_environment

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_a_shipped_config_is_valid_and_names_real_families(path: Path) -> None:
    config = load_yaml(path, RunConfig)
    if config.families is None or config.environment not in {"fhir", "weather"}:
        return
    environment = load_environment(config.environment)
    known = {task.family for split in ("dev", "val", "test") for task in environment.tasks(split)}
    assert set(config.families) <= known, set(config.families) - known
