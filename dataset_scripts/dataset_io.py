"""Shared output discipline of the dataset builders: deterministic parquet shards, a dataset card whose YAML
`configs:` make `load_dataset(folder)` work without a loading script, a rejects file, and the Hub upload (the
`--push-to-hub` of every builder: `sherlock.hub_upload.push_dataset_folder`, the same guard and selection as
`sherlock push dataset`).

Layout of a built dataset folder:

    README.md                          the card (YAML header with `configs:`, licence, pretty name; markdown body)
    <config>/<split>-00000-of-0000N.parquet
    rejects.jsonl                      every input row that did not make it into the data, with a reason
"""

import importlib
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sherlock.hub_upload import check_hub_id, push_dataset_folder


if TYPE_CHECKING:  # `datasets` is imported where rows are written, so that the builders' `--help` stays fast
    import datasets


logger = logging.getLogger(__name__)

DEFAULT_ROWS_PER_SHARD = 5000


@dataclass
class ConfigFiles:
    """The parquet files of one config, per split, relative to the dataset folder."""

    name: str
    splits: dict[str, list[str]] = field(default_factory=dict)
    default: bool = False


def write_split(
    rows: Sequence[dict],
    features: "datasets.Features",
    output_dir: str | Path,
    config: str,
    split: str,
    rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
) -> list[str]:
    """Write `rows` (in the given order) as parquet shards `<config>/<split>-0000i-of-0000n.parquet`.

    The bytes depend only on the rows, the features and the library versions (no timestamps), so the same input gives
    the same files. Returns the shard paths relative to `output_dir`.
    """
    import datasets

    output_dir = Path(output_dir)
    folder = output_dir / config
    folder.mkdir(parents=True, exist_ok=True)
    remove_split(output_dir, config, split)
    count = max(1, math.ceil(len(rows) / rows_per_shard))
    paths = []
    for index in range(count):
        chunk = list(rows[index * rows_per_shard : (index + 1) * rows_per_shard])
        shard = folder / f"{split}-{index:05d}-of-{count:05d}.parquet"
        datasets.Dataset.from_list(chunk, features=features).to_parquet(str(shard))
        paths.append(shard.relative_to(output_dir).as_posix())
    return paths


def remove_split(output_dir: str | Path, config: str, split: str) -> None:
    """Delete the shards `<config>/<split>-*.parquet` of an earlier build."""
    for stale in (Path(output_dir) / config).glob(f"{split}-*.parquet"):
        stale.unlink()


def write_splits(
    rows: Sequence[dict],
    features: "datasets.Features",
    output_dir: str | Path,
    config: str,
    splits: Sequence[str] = ("train", "test"),
    rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
) -> dict[str, list[str]]:
    """Write each split of `rows` (by their `split` field, in the given order) with `write_split`.

    A split without rows is left out of the result (so out of the card's `configs:`) and its shards of an earlier build
    are deleted. Returns {split: shard paths relative to `output_dir`}.
    """
    written = {}
    for split in splits:
        split_rows = [row for row in rows if row["split"] == split]
        if split_rows:
            written[split] = write_split(split_rows, features, output_dir, config, split, rows_per_shard)
        else:
            remove_split(output_dir, config, split)
    return written


def _yaml_scalar(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def card_header(
    configs: Iterable[ConfigFiles],
    license: str,
    pretty_name: str,
    extra: dict[str, list[str] | str] | None = None,
) -> str:
    """The YAML front matter of a dataset card: licence, pretty name, tags and `configs:` with their data files."""
    lines = ["---", f"license: {license}", f"pretty_name: {_yaml_scalar(pretty_name)}"]
    for key, value in (extra or {}).items():
        if isinstance(value, str):
            lines.append(f"{key}: {_yaml_scalar(value)}")
        else:
            lines.append(f"{key}:")
            lines.extend(f"- {_yaml_scalar(item)}" for item in value)
    lines.append("configs:")
    for config in configs:
        lines.append(f"- config_name: {config.name}")
        if config.default:
            lines.append("  default: true")
        lines.append("  data_files:")
        for split, paths in config.splits.items():
            lines.append(f"  - split: {split}")
            lines.append("    path:")
            lines.extend(f"    - {_yaml_scalar(path)}" for path in paths)
    lines.append("---")
    return "\n".join(lines) + "\n"


def write_card(output_dir: str | Path, header: str, body: str) -> Path:
    """Write `README.md` = YAML header + markdown body."""
    path = Path(output_dir) / "README.md"
    path.write_text(header + "\n" + body.rstrip() + "\n", encoding="utf-8")
    return path


def write_rejects(output_dir: str | Path, rejects: Sequence[dict]) -> Path:
    """Write `rejects.jsonl` (one JSON object per line, in the given order; keys sorted)."""
    path = Path(output_dir) / "rejects.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for reject in rejects:
            handle.write(json.dumps(reject, ensure_ascii=False, sort_keys=True) + "\n")
    return path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub-markdown table."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


@dataclass(kw_only=True)
class HubArguments:
    """The Hub upload arguments of every builder (a base of their argument dataclasses; keyword-only)."""

    push_to_hub: str | None = field(default=None, metadata={"help": "Upload the folder to this dataset repo id."})
    hub_endpoint: str | None = field(
        default=None, metadata={"help": "Hub endpoint (default: huggingface_hub's, i.e. HF_ENDPOINT or hf.co)."}
    )
    hub_token: str | None = field(default=None, metadata={"help": "Hub token (default: the logged-in one)."})
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})

    def check_hub(self) -> None:
        """Before the build: `push_to_hub`, when set, must be a Hub repo id (a local path is a `ValueError`)."""
        if self.push_to_hub:
            check_hub_id(self.push_to_hub, "--push-to-hub")

    def push(self, folder: str | Path, commit_message: str = "Upload dataset") -> str | None:
        """Upload `folder` with `sherlock.hub_upload.push_dataset_folder` (the guard: no link, no pickle; the files
        of a dataset repo only, mirrored) when `push_to_hub` is set; returns the commit URL, else None."""
        if not self.push_to_hub:
            return None
        return push_dataset_folder(
            folder,
            self.push_to_hub,
            token=self.hub_token,
            endpoint=self.hub_endpoint,
            private=self.hub_private,
            commit_message=commit_message,
        )


def import_object(reference: str):
    """The object named by "package.module:name" (imported now)."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def lazy_exports(module_name: str, exports: dict[str, Sequence[str]]):
    """A module `__getattr__` (PEP 562) that imports `exports` = {"package.module": names} on first access.

    A builder's console-script module defines its arguments and `main` only; the library names it re-exports live in
    modules that import torch / transformers (through `processing`), so importing them lazily keeps `--help` fast
    while `from dataset_scripts.build_mvae import build_mvae` keeps working.
    """
    origin = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str):
        if name not in origin:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        return getattr(importlib.import_module(origin[name]), name)

    return __getattr__


def json_report(summary: dict) -> str:
    """A build summary as the console script prints it: indented JSON with sorted keys."""
    return json.dumps(summary, indent=2, sort_keys=True)


# What `pip install "sherlock-mvae[data]"` adds: the builders' own dependencies (the main job needs none of them).
DATA_EXTRA_MODULES = ("datasets", "pyarrow", "openpyxl")


def run_builder(prog: str, arguments_class, build, report, argv=None, description: str | None = None) -> int:
    """The `main` of a builder's console script: parse the dataclass arguments, build, print the report.

    Args:
        prog: the console script's name (prefix of the one-line error message).
        arguments_class: the builder's `@dataclass` of arguments (parsed with `HfArgumentParser`).
        build: `build(args) -> result`, or its "package.module:name" (imported after parsing, so that `--help` does
            not import the builder's heavy dependencies).
        report: `report(result) -> str`, printed on success, or its "package.module:name".

    Returns the exit code: 0, or 1 with one line on stderr for a bad input (`OSError` / `ValueError`) or a missing
    `data` extra (`DATA_EXTRA_MODULES`), or 130 for Ctrl-C (`<prog>: interrupted`, no traceback, as `sherlock`).
    """
    import sys

    try:
        return _run_builder(prog, arguments_class, build, report, argv, description)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def _run_builder(prog: str, arguments_class, build, report, argv, description: str | None) -> int:
    import sys

    from transformers import HfArgumentParser

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = HfArgumentParser(arguments_class, description=description)
    (args,) = parser.parse_args_into_dataclasses(args=list(sys.argv[1:] if argv is None else argv))
    try:
        if isinstance(args, HubArguments):
            args.check_hub()  # before a build of minutes
        build = import_object(build) if isinstance(build, str) else build
        report = import_object(report) if isinstance(report, str) else report
        result = build(args)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in DATA_EXTRA_MODULES:
            raise
        print(
            f"{prog}: error: the dataset builders need the `data` extra ({error.name!r} is not installed): "
            'pip install "sherlock-mvae[data]"',
            file=sys.stderr,
        )
        return 1
    except (OSError, ValueError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1
    print(report(result))
    return 0


__all__ = [
    "DEFAULT_ROWS_PER_SHARD",
    "ConfigFiles",
    "HubArguments",
    "card_header",
    "import_object",
    "json_report",
    "lazy_exports",
    "markdown_table",
    "push_dataset_folder",
    "remove_split",
    "run_builder",
    "write_card",
    "write_rejects",
    "write_split",
    "write_splits",
]
