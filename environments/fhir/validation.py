"""Validate resources against the FHIR R4B models of fhir.resources.

Only validation: the models rewrite ``+00:00`` as ``Z`` and numbers as
Decimal, so we store and serve the original JSON, never the model's dump.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError


def validate_resource(resource: Any) -> str | None:
    """None when ``resource`` is a valid R4B resource, else a short description of the first problem."""
    if not isinstance(resource, dict):
        return "the body must be a JSON object"
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return "resourceType is missing"
    try:
        model = get_fhir_model_class(rtype)
    except (KeyError, ValueError):
        return f"unknown resourceType {rtype!r}"
    try:
        model.model_validate(resource)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or rtype
        return f"{where}: {first['msg']}"
    except (TypeError, ValueError) as error:
        return str(error)
    return None
