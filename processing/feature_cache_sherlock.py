# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The expert-feature cache: extractor outputs stored as safetensors next to a JSON manifest, so the extractors run
once per video for training, evaluation and repeated analysis.

Layout of a cache folder:

    <cache_dir>/<clip_key[:2]>/<clip_key>/<entry_key>.safetensors   the arrays (numpy in, numpy out)
    <cache_dir>/<clip_key[:2]>/<clip_key>/<entry_key>.json          the manifest: what the entry was computed from

`clip_key` hashes the video content hash and the sampled frame times; `entry_key` hashes the extractor ids as well.
A changed video (content), other frame times or another extractor (model, threshold, weights: put
`weights_fingerprint(model)` into the extractor id) is a different key, so stale features are never served. Frame
times are keyed at float32 precision (decord's): 18.72 and `np.float32(18.72)` are the same time, the same key.

Writes go to a temporary file first and are renamed into place, so an interrupted run leaves no half-written file. An
entry that cannot be trusted anyway (a truncated or unreadable safetensors file, an unparsable manifest, another
`format_version`, arrays missing or not as the manifest lists them) is a miss: `load` logs a warning naming the file
and the reason and raises `FeatureCacheMiss`, `contains` answers False, so the caller recomputes the features and its
`save` replaces the entry.

This file ships to the Hub as remote code: it may import only the standard library, torch, numpy, transformers and
single-dot siblings.
"""

import hashlib
import json
import os
import re
import struct
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file
from transformers.utils import logging

from .video_sherlock import round_seconds


logger = logging.get_logger(__name__)

CACHE_FORMAT_VERSION = 1
WEIGHT_FILE_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "config.json")
_SAFETENSORS_MAX_HEADER = 100_000_000  # the limit safetensors itself enforces
_SAFETENSORS_DTYPES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16", "I16": "int16", "U32": "uint32", "I32": "int32",
    "U64": "uint64", "I64": "int64", "F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64",
}  # fmt: skip


class FeatureCacheMiss(KeyError):
    """No cached features for a video / frame times / extractor combination (raised by `FeatureCache.load`), or an
    entry that cannot be used (corrupt, truncated, another format version: a warning says which file and why)."""


class _UnusableEntry(Exception):
    """A cache entry whose files exist but cannot be trusted (the message is the reason)."""


def _digest(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def _key_times(timestamps) -> list[float]:
    """Frame times as the keys see them: float32 precision (decord's), written as the float64 of that float32.

    Frame times go through float32 in decord (and often in tensors and files); two times with the same float32 are
    the same frame time (at one hour float32 still resolves 0.25 ms, far below any frame spacing). So 18.72, the
    float32 of 18.72 (18.719999313...) and 18.7200001 give the same key, while 18.72 and 18.76 do not.
    """
    times32 = np.asarray(timestamps, dtype=np.float64).reshape(-1).astype(np.float32)
    return times32.astype(np.float64).tolist()


def clip_key(video_hash: str, timestamps) -> str:
    """Key of a sampled clip: the video content hash and its frame times (at float32 precision, see `_key_times`)."""
    return _digest({"video": video_hash, "timestamps": _key_times(timestamps)})


def entry_key(video_hash: str, timestamps, extractor_ids: dict[str, str]) -> str:
    """Key of one cache entry: the clip key and the ids of the extractors that produced the features."""
    return _digest({"clip": clip_key(video_hash, timestamps), "extractors": dict(sorted(extractor_ids.items()))})


class FeatureCache:
    """Expert features on disk, keyed by (video content hash, frame times, extractor ids).

    Args:
        cache_dir (`str` or `os.PathLike`): the folder (created on first write).

    Example:

    ```python
    >>> cache = FeatureCache("~/.cache/sherlock/features")
    >>> cache.save(video_hash, timestamps, {"pose": "vitpose:..."}, {"pose_keypoints": keypoints})
    >>> cache.load(video_hash, timestamps, {"pose": "vitpose:..."})["pose_keypoints"].shape
    ```
    """

    def __init__(self, cache_dir: str | os.PathLike):
        self.cache_dir = Path(cache_dir).expanduser()

    def _clip_dir(self, video_hash: str, timestamps) -> Path:
        key = clip_key(video_hash, timestamps)
        return self.cache_dir / key[:2] / key

    def _paths(self, video_hash: str, timestamps, extractor_ids: dict[str, str]) -> tuple[Path, Path]:
        key = entry_key(video_hash, timestamps, extractor_ids)
        folder = self._clip_dir(video_hash, timestamps)
        return folder / f"{key}.safetensors", folder / f"{key}.json"

    def contains(self, video_hash: str, timestamps, extractor_ids: dict[str, str]) -> bool:
        """Whether a usable entry exists for exactly these inputs: both files present, the manifest readable and of
        this `format_version`, the safetensors header complete and listing the manifest's arrays (headers only, no
        array is read). An unusable entry answers False (with a warning), so callers that skip cached clips recompute
        it."""
        tensors, manifest = self._paths(video_hash, timestamps, extractor_ids)
        if not (tensors.is_file() and manifest.is_file()):
            return False
        try:
            _checked_description(manifest, video_hash, timestamps, extractor_ids)
        except _UnusableEntry:
            return False
        return True

    def load(self, video_hash: str, timestamps, extractor_ids: dict[str, str] | None = None) -> dict[str, np.ndarray]:
        """Read the features of a clip.

        Args:
            video_hash, timestamps: the clip.
            extractor_ids: the extractors that must have produced them; `None` accepts the clip's only expert-feature
                entry (the `precomputed` backend, which does not know how the features were made; entries saved
                with `extra={"kind": "pixels"}` — the processor's cached pixel values — are not candidates).

        Raises:
            FeatureCacheMiss: nothing cached for these inputs (or several entries and no `extractor_ids`), or the
                entry is unusable: a truncated or unreadable safetensors file, an unparsable manifest, another
                `format_version`, arrays missing or not as the manifest lists them. An unusable entry is logged as a
                warning naming the file and the reason; a later `save` of the same inputs replaces it.
        """
        if extractor_ids is not None:
            tensors, manifest = self._paths(video_hash, timestamps, extractor_ids)
            if not (tensors.is_file() and manifest.is_file()):
                raise FeatureCacheMiss(f"no cached features for video {video_hash[:12]} with {extractor_ids}")
            return _load_entry(manifest, video_hash, timestamps, extractor_ids)
        folder = self._clip_dir(video_hash, timestamps)
        candidates, unusable = [], 0
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            tensors = path.with_suffix(".safetensors")
            if not tensors.is_file():
                continue
            try:
                description = _read_manifest(path)
            except _UnusableEntry as reason:
                _warn_unusable(path, reason)
                unusable += 1
                continue
            if description.get("kind", "features") != "features":
                continue
            try:
                _check_arrays(description, _safetensors_header(tensors))
            except _UnusableEntry as reason:
                _warn_unusable(tensors, reason)
                unusable += 1
                continue
            candidates.append(path)
        if len(candidates) != 1:
            skipped = f"; {unusable} unusable entries skipped" if unusable else ""
            raise FeatureCacheMiss(
                f"{len(candidates)} cached feature entries for video {video_hash[:12]} at these frame times in "
                f"{self.cache_dir} (need exactly one when the extractors are not named{skipped})"
            )
        return _load_entry(candidates[0], video_hash, timestamps)

    def save(
        self,
        video_hash: str,
        timestamps,
        extractor_ids: dict[str, str],
        features: dict[str, np.ndarray],
        extra: dict | None = None,
    ) -> Path:
        """Store the features of a clip (atomically) and return the safetensors path."""
        tensors, manifest = self._paths(video_hash, timestamps, extractor_ids)
        tensors.parent.mkdir(parents=True, exist_ok=True)
        arrays = {name: np.ascontiguousarray(value) for name, value in features.items()}
        description = {
            "format_version": CACHE_FORMAT_VERSION,
            "video_hash": video_hash,
            "timestamps": round_seconds(np.asarray(timestamps, dtype=np.float64).reshape(-1)).tolist(),
            "extractor_ids": dict(sorted(extractor_ids.items())),
            "arrays": {name: {"shape": list(a.shape), "dtype": str(a.dtype)} for name, a in arrays.items()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        description = {**(extra or {}), **description}  # `extra` (source, kind, ...) never overrides these
        for path, write in (
            (tensors, lambda tmp: save_file(arrays, tmp)),
            (manifest, lambda tmp: Path(tmp).write_text(json.dumps(description, indent=2, sort_keys=True))),
        ):
            handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            os.close(handle)
            try:
                write(tmp)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
        logger.debug("cached %d arrays for video %s at %s", len(arrays), video_hash[:12], tensors)
        return tensors


# ------------------------------------------------------------------------------------------------ entry checking

_warned: set = set()
_warned_lock = threading.Lock()


def _warn_unusable(path: Path, reason) -> None:
    """Warn once per file state (path, size, mtime) that an entry is unusable and treated as a miss."""
    try:
        info = path.stat()
        state = (str(path), info.st_size, info.st_mtime_ns)
    except OSError:
        state = (str(path), None, None)
    with _warned_lock:
        if state in _warned:
            return
        _warned.add(state)
    logger.warning(
        "feature cache: ignoring %s: %s (a cache miss; saving these features again replaces it)", path, reason
    )


def _read_manifest(path: Path) -> dict:
    """The manifest of an entry, or `_UnusableEntry` when it cannot be read, parsed or is of another format."""
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise _UnusableEntry(f"unreadable manifest ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise _UnusableEntry(f"unparsable manifest ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    if not isinstance(description, dict):
        raise _UnusableEntry(f"manifest is a JSON {type(description).__name__}, not an object")
    version = description.get("format_version")
    if version != CACHE_FORMAT_VERSION:
        raise _UnusableEntry(f"manifest format_version {version!r}, this code reads {CACHE_FORMAT_VERSION}")
    arrays = description.get("arrays")
    if not isinstance(arrays, dict) or not all(
        isinstance(spec, dict) and isinstance(spec.get("shape"), list) for spec in arrays.values()
    ):
        raise _UnusableEntry("manifest has no valid 'arrays' listing")
    return description


def _safetensors_header(path: Path) -> dict[str, dict]:
    """`{name: {"shape": [...], "dtype": numpy dtype name}}` from a safetensors file's header, checking that the file
    holds all the data it declares (what a truncated file fails); reads only the header."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise _UnusableEntry(f"truncated safetensors file ({size} bytes, no header)")
            (length,) = struct.unpack("<Q", prefix)
            if length > min(_SAFETENSORS_MAX_HEADER, size - 8):
                raise _UnusableEntry(f"truncated safetensors file (header of {length} bytes in a {size}-byte file)")
            header = json.loads(handle.read(length).decode("utf-8"))
    except OSError as exc:
        raise _UnusableEntry(f"unreadable safetensors file ({exc})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _UnusableEntry(f"unreadable safetensors header ({exc})") from exc
    if not isinstance(header, dict):
        raise _UnusableEntry("unreadable safetensors header (not a JSON object)")
    found, end = {}, 0
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        try:
            found[name] = {"shape": [int(n) for n in spec["shape"]], "dtype": _SAFETENSORS_DTYPES.get(spec["dtype"])}
            end = max(end, int(spec["data_offsets"][1]))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise _UnusableEntry(f"unreadable safetensors header (bad entry for {name!r})") from exc
    if 8 + length + end != size:
        raise _UnusableEntry(f"truncated safetensors file ({size} bytes, its header declares {8 + length + end})")
    return found


def _check_arrays(description: dict, found: dict) -> None:
    """`_UnusableEntry` unless the safetensors file holds exactly the arrays the manifest lists, with their shapes and
    dtypes; `found` is `{name: {"shape": [...], "dtype": numpy dtype name}}` (a dtype None is not compared)."""
    listed = description["arrays"]
    if set(listed) != set(found):
        missing, extra = sorted(set(listed) - set(found)), sorted(set(found) - set(listed))
        raise _UnusableEntry(
            f"arrays do not match the manifest (missing from the safetensors file: {missing}; not in the manifest: "
            f"{extra})"
        )
    for name, spec in listed.items():
        shape, dtype = list(found[name]["shape"]), found[name]["dtype"]
        if shape != list(spec["shape"]):
            raise _UnusableEntry(f"array {name!r} has shape {shape}, the manifest says {spec['shape']}")
        if dtype is not None and "dtype" in spec and dtype != spec["dtype"]:
            raise _UnusableEntry(f"array {name!r} has dtype {dtype}, the manifest says {spec['dtype']}")


def _check_identity(description: dict, video_hash: str, timestamps, extractor_ids: dict[str, str] | None) -> None:
    """`_UnusableEntry` unless the manifest describes the clip that was asked for: a foreign entry (copied or renamed
    from another video, other frame times or other extractors) lies where its key says it should not."""
    if description.get("video_hash") != video_hash:
        raise _UnusableEntry(f"it belongs to video {str(description.get('video_hash'))[:12]}, not {video_hash[:12]}")
    if _key_times(description.get("timestamps") or []) != _key_times(timestamps):
        raise _UnusableEntry("it was made at other frame times")
    if extractor_ids is not None and description.get("extractor_ids") != dict(sorted(extractor_ids.items())):
        raise _UnusableEntry(f"it was made by other extractors ({description.get('extractor_ids')})")


def _checked_description(manifest: Path, video_hash: str, timestamps, extractor_ids: dict[str, str] | None) -> dict:
    """The manifest of the entry at `manifest` when it describes this clip and its safetensors header is complete and
    lists the manifest's arrays (headers only, no array is read); otherwise `_UnusableEntry`, with `.path` the damaged
    file, after a warning naming it."""
    tensors = manifest.with_suffix(".safetensors")
    path = manifest
    try:
        description = _read_manifest(manifest)
        _check_identity(description, video_hash, timestamps, extractor_ids)
        path = tensors
        _check_arrays(description, _safetensors_header(tensors))  # truncation and listing, from the header alone
    except _UnusableEntry as reason:
        _warn_unusable(path, reason)
        reason.path = path
        raise
    return description


def _load_entry(
    manifest: Path, video_hash: str, timestamps, extractor_ids: dict[str, str] | None = None
) -> dict[str, np.ndarray]:
    """The arrays of the entry whose manifest is `manifest`, checked against it and against the clip asked for;
    `FeatureCacheMiss` (after a warning naming the file and the reason) when the entry is unusable or foreign."""
    tensors = manifest.with_suffix(".safetensors")
    try:
        description = _checked_description(manifest, video_hash, timestamps, extractor_ids)
    except _UnusableEntry as reason:
        raise FeatureCacheMiss(f"unusable cache entry {reason.path}: {reason}") from reason
    try:
        try:
            arrays = load_file(tensors)
        except Exception as exc:  # safetensors raises its own SafetensorError (bad header, bad dtype), OSError, ...
            raise _UnusableEntry(f"unreadable safetensors file ({type(exc).__name__}: {exc})") from exc
        _check_arrays(
            description, {name: {"shape": list(a.shape), "dtype": str(a.dtype)} for name, a in arrays.items()}
        )
    except _UnusableEntry as reason:
        _warn_unusable(tensors, reason)
        raise FeatureCacheMiss(f"unusable cache entry {tensors}: {reason}") from reason
    return arrays


# --------------------------------------------------------------------------------------------- weights fingerprint


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


# In-process memory of file digests, keyed by the file's state, so a large weight file is read once per process. The
# state includes ctime (any write changes it, `os.utime` cannot set it back); the digest itself depends only on bytes.
_FILE_DIGESTS: dict[tuple, str] = {}
_FILE_DIGESTS_LOCK = threading.Lock()
_HUB_LFS_BLOB = re.compile(r"[0-9a-f]{64}")


def file_digest(path) -> str:
    """SHA-256 (hex) of a file's bytes, remembered for this process while the file stays unchanged (same size, times
    and inode). A Hub cache blob of an LFS file is named by that very digest, so it is not read."""
    real = Path(os.path.realpath(path))
    if real.parent.name == "blobs" and _HUB_LFS_BLOB.fullmatch(real.name):
        return real.name
    info = real.stat()
    state = (str(real), info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)
    with _FILE_DIGESTS_LOCK:
        known = _FILE_DIGESTS.get(state)
    if known is not None:
        return known
    hasher = hashlib.sha256()
    with open(real, "rb") as file:
        for block in iter(lambda: file.read(1 << 22), b""):
            hasher.update(block)
    digest = hasher.hexdigest()
    with _FILE_DIGESTS_LOCK:
        _FILE_DIGESTS[state] = digest
    return digest


def weights_fingerprint(name_or_path, revision: str | None = None, cache_dir=None) -> str:
    """A short string that changes when a model's weights change: put it into the extractor ids that key the cache.

    Args:
        name_or_path: a local model folder or weight file, or a Hub model id.
        revision (`str`, *optional*): the Hub revision the model is loaded at (branch, tag or commit; defaults to
            `"main"`). A full 40-character commit hash is returned as it is.
        cache_dir (`str` or `os.PathLike`, *optional*): the Hub cache folder (defaults to huggingface_hub's).

    Returns:
        * a local folder: 16 hex digits of SHA-256 over the relative names and the contents (`file_digest`) of its
          weight files (`*.safetensors`, `*.bin`, `*.pt`, `*.pth` and `config.json`, in subfolders too, hidden
          folders skipped): weights changed in place give a new fingerprint, while a moved, renamed or copied folder
          keeps it (file times do not count: `cp -r` does not keep them); a local weight file: the same over that
          one file;
        * a Hub id: the commit hash its revision resolves to in the local Hub cache (no network access);
        * a Hub id that is not in the local cache: the id itself (with `@revision` when one is given).
    """
    path = Path(os.fspath(name_or_path)).expanduser()
    if path.is_dir() or path.is_file():
        if path.is_dir():
            files = []
            for folder, subfolders, names in os.walk(path):
                subfolders[:] = sorted(name for name in subfolders if not _is_hidden(name))
                files += [
                    Path(folder, name)
                    for name in names
                    if not _is_hidden(name) and any(Path(name).match(pattern) for pattern in WEIGHT_FILE_PATTERNS)
                ]
        else:
            files = [path]
        listing = []
        for file in sorted(files):
            name = file.relative_to(path).as_posix() if path.is_dir() else file.name
            listing.append([name, file_digest(file)])  # follows links (a Hub snapshot links to its blobs)
        return _digest({"weights": listing})[:16]
    name = os.fspath(name_or_path)
    if revision is not None and re.fullmatch(r"[0-9a-f]{40}", revision):
        return revision
    commit = _cached_commit(name, revision or "main", cache_dir)
    if commit is not None:
        return commit
    return name if revision is None else f"{name}@{revision}"


def _cached_commit(repo_id: str, revision: str, cache_dir) -> str | None:
    """The commit hash that `revision` of the Hub model `repo_id` resolves to in the local Hub cache, or None."""
    if cache_dir is None:
        try:
            from huggingface_hub import constants

            cache_dir = constants.HF_HUB_CACHE
        except ImportError:
            return None
    repo_folder = Path(cache_dir).expanduser() / ("models--" + repo_id.replace("/", "--"))
    ref = repo_folder / "refs" / revision
    try:
        commit = ref.read_text(encoding="utf-8").strip() if ref.is_file() else ""
    except OSError:
        commit = ""
    if re.fullmatch(r"[0-9a-f]{40}", commit) and (repo_folder / "snapshots" / commit).is_dir():
        return commit
    snapshots = repo_folder / "snapshots"
    if revision == "main" and not ref.exists() and snapshots.is_dir():
        only = [entry.name for entry in snapshots.iterdir() if re.fullmatch(r"[0-9a-f]{40}", entry.name)]
        if len(only) == 1:  # a cache filled by a pinned download: its one snapshot
            return only[0]
    return None


__all__ = [
    "CACHE_FORMAT_VERSION",
    "WEIGHT_FILE_PATTERNS",
    "FeatureCache",
    "FeatureCacheMiss",
    "clip_key",
    "entry_key",
    "file_digest",
    "weights_fingerprint",
]
