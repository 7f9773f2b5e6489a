"""Zero-shot baselines with Sherlock's yardstick: any transformers video LLM through its own processor.

    model, processor = load_video_llm("LanguageBind/Video-LLaVA-7B-hf")      # or a local folder
    predictor = VideoLLMPredictor(model, processor, num_frames=8)
    predictions = predictor.predict([VideoItem("v1", "v1.mp4")], timings)    # see `predictors.py`

Same yardstick as Sherlock: the frames come from `processing.load_video` (uniform sampling, the same frames Sherlock
sees), the question is Sherlock's `DEFAULT_INSTRUCTION` plus the frame-time line `timing_line(duration, timestamps)`,
rendered by the model's OWN chat template (`apply_chat_template`), tokenized and expanded to the model's own number of
video tokens by the model's OWN processor class, answered greedily, and parsed by Sherlock's tolerant parser with each
event scored by its line's mean token probability (`predictors.scored_events`).

Supported families (`config.json` `model_type`): `video_llava` (the paper's backbone), `llava_onevision`, `qwen2_vl`
and `qwen2_5_vl`, through `AutoModelForImageTextToText` (mapped for all four in transformers 5.23 and 5.24).

Without torchvision (not a dependency of this project), the families' video processors come from
`video_processors_torch.py`: transformers' own `BaseVideoProcessor` flow with torch primitives, the same tensors.
"""

import torch
import transformers
from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoProcessor, AutoTokenizer
from transformers.configuration_utils import PreTrainedConfig
from transformers.image_utils import ChannelDimension
from transformers.utils import is_torchvision_available

from processing import load_video
from processing.processing_sherlock import DEFAULT_INSTRUCTION, timing_line, video_metadata

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
from .video_processors_torch import SUPPORTED_MODEL_TYPES, torch_processor_class


VIDEO_BACKENDS = ("auto", "torch", "torchvision")
SHERLOCK_MODEL_TYPE = "sherlock"


# ---------------------------------------------------------------------------------------------------------- loading
def model_type_of(path_or_id) -> str:
    """The `model_type` of a model folder or Hub id, read from its `config.json` (no remote code runs)."""
    try:
        config_dict, _ = PreTrainedConfig.get_config_dict(str(path_or_id))
    except OSError as error:
        raise ValueError(
            f"{path_or_id} is neither a Sherlock model nor a supported video LLM: no readable config.json ({error})."
        ) from error
    if not config_dict.get("model_type"):
        raise ValueError(
            f"{path_or_id} is neither a Sherlock model nor a supported video LLM: no readable config.json with a "
            "model_type."
        )
    return str(config_dict["model_type"])


def model_kind(path_or_id) -> str:
    """`"sherlock"` for a Sherlock model, `"video_llm"` for a supported video LLM (`SUPPORTED_MODEL_TYPES`);
    a `ValueError` naming the `model_type` otherwise. What `sherlock evaluate --model` dispatches on."""
    model_type = model_type_of(path_or_id)
    if model_type == SHERLOCK_MODEL_TYPE:
        return "sherlock"
    if model_type in SUPPORTED_MODEL_TYPES:
        return "video_llm"
    raise ValueError(
        f"{path_or_id} is neither a Sherlock model nor a supported video LLM: its config.json has model_type "
        f"{model_type!r}; supported: {[SHERLOCK_MODEL_TYPE, *SUPPORTED_MODEL_TYPES]}."
    )


def resolve_video_backend(video_backend: str = "auto") -> str:
    """`"torchvision"` (the model's real video processor) or `"torch"` (`*VideoProcessorTorch`); `"auto"` picks
    torchvision when it is installed."""
    if video_backend not in VIDEO_BACKENDS:
        raise ValueError(f"video_backend must be one of {VIDEO_BACKENDS}, got {video_backend!r}.")
    if video_backend == "auto":
        return "torchvision" if is_torchvision_available() else "torch"
    if video_backend == "torchvision" and not is_torchvision_available():
        raise ValueError("video_backend='torchvision' needs torchvision; use 'torch' (or 'auto').")
    return video_backend


def load_video_llm_processor(path_or_id, video_backend: str = "auto"):
    """The model's own processor (`VideoLlavaProcessor`, `Qwen2VLProcessor`, ...) for a supported video LLM.

    With torchvision: `AutoProcessor.from_pretrained` unchanged. Without: the same processor class built from the same
    files (`get_processor_dict` + `from_args_and_dict`, as `ProcessorMixin.from_pretrained` does), with the tokenizer
    and the (PIL) image processor from the Auto classes and the video processor from the folder's video-processor
    config through the family's `*VideoProcessorTorch`."""
    if model_kind(path_or_id) != "video_llm":
        raise ValueError(f"{path_or_id} is a Sherlock model: load it with its own processor, not as a baseline.")
    if resolve_video_backend(video_backend) == "torchvision":
        return AutoProcessor.from_pretrained(path_or_id)
    processor_name, video_processor_class = SUPPORTED_MODEL_TYPES[model_type_of(path_or_id)]
    processor_class = torch_processor_class(getattr(transformers, processor_name))
    processor_dict, instantiation_kwargs = processor_class.get_processor_dict(path_or_id)
    saved = processor_dict.get("processor_class")
    if saved and saved != processor_name:
        raise ValueError(
            f"{path_or_id} saves processor_class {saved!r}, but its model_type expects {processor_name!r}; without "
            "torchvision only the model type's own processor can be built."
        )
    loaders = {
        "tokenizer": AutoTokenizer.from_pretrained,
        "image_processor": AutoImageProcessor.from_pretrained,
        "video_processor": video_processor_class.from_pretrained,
    }
    attributes = processor_class.get_attributes()
    if set(attributes) - set(loaders):
        raise ValueError(f"{processor_name} needs {attributes}; only {sorted(loaders)} can be loaded here.")
    arguments = [loaders[attribute](path_or_id) for attribute in attributes]
    return processor_class.from_args_and_dict(arguments, processor_dict, **instantiation_kwargs)


def load_video_llm(path_or_id, device="cpu", dtype=None, video_backend: str = "auto", **model_kwargs):
    """`(model, processor)` of a supported transformers video LLM (a local folder or a Hub id), in eval mode.

    Args:
        path_or_id: a folder or Hub id whose `config.json` has a `model_type` of `SUPPORTED_MODEL_TYPES`.
        device: where the model goes (ignored when `model_kwargs` has a `device_map`).
        dtype: the model's dtype (`torch.bfloat16`, `"auto"`, ...); `None` keeps transformers' default.
        video_backend: `"auto"`, `"torch"` or `"torchvision"` (see `resolve_video_backend`).
        model_kwargs: more `from_pretrained` arguments (`attn_implementation`, `device_map`, `revision`, ...).

    Raises:
        ValueError: the folder is a Sherlock model or not a supported video LLM (the message names its model_type).
    """
    processor = load_video_llm_processor(path_or_id, video_backend=video_backend)
    model = AutoModelForImageTextToText.from_pretrained(
        path_or_id, **({} if dtype is None else {"dtype": dtype}), **model_kwargs
    )
    if "device_map" not in model_kwargs:
        model = model.to(device)
    return model.eval(), processor


# -------------------------------------------------------------------------------------------------------- predictor
def build_prompt(processor, clip, instruction: str = DEFAULT_INSTRUCTION) -> str:
    """One video's prompt through the processor's own chat template: a user turn with the video and the instruction
    plus the frame-time line, then the generation prompt."""
    text = f"{instruction}\n{timing_line(clip.duration, clip.timestamps)}"
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": text}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def frames_metadata(clip) -> dict:
    """transformers' `VideoMetadata` fields of a sampled clip (Qwen2.5-VL's `second_per_grid_ts` comes from it)."""
    return {
        "total_num_frames": max(int(round(clip.duration * clip.fps)), len(clip.frames)),
        "fps": float(clip.fps),
        "duration": float(clip.duration),
        "frames_indices": [int(index) for index in clip.frame_indices],
        "height": int(clip.frames.shape[1]),
        "width": int(clip.frames.shape[2]),
    }


class VideoLLMPredictor:
    """A transformers video LLM answering Sherlock's question zero-shot (the predictor interface of `predictors.py`).

    Args:
        model: e.g. `VideoLlavaForConditionalGeneration`, `Qwen2VLForConditionalGeneration` (see `load_video_llm`).
        processor: the model's own processor (see `load_video_llm_processor`); prompts are padded on the left.
        num_frames (`int`, *optional*, defaults to 8): frames sampled uniformly by `processing.load_video`.
        max_new_tokens (`int`, *optional*, defaults to 128): the answer budget.
        instruction (`str`, *optional*, defaults to Sherlock's `DEFAULT_INSTRUCTION`): the question; the frame-time
            line is always added.
        name (`str`, *optional*): what `settings()` names the model (defaults to `model.name_or_path`).
        generation_kwargs: passed to `model.generate` (e.g. `logits_processor`); greedy decoding by default.
    """

    def __init__(
        self, model, processor, num_frames: int = 8, max_new_tokens: int = 128,
        instruction: str = DEFAULT_INSTRUCTION, name: str | None = None, **generation_kwargs,
    ):  # fmt: skip
        for label, value in (("num_frames", num_frames), ("max_new_tokens", max_new_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be a positive integer, got {value!r}.")
        self.model, self.processor = model, processor
        self.num_frames, self.max_new_tokens, self.instruction = num_frames, max_new_tokens, instruction
        self.name = name or str(getattr(model, "name_or_path", "") or type(model).__name__)
        self.generation_kwargs = generation_kwargs

    def settings(self) -> dict:
        """What determines the answers: the model and its processing, the frames, the question and generation."""
        video_processor = self.processor.video_processor
        return {
            "kind": "video_llm",
            "model": self.name,
            "model_type": self.model.config.model_type,
            "processor": type(self.processor).__name__,
            "video_processor": getattr(video_processor, "mirrors", "") or type(video_processor).__name__,
            "video_backend": getattr(video_processor, "backend", "torchvision"),
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "num_frames": self.num_frames,
            "instruction": self.instruction,
            "max_new_tokens": self.max_new_tokens,
            "generation": {key: repr(value) for key, value in sorted(self.generation_kwargs.items())},
        }

    def prompt(self, clip) -> str:
        """The chat prompt of one clip (see `build_prompt`)."""
        return build_prompt(self.processor, clip, self.instruction)

    def inputs(self, clips):
        """The model inputs of clips with the same frame count: the processor's tokens (left padding) and tensors."""
        inputs = self.processor(
            text=[self.prompt(clip) for clip in clips],
            videos=[clip.frames for clip in clips],
            video_metadata=[frames_metadata(clip) for clip in clips],
            do_sample_frames=False,
            input_data_format=ChannelDimension.LAST,
            padding=True,
            padding_side="left",
            return_tensors="pt",
        ).to(self.model.device)
        for name, value in inputs.items():  # pixels in the model's dtype; other floats (e.g. frame times) as they are
            if name.startswith("pixel_values") and value.is_floating_point():
                inputs[name] = value.to(self.model.dtype)
        return inputs

    @torch.inference_mode()
    def predict(self, videos: list[VideoItem], timings: dict[str, float]) -> list[VideoPrediction]:
        """Answer one batch of videos (`predictors.py`); adds decode / preprocess / generate / parse seconds to
        `timings`. Videos with fewer frames than `num_frames` are generated apart from the others."""
        with timed(timings, "decode"):
            clips = [load_video(video.path, num_frames=self.num_frames) for video in videos]
        predictions: list = [None] * len(videos)
        groups: dict[int, list[int]] = {}
        for index, clip in enumerate(clips):
            groups.setdefault(len(clip.timestamps), []).append(index)
        for indices in groups.values():
            for index, prediction in zip(indices, self._predict_clips([clips[i] for i in indices], timings)):
                predictions[index] = prediction
        return checked_batch(predictions, videos)

    def _predict_clips(self, clips, timings) -> list[VideoPrediction]:
        with timed(timings, "preprocess"):
            inputs = self.inputs(clips)
        tokenizer = self.processor.tokenizer
        settings = generation_settings(tokenizer, self.max_new_tokens, self.generation_kwargs)
        with timed(timings, "generate"):
            output = self.model.generate(**inputs, **settings)
        with timed(timings, "parse"):
            eos = eos_token_ids(self.model, tokenizer)
            answers = generated_answers(self.model, output, inputs["input_ids"].shape[1], eos)
            return [
                VideoPrediction(
                    answer=tokenizer.decode(ids, skip_special_tokens=True),
                    events=scored_events(
                        ids, logprobs, tokenizer, video_metadata(clip)["duration"], keep_events_without_times=True
                    ),
                )
                for (ids, logprobs), clip in zip(answers, clips)
            ]


__all__ = [
    "SHERLOCK_MODEL_TYPE",
    "SUPPORTED_MODEL_TYPES",
    "VIDEO_BACKENDS",
    "VideoLLMPredictor",
    "build_prompt",
    "frames_metadata",
    "load_video_llm",
    "load_video_llm_processor",
    "model_kind",
    "model_type_of",
    "resolve_video_backend",
    "torch_processor_class",
]
