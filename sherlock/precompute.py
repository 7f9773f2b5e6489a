"""`sherlock precompute`: the expert features of a dataset's videos into a feature cache, sharded across processes.

    sherlock precompute --dataset DIR_OR_ID --processor PATH_OR_ID --cache-dir DIR [--split all] [--video-root DIR]
    accelerate launch --num_processes N -m sherlock.cli precompute ...

At real scale this is the expensive step (every sampled frame through the detector, the pose model and SAM 2), done
once and read back by `sherlock evaluate` (the same processor with `--cache-dir`), by training and by
`sherlock-build-mvae --with-features`. Video `i` of the list runs on process `i % N`; each entry is written to a
temporary file and renamed (`FeatureCache`), so the processes never write the same file, a killed run loses at most
the videos under way, and a second run skips every video already in the cache. The cache is the same (same files,
same arrays) whatever the number of processes.
"""

import logging
import time
from dataclasses import dataclass, field

from .arguments import UsageError, check_device, check_folder_option


logger = logging.getLogger("sherlock")


@dataclass
class PrecomputeArguments:
    """Arguments of `sherlock precompute` (each option's help is its `metadata`)."""

    dataset: str = field(metadata={"help": "M-VAE dataset folder or Hub id (read with datasets.load_dataset)"})
    processor: str = field(
        metadata={
            "help": "a Sherlock model / processor folder, LoRA adapter or Hub id ('demo' too): the sampling and "
            "extractors"
        }
    )
    cache_dir: str | None = field(
        default=None,
        metadata={"help": "feature cache folder (default: the processor's, else <model>/feature_cache, as evaluate)"},
    )
    split: str = field(default="all", metadata={"help": "dataset split, or 'all'"})
    video_root: str | None = field(
        default=None,
        metadata={"help": "folder the dataset's `video` column is relative to (default: <dataset>/videos)"},
    )
    device: str | None = field(
        default=None,
        metadata={
            "help": "where the extractor models run (default: this process's GPU under accelerate, else cuda or cpu)"
        },
    )


def precompute_features(processor, items, state=None, progress: bool = True) -> dict:
    """Fill `processor.feature_cache_dir` with the expert features of `items` (`VideoItem`s), this process's share only.

    Returns:
        `{"videos", "computed", "cached", "failed": [{"video_id", "error"}], "seconds", "processes"}` summed over the
        processes (every process returns the totals).
    """
    from tqdm.auto import tqdm

    from processing import VideoDecodeError

    from .evaluation.runner import gather, process_state

    state = state if state is not None else process_state()
    mine = items[state.process_index :: state.num_processes]
    counts = {"computed": 0, "cached": 0, "failed": []}
    start = time.perf_counter()
    for item in tqdm(mine, desc="expert features", unit="video", disable=not (progress and state.is_main_process)):
        try:
            _, _, computed = processor.video_features(item.path)
        except (VideoDecodeError, ValueError, RuntimeError) as error:
            counts["failed"].append({"video_id": item.video_id, "error": str(error).strip().splitlines()[0]})
            logger.warning("features of %s failed: %s", item.video_id, error)
            continue
        counts["computed" if computed else "cached"] += 1
    counts["seconds"] = time.perf_counter() - start
    everyone = gather(state, counts)
    state.wait_for_everyone()
    return {
        "videos": len(items),
        "computed": sum(entry["computed"] for entry in everyone),
        "cached": sum(entry["cached"] for entry in everyone),
        "failed": [failure for entry in everyone for failure in entry["failed"]],
        "seconds": max(entry["seconds"] for entry in everyone),
        "processes": state.num_processes,
    }


def precompute_command(args: PrecomputeArguments, verbose: bool = False) -> int:
    """`sherlock precompute` (module docstring); exit code 1 when some videos failed."""
    from .evaluation.dataset import load_split_rows, resolve_video_root, video_items
    from .evaluation.runner import process_device, process_state
    from .loading import default_cache_dir, processor_source, quiet_libraries, resolve_model

    check_device(args.device)
    check_folder_option("--cache-dir", args.cache_dir)
    processor_path = resolve_model(args.processor, required_files=("processor_config.json",))
    rows = load_split_rows(args.dataset, args.split, verbose)
    items = video_items(rows, resolve_video_root(args.dataset, args.video_root))
    quiet_libraries(verbose)
    from processing import SherlockProcessor

    processor_path = processor_source(processor_path)
    processor = SherlockProcessor.from_pretrained(processor_path)
    processor.feature_cache_dir = (
        args.cache_dir if args.cache_dir is not None else default_cache_dir(processor, processor_path)
    )
    if processor.feature_cache_dir is None:
        raise UsageError("the processor has no feature cache: give --cache-dir")
    if processor.is_precomputed:
        raise UsageError("the processor's extractors read the cache (`precomputed` backend): nothing to compute")
    state = process_state(args.device)
    device = process_device(state, args.device)
    if device != "cpu":
        processor.set_extractor_device(device)
    summary = precompute_features(processor, items, state=state)
    if not state.is_main_process:
        return 0
    print(
        f"{args.dataset} [{args.split}]: {summary['videos']} videos with {summary['processes']} process(es) in "
        f"{summary['seconds']:.1f} s: {summary['computed']} computed, {summary['cached']} already in "
        f"{processor.feature_cache_dir}, {len(summary['failed'])} failed"
    )
    for failure in summary["failed"][:10]:
        print(f"  failed {failure['video_id']}: {failure['error']}")
    return 1 if summary["failed"] else 0


__all__ = ["PrecomputeArguments", "precompute_command", "precompute_features"]
