"""Every console script of pyproject.toml ends a Ctrl-C with one line, `<script>: interrupted` (`sherlock
<command>: interrupted` for `sherlock`), and exit code 130: no traceback (issue 20, item 13)."""

import importlib
import re
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[1]
# The [project.scripts] table of pyproject.toml (`name = "module:function"` lines; no tomllib on Python 3.10).
_TABLE = (REPO / "pyproject.toml").read_text(encoding="utf-8").split("[project.scripts]\n", 1)[1].split("\n[", 1)[0]
SCRIPTS = dict(re.findall(r'^([\w-]+)\s*=\s*"([\w.]+:\w+)"', _TABLE, flags=re.M))

# script -> (the module and name of the work its `main` does, replaced by a Ctrl-C; a command line; the line)
WORK = {
    "sherlock": ("sherlock.cli", "push_command", ["push", "model", "{tmp}", "org/name"], "sherlock push: interrupted"),
    "sherlock-convert-video-llava": (
        "sherlock.convert",
        "convert_video_llava_to_sherlock",
        ["--video_llava_path", "{tmp}", "--output_dir", "{tmp}/out"],
        None,
    ),
    "sherlock-build-synthetic": (
        "dataset_scripts.synthetic_build",
        "build_synthetic",
        ["--output_dir", "{tmp}"],
        None,
    ),
    "sherlock-build-mvae": ("dataset_scripts.mvae_build", "build_mvae", ["--output_dir", "{tmp}"], None),
    "sherlock-build-pretune": ("dataset_scripts.build_pretune", "build_pretune", ["--output_dir", "{tmp}"], None),
}


def test_every_console_script_is_covered():
    assert set(WORK) == set(SCRIPTS)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_ctrl_c_ends_every_console_script_with_one_line_and_exit_130(script, monkeypatch, capsys, tmp_path):
    module, name, argv, line = WORK[script]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(module), name, interrupted)
    target, function = SCRIPTS[script].split(":")
    main = getattr(importlib.import_module(target), function)
    capsys.readouterr()
    try:
        code = main([item.format(tmp=tmp_path) for item in argv])
    except KeyboardInterrupt:
        pytest.fail(f"Ctrl-C escaped the `main` of {script} (a traceback for the user)")
    assert code == 130
    assert capsys.readouterr().err.strip().splitlines() == [line or f"{script}: interrupted"]
