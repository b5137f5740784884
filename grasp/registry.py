"""Environments by name: built-in ones, ``package.module:Class``, or an entry point in the
``grasp.environments`` group, so that a user's own environment needs no driver script."""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points
from typing import Any

from .environment import Environment
from .errors import ConfigError, NotFoundError

BUILT_IN = ("fhir", "arithmetic", "medagentbench")


def load_environment(name: str, **options: Any) -> Environment:
    """A built-in environment; options left as None keep the environment's own defaults."""
    options = {key: value for key, value in options.items() if value is not None}
    if name == "fhir":
        from environments.fhir.environment import FhirEnvironment

        return FhirEnvironment(**{k: v for k, v in options.items() if k in {"base_url", "max_rounds"}})
    if name == "medagentbench":
        from environments.fhir.medagentbench import MedAgentBenchEnvironment

        missing = {"task_file", "base_url"} - set(options)
        if missing:
            raise NotFoundError(f"the medagentbench environment needs {', '.join(sorted(missing))}")
        return MedAgentBenchEnvironment(**options)
    if ":" in name:
        return _custom(name, _import(name), options)
    if name not in BUILT_IN:
        found = [point for point in entry_points(group="grasp.environments") if point.name == name]
        if found:
            return _custom(name, found[0].load(), options)
    if name == "arithmetic":
        from environments.arithmetic import ArithmeticEnvironment

        environment = ArithmeticEnvironment(**{k: v for k, v in options.items() if k in {"seed", "per_split"}})
        environment.max_rounds = options.get("max_rounds", environment.max_rounds)
        return environment
    installed = sorted(point.name for point in entry_points(group="grasp.environments"))
    raise NotFoundError(f"no environment {name!r} (have: {', '.join([*BUILT_IN, *installed])}; or name your own as "
                        "package.module:Class)")


def _import(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise NotFoundError(f"environment {spec!r}: cannot import {module_name!r} ({error})") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise NotFoundError(f"environment {spec!r}: {module_name!r} has no {attribute!r}") from None


def _custom(spec: str, factory: Any, options: dict[str, Any]) -> Environment:
    """Build a user's environment; options its constructor accepts are passed, max_rounds is set."""
    accepted = set(inspect.signature(factory).parameters) if callable(factory) else set()
    environment = factory(**{k: v for k, v in options.items() if k in accepted}) if callable(factory) else factory
    if not isinstance(environment, Environment):
        raise ConfigError(f"environment {spec!r} is a {type(environment).__name__}, not a grasp.Environment")
    if "max_rounds" in options and "max_rounds" not in accepted:
        environment.max_rounds = options["max_rounds"]
    return environment
