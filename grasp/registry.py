"""Built-in environments by name; custom ones are passed as objects to the Python API."""

from __future__ import annotations

from typing import Any

from .environment import Environment
from .errors import NotFoundError

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
    if name == "arithmetic":
        from environments.arithmetic import ArithmeticEnvironment

        environment = ArithmeticEnvironment(**{k: v for k, v in options.items() if k in {"seed", "per_split"}})
        environment.max_rounds = options.get("max_rounds", environment.max_rounds)
        return environment
    raise NotFoundError(f"no built-in environment {name!r} (have: {', '.join(BUILT_IN)})")
