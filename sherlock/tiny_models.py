"""Tiny random Sherlock models, tokenizers and processors built on the spot (no download): for tests, benchmarks and
the built-in demo. Random weights: the answers they generate are not meaningful."""

import logging
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import CLIPImageProcessorPil, PreTrainedTokenizerFast

from modeling_sherlock import SherlockConfig, SherlockForConditionalGeneration
from processing import DEFAULT_INSTRUCTION, SherlockProcessor, format_events
from processing.relations_sherlock import RELATION_PREDICATES
from processing.vocabulary_sherlock import ENTITIES, EVENT_TYPES, SCENES


logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<image>", "<video>"]


def tokenizer_corpus() -> list[str]:
    """Texts a Sherlock tokenizer must encode compactly: the prompt, the timing line and answers in the canonical
    format over the whole vocabulary."""
    from processing import AbnormalEvent
    from processing.processing_sherlock import timing_line

    entities = list(ENTITIES)
    corpus = [DEFAULT_INSTRUCTION, "USER: ", " ASSISTANT:", "No abnormal event."]
    corpus += [timing_line(10.0 * k + 0.5, [0.5 * i for i in range(8)]) for k in range(10)]
    for i, event_type in enumerate(EVENT_TYPES):
        for j, scene in enumerate(SCENES):
            subject, obj = entities[(i + j) % len(entities)], entities[(i * 7 + j) % len(entities)]
            event = AbnormalEvent(float(i), float(i + j + 1), subject, event_type, obj, scene)
            corpus.append(format_events([event]))
    return corpus * 3


def train_tokenizer(vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained in milliseconds on `tokenizer_corpus()`, with Video-LLaVA's special
    tokens (`<image>`, `<video>`) and a pad token."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(tokenizer_corpus(), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=["<image>", "<video>"],
        padding_side="left",
    )


def tiny_vision_config(model_type: str, image_size: int, patch_size: int, **overrides) -> dict:
    """A 2-layer ViT config of width 32 (`model_type` e.g. "clip_vision_model" or "siglip_vision_model")."""
    config = {
        "model_type": model_type,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": image_size,
        "patch_size": patch_size,
    }
    config.update(overrides)
    return config


def tiny_text_config(tokenizer, **overrides) -> dict:
    """A tiny language-model config (64 wide, 2 layers) whose vocabulary and special ids match `tokenizer`."""
    config = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": len(tokenizer),
        "max_position_embeddings": 2048,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    config.update(overrides)
    return config


def tiny_sherlock_config(
    tokenizer, image_size: int = 32, patch_size: int = 8, text_overrides: dict | None = None, **overrides
) -> SherlockConfig:
    """A Sherlock config of a few hundred thousand parameters whose token ids match `tokenizer`; `text_overrides`
    change the language model's config (`tiny_text_config`), `overrides` the Sherlock config."""
    vision = tiny_vision_config("clip_vision_model", image_size, patch_size, projection_dim=32)
    text = tiny_text_config(tokenizer, model_type="llama", **(text_overrides or {}))
    kwargs = {
        "vision_config": vision,
        "text_config": text,
        "image_token_index": tokenizer.convert_tokens_to_ids("<image>"),
        "video_token_index": tokenizer.convert_tokens_to_ids("<video>"),
        "expert_hidden_size": 32,
        "expert_num_heads": 4,
        "num_relation_classes": len(RELATION_PREDICATES),
        "background_vision_config": dict(vision),
    }
    kwargs.update(overrides)
    return SherlockConfig(**kwargs)


def tiny_image_processor(image_size: int = 32) -> CLIPImageProcessorPil:
    """CLIP preprocessing (resize shortest edge, centre crop, normalise) at `image_size`; PIL backend, no torchvision."""
    return CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )


def build_tiny_sherlock(
    folder: str | Path,
    extractors: dict | None = None,
    seed: int = 0,
    image_size: int = 32,
    patch_size: int = 8,
    num_frames: int = 8,
    text_overrides: dict | None = None,
    **config_overrides,
) -> Path:
    """Write a tiny random Sherlock model and its processor to `folder` and return it.

    Args:
        extractors: the processor's extractor settings (e.g. pointing at tiny random extractor folders); `None` keeps
            the defaults (real Hub ids, loaded lazily on first use).
        text_overrides: language-model config changes (`tiny_text_config`), e.g. `{"hidden_size": 128}`.
    """
    folder = Path(folder)
    tokenizer = train_tokenizer()
    config = tiny_sherlock_config(
        tokenizer, image_size=image_size, patch_size=patch_size, text_overrides=text_overrides, **config_overrides
    )
    torch.manual_seed(seed)
    model = SherlockForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    processor = SherlockProcessor(
        image_processor=tiny_image_processor(image_size),
        tokenizer=tokenizer,
        num_frames=num_frames,
        patch_size=patch_size,
        extractors=extractors,
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    logger.info("wrote a tiny random Sherlock to %s", folder)
    return folder


__all__ = [
    "build_tiny_sherlock",
    "tiny_image_processor",
    "tiny_sherlock_config",
    "tiny_text_config",
    "tiny_vision_config",
    "tokenizer_corpus",
    "train_tokenizer",
]
