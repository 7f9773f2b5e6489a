# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""SherlockProcessor: a video in, Sherlock's model inputs out — and the generated answer back to abnormal events.

The processor decodes the video (decord, PyAV as fallback), samples frames with their timestamps, runs the expert
extractors (with a feature cache), builds the chat prompt with the paper's instruction and the frame times, and
expands the `<video>` placeholder to the number of video tokens the model fills.

This file ships to the Hub as remote code: it may import only the standard library, torch, numpy, transformers and
single-dot siblings.
"""

import copy
import hashlib
import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin
from transformers.utils import logging

from .events_sherlock import AbnormalEvent, post_process_events
from .extractors_sherlock import (
    DEFAULT_EXTRACTOR_SETTINGS,
    EXPERT_OUTPUT_KEYS,
    backend_accepts,
    build_extractors,
    is_precomputed,
)
from .feature_cache_sherlock import FeatureCache, FeatureCacheMiss
from .geometry_sherlock import ViewWindow, frame_size_of, image_processor_window, map_expert_arrays
from .saved_paths_sherlock import (
    LEGACY_FEATURE_CACHE_KEY,
    RELATIVE_PREFIX,
    hub_root,
    relative_feature_cache_dir,
    relative_references,
    relocate_extractor_settings,
    resolve_saved_paths,
    upgrade_legacy_keys,
)
from .video_sherlock import VideoClip, load_video, round_seconds, video_content_hash


logger = logging.get_logger(__name__)

# What the processor needs beyond torch, numpy and transformers (import name -> pip name, what for). transformers reads
# a remote module's imports and asks for missing ones; these are imported where they are used, so they are checked
# here at once: one error names every missing package instead of one per run.
REQUIRED_PACKAGES = {
    "PIL": ("Pillow", "the image processors"),
    "av": ("av", "video decoding with PyAV"),
    "scipy": ("scipy", "ViTPose's crops and keypoints"),
}


def missing_packages() -> list[str]:
    """The import names of `REQUIRED_PACKAGES` that cannot be imported here."""
    missing = []
    for name in REQUIRED_PACKAGES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def check_required_packages() -> None:
    """Raise one `ImportError` naming every missing package of `REQUIRED_PACKAGES` (run when this module loads)."""
    missing = missing_packages()
    if missing:
        needs = ", ".join(f"{REQUIRED_PACKAGES[name][0]} ({REQUIRED_PACKAGES[name][1]})" for name in missing)
        install = " ".join(REQUIRED_PACKAGES[name][0] for name in missing)
        raise ImportError(
            f"SherlockProcessor needs packages that are not installed: {needs}. Run `pip install {install}`."
        )


check_required_packages()

# The paper's instruction (one source of truth: the dataset builders import it from here).
DEFAULT_INSTRUCTION = (
    "Generate a quadruple and localize an abnormal event in the video. The quadruple includes subject, event type, "
    "object, and scene in abnormal events."
)
# Video-LLaVA's chat format: `USER: <video>\n... ASSISTANT:`; assistant turns end with the EOS token.
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}USER: "
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'video' %}<video>\n{% elif part['type'] == 'image' %}<image>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %} "
    "{% elif message['role'] == 'assistant' %}ASSISTANT: "
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ eos_token }}"
    "{% elif message['role'] == 'system' %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{{ part['text'] }}{% endfor %}{% endif %} "
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
# The extractors' arrays that are model inputs as they are (background frames go through the image processor).
EXPERT_ARRAY_NAMES = tuple(name for name in EXPERT_OUTPUT_KEYS if name != "background_frames")


_LEGACY_KEYWORD_MESSAGE = (
    "`cache_dir` of SherlockProcessor is deprecated and will be removed in a future version: use `feature_cache_dir` "
    "(`cache_dir` is the download folder of `from_pretrained`)."
)

# Name, in the cached pixel entry, of the decoded frame size `(height, width)`: the cached path needs it to map boxes
# and keypoints into the cropped view without decoding the video.
FRAME_SIZE_KEY = "video_frame_size"
# Version of the cached pixel entry (part of its cache key); 3: background frames cropped square also when the video
# frames are resized without a crop (entries of 2 could hold uncropped ones).
PIXEL_ENTRY_VERSION = 3


def _model_arrays(features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The features that are model inputs as they are: the expert arrays and cached background-tower outputs."""
    return {
        name: value for name, value in features.items() if name in EXPERT_ARRAY_NAMES or name == "background_features"
    }


def _unmasked(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """`(frames, slots)` booleans: the slots (persons, objects) that `mask` keeps (all of them without a mask)."""
    if mask is None or mask.shape != values.shape[:2]:
        return np.ones(values.shape[:2], dtype=bool)
    return mask.astype(bool)


def check_expert_values(features: dict[str, np.ndarray], source) -> None:
    """Check the values of one video's expert arrays (full-frame, as the extractors or the feature cache give them)
    before they become model inputs, over the persons and objects their masks keep: keypoints finite with scores in
    [0, 1], boxes finite, background features finite. The view mapping clamps coordinates with `np.clip`, which lets a
    NaN through (and the model checks its inputs only when `config.check_expert_inputs` and not while compiling).

    Raises:
        `ValueError` (one line) naming the input, the video and the first bad frame.
    """
    problems = []  # (name, per-entry bad booleans with frames first, what is wrong)
    keypoints = features.get("pose_keypoints")
    if keypoints is not None and keypoints.ndim == 4 and keypoints.size:
        keep = _unmasked(keypoints, features.get("pose_mask"))[..., None]  # (frames, persons, 1): every keypoint
        finite = np.isfinite(keypoints).all(axis=-1)
        scores = keypoints[..., 2]
        problems.append(("pose_keypoints", ~finite & keep, "is not finite"))
        problems.append(
            ("pose_keypoints", finite & ~((scores >= 0) & (scores <= 1)) & keep, "has a score outside [0, 1]")
        )
    boxes = features.get("object_boxes")
    if boxes is not None and boxes.ndim == 3 and boxes.size:
        keep = _unmasked(boxes, features.get("object_mask"))
        problems.append(("object_boxes", ~np.isfinite(boxes).all(axis=-1) & keep, "is not finite"))
    background = features.get("background_features")
    if background is not None and background.size and np.issubdtype(background.dtype, np.floating):
        problems.append(("background_features", ~np.isfinite(background), "is not finite"))
    for name, bad, what in problems:
        if bad.any():
            frames = np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))
            raise ValueError(
                f"The expert input `{name}` of video {source} {what} at frame {int(frames[0])} ({len(frames)} of "
                f"{bad.shape[0]} frames): check the extractors' output or the feature cache entry of this video."
            )


def timing_line(duration: float, timestamps) -> str:
    """The prompt line that grounds timestamps: the duration and the sampled frame times, in seconds."""
    times = ", ".join(f"{float(t):.1f}" for t in np.asarray(timestamps).reshape(-1))
    return f"The video lasts {float(duration):.1f} seconds; its frames are sampled at {times} seconds."


class SherlockProcessor(ProcessorMixin):
    r"""
    Constructs a Sherlock processor: a CLIP-style image processor (PIL/numpy, no torchvision), a tokenizer, the video
    sampling settings, the expert extractors and the feature cache.

    `processor(videos=path)` returns a `BatchFeature` with exactly the inputs of `SherlockForConditionalGeneration`:
    `input_ids`, `attention_mask`, `pixel_values_videos`, the expert inputs (`pose_keypoints`, `pose_mask`,
    `object_boxes`, `object_labels`, `object_mask`, `relation_triplets`, `relation_mask`) and
    `background_pixel_values` — with `return_metadata=True` also `video_metadata` (duration and frame times per
    video, for `post_process_events`).

    Args:
        image_processor ([`CLIPImageProcessorPil`] or any image processor):
            Turns frames into `pixel_values_videos` (and background frames into `background_pixel_values`).
        tokenizer ([`PreTrainedTokenizerBase`]):
            A tokenizer with the `<video>` special token.
        num_frames (`int`, *optional*, defaults to 8):
            Frames sampled uniformly from each video (ignored when `fps` is set).
        fps (`float`, *optional*):
            Sample at this rate instead (all videos of a batch must then give the same number of frames).
        patch_size (`int`, *optional*, defaults to 14):
            Patch size of the video tower: a frame gives `(crop_size / patch_size) ** 2 + num_additional_image_tokens`
            video tokens (Video-LLaVA keeps them all).
        num_additional_image_tokens (`int`, *optional*, defaults to 1):
            Extra tokens per frame (the CLS token).
        video_token (`str`, *optional*, defaults to `"<video>"`):
            The placeholder token.
        instruction (`str`, *optional*, defaults to the paper's instruction):
            The default question when no text is given.
        extractors (`dict`, *optional*, defaults to `DEFAULT_EXTRACTOR_SETTINGS`):
            Backend settings of the expert extractors (see `build_extractors`); `{"backend": "precomputed"}` reads
            every expert input from the feature cache and runs no model. `save_pretrained` copies the extractor
            models that are local folders into the saved folder (`extractor-<part>/`) and references them relative to
            it, so a saved folder can be moved, copied or pushed; Hub ids stay ids.
        feature_cache_dir (`str`, *optional*):
            Folder of the feature cache; `None` disables caching (the `precomputed` backend needs it). Saved only when
            it lies inside the saved folder (as a relative path); otherwise saved as `None`. (Named `cache_dir` before
            issue 20: that name is `from_pretrained`'s download folder; saved configs with `cache_dir` still load, with
            a `FutureWarning`.)
        cache_pixels (`bool`, *optional*, defaults to `True`):
            With a cache, also store the preprocessed `pixel_values_videos` / `background_pixel_values` (keyed by the
            image-processor settings), so that a cached pass probes the video's frame times without decoding it.
        background_size (`int`, *optional*):
            Side of the background frames for the background tower (defaults to the image processor's crop size).
        chat_template (`str`, *optional*):
            Jinja chat template; defaults to Video-LLaVA's `USER: <video>\n... ASSISTANT:` format.
    """

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        num_frames: int = 8,
        fps: float | None = None,
        patch_size: int = 14,
        num_additional_image_tokens: int = 1,
        video_token: str = "<video>",
        instruction: str = DEFAULT_INSTRUCTION,
        extractors: dict | None = None,
        feature_cache_dir: str | None = None,
        cache_pixels: bool = True,
        background_size: int | None = None,
        chat_template: str | None = None,
        **kwargs,
    ):
        if fps is None and (not isinstance(num_frames, int) or num_frames < 1):
            raise ValueError(f"`num_frames` must be a positive integer, got {num_frames!r}.")
        if fps is not None and not fps > 0:
            raise ValueError(f"`fps` must be positive, got {fps!r}.")
        self.num_frames = num_frames
        self.fps = fps
        self.patch_size = patch_size
        self.num_additional_image_tokens = num_additional_image_tokens
        self.video_token = video_token
        self.instruction = instruction
        self.extractors = copy.deepcopy(DEFAULT_EXTRACTOR_SETTINGS if extractors is None else extractors)
        self.feature_cache_dir = feature_cache_dir
        self.cache_pixels = cache_pixels
        self.background_size = background_size
        self._extractor_set = None
        # the old keyword (a `None` one, as a loader may pass it through, carries nothing and says nothing)
        legacy = kwargs.pop(LEGACY_FEATURE_CACHE_KEY, None)
        if legacy is not None:
            warnings.warn(_LEGACY_KEYWORD_MESSAGE, FutureWarning, stacklevel=2)
            self.feature_cache_dir = feature_cache_dir if feature_cache_dir is not None else legacy
        if kwargs:
            raise TypeError(f"Unknown SherlockProcessor settings {sorted(kwargs)}.")
        super().__init__(image_processor, tokenizer, chat_template=chat_template or DEFAULT_CHAT_TEMPLATE)
        self.video_token_id = self.tokenizer.convert_tokens_to_ids(self.video_token)
        if self.video_token_id is None or self.video_token_id == self.tokenizer.unk_token_id:
            raise ValueError(f"The tokenizer has no `{self.video_token}` token; add it as a special token.")

    # ----------------------------------------------------------------------------------------------- settings
    @property
    def cache_dir(self) -> str | None:
        """Deprecated alias of `feature_cache_dir` (renamed in issue 20: `from_pretrained` takes `cache_dir` for its
        downloads); warns with a `FutureWarning`."""
        warnings.warn(_LEGACY_KEYWORD_MESSAGE, FutureWarning, stacklevel=2)
        return self.feature_cache_dir

    @cache_dir.setter
    def cache_dir(self, value: str | None) -> None:
        warnings.warn(_LEGACY_KEYWORD_MESSAGE, FutureWarning, stacklevel=2)
        self.feature_cache_dir = value

    @property
    def is_precomputed(self) -> bool:
        """Whether the expert inputs come from the feature cache only."""
        return is_precomputed(self.extractors)

    @property
    def extractor_set(self):
        """The expert extractors, built on first use (models load lazily, nothing is downloaded before)."""
        if self._extractor_set is None:
            self._extractor_set = build_extractors(self.extractors)
        return self._extractor_set

    def set_extractor_device(self, device: str) -> None:
        """Run the model-based extractors (detector, pose, background) on `device` from now on (e.g. each process's GPU
        under `accelerate launch`). The device is not part of the extractor ids, so the feature cache entries stay the
        same; the extractors are rebuilt (and their models reloaded) on next use."""
        for part, settings in self.extractors.items():
            if backend_accepts(part, settings, "device"):
                settings["device"] = str(device)
        self._extractor_set = None

    def _crop_side(self) -> int:
        crop = getattr(self.image_processor, "crop_size", None) or getattr(self.image_processor, "size", None)
        if isinstance(crop, dict):
            return int(crop.get("height") or crop.get("shortest_edge"))
        return int(getattr(crop, "height", None) or crop)

    @property
    def tokens_per_frame(self) -> int:
        """Video tokens per frame: `(crop / patch_size) ** 2 + num_additional_image_tokens`."""
        return (self._crop_side() // self.patch_size) ** 2 + self.num_additional_image_tokens

    def view_window(self, height: int, width: int) -> ViewWindow:
        """The part of a `height` x `width` frame that the video tower sees (the image processor's resize and centre
        crop)."""
        return image_processor_window(self.image_processor, height, width)

    def to_model_view(self, arrays: dict[str, np.ndarray], height: int, width: int) -> dict[str, np.ndarray]:
        """Expert arrays of a `height` x `width` video (boxes and keypoints normalised to the full frame, as the
        extractors and the feature cache hold them) in the frame the model sees: boxes and keypoints mapped into the
        centre crop, what lies outside it masked (see `geometry_sherlock.py`). Other arrays pass unchanged."""
        return map_expert_arrays(arrays, self.view_window(height, width))

    # ------------------------------------------------------------------------------------------------- video
    def load_video(self, video, **kwargs) -> VideoClip:
        """Decode and sample a video with this processor's `num_frames` / `fps` (overridable by keyword)."""
        if "fps" not in kwargs and "num_frames" not in kwargs:
            kwargs = {**kwargs, **({"fps": self.fps} if self.fps is not None else {"num_frames": self.num_frames})}
        return load_video(video, **kwargs)

    def extract_features(self, clip: VideoClip, video_hash: str) -> dict[str, np.ndarray]:
        """Expert inputs of one sampled clip: from the cache when present, else from the extractors (then cached).

        Returns numpy arrays: the seven expert arrays of `EXPERT_ARRAY_NAMES` and either `background_frames` (uint8
        frames with the foreground blanked) or `background_features` (cached background-tower outputs). Boxes and
        keypoints are normalised to the FULL frame (what the feature cache stores); `to_model_view` maps them into
        the frame the model sees, as `__call__` does.
        """
        cache = FeatureCache(self.feature_cache_dir) if self.feature_cache_dir is not None else None
        if self.is_precomputed and cache is None:
            raise ValueError("The `precomputed` extractor backend reads the feature cache: set `feature_cache_dir`.")
        if cache is not None:
            try:
                return self._cached_features(cache, clip, video_hash)
            except FeatureCacheMiss as error:
                if self.is_precomputed:
                    raise ValueError(f"precomputed features missing for {clip.source}: {error}") from error
        features = self.extractor_set.extract(clip.frames)
        if cache is not None:
            extractor_ids = self.extractor_set.extractor_ids()
            cache.save(video_hash, clip.timestamps, extractor_ids, features, extra={"source": clip.source})
        return features

    def video_features(self, video, **kwargs) -> tuple[VideoClip, dict[str, np.ndarray], bool]:
        """The expert features of one video file through the feature cache (`feature_cache_dir` must be set).

        On a cache hit the video is only probed for its frame times (not decoded) and the entry is read; otherwise it
        is decoded, the extractors run and the entry is saved. Used to precompute a dataset's features.

        Returns:
            `(clip, features, computed)`: the clip (frames empty on a hit), the arrays of `extract_features`, and
            whether the extractors ran.
        """
        if self.feature_cache_dir is None:
            raise ValueError("`video_features` fills the feature cache: set `feature_cache_dir`.")
        video_hash = video_content_hash(video)
        cache = FeatureCache(self.feature_cache_dir)
        probe = self.load_video(video, decode=False, **kwargs)
        try:
            return probe, self._cached_features(cache, probe, video_hash), False
        except FeatureCacheMiss:
            if self.is_precomputed:
                raise
        clip = self.load_video(video, **kwargs)
        return clip, self.extract_features(clip, video_hash), True

    def _cached_features(self, cache: FeatureCache, clip: VideoClip, video_hash: str) -> dict[str, np.ndarray]:
        """The clip's features from the cache: its only entry for the `precomputed` backend, else the entry of these
        extractors (raises `FeatureCacheMiss`)."""
        if self.is_precomputed:
            return cache.load(video_hash, clip.timestamps)
        return cache.load(video_hash, clip.timestamps, self.extractor_set.extractor_ids())

    # ------------------------------------------------------------------------------------------------ prompt
    def build_prompt(self, clip: VideoClip, question: str | None = None) -> str:
        """The chat prompt of one video: `<video>`, the instruction (or `question`) and the frame-time line."""
        text = f"{question or self.instruction}\n{timing_line(clip.duration, clip.timestamps)}"
        messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": text}]}]
        return self.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _expand_video_tokens(self, text: str, num_frames: int) -> str:
        count = text.count(self.video_token)
        if count != 1:
            raise ValueError(f"Each prompt needs exactly one `{self.video_token}` placeholder, found {count}.")
        return text.replace(self.video_token, self.video_token * (num_frames * self.tokens_per_frame))

    # -------------------------------------------------------------------------------------------------- call
    def __call__(
        self,
        text: str | list[str] | None = None,
        videos=None,
        return_tensors: str | None = "pt",
        padding: bool | str = True,
        return_metadata: bool = False,
        **kwargs,
    ) -> BatchFeature:
        """Prepare one video or a batch of videos (and optional prompts) for Sherlock.

        Args:
            text (`str` or `list[str]`, *optional*):
                Full prompts, each with one `<video>` placeholder (e.g. from `apply_chat_template` or a dataset); by
                default the prompt of `build_prompt` (the instruction and the frame times).
            videos: a path, file object, `bytes`, `(T, H, W, 3)` uint8 array (give `array_fps=` then), or a list of
                them.
            return_tensors (`str`, *optional*, defaults to `"pt"`): as for tokenizers.
            padding: as for tokenizers (left padding is the tokenizer's setting).
            return_metadata (`bool`, *optional*, defaults to `False`):
                Add `video_metadata`: a list of `{"duration", "timestamps", "source"}` dicts.
            kwargs: passed to `load_video` (`num_frames`, `fps`, `backend`, `array_fps`).

        Returns:
            [`BatchFeature`] with the model inputs (and `video_metadata` on request).
        """
        if videos is None:
            raise ValueError("SherlockProcessor needs `videos`; for text only, use `processor.tokenizer`.")
        videos = list(videos) if isinstance(videos, (list, tuple)) else [videos]
        texts = None
        if text is not None:
            texts = [text] if isinstance(text, str) else list(text)
            if len(texts) != len(videos):
                raise ValueError(f"Got {len(texts)} prompts for {len(videos)} videos.")

        clips, items = [], []
        for video in videos:
            if hasattr(video, "read"):
                video = video.read()  # a file object is read once: decoded and hashed from the same bytes
            clip, item = self._prepare_video(video, **kwargs)
            clips.append(clip)
            items.append(item)
        frame_counts = sorted({len(clip.timestamps) for clip in clips})
        if len(frame_counts) > 1:
            raise ValueError(
                f"The videos of a batch gave different frame counts {frame_counts}; use `num_frames` sampling or "
                "process them one by one."
            )

        prompts = texts if texts is not None else [self.build_prompt(clip) for clip in clips]
        prompts = [self._expand_video_tokens(prompt, len(clip.timestamps)) for prompt, clip in zip(prompts, clips)]
        data = dict(self.tokenizer(prompts, padding=padding, return_tensors=None))
        for name in ("pixel_values_videos", *EXPERT_ARRAY_NAMES, "background_features", "background_pixel_values"):
            lacking = [index for index, item in enumerate(items) if name not in item]
            if len(lacking) == len(items):
                continue
            if lacking:
                raise ValueError(
                    f"The expert input `{name}` is missing for {len(lacking)} of the {len(items)} videos of the batch "
                    f"(videos {lacking}: {[clips[index].source for index in lacking]}); it cannot be stacked. Their "
                    "features come from different extractors or cache entries: process them with the same extractor "
                    "settings (or one by one)."
                )
            data[name] = np.stack([item[name] for item in items])
        batch = BatchFeature(data=data, tensor_type=return_tensors)
        if return_metadata:
            batch["video_metadata"] = [video_metadata(clip) for clip in clips]
        return batch

    def _pixel_settings_id(self) -> dict[str, str]:
        """Cache id of the preprocessing that makes the pixel values (image-processor settings, background side)."""
        settings = (
            self.image_processor.to_json_string()
            + f"|background_size={self.background_size}|entry_version={PIXEL_ENTRY_VERSION}"
        )
        return {"pixel_values": hashlib.sha256(settings.encode("utf-8")).hexdigest()[:16]}

    def _prepare_video(self, video, **kwargs) -> tuple[VideoClip, dict[str, np.ndarray]]:
        """Decode (or, on a full cache hit, only probe) one video and compute its arrays.

        Returns the clip (frames empty when only probed) and a dict with `pixel_values_videos`, the expert arrays
        (boxes and keypoints in the frame the model sees: `to_model_view`) and `background_pixel_values` or
        `background_features`.
        """
        video_hash = video_content_hash(video, array_fps=kwargs.get("array_fps"))
        cache = FeatureCache(self.feature_cache_dir) if self.feature_cache_dir is not None else None
        is_array = isinstance(video, (np.ndarray, list, tuple))
        if cache is not None and self.cache_pixels and not is_array:
            probe_kwargs = dict(kwargs)
            if "backend" not in probe_kwargs and importlib.util.find_spec("av") is not None:
                probe_kwargs["backend"] = "pyav"  # reads only packet headers; same frame times as decord
            probe = self.load_video(video, decode=False, **probe_kwargs)
            try:
                pixels = cache.load(video_hash, probe.timestamps, self._pixel_settings_id())
                height, width = (int(side) for side in pixels.pop(FRAME_SIZE_KEY))
                features = self._cached_features(cache, probe, video_hash)
                check_expert_values(features, probe.source)
                return probe, {**self.to_model_view(_model_arrays(features), height, width), **pixels}
            except (FeatureCacheMiss, KeyError):
                pass  # no entry (or one without the frame size): decode
        clip = self.load_video(video, **kwargs)
        features = self.extract_features(clip, video_hash)
        check_expert_values(features, clip.source)
        height, width = frame_size_of(clip.frames)
        pixels = {"pixel_values_videos": self._pixels(clip.frames)}
        if "background_features" not in features and "background_frames" in features:
            side = self.background_size or self._crop_side()
            pixels["background_pixel_values"] = self._pixels(features["background_frames"], side=side)
        if cache is not None and self.cache_pixels and not is_array:
            entry = {**pixels, FRAME_SIZE_KEY: np.array([height, width], dtype=np.int64)}
            cache.save(video_hash, clip.timestamps, self._pixel_settings_id(), entry, extra={"kind": "pixels"})
        return clip, {**self.to_model_view(_model_arrays(features), height, width), **pixels}

    def _pixels(self, frames: np.ndarray, side: int | None = None) -> np.ndarray:
        kwargs = {}
        if side is not None:
            # the background tower's square view (`geometry_sherlock.model_view(..., side=...)`), also when the video
            # frames themselves are resized without a crop
            kwargs = {"size": {"shortest_edge": side}, "crop_size": {"height": side, "width": side}}
            kwargs["do_center_crop"] = True
        out = self.image_processor(images=list(frames), return_tensors="np", **kwargs)
        return np.asarray(out["pixel_values"], dtype=np.float32)

    # ------------------------------------------------------------------------------------------------ output
    def post_process_events(
        self,
        generated,
        duration: float | None = None,
        scores=None,
        skip_special_tokens: bool = True,
    ) -> list[AbnormalEvent]:
        """Parse a generated answer (text or token ids of the answer only) into `AbnormalEvent`s."""
        if isinstance(generated, torch.Tensor):
            generated = generated.tolist()
        if not isinstance(generated, str):
            generated = self.tokenizer.decode(generated, skip_special_tokens=skip_special_tokens)
        return post_process_events(generated, duration=duration, scores=scores)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "pixel_values_videos", *EXPERT_ARRAY_NAMES, "background_pixel_values"]

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """`ProcessorMixin.from_pretrained`, loading the tokenizer and image processor with `trust_remote_code=False`
        unless told otherwise: their auto classes read the folder's `config.json`, whose `auto_map` names the model's
        remote code, and would otherwise stop to ask whether to run it (the processor never needs it)."""
        kwargs.setdefault("trust_remote_code", False)
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    @classmethod
    def get_processor_dict(cls, pretrained_model_name_or_path, **kwargs):
        """`ProcessorMixin.get_processor_dict`, with the folder-relative references of the saved config (`./...`
        extractor models and `feature_cache_dir`) resolved against the folder it is loaded from: the local folder, or the
        Hub repo's snapshot folder (their files are downloaded there first). A config that still names the feature
        cache `cache_dir` (its name before issue 20) loads with a `FutureWarning` (`upgrade_legacy_keys`)."""
        processor_dict, unused = super().get_processor_dict(pretrained_model_name_or_path, **kwargs)
        processor_dict = upgrade_legacy_keys(processor_dict)
        path = os.fspath(pretrained_model_name_or_path)
        if os.path.isfile(path):
            root = Path(path).parent
        elif os.path.isdir(path):
            root = Path(path) / (kwargs.get("subfolder") or "")
        else:
            references = relative_references(processor_dict)
            if not references and not str(processor_dict.get("feature_cache_dir") or "").startswith(RELATIVE_PREFIX):
                return processor_dict, unused
            root = hub_root(path, references, kwargs)
        return resolve_saved_paths(processor_dict, root), unused

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        """`ProcessorMixin.save_pretrained`, writing a folder that can be moved, copied or pushed: the extractor models
        that are local folders are copied into it (`extractor-<part>/`, unless they lie inside it already) and
        referenced relative to it (`./extractor-<part>`); Hub ids stay ids. `feature_cache_dir` is saved only when it
        lies inside the folder. No absolute path is written.

        With `push_to_hub=True` the folder is saved, then pushed whole with `push_to_hub` (`repo_id` defaults to the
        folder's name; other keyword arguments go to `push_to_hub`): transformers' own upload of modified files
        would skip the extractor folders copied here before it takes its file timestamps."""
        if push_to_hub:
            repo_id = kwargs.pop("repo_id", Path(save_directory).name)
            files = self.save_pretrained(save_directory)
            self.push_to_hub(repo_id, **kwargs)
            return files
        os.makedirs(save_directory, exist_ok=True)
        saved = (self.extractors, self.feature_cache_dir)
        self.extractors = relocate_extractor_settings(self.extractors, save_directory)
        self.feature_cache_dir = relative_feature_cache_dir(self.feature_cache_dir, save_directory)
        try:
            return super().save_pretrained(save_directory, **kwargs)
        finally:
            self.extractors, self.feature_cache_dir = saved

    def to_dict(self) -> dict:
        """As `ProcessorMixin.to_dict`, without the loaded extractor models (only their settings are saved)."""
        extractor_set = self.__dict__.pop("_extractor_set", None)
        try:
            return super().to_dict()
        finally:
            self._extractor_set = extractor_set


def clean_seconds(value) -> float:
    """One time in seconds as a plain float without float32 noise (`round_seconds` of the video module, the one
    definition): `clean_seconds(np.float32(18.72)) == clean_seconds(18.719999) == 18.72`."""
    return float(round_seconds([value])[0])


def video_metadata(clip: VideoClip) -> dict:
    """`{"duration", "timestamps", "source"}` of a clip with plain float64 times without float32 noise
    (`clean_seconds`), so that JSON shows `18.72`, never `18.719999313354492` or `18.719999`."""
    return {
        "duration": clean_seconds(clip.duration),
        "timestamps": round_seconds(np.asarray(clip.timestamps, dtype=np.float64).reshape(-1)).tolist(),
        "source": clip.source,
    }


SherlockProcessor.register_for_auto_class()

__all__ = [
    "DEFAULT_CHAT_TEMPLATE",
    "DEFAULT_INSTRUCTION",
    "SherlockProcessor",
    "clean_seconds",
    "timing_line",
    "video_metadata",
]
