"""The built-in demo model of `sherlock analyze` (`--model demo`, the default): a tiny Sherlock TRAINED on synthetic
videos (`make demo-model`, `sherlock.demo_training`), shipped in the package as `demo_model/` with the extractors it was
trained with (RT-DETR, ViTPose and SAM 2 trained on the synthetic renderer's ground truth). Its record,
`demo_model/demo_training.json`, holds the commands that made it and its metrics on held-out synthetic videos.

It knows synthetic scenes only: on real footage its answers mean nothing. `ensure_demo_model` copies it into
`$SHERLOCK_HOME/demo-<digest>` on first use (a writable folder: its feature cache goes next to it); nothing is
downloaded."""

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path


logger = logging.getLogger(__name__)

# 2: extractor models inside the folder, referenced relative to it; 3: expert initialisation and the action
# expert's per-person keypoints (`person_proj`): a folder built before would miss weights; 4: the stamp lists the files
# of the build with their sizes, so a folder missing one (or holding a truncated one) is rebuilt; relation capacity
# 120 (`DEMO_CAPACITIES`); 5: the trained demo model, copied from the package (issue 21)
DEMO_VERSION = 5
DEMO_STAMP = "sherlock_demo.json"
# The demo's capacities (extractors and model config alike): a relation for every pair of its objects (16 * 15 / 2;
# `box_relations` gives at most one per pair), so the demo drops none and says nothing about capacities.
DEMO_CAPACITIES = {"max_persons": 8, "max_objects": 16, "max_relations": 16 * 15 // 2}
# Written next to the model by its use, not by the build: not part of what a complete demo folder must hold.
NOT_BUILT = ("feature_cache",)
EXAMPLE_VIDEO = Path(__file__).resolve().parents[1] / "examples" / "demo.mp4"
SHIPPED_DEMO_DIR = Path(__file__).resolve().parent / "demo_model"
SHIPPED_FILES = ("config.json", "model.safetensors", "processor_config.json", "demo_training.json")


def default_demo_dir() -> Path:
    """`$SHERLOCK_HOME/demo-<digest>` (default home `~/.cache/sherlock`): one folder per shipped weights (the first 12
    hex digits of their sha256), so installations that ship other weights never replace each other's copy."""
    home = Path(os.environ.get("SHERLOCK_HOME", Path.home() / ".cache" / "sherlock"))
    digest = _shipped_digest(SHIPPED_DEMO_DIR)
    return home / (f"demo-{digest[:12]}" if digest else "demo")


def shipped_demo_dir() -> Path:
    """The trained demo model in the package; `FileNotFoundError` (with the command that rebuilds it) when it is not
    complete there."""
    for name in SHIPPED_FILES:
        if not (SHIPPED_DEMO_DIR / name).is_file():
            raise FileNotFoundError(
                f"The trained demo model is not in this installation ({SHIPPED_DEMO_DIR / name} is missing): rebuild "
                "it with `make demo-model` in a checkout, or give a model with --model."
            )
    return SHIPPED_DEMO_DIR


def _shipped_digest(shipped: Path) -> str | None:
    """The SHA-256 of the shipped weights (`None` when the package has none; `file_digest` remembers it for the
    process while the file stays unchanged)."""
    from processing.feature_cache_sherlock import file_digest

    weights = shipped / "model.safetensors"
    return file_digest(weights) if weights.is_file() else None


def copy_shipped_demo(destination: Path) -> None:
    """Copy the shipped demo model (`shipped_demo_dir`) into the empty or missing folder `destination`, with the
    remote code of the installed package (the modules its `auto_map`s name, as `save_pretrained` writes them): the
    copy loads with `trust_remote_code` and pushes to the Hub like any saved Sherlock."""
    from transformers.dynamic_module_utils import custom_object_save

    from modeling_sherlock import SherlockConfig, SherlockForConditionalGeneration
    from processing import SherlockProcessor

    shutil.copytree(shipped_demo_dir(), destination, ignore=shutil.ignore_patterns(*NOT_BUILT), dirs_exist_ok=True)
    for cls in (SherlockConfig, SherlockForConditionalGeneration, SherlockProcessor):
        custom_object_save(cls, destination)  # the class's module and, recursively, its relative imports


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
    shipped = _shipped_digest(SHIPPED_DEMO_DIR)
    if shipped is not None and record.get("weights_sha256") != shipped:
        return "the installed package ships other demo weights"
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
    """Return the demo model folder, first copying the shipped trained demo model there if the folder is missing,
    from another demo version or other shipped weights, or lacks any file of its copy (or holds one of another
    size: an interrupted write).

    The copy goes into a temporary sibling folder, stamped there, then renamed into place: a reader (another process
    running the demo at the same time) never sees a half-copied folder, and when two processes copy at once, the
    first complete folder in place wins and the other copy is discarded."""
    folder = Path(folder) if folder is not None else default_demo_dir()
    problem = demo_problem(folder)
    if problem is None:
        return folder
    shipped = shipped_demo_dir()
    if problem == "not built yet":
        logger.info("Copying the demo model to %s (first use only)", folder)
    else:
        logger.warning("Replacing the demo model in %s (%s) ...", folder, problem)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.building-", dir=folder.parent))
    try:
        copy_shipped_demo(staging)
        record = {"version": DEMO_VERSION, "weights_sha256": _shipped_digest(shipped), "files": _built_files(staging)}
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


__all__ = [
    "DEMO_CAPACITIES",
    "EXAMPLE_VIDEO",
    "SHIPPED_DEMO_DIR",
    "copy_shipped_demo",
    "default_demo_dir",
    "demo_problem",
    "ensure_demo_model",
    "shipped_demo_dir",
]
