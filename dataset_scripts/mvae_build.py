"""The M-VAE build (`sherlock-build-mvae`, see `build_mvae` for the design): read the CUVA files, make the rows and
rejects, optionally the expert features, write the parquet configs, `rejects.jsonl` and the card, push if asked."""

import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from dataset_scripts.build_mvae import BuildMvaeArguments
from dataset_scripts.dataset_io import ConfigFiles, write_card, write_rejects, write_splits
from dataset_scripts.mvae_card import file_sha256, mvae_card_header, render_card_body
from dataset_scripts.mvae_cuva import CUVA_FILES, RowProblem, parse_video_id, read_cuva
from dataset_scripts.mvae_devset import label_quality
from dataset_scripts.mvae_elements import LlmElementExtractor
from dataset_scripts.mvae_features import (
    compute_features,
    describe_extractors,
    features_config_features,
    load_processor,
)
from dataset_scripts.mvae_rows import MVAE_SOURCE_FIELDS, build_rows, probe_durations
from dataset_scripts.mvae_schema import mvae_features
from dataset_scripts.mvae_statistics import (
    agreement_markdown,
    compute_statistics,
    event_types_markdown,
    events_per_video_markdown,
    label_quality_markdown,
    rejects_markdown,
    round2_agreement,
    table1_markdown,
    top_elements_markdown,
)


logger = logging.getLogger(__name__)


@dataclass
class BuildResult:
    """What `build_mvae` wrote and counted."""

    output_dir: Path
    rows: list[dict]
    rejects: list[dict]
    input_rows: int
    statistics: dict
    agreement: dict
    counters: Counter
    label_quality: dict
    feature_counts: dict | None = None
    hub_url: str | None = None


def _valid_video_ids(rows) -> list[str]:
    ids = set()
    for row in rows:
        try:
            ids.add(parse_video_id(row.video_id))
        except RowProblem:
            pass
    return sorted(ids)


def build_mvae(args: BuildMvaeArguments, processor=None) -> BuildResult:
    """Build M-VAE into `args.output_dir` (see the module docstring of `build_mvae`). `processor` (a
    `SherlockProcessor`) overrides `args.processor`."""
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    if args.with_features and not args.video_root:
        raise ValueError("--with-features needs --video-root (the videos to extract features from).")
    if args.with_features and processor is None and args.processor is None:
        raise ValueError("--with-features needs --processor (a SherlockProcessor folder or Hub id).")

    cuva = read_cuva(args.cuva_dir)
    input_rows = cuva.sheet.rows if args.limit is None else cuva.sheet.rows[: args.limit]
    logger.info("read %d input rows (%d example rows skipped)", len(input_rows), cuva.sheet.example_rows)
    durations = probe_durations(args.video_root, _valid_video_ids(input_rows)) if args.video_root else None
    llm = LlmElementExtractor(args.llm_extractor, args.llm_max_new_tokens) if args.llm_extractor else None
    outcome = build_rows(
        input_rows, cuva.splits, cuva.categories, cuva.gt, cuva.frame_sizes, durations, args.duration_tolerance, llm
    )

    features = mvae_features(MVAE_SOURCE_FIELDS)
    # a split without rows (e.g. with --limit) is left out of the config
    configs = [
        ConfigFiles(
            "default",
            write_splits(outcome.rows, features, output, "default", rows_per_shard=args.rows_per_shard),
            default=True,
        )
    ]
    info = {"default": (features, outcome.rows)}
    feature_summary, feature_counts = None, None
    if args.with_features:
        processor = load_processor(processor if processor is not None else args.processor)
        cache_dir = (
            args.feature_cache_dir or processor.feature_cache_dir or os.path.expanduser("~/.cache/sherlock/features")
        )
        feature_rows, feature_rejects, feature_counts = compute_features(
            outcome.rows, args.video_root, processor, cache_dir
        )
        outcome.rejects.extend(feature_rejects)
        logger.info("features: %(computed)d videos computed, %(skipped)d found in the cache", feature_counts)
        feature_features = features_config_features()
        splits = write_splits(feature_rows, feature_features, output, "features", rows_per_shard=args.rows_per_shard)
        configs.append(ConfigFiles("features", splits))
        info["features"] = (feature_features, feature_rows)
        sampling = f"fps={processor.fps}" if processor.fps is not None else f"num_frames={processor.num_frames}"
        feature_summary = {
            "videos": len(feature_rows),
            "sampling": sampling,
            "extractors": describe_extractors(processor.extractors),
        }

    write_rejects(output, outcome.rejects)
    considered = {str(row.video_id) for row in input_rows}
    round2 = [row for row in cuva.round2 if str(row.video_id) in considered]
    agreement = round2_agreement(input_rows, round2, cuva.categories)
    stats = compute_statistics(outcome.rows)
    quality = label_quality(outcome.rows, cuva.categories)
    folder = Path(args.cuva_dir)
    input_hashes = {name: file_sha256(folder / name) for name in CUVA_FILES if (folder / name).is_file()}
    body = render_card_body(
        outcome, stats, agreement, quality, cuva.sheet, args, input_hashes, feature_summary, llm.name if llm else None
    )
    write_card(output, mvae_card_header(configs, info, len(outcome.rows)), body)
    result = BuildResult(
        output,
        outcome.rows,
        outcome.rejects,
        outcome.input_rows,
        stats,
        agreement,
        outcome.counters,
        quality,
        feature_counts,
    )
    result.hub_url = args.push(output)
    return result


def summary_text(result: BuildResult) -> str:
    """The statistics printed at the end of a build (the same tables as the card)."""
    row_rejects = Counter(r["reason"] for r in result.rejects if r["level"] == "row")
    lines = [
        f"M-VAE written to {result.output_dir}",
        f"input rows: {result.input_rows}; videos: {len(result.rows)} "
        f"({result.statistics['videos']['train']} train / {result.statistics['videos']['test']} test); "
        f"events: {sum(result.statistics['events'].values())}; row rejects: {sum(row_rejects.values())}; "
        f"segment rejects: {sum(1 for r in result.rejects if r['level'] == 'segment')}",
        "",
        rejects_markdown(result.rejects),
        "",
        table1_markdown(result.statistics),
        "",
        event_types_markdown(result.statistics),
        "",
        top_elements_markdown(result.statistics),
        "",
        events_per_video_markdown(result.statistics),
        "",
        agreement_markdown(result.agreement),
        "",
        "agreement with the hand-labelled sets (dataset_scripts/data/mvae_dev, mvae_check):",
        label_quality_markdown(result.label_quality),
    ]
    if result.feature_counts is not None:
        lines += [
            "",
            "features: {computed} videos computed, {skipped} found in the feature cache".format(
                **result.feature_counts
            ),
        ]
    if result.hub_url:
        lines += ["", f"uploaded: {result.hub_url}"]
    return "\n".join(lines)


__all__ = ["BuildResult", "build_mvae", "summary_text"]
