"""Run a Python script in a subprocess that cannot import this repository: the proof that remote code loads from a
saved folder alone (DESIGN §1). `missing=` also takes installed packages away, to see what remote code asks for in an
environment that lacks them."""

import importlib.metadata
import json
import os
import re
import site
import subprocess
import sys
import textwrap
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]

# Prepended to every script: drops the repository from sys.path and from editable-install finders, and refuses its
# package names, so any import of them fails loudly. Defines `in_repo(path)` for the script's own checks. With
# `SHERLOCK_SITE_MIRRORS` set, each site-packages folder it names is replaced by its mirror (see `site_without`).
ISOLATION_PREAMBLE = textwrap.dedent(
    """
    import importlib.abc, json, os, sys
    REPO = os.path.realpath(os.environ["SHERLOCK_REPO"])

    def in_repo(p):
        p = os.path.realpath(p or os.getcwd())
        return (p == REPO or p.startswith(REPO + os.sep)) and "site-packages" not in p

    sys.path[:] = [p for p in sys.path if not in_repo(p)]
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    _mirrors = json.loads(os.environ.get("SHERLOCK_SITE_MIRRORS") or "{}")
    sys.path[:] = [_mirrors.get(os.path.realpath(p), p) for p in sys.path]
    sys.path_importer_cache.clear()

    class _Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("modeling_sherlock", "sherlock", "processing", "dataset_scripts"):
                raise ImportError(f"blocked import of the repository package {name}")

    sys.meta_path.insert(0, _Block())
    """
)


def site_without(packages: tuple[str, ...], folder: Path) -> dict[str, str]:
    """Mirror every site-packages folder of this Python into `folder`, leaving out the import packages `packages`
    (e.g. "PIL") and their distributions' files (metadata included): to the script they are simply not installed.
    Returns `{site-packages folder: its mirror}` (symbolic links to everything else)."""
    distributions = importlib.metadata.packages_distributions()
    names = {distribution for package in packages for distribution in distributions.get(package, [package])}
    normalised = {re.sub(r"[-_.]+", "_", name).lower() for name in names}
    left_out = set(packages)
    mirrors = {}
    for index, original in enumerate(site.getsitepackages()):
        mirror = folder / f"site-{index}"
        mirror.mkdir(parents=True, exist_ok=True)
        for entry in Path(original).iterdir():
            stem = re.split(r"-\d|\.(?:dist|egg)-info$|\.libs$", entry.name)[0]
            if entry.name.split(".")[0] in left_out or re.sub(r"[-_.]+", "_", stem).lower() in normalised:
                continue
            (mirror / entry.name).symlink_to(entry)
        mirrors[os.path.realpath(original)] = str(mirror)
    return mirrors


def run_without_repository(
    script: str,
    args: list[str],
    tmp_path: Path,
    env: dict[str, str] | None = None,
    missing: tuple[str, ...] = (),
) -> subprocess.CompletedProcess:
    """Run `script` (dedented, after the isolation preamble) with `args` in `tmp_path`, offline, with its own
    `HF_MODULES_CACHE` (`tmp_path / "modules"`, so remote code is copied there) and no `PYTHONPATH`; `env` overrides
    these settings (e.g. `HF_HUB_OFFLINE=0` and `HF_ENDPOINT` for a test Hub). `missing` names import packages (e.g.
    `("PIL", "av")`) that the script sees as not installed (`site_without`)."""
    path = tmp_path / "isolated_script.py"
    path.write_text(ISOLATION_PREAMBLE + textwrap.dedent(script))
    env_overrides = env
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(
        SHERLOCK_REPO=str(REPO),
        HF_MODULES_CACHE=str(tmp_path / "modules"),
        HF_HUB_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf_home"),
        SHERLOCK_SITE_MIRRORS=json.dumps(site_without(tuple(missing), tmp_path / "site") if missing else {}),
    )
    env.update(env_overrides or {})
    return subprocess.run(
        # deprecations are errors there too, as in the suite (setup.cfg)
        [sys.executable, "-W", "error::FutureWarning", str(path), *map(str, args)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
