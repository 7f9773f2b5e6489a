"""The training data collator: M-VAE rows in, the inputs of `SherlockForConditionalGeneration.forward` and `labels`
out.

    collator = SherlockDataCollator(processor, video_root="/data/cuva/videos", max_length=4096)
    batch = collator([{"video": "00001.mp4", "answer": "23.0-25.0s: (people, Theft, car, Street)"}, ...])
    model(**batch).loss  # lm_loss + gsb_loss_coef * gsb_loss

One example is the chat turn of the processor's chat template: the prompt that the processor builds at inference
(`USER: <video>\\n{instruction}\\n{frame times} ASSISTANT:`), one space, the answer and the EOS token
(`ASSISTANT: {answer}</s>`). Only the answer and the EOS token are learnt (see `encode_example` for how the label
mask is kept exact).
"""

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from transformers.utils import logging


logger = logging.get_logger(__name__)

# Label of the positions that are not learnt (the prompt, the video tokens, the padding): PyTorch's `ignore_index`.
EVENT_TYPES_KEY = "event_types"
"""The optional collator output with each sample's gold event types (not a model input; for the gate-weight table)."""

IGNORE_INDEX = -100
# Between the generation prompt's `ASSISTANT:` and the answer, as in the chat template's assistant turn.
ANSWER_SEPARATOR = " "
# The model inputs of a text sequence; every other processor output is a per-video array passed on as a tensor.
TEXT_INPUTS = ("input_ids", "attention_mask")


def encode_example(tokenizer, prompt: str, answer: str) -> tuple[list[int], list[int]]:
    """Token ids and labels of one example: `prompt` (expanded: its `<video>` tokens already repeated), then `answer`
    (with its leading separator), then the EOS token.

    The prompt's ids are `tokenizer(prompt)["input_ids"]`, exactly the processor's ids at inference (special tokens such
    as a BOS included). The answer's ids come from tokenising `prompt + answer` whole when the prompt's ids are a prefix
    of its ids (the tokenisation the language model has seen in pre-training); when the tokenizer merges characters
    across the prompt/answer boundary they are not, and the answer is tokenised on its own (no special tokens) and
    appended. Either way the prompt part is what the model is conditioned on at inference, and the labels cover
    exactly the answer's ids and the EOS id (appended as an id, never parsed from text), all else `IGNORE_INDEX`.

    Returns:
        `(input_ids, labels)`, two lists of the same length.
    """
    if tokenizer.eos_token_id is None:
        raise ValueError("The tokenizer has no EOS token: the model could not learn to stop; set `eos_token`.")
    prompt_ids = list(tokenizer(prompt)["input_ids"])
    full_ids = list(tokenizer(prompt + answer)["input_ids"])
    if full_ids[: len(prompt_ids)] == prompt_ids:
        answer_ids = full_ids[len(prompt_ids) :]
    else:
        logger.debug("the tokenizer merges across the prompt/answer boundary: the answer is tokenised on its own")
        answer_ids = list(tokenizer(answer, add_special_tokens=False)["input_ids"])
    answer_ids = answer_ids + [tokenizer.eos_token_id]
    return prompt_ids + answer_ids, [IGNORE_INDEX] * len(prompt_ids) + answer_ids


class EncodedRow(NamedTuple):
    """One row, tokenised: the video file, its prompt as `build_prompt` gives it (one `<video>` placeholder), its
    sampled frame count, and the ids (video tokens expanded) and labels of `encode_example`."""

    path: str
    prompt: str
    num_frames: int
    input_ids: list[int]
    labels: list[int]


class SherlockDataCollator:
    r"""
    Turns a list of M-VAE rows into a training batch for `SherlockForConditionalGeneration`.

    A row (a mapping; other keys are ignored) has:
    - `video`: the video file, a path; a relative path is joined to `video_root` (as is when `video_root` is `None`);
    - `answer`: the target text (`format_events(...)`: `23.0-25.0s: (people, Theft, car, Street)` lines, or
      `No abnormal event.`), stripped of surrounding white space;
    - `instruction` (optional): the question; empty or missing means the processor's instruction.

    The prompt is `processor.build_prompt(clip, instruction)` with the frame times of the clip the processor samples
    (probed with `load_video(..., decode=False)`: no frame is decoded for it), and the video tokens are expanded as
    the processor does; the pixel values and expert inputs come from `processor(text=prompts, videos=paths)`, so the
    frame sampling, the extractors and the feature cache are those of inference. A row carrying precomputed features
    is not read here: give the processor the `precomputed` extractor backend, which reads them from the cache.

    The videos of one batch must give the same number of frames (their arrays are stacked): true with `num_frames`
    sampling (unless a video has fewer frames than `num_frames`); with `fps` sampling, videos of different durations
    raise the processor's ValueError ("The videos of a batch gave different frame counts ..."), here raised from the
    probes before any video is decoded and naming each video's count: use a batch size of 1, or group the videos by
    frame count.

    Args:
        processor ([`SherlockProcessor`]): the processor used at inference.
        video_root (`str` or `os.PathLike`, *optional*): folder that relative `video` paths are relative to.
        max_length (`int`, *optional*): the longest sequence (video tokens, prompt, answer and EOS) allowed; a longer
            one raises a ValueError naming the video and the lengths. Nothing is ever truncated (cutting video tokens
            would break the model's video-token count, cutting the answer would teach a wrong answer).
        return_event_types (`bool`, *optional*, defaults to `False`): also return `event_types`, each row's gold event
            types (from its `events`), a plain list for `SherlockTrainer`'s gate-weight table (not a model input:
            the trainer removes it before the forward).

    Returns (on call):
        A dict of tensors: `input_ids`, `attention_mask`, `labels` (`(batch, length)`, right padded: padding has
        attention 0 and label `IGNORE_INDEX`, padded with the tokenizer's pad token, or EOS when it has none),
        `pixel_values_videos`, the expert inputs and `background_pixel_values` (or `background_features`), as
        `processor(videos=...)` gives them. `labels` are `IGNORE_INDEX` except on the answer and the EOS token.
        The tokenizer's `padding_side` is not changed.
    """

    def __init__(
        self,
        processor,
        video_root: str | os.PathLike | None = None,
        max_length: int | None = None,
        return_event_types: bool = False,
    ):
        if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
            raise ValueError(f"`max_length` must be a positive integer or None, got {max_length!r}.")
        self.processor = processor
        self.video_root = None if video_root is None else Path(video_root)
        self.max_length = max_length
        self.return_event_types = return_event_types

    def video_path(self, row: Mapping) -> str:
        """The video file of a row: `row["video"]`, joined to `video_root` when relative."""
        video = row.get("video") if isinstance(row, Mapping) else None
        if not isinstance(video, (str, os.PathLike)) or not os.fspath(video):
            raise ValueError(f"A training row needs `video`, the path of its video file; got {video!r}.")
        path = Path(video)
        if self.video_root is not None and not path.is_absolute():
            path = self.video_root / path
        return str(path)

    def encode(self, row: Mapping) -> EncodedRow:
        """One row tokenised (the video only probed for its frame times; no pixel or expert input is computed)."""
        path = self.video_path(row)
        answer = row.get("answer")
        if not isinstance(answer, str) or not answer.strip():
            raise ValueError(f"The training row of {path} needs a non-empty `answer` string; got {answer!r}.")
        processor = self.processor
        clip = processor.load_video(path, decode=False)  # the frame times of the prompt; decodes nothing
        prompt = processor.build_prompt(clip, row.get("instruction") or None)
        num_video_tokens = len(clip.timestamps) * processor.tokens_per_frame
        expanded = prompt.replace(processor.video_token, processor.video_token * num_video_tokens)
        input_ids, labels = encode_example(processor.tokenizer, expanded, ANSWER_SEPARATOR + answer.strip())
        if self.max_length is not None and len(input_ids) > self.max_length:
            num_answer = sum(label != IGNORE_INDEX for label in labels)
            raise ValueError(
                f"The training example of {path} is {len(input_ids)} tokens long, more than `max_length` "
                f"{self.max_length}: {len(input_ids) - num_answer} prompt tokens ({num_video_tokens} of them video "
                f"tokens: {len(clip.timestamps)} frames x {processor.tokens_per_frame}) and {num_answer} answer tokens "
                "(EOS included). Nothing is truncated: raise `max_length`, sample fewer frames or shorten the answer."
            )
        return EncodedRow(path, prompt, len(clip.timestamps), input_ids, labels)

    def __call__(self, rows: Sequence[Mapping]) -> dict[str, torch.Tensor]:
        rows = list(rows)
        if not rows:
            raise ValueError("SherlockDataCollator got an empty batch.")
        encoded = [self.encode(row) for row in rows]
        counts = sorted({item.num_frames for item in encoded})
        if len(counts) > 1:  # the processor's check, before any video is decoded or any extractor runs
            raise ValueError(
                f"The videos of a batch gave different frame counts {counts} "
                f"({', '.join(f'{item.path}: {item.num_frames}' for item in encoded)}); their arrays cannot be "
                "stacked: use `num_frames` sampling, a batch size of 1, or batches of videos with the same frame count."
            )
        # the pixel values and expert inputs as at inference (the processor's ids are the prompt's, checked below)
        features = self.processor(
            text=[item.prompt for item in encoded],
            videos=[item.path for item in encoded],
            padding=False,
            return_tensors=None,
        )
        for item, prompt_ids in zip(encoded, features["input_ids"]):
            num_prompt = next(i for i, label in enumerate(item.labels) if label != IGNORE_INDEX)
            if list(prompt_ids) != item.input_ids[:num_prompt]:
                raise RuntimeError(
                    f"The processor tokenised the prompt of {item.path} differently from the collator "
                    f"({len(prompt_ids)} vs {num_prompt} tokens): the labels would not line up."
                )

        tokenizer = self.processor.tokenizer
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        length = max(len(item.input_ids) for item in encoded)
        batch = {
            "input_ids": torch.full((len(rows), length), pad_id, dtype=torch.long),
            "attention_mask": torch.zeros((len(rows), length), dtype=torch.long),
            "labels": torch.full((len(rows), length), IGNORE_INDEX, dtype=torch.long),
        }
        for index, item in enumerate(encoded):  # right padding
            size = len(item.input_ids)
            batch["input_ids"][index, :size] = torch.tensor(item.input_ids, dtype=torch.long)
            batch["attention_mask"][index, :size] = 1
            batch["labels"][index, :size] = torch.tensor(item.labels, dtype=torch.long)
        for name, value in features.items():
            if name not in TEXT_INPUTS:
                batch[name] = torch.as_tensor(value)
        if self.return_event_types:
            batch[EVENT_TYPES_KEY] = [[event["event_type"] for event in row.get("events") or []] for row in rows]
        return batch


__all__ = [
    "ANSWER_SEPARATOR",
    "EVENT_TYPES_KEY",
    "IGNORE_INDEX",
    "EncodedRow",
    "SherlockDataCollator",
    "encode_example",
]
