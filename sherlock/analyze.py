"""Run Sherlock on one video: decode, extract (with the feature cache), generate, parse events with scores."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from processing import AbnormalEvent, SherlockProcessor

from .evaluation.predictors import line_scores, scored_events
from .evaluation.sherlock_predictor import GateRecorder


logger = logging.getLogger(__name__)


@dataclass
class AnalysisResult:
    """What `analyze_video` returns: the events, the raw answer and the clip's timing."""

    events: list[AbnormalEvent]
    answer: str
    duration: float  # seconds (float64, rounded to the microsecond)
    timestamps: list[float]  # the sampled frame times in seconds (float64, rounded to the microsecond)
    gate_weights: dict[str, float] | None = None  # mean gate weight per expert over the video tokens (None: no gate)

    def to_dict(self, video: str) -> dict:
        """The JSON form of `sherlock analyze --json` (and of the Space's download): seconds without float noise."""
        from processing.processing_sherlock import clean_seconds  # 18.72, never 18.719999313354492 or 18.719999

        return {
            "video": video,
            "duration": clean_seconds(self.duration),
            "frame_times": [clean_seconds(t) for t in self.timestamps],
            "answer": self.answer,
            "events": [event.to_dict() for event in self.events],
            "gate_weights": self.gate_weights,
        }


@torch.inference_mode()
def analyze_video(
    model,
    processor: SherlockProcessor,
    video,
    max_new_tokens: int = 128,
    question: str | None = None,
    array_fps: float | None = None,
    progress: Callable[[str], None] | None = None,
    **generation_kwargs,
):
    """Analyze one video with a Sherlock model and processor.

    Args:
        model: a `SherlockForConditionalGeneration` (or any model with the same inputs and `generate`).
        processor: the matching `SherlockProcessor`.
        video: a path, `bytes`, a binary file object (read once, from its current position) or a `(T, H, W, 3)` uint8
            array / list of frames (then give `array_fps`; see `load_video`).
        max_new_tokens: the answer budget.
        question: another instruction than the paper's (the frame-times line is kept).
        array_fps: the frame rate of an array input (required for arrays, ignored otherwise).
        progress: called with the name of each phase as it starts ("decoding and extracting", "generating",
            "parsing"), e.g. to show progress in a UI.
        generation_kwargs: passed to `model.generate` (e.g. `logits_processor`, `num_beams`, `do_sample=True`);
            greedy decoding by default. The output always carries the scores, which give the event scores.

    Returns:
        `AnalysisResult` with events sorted by start, each scored by the mean token probability of its line, the
        clip's duration and frame times (float64 seconds, rounded to the microsecond) and the mean gate weight per
        expert (what the model looked at).
    """
    if hasattr(video, "read"):
        video = video.read()  # once: the probe for the prompt and the processor both read these bytes
        if not isinstance(video, (bytes, bytearray, memoryview)):
            raise TypeError("A video file object must be opened in binary mode ('rb'); its read() returned text.")
        video = bytes(video)
    report = progress or (lambda phase: None)
    video_kwargs = {"array_fps": array_fps} if array_fps is not None else {}
    report("decoding and extracting")
    text = None
    if question:
        clip = processor.load_video(video, decode=False, **video_kwargs)  # the frame times for the prompt
        text = [processor.build_prompt(clip, question)]
    inputs = processor(text=text, videos=[video], return_metadata=True, **video_kwargs)
    metadata = inputs.pop("video_metadata")[0]
    inputs = inputs.to(model.device)
    pad = processor.tokenizer.pad_token_id
    settings = {
        "max_new_tokens": max_new_tokens,
        "do_sample": False,
        "pad_token_id": pad if pad is not None else processor.tokenizer.eos_token_id,
        **generation_kwargs,
        "return_dict_in_generate": True,
        "output_scores": True,
    }
    report("generating")
    with GateRecorder(model) as gates:
        output = model.generate(**inputs, **settings)
    report("parsing")
    prompt_length = inputs["input_ids"].shape[1]
    answer_ids = output.sequences[0, prompt_length:].tolist()
    logprobs = model.compute_transition_scores(output.sequences, output.scores, normalize_logits=True)[0].tolist()
    answer = processor.tokenizer.decode(answer_ids, skip_special_tokens=True)
    duration = float(metadata["duration"])
    events = sorted(scored_events(answer_ids, logprobs, processor.tokenizer, duration), key=lambda e: (e.start, e.end))
    timestamps = [float(t) for t in metadata["timestamps"]]
    return AnalysisResult(
        events=events, answer=answer, duration=duration, timestamps=timestamps, gate_weights=gates.per_video(1)[0]
    )


__all__ = ["AnalysisResult", "analyze_video", "line_scores"]
