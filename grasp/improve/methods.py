"""A bench's methods as run configs: the base config with the method's preset, its seed and its own library."""

from __future__ import annotations

from ..config import RunConfig
from ..errors import ConfigError
from ..presets import METHODS, YARDSTICKS

__all__ = ["METHODS", "YARDSTICKS", "method_config"]


def method_config(base: RunConfig, method: str, *, seed: int, library: str) -> RunConfig:
    """``base`` run as ``method`` (grasp/presets.py), with ``seed`` and its own library."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r} (have: {', '.join(METHODS)})")
    data = base.model_dump(mode="json")
    data.update(method=method, seed=seed, library=library)
    return RunConfig.model_validate(data)
