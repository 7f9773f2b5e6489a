"""Prediction files: what a system answered for each video of an M-VAE split, as JSONL, read back for scoring.

One line per video, a JSON object:

    {"video_id": "00001", "answer": "...", "events": [{"start": 1.0, "end": 4.5, "subject": "Person",
     "event_type": "Fighting", "object": "Person", "scene": "Street", "score": 0.9}, ...]}

- `video_id` (string, required): a video of the split scored; each video at most once.
- `events` (list, required, may be empty): the predicted events. Each event is an object whose keys are among
  `start`, `end`, `subject`, `event_type`, `object`, `scene`, `score`; every key may be missing or null (a
  prediction without times, or without a quadruple). Times and score are finite numbers (`NaN`/`Infinity` are
  refused), times are >= 0 and `end >= start`; the quadruple fields are strings. Any other key is refused, so that a
  misspelt field (`"event-type"`) cannot silently become a missing value.
- `answer` (string or null, optional): the raw text the model generated, kept for inspection, not scored.
- `gate_weights` (object or null, optional): for models with an expert gate, the video's mean gate weight per expert
  (`{"action": 0.25, ...}`, finite numbers >= 0), shown in the report (the paper's Figure 6); not scored.
- Other top-level keys are allowed and ignored (room for e.g. a model name); blank lines are skipped.

A video of the split missing from the file has no prediction (its gold events are all missed); the count is in the
report (`"videos_without_prediction"`).
"""

import json
import logging
import math
from collections.abc import Iterable
from pathlib import Path

from .events import ELEMENTS, EvalEvent, as_event


logger = logging.getLogger(__name__)

EVENT_KEYS = ("start", "end", *ELEMENTS, "score")
# The reasons a line is refused (the keys of `report["skipped"]`).
SKIP_REASONS = (
    "bad_json",
    "not_an_object",
    "missing_video_id",
    "bad_video_id",
    "unknown_video_id",
    "duplicate_video_id",
    "missing_events",
    "bad_answer",
    "bad_event",
    "bad_gate_weights",
)


class _LineError(ValueError):
    """A refused line: `reason` (one of `SKIP_REASONS`) and a readable message."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a valid JSON number")


def _parse_event(index: int, item) -> EvalEvent:
    if not isinstance(item, dict):
        raise _LineError("bad_event", f"event {index} is not a JSON object ({type(item).__name__})")
    unknown = sorted(set(item) - set(EVENT_KEYS))
    if unknown:
        raise _LineError(
            "bad_event",
            f"event {index} has unknown key(s) {', '.join(map(repr, unknown))} (keys: {', '.join(EVENT_KEYS)})",
        )
    try:
        event = as_event(item)
    except ValueError as error:
        raise _LineError("bad_event", f"event {index}: {error}") from error
    for name in ("start", "end", "score"):
        value = getattr(event, name)
        if value is not None and not math.isfinite(value):
            raise _LineError("bad_event", f"event {index}: `{name}` must be finite, got {value!r}")
    for name in ("start", "end"):
        value = getattr(event, name)
        if value is not None and value < 0:
            raise _LineError("bad_event", f"event {index}: `{name}` must be >= 0, got {value!r}")
    return event


def _parse_line(text: str, known: set, seen: set) -> tuple[str, list[EvalEvent], dict | None]:
    try:
        record = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as error:
        raise _LineError("bad_json", f"bad JSON ({error})") from error
    if not isinstance(record, dict):
        raise _LineError("not_an_object", f"not a JSON object but {type(record).__name__}")
    if "video_id" not in record:
        raise _LineError("missing_video_id", "no `video_id`")
    video_id = record["video_id"]
    if not isinstance(video_id, str) or not video_id:
        raise _LineError("bad_video_id", f"`video_id` must be a non-empty string, got {video_id!r}")
    if video_id not in known:
        raise _LineError("unknown_video_id", f"unknown video id {video_id!r} (not in the {len(known)} videos scored)")
    if video_id in seen:
        raise _LineError("duplicate_video_id", f"duplicate video id {video_id!r} (already given on an earlier line)")
    answer = record.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise _LineError("bad_answer", f"`answer` must be a string or null, got {type(answer).__name__}")
    gate_weights = record.get("gate_weights")
    if gate_weights is not None and not (
        isinstance(gate_weights, dict)
        and all(isinstance(k, str) and _is_number(v) and v >= 0 for k, v in gate_weights.items())
    ):
        raise _LineError("bad_gate_weights", "`gate_weights` must map expert names to finite numbers >= 0")
    if "events" not in record:
        raise _LineError("missing_events", f"no `events` for video {video_id!r}")
    events = record["events"]
    if not isinstance(events, list):
        raise _LineError("bad_event", f"`events` must be a list, got {type(events).__name__}")
    return video_id, [_parse_event(index, item) for index, item in enumerate(events)], gate_weights


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_predictions(
    path: str | Path, known_video_ids: Iterable[str], lenient: bool = False
) -> tuple[dict[str, list[EvalEvent]], dict]:
    """Read a JSONL prediction file (format in the module docstring).

    Args:
        path (`str` or `Path`): the JSONL file.
        known_video_ids (`Iterable[str]`): the videos of the split scored; any other video id is an error.
        lenient (`bool`, *optional*, defaults to `False`): skip malformed lines (counted by reason in the report)
            instead of raising. A duplicate video id keeps its first line.

    Returns:
        `(predictions, report)`: `predictions` is `{video_id: [EvalEvent, ...]}` in file order; `report` is
        `{"path", "lines" (non-blank lines read), "videos" (lines kept), "events" (events kept),
        "videos_without_prediction" (known videos absent from the file), "skipped": {reason: count}}` (reasons in
        `SKIP_REASONS`, only those that occurred), `"first_skipped"` (the message of the first skipped line, or
        None) and `"gate_weights"` (`{video_id: {expert: weight}}` for the lines that carry them).

    Raises:
        `ValueError("<path>, line <n>: <reason>")` for the first malformed line when `lenient` is false;
        `FileNotFoundError` (an `OSError`) when the file does not exist.
    """
    path = Path(path)
    known = {str(video_id) for video_id in known_video_ids}
    predictions: dict[str, list[EvalEvent]] = {}
    report = {"path": str(path), "lines": 0, "videos": 0, "events": 0, "skipped": {}, "first_skipped": None}
    gate_weights: dict[str, dict[str, float]] = {}
    if path.is_dir():
        raise ValueError(f"The predictions path {str(path)!r} is a directory, not a JSONL file.")
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            report["lines"] += 1
            try:
                video_id, events, weights = _parse_line(text, known, predictions.keys())
            except _LineError as error:
                message = f"{path}, line {number}: {error}"
                if not lenient:
                    raise ValueError(message) from None
                report["skipped"][error.reason] = report["skipped"].get(error.reason, 0) + 1
                report["first_skipped"] = report["first_skipped"] or message
                logger.warning("Skipped %s", message)
                continue
            predictions[video_id] = events
            if weights is not None:
                gate_weights[video_id] = {name: float(value) for name, value in weights.items()}
            report["videos"] += 1
            report["events"] += len(events)
    report["skipped"] = dict(sorted(report["skipped"].items()))
    report["videos_without_prediction"] = len(known - set(predictions))
    report["gate_weights"] = gate_weights
    if report["videos_without_prediction"]:
        logger.info("%d video(s) have no prediction line in %s", report["videos_without_prediction"], path)
    return predictions, report


def prediction_line(
    video_id: str, answer: str | None, events: Iterable, gate_weights: dict[str, float] | None = None
) -> str:
    """One prediction line (format in the module docstring), ending with a newline: sorted keys, no NaN. `events`
    are `EvalEvent`s, `AbnormalEvent`s or dicts (see `as_event`); each is written with all seven keys. `gate_weights`
    is written only when given.

    Raises:
        `ValueError` for an empty or non-string `video_id`, a non-string `answer`, a malformed event or a
        non-finite number.
    """
    if not isinstance(video_id, str) or not video_id:
        raise ValueError(f"`video_id` must be a non-empty string, got {video_id!r}.")
    if answer is not None and not isinstance(answer, str):
        raise ValueError(f"`answer` must be a string or None, got {type(answer).__name__}.")
    records = []
    for item in events:
        event = as_event(item)
        records.append({name: getattr(event, name) for name in EVENT_KEYS})
    record = {"video_id": video_id, "answer": answer, "events": records}
    if gate_weights is not None:
        record["gate_weights"] = {str(name): float(value) for name, value in gate_weights.items()}
    return json.dumps(record, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_predictions_line(
    handle, video_id: str, answer: str | None, events: Iterable, gate_weights: dict[str, float] | None = None
) -> None:
    """Write `prediction_line(...)` to the text `handle`."""
    handle.write(prediction_line(video_id, answer, events, gate_weights))


__all__ = ["EVENT_KEYS", "SKIP_REASONS", "prediction_line", "read_predictions", "write_predictions_line"]
