"""Reading a saved-model folder that may be hostile: what may be opened, how much of it, and what a manifest holds.

A model folder can come from anywhere (a download, a colleague, a pull request), so loading treats it as
untrusted input. Every file is named relative to the folder and is opened only if each component of its path
is a real directory or regular file inside the folder: no ``..``, no absolute names, no symlinks, no devices or
FIFOs (a symlink to ``/dev/zero`` would make hashing run forever). The size is checked on the opened file
before a byte is read, so an oversized file costs nothing. The manifest's shape is checked before anything
trusts it, so a hand-edited manifest gives one clear error instead of a traceback deep inside a model class.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any, TypeVar

from bulkmod.errors import BulkmodError

MANIFEST = "manifest.json"
MODEL_FORMAT = "bulkmod-model/1"
MAX_WEIGHTS_ENV = "BULKMOD_MAX_WEIGHTS_MB"
# far above the shipped models (the largest weights file is 6 MB) and large random forests (hundreds of MB of
# LightGBM text), yet a bound on what one file may cost to hash and parse
DEFAULT_MAX_WEIGHTS_MB = 1024
MAX_MANIFEST_BYTES = 64 << 20  # a manifest is metadata: the shipped ones are < 100 kB
MAX_MEMBER_DEPTH = 4  # composite models nest members (an ensemble of blends is 2 deep); a crafted folder could nest
# thousands of member_<i>/ levels and exhaust the recursion limit
SHA256 = re.compile(r"[0-9a-f]{64}")
MEMBER = re.compile(r"member_\d+")
# manifest key -> the JSON types it may hold; the first four are required
MANIFEST_KEYS: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "model": (str,),
    "config": (dict,),
    "weights": (dict,),
    "name": (str,),
    "family": (str,),
    "conformal": (dict, type(None)),
    "train": (dict,),
    "domain": (dict,),
    "metrics": (dict,),
    "versions": (dict,),
    "created": (str,),
    "format_version": (int,),
}
REQUIRED_KEYS = ("format", "model", "config", "weights")
JSON_NAMES = {dict: "object", str: "string", int: "integer"}
T = TypeVar("T")


def max_weights_bytes() -> int:
    """The per-file size limit: ``$BULKMOD_MAX_WEIGHTS_MB`` megabytes, else the default."""
    value = os.environ.get(MAX_WEIGHTS_ENV) or str(DEFAULT_MAX_WEIGHTS_MB)
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise BulkmodError(f"{MAX_WEIGHTS_ENV}={value!r}: use a whole number of megabytes, e.g. 4096")
    return int(value) << 20


def _components(directory: Path, name: object) -> list[str]:
    """The parts of a relative name that stays inside ``directory`` (``member_0/model.lgbm.txt`` is fine)."""
    parts = PurePosixPath(name).parts if isinstance(name, str) and name and "\\" not in name else ()
    if not parts or PurePosixPath(name).is_absolute() or any(p in (".", "..") for p in parts) or "\0" in name:
        raise BulkmodError(
            f"{directory / MANIFEST}: file name {name!r} is not a plain path inside the model folder "
            "(absolute, '..', or empty); refusing to load: re-save the model with bulkmod"
        )
    return list(parts)


def _check_parents(directory: Path, parts: list[str]) -> Path:
    """``directory / parts``, after checking that every folder on the way is a real folder (not a symlink)."""
    path = directory
    for part in parts[:-1]:
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            raise BulkmodError(f"{path}: missing from the model folder") from None
        except OSError as exc:
            raise BulkmodError(f"{path}: cannot read this model folder ({exc.strerror})") from None
        if not stat.S_ISDIR(mode):
            raise BulkmodError(f"{path}: not a real folder inside the model (a symlink or a file); refusing to load")
    return path / parts[-1]


@contextmanager
def open_model_file(directory: Path, name: str, limit: int | None = None) -> Iterator[tuple[IO[bytes], int]]:
    """Open ``directory / name`` for reading; yield the file and its size.

    Refuses names leading outside the folder, symlinks (``O_NOFOLLOW``), and anything but a regular file
    (checked with ``fstat`` on the opened descriptor, so nothing can be swapped in between); ``O_NONBLOCK``
    keeps the open of a FIFO from blocking. ``limit`` (default :func:`max_weights_bytes`) caps the size.
    """
    path = _check_parents(directory, _components(directory, name))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise BulkmodError(f"{path}: file is missing from the model folder") from None
    except OSError as exc:  # ELOOP: a symlink
        raise BulkmodError(
            f"{path}: cannot open ({exc.strerror}); model files must be regular files, not symlinks"
        ) from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BulkmodError(f"{path}: not a regular file (a device, FIFO or folder); refusing to load")
        cap = max_weights_bytes() if limit is None else limit
        if info.st_size > cap:
            hint = f"; if you trust this model, raise it with {MAX_WEIGHTS_ENV}=<megabytes>" if limit is None else ""
            raise BulkmodError(f"{path}: {info.st_size} bytes exceeds the {cap >> 20} MB limit for this file{hint}")
        yield fh, info.st_size


def read_model_file(directory: Path, name: str, limit: int | None = None) -> bytes:
    """The bytes of a model file, checked as :func:`open_model_file` does (never more than the size limit)."""
    with open_model_file(directory, name, limit) as (fh, size):
        data = fh.read(size + 1)
    if len(data) != size:
        raise BulkmodError(f"{directory / name}: the file changed size while it was read; try again")
    return data


def sha256_model_file(directory: Path, name: str) -> str:
    """sha256 of a model file, reading no more than the size its ``fstat`` gave (and the limit allows)."""
    h = hashlib.sha256()
    with open_model_file(directory, name) as (fh, size):
        left = size
        while left and (block := fh.read(min(left, 1 << 20))):
            h.update(block)
            left -= len(block)
    return h.hexdigest()


def model_subdir(directory: Path, name: str) -> Path:
    """A member folder of a composite model: a real folder inside ``directory``, not too deeply nested."""
    path = _check_parents(directory, [*_components(directory, name), MANIFEST]).parent
    depth = next((i for i, part in enumerate(reversed(path.parts)) if not MEMBER.fullmatch(part)), len(path.parts))
    if depth > MAX_MEMBER_DEPTH:
        raise BulkmodError(f"{path}: members nested {depth} deep (at most {MAX_MEMBER_DEPTH}); refusing to load")
    return path


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of a model folder, after checking its type, size, JSON and the keys loading relies on."""
    path = directory / MANIFEST
    if not os.path.lexists(path):
        raise BulkmodError(f"{directory}: not a bulkmod model (no {MANIFEST})")
    raw = read_model_file(directory, MANIFEST, MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BulkmodError(f"{path}: corrupt manifest ({type(exc).__name__}: {exc}); re-save the model") from None
    if not isinstance(manifest, dict):
        raise BulkmodError(f"{path}: a manifest is a JSON object, not {type(manifest).__name__}; re-save the model")
    if manifest.get("format") != MODEL_FORMAT:
        raise BulkmodError(
            f"{path}: unsupported model format {manifest.get('format')!r} (this bulkmod reads {MODEL_FORMAT!r})"
        )
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise BulkmodError(f"{path}: manifest lacks {', '.join(missing)}; re-save the model with bulkmod")
    for key, types in MANIFEST_KEYS.items():
        if key in manifest and not isinstance(manifest[key], types):
            expected = " or ".join("null" if t is type(None) else JSON_NAMES[t] for t in types)
            raise BulkmodError(
                f"{path}: {key!r} must be a JSON {expected}, not {type(manifest[key]).__name__}; re-save the model"
            )
    version = manifest.get("format_version", 1)
    if isinstance(version, bool) or version < 1:  # a bool is an int to isinstance
        raise BulkmodError(f"{path}: 'format_version' must be a whole number >= 1, not {version!r}; re-save the model")
    for name, digest in manifest["weights"].items():
        _components(directory, name)
        if not isinstance(digest, str) or not SHA256.fullmatch(digest):
            raise BulkmodError(f"{path}: weights[{name!r}] must be a lowercase sha256 hex digest; re-save the model")
    return manifest


def verify_weights(directory: Path, manifest: dict[str, Any]) -> None:
    """Check every weights file the manifest lists: inside the folder, a regular file, under the limit, sha256."""
    for name, digest in manifest["weights"].items():
        if sha256_model_file(directory, name) != digest:
            raise BulkmodError(
                f"{directory / name}: sha256 does not match the manifest: file was modified; refusing to load"
            )


def listed_file(directory: Path, manifest: dict[str, Any], name: str) -> Path:
    """The path of a weights file for ``_read_weights``: only one the manifest lists.

    Those are the files :func:`verify_weights` has checked; an unlisted file would be read without any check.
    """
    if name not in manifest["weights"]:
        raise BulkmodError(
            f"{directory / MANIFEST}: the model needs {name} but 'weights' does not list it; "
            "the folder is incomplete or the manifest was edited: re-save the model"
        )
    return directory / name


def required(directory: Path, value: T | None, what: str) -> T:
    """A config value a fitted model cannot be without (``null`` only in a hand-edited manifest)."""
    if value is None:
        raise BulkmodError(f"{directory / MANIFEST}: {what} is null, but a fitted model has one; re-save the model")
    return value
