# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Paths in a saved processor: extractor models carried into the folder and referenced relative to it.

A saved processor folder must travel (be copied, moved or pushed to the Hub): `save_pretrained` copies every local
extractor model into `extractor-<part>/` and writes `./extractor-<part>`; `from_pretrained` resolves such references
against the folder it loads from (for a Hub repo, its snapshot folder, after downloading them). No absolute path is
ever saved.

This file ships to the Hub as remote code: it may import only the standard library, torch, numpy, transformers and
single-dot siblings.
"""

import copy
import os
import shutil
import warnings
from pathlib import Path

from transformers.utils import PROCESSOR_NAME, logging

from .extractors_sherlock import EXTRACTOR_PATH_SETTINGS


logger = logging.get_logger(__name__)

# Prefix of a path saved relative to the processor's folder (a Hub id never starts with it).
RELATIVE_PREFIX = "./"
# The feature cache's former setting name (before issue 20): `from_pretrained` takes `cache_dir` for its downloads.
LEGACY_FEATURE_CACHE_KEY = "cache_dir"


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def _relative_reference(path: Path, folder: Path) -> str:
    return RELATIVE_PREFIX + path.relative_to(folder).as_posix()


def relocate_extractor_settings(settings: dict, save_directory) -> dict:
    """The extractor settings to save in `save_directory`: every local model folder or file they name (under
    `EXTRACTOR_PATH_SETTINGS`) is copied into `save_directory/extractor-<part>/` unless it lies inside `save_directory`
    already, and referenced relative to it (`./extractor-<part>`); Hub ids stay ids.

    Raises `ValueError` for a path that looks local (absolute, `./`, `../`, `~`) but does not exist.
    """
    folder = Path(save_directory).resolve()
    out = copy.deepcopy(settings)
    for part, part_settings in out.items():
        if not isinstance(part_settings, dict):
            continue
        for key in EXTRACTOR_PATH_SETTINGS:
            value = part_settings.get(key)
            if not isinstance(value, str) or not value:
                continue
            local = Path(os.path.expanduser(value))
            if not local.exists():
                if local.is_absolute() or value.startswith((".", "~")):
                    raise ValueError(
                        f"The {part} extractor's {key} {value!r} is a local path that does not exist: the saved "
                        "folder could not carry it. Point it at an existing folder or at a Hub id."
                    )
                continue  # a Hub id
            source = local.resolve()
            if _is_inside(source, folder):
                part_settings[key] = _relative_reference(source, folder)
                continue
            if source.is_dir() and _is_inside(folder, source):
                raise ValueError(
                    f"Cannot save into {folder}: it lies inside the {part} extractor's model folder {source}, which "
                    "would be copied into itself."
                )
            target = folder / f"extractor-{part}"
            if source.is_dir():
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(source, target)
            else:
                target.mkdir(parents=True, exist_ok=True)
                target = target / source.name
                shutil.copy2(source, target)
            part_settings[key] = _relative_reference(target, folder)
    return out


def relative_feature_cache_dir(feature_cache_dir, save_directory):
    """The `feature_cache_dir` to save: relative (`./...`) when it lies inside the saved folder, else `None` (an
    absolute path would not travel with the folder)."""
    if feature_cache_dir is None:
        return None
    folder = Path(save_directory).resolve()
    path = Path(os.path.expanduser(str(feature_cache_dir))).resolve()
    if _is_inside(path, folder):
        return _relative_reference(path, folder)
    logger.warning(
        f"The feature cache {feature_cache_dir} lies outside {save_directory}: `feature_cache_dir` is saved as None (a "
        "saved folder holds no absolute path); set `processor.feature_cache_dir` after loading."
    )
    return None


def upgrade_legacy_keys(processor_dict: dict) -> dict:
    """A saved processor config with its deprecated keys renamed: `cache_dir` (the feature cache, named so before
    issue 20; the name clashes with `from_pretrained`'s download folder) becomes `feature_cache_dir`, with a
    `FutureWarning`; a `null` one (nothing to carry over) is dropped without a word. A config that has both keeps
    `feature_cache_dir`."""
    if LEGACY_FEATURE_CACHE_KEY not in processor_dict:
        return processor_dict
    out = dict(processor_dict)
    legacy = out.pop(LEGACY_FEATURE_CACHE_KEY)
    if legacy is None:
        return out
    warnings.warn(
        f"This processor config names its feature cache `{LEGACY_FEATURE_CACHE_KEY}`, which is deprecated and will "
        "stop loading in a future version: it is now `feature_cache_dir`. Save the processor again "
        "(`processor.save_pretrained(folder)`) to update the config.",
        FutureWarning,
        stacklevel=3,
    )
    out.setdefault("feature_cache_dir", legacy)
    return out


def relative_references(processor_dict: dict) -> list[str]:
    """The `./` references of a saved processor config (extractor models), without the prefix."""
    references = []
    for part_settings in (processor_dict.get("extractors") or {}).values():
        if isinstance(part_settings, dict):
            for key in EXTRACTOR_PATH_SETTINGS:
                value = part_settings.get(key)
                if isinstance(value, str) and value.startswith(RELATIVE_PREFIX):
                    references.append(value[len(RELATIVE_PREFIX) :])
    return references


def resolve_saved_paths(processor_dict: dict, root) -> dict:
    """A saved processor config with its folder-relative references (`./...` extractor models and `feature_cache_dir`)
    resolved against `root`, the folder it was loaded from (for a Hub repo, its snapshot folder)."""
    root = Path(root)
    out = dict(processor_dict)

    def resolve(value):
        if isinstance(value, str) and value.startswith(RELATIVE_PREFIX):
            return str(root / value[len(RELATIVE_PREFIX) :])
        return value

    if isinstance(out.get("extractors"), dict):
        extractors = copy.deepcopy(out["extractors"])
        for part_settings in extractors.values():
            if isinstance(part_settings, dict):
                for key in EXTRACTOR_PATH_SETTINGS:
                    if key in part_settings:
                        part_settings[key] = resolve(part_settings[key])
        out["extractors"] = extractors
    if "feature_cache_dir" in out:
        out["feature_cache_dir"] = resolve(out["feature_cache_dir"])
    return out


def hub_root(repo_id: str, references: list[str], kwargs: dict) -> Path:
    """The snapshot folder of a Hub repo (with `subfolder`), after downloading the folders of `references` into it."""
    from transformers.utils.hub import cached_file, snapshot_download

    hub = {
        "cache_dir": kwargs.get("cache_dir"),
        "revision": kwargs.get("revision"),
        "token": kwargs.get("token"),
        "local_files_only": kwargs.get("local_files_only", False),
    }
    subfolder = kwargs.get("subfolder") or ""
    config_file = cached_file(repo_id, PROCESSOR_NAME, subfolder=subfolder, **hub)
    root = Path(config_file).parent
    if references:
        prefix = f"{subfolder.strip('/')}/" if subfolder else ""
        patterns = [pattern for ref in references for pattern in (f"{prefix}{ref}", f"{prefix}{ref}/*")]
        snapshot_download(repo_id, allow_patterns=patterns, force_download=kwargs.get("force_download", False), **hub)
    return root


__all__ = [
    "LEGACY_FEATURE_CACHE_KEY",
    "RELATIVE_PREFIX",
    "hub_root",
    "relative_feature_cache_dir",
    "relative_references",
    "relocate_extractor_settings",
    "resolve_saved_paths",
    "upgrade_legacy_keys",
]
