# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The expert-feature cache: extractor outputs stored as safetensors next to a JSON manifest, so the extractors run
once per video for training, evaluation and repeated analysis.

Layout of a cache folder:

    <cache_dir>/<clip_key[:2]>/<clip_key>/<entry_key>.safetensors   the arrays (numpy in, numpy out)
    <cache_dir>/<clip_key[:2]>/<clip_key>/<entry_key>.json          the manifest: what the entry was computed from

`clip_key` hashes the video content hash and the sampled frame times; `entry_key` hashes the extractor ids as well.
A changed video (content), other frame times or another extractor (model, threshold, ...) is a different key, so
stale features are never served. Writes go to a temporary file first and are renamed into place, so an interrupted
run leaves no half-written entry.

This file ships to the Hub as remote code: it may import only the standard library, torch, numpy, transformers and
single-dot siblings.
"""

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file
from transformers.utils import logging


logger = logging.get_logger(__name__)

CACHE_FORMAT_VERSION = 1


class FeatureCacheMiss(KeyError):
    """No cached features for a video / frame times / extractor combination (raised by `FeatureCache.load`)."""


def _digest(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def clip_key(video_hash: str, timestamps) -> str:
    """Key of a sampled clip: the video content hash and its frame times (rounded to the microsecond)."""
    times = [round(float(t), 6) for t in np.asarray(timestamps, dtype=np.float64).reshape(-1)]
    return _digest({"video": video_hash, "timestamps": times})


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
        """Whether an entry exists for exactly these inputs."""
        tensors, manifest = self._paths(video_hash, timestamps, extractor_ids)
        return tensors.is_file() and manifest.is_file()

    def load(self, video_hash: str, timestamps, extractor_ids: dict[str, str] | None = None) -> dict[str, np.ndarray]:
        """Read the features of a clip.

        Args:
            video_hash, timestamps: the clip.
            extractor_ids: the extractors that must have produced them; `None` accepts the clip's only expert-feature
                entry (the `precomputed` backend, which does not know how the features were made; entries saved
                with `extra={"kind": "pixels"}` — the processor's cached pixel values — are not candidates).

        Raises:
            FeatureCacheMiss: nothing cached for these inputs (or several entries and no `extractor_ids`).
        """
        if extractor_ids is not None:
            tensors, manifest = self._paths(video_hash, timestamps, extractor_ids)
            if not (tensors.is_file() and manifest.is_file()):
                raise FeatureCacheMiss(f"no cached features for video {video_hash[:12]} with {extractor_ids}")
            return load_file(tensors)
        folder = self._clip_dir(video_hash, timestamps)
        entries = sorted(folder.glob("*.json")) if folder.is_dir() else []
        entries = [
            path
            for path in entries
            if path.with_suffix(".safetensors").is_file()
            and json.loads(path.read_text()).get("kind", "features") == "features"
        ]
        if len(entries) != 1:
            raise FeatureCacheMiss(
                f"{len(entries)} cached feature entries for video {video_hash[:12]} at these frame times in "
                f"{self.cache_dir} (need exactly one when the extractors are not named)"
            )
        return load_file(entries[0].with_suffix(".safetensors"))

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
            "timestamps": [round(float(t), 6) for t in np.asarray(timestamps).reshape(-1)],
            "extractor_ids": dict(sorted(extractor_ids.items())),
            "arrays": {name: {"shape": list(a.shape), "dtype": str(a.dtype)} for name, a in arrays.items()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **(extra or {}),
        }
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


__all__ = ["CACHE_FORMAT_VERSION", "FeatureCache", "FeatureCacheMiss", "clip_key", "entry_key"]
