"""The built-in demo model of `sherlock analyze` (`--model demo`): a tiny RANDOMLY initialised Sherlock with tiny random
extractors, built locally on first use (nothing is downloaded). It exercises the whole pipeline — decoding, the
extractors, the feature cache, generation and parsing — but its answers are not meaningful: no trained Sherlock
checkpoint exists yet."""

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from .tiny_extractors import build_tiny_extractor_models, tiny_extractor_settings
from .tiny_models import build_tiny_sherlock


logger = logging.getLogger(__name__)

# 2: extractor models inside the folder, referenced relative to it; 3: expert initialisation and the action
# expert's per-person keypoints (`person_proj`): a folder built before would miss weights; 4: the stamp lists the files
# of the build with their sizes, so a folder missing one (or holding a truncated one) is rebuilt; relation capacity
# 120 (`DEMO_CAPACITIES`)
DEMO_VERSION = 4
DEMO_STAMP = "sherlock_demo.json"
# The demo's capacities (extractors and model config alike). Its random detector finds many overlapping boxes, so
# its relation capacity holds a relation for every pair of its objects (16 * 15 / 2; `box_relations` gives at most
# one per pair): the demo drops none, and the first command of a newcomer is not a capacity warning.
DEMO_CAPACITIES = {"max_persons": 8, "max_objects": 16, "max_relations": 16 * 15 // 2}
# Written next to the model by its use, not by the build: not part of what a complete demo folder must hold.
NOT_BUILT = ("feature_cache",)
EXAMPLE_VIDEO = Path(__file__).resolve().parents[1] / "examples" / "demo.mp4"


def default_demo_dir() -> Path:
    """`$SHERLOCK_HOME/demo-tiny-random` (default `~/.cache/sherlock/demo-tiny-random`)."""
    home = Path(os.environ.get("SHERLOCK_HOME", Path.home() / ".cache" / "sherlock"))
    return home / "demo-tiny-random"


def demo_extractor_settings(paths: dict[str, str]) -> dict:
    """The demo model's extractor settings for the tiny extractor models at `paths` (`build_tiny_extractor_models`)."""
    return tiny_extractor_settings(paths, **DEMO_CAPACITIES, threshold=0.15)


def _built_files(folder: Path) -> dict[str, int]:
    """`{relative path: size}` of the files a build wrote into `folder` (the stamp and `NOT_BUILT` left out)."""
    files = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and relative.parts[0] not in NOT_BUILT and relative.as_posix() != DEMO_STAMP:
            files[relative.as_posix()] = path.stat().st_size
    return files


def demo_problem(folder: Path) -> str | None:
    """Why `folder` is not a complete demo model of this version (`None`: it is)."""
    stamp = folder / DEMO_STAMP
    if not stamp.is_file():
        return f"no {DEMO_STAMP}" if folder.exists() else "not built yet"
    try:
        record = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"unreadable {DEMO_STAMP} ({exc})"
    if not isinstance(record, dict) or record.get("version") != DEMO_VERSION:
        version = record.get("version") if isinstance(record, dict) else None
        return f"demo version {version}, this is {DEMO_VERSION}"
    files = record.get("files")
    if not isinstance(files, dict) or not files:
        return f"{DEMO_STAMP} lists no files"
    for name, size in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} is incomplete ({path.stat().st_size} of {size} bytes)"
    return None


def ensure_demo_model(folder: str | Path | None = None) -> Path:
    """Return the demo model folder, building it first if it is missing, from another demo version, or lacks any
    file of its build (or holds one of another size: an interrupted write).

    The build goes into a temporary sibling folder, stamped there, then renamed into place: a reader (another
    process running the demo at the same time) never sees a half-built folder, and when two processes build at
    once, the first complete folder in place wins and the other build is discarded."""
    folder = Path(folder) if folder is not None else default_demo_dir()
    problem = demo_problem(folder)
    if problem is None:
        return folder
    if problem == "not built yet":
        logger.warning("Building the tiny random demo model in %s (first use only) ...", folder)
    else:
        logger.warning("Rebuilding the tiny random demo model in %s (%s) ...", folder, problem)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.building-", dir=folder.parent))
    try:
        with tempfile.TemporaryDirectory(prefix="sherlock-demo-extractors-") as scratch:
            settings = demo_extractor_settings(build_tiny_extractor_models(scratch))
            # the processor copies the extractor models into the folder (`extractor-<part>/`) and references them
            # relative to it, so the demo folder can be moved like any saved model
            build_tiny_sherlock(staging, extractors=settings, **DEMO_CAPACITIES)
        record = {"version": DEMO_VERSION, "random_weights": True, "files": _built_files(staging)}
        (staging / DEMO_STAMP).write_text(json.dumps(record, indent=1))
        _install(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when it was renamed into place
    return folder


def _install(staging: Path, folder: Path, attempts: int = 5) -> None:
    """Rename the complete build `staging` to `folder`; a damaged `folder` is first renamed aside (then removed).
    When another process put a complete folder in place meanwhile, `staging` is left to be discarded."""
    for _ in range(attempts):
        if demo_problem(folder) is None:
            return  # another process finished first
        if folder.exists() or folder.is_symlink():
            trash = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            try:
                os.rename(folder, trash / "old")
            except FileNotFoundError:
                pass  # another process moved it first
            finally:
                shutil.rmtree(trash, ignore_errors=True)
        try:
            os.rename(staging, folder)  # atomic: the folder appears whole
            return
        except OSError:
            if not folder.exists():
                raise
            # another process renamed its folder into place first: check it on the next turn
    raise RuntimeError(f"could not install the demo model in {folder}: other processes keep replacing it")


__all__ = ["EXAMPLE_VIDEO", "default_demo_dir", "demo_extractor_settings", "demo_problem", "ensure_demo_model"]
