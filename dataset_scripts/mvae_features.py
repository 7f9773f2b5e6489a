"""The optional `features` config of M-VAE (`build_mvae --with-features`): the processor's expert features per video.

The processor's extractors run on the processor's frame sampling of each video, through its feature cache
(`--feature-cache-dir`, default the processor's `feature_cache_dir` else `~/.cache/sherlock/features`): a second run finds
every done video there and skips it (resumable). The config has one row per video with its id, split, content hash,
duration, frame times / indices and the seven expert arrays as nested lists (the background frames stay in the cache:
they are video pixels).
"""

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import datasets
from tqdm.auto import tqdm

from processing import SherlockProcessor, VideoDecodeError, video_content_hash


FEATURE_ARRAYS = {
    "pose_keypoints": (4, "float32"),
    "pose_mask": (2, "bool"),
    "object_boxes": (3, "float32"),
    "object_labels": (2, "int64"),
    "object_mask": (2, "bool"),
    "relation_triplets": (3, "int64"),
    "relation_mask": (2, "bool"),
}
"""The expert arrays of the `features` config: name -> (rank, dtype) (`EXPERT_ARRAY_NAMES` of the processor)."""


def _nested_feature(rank: int, dtype: str):
    feature = datasets.Value(dtype)
    for _ in range(rank):
        feature = datasets.List(feature)
    return feature


def features_config_features() -> datasets.Features:
    """`datasets.Features` of the `features` config."""
    return datasets.Features(
        {
            "video_id": datasets.Value("string"),
            "video": datasets.Value("string"),
            "split": datasets.Value("string"),
            "video_sha256": datasets.Value("string"),
            "duration": datasets.Value("float64"),
            "timestamps": datasets.List(datasets.Value("float64")),
            "frame_indices": datasets.List(datasets.Value("int64")),
            **{name: _nested_feature(rank, dtype) for name, (rank, dtype) in FEATURE_ARRAYS.items()},
        }
    )


def load_processor(processor):
    """A `SherlockProcessor` from a folder / Hub id (a processor object is returned as it is)."""
    if processor is None or not isinstance(processor, (str, os.PathLike)):
        return processor
    return SherlockProcessor.from_pretrained(str(processor))


def compute_features(
    rows: Sequence[dict], video_root: str | os.PathLike, processor, cache_dir: str | os.PathLike
) -> tuple[list[dict], list[dict], dict]:
    """Expert features of every row's video through the processor's sampling, extractors and feature cache.

    Returns (feature rows, rejects for videos that failed, {"computed", "skipped"}): a video whose entry is already
    in the cache is skipped (its arrays are read back), so an interrupted run resumes where it stopped.
    """
    processor.feature_cache_dir = str(cache_dir)
    out, rejects, counts = [], [], Counter(computed=0, skipped=0)
    for row in tqdm(rows, desc="expert features", unit="video"):
        path = Path(video_root) / row["video"]
        try:
            clip, arrays, computed = processor.video_features(path)
            video_hash = video_content_hash(path)
            counts["computed" if computed else "skipped"] += 1
        except (VideoDecodeError, ValueError, RuntimeError) as error:
            rejects.append(
                {
                    "level": "features",
                    "row": int(row["source"]["sheet_row"]),
                    "video_id": row["video_id"],
                    "reason": "feature_extraction_failed",
                    "detail": str(error),
                }
            )
            continue
        record = {
            "video_id": row["video_id"],
            "video": row["video"],
            "split": row["split"],
            "video_sha256": video_hash,
            "duration": float(clip.duration),
            "timestamps": [float(t) for t in clip.timestamps],
            "frame_indices": [int(i) for i in clip.frame_indices],
        }
        for name in FEATURE_ARRAYS:
            record[name] = arrays[name].tolist()
        out.append(record)
    return out, rejects, dict(counts)


def describe_extractors(settings: dict) -> str:
    """Backends and model names, e.g. "detector: rt_detr (`rtdetr_r50vd`)" (a local path shows its folder name)."""
    parts = []
    for name, part in sorted(settings.items()):
        if not isinstance(part, dict):
            parts.append(f"{name}: {part}")
            continue
        model = part.get("model")
        if model and os.path.isabs(str(model)):
            model = Path(str(model)).name
        parts.append(f"{name}: {part.get('backend', '?')}" + (f" (`{model}`)" if model else ""))
    return ", ".join(parts)


__all__ = ["FEATURE_ARRAYS", "compute_features", "describe_extractors", "features_config_features", "load_processor"]
