# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Uploading a folder to the Hub: the one guard that every upload runs, and the commit that makes a repo mirror a
selection of the folder's files. `sherlock push` (`sherlock.push`) and the dataset builders' `--push-to-hub`
(`dataset_scripts.dataset_io.HubArguments`) both go through here.

The guard (`guard_folder`): no symbolic link anywhere in the folder (a link could point anywhere: only the folder's own
files are ever pushed) and no pickle file (`.bin`, `.pt`, `.pth`, `.pkl`, `.pickle`, `.ckpt`: weights are safetensors
only). Then only the files that an explicit allow-list selects are pushed (`select_files`); the others are left out
with one log line naming them. A Hub id is checked before anything is uploaded (`check_hub_id`): a local path (`./out`,
`../x`, `/abs`, `~/x`, an existing local folder) is never taken for one.
"""

import fnmatch
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path


logger = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
# What a dataset repo holds (relative paths, fnmatch patterns; `*` also matches `/`): the card, the parquet shards, the
# rejects, the videos of a dataset that ships them (`sherlock-build-synthetic`) and its feature cache.
DATASET_FILES = (
    "README.md",
    "*.parquet",
    "rejects.jsonl",
    *(f"videos/*{suffix}" for suffix in VIDEO_SUFFIXES),
    "features/*.safetensors",
    "features/*.json",
)


class PushError(ValueError):
    """A folder or an id that cannot be pushed as asked (one line naming what is wrong)."""


def guard_folder(folder: str | Path, local_only: Sequence[str] = ()) -> list[str]:
    """The folder's files (sorted relative POSIX paths) after the checks every upload runs: a symbolic link or a
    pickle file anywhere in the folder is a `PushError` naming them. `local_only`: top-level folders (fnmatch
    patterns, e.g. a training run's `checkpoint-*`) that are never pushed, so neither checked nor listed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PushError(f"{folder} is not a folder")

    def walk(predicate):
        for path in folder.rglob("*"):
            top = path.relative_to(folder).parts[0]
            if predicate(path) and not any(fnmatch.fnmatch(top, pattern) for pattern in local_only):
                yield path.relative_to(folder).as_posix()

    links = sorted(walk(Path.is_symlink))
    if links:
        raise PushError(f"{folder} holds symbolic links ({', '.join(links)}): replace them with the files themselves")
    files = sorted(walk(Path.is_file))
    pickles = [name for name in files if name.lower().endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise PushError(
            f"{folder} holds pickle files ({', '.join(pickles)}): only safetensors are pushed; remove or convert them"
        )
    return files


def select_files(files: Iterable[str], patterns: Sequence[str], names: Iterable[str] = ()) -> tuple[list, list]:
    """`(pushed, left out)` of `files`: those that one of `patterns` (fnmatch) matches or that `names` lists exactly,
    and the others (hidden files, e.g. `.gitattributes`, are left out without being named)."""
    names = set(names)
    pushed, skipped = [], []
    for name in files:
        if name in names or any(fnmatch.fnmatch(name, pattern) for pattern in patterns):
            pushed.append(name)
        elif not any(part.startswith(".") for part in name.split("/")):
            skipped.append(name)
    return pushed, skipped


def check_hub_id(value: str, what: str = "repo id") -> str:
    """`value` when it is a Hub repo id (`name` or `namespace/name`); a local path (written as one, or naming an
    existing local folder) or a malformed id is a `PushError`."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    text = str(value)
    if text.startswith((".", "/", "~")) or "\\" in text or text.endswith("/") or Path(text).expanduser().is_dir():
        raise PushError(f"{what} {text!r} is a local path, not a Hub repo id (namespace/name)")
    try:
        validate_repo_id(text)
    except HFValidationError:
        raise PushError(f"{what} {text!r} is not a Hub repo id (namespace/name)") from None
    return text


def mirror_commit(
    folder: str | Path,
    repo_id: str,
    files: Sequence[str],
    repo_type: str = "model",
    contents: dict[str, bytes | str] | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool = False,
    commit_message: str = "Upload",
) -> str:
    """Create the repo if needed and make it hold exactly `files` (paths relative to `folder`) and `contents`
    ({path in repo: bytes, or the path of a local file}, which win over a file of the same path), in one commit: remote files outside them are
    deleted. Binary files go through the Hub's LFS / Xet pre-upload. An unchanged selection makes no commit. Returns
    the commit URL."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    check_hub_id(repo_id)
    contents = contents or {}
    folder = Path(folder)
    operations = [CommitOperationAdd(name, data) for name, data in contents.items()]
    operations += [CommitOperationAdd(name, str(folder / name)) for name in files if name not in contents]
    api = HfApi(endpoint=endpoint, token=token)
    extra = {"space_sdk": "gradio"} if repo_type == "space" else {}
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **extra)
    keep = {operation.path_in_repo for operation in operations} | {".gitattributes"}
    remote = api.list_repo_files(repo_id, repo_type=repo_type)
    operations += [CommitOperationDelete(name) for name in remote if name not in keep]
    commit = api.create_commit(repo_id, operations, repo_type=repo_type, commit_message=commit_message)
    logger.info("pushed %d file(s) to %s", len(keep) - 1, repo_id)
    return str(commit.commit_url)


def push_dataset_folder(
    folder: str | Path,
    repo_id: str,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool = False,
    commit_message: str = "Upload dataset",
) -> str:
    """Push a built dataset folder (the layout of `dataset_scripts.dataset_io`) to a dataset repo: the guard, then the
    files `DATASET_FILES` selects, mirrored (a shard dropped by a rebuild is removed from the repo too); returns the
    commit URL. `endpoint`: another Hub-compatible server (tests use a local one); default `HF_ENDPOINT` or hf.co."""
    check_hub_id(repo_id)
    pushed, skipped = select_files(guard_folder(folder), DATASET_FILES)
    if "README.md" not in pushed:
        raise PushError(f"{folder} is not a dataset folder: no README.md (the dataset card)")
    if skipped:
        logger.warning("not pushed (outside what a dataset repo holds): %s", ", ".join(skipped))
    url = mirror_commit(
        folder, repo_id, pushed, "dataset", token=token, endpoint=endpoint, private=private,
        commit_message=commit_message,
    )  # fmt: skip
    logger.info("uploaded %s to %s", folder, repo_id)
    return url


__all__ = [
    "DATASET_FILES",
    "PICKLE_SUFFIXES",
    "PushError",
    "check_hub_id",
    "guard_folder",
    "mirror_commit",
    "push_dataset_folder",
    "select_files",
]
