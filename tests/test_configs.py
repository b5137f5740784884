"""Every shipped run config loads, names families its environment has, and draws the tasks it asks for; the
config's user keys are the README's, and a method preset and the default limits behave as documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grasp.config import DEFAULT_LIMITS, ConfigError, RunConfig, load_yaml
from grasp.registry import load_environment

ROOT = Path(__file__).parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_a_shipped_config_is_valid_and_names_real_families(path: Path) -> None:
    config = load_yaml(path, RunConfig)
    environment = load_environment(config.environment)
    known = {task.family for split in ("dev", "val", "test") for task in environment.tasks(split)}
    assert set(config.families or known) <= known, set(config.families or known) - known
    dev = [task for task in environment.tasks("dev") if task.family in (config.families or known)]
    assert len(dev) >= config.batch_size + min(config.gate.probe_pool or config.probe_size, len(dev) // 3)


def test_every_user_key_is_listed_in_the_readme_and_the_rest_sit_under_advanced() -> None:
    table = (ROOT / "README.md").read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n## ", 1)[0]
    listed = {key for cell in re.findall(r"^\| (.+?) \|", table, flags=re.M) for key in re.findall(r"`(\w+)`", cell)}
    user_keys = set(RunConfig.model_fields) - {"advanced"}
    assert user_keys <= listed, user_keys - listed
    assert len(user_keys) <= 17
    with pytest.raises(ValueError, match="Extra inputs"):  # an advanced key at the top level is refused
        RunConfig.model_validate({"gate": {"rule": "strict"}})


def test_a_preset_wins_over_advanced_and_an_unknown_one_is_named(tmp_path: Path) -> None:
    config = RunConfig.model_validate({"method": "ungated-k1", "advanced": {"gate": {"rule": "grasp", "alpha": 0.1}}})
    assert config.gate.rule == "accept-all" and config.gate.alpha == 0.1 and not config.loop.trial
    assert RunConfig.model_validate(config.model_dump(mode="json")) == config  # a stored config reads back the same
    path = tmp_path / "run.yaml"
    path.write_text("method: gepa\n")
    with pytest.raises(ConfigError, match="unknown method 'gepa'"):
        load_yaml(path, RunConfig)


def test_limits_given_are_laid_over_the_defaults_and_null_means_the_whole_split() -> None:
    assert RunConfig().limits == DEFAULT_LIMITS
    assert RunConfig(limits={"test": 36, "val": None}).limits == {**DEFAULT_LIMITS, "test": 36, "val": None}
