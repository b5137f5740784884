"""Split manifests: the fixed tasks of each split, with a content hash runs record."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, model_validator

from grasp.errors import NotFoundError, ValidationError
from grasp.tasks import Task

MANIFEST_DIR = Path(__file__).parent


class Manifest(BaseModel):
    """Every task of an environment, dealt into named splits that never share a task."""

    environment: str
    world: dict[str, Any] = {}
    splits: dict[str, list[Task]]

    @model_validator(mode="after")
    def _disjoint(self) -> "Manifest":
        seen: dict[str, str] = {}
        for split, tasks in self.splits.items():
            for task in tasks:
                if task.id in seen:
                    raise ValueError(f"task {task.id} is in both {seen[task.id]} and {split}")
                seen[task.id] = split
        return self

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1, ensure_ascii=False) + "\n"

    def split(self, name: str) -> list[Task]:
        if name not in self.splits:
            raise NotFoundError(f"no split {name!r} in the {self.environment} manifest (have: {', '.join(self.splits)})")
        return list(self.splits[name])

    def counts(self) -> dict[str, dict[str, int]]:
        """Tasks per family in each split."""
        result: dict[str, dict[str, int]] = {}
        for split, tasks in self.splits.items():
            per_family: dict[str, int] = {}
            for task in tasks:
                per_family[task.family] = per_family.get(task.family, 0) + 1
            result[split] = dict(sorted(per_family.items()))
        return result

    def write(self, path: Path) -> None:
        path.write_text(self.canonical_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFoundError(f"{path}: no such manifest") from None
        except ValueError as error:
            raise ValidationError(f"{path}: not a valid manifest ({error})") from None


def manifest_path(environment: str) -> Path:
    return MANIFEST_DIR / f"{environment}.json"
