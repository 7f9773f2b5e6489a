"""The M-VAE dataset card (`README.md`): YAML header (`configs:` and `dataset_info`, so `load_dataset(folder)` works
without a loading script), licence CC BY-NC-SA 4.0 with attribution to CUVA, how it was built, the statistics."""

import hashlib
from collections.abc import Sequence
from pathlib import Path

import datasets
import yaml

from dataset_scripts.build_mvae import BuildMvaeArguments
from dataset_scripts.dataset_io import ConfigFiles, card_header, markdown_table
from dataset_scripts.mvae_cuva import ROUND1_SHEET, ROUND2_SHEET, SPLITS, SheetContent
from dataset_scripts.mvae_features import FEATURE_ARRAYS
from dataset_scripts.mvae_rows import MVAE_SOURCE_FIELDS, BuildOutcome
from dataset_scripts.mvae_statistics import (
    agreement_markdown,
    event_types_markdown,
    events_per_video_markdown,
    format_ratio,
    label_quality_markdown,
    rejects_markdown,
    table1_markdown,
    top_elements_markdown,
)
from processing import DEFAULT_INSTRUCTION
from processing.vocabulary_sherlock import ENTITIES, EVENT_TYPES, SCENES


LICENSE = "cc-by-nc-sa-4.0"
PRETTY_NAME = "M-VAE (Multi-scene Video Abnormal Event extraction and localization)"
PAPER_EVENTS = {"train": 1348, "test": 332}


def split_sizes(rows: Sequence[dict], features: datasets.Features) -> dict[str, tuple[int, int]]:
    """{split: (rows, Arrow bytes)} of the splits that have rows (the card's `dataset_info`)."""
    sizes = {}
    for split in SPLITS:
        split_rows = [row for row in rows if row["split"] == split]
        if split_rows:
            sizes[split] = (len(split_rows), datasets.Dataset.from_list(split_rows, features=features).data.nbytes)
    return sizes


def _dataset_info_yaml(configs: dict[str, tuple[datasets.Features, dict[str, tuple[int, int]]]]) -> str:
    """The card's `dataset_info` (features and split sizes per config): `load_dataset` reads the features from it."""
    infos = []
    for name, (features, split_sizes) in configs.items():
        infos.append(
            {
                "config_name": name,
                "features": features._to_yaml_list(),
                "splits": [
                    {"name": split, "num_bytes": num_bytes, "num_examples": count}
                    for split, (count, num_bytes) in split_sizes.items()
                ],
                "dataset_size": sum(num_bytes for _, num_bytes in split_sizes.values()),
            }
        )
    return yaml.safe_dump({"dataset_info": infos}, sort_keys=False, allow_unicode=True, width=1000)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mvae_card_header(
    configs: Sequence[ConfigFiles], info: dict[str, tuple[datasets.Features, Sequence[dict]]], num_rows: int
) -> str:
    """The card's YAML header: licence, tags, `configs:` and the `dataset_info` of every config.

    Args:
        info: {config: (features, rows)} (the split sizes are computed from the rows).
        num_rows: the number of videos (for `size_categories`).
    """
    header = card_header(
        configs,
        license=LICENSE,
        pretty_name=PRETTY_NAME,
        extra={
            "language": ["en"],
            "task_categories": ["video-text-to-text"],
            "tags": ["video", "anomaly", "event-extraction", "temporal-localization", "cuva", "sherlock"],
            "size_categories": "n<1K" if num_rows < 1000 else "1K<n<10K",
        },
    )
    sizes = {name: (features, split_sizes(rows, features)) for name, (features, rows) in info.items()}
    return header[: -len("---\n")] + _dataset_info_yaml(sizes) + "---\n"


def render_card_body(
    outcome: BuildOutcome,
    stats: dict,
    agreement: dict,
    label_quality: dict,
    sheet: SheetContent,
    args: BuildMvaeArguments,
    input_hashes: dict[str, str],
    feature_summary: dict | None,
    llm_name: str | None,
) -> str:
    """The markdown body of the card (see the module docstring of `build_mvae` for the decisions it states)."""
    rows, rejects, counters = outcome.rows, outcome.rejects, outcome.counters
    row_rejects = [reject for reject in rejects if reject["level"] == "row"]
    segment_rejects = [reject for reject in rejects if reject["level"] == "segment"]
    events = sum(stats["events"].values())
    videos = len(rows)

    def share(key: str) -> str:
        return f"{counters[key]} ({100.0 * counters[key] / events:.1f} %)" if events else "0"

    lines = [
        "# M-VAE",
        "",
        "Multi-scene Video Abnormal Event extraction and localization (M-VAE), the instruction data of **Sherlock** "
        "(arXiv 2502.18863), rebuilt from the public annotations of **CUVA** (arXiv 2405.00181). One row per video: "
        "its abnormal events as `(start, end, subject, event type, object, scene)`, the paper's instruction and the "
        "canonical answer (one line per event, `23.0-25.0s: (people, Theft, car, Street)`).",
        "",
        "```python",
        "from datasets import load_dataset",
        'mvae = load_dataset("org/m-vae")          # or load_dataset("path/to/this/folder")',
        'mvae["train"][0]["answer"]',
        "```",
        "",
        "The videos are not included: `video` is the file name relative to a local copy of the CUVA videos "
        "(Hugging Face dataset `fesvhtr/CUVA`).",
        "",
        "## Licence and attribution",
        "",
        "CC BY-NC-SA 4.0, like the CUVA annotations it is derived from. The annotations (types, moments, descriptions, "
        "reasons, results, key sentences, the `gt_*` answers and the train / test split) are the work of the CUVA "
        "authors (Du et al., *Uncovering What, Why and How: A Comprehensive Benchmark for Causation Understanding "
        "of Video Anomaly*, arXiv 2405.00181, github.com/fesvhtr/CUVA). This dataset changes their format "
        "and maps their free text onto a closed vocabulary; errors of that mapping are ours.",
        "",
        "## Content",
        "",
        f"- {videos} videos ({stats['videos']['train']} train / {stats['videos']['test']} test), {events} events "
        f"({stats['events']['train']} train / {stats['events']['test']} test).",
        f"- {outcome.input_rows} input rows (the data rows of the round-1 sheet `{ROUND1_SHEET}`"
        + (f", the first {args.limit} only (`--limit`)" if args.limit is not None else "")
        + f"; the sheet's {sheet.example_rows} `example` rows and {sheet.blank_rows} blank rows are not input rows): "
        f"{videos} in the dataset + {len(row_rejects)} rejected rows = {videos + len(row_rejects)}. Rejected "
        f"segments of kept rows: {len(segment_rejects)}. Every reject is in `rejects.jsonl`.",
        "- Durations: "
        + (
            "read from the videos (`--video-root`)."
            if args.video_root
            else "not known (`duration` is null: the build did not read the videos)."
        ),
        "",
        "### Schema (`default` config)",
        "",
        markdown_table(
            ["Field", "Type", "Content"],
            [
                ["`video_id`", "string", '"00001"'],
                ["`video`", "string", '"00001.mp4", relative to a CUVA video folder'],
                ["`duration`", "float64 (nullable)", "seconds, when the videos were read"],
                ["`split`", "string", '"train" or "test" (CUVA\'s split, splits.json)'],
                ["`events`", "list of {start, end, subject, event_type, object, scene}", "seconds; vocabulary values"],
                ["`instruction`", "string", "the paper's instruction"],
                ["`answer`", "string", "`format_events(events)`, the training target"],
                ["`source`", "struct of strings", ", ".join(f"`{name}`" for name in MVAE_SOURCE_FIELDS)],
            ],
        ),
        "",
        "The exact `datasets` features are in the `dataset_info` of this card's YAML header.",
        "",
        "Vocabularies: event types (11, CUVA classes 1-11; class 11 Burning = Forbidden): "
        + ", ".join(EVENT_TYPES)
        + ". Scenes (14): "
        + ", ".join(SCENES)
        + ". Subjects and objects (one shared list): "
        + ", ".join(ENTITIES)
        + ".",
        "",
    ]
    if feature_summary is not None:
        lines += [
            "### Expert features (`features` config)",
            "",
            f'`load_dataset(..., "features")`: one row per video ({feature_summary["videos"]} videos) with '
            "`video_id`, `video`, `split`, `video_sha256` (content hash, the key of Sherlock's feature cache), "
            "`duration`, `timestamps` / `frame_indices` of the sampled frames and the seven expert arrays as nested "
            "lists: " + ", ".join(f"`{name}`" for name in FEATURE_ARRAYS) + ". They were computed by the processor's "
            f"extractors ({feature_summary['extractors']}) on its frame sampling ({feature_summary['sampling']}). The "
            "background frames (video pixels) are not published; they stay in the builder's local feature cache, "
            "which Sherlock's `precomputed` extractor backend reads. Boxes and keypoints are normalised to the full "
            "video frame, as the feature cache holds them: they reach the model through the processor, which maps "
            "them into the view the model sees (`processor.to_model_view(arrays, height, width)`: resize and centre "
            "crop; what falls outside is masked).",
            "",
        ]
    lines += [
        "## How it was built",
        "",
        "`sherlock-build-mvae --cuva-dir CUVA --output-dir m-vae"
        + (" --video-root VIDEOS" if args.video_root else "")
        + (" --with-features --processor PROCESSOR" if feature_summary is not None else "")
        + (f" --llm-extractor {llm_name}" if llm_name else "")
        + (f" --limit {args.limit}" if args.limit is not None else "")
        + "` (`dataset_scripts/build_mvae.py` of the Sherlock repository), from these CUVA files:",
        "",
        markdown_table(["File", "SHA-256"], [[f"`{name}`", f"`{digest}`"] for name, digest in input_hashes.items()]),
        "",
        "- **Rows.** One row per round-1 row with a valid id (`1` -> `00001.mp4`). Sub-clip ids (`19-1`) and "
        "repeated ids (the later row) are rejected. The split is CUVA's (`splits.json`: 00001-00799 train, "
        "00800-01000 test).",
        "- **Events.** One event per `X3 moment` segment `[MMSS,MMSS]` (`0114` = 74 s). A time that is not four "
        "digits is not guessed (`malformed_moment`), seconds >= 60 and end <= start are rejected"
        + (
            f"; so is a segment running past the video's end by more than {args.duration_tolerance:g} s (the MMSS "
            "resolution); an end within that tolerance is clipped to the duration"
            if args.video_root
            else ""
        )
        + ". A bad segment of an otherwise good row is a segment-level reject, the row keeps its good segments; a "
        "row without any good segment is a row-level reject.",
        "- **Event type** from `X1` (`[class-subclass,score]`): the class gives the type. A row with several codes "
        "pairs the i-th code with the i-th segment when their numbers match, else uses the highest-score code for "
        "every segment. Free-text types (e.g. 枪战 gunfight, 逮捕 arrest, 视频损坏 broken video) are rejected.",
        "- **Subject and object** by deterministic frames, one per event type (`dataset_scripts/mvae_frames.py`): the "
        "words of the act, the entity kinds that can do it and be acted upon, and a default. The segment's "
        "`X3 description` bracket (the i-th for the i-th segment; the whole description when the counts differ), then "
        "`X2 reason`, then `X2 result` are read sentence by sentence with the shared entity vocabulary. The subject is "
        'the agent of the first act ("was hit by a truck": the truck), else the first mention of a subject kind; the '
        "object is what the act is done to (a passive's patient, else the first mention of an object kind after the "
        'act word; a subject named in the plural is its own kind\'s object, "two cars collided"), else what the '
        "sub-class names (a 9-2 Forest fire burns trees), else the frame's default (theft and robbery `property`, "
        "fighting `people`, the others `none`); a fire's subject is `fire` (`smoke` when the texts tell only of smoke); "
        "a subject found nowhere is `people`.",
        "- **Scene** from the sub-class where it names one (1-1 Street, 1-3 School, 2-2 Wild, 3-2 Boat, 6-1 Shop, "
        "6-2 Bank, 7-1 / 9-4 Residential -> Residence, 9-2 Forest, 9-3 Factory), else the first place named in the "
        'description, then the reason, then the result, through the scene vocabulary ("in public places" names no '
        'place); else "Other".',
    ]
    if llm_name:
        lines.append(
            f"- **LLM extraction** with `{llm_name}` (greedy): its subject / object / scene replace the frames' when "
            "they map into the vocabulary; the sub-class scene still wins."
        )
    lines += [
        "- **Answer** = `format_events(events)` (events sorted by start), **instruction** = the paper's: "
        f"*{DEFAULT_INSTRUCTION}*",
        "",
        "Where the fields came from (over all events):",
        "",
        markdown_table(
            ["Field", "Sub-class", "Event type", "Description", "Reason", "Result", "LLM", "Default"],
            [
                [
                    field,
                    share(f"{field}_from_subclass"),
                    share(f"{field}_from_event_type"),
                    share(f"{field}_from_description"),
                    share(f"{field}_from_reason"),
                    share(f"{field}_from_result"),
                    share(f"{field}_from_llm"),
                    share(f"{field}_from_default"),
                ]
                for field in ("subject", "object", "scene")
            ],
        ),
        "",
        "Defaults used: "
        + (
            "; ".join(
                f"{key.split('_', 1)[1].replace(':', ' ')} {share(key)}"
                for key in sorted(counters)
                if key.startswith("default_") and counters[key]
            )
            or "none"
        )
        + ".",
        "",
        f"Rows whose description brackets do not match their segments (whole description used): "
        f"{counters['description_shared']}. Rows with several `X1` codes: {counters['types_in_order']} paired in "
        f"order, {counters['types_highest_score']} with the highest-score code."
        + (
            f" Event ends clipped to the video's duration: {counters['end_clipped_to_duration']}."
            if args.video_root
            else ""
        ),
        "",
        "## Label quality",
        "",
        "Subject, object and scene checked against train events labelled by people reading the same CUVA texts "
        "(shipped with the builder, `sherlock-mvae[data]`: `dataset_scripts/data/mvae_dev/` with the labelling "
        f"conventions in its `CONVENTIONS.md`, and `dataset_scripts/data/mvae_check/`): the **development** set "
        f"({label_quality['development']['events']} events, seed 12), against which the frames were written, and the "
        f"**check** set ({label_quality['check']['events']} other events, seed 13), held out while they were written, "
        "so its column is the estimate for unseen events. A value agrees when it is the reader's label or one of the "
        "alternatives they listed. The event type is CUVA's own class code, not extracted: its row only confirms that "
        "the readers found the code fitting.",
        "",
        label_quality_markdown(label_quality),
        "",
        "## Rejects",
        "",
        "`rejects.jsonl`: one JSON object per reject, `level` (`row`: the input row is not in the dataset, exactly one "
        "such record per missing row; `segment`: one segment of a kept row"
        + (" ; `features`: a kept video whose features failed" if feature_summary is not None else "")
        + "), `row` (sheet row number, header = 1), `video_id`, `reason` (stable code), `detail`.",
        "",
        rejects_markdown(rejects),
        "",
        "## Statistics",
        "",
        "### Events and event seconds per scene (Table 1 layout)",
        "",
        table1_markdown(stats),
        "",
        "### Event types",
        "",
        event_types_markdown(stats),
        "",
        "### Top-20 elements (Figure 1c / 4)",
        "",
        top_elements_markdown(stats),
        "",
        "### Quadruples per video",
        "",
        events_per_video_markdown(stats),
        "",
        "## Round-2 agreement",
        "",
        f"The round-2 sheet `{ROUND2_SHEET}` (a second annotator's type and moment, {agreement.get('round2_rows', 0)} "
        "rows) is not used in the data; its agreement with round 1 on the same ids:",
        "",
        agreement_markdown(agreement),
        "",
        "## Known differences from the paper",
        "",
        f"- Events: the paper reports {PAPER_EVENTS['train']} train / {PAPER_EVENTS['test']} test events "
        f"({sum(PAPER_EVENTS.values())}); this build has {stats['events']['train']} / {stats['events']['test']} "
        f"({events}), i.e. {format_ratio(events, videos)} events per video: CUVA's round-1 sheet has mostly one `X3 "
        "moment` segment per video, and the paper's own splitting of segments into events is not public.",
        "- Subject / object / scene come from deterministic frames over CUVA's English texts (optionally an LLM, "
        "`--llm-extractor`), not from the paper's GPT-based extraction and manual check; the vocabularies are "
        "Sherlock's closed lists (`processing/vocabulary_sherlock.py`), so rare entities map to their nearest canonical form.",
        "- Rows that the paper may have repaired by hand (free-text types, malformed moments, sub-clips) are rejected "
        "here, with reasons.",
        "",
        "## Citation",
        "",
        "```bibtex",
        "@article{cuva2024,",
        "  title = {Uncovering What, Why and How: A Comprehensive Benchmark for Causation Understanding of Video "
        "Anomaly},",
        "  author = {Du, Hang and others},",
        "  journal = {arXiv preprint arXiv:2405.00181},",
        "  year = {2024}",
        "}",
        "```",
    ]
    return "\n".join(lines)


__all__ = ["LICENSE", "PAPER_EVENTS", "PRETTY_NAME", "file_sha256", "mvae_card_header", "render_card_body"]
