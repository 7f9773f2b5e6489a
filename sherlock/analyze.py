"""Run Sherlock on one video: decode, extract (with the feature cache), generate, parse events with scores."""

import logging
import math
from dataclasses import dataclass

import torch

from processing import AbnormalEvent, SherlockProcessor, post_process_events


logger = logging.getLogger(__name__)


@dataclass
class AnalysisResult:
    """What `analyze_video` returns: the events, the raw answer and the clip's timing."""

    events: list[AbnormalEvent]
    answer: str
    duration: float
    timestamps: list[float]


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


@torch.inference_mode()
def analyze_video(model, processor: SherlockProcessor, video, max_new_tokens: int = 128, question: str | None = None):
    """Analyze one video with a Sherlock model and processor.

    Args:
        model: a `SherlockForConditionalGeneration` (or any model with the same inputs and `generate`).
        processor: the matching `SherlockProcessor`.
        video: a path, file object or array (see `load_video`).
        max_new_tokens: the answer budget.
        question: another instruction than the paper's.

    Returns:
        `AnalysisResult` with events sorted by start, each scored by the mean token probability of its line.
    """
    text = None
    if question:
        clip = processor.load_video(video, decode=False)  # the frame times for the prompt; no decoding
        text = [processor.build_prompt(clip, question)]
    inputs = processor(text=text, videos=[video], return_metadata=True)
    metadata = inputs.pop("video_metadata")[0]
    inputs = inputs.to(model.device)
    pad = processor.tokenizer.pad_token_id
    output = model.generate(
        **inputs,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        return_dict_in_generate=True,
        output_scores=True,
        pad_token_id=pad if pad is not None else processor.tokenizer.eos_token_id,
    )
    prompt_length = inputs["input_ids"].shape[1]
    answer_ids = output.sequences[0, prompt_length:].tolist()
    logprobs = model.compute_transition_scores(output.sequences, output.scores, normalize_logits=True)[0].tolist()
    answer = processor.tokenizer.decode(answer_ids, skip_special_tokens=True)
    events = []
    for line, score in line_scores(answer_ids, logprobs, processor.tokenizer):
        for event in post_process_events(line, duration=metadata["duration"]):
            event.score = score
            events.append(event)
    events.sort(key=lambda e: (e.start, e.end))
    return AnalysisResult(
        events=events, answer=answer, duration=metadata["duration"], timestamps=metadata["timestamps"]
    )


__all__ = ["AnalysisResult", "analyze_video", "line_scores"]
