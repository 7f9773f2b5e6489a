"""Tiny random baseline video LLMs built on the spot (no download), for tests and benchmarks of `baselines.py`.

    build_tiny_video_llava(folder)   VideoLlavaForConditionalGeneration + VideoLlavaProcessor, `USER: <video>\\n...`
    build_tiny_qwen2_vl(folder)      Qwen2VLForConditionalGeneration + Qwen2VLProcessor, `<|im_start|>...`

Each folder holds what a Hub checkpoint of the family holds: `config.json`, weights, `generation_config.json`, the
tokenizer (Sherlock's tiny BPE tokenizer, `sherlock.tiny_models.train_tokenizer`, with the family's special tokens),
the chat template in the family's own format, and `processor_config.json` with the image processor and the video
processor (saved under the real class name, e.g. `Qwen2VLVideoProcessor`), so that `load_video_llm(folder)` loads them
through the Auto classes (and `AutoProcessor.from_pretrained(folder)` does where torchvision is installed). A few
hundred thousand parameters; random weights, so their answers mean nothing unless forced.
"""

import logging
from pathlib import Path

import torch
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessorPil,
    Qwen2VLProcessor,
    VideoLlavaConfig,
    VideoLlavaForConditionalGeneration,
    VideoLlavaImageProcessor,
    VideoLlavaProcessor,
)

from sherlock.tiny_models import train_tokenizer

from .video_processors_torch import Qwen2VLVideoProcessorTorch, VideoLlavaVideoProcessorTorch, torch_processor_class


logger = logging.getLogger(__name__)

# Video-LLaVA's chat template (LanguageBind/Video-LLaVA-7B-hf, the llava-1.5 format with videos):
# `USER: <video>\n{text} ASSISTANT:`
VIDEO_LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{# Render all video then #}{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>\n' }}{% endfor %}"
    "{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
# Qwen2-VL-Instruct's chat template: a default system turn, `<|im_start|>user\n<|vision_start|><|video_pad|>
# <|vision_end|>{text}<|im_end|>\n<|im_start|>assistant\n`.
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN2_VL_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
    "<|video_pad|>",
]  # fmt: skip


def _tiny_text_config(tokenizer, **overrides) -> dict:
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


def _save(folder, model, processor, tokenizer) -> Path:
    folder = Path(folder)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    logger.info("wrote a tiny random %s to %s", type(model).__name__, folder)
    return folder


def build_tiny_video_llava(folder, seed: int = 0, image_size: int = 32, patch_size: int = 8) -> Path:
    """Write a tiny random Video-LLaVA (CLIP tower, Llama LM; `(image_size / patch_size)**2 + 1` video tokens per
    frame) and its `VideoLlavaProcessor` to `folder`; return the folder."""
    tokenizer = train_tokenizer()
    config = VideoLlavaConfig(
        vision_config={
            "model_type": "clip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": image_size,
            "patch_size": patch_size,
            "projection_dim": 32,
        },
        text_config={"model_type": "llama", **_tiny_text_config(tokenizer)},
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        image_seq_length=(image_size // patch_size) ** 2,
        video_seq_length=8 * ((image_size // patch_size) ** 2 + 1),
    )
    torch.manual_seed(seed)
    model = VideoLlavaForConditionalGeneration(config)
    pixels = {"size": {"shortest_edge": image_size}, "crop_size": {"height": image_size, "width": image_size}}
    processor = torch_processor_class(VideoLlavaProcessor)(
        image_processor=VideoLlavaImageProcessor(**pixels),
        video_processor=VideoLlavaVideoProcessorTorch(**pixels),
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        chat_template=VIDEO_LLAVA_CHAT_TEMPLATE,
    )
    return _save(folder, model, processor, tokenizer)


def qwen2_vl_tokenizer() -> PreTrainedTokenizerFast:
    """Sherlock's tiny BPE tokenizer with Qwen2-VL's special tokens (`<|im_end|>` ends a turn and generation,
    `<|endoftext|>` pads, on the left)."""
    backend = train_tokenizer().backend_tokenizer
    backend.add_special_tokens(QWEN2_VL_SPECIAL_TOKENS)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
    )


def build_tiny_qwen2_vl(folder, seed: int = 0, patch_size: int = 8, max_pixels: int = 64 * 64) -> Path:
    """Write a tiny random Qwen2-VL (2 x 2 spatial merge, temporal patches of 2 frames; frames resized to at most
    `max_pixels`) and its `Qwen2VLProcessor` to `folder`; return the folder."""
    tokenizer = qwen2_vl_tokenizer()
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in [
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"),
    ]}  # fmt: skip
    text = _tiny_text_config(tokenizer, bos_token_id=None)
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}
    config = Qwen2VLConfig(
        text_config=text,
        vision_config={
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": text["hidden_size"],
            "num_heads": 4,
            "mlp_ratio": 2,
            "patch_size": patch_size,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        **ids,
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    pixels = {
        "size": {"shortest_edge": (2 * patch_size) ** 2, "longest_edge": max_pixels},
        "patch_size": patch_size,
        "merge_size": 2,
        "temporal_patch_size": 2,
    }
    processor = torch_processor_class(Qwen2VLProcessor)(
        image_processor=Qwen2VLImageProcessorPil(**pixels),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessorTorch(**pixels, cap_pixels_per_frame=False),
        chat_template=QWEN2_VL_CHAT_TEMPLATE,
    )
    return _save(folder, model, processor, tokenizer)


__all__ = [
    "QWEN2_VL_CHAT_TEMPLATE",
    "VIDEO_LLAVA_CHAT_TEMPLATE",
    "build_tiny_qwen2_vl",
    "build_tiny_video_llava",
    "qwen2_vl_tokenizer",
]
