"""Run a Python script in a subprocess that cannot import this repository: the proof that remote code loads from a
saved folder alone (DESIGN §1)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]

# Prepended to every script: drops the repository from sys.path and from editable-install finders, and refuses its
# package names, so any import of them fails loudly. Defines `in_repo(path)` for the script's own checks.
ISOLATION_PREAMBLE = textwrap.dedent(
    """
    import importlib.abc, os, sys
    REPO = os.path.realpath(os.environ["SHERLOCK_REPO"])

    def in_repo(p):
        p = os.path.realpath(p or os.getcwd())
        return (p == REPO or p.startswith(REPO + os.sep)) and "site-packages" not in p

    sys.path[:] = [p for p in sys.path if not in_repo(p)]
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]

    class _Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("modeling_sherlock", "sherlock", "processing", "dataset_scripts"):
                raise ImportError(f"blocked import of the repository package {name}")

    sys.meta_path.insert(0, _Block())
    """
)


def run_without_repository(
    script: str, args: list[str], tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `script` (dedented, after the isolation preamble) with `args` in `tmp_path`, offline, with its own
    `HF_MODULES_CACHE` (`tmp_path / "modules"`, so remote code is copied there) and no `PYTHONPATH`; `env` overrides
    these settings (e.g. `HF_HUB_OFFLINE=0` and `HF_ENDPOINT` for a test Hub)."""
    path = tmp_path / "isolated_script.py"
    path.write_text(ISOLATION_PREAMBLE + textwrap.dedent(script))
    env_overrides = env
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(
        SHERLOCK_REPO=str(REPO),
        HF_MODULES_CACHE=str(tmp_path / "modules"),
        HF_HUB_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf_home"),
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
