"""Run a predictor over the videos of a split: batched, sharded across processes, resumable.

    <output_dir>/predictions.jsonl               the merged predictions, one line per video, in dataset order
    <output_dir>/predictions.part-<rank>.jsonl   each process's lines while the run is under way (merged at the end)
    <output_dir>/run_config.json                 what determines the answers (predictor settings, batch size, videos)

**Batches and shards.** The videos are cut into batches of `batch_size` in dataset order, and batch `b` runs on
process `b % num_processes`. A video's batch (its neighbours and their padding) is therefore the same whatever the
number of processes, so the merged predictions of `accelerate launch --num_processes N` equal those of one process
(the predictor's answers depend only on its batch; see `predictors.py`).

**Resuming.** Each process appends the lines of a finished batch with one write, flushed and fsync'ed. A run that is
killed leaves complete lines (and at most one partial last line per file, which is dropped); started again with the
same `run_config.json`, it skips every batch whose videos all have a line and re-runs the others whole (the same
batch, so the same answers), writing only the missing lines. A different configuration in the same output folder is
refused (`overwrite=True` starts afresh), so answers of two settings are never mixed.
"""

import json
import logging
import os
import time
from pathlib import Path

from .predictions import prediction_line
from .predictors import PHASES, VideoItem, checked_batch


logger = logging.getLogger(__name__)

PREDICTIONS_FILE = "predictions.jsonl"
RUN_CONFIG_FILE = "run_config.json"
PART_GLOB = "predictions.part-*.jsonl"


class RunConfigMismatch(ValueError):
    """The output folder holds predictions of another configuration."""


class _SingleProcess:
    """The `accelerate.PartialState` interface for one process without a process group."""

    num_processes, process_index, is_main_process = 1, 0, True

    def wait_for_everyone(self):
        pass


def process_state(device: str | None = None):
    """This process's place among the processes of `accelerate launch` / `torchrun` (`accelerate.PartialState`; a
    plain one-process stand-in without them). On a machine without CUDA, or for `device="cpu"`, the processes talk
    through gloo on the CPU (`accelerate launch --multi_gpu --num_processes 2` starts them there too)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return _SingleProcess()
    import torch
    from accelerate import PartialState

    cpu = (device is not None and str(device).startswith("cpu")) or not torch.cuda.is_available()
    return PartialState(cpu=cpu)


def process_device(state, device: str | None = None) -> str:
    """Where this process runs its models: `device` as given, except that a bare `"cuda"` under several processes is
    this process's GPU; by default the process's accelerator (`PartialState().device`), else `cuda` when there is
    one, else `cpu`."""
    import torch

    distributed = state is not None and getattr(state, "num_processes", 1) > 1 and hasattr(state, "device")
    if device is None or (device == "cuda" and distributed):
        if distributed:
            return "cpu" if state.device.type == "cpu" else str(state.device)
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def batches_of(items: list[VideoItem], batch_size: int) -> list[list[VideoItem]]:
    """`items` cut into consecutive batches of `batch_size` (the last one may be shorter)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    return [items[start : start + batch_size] for start in range(0, len(items), batch_size)]


def _part_path(output_dir: Path, rank: int) -> Path:
    return output_dir / f"predictions.part-{rank:05d}.jsonl"


def _prediction_files(output_dir: Path) -> list[Path]:
    files = [output_dir / PREDICTIONS_FILE] + sorted(output_dir.glob(PART_GLOB))
    return [path for path in files if path.is_file()]


def repair_tail(path: Path) -> bool:
    """Drop a partial last line (a write cut off by a kill: no final newline); True when something was dropped."""
    size = path.stat().st_size
    if size == 0:
        return False
    with path.open("rb+") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return False
        data = path.read_bytes()
        keep = data.rfind(b"\n") + 1
        handle.truncate(keep)
    logger.warning("Dropped a partial last line of %s (an interrupted write)", path)
    return True


def read_done(output_dir: Path) -> dict[str, str]:
    """`{video_id: line}` of every complete line in the folder's prediction files (the merged file and the parts).

    Raises:
        `ValueError` naming the file and line for a line that is not a JSON object with a `video_id` (the folder holds
        something else than a run's predictions: never overwritten).
    """
    done: dict[str, str] = {}
    for path in _prediction_files(output_dir):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.endswith("\n"):
                    continue  # a partial last line (repaired by the main process before anyone writes)
                try:
                    video_id = json.loads(line)["video_id"]
                except (ValueError, KeyError, TypeError) as error:
                    raise ValueError(f"{path}, line {number}: not a prediction line ({error!r})") from None
                done.setdefault(video_id, line)
    return done


def _check_config(output_dir: Path, config: dict, overwrite: bool) -> None:
    """Main process: write `run_config.json`, or check that the existing one is the same (`RunConfigMismatch`)."""
    path = output_dir / RUN_CONFIG_FILE
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    if overwrite:
        for old in _prediction_files(output_dir):
            old.unlink()
    elif path.is_file() and path.read_text(encoding="utf-8") != text:
        old = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(key for key in set(old) | set(config) if old.get(key) != config.get(key))
        raise RunConfigMismatch(
            f"{output_dir} holds predictions of another run (different {', '.join(changed)}): use another "
            "--output-dir, or --overwrite to discard them"
        )
    elif not path.is_file() and _prediction_files(output_dir):
        raise RunConfigMismatch(
            f"{output_dir} holds prediction files without {RUN_CONFIG_FILE}: use another --output-dir, or "
            "--overwrite to discard them"
        )
    path.write_text(text, encoding="utf-8")


def _merge(output_dir: Path, items: list[VideoItem]) -> Path:
    """Main process: every video's line into `predictions.jsonl` in dataset order (written to a temporary file and
    renamed), then the part files removed."""
    done = read_done(output_dir)
    missing = [item.video_id for item in items if item.video_id not in done]
    if missing:
        raise RuntimeError(f"{len(missing)} video(s) have no prediction after the run (first: {missing[:3]})")
    target = output_dir / PREDICTIONS_FILE
    scratch = output_dir / f".{PREDICTIONS_FILE}.tmp"
    with scratch.open("w", encoding="utf-8") as handle:
        handle.writelines(done[item.video_id] for item in items)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(scratch, target)
    for part in output_dir.glob(PART_GLOB):
        part.unlink()
    return target


def _append(handle, lines: list[str]) -> None:
    handle.write("".join(lines))
    handle.flush()
    os.fsync(handle.fileno())


def run_predictions(
    predictor,
    items: list[VideoItem],
    output_dir,
    batch_size: int = 1,
    run_config: dict | None = None,
    overwrite: bool = False,
    state=None,
    progress: bool = True,
) -> dict:
    """Run `predictor` over `items` into `output_dir/predictions.jsonl` (module docstring: batches, shards, resuming).

    Args:
        predictor: a predictor (`predictors.py`).
        items (`list[VideoItem]`): the videos, in dataset order (unique ids).
        output_dir: the run folder (created).
        batch_size (`int`, *optional*, defaults to 1): videos per `generate` call.
        run_config (`dict`, *optional*): more of what determines the answers (e.g. the dataset and split), stored
            with the predictor's settings and the batch size in `run_config.json`.
        overwrite (`bool`, *optional*, defaults to `False`): discard the folder's predictions first.
        state: an `accelerate.PartialState` (default: `process_state()`).
        progress (`bool`, *optional*, defaults to `True`): a progress bar on the main process.

    Returns:
        `{"predictions": path of predictions.jsonl, "videos": n, "predicted": videos predicted by this run (all
        processes), "resumed": videos already done, "seconds": wall time, "timings": {phase: seconds summed over
        processes}, "processes": n}`. Every process returns; only the main process merges.
    """
    from tqdm.auto import tqdm

    state = state if state is not None else process_state()
    output_dir = Path(output_dir)
    ids = [item.video_id for item in items]
    if len(set(ids)) != len(ids):
        raise ValueError("The videos to predict have duplicate ids.")
    config = {**(run_config or {}), "predictor": predictor.settings(), "batch_size": batch_size, "videos": len(items)}
    start = time.perf_counter()
    if state.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        _check_config(output_dir, config, overwrite)
        for path in _prediction_files(output_dir):
            repair_tail(path)
    state.wait_for_everyone()
    done = read_done(output_dir)
    state.wait_for_everyone()  # everyone has read the files before anyone appends

    mine = [
        batch
        for index, batch in enumerate(batches_of(items, batch_size))
        if index % state.num_processes == state.process_index
    ]
    todo = [batch for batch in mine if any(item.video_id not in done for item in batch)]
    timings = dict.fromkeys(PHASES, 0.0)
    predicted = 0
    bar = tqdm(
        total=sum(len(batch) for batch in mine),
        initial=sum(len(batch) for batch in mine) - sum(len(batch) for batch in todo),
        desc="predicting" if state.num_processes == 1 else f"predicting (shard 1 of {state.num_processes})",
        unit="video",
        disable=not (progress and state.is_main_process),
    )
    with _part_path(output_dir, state.process_index).open("a", encoding="utf-8") as handle:
        for batch in todo:
            answers = checked_batch(predictor.predict(batch, timings), batch)
            lines = [
                prediction_line(item.video_id, answer.answer, answer.events, answer.gate_weights)
                for item, answer in zip(batch, answers)
                if item.video_id not in done
            ]
            _append(handle, lines)
            predicted += len(lines)
            bar.update(len(batch))
    bar.close()
    totals = gather(state, {"predicted": predicted, "timings": timings})
    state.wait_for_everyone()
    path = _merge(output_dir, items) if state.is_main_process else output_dir / PREDICTIONS_FILE
    state.wait_for_everyone()
    return {
        "predictions": str(path),
        "videos": len(items),
        "predicted": sum(entry["predicted"] for entry in totals),
        "resumed": sum(1 for item in items if item.video_id in done),
        "seconds": time.perf_counter() - start,
        "timings": {phase: sum(entry["timings"][phase] for entry in totals) for phase in PHASES},
        "processes": state.num_processes,
    }


def gather(state, value: dict) -> list[dict]:
    """Every process's `value` (one process: `[value]`)."""
    if state.num_processes == 1:
        return [value]
    from accelerate.utils import gather_object

    return gather_object([value])


__all__ = [
    "PREDICTIONS_FILE",
    "RUN_CONFIG_FILE",
    "RunConfigMismatch",
    "batches_of",
    "gather",
    "process_device",
    "process_state",
    "read_done",
    "repair_tail",
    "run_predictions",
]
