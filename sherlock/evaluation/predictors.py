"""What `sherlock evaluate --model` runs over a split: a *predictor* turns a batch of videos into answers and events.

A predictor is any object with

    predict(videos: list[VideoItem], timings: dict[str, float]) -> list[VideoPrediction]
    settings() -> dict   # what determines its answers (model, frames, generation settings): JSON-serialisable

`predict` answers one batch (one `VideoPrediction` per `VideoItem`, same order) and adds the seconds it spent to
`timings` under the phase names of `PHASES` (`decode`: reading and sampling the video; `extract`: the expert
extractors / feature cache; `preprocess`: pixel values and tokens; `generate`: `model.generate`; `parse`: answers to
events). Its answers must depend only on the batch's videos (same batch, same answers), never on what it answered
before: the runner relies on it to resume a killed run and to shard a split across processes.

- `SherlockPredictor` (here): a Sherlock model and its processor (the answer's line scores from the token
  log-probabilities, and the mean gate weight per expert);
- `sherlock.evaluation.baselines`: other transformers Video-LLMs zero-shot, through their own processor and chat
  template, with the same instruction and parser.
"""

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from processing import AbnormalEvent, post_process_events

from .dataset import VideoItem


PHASES = ("decode", "extract", "preprocess", "generate", "parse")


@dataclass
class VideoPrediction:
    """A predictor's answer for one video: the generated text, the events parsed from it (each with its `score`),
    and, for models with a gate, the mean gate weight of each expert over the video tokens (`{expert: weight}`)."""

    answer: str
    events: list[AbnormalEvent]
    gate_weights: dict[str, float] | None = field(default=None)


def add_time(timings: dict[str, float], phase: str, seconds: float) -> None:
    """Add `seconds` to `timings[phase]` (`phase` one of `PHASES`)."""
    if phase not in PHASES:
        raise ValueError(f"Unknown phase {phase!r}; choose from {list(PHASES)}.")
    timings[phase] = timings.get(phase, 0.0) + seconds


@contextmanager
def timed(timings: dict[str, float], phase: str):
    """`with timed(timings, "generate"): ...` adds the block's wall time to `timings["generate"]`."""
    start = time.perf_counter()
    try:
        yield
    finally:
        add_time(timings, phase, time.perf_counter() - start)


def line_scores(answer_ids: list[int], token_logprobs: list[float], tokenizer) -> list[tuple[str, float]]:
    """Split a generated answer into lines and score each line by its tokens' log-probabilities.

    `score = exp(mean token log-probability)` in (0, 1], the geometric mean of the probabilities of the tokens that
    produced the line (the token that carries the newline counts for the line it ends; text after a newline inside
    that token starts the next line).
    """
    lines: list[tuple[str, float]] = []
    carry, start = "", 0
    for position in range(len(answer_ids)):
        text = carry + tokenizer.decode(answer_ids[start : position + 1], skip_special_tokens=True)
        if "\n" in text:
            *complete, carry = text.split("\n")
            window = token_logprobs[start : position + 1]
            score = math.exp(sum(window) / len(window))
            lines.extend((line, score) for line in complete)
            start = position + 1
    tail = carry + tokenizer.decode(answer_ids[start:], skip_special_tokens=True)
    window = token_logprobs[start:] or token_logprobs[-1:]
    if tail.strip() and window:
        lines.append((tail, math.exp(sum(window) / len(window))))
    return lines


def scored_events(
    answer_ids: list[int],
    token_logprobs: list[float],
    tokenizer,
    duration: float | None,
    keep_events_without_times: bool = False,
) -> list[AbnormalEvent]:
    """The events of one generated answer, each scored by the mean token probability of its line (`line_scores`),
    parsed with Sherlock's tolerant parser (`post_process_events`), in generation order (the mAP ranks tied scores
    in this order: DESIGN §6, "ties keep generation order").

    With `keep_events_without_times=True` (what an evaluation passes) an event whose line has a quadruple but no valid
    time span is kept with `start = end = None`: the extraction F1 scores its quadruple, and the localisation counts
    it in `predictions_without_times` (`localization.py`). Without it, such events are dropped, so that every event
    has times (what a timeline or a subtitle track needs)."""
    events = []
    for line, score in line_scores(answer_ids, token_logprobs, tokenizer):
        for event in post_process_events(line, duration=duration, keep_events_without_times=keep_events_without_times):
            event.score = score
            events.append(event)
    return events


def generation_settings(tokenizer, max_new_tokens: int, generation_kwargs: dict) -> dict:
    """`generate` keyword arguments of an evaluation: greedy unless `generation_kwargs` say otherwise, padding with
    the tokenizer's pad (else end-of-sequence) token, and always the scores that give the event scores."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return {
        "max_new_tokens": max_new_tokens,
        "do_sample": False,
        "pad_token_id": pad,
        **generation_kwargs,
        "return_dict_in_generate": True,
        "output_scores": True,
    }


def generated_answers(model, output, prompt_length: int, eos_token_ids) -> list[tuple[list[int], list[float]]]:
    """Per row of a batched `generate(..., return_dict_in_generate=True, output_scores=True)`: the answer token ids
    up to and including the first end-of-sequence token (what a batch of one would have generated; the padding of
    rows that finished early is dropped) and their log-probabilities."""
    logprobs = model.compute_transition_scores(output.sequences, output.scores, normalize_logits=True)
    eos = set(eos_token_ids or [])
    answers = []
    for row in range(output.sequences.shape[0]):
        ids = output.sequences[row, prompt_length:].tolist()
        stop = next((i + 1 for i, token in enumerate(ids) if token in eos), len(ids))
        answers.append((ids[:stop], logprobs[row, :stop].tolist()))
    return answers


def eos_token_ids(model, tokenizer) -> list[int]:
    """The end-of-sequence ids generation stops at (generation config first, then the tokenizer)."""
    value = getattr(model.generation_config, "eos_token_id", None)
    if value is None:
        value = tokenizer.eos_token_id
    if value is None:
        return []
    return [int(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


def checked_batch(predictions: list[VideoPrediction], videos: list[VideoItem]) -> list[VideoPrediction]:
    """`predictions` after checking that there is one per video."""
    if len(predictions) != len(videos):
        raise RuntimeError(f"The predictor answered {len(predictions)} of the {len(videos)} videos of the batch.")
    return predictions


__all__ = [
    "PHASES",
    "VideoItem",
    "VideoPrediction",
    "add_time",
    "checked_batch",
    "eos_token_ids",
    "generated_answers",
    "generation_settings",
    "line_scores",
    "scored_events",
    "timed",
]
