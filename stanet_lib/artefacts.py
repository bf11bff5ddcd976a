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
import shutil
import socket
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config
from .paths import DATA_DIR, PROJ_ROOT

__all__ = [
    "atomic_path", "write_bytes", "write_text", "write_json", "write_npz", "write_npz_streamed", "open_npz", "git_commit", "file_fingerprint",
    "digest", "make_manifest", "is_up_to_date", "file_sha256", "tensor_digest", "run_key", "OUTPUT_MARKER",
    "mark_output", "is_package_output", "pid_alive", "clean_partials", "DataRootLock", "LockHeld"
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


def write_npz_streamed(path: str | Path, members: Iterable[tuple[str, np.dtype, tuple[int, ...],
                                                                  Callable[[], Iterator[np.ndarray]]]]) -> Path:
    """An ``.npz`` written one member and one block at a time, atomically: for each ``(name, dtype, shape, blocks)``,
    ``blocks()`` yields the member's rows in order (C order, concatenated along axis 0 they make ``shape``). The
    file is what ``np.savez`` writes (a stored, uncompressed zip of ``.npy`` members, ZIP64 where needed), so
    ``np.load`` and :func:`open_npz` read it, but no member is ever whole in memory (NumPy's ``.npy`` format:
    ``numpy.lib.format``)."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, dtype, shape, blocks in members:
            dtype, shape = np.dtype(dtype), tuple(int(s) for s in shape)
            if not shape:
                raise ValueError(f"{path}: member {name}: a 0-d array (write_npz keeps those)")
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(
                    f, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
                rows = 0
                for block in blocks():
                    block = np.ascontiguousarray(block, dtype=dtype)
                    if block.shape[1:] != shape[1:]:
                        raise ValueError(f"{path}: member {name}: a block of shape {block.shape} in an array "
                                         f"of shape {shape}")
                    f.write(block.tobytes())
                    rows += len(block)
                if rows != shape[0]:
                    raise ValueError(f"{path}: member {name}: {rows} rows written, the shape says {shape}")
    return Path(path)


def open_npz(path: str | Path, mmap_from: int = 1 << 20) -> dict[str, np.ndarray]:
    """Every array of an uncompressed ``.npz`` (``np.savez``, :func:`write_npz`, :func:`write_npz_streamed`);
    members of at least ``mmap_from`` bytes are memory-mapped copy-on-write where they lie in the zip (a stored
    member is its ``.npy`` bytes after the zip's local header), the others read. A compressed member, or a
    dtype that cannot be mapped, is read as ``np.load`` would."""
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if info.compress_type != zipfile.ZIP_STORED or info.file_size < mmap_from:
                with zf.open(info) as f:
                    out[name] = np.lib.format.read_array(f, allow_pickle=False)
                continue
            raw.seek(info.header_offset)
            local = raw.read(30)  # the local file header: name and extra-field lengths at bytes 26-29
            if local[:4] != b"PK\x03\x04":
                raise ValueError(f"{path}: member {info.filename} has no local zip header")
            raw.seek(info.header_offset + 30 + int.from_bytes(local[26:28], "little")
                     + int.from_bytes(local[28:30], "little"))
            version = np.lib.format.read_magic(raw)
            readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in readers:
                raise ValueError(f"{path}: member {info.filename}: .npy format {version} not supported")
            shape, fortran, dtype = readers[version](raw)
            if dtype.hasobject:
                raise ValueError(f"{path}: member {info.filename} holds Python objects")
            out[name] = np.memmap(path, dtype=dtype, mode="c", offset=raw.tell(), shape=shape,
                                  order="F" if fortran else "C")
    return out


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


def file_fingerprint(path: str | Path, cache_dir: str | Path | None = None) -> str:
    """Identity of an input file: the sha256 of its bytes, so a byte-identical rewrite or a copy of the data folder
    keeps it (a run key made from it does not change).

    The digest is cached under ``cache_dir`` (default ``data/.digests/``), one small file per (absolute path, size,
    mtime, inode): an unchanged file is read once. The user's folders are never written to."""
    path = Path(path).resolve()
    st = path.stat()
    folder = Path(cache_dir) if cache_dir is not None else DATA_DIR / ".digests"
    entry = folder / digest([str(path), st.st_size, st.st_mtime_ns, st.st_ino])
    with contextlib.suppress(OSError):
        sha = entry.read_text().strip()
        if len(sha) == 64:
            return sha
    sha = file_sha256(path)
    with contextlib.suppress(OSError):
        write_text(entry, sha)
    return sha


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
            t = it.detach().cpu()
            if t.dim() > 0 and len(t) > 0:  # row blocks made contiguous one at a time: the whole tensor's bytes
                h.update(str((tuple(t.shape), t[:1].contiguous().numpy().dtype.str)).encode())
                step = max(1, (64 << 20) // max(1, t[:1].numel() * t.element_size()))
                for i in range(0, len(t), step):
                    h.update(t[i : i + step].contiguous().numpy().tobytes())
                continue
            it = t.contiguous().numpy()
        if isinstance(it, np.ndarray):
            h.update(str((it.shape, it.dtype.str)).encode())
            flat = np.ascontiguousarray(it).reshape(-1)  # a memmap stays mapped: hashed in 64 MiB pieces
            step = max(1, (64 << 20) // max(1, flat.itemsize))
            for i in range(0, len(flat), step):
                h.update(flat[i : i + step].tobytes())
        else:
            h.update(repr(it).encode())
    return h.hexdigest()[:16]

def run_key(cfg: Config, *parts: Any) -> str:
    """Identity of a training run: model and training config (less what does not change the result), plus the
    data and settings in ``parts``. A checkpoint folder of another run key is started over, never resumed."""
    train = {k: v for k, v in dataclasses.asdict(cfg.train).items() if k not in ("progress", "num_workers")}
    # model.switch_smoothing_s changes p_switch, which reaches a net only as data in ``parts``
    model = {k: v for k, v in dataclasses.asdict(cfg.model).items() if k != "switch_smoothing_s"}
    return tensor_digest(model, train, *parts)


# --------------------------------------------------------------------------- output folders, partials, locks

OUTPUT_MARKER = ".stanet_output"  # written into every output folder the package creates


def mark_output(folder: str | Path) -> Path:
    """Write the package's marker into ``folder`` (one the package created): only such a folder is ever replaced
    or removed by the package (``--overwrite``, the clean-up of killed runs)."""
    marker = Path(folder) / OUTPUT_MARKER
    return write_json(marker, {"written_by": "stanet_lib", "pid": os.getpid(), "created": time.time()})


def is_package_output(folder: str | Path) -> bool:
    """True when ``folder`` is a directory that carries the package's marker (:func:`mark_output`)."""
    folder = Path(folder)
    return folder.is_dir() and not folder.is_symlink() and (folder / OUTPUT_MARKER).is_file()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def clean_partials(parent: str | Path, name: str, log=print) -> list[Path]:
    """Remove ``.<name>.partial-PID`` / ``.<name>.old-PID`` folders in ``parent`` left by killed runs: only those
    whose process is gone and that carry the package's marker. Returns what was removed."""
    removed = []
    for path in sorted(Path(parent).glob(f".{name}.*-*")):
        kind, _, pid = path.name[len(name) + 2:].rpartition("-")
        if kind not in ("partial", "old") or not pid.isdigit() or int(pid) == os.getpid():
            continue
        if pid_alive(int(pid)) or not is_package_output(path):
            continue
        shutil.rmtree(path)
        removed.append(path)
        log(f"removed {path} (left by process {pid}, which is no longer running)")
    return removed


class LockHeld(RuntimeError):
    """Another live process holds the lock; the message names it."""


class DataRootLock:
    """One run per data root: ``<root>/.stanet.lock`` holds the owner's pid, host, command and start time.

    ``with DataRootLock(root, "run --profile demo"):`` refuses at once (:class:`LockHeld`, naming the running
    process) while a live process holds the lock; a lock whose process is gone (a killed run) is taken over."""

    def __init__(self, root: str | Path, what: str = "") -> None:
        self.path = Path(root) / ".stanet.lock"
        self.what = what

    def holder(self) -> dict[str, Any] | None:
        """The recorded owner, or None when there is no lock file or it does not parse."""
        try:
            return json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def _stale(self, owner: dict[str, Any] | None) -> bool:
        if owner is None:
            return True
        same_host = owner.get("host") == socket.gethostname()
        return same_host and not pid_alive(int(owner.get("pid", 0)))

    def acquire(self) -> None:
        """Create the lock file (exclusively); take over a stale one; raise :class:`LockHeld` otherwise."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "what": self.what,
                           "started": time.strftime("%Y-%m-%d %H:%M:%S")})
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self.holder()
                if not self._stale(owner):
                    raise LockHeld(
                        f"{self.path.parent}: another run uses this data root (pid {owner.get('pid')} on "
                        f"{owner.get('host')}, `{owner.get('what')}`, started {owner.get('started')}); wait for "
                        f"it to finish, or use another --data-root") from None
                self.path.unlink(missing_ok=True)  # its process is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(body)
            return
        raise LockHeld(f"{self.path}: could not take the lock (another run started at the same time)")

    def release(self) -> None:
        """Remove the lock file if this process owns it."""
        owner = self.holder()
        if owner and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> DataRootLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
