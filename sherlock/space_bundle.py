# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""What `sherlock push space` adds to the Space folder so that the Space builds on its own: the `sherlock-mvae` wheel
(the package is not on the public index) and a `requirements.txt` that installs it.

Hugging Face builds a Space from its `requirements.txt` alone: the builder mounts that one file and runs
`pip install -r /tmp/requirements.txt` before the Space's other files are copied in, so a requirement that names a
wheel by a path in the Space (`./sherlock_mvae-0.1.0-py3-none-any.whl`) cannot be read there. The wheel is therefore
pushed with the Space, and the requirement names it by its URL in that same Space, with its sha256 (pip checks it):

    sherlock-mvae[space] @ https://huggingface.co/spaces/org/demo/resolve/main/sherlock_mvae-0.1.0-py3-none-any.whl#sha256=…

The wheel brings its own dependencies (transformers, torch, PyAV, ...) with the ranges of `pyproject.toml`.
"""

import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .hub_upload import PushError


logger = logging.getLogger(__name__)

PACKAGE = "sherlock-mvae"
WHEEL_PREFIX = "sherlock_mvae-"
EXTRAS = "[space]"
# What a wheel build reads from a checkout (`[tool.setuptools.packages.find]` of pyproject.toml and the files named
# there): copied into a scratch folder, so that the build writes nothing (no `build/`, no `.egg-info`) into the checkout.
SOURCE_PACKAGES = ("modeling_sherlock", "processing", "sherlock", "dataset_scripts")
SOURCE_FILES = ("pyproject.toml", "setup.cfg", "README.md", "model_card.md")


def source_root() -> Path | None:
    """The checkout this `sherlock` package runs from (the folder with its `pyproject.toml`), or None when the package
    was installed from a wheel."""
    root = Path(__file__).resolve().parents[1]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and f'name = "{PACKAGE}"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def build_wheel(output_dir: str | Path, source: str | Path | None = None) -> Path:
    """Build the `sherlock-mvae` wheel of the checkout `source` (default: `source_root()`) into `output_dir` with
    `pip wheel --no-deps --no-build-isolation` (offline: the installed setuptools builds it); returns its path."""
    source = Path(source) if source is not None else source_root()
    if source is None:
        raise PushError(
            "this sherlock is not a checkout of the repository, so its wheel cannot be built here: build one "
            "(pip wheel --no-deps PATH_TO_CLONE) and pass it with --wheel"
        )
    output_dir = Path(output_dir)
    with tempfile.TemporaryDirectory(prefix="sherlock-wheel-") as scratch:
        staging = Path(scratch) / "source"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        for name in SOURCE_PACKAGES:
            shutil.copytree(source / name, staging / name, ignore=ignore)  # links are copied as their files
        for name in SOURCE_FILES:
            if (source / name).is_file():
                shutil.copyfile(source / name, staging / name)
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
        done = subprocess.run([*command, "-w", str(output_dir), str(staging)], capture_output=True, text=True)
    wheels = sorted(output_dir.glob(f"{WHEEL_PREFIX}*.whl"))
    if done.returncode != 0 or not wheels:
        last = (done.stderr.strip() or done.stdout.strip() or "no wheel written").splitlines()[-1]
        raise PushError(f"building the {PACKAGE} wheel of {source} failed: {last}")
    logger.info("built %s", wheels[-1].name)
    return wheels[-1]


def check_wheel(path: str | Path) -> Path:
    """`path` when it names a `sherlock-mvae` wheel file; a `PushError` otherwise."""
    path = Path(path).expanduser()
    if not path.is_file() or not path.name.startswith(WHEEL_PREFIX) or path.suffix != ".whl":
        raise PushError(f"--wheel {path} is not a {PACKAGE} wheel file ({WHEEL_PREFIX}VERSION-...whl)")
    return path


def _names_package(line: str) -> bool:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    text = line.split(" #", 1)[0].strip()
    if not text or text.startswith(("#", "-")):
        return False
    try:
        return canonicalize_name(Requirement(text).name) == PACKAGE
    except InvalidRequirement:
        return False


def space_requirements(requirements: str, wheel_url: str) -> str:
    """The Space's `requirements.txt`: the folder's `requirements` without any line naming `sherlock-mvae`, then the
    line that installs the wheel from `wheel_url` (a URL with its `#sha256=` fragment)."""
    lines = [line for line in requirements.splitlines() if not _names_package(line)]
    while lines and not lines[-1].strip():
        lines.pop()
    lines += [
        "# Sherlock itself (not on the public index): the wheel pushed with this Space, by its URL, since the builder",
        "# reads this file alone. Written by `sherlock push space`.",
        f"{PACKAGE}{EXTRAS} @ {wheel_url}",
    ]
    return "\n".join(lines) + "\n"


def bundle_space(
    folder: Path, repo_id: str, endpoint: str | None, wheel: str | None, workdir: str | Path
) -> dict[str, bytes | str]:
    """{path in the Space: content}: the wheel (`wheel`, or built from this checkout into `workdir`; its local path)
    and the Space's `requirements.txt` (bytes) that installs it from the Space `repo_id` on `endpoint`."""
    from huggingface_hub import hf_hub_url

    path = check_wheel(wheel) if wheel else build_wheel(workdir)
    data = path.read_bytes()
    url = hf_hub_url(repo_id, path.name, repo_type="space", endpoint=endpoint)
    url = f"{url}#sha256={hashlib.sha256(data).hexdigest()}"
    requirements = space_requirements((folder / "requirements.txt").read_text(encoding="utf-8"), url)
    return {path.name: str(path), "requirements.txt": requirements.encode("utf-8")}


__all__ = ["PACKAGE", "build_wheel", "bundle_space", "check_wheel", "source_root", "space_requirements"]
