"""The one small tester helper: tiny random Sherlock configs and matching inputs (no network, no weights)."""

import torch

from modeling_sherlock import SherlockConfig


VIDEO_TOKEN = 127
IMAGE_TOKEN = 126
VOCAB = 128
IMAGE_SIZE = 16
PATCH = 4
TOKENS_PER_FRAME = (IMAGE_SIZE // PATCH) ** 2 + 1  # CLS + 4x4 patches
BACKGROUND_SIZE = 8
BACKGROUND_HIDDEN = 24


def vision_config(**overrides):
    config = {
        "model_type": "clip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": IMAGE_SIZE,
        "patch_size": PATCH,
        "projection_dim": 32,
    }
    config.update(overrides)
    return config


def text_config(**overrides):
    config = {
        "model_type": "llama",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": VOCAB,
        "max_position_embeddings": 512,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    config.update(overrides)
    return config


def video_llava_kwargs():
    """The Video-LLaVA part of the tiny config (shared by `VideoLlavaConfig` and `SherlockConfig`)."""
    return {
        "vision_config": vision_config(),
        "text_config": text_config(),
        "image_token_index": IMAGE_TOKEN,
        "video_token_index": VIDEO_TOKEN,
        "video_seq_length": 2 * TOKENS_PER_FRAME,
    }


def get_config(**overrides) -> SherlockConfig:
    kwargs = {
        **video_llava_kwargs(),
        "expert_hidden_size": 16,
        "expert_num_heads": 2,
        "expert_num_layers": 2,
        "max_persons": 4,
        "num_object_classes": 5,
        "num_relation_classes": 3,
        "max_objects": 6,
        "max_relations": 6,
        "background_vision_config": vision_config(hidden_size=BACKGROUND_HIDDEN, image_size=BACKGROUND_SIZE),
    }
    kwargs.update(overrides)
    return SherlockConfig(**kwargs)


def prepare_inputs(
    batch: int = 2,
    frames: int = 2,
    persons: int = 2,
    objects: int = 3,
    relations: int = 2,
    text_len: int = 5,
    seed: int = 0,
    labels: bool = False,
    background: str = "pixels",
) -> dict:
    """Random inputs for a tiny model: video placeholders first, then text; every person/object/relation valid."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.cat(
        [
            torch.full((batch, 1), 1),
            torch.full((batch, frames * TOKENS_PER_FRAME), VIDEO_TOKEN),
            torch.randint(3, 100, (batch, text_len), generator=g),
        ],
        dim=1,
    )
    xy = torch.rand(batch, frames, objects, 2, 2, generator=g)
    boxes = torch.cat([xy.min(dim=3).values, xy.max(dim=3).values], dim=-1)
    if objects:
        subjects = torch.randint(0, objects, (batch, frames, relations, 1), generator=g)
        targets = torch.randint(0, objects, (batch, frames, relations, 1), generator=g)
    else:
        subjects = targets = torch.zeros(batch, frames, relations, 1, dtype=torch.long)
    predicates = torch.randint(0, 3, (batch, frames, relations, 1), generator=g)
    inputs = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "pixel_values_videos": torch.randn(batch, frames, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g),
        "pose_keypoints": torch.rand(batch, frames, persons, 17, 3, generator=g),
        "pose_mask": torch.ones(batch, frames, persons, dtype=torch.bool),
        "object_boxes": boxes,
        "object_labels": torch.randint(0, 5, (batch, frames, objects), generator=g),
        "object_mask": torch.ones(batch, frames, objects, dtype=torch.bool),
        "relation_triplets": torch.cat([subjects, predicates, targets], dim=-1),
        "relation_mask": torch.ones(batch, frames, relations, dtype=torch.bool),
    }
    if background == "pixels":
        inputs["background_pixel_values"] = torch.randn(
            batch, frames, 3, BACKGROUND_SIZE, BACKGROUND_SIZE, generator=g
        )
    else:
        inputs["background_features"] = torch.randn(
            batch, frames, (BACKGROUND_SIZE // PATCH) ** 2 + 1, BACKGROUND_HIDDEN, generator=g
        )
    if labels:
        inputs["labels"] = ids.masked_fill(ids == VIDEO_TOKEN, -100)
    return inputs


def video_features_of(output) -> torch.Tensor:
    """The GSM mixture that filled the `<video>` placeholders, from a model output: `video_outputs.pooler_output`
    (transformers >= 5.24) or `video_hidden_states` (5.23, where `video_outputs` does not exist)."""
    if "video_outputs" in output.__dataclass_fields__:
        return output.video_outputs.pooler_output
    return output.video_hidden_states


def select(inputs: dict, index) -> dict:
    """Slice every batched tensor of `inputs` along the batch dimension."""
    return {name: value[index] for name, value in inputs.items()}


def build_model(seed: int = 0, **overrides):
    """A tiny random `SherlockForConditionalGeneration` in eval mode, with the experts and the gate re-initialised at
    unit scale (fan-in scaled linears, N(0, 1) embeddings, null nodes included) so that their inputs visibly move the
    logits: a fresh model's expert up projections are zero (a fresh expert reads out nothing, see
    `SherlockLocalExpert.mark_initialisation`), which would make every equality test pass trivially."""
    from modeling_sherlock import SherlockForConditionalGeneration

    torch.manual_seed(seed)
    model = SherlockForConditionalGeneration(get_config(**overrides))
    with torch.no_grad():
        for name, module in model.model.named_modules():
            if not name.startswith(("spatial_experts.", "expert_gate")) or ".tower" in name:
                continue
            if isinstance(module, torch.nn.Linear):
                module.weight.normal_(0.0, module.in_features**-0.5)
            elif isinstance(module, torch.nn.Embedding):
                module.weight.normal_(0.0, 1.0)
            if hasattr(module, "null_node"):
                module.null_node.weight.normal_(0.0, 1.0)
    return model.eval()


def cuva_dir():
    """The CUVA annotation files shipped in the repository (`dataset_scripts/data/cuva`, the default `--cuva-dir`)."""
    from dataset_scripts.build_mvae import SHIPPED_CUVA_DIR

    return SHIPPED_CUVA_DIR
