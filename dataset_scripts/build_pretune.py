"""Stage-1 pre-tuning data of Sherlock (paper §4, "pre-tuning on spatial data"): four public datasets
converted into one instruction-following dataset, each row a (media, instruction, answer) triple.

    sherlock-build-pretune --output-dir ./pretune \\
        --humanml3d-dir HumanML3D --ref-l4-dir Ref-L4 --rsi-cb-dir RSI-CB256 \\
        --coco-captions-file coco/annotations/captions_train2017.json --coco-images-dir coco/train2017 \\
        --max-per-source 20000 --seed 0 [--push-to-hub org/sherlock-pretune]

Sources that are not given are skipped; the card says which ones were included. Media are never copied: a row's
`media` is a path relative to the root of its source (the folder given for it), so the data stays small and the
licences of the media stay with their owners.

The instructions (the paper's strings; `INSTRUCTIONS`):

| source          | media  | instruction                                  | answer                                   |
|-----------------|--------|----------------------------------------------|------------------------------------------|
| `humanml3d`     | motion | `Judge the action of the characters`         | one caption of the motion                |
| `ref_l4`        | image  | `Describe the image region [x1, y1, x2, y2]` | the referring expression                 |
| `rsi_cb`        | image  | `Judge the background of the image`          | the scene class, humanised               |
| `coco_captions` | image  | `Describe the image`                         | one caption of the image                 |

Ref-L4's template is `Describe the image region <objs>`; `<objs>` becomes the box normalised by the image size,
clipped to [0, 1] and written `[x1, y1, x2, y2]` with exactly three decimals, ", " between them (e.g.
`Describe the image region [0.255, 0.254, 0.473, 0.813]`); the row's `regions` holds the same four numbers. The
box stays in the coordinates of the whole image: stage 1 (`sherlock train --stage 1`) maps it into the model's view
(the image processor's centre crop, which depends on the model) when it writes the training prompt, and leaves out a
row whose box lies mostly outside that view (`sherlock.training.stage1`).

Source formats (the public releases; HumanML3D checked against its own text loader, Ref-L4 against its Hub card
and data loader, RSI-CB against its published class names, COCO from its documented annotation format):

- **HumanML3D** (github.com/EricGuo5513/HumanML3D): `train.txt` / `val.txt` / `test.txt` list motion ids (one per
  line, mirrored ones prefixed `M`); `texts/<id>.txt` holds one caption per line as `caption#tokens#start#end`
  (tokens `word/POS` separated by spaces; start/end in seconds, `0.0#0.0` = the whole clip, `nan` read as 0.0
  exactly as the dataset's own loader does); motions are `new_joints/<id>.npy` (joint positions, preferred) or
  `new_joint_vecs/<id>.npy` (263-d features). One row per caption line (every caption is a training target; a
  caption of a sub-segment keeps its `start`/`end`). `all.txt` / `train_val.txt` are not read (they repeat the
  three splits).
- **Ref-L4** (huggingface.co/datasets/JierunChen/Ref-L4): `ref-l4-val.parquet` / `ref-l4-test.parquet` (or JSON /
  JSONL with the same records), fields `id`, `caption` (the referring expression), `bbox` (`[x, y, w, h]` pixels),
  `image_id`, `file_name`, `height`, `width`, `split` (`val` / `test`), ...; the images (`images.tar.gz`) extracted
  either into `images/` or next to the annotations. `--ref-l4-dir` takes the folder (every top-level `*.parquet`,
  else `*.json` / `*.jsonl`) or one annotation file (images looked up beside it). One row per annotation. A box may
  overshoot the image by at most `BOX_TOLERANCE_PX` pixels (rounding in the source) and is then clipped; beyond that
  it is rejected.
- **RSI-CB** (github.com/lehaifeng/RSI-CB; RSI-CB256 / RSI-CB128): class folders,
  `<root>/<category>/<class>/<image>.tif` or a single level `<root>/<class>/<image>`; the class is the image's
  parent folder, humanised (`airport_runway` -> `airport runway`). One row per image file.
- **COCO captions** (cocodataset.org, `annotations/captions_<split><year>.json`):
  `{"images": [{"id", "file_name", "width", "height", ...}], "annotations": [{"id", "image_id", "caption"}]}`, the
  images in `--coco-images-dir`. One row per caption annotation.

Texts are only whitespace-normalised (stripped, runs of white space collapsed); nothing is lower-cased or rewritten.

Output (dataset_io's discipline): one config per included source plus `all` (the default config) whose data files
are the source configs' shards, concatenated in source order (no duplicated bytes); one split, `train` — stage 1
trains on every row, the source's own split is kept in `source_split`. `rejects.jsonl` lists every input unit that
did not become a row, with `source`, `id`, `reason` (`REJECT_REASONS`) and `detail`. `--max-per-source` keeps a
seeded uniform sample of M rows out of N (`random.Random(f"{seed}:{source}")`, kept in source order); sampled-out
rows are not rejects, the card reports "N available -> M kept".

Code: the converters, the row schema and the sampling are in `pretune_sources`; this module holds the arguments, the
card, the build and the console script.
"""

import logging
import math
import re
import shutil
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dataset_scripts.dataset_io import (
    DEFAULT_ROWS_PER_SHARD,
    ConfigFiles,
    HubArguments,
    card_header,
    json_report,
    markdown_table,
    run_builder,
    write_card,
    write_rejects,
    write_split,
)
from dataset_scripts.pretune_sources import (
    BOX_TOLERANCE_PX,
    INSTRUCTIONS,
    MEDIA_TYPES,
    REGION_PLACEHOLDER,
    REJECT_REASONS,
    SOURCE_NAMES,
    SOURCES,
    SPLIT,
    SourceResult,
    convert_coco_captions,
    convert_humanml3d,
    convert_ref_l4,
    convert_rsi_cb,
    pretune_features,
    region_instruction,
    sample_rows,
)


logger = logging.getLogger(__name__)

ALL_CONFIG = "all"
SOURCE_LICENSES = {
    "humanml3d": "HumanML3D annotations (MIT); the motions derive from AMASS / HumanAct12 under their own licences",
    "ref_l4": "CC BY-NC 4.0 (images from COCO / Objects365 under their licences)",
    "rsi_cb": "research use, see github.com/lehaifeng/RSI-CB",
    "coco_captions": "COCO annotations: CC BY 4.0; images: Flickr terms of use",
}
DEFAULT_MAX_PER_SOURCE = 20000  # the paper samples 20k examples from each source

STOPWORDS = frozenset(
    "a an the and or of to in on at with from by for as is are was be it its this that his her their them he she "
    "they while then there into onto".split()
)


SCHEMA_DOC = (
    ("source", "string", "`humanml3d`, `ref_l4`, `rsi_cb` or `coco_captions`"),
    (
        "id",
        "string",
        "unique within the source: HumanML3D `<motion id>#<caption line>`, Ref-L4 annotation `id`, "
        "RSI-CB the image path, COCO the caption annotation `id`",
    ),
    ("source_split", "string", "the source's own split (`train` / `val` / `test`; empty for RSI-CB, which has none)"),
    ("media", "string", "path of the motion / image relative to the source root given to the builder"),
    ("media_type", "string", "`motion` (HumanML3D `.npy`) or `image`"),
    ("start", "float64 (null)", "HumanML3D: start of the captioned segment in seconds; null = whole clip / image"),
    ("end", "float64 (null)", "HumanML3D: end of the captioned segment in seconds; null = whole clip / image"),
    ("instruction", "string", "the paper's instruction for the source (Ref-L4: with the normalised box)"),
    ("answer", "string", "the training target"),
    ("regions", "list of [x1, y1, x2, y2] float64", "Ref-L4: the box normalised to [0, 1], 3 decimals; else empty"),
)


# ----------------------------------------------------------------------------------------------------------- card


def _answer_words(answer: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", answer.lower())


def _length_summary(rows: Sequence[dict]) -> list:
    lengths = sorted(len(row["answer"].split()) for row in rows)
    if not lengths:
        return ["-"] * 5
    p90 = lengths[max(0, math.ceil(0.9 * len(lengths)) - 1)]
    return [lengths[0], f"{statistics.median(lengths):g}", f"{statistics.fmean(lengths):.1f}", p90, lengths[-1]]


def _top_words(rows: Sequence[dict], count: int = 10) -> str:
    counter = Counter(word for row in rows for word in _answer_words(row["answer"]) if word not in STOPWORDS)
    top = sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:count]
    return ", ".join(f"{word} ({n})" for word, n in top) or "-"


def build_card_body(results: dict[str, SourceResult], kept: dict[str, list[dict]], args) -> str:
    """The markdown body of the card: what the data is, the schema, sampling, statistics, rejects, licences."""
    included = [source for source in SOURCES if source in results]
    skipped = [source for source in SOURCES if source not in results]
    total = sum(len(rows) for rows in kept.values())
    parts = [
        "# Sherlock stage-1 pre-tuning data",
        "Spatial pre-tuning data of Sherlock (video abnormal event extraction, Video-LLaVA + spatial experts, "
        "arXiv 2502.18863): public datasets converted into (media, instruction, answer) rows by "
        "`sherlock-build-pretune`. Media are referenced by path relative to each source's root and are not part of "
        "this dataset: fetch the sources from their owners.",
        "## Sources",
        markdown_table(
            ["source", "config", "included", "media", "instruction", "answer"],
            [
                [
                    SOURCE_NAMES[source],
                    f"`{source}`",
                    "yes" if source in results else "no (not given)",
                    MEDIA_TYPES[source],
                    f"`{INSTRUCTIONS[source]}`",
                    {
                        "humanml3d": "a caption of the motion (one row per caption)",
                        "ref_l4": "the referring expression",
                        "rsi_cb": "the scene class, humanised",
                        "coco_captions": "a caption of the image (one row per caption)",
                    }[source],
                ]
                for source in SOURCES
            ],
        ),
        f"Included: {', '.join(SOURCE_NAMES[s] for s in included) or 'none'}. "
        f"Skipped (not given): {', '.join(SOURCE_NAMES[s] for s in skipped) or 'none'}.",
        f"In Ref-L4's instruction `{REGION_PLACEHOLDER}` is replaced by the box normalised by the image size, clipped "
        "to [0, 1], written `[x1, y1, x2, y2]` with three decimals (e.g. "
        f"`{region_instruction([0.255, 0.254, 0.473, 0.813])}`); `regions` holds the same numbers. Boxes overshooting "
        f"the image by at most {BOX_TOLERANCE_PX:g} px are clipped, larger overshoots are rejected. The box is in the "
        "coordinates of the whole image: Sherlock's stage 1 maps it into the model's view (the image processor's "
        "centre crop) when it writes the training prompt and leaves out rows whose box lies mostly outside it.",
        "## Configs",
        f"One split, `{SPLIT}`, per config (stage 1 trains on all rows; the source's split is in `source_split`). "
        f"`{ALL_CONFIG}` (the default) is the concatenation of "
        + ", ".join(f"`{s}`" for s in included)
        + " in that order, reading the same parquet files.",
        "```python\nfrom datasets import load_dataset\n\n"
        f'pretune = load_dataset("<repo or folder>", split="{SPLIT}")  # all sources\n'
        f'regions = load_dataset("<repo or folder>", "ref_l4", split="{SPLIT}")\n```',
        "## Schema",
        markdown_table(["field", "type", "meaning"], [[f"`{n}`", t, m] for n, t, m in SCHEMA_DOC]),
        "## Sampling",
        (
            f"At most {args.max_per_source} rows per source: a uniform sample seeded with "
            f'`random.Random(f"{{seed}}:{{source}}")`, seed {args.seed}, kept in source order.'
            if args.max_per_source > 0
            else "No cap (`--max-per-source` <= 0): every row is kept."
        ),
        markdown_table(
            ["source", "available", "kept"],
            [[SOURCE_NAMES[s], len(results[s].rows), len(kept[s])] for s in included],
        ),
        "## Statistics",
        f"{total} rows in all.",
        "Rows per source and source split:",
        markdown_table(
            ["source", "source_split", "rows"],
            [
                [SOURCE_NAMES[s], split or "(none)", n]
                for s in included
                for split, n in sorted(Counter(row["source_split"] for row in kept[s]).items())
            ],
        ),
        "Answer length in words:",
        markdown_table(
            ["source", "min", "median", "mean", "p90", "max"],
            [[SOURCE_NAMES[s], *_length_summary(kept[s])] for s in included],
        ),
        "Most frequent answer words (lower case, common function words left out):",
        markdown_table(["source", "top words"], [[SOURCE_NAMES[s], _top_words(kept[s])] for s in included]),
    ]
    notes = [[SOURCE_NAMES[s], note, n] for s in included for note, n in results[s].notes.items()]
    if notes:
        parts += ["Notes:", markdown_table(["source", "note", "count"], notes)]
    rejects = Counter((s, reject["reason"]) for s in included for reject in results[s].rejects)
    parts += [
        "## Rejects",
        f"Every input that did not become a row is in `rejects.jsonl` (`source`, `id`, `reason`, `detail`): "
        f"{sum(rejects.values())} in all.",
        markdown_table(
            ["source", "inputs", "rows", "rejected"],
            [[SOURCE_NAMES[s], results[s].inputs, len(results[s].rows), len(results[s].rejects)] for s in included],
        ),
        markdown_table(
            ["source", "reason", "count", "meaning"],
            [
                [SOURCE_NAMES[s], f"`{r}`", n, REJECT_REASONS[r]]
                for (s, r), n in sorted(rejects.items(), key=lambda item: (SOURCES.index(item[0][0]), item[0][1]))
            ]
            or [["-", "-", 0, "-"]],
        ),
        "## Licences",
        "This dataset holds annotations of other datasets; each keeps its licence:",
        "\n".join(f"- {SOURCE_NAMES[s]}: {SOURCE_LICENSES[s]}" for s in SOURCES),
    ]
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------------------------------------- build


@dataclass
class PretuneArguments(HubArguments):
    """Arguments of `sherlock-build-pretune`."""

    output_dir: str = field(metadata={"help": "Folder to write the dataset into (parquet, README.md, rejects)."})
    humanml3d_dir: str | None = field(
        default=None, metadata={"help": "HumanML3D root (train.txt, val.txt, test.txt, texts/, new_joints/)."}
    )
    ref_l4_dir: str | None = field(
        default=None,
        metadata={
            "help": "Ref-L4 root (ref-l4-*.parquet + images/) or one annotation file (.parquet/.json/.jsonl).",
            "aliases": ["--ref-l4-file", "--ref_l4_file"],
        },
    )
    rsi_cb_dir: str | None = field(
        default=None, metadata={"help": "RSI-CB root (<category>/<class>/<image> or <class>/<image>)."}
    )
    coco_captions_file: str | None = field(
        default=None, metadata={"help": "COCO captions JSON (annotations/captions_train2017.json)."}
    )
    coco_images_dir: str | None = field(default=None, metadata={"help": "Folder of the COCO images (train2017/)."})
    max_per_source: int = field(
        default=DEFAULT_MAX_PER_SOURCE, metadata={"help": "Rows kept per source (paper 20000); <= 0 keeps all."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the per-source sampling."})
    rows_per_shard: int = field(default=DEFAULT_ROWS_PER_SHARD, metadata={"help": "Rows per parquet shard."})


def convert_sources(args: PretuneArguments) -> dict[str, SourceResult]:
    """Run the converter of every given source (in `SOURCES` order)."""
    if (args.coco_captions_file is None) != (args.coco_images_dir is None):
        raise ValueError("COCO captions need both --coco-captions-file and --coco-images-dir")
    results = {}
    if args.humanml3d_dir is not None:
        if not Path(args.humanml3d_dir).is_dir():
            raise FileNotFoundError(f"HumanML3D: {args.humanml3d_dir} is not a folder")
        results["humanml3d"] = convert_humanml3d(args.humanml3d_dir)
    if args.ref_l4_dir is not None:
        results["ref_l4"] = convert_ref_l4(args.ref_l4_dir)
    if args.rsi_cb_dir is not None:
        results["rsi_cb"] = convert_rsi_cb(args.rsi_cb_dir)
    if args.coco_captions_file is not None:
        if not Path(args.coco_images_dir).is_dir():
            raise FileNotFoundError(f"COCO: {args.coco_images_dir} is not a folder")
        results["coco_captions"] = convert_coco_captions(args.coco_captions_file, args.coco_images_dir)
    if not results:
        raise ValueError(
            "no source given: pass at least one of --humanml3d-dir, --ref-l4-dir, --rsi-cb-dir, --coco-captions-file"
        )
    for result in results.values():
        if len(result.rows) + len(result.rejects) != result.inputs:  # the converters' bookkeeping
            raise RuntimeError(f"{result.source}: rows + rejects != inputs")
    return results


def build_pretune(args: PretuneArguments) -> dict:
    """Convert, sample, write the parquet configs, the card and the rejects; push if asked. Returns a summary."""
    results = convert_sources(args)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    features = pretune_features()
    kept, configs = {}, []
    for source in SOURCES:
        if source not in results:
            stale = output_dir / source  # a config of an earlier build that this one does not have
            if stale.is_dir() and all(path.suffix == ".parquet" for path in stale.iterdir()):
                shutil.rmtree(stale)
            continue
        kept[source] = sample_rows(results[source].rows, args.max_per_source, args.seed, source)
        paths = write_split(kept[source], features, output_dir, source, SPLIT, rows_per_shard=args.rows_per_shard)
        configs.append(ConfigFiles(source, {SPLIT: paths}))
        logger.info(
            "%s: %d available -> %d kept, %d rejected",
            source,
            len(results[source].rows),
            len(kept[source]),
            len(results[source].rejects),
        )
    everything = [path for config in configs for path in config.splits[SPLIT]]
    configs.insert(0, ConfigFiles(ALL_CONFIG, {SPLIT: everything}, default=True))
    header = card_header(
        configs,
        license="other",
        pretty_name="Sherlock stage-1 pre-tuning data",
        extra={"language": ["en"], "tags": ["sherlock", "video-llava", "instruction-tuning", "pre-tuning"]},
    )
    write_card(output_dir, header, build_card_body(results, kept, args))
    write_rejects(
        output_dir, [reject for source in SOURCES if source in results for reject in results[source].rejects]
    )
    summary = {
        "output_dir": str(output_dir),
        "configs": [config.name for config in configs],
        "available": {source: len(result.rows) for source, result in results.items()},
        "kept": {source: len(rows) for source, rows in kept.items()},
        "rejected": {source: len(result.rejects) for source, result in results.items()},
    }
    if args.push_to_hub:
        summary["commit_url"] = args.push(output_dir, commit_message="Upload Sherlock stage-1 pre-tuning data")
    return summary


def main(argv: list[str] | None = None) -> int:
    """Console script `sherlock-build-pretune`."""
    return run_builder(
        "sherlock-build-pretune",
        PretuneArguments,
        build_pretune,
        json_report,
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["PretuneArguments", "build_card_body", "build_pretune", "convert_sources", "main"]
