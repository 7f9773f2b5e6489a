"""The videos of an M-VAE split: the rows (`load_dataset` on a folder or Hub id) and where their files are."""

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..arguments import one_line
from ..loading import resolve_dataset


VIDEO_FOLDER = "videos"
"""The video folder of a dataset folder (`<dataset>/videos/`, where `sherlock-build-synthetic` writes them)."""


@dataclass(frozen=True)
class VideoItem:
    """One video of the split: its id and the path of its file."""

    video_id: str
    path: str


MVAE_COLUMNS = ("video_id", "events")
"""The columns every M-VAE row has (`load_split_rows` checks them by default)."""


def load_split_rows(
    dataset: str,
    split: str,
    verbose: bool = False,
    config: str | None = None,
    columns: tuple[str, ...] | None = None,
) -> list[dict]:
    """The rows of `split` of a dataset (a folder or Hub id, read with `datasets.load_dataset`; `config` by name), as
    dicts, checked for `columns` (default: an M-VAE dataset's, `MVAE_COLUMNS`).

    `split="all"` gives the rows of every split (in the dataset's split order). `sherlock evaluate`, `precompute` and
    `train` (both stages: the pre-tuning set with its config and columns) read their rows here.

    Raises:
        `ImportError` naming the `data` extra when `datasets` is missing; `OSError` (one line) for a Hub id that
        cannot be used (`sherlock.loading.resolve_dataset`: checked once, without `datasets`' minute of retries);
        `ValueError` (one line) when the split cannot be loaded or the rows lack a column.
    """
    try:
        import datasets
    except ImportError as error:
        raise ImportError("this command needs the `datasets` package: pip install 'sherlock-mvae[data]'") from error
    if not verbose:
        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
    source = resolve_dataset(dataset)  # a Hub id: the Hub answers, or its cached snapshot folder, or one line
    which = None if split == "all" else split
    try:
        if Path(source).is_dir():
            # `datasets` caches a local folder under its NAME and card (not its files' content or times): a folder
            # rebuilt in place, or another folder of the same name, would be read from a stale cache. Read it fresh.
            with tempfile.TemporaryDirectory(prefix="sherlock-dataset-") as cache:
                loaded = datasets.load_dataset(source, config, split=which, cache_dir=cache, keep_in_memory=True)
        else:
            loaded = datasets.load_dataset(source, config, split=which)
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as error:
        named = f" ({config})" if config is not None else ""
        raise ValueError(f"cannot load split {split!r} of dataset {dataset!r}{named}: {one_line(error)}") from error
    parts = list(loaded.values()) if split == "all" else [loaded]
    for part in parts:
        missing = [name for name in (columns or MVAE_COLUMNS) if name not in part.column_names]
        if missing and columns is None:
            raise ValueError(f"dataset {dataset!r} is not an M-VAE dataset (no column {', '.join(missing)})")
        if missing:
            raise ValueError(f"dataset {dataset!r} has no column {', '.join(missing)}")
    return [row for part in parts for row in part]


def resolve_video_root(dataset: str, video_root: str | None) -> Path:
    """`video_root` when given, else `<dataset>/videos` for a dataset folder that has one.

    Raises:
        `ValueError` (one line) when neither gives an existing folder.
    """
    if video_root is not None:
        root = Path(os.path.expanduser(video_root))
        if not root.is_dir():
            raise ValueError(f"--video-root {video_root!r} is not a folder")
        return root
    default = Path(os.path.expanduser(dataset)) / VIDEO_FOLDER
    if default.is_dir():
        return default
    raise ValueError(
        f"where are the videos of {dataset!r}? Give --video-root (the folder the `video` column is relative to)"
    )


def video_items(rows: list[dict], video_root: Path) -> list[VideoItem]:
    """One `VideoItem` per row (`video_root / row["video"]`), in row order.

    Raises:
        `ValueError` (one line) for rows without a `video` file name and when video files are missing (how many,
        and the first few).
    """
    items, missing = [], []
    for row in rows:
        name = row.get("video")
        if not name:
            raise ValueError(f"row {row.get('video_id')!r} has no `video` file name")
        path = video_root / name
        if not path.is_file():
            missing.append(str(path))
        items.append(VideoItem(video_id=str(row["video_id"]), path=str(path)))
    if missing:
        raise ValueError(
            f"{len(missing)} of {len(rows)} video files are missing under {video_root} (e.g. {missing[0]})"
        )
    return items


__all__ = ["MVAE_COLUMNS", "VIDEO_FOLDER", "VideoItem", "load_split_rows", "resolve_video_root", "video_items"]
