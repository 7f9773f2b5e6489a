"""`SherlockPredictor`: a Sherlock model and its processor as a predictor of `sherlock evaluate --model`
(interface in `predictors.py`)."""

import threading
from contextlib import contextmanager

import torch

from .predictors import (
    VideoItem,
    VideoPrediction,
    checked_batch,
    eos_token_ids,
    generated_answers,
    generation_settings,
    scored_events,
    timed,
)


@contextmanager
def _timed_methods(obj, phases: dict[str, str], timings: dict[str, float]):
    """While active, calls of `obj.<name>()` add their wall time to `timings[phases[name]]` (instance attributes
    shadow the methods; removed on exit). A call made inside another timed call is not counted again."""
    depth = [0]
    for name, phase in phases.items():
        method = getattr(obj, name)

        def wrapper(*args, _method=method, _phase=phase, **kwargs):
            if depth[0]:
                return _method(*args, **kwargs)
            depth[0] += 1
            try:
                with timed(timings, _phase):
                    return _method(*args, **kwargs)
            finally:
                depth[0] -= 1

        setattr(obj, name, wrapper)
    try:
        yield
    finally:
        for name in phases:
            obj.__dict__.pop(name, None)


class GateRecorder:
    """Records the gate weights of the first (prefill) forward of `generate`: `(batch, video tokens, experts)`.
    A model without a gate (`config.gate` not "soft") averages its experts: it has no gate weights to report.
    Only forwards run by the thread that entered it count, so threads sharing one model (a Space serving several
    users) each record their own."""

    def __init__(self, model):
        self.model = model
        self.weights = None

    def __enter__(self):
        self.weights = None
        self.thread = threading.get_ident()
        gate = getattr(self.model.model, "expert_gate", None)
        self.handle = gate.register_forward_hook(self._record) if gate is not None else None
        return self

    def _record(self, module, inputs, output):
        if self.weights is None and threading.get_ident() == self.thread:
            weights = output[1]
            self.weights = weights.detach().float().reshape(weights.shape[0], -1, weights.shape[-1]).cpu()

    def __exit__(self, *exc):
        if self.handle is not None:
            self.handle.remove()

    def per_video(self, batch_size: int) -> list[dict[str, float] | None]:
        """Each video's mean gate weight per expert (`{expert: weight}`, in `config.experts` order); None for every
        video of a model without a gate."""
        if self.weights is None:
            return [None] * batch_size
        experts = list(self.model.config.experts)
        return [
            {name: round(float(value), 6) for name, value in zip(experts, row)} for row in self.weights.mean(dim=1)
        ]


class SherlockPredictor:
    """Runs a `SherlockForConditionalGeneration` with its `SherlockProcessor` over batches of videos.

    Greedy decoding by default; each event is scored by the mean token probability of its answer line (an event with a
    quadruple but no valid time span is kept, with `start = end = None`: `predictors.scored_events`), and each video
    gets its mean gate weight per expert (the paper's Figure 6). The processor's feature cache (`feature_cache_dir`)
    is used as usual, so a second run over the same videos skips the extractors. The videos of a batch that sample
    different frame counts (shorter than `num_frames`, or sampled by `fps`) are generated in separate groups (by frame
    count, in batch order), since their inputs cannot be stacked.

    Args:
        model: the model (in eval mode, on its device).
        processor: its processor; its tokenizer pads on the left for batched generation (set here).
        max_new_tokens (`int`, *optional*, defaults to 128): the answer budget.
        name (`str`, *optional*): what `settings()` names the model (defaults to `model.name_or_path`).
        generation_kwargs: passed to `model.generate` (e.g. `num_beams`).
    """

    def __init__(self, model, processor, max_new_tokens: int = 128, name: str | None = None, **generation_kwargs):
        self.model = model
        self.processor = processor
        self.max_new_tokens = max_new_tokens
        self.name = name or str(getattr(model, "name_or_path", "") or type(model).__name__)
        self.generation_kwargs = generation_kwargs
        processor.tokenizer.padding_side = "left"  # prompts end where generation starts

    def settings(self) -> dict:
        """What determines the answers: the model, the frame sampling, the extractors and the generation settings."""
        return {
            "kind": "sherlock",
            "model": self.name,
            "num_frames": self.processor.num_frames,
            "fps": self.processor.fps,
            "extractors": {  # where the extractors run does not change their outputs
                part: {k: v for k, v in value.items() if k != "device"} if isinstance(value, dict) else value
                for part, value in self.processor.extractors.items()
            },
            "max_new_tokens": self.max_new_tokens,
            "generation": {key: repr(value) for key, value in sorted(self.generation_kwargs.items())},
        }

    @torch.inference_mode()
    def predict(self, videos: list[VideoItem], timings: dict[str, float]) -> list[VideoPrediction]:
        """Answer one batch of videos (`predictors.py`); adds decode / extract / preprocess / generate / parse
        seconds to `timings`."""
        groups: dict[int, list[int]] = {}
        with timed(timings, "decode"):  # the frame count of each video, from its packet headers (no decoding)
            for index, video in enumerate(videos):
                groups.setdefault(len(self.processor.load_video(video.path, decode=False).timestamps), []).append(
                    index
                )
        answers: dict[int, VideoPrediction] = {}
        for indices in groups.values():
            for index, answer in zip(indices, self._predict_group([videos[i] for i in indices], timings)):
                answers[index] = answer
        return checked_batch([answers[index] for index in range(len(videos))], videos)

    def _predict_group(self, videos: list[VideoItem], timings: dict[str, float]) -> list[VideoPrediction]:
        """One `generate` call for videos with the same frame count."""
        inner: dict[str, float] = {}
        phases = {"load_video": "decode", "extract_features": "extract", "_cached_features": "extract"}
        with timed(timings, "preprocess"), _timed_methods(self.processor, phases, inner):
            inputs = self.processor(videos=[video.path for video in videos], return_metadata=True)
        for phase, seconds in inner.items():  # `preprocess` is what the processor spent besides decoding, extracting
            timings[phase] = timings.get(phase, 0.0) + seconds
            timings["preprocess"] -= seconds
        metadata = inputs.pop("video_metadata")
        inputs = inputs.to(self.model.device)
        tokenizer = self.processor.tokenizer
        settings = generation_settings(tokenizer, self.max_new_tokens, self.generation_kwargs)
        with timed(timings, "generate"), GateRecorder(self.model) as gates:
            output = self.model.generate(**inputs, **settings)
        with timed(timings, "parse"):
            answers = generated_answers(
                self.model, output, inputs["input_ids"].shape[1], eos_token_ids(self.model, tokenizer)
            )
            return [
                VideoPrediction(
                    answer=tokenizer.decode(ids, skip_special_tokens=True),
                    events=scored_events(
                        ids, logprobs, tokenizer, float(meta["duration"]), keep_events_without_times=True
                    ),
                    gate_weights=weights,
                )
                for (ids, logprobs), meta, weights in zip(answers, metadata, gates.per_video(len(videos)))
            ]


__all__ = ["GateRecorder", "SherlockPredictor"]
