"""Atomic writes and manifests (DESIGN.md "Data contracts").

Every artefact is written to a temporary file in the destination folder and renamed into place, so a crash
never leaves a half-written file under the final name. A manifest records the resolved config, the git commit
and the inputs an artefact was made from; ``is_up_to_date`` compares them so that a stage can be skipped.

Run keys: :func:`run_key` is the one identity of a training run (config + data content, :func:`tensor_digest`);
every net's checkpoint folder is keyed by it (:func:`stanet_lib.train.engine.fit`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config
from .paths import PROJ_ROOT

__all__ = [
    "atomic_path", "write_bytes", "write_text", "write_json", "write_npz", "git_commit", "file_fingerprint",
    "digest", "make_manifest", "is_up_to_date", "file_sha256", "tensor_digest", "run_key"
]


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    """``np.savez`` (uncompressed: decoding speed matters more than disk here), atomically."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return write_bytes(path, buf.getvalue())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def git_commit(root: Path = PROJ_ROOT) -> str:
    """The current commit (``+dirty`` when the tree has changes), or ``"unknown"`` outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def file_fingerprint(path: str | Path) -> str:
    """Cheap identity of an input file: size and mtime (ns). Content hashing 4,000 videos is too slow."""
    st = Path(path).stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def digest(obj: Any) -> str:
    """Stable short hash of a JSON-able object."""
    blob = json.dumps(obj, sort_keys=True, default=_json_default).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def make_manifest(config: dict[str, Any], inputs: dict[str, str], **extra: Any) -> dict[str, Any]:
    """A manifest: the resolved config, the inputs, their digests and the git commit, plus ``extra``."""
    return {"config": config, "config_digest": digest(config), "inputs": inputs,
            "inputs_digest": digest(inputs), "commit": git_commit(), **extra}


def is_up_to_date(manifest_path: str | Path, config: dict[str, Any], inputs: dict[str, str]) -> bool:
    """True when a manifest exists and records the same config and inputs (the commit is not compared)."""
    path = Path(manifest_path)
    if not path.exists():
        return False
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return old.get("config_digest") == digest(config) and old.get("inputs_digest") == digest(inputs)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in ``chunk``-byte blocks (artefact checks, pinned downloads)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tensor_digest(*items: Any) -> str:
    """Short sha256 of tensors / arrays / JSON-able values (the data a run was trained on). A torch tensor is
    hashed as the numpy array of its values (this module does not import torch)."""
    h = hashlib.sha256()
    for it in items:
        if hasattr(it, "detach") and hasattr(it, "numpy"):  # a torch.Tensor
            it = it.detach().cpu().contiguous().numpy()
        if isinstance(it, np.ndarray):
            h.update(str((it.shape, it.dtype.str)).encode())
            h.update(np.ascontiguousarray(it).tobytes())
        else:
            h.update(repr(it).encode())
    return h.hexdigest()[:16]

def run_key(cfg: Config, *parts: Any) -> str:
    """Identity of a training run: model and training config (less what does not change the result), plus the
    data and settings in ``parts``. A checkpoint folder of another run key is started over, never resumed."""
    train = {k: v for k, v in dataclasses.asdict(cfg.train).items() if k not in ("progress", "num_workers")}
    return tensor_digest(dataclasses.asdict(cfg.model), train, *parts)
