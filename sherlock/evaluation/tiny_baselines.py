"""Tiny random baseline video LLMs built on the spot (no download), for tests and benchmarks of `baselines.py`.

    build_tiny_video_llava(folder)       VideoLlavaForConditionalGeneration + VideoLlavaProcessor, `USER: <video>\\n...`
    build_tiny_llava_onevision(folder)   LlavaOnevisionForConditionalGeneration + LlavaOnevisionProcessor,
                                         `<|im_start|>user <video>\\n...`
    build_tiny_qwen2_vl(folder)          Qwen2VLForConditionalGeneration + Qwen2VLProcessor, `<|im_start|>...`
    build_tiny_qwen2_5_vl(folder)        Qwen2_5_VLForConditionalGeneration + Qwen2_5_VLProcessor, `<|im_start|>...`

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
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    LlavaOnevisionImageProcessorPil,
    LlavaOnevisionProcessor,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessorPil,
    Qwen2VLProcessor,
    VideoLlavaConfig,
    VideoLlavaForConditionalGeneration,
    VideoLlavaImageProcessor,
    VideoLlavaProcessor,
)

from sherlock.tiny_models import tiny_text_config, tiny_vision_config, train_tokenizer

from .video_processors_torch import (
    LlavaOnevisionVideoProcessorTorch,
    Qwen2VLVideoProcessorTorch,
    VideoLlavaVideoProcessorTorch,
    torch_processor_class,
)


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
# LLaVA-OneVision's chat template (llava-hf/llava-onevision-qwen2-0.5b-ov-hf, ChatML with a space after the role and
# no newline after `<|im_end|>`): `<|im_start|>user <video>\n{text}<|im_end|><|im_start|>assistant\n`
LLAVA_ONEVISION_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + ' '}}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>' }}{% endfor %}"
    "{# Render all video then #}{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>' }}{% endfor %}"
    "{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ '\n' + content['text'] }}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ '\n' + content['text'] }}{% endgeneration %}{% endfor %}{% endif %}{{'<|im_end|>'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Qwen2-VL-Instruct's chat template (Qwen2.5-VL-Instruct ships the same): a default system turn,
# `<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>{text}<|im_end|>\n<|im_start|>assistant\n`.
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
# Qwen2's ChatML tokens (LLaVA-OneVision's language model is Qwen2; its `<image>` / `<video>` are `train_tokenizer`'s)
CHATML_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN2_VL_SPECIAL_TOKENS = [
    *CHATML_SPECIAL_TOKENS, "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>",
]  # fmt: skip
SIGLIP_MEAN_STD = [0.5, 0.5, 0.5]  # LLaVA-OneVision's SigLIP normalization (its Hub processor configs)


def _qwen_vl_pixels(patch_size: int, max_pixels: int) -> dict:
    """Qwen2(.5)-VL's image / video processor settings: frames resized to at least 2 x 2 merged patches and at most
    `max_pixels`, 2 x 2 spatial merge, temporal patches of 2 frames."""
    return {
        "size": {"shortest_edge": (2 * patch_size) ** 2, "longest_edge": max_pixels},
        "patch_size": patch_size,
        "merge_size": 2,
        "temporal_patch_size": 2,
    }


def _token_ids(tokenizer, **tokens) -> dict:
    return {name: tokenizer.convert_tokens_to_ids(token) for name, token in tokens.items()}


def _save(folder, model, processor, tokenizer) -> Path:
    folder = Path(folder)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    logger.info("wrote a tiny random %s to %s", type(model).__name__, folder)
    return folder


def chatml_tokenizer(special_tokens=QWEN2_VL_SPECIAL_TOKENS) -> PreTrainedTokenizerFast:
    """Sherlock's tiny BPE tokenizer with Qwen2's ChatML `special_tokens` (`<|im_end|>` ends a turn and generation,
    `<|endoftext|>` pads, on the left; no BOS, as Qwen2)."""
    backend = train_tokenizer().backend_tokenizer
    backend.add_special_tokens(list(special_tokens))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
    )


def qwen2_vl_tokenizer() -> PreTrainedTokenizerFast:
    """Sherlock's tiny BPE tokenizer with Qwen2-VL's (and Qwen2.5-VL's) special tokens (see `chatml_tokenizer`)."""
    return chatml_tokenizer(QWEN2_VL_SPECIAL_TOKENS)


def build_tiny_video_llava(folder, seed: int = 0, image_size: int = 32, patch_size: int = 8) -> Path:
    """Write a tiny random Video-LLaVA (CLIP tower, Llama LM; `(image_size / patch_size)**2 + 1` video tokens per
    frame) and its `VideoLlavaProcessor` to `folder`; return the folder."""
    tokenizer = train_tokenizer()
    config = VideoLlavaConfig(
        vision_config=tiny_vision_config("clip_vision_model", image_size, patch_size, projection_dim=32),
        text_config={"model_type": "llama", **tiny_text_config(tokenizer)},
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


def build_tiny_llava_onevision(folder, seed: int = 0, image_size: int = 40, patch_size: int = 8) -> Path:
    """Write a tiny random LLaVA-OneVision (SigLIP tower without head, Qwen2 LM; frames resized to `image_size` x
    `image_size`, their `(image_size / patch_size)**2` patches pooled 2 x 2 rounding up, as 27 x 27 -> 14 x 14 in the
    real model: `ceil(image_size / patch_size / 2)**2` video tokens per frame plus one newline token per video) and
    its `LlavaOnevisionProcessor` to `folder`; return the folder."""
    tokenizer = chatml_tokenizer(CHATML_SPECIAL_TOKENS)
    pinpoints = [[image_size * rows, image_size * cols] for rows in (1, 2) for cols in (1, 2)]  # "anyres" images
    config = LlavaOnevisionConfig(
        vision_config=tiny_vision_config("siglip_vision_model", image_size, patch_size, vision_use_head=False),
        text_config={"model_type": "qwen2", **tiny_text_config(tokenizer, bos_token_id=None)},
        **_token_ids(tokenizer, image_token_index="<image>", video_token_index="<video>"),
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_grid_pinpoints=pinpoints,
    )
    torch.manual_seed(seed)
    model = LlavaOnevisionForConditionalGeneration(config)
    size = {"height": image_size, "width": image_size}
    pixels = {"size": size, "image_mean": SIGLIP_MEAN_STD, "image_std": SIGLIP_MEAN_STD}
    processor = torch_processor_class(LlavaOnevisionProcessor)(
        image_processor=LlavaOnevisionImageProcessorPil(**pixels, image_grid_pinpoints=pinpoints),
        tokenizer=tokenizer,
        video_processor=LlavaOnevisionVideoProcessorTorch(**pixels),
        num_image_tokens=(image_size // patch_size) ** 2,
        vision_feature_select_strategy="full",
        chat_template=LLAVA_ONEVISION_CHAT_TEMPLATE,
    )
    return _save(folder, model, processor, tokenizer)


def _build_tiny_qwen_vl(folder, seed, patch_size, max_pixels, config_class, model_class, processor_class, vision):
    """A tiny random Qwen2-VL or Qwen2.5-VL: ChatML tokenizer, M-RoPE text model, `vision` tower settings (where
    `"lm_width"` names the key of the merger's output width, the language model's hidden size)."""
    tokenizer = qwen2_vl_tokenizer()
    ids = _token_ids(
        tokenizer, image_token_id="<|image_pad|>", video_token_id="<|video_pad|>",
        vision_start_token_id="<|vision_start|>", vision_end_token_id="<|vision_end|>",
    )  # fmt: skip
    text = tiny_text_config(tokenizer, bos_token_id=None)
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}
    vision = {"depth": 2, "num_heads": 4, "patch_size": patch_size, "spatial_merge_size": 2, **vision}
    vision[vision.pop("lm_width")] = text["hidden_size"]
    config = config_class(text_config=text, vision_config={**vision, "temporal_patch_size": 2}, **ids)
    torch.manual_seed(seed)
    model = model_class(config)
    pixels = _qwen_vl_pixels(patch_size, max_pixels)
    processor = torch_processor_class(processor_class)(
        image_processor=Qwen2VLImageProcessorPil(**pixels),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessorTorch(**pixels, cap_pixels_per_frame=False),
        chat_template=QWEN2_VL_CHAT_TEMPLATE,
    )
    return _save(folder, model, processor, tokenizer)


def build_tiny_qwen2_vl(folder, seed: int = 0, patch_size: int = 8, max_pixels: int = 64 * 64) -> Path:
    """Write a tiny random Qwen2-VL (2 x 2 spatial merge, temporal patches of 2 frames; frames resized to at most
    `max_pixels`) and its `Qwen2VLProcessor` to `folder`; return the folder."""
    vision = {"embed_dim": 32, "mlp_ratio": 2, "lm_width": "hidden_size"}
    return _build_tiny_qwen_vl(
        folder, seed, patch_size, max_pixels, Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor, vision
    )


def build_tiny_qwen2_5_vl(folder, seed: int = 0, patch_size: int = 8, max_pixels: int = 64 * 64) -> Path:
    """Write a tiny random Qwen2.5-VL (as `build_tiny_qwen2_vl`, plus window attention in the first vision block over
    windows of 2 x 2 merged patches, full attention in the last, and absolute time M-RoPE: the processor's
    `second_per_grid_ts` times `tokens_per_second`) and its `Qwen2_5_VLProcessor` to `folder`; return the folder."""
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "lm_width": "out_hidden_size",
        "window_size": 2 * 2 * patch_size,  # in pixels: 2 x 2 merged patches (112 = 4 x 2 x 14 in the real model)
        "fullatt_block_indexes": [1],
        "tokens_per_second": 2,  # as in the Qwen2.5-VL Hub configs
    }
    return _build_tiny_qwen_vl(
        folder, seed, patch_size, max_pixels, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor, vision,
    )  # fmt: skip


__all__ = [
    "CHATML_SPECIAL_TOKENS",
    "LLAVA_ONEVISION_CHAT_TEMPLATE",
    "QWEN2_VL_CHAT_TEMPLATE",
    "VIDEO_LLAVA_CHAT_TEMPLATE",
    "build_tiny_llava_onevision",
    "build_tiny_qwen2_5_vl",
    "build_tiny_qwen2_vl",
    "build_tiny_video_llava",
    "chatml_tokenizer",
    "qwen2_vl_tokenizer",
]
