"""M-VAE rows from round-1 CUVA rows (`build_mvae`): ids, split, types, moments, durations -> events or rejects.

- **Video ids**: `video_id` 1 -> "00001" (file "00001.mp4"); a sub-clip id, a repeated id (the later row) and a video
  absent from `splits.json` are rejected.
- **Types**: several `X1` codes pair with the segments in order when their numbers match, else the highest-score code
  goes with every segment; the event type is the class.
- **Segment vs row rejects**: a bad segment of a row that keeps at least one good segment is a `level: "segment"`
  reject and the row stays with its good segments; a row that is not in the dataset has exactly one `level: "row"`
  reject (the first failed check in the order id, duplicate, split, type, moments, video). So
  `len(rows) + #row rejects = #input rows`, and for every kept row `#events + #segment rejects = #segments`.
- **Durations** (with a video root): a segment that starts at or after the video's end, or ends more than the
  tolerance after it, is `past_video_end`; an end within the tolerance is clipped to the duration (counted).
- **Descriptions**: the i-th bracket describes the i-th segment when the counts match, else every segment gets the
  whole description (counted). Subject, object and scene: `mvae_elements.extract_elements`.
"""

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from dataset_scripts.mvae_cuva import (
    CuvaRow,
    RowProblem,
    pair_types_with_segments,
    parse_descriptions,
    parse_moments,
    parse_type_codes,
    parse_video_id,
)
from dataset_scripts.mvae_elements import extract_elements
from dataset_scripts.mvae_schema import SOURCE_FIELDS, make_row
from processing import VideoDecodeError, load_video
from processing.vocabulary_sherlock import CUVA_CLASS_TO_EVENT_TYPE


MVAE_SOURCE_FIELDS = (*SOURCE_FIELDS, "gt_cause", "gt_result", "frame_size", "sheet_row")
"""`source` of an M-VAE row: the schema's defaults, the CUVA cause / result answers, "WxH" and the sheet row."""


@dataclass
class BuildOutcome:
    """The rows, the rejects and the counters of a build (before writing)."""

    rows: list[dict]
    rejects: list[dict]
    input_rows: int
    counters: Counter = field(default_factory=Counter)


def _row_reject(row: CuvaRow, video_id: str, problem: RowProblem) -> dict:
    return {
        "level": "row",
        "row": row.sheet_row,
        "video_id": video_id,
        "reason": problem.reason,
        "detail": problem.detail,
        "type_codes": row.type_codes or "",
        "moment": row.moment or "",
    }


def build_rows(
    cuva_rows: Sequence[CuvaRow],
    splits: dict[str, str],
    categories: dict[str, str] | None = None,
    gt: dict[str, dict[str, str]] | None = None,
    frame_sizes: dict[str, dict] | None = None,
    durations: dict[str, float | RowProblem] | None = None,
    duration_tolerance: float = 1.0,
    llm=None,
) -> BuildOutcome:
    """Turn round-1 rows into M-VAE rows (sheet order) and rejects.

    Args:
        durations: with a video root, `{"00001": seconds or RowProblem}` (a video absent from it is `video_missing`).
        llm: an `LlmElementExtractor` (or any callable `(description, reason) -> {"subject", "object", "scene"}`).
    """
    gt = gt or {}
    frame_sizes = frame_sizes or {}
    outcome = BuildOutcome([], [], len(cuva_rows))
    counters = outcome.counters
    seen: dict[str, int] = {}
    for row in tqdm(cuva_rows, desc="M-VAE rows", unit="row", disable=len(cuva_rows) < 100):
        raw_id = "" if row.video_id is None else str(row.video_id).strip()
        try:
            video_id = parse_video_id(row.video_id)
        except RowProblem as problem:
            outcome.rejects.append(_row_reject(row, raw_id, problem))
            continue
        video = f"{video_id}.mp4"
        try:
            if video_id in seen:
                raise RowProblem("duplicate_video_id", f"video {video_id} already at sheet row {seen[video_id]}")
            seen[video_id] = row.sheet_row
            if video not in splits:
                raise RowProblem("not_in_split", f"{video} is in neither split of splits.json")
            codes = parse_type_codes(row.type_codes, categories)
            segments = parse_moments(row.moment)
            duration = None
            if durations is not None:
                probed = durations.get(video_id, RowProblem("video_missing", f"no {video} under the video root"))
                if isinstance(probed, RowProblem):
                    raise probed
                duration = float(probed)
                for segment in segments:
                    if segment.problem is None and (
                        segment.start >= duration or segment.end > duration + duration_tolerance
                    ):
                        segment.problem = RowProblem(
                            "past_video_end",
                            f"segment {segment.index} {segment.text} = {segment.start:g}-{segment.end:g} s runs past "
                            f"the video's end at {duration:g} s",
                        )
            good = [segment for segment in segments if segment.problem is None]
            if not good:
                first = segments[0].problem
                details = "; ".join(segment.problem.detail for segment in segments)
                raise RowProblem(first.reason, f"no valid segment: {details}")
        except RowProblem as problem:
            outcome.rejects.append(_row_reject(row, video_id, problem))
            continue

        type_of_segment, pairing = pair_types_with_segments(codes, len(segments))
        counters[f"types_{pairing}"] += 1
        descriptions = parse_descriptions(row.description)
        if len(descriptions) == len(segments):
            segment_texts = descriptions
        else:
            segment_texts = [" ".join(descriptions)] * len(segments)
            counters["description_shared"] += 1
        events = []
        for segment, code, text in zip(segments, type_of_segment, segment_texts):
            if segment.problem is not None:
                outcome.rejects.append(
                    {
                        "level": "segment",
                        "row": row.sheet_row,
                        "video_id": video_id,
                        "segment": segment.index,
                        "moment": segment.text,
                        "reason": segment.problem.reason,
                        "detail": segment.problem.detail,
                    }
                )
                continue
            end = segment.end
            if duration is not None and end > duration:
                end = duration
                counters["end_clipped_to_duration"] += 1
            event_type = CUVA_CLASS_TO_EVENT_TYPE[int(code.split("-")[0])]
            elements, sources = extract_elements(event_type, code, text, row.reason, row.result, llm=llm)
            for name, source in sources.items():
                counters[f"{name}_from_{source}"] += 1
                if source == "default":
                    counters[f"default_{name}:{elements[name]}"] += 1
            events.append(
                {
                    "start": segment.start,
                    "end": end,
                    "subject": elements["subject"],
                    "event_type": event_type,
                    "object": elements["object"],
                    "scene": elements["scene"],
                }
            )
        size = frame_sizes.get(video)
        source = {
            "type_codes": row.type_codes,
            "reason": row.reason,
            "result": row.result,
            "moment": row.moment,
            "description": row.description,
            "key_sentences": row.key_sentences,
            "gt_description": gt.get("description", {}).get(video),
            "gt_cause": gt.get("cause", {}).get(video),
            "gt_result": gt.get("result", {}).get(video),
            "frame_size": f"{size['width']}x{size['height']}" if size else "",
            "sheet_row": str(row.sheet_row),
        }
        outcome.rows.append(
            make_row(video_id, video, splits[video], events, duration, source, source_fields=MVAE_SOURCE_FIELDS)
        )
    return outcome


def probe_durations(video_root: str | os.PathLike, video_ids: Sequence[str]) -> dict[str, float | RowProblem]:
    """Each video's duration with the processor's video IO (`load_video(decode=False)`: no frame is decoded)."""
    root = Path(video_root)
    durations = {}
    for video_id in tqdm(video_ids, desc="video durations", unit="video"):
        path = root / f"{video_id}.mp4"
        if not path.is_file():
            durations[video_id] = RowProblem("video_missing", f"no {path.name} under the video root")
            continue
        try:
            durations[video_id] = float(load_video(path, num_frames=1, decode=False).duration)
        except VideoDecodeError as error:
            durations[video_id] = RowProblem("video_unreadable", f"{path.name}: {error.reason}")
    return durations


__all__ = ["MVAE_SOURCE_FIELDS", "BuildOutcome", "build_rows", "probe_durations"]
