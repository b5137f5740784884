"""The weather network environment: a REST API that is not FHIR, built only with the hooks a user writes."""

from .environment import WeatherEnvironment

__all__ = ["WeatherEnvironment"]
