# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Overhead of Sherlock's Global-local Spatial-enhanced MoE (GSM) over plain Video-LLaVA: wall time and FLOPs.

One run prints two reports; nothing is downloaded and every weight is random.

(a) Wall time on CPU at a "mid-size" random configuration
    CLIP vision tower: hidden 256, 4 layers, 4 heads, MLP 1024, 224 px, patch 14 -> 257 tokens per frame (Video-LLaVA
    keeps all of them, CLS included); Llama: hidden 512, 4 layers, 8 heads, MLP 1376, vocab 4096; GSM: expert width
    128, 4 heads, 2 graph layers; 8 frames, batch 1, 4 persons, 6 objects and 8 relations per frame; a prompt of
    1 + 8 * 257 + 59 = 2116 tokens. The background tower is a copy of the vision config (Sherlock's default).
    `VideoLlavaForConditionalGeneration` gets exactly Sherlock's backbone weights (Sherlock's state dict restricted to
    the keys Video-LLaVA has, loaded with `strict=False`; the script checks that no Video-LLaVA key is left out), so
    the two models differ only by the GSM. Measured, under `torch.inference_mode`, round-robin over the models
    (so that drift of the machine hits all of them alike), median of `--repeats` (forward, default 21) /
    `--generate-repeats` (generate, default 9) runs after `--warmup` (default 3) untimed rounds. The warm-up matters:
    on the 2-core VM this was written on, the first two rounds ran 2-6x slower than the steady state (first touch of
    freshly allocated memory), which with a single warm-up round skewed the ratios by up to 2x.
      1. one forward pass over the whole prompt (all logits, as in training / scoring);
      2. `generate(max_new_tokens=N, min_new_tokens=N, do_sample=False)` with N = `--new-tokens` (the video and the
         experts run once, before the prefill; the N - 1 decoding steps are the same language model for both).
    Sherlock runs twice: with cached `background_features` (the frozen tower's output, computed once beforehand, as
    in training / evaluation) and with `background_pixel_values` (the tower runs inside the forward). The stated
    goal, "the GSM adds at most 15 % wall time at the mid config", is printed as PASS / FAIL per variant, together
    with the split "GSM alone" (cached features - Video-LLaVA) and "background tower" (pixels - cached features).
    The FLOPs of the same forward passes are counted on the real tensors as well.

(b) FLOPs at the real Video-LLaVA-7B configuration, without allocating any weight
    Vision: CLIP ViT-L/14 at 224 px (hidden 1024, 24 layers, 16 heads, MLP 4096, 257 tokens per frame); text:
    Llama / Vicuna-7B (hidden 4096, 32 layers, 32 heads, MLP 11008; vocab 32064 = Vicuna's 32000 + the padded
    `<image>` / `<video>` ids 32000 / 32001 of the `-hf` checkpoint); 8 frames; Sherlock's defaults (expert width
    512, 8 heads, 2 graph layers, background tower = a copy of the vision config) with the expert inputs filled to
    capacity (8 persons, 16 objects, 32 relations per frame: the upper bound). Prompt: 1 + 2056 video + 59 text =
    2116 tokens; one prefill forward pass (all logits) is counted with `torch.utils.flop_counter.FlopCounterMode`.

    How the count runs (each step was tried in this order, the script re-checks the first two and prints why):
      * meta device: the models build on `torch.device("meta")`, but the forward fails in Video-LLaVA's placeholder
        check (`torch_compilable_check(n_video_tokens * hidden == features.numel())` calls `Tensor.item()`, which meta
        tensors cannot do);
      * `FakeTensorMode(shape_env=ShapeEnv())` (no memory either; `.item()` becomes a symbolic value): Video-LLaVA's
        forward runs unchanged. Sherlock's forward stops in `prepare_expert_inputs`, whose input checks branch on data
        (`if bad.any()`, boolean indexing of the boxes) and so cannot be traced symbolically;
      * hence for Sherlock the script wraps `prepare_expert_inputs` (only during the count, restored afterwards) so
        that it runs on the real, small expert-input tensors outside the fake mode (the checks still run for real);
        everything else, the towers, the experts, the gate and the language model, runs on fake tensors.
    The method is validated on the mid config: the fake-tensor count must equal the count of the real forward.

    Conventions: FLOPs = 2 x multiply-accumulates of matmuls (`mm`, `addmm`, `bmm`, `baddbmm`), convolutions and
    attention; element-wise ops, norms and softmax are not counted (FlopCounterMode's convention). CPU's fused
    attention kernel (`aten._scaled_dot_product_flash_attention_for_cpu`) has no formula in torch 2.13, so the script
    registers the standard one, `4 * batch * heads * q_len * kv_len * head_dim` (dense: a causal mask is not
    discounted, as in FlopCounterMode's own GPU formulas); without it every SDPA call would count 0.

    Analytic cross-check printed next to the count (S = 2116 prompt tokens, N = non-embedding parameters of the
    language model, L = 32 layers, d = 4096, V = vocabulary):
        LLM         ~= 2 * N * S  (linear layers)  +  4 * L * S^2 * d  (attention scores and values, dense)
        lm_head     =  2 * V * d * S
        video tower ~= frames * (2 * P_enc * 257 + 4 * L_v * 257^2 * d_v + 2 * 3 * 14^2 * d_v * 256)
    The stated goal, "the GSM adds at most 5 % FLOPs at 7B", is printed as PASS / FAIL per background variant, with the
    breakdown of the GSM's own FLOPs (local experts + gate) and of the background tower.

Usage:
    python benchmarks/benchmark_gsm_overhead.py                 # full run (about 1.5 minutes on 2 CPU cores)
    python benchmarks/benchmark_gsm_overhead.py --quick         # tiny sizes, a few seconds (smoke test)
    python benchmarks/benchmark_gsm_overhead.py --skip-wall-time  # only the FLOP report

`main(argv)` returns the figures as a dict, so a test can call `main(["--quick"])`.
"""

import argparse
import contextlib
import dataclasses
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch
import transformers
from torch._subclasses.fake_tensor import FakeTensorMode, unset_fake_temporarily
from torch.fx.experimental.symbolic_shapes import ShapeEnv
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count
from transformers import VideoLlavaConfig, VideoLlavaForConditionalGeneration

import modeling_sherlock.modeling_sherlock as sherlock_modeling
from modeling_sherlock import EXPERT_INPUT_NAMES, SherlockConfig, SherlockForConditionalGeneration, gsb_loss
from modeling_sherlock.modeling_sherlock_inputs import prepare_expert_inputs


WALL_TIME_GOAL = 0.15  # "the GSM adds at most 15 % wall time at the mid config"
FLOP_GOAL = 0.05  # "the GSM adds at most 5 % FLOPs at 7B"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """One model size plus the shape of the inputs fed to it."""

    name: str
    # CLIP vision tower (video tower of Video-LLaVA; the background tower is a copy of it)
    vision_hidden: int
    vision_layers: int
    vision_heads: int
    vision_intermediate: int
    image_size: int
    patch_size: int
    # Llama language model
    text_hidden: int
    text_layers: int
    text_heads: int
    text_intermediate: int
    vocab_size: int
    image_token: int
    video_token: int
    # GSM
    expert_hidden: int
    expert_heads: int
    expert_layers: int
    max_persons: int = 8
    max_objects: int = 16
    max_relations: int = 32
    num_object_classes: int = 80
    num_relation_classes: int = 16
    # inputs
    frames: int = 8
    persons: int = 4
    objects: int = 6
    relations: int = 8
    text_tokens: int = 59

    @property
    def tokens_per_frame(self) -> int:
        return (self.image_size // self.patch_size) ** 2 + 1

    @property
    def prompt_length(self) -> int:
        return 1 + self.frames * self.tokens_per_frame + self.text_tokens


MID = Sizes(
    name="mid",
    vision_hidden=256, vision_layers=4, vision_heads=4, vision_intermediate=1024, image_size=224, patch_size=14,
    text_hidden=512, text_layers=4, text_heads=8, text_intermediate=1376, vocab_size=4096,
    image_token=4094, video_token=4095,
    expert_hidden=128, expert_heads=4, expert_layers=2,
    frames=8, persons=4, objects=6, relations=8, text_tokens=59,
)  # fmt: skip
VIDEO_LLAVA_7B = Sizes(
    name="Video-LLaVA-7B",
    vision_hidden=1024, vision_layers=24, vision_heads=16, vision_intermediate=4096, image_size=224, patch_size=14,
    text_hidden=4096, text_layers=32, text_heads=32, text_intermediate=11008, vocab_size=32064,
    image_token=32000, video_token=32001,
    expert_hidden=512, expert_heads=8, expert_layers=2,
    frames=8, persons=8, objects=16, relations=32, text_tokens=59,
)  # fmt: skip
TINY = Sizes(
    name="tiny (--quick)",
    vision_hidden=32, vision_layers=2, vision_heads=4, vision_intermediate=64, image_size=28, patch_size=14,
    text_hidden=64, text_layers=2, text_heads=4, text_intermediate=128, vocab_size=256,
    image_token=254, video_token=255,
    expert_hidden=16, expert_heads=2, expert_layers=2, max_persons=4, max_objects=6, max_relations=6,
    frames=2, persons=2, objects=3, relations=2, text_tokens=8,
)  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------------
# Configs, models and inputs
# ----------------------------------------------------------------------------------------------------------------------


def video_llava_kwargs(sizes: Sizes) -> dict:
    """The Video-LLaVA part of the configuration, shared verbatim by `VideoLlavaConfig` and `SherlockConfig`."""
    vision = {
        "model_type": "clip_vision_model",
        "hidden_size": sizes.vision_hidden,
        "intermediate_size": sizes.vision_intermediate,
        "num_hidden_layers": sizes.vision_layers,
        "num_attention_heads": sizes.vision_heads,
        "image_size": sizes.image_size,
        "patch_size": sizes.patch_size,
        "projection_dim": 768,
    }
    text = {
        "model_type": "llama",
        "hidden_size": sizes.text_hidden,
        "intermediate_size": sizes.text_intermediate,
        "num_hidden_layers": sizes.text_layers,
        "num_attention_heads": sizes.text_heads,
        "num_key_value_heads": sizes.text_heads,
        "vocab_size": sizes.vocab_size,
        "max_position_embeddings": 4096,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    return {
        "vision_config": vision,
        "text_config": text,
        "image_token_index": sizes.image_token,
        "video_token_index": sizes.video_token,
        "video_seq_length": sizes.frames * sizes.tokens_per_frame,
        "vision_feature_layer": -2,
    }


def sherlock_config(sizes: Sizes) -> SherlockConfig:
    return SherlockConfig(
        **video_llava_kwargs(sizes),
        expert_hidden_size=sizes.expert_hidden,
        expert_num_heads=sizes.expert_heads,
        expert_num_layers=sizes.expert_layers,
        max_persons=sizes.max_persons,
        max_objects=sizes.max_objects,
        max_relations=sizes.max_relations,
        num_object_classes=sizes.num_object_classes,
        num_relation_classes=sizes.num_relation_classes,
        # background_vision_config left at its default: a copy of the vision config
    )


def build_pair(sizes: Sizes, seed: int = 0):
    """A random Sherlock and a Video-LLaVA holding exactly Sherlock's backbone weights.

    Returns `(sherlock, video_llava, info)` in eval mode; `info` counts the shared and the GSM-only tensors.
    """
    torch.manual_seed(seed)
    sherlock = SherlockForConditionalGeneration(sherlock_config(sizes)).eval()
    video_llava = VideoLlavaForConditionalGeneration(VideoLlavaConfig(**video_llava_kwargs(sizes))).eval()
    sherlock_state = sherlock.state_dict()
    video_llava_keys = set(video_llava.state_dict())
    shared = {key: value for key, value in sherlock_state.items() if key in video_llava_keys}
    missing, unexpected = video_llava.load_state_dict(shared, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"Backbone weights not shared: missing {missing}, unexpected {unexpected}.")
    extra = [key for key in sherlock_state if key not in video_llava_keys]
    outside_gsm = [key for key in extra if not key.startswith(("model.spatial_experts.", "model.expert_gate."))]
    if outside_gsm:
        raise RuntimeError(f"Sherlock has non-GSM tensors that Video-LLaVA lacks: {outside_gsm}.")
    for key in (
        "model.language_model.layers.0.self_attn.q_proj.weight",
        "model.video_tower.embeddings.patch_embedding.weight",
        "lm_head.weight",
    ):
        if not torch.equal(video_llava.state_dict()[key], sherlock_state[key]):
            raise RuntimeError(f"{key} differs after loading.")
    tower_params = sum(p.numel() for p in sherlock.model.spatial_experts["background"].tower.parameters())
    gsm_params = sum(p.numel() for n, p in sherlock.named_parameters() if n in extra) - tower_params
    info = {
        "shared_tensors": len(shared),
        "gsm_only_tensors": len(extra),
        "backbone_params": sum(p.numel() for p in video_llava.parameters()),
        "gsm_params": gsm_params,
        "background_tower_params": tower_params,
    }
    return sherlock, video_llava, info


def make_inputs(sizes: Sizes, seed: int = 0, batch: int = 1) -> dict:
    """Real (CPU) inputs: prompt ids, frames, poses, objects, relations and background frames (all entries valid)."""
    g = torch.Generator().manual_seed(seed)
    b, f = batch, sizes.frames
    input_ids = torch.cat(
        [
            torch.full((b, 1), 1),
            torch.full((b, f * sizes.tokens_per_frame), sizes.video_token),
            torch.randint(3, min(sizes.image_token, sizes.vocab_size) - 1, (b, sizes.text_tokens), generator=g),
        ],
        dim=1,
    )
    corners = torch.rand(b, f, sizes.objects, 2, 2, generator=g)
    boxes = torch.cat([corners.min(dim=3).values, corners.max(dim=3).values], dim=-1)
    subjects = torch.randint(0, sizes.objects, (b, f, sizes.relations, 1), generator=g)
    targets = torch.randint(0, sizes.objects, (b, f, sizes.relations, 1), generator=g)
    predicates = torch.randint(0, sizes.num_relation_classes, (b, f, sizes.relations, 1), generator=g)
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "pixel_values_videos": torch.randn(b, f, 3, sizes.image_size, sizes.image_size, generator=g),
        "pose_keypoints": torch.rand(b, f, sizes.persons, 17, 3, generator=g),
        "pose_mask": torch.ones(b, f, sizes.persons, dtype=torch.bool),
        "object_boxes": boxes,
        "object_labels": torch.randint(0, sizes.num_object_classes, (b, f, sizes.objects), generator=g),
        "object_mask": torch.ones(b, f, sizes.objects, dtype=torch.bool),
        "relation_triplets": torch.cat([subjects, predicates, targets], dim=-1),
        "relation_mask": torch.ones(b, f, sizes.relations, dtype=torch.bool),
        "background_pixel_values": torch.randn(b, f, 3, sizes.image_size, sizes.image_size, generator=g),
    }


VIDEO_LLAVA_INPUTS = ("input_ids", "attention_mask", "pixel_values_videos")


def variants(inputs: dict, background_features: torch.Tensor) -> dict[str, dict]:
    """The three measured input sets: Video-LLaVA, Sherlock with cached features, Sherlock with background pixels."""
    video_llava = {name: inputs[name] for name in VIDEO_LLAVA_INPUTS}
    with_pixels = dict(inputs)
    with_features = {name: value for name, value in inputs.items() if name != "background_pixel_values"}
    with_features["background_features"] = background_features
    return {"video_llava": video_llava, "sherlock_features": with_features, "sherlock_pixels": with_pixels}


# ----------------------------------------------------------------------------------------------------------------------
# FLOP counting
# ----------------------------------------------------------------------------------------------------------------------


def _cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of CPU's fused SDPA kernel (not registered in torch's FlopCounterMode): the standard dense formula."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def flop_counter() -> FlopCounterMode:
    mapping = {}
    cpu_sdpa = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if cpu_sdpa is not None:
        mapping[cpu_sdpa] = _cpu_sdpa_flop
    return FlopCounterMode(display=False, custom_mapping=mapping)


@dataclasses.dataclass
class FlopCount:
    total: int
    by_module: dict[str, int]  # module path without the root class name ("model.video_tower", ...) -> FLOPs

    def module(self, path: str) -> int:
        return self.by_module.get(path, 0)

    def under(self, prefix: str) -> dict[str, int]:
        return {name: flops for name, flops in self.by_module.items() if name.startswith(prefix)}


def count_flops(model: torch.nn.Module, inputs: dict) -> FlopCount:
    counter = flop_counter()
    with torch.inference_mode(), counter:
        model(**inputs)
    root = type(model).__name__
    by_module = {}
    for name, per_op in counter.get_flop_counts().items():
        if name == "Global" or name == root:
            continue
        by_module[name[len(root) + 1 :] if name.startswith(root + ".") else name] = sum(per_op.values())
    return FlopCount(total=counter.get_total_flops(), by_module=by_module)


@contextlib.contextmanager
def expert_inputs_checked_outside_fake_mode():
    """Let Sherlock's data-dependent input checks run on the real expert tensors while the model runs on fake ones."""
    original = sherlock_modeling.prepare_expert_inputs

    def checked_for_real(*args, **kwargs):
        with unset_fake_temporarily():
            return original(*args, **kwargs)

    sherlock_modeling.prepare_expert_inputs = checked_for_real
    try:
        yield
    finally:
        sherlock_modeling.prepare_expert_inputs = original


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:140] if text else ''}"


def probe_meta_and_plain_fake(sizes: Sizes, inputs: dict) -> dict:
    """Re-check why neither a pure meta-device forward nor a plain FakeTensorMode forward counts these models."""
    notes = {}
    with torch.device("meta"):
        video_llava = VideoLlavaForConditionalGeneration(VideoLlavaConfig(**video_llava_kwargs(sizes))).eval()
    meta_inputs = {name: inputs[name].to("meta") for name in VIDEO_LLAVA_INPUTS}
    try:
        with torch.inference_mode(), flop_counter():
            video_llava(**meta_inputs)
        notes["meta (Video-LLaVA)"] = "works"
    except Exception as error:  # noqa: BLE001 - the failure is the finding
        notes["meta (Video-LLaVA)"] = "fails, " + _first_line(error)
    del video_llava
    mode = FakeTensorMode(shape_env=ShapeEnv(), allow_non_fake_inputs=True)
    with mode:
        sherlock = SherlockForConditionalGeneration(sherlock_config(sizes)).eval()
    try:
        with mode, torch.inference_mode(), flop_counter():
            sherlock(**inputs)
        notes["FakeTensorMode (Sherlock, unwrapped checks)"] = "works"
    except Exception as error:  # noqa: BLE001
        notes["FakeTensorMode (Sherlock, unwrapped checks)"] = "fails, " + _first_line(error)
    return notes


def _video_tower_encoder(model) -> torch.nn.Module:
    tower = model.model.video_tower
    return tower.vision_model.encoder if hasattr(tower, "vision_model") else tower.encoder


def _module_path(root: torch.nn.Module, module: torch.nn.Module) -> str:
    return next(name for name, candidate in root.named_modules() if candidate is module)


def fake_flop_counts(sizes: Sizes, seed: int = 0) -> dict[str, FlopCount]:
    """Count a prefill forward of Video-LLaVA and of Sherlock (both background variants) on fake weights."""
    inputs = make_inputs(sizes, seed)
    features_shape = (1, sizes.frames, sizes.tokens_per_frame, sizes.vision_hidden)  # tower = copy of vision config
    background_features = torch.randn(features_shape, generator=torch.Generator().manual_seed(seed))
    runs = variants(inputs, background_features)
    mode = FakeTensorMode(shape_env=ShapeEnv(), allow_non_fake_inputs=True)
    with mode:
        video_llava = VideoLlavaForConditionalGeneration(VideoLlavaConfig(**video_llava_kwargs(sizes))).eval()
        sherlock = SherlockForConditionalGeneration(sherlock_config(sizes)).eval()
    counts = {}
    with mode:
        counts["video_llava"] = count_flops(video_llava, runs["video_llava"])
        with expert_inputs_checked_outside_fake_mode():
            counts["sherlock_features"] = count_flops(sherlock, runs["sherlock_features"])
            counts["sherlock_pixels"] = count_flops(sherlock, runs["sherlock_pixels"])
    counts["_params"] = {
        "llm_non_embedding": sum(
            p.numel() for n, p in video_llava.model.language_model.named_parameters() if "embed_tokens" not in n
        ),
        "video_tower_encoder": sum(p.numel() for p in _video_tower_encoder(video_llava).parameters()),
    }
    counts["_layer_prefix"] = (
        "model." + _module_path(video_llava.model, _video_tower_encoder(video_llava).layers) + "."
    )
    return counts


# ----------------------------------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------------------------------


def time_round_robin(calls: dict[str, Callable[[], object]], repeats: int, warmup: int) -> dict[str, list[float]]:
    """Run every call `warmup` times untimed, then `repeats` rounds; each round runs all calls, in a rotated order."""
    names = list(calls)
    for _ in range(warmup):
        for name in names:
            calls[name]()
    times = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - start)
    return times


# ----------------------------------------------------------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------------------------------------------------------


LABELS = {
    "video_llava": "Video-LLaVA",
    "sherlock_features": "Sherlock, cached background_features",
    "sherlock_pixels": "Sherlock, background_pixel_values",
}


def _verdict(overhead: float, goal: float) -> str:
    return f"{'PASS' if overhead <= goal else 'FAIL'} (goal <= +{goal:.0%})"


def _g(flops: float) -> str:
    if abs(flops) < 1e8:
        return f"{flops / 1e6:,.3f} MFLOP"
    return f"{flops / 1e9:,.2f} GFLOP"


def _t(flops: float) -> str:
    if abs(flops) < 1e11:
        return _g(flops)
    return f"{flops / 1e12:,.3f} TFLOP"


def run_wall_time(sizes: Sizes, args) -> dict:
    print(f"\n=== (a) Wall time on CPU, {sizes.name} config ===")
    print(
        f"vision: CLIP hidden {sizes.vision_hidden}, {sizes.vision_layers} layers, {sizes.image_size} px / patch "
        f"{sizes.patch_size} -> {sizes.tokens_per_frame} tokens/frame; text: Llama hidden {sizes.text_hidden}, "
        f"{sizes.text_layers} layers, {sizes.text_heads} heads, MLP {sizes.text_intermediate}, vocab {sizes.vocab_size}"
    )
    print(
        f"GSM: expert width {sizes.expert_hidden}, {sizes.expert_heads} heads, {sizes.expert_layers} graph layers; "
        f"inputs: batch 1, {sizes.frames} frames, {sizes.persons} persons / {sizes.objects} objects / "
        f"{sizes.relations} relations per frame, prompt {sizes.prompt_length} tokens"
    )
    start = time.perf_counter()
    sherlock, video_llava, info = build_pair(sizes, args.seed)
    print(
        f"models built in {time.perf_counter() - start:.1f} s; Video-LLaVA loaded all {info['shared_tensors']} of its "
        f"tensors from Sherlock's state dict; backbone {info['backbone_params'] / 1e6:.1f} M params, GSM "
        f"{info['gsm_params'] / 1e6:.2f} M trainable + background tower {info['background_tower_params'] / 1e6:.1f} M frozen"
    )
    inputs = make_inputs(sizes, args.seed)
    with torch.inference_mode():
        background_features = sherlock.model.spatial_experts["background"].encode_background(
            inputs["background_pixel_values"]
        )
    runs = variants(inputs, background_features)
    models = {"video_llava": video_llava, "sherlock_features": sherlock, "sherlock_pixels": sherlock}

    # FLOPs of the same forward on real tensors (also validates the fake-tensor count of part (b)).
    real_counts = {name: count_flops(models[name], runs[name]) for name in runs}

    def forward(name):
        def call():
            with torch.inference_mode():
                return models[name](**runs[name])

        return call

    new_tokens = args.new_tokens
    generate_kwargs = {
        "max_new_tokens": new_tokens,
        "min_new_tokens": new_tokens,
        "do_sample": False,
        "pad_token_id": 0,
    }

    def generate(name):
        def call():
            with torch.inference_mode():
                out = models[name].generate(**runs[name], **generate_kwargs)
            if out.shape[1] != sizes.prompt_length + new_tokens:
                raise RuntimeError(f"{name} generated {out.shape[1] - sizes.prompt_length} tokens, not {new_tokens}.")
            return out

        return call

    # The two parts alone, timed directly (less noisy than a difference of two ~0.5 s medians): what
    # `SherlockModel.get_video_features` adds to Video-LLaVA's (input checks, the local experts, the gate and the GSB
    # loss, on the projected video tokens) and the frozen background tower on the pixels.
    with torch.inference_mode():
        video_tokens = video_llava.model.get_video_features(
            pixel_values_videos=inputs["pixel_values_videos"]
        ).pooler_output
    video_tokens = video_tokens.reshape(1, sizes.frames, sizes.tokens_per_frame, -1)
    expert_kwargs = {
        name: runs["sherlock_features"][name] for name in EXPERT_INPUT_NAMES if name in runs["sherlock_features"]
    }

    def gsm_alone():
        with torch.inference_mode():
            checked = prepare_expert_inputs(sherlock.config, 1, sizes.frames, **expert_kwargs)
            _, gate_weights = sherlock.model.get_spatial_features(video_tokens, checked)
            gsb_loss(gate_weights, list(sherlock.config.experts), sherlock.config.gsb_variant)

    def tower_alone():
        with torch.inference_mode():
            sherlock.model.spatial_experts["background"].encode_background(inputs["background_pixel_values"])

    start = time.perf_counter()
    forward_times = time_round_robin({name: forward(name) for name in runs}, args.repeats, args.warmup)
    part_times = time_round_robin({"gsm": gsm_alone, "tower": tower_alone}, 2 * args.repeats, args.warmup)
    generate_times = time_round_robin({name: generate(name) for name in runs}, args.generate_repeats, args.warmup)
    elapsed = time.perf_counter() - start

    results = {"forward": {}, "generate": {}, "flops": {name: c.total for name, c in real_counts.items()}}
    for kind, times, repeats in (
        ("forward", forward_times, args.repeats),
        ("generate", generate_times, args.generate_repeats),
    ):
        title = "forward pass (whole prompt)" if kind == "forward" else f"generate, {new_tokens} new tokens, greedy"
        print(f"\n{title}: median of {repeats} after {args.warmup} warm-up, seconds [min .. max]")
        base = statistics.median(times["video_llava"])
        for name, samples in times.items():
            median = statistics.median(samples)
            ratio = median / base
            results[kind][name] = {"median_s": median, "samples_s": samples, "ratio": ratio}
            line = f"  {LABELS[name]:<38} {median:8.3f} s  [{min(samples):.3f} .. {max(samples):.3f}]"
            if name != "video_llava":
                line += f"  ratio {ratio:.3f} ({ratio - 1:+.1%})  {_verdict(ratio - 1, WALL_TIME_GOAL)}"
            print(line)
        tower = results[kind]["sherlock_pixels"]["median_s"] - results[kind]["sherlock_features"]["median_s"]
        gsm = results[kind]["sherlock_features"]["median_s"] - base
        print(
            f"  differences of medians: GSM (cached features - Video-LLaVA) {gsm * 1e3:+.1f} ms ({gsm / base:+.1%}); "
            f"background tower (pixels - cached features) {tower * 1e3:+.1f} ms ({tower / base:+.1%})"
        )
        if kind == "forward":
            gsm_direct, tower_direct = (statistics.median(part_times[name]) for name in ("gsm", "tower"))
            results["gsm_alone_s"], results["background_tower_alone_s"] = gsm_direct, tower_direct
            print(
                f"  timed directly ({2 * args.repeats} runs): GSM (input checks + experts + gate + GSB loss) "
                f"{gsm_direct * 1e3:.1f} ms = {gsm_direct / base:.1%} of Video-LLaVA's forward; background tower "
                f"{tower_direct * 1e3:.1f} ms = {tower_direct / base:.1%}"
            )
    base_flops = real_counts["video_llava"].total
    print("\nFLOPs of that forward pass (counted on the real tensors):")
    for name, count in real_counts.items():
        extra = "" if name == "video_llava" else f"  ratio {count.total / base_flops:.3f}"
        print(f"  {LABELS[name]:<38} {_g(count.total):>18}{extra}")
    print(f"(timed part took {elapsed:.0f} s; torch threads {torch.get_num_threads()})")
    results["real_counts"] = real_counts
    return results


def run_flops(sizes: Sizes, args, mid_check: tuple[Sizes, dict] | None) -> dict:
    print(f"\n=== (b) FLOPs of one prefill forward pass, {sizes.name} config, no weights allocated ===")
    print(
        f"vision: CLIP hidden {sizes.vision_hidden}, {sizes.vision_layers} layers, {sizes.vision_heads} heads, MLP "
        f"{sizes.vision_intermediate}, {sizes.image_size} px / patch {sizes.patch_size} -> {sizes.tokens_per_frame} "
        f"tokens/frame, vision_feature_layer -2; text: Llama hidden {sizes.text_hidden}, {sizes.text_layers} layers, "
        f"{sizes.text_heads} heads, MLP {sizes.text_intermediate}, vocab {sizes.vocab_size}"
    )
    print(
        f"GSM: expert width {sizes.expert_hidden}, {sizes.expert_heads} heads, {sizes.expert_layers} graph layers, "
        f"background tower = copy of the vision config; inputs: {sizes.frames} frames, {sizes.persons} persons / "
        f"{sizes.objects} objects / {sizes.relations} relations per frame; prompt {sizes.prompt_length} tokens = 1 + "
        f"{sizes.frames}*{sizes.tokens_per_frame} video + {sizes.text_tokens} text"
    )
    start = time.perf_counter()
    probes = probe_meta_and_plain_fake(sizes, make_inputs(sizes, args.seed))
    print("method:")
    for name, outcome in probes.items():
        print(f"  {name}: {outcome}")
    print("  -> counting with FakeTensorMode(ShapeEnv); Sherlock's expert-input checks run on the real inputs")
    counts = fake_flop_counts(sizes, args.seed)
    params = counts.pop("_params")
    layer_prefix = counts.pop("_layer_prefix")
    print(f"  (built and counted in {time.perf_counter() - start:.1f} s)")

    if mid_check is not None:
        mid_sizes, real_counts = mid_check
        mid_fake = fake_flop_counts(mid_sizes, args.seed)
        mid_fake.pop("_params")
        mid_fake.pop("_layer_prefix")
        same = all(mid_fake[name].total == real_counts[name].total for name in real_counts)
        print(
            f"  validation on the {mid_sizes.name} config: fake-tensor count "
            f"{'==' if same else '!='} real-tensor count for all three variants"
            + ("" if same else f" ({ {n: (mid_fake[n].total, real_counts[n].total) for n in real_counts} })")
        )

    base = counts["video_llava"]
    results = {"video_llava": base.total, "probes": probes}
    print("\ntotals:")
    print(f"  {LABELS['video_llava']:<38} {_t(base.total):>16}")
    for name in ("sherlock_features", "sherlock_pixels"):
        count = counts[name]
        ratio = count.total / base.total
        results[name] = {"flops": count.total, "ratio": ratio}
        print(
            f"  {LABELS[name]:<38} {_t(count.total):>16}  ratio {ratio:.4f} ({ratio - 1:+.2%})  "
            f"{_verdict(ratio - 1, FLOP_GOAL)}"
        )

    # Breakdown.
    s = counts["sherlock_pixels"]
    expert_names = [
        name for name in ("action", "object_relation", "background") if f"model.spatial_experts.{name}" in s.by_module
    ]
    tower = s.module("model.spatial_experts.background.tower")
    # `encode_background` is not the expert's forward, so the tower's FLOPs are not inside the expert's own count.
    per_expert = {name: s.module(f"model.spatial_experts.{name}") for name in expert_names}
    gate = s.module("model.expert_gate")
    gsm = sum(per_expert.values()) + gate
    video_tower = base.module("model.video_tower")
    llm = base.module("model.language_model")
    lm_head = base.module("lm_head")
    projector = base.module("model.multi_modal_projector")
    unattributed = {
        name: counts[name].total - base.total - gsm - (tower if name == "sherlock_pixels" else 0)
        for name in ("sherlock_features", "sherlock_pixels")
    }
    print("\nbreakdown (Video-LLaVA parts, then what Sherlock adds):")
    rows = [
        ("video tower (CLIP, all layers that run)", video_tower),
        ("multi-modal projector", projector),
        ("language model", llm),
        ("lm_head (all positions)", lm_head),
    ]
    rows += [
        (f"GSM: {name} expert" + (" (without its tower)" if name == "background" else ""), per_expert[name])
        for name in expert_names
    ]
    rows += [
        ("GSM: gate", gate),
        ("GSM total (experts + gate)", gsm),
        ("background tower (pixels variant only)", tower),
    ]
    for label, flops in rows:
        print(f"  {label:<42} {_g(flops):>22}  {flops / base.total:8.3%} of Video-LLaVA")
    print(
        f"  GSM share of Sherlock's total: {gsm / counts['sherlock_features'].total:.3%} (cached features), "
        f"{gsm / counts['sherlock_pixels'].total:.3%} (pixels); background tower share (pixels): "
        f"{tower / counts['sherlock_pixels'].total:.3%}"
    )
    print(f"  not attributed to GSM / tower (should be 0): {unattributed}")

    # What runs in the video tower.
    layers = {name for name in base.by_module if name.startswith(layer_prefix) and name[len(layer_prefix) :].isdigit()}
    last_layer = base.module(f"{layer_prefix}{sizes.vision_layers - 1}")
    print(
        f"  video tower: {len(layers)} of {sizes.vision_layers} encoder layers run; Video-LLaVA reads "
        f"hidden_states[-2], so the last layer ({_g(last_layer)}, {last_layer / base.total:.2%} of the total) is computed "
        "and discarded"
    )

    # Analytic cross-check.
    s_len, d, layers_n, vocab = sizes.prompt_length, sizes.text_hidden, sizes.text_layers, sizes.vocab_size
    n_llm = params["llm_non_embedding"]
    linear = 2 * n_llm * s_len
    attention = 4 * layers_n * s_len**2 * d
    head = 2 * vocab * d * s_len
    t, dv, lv = sizes.tokens_per_frame, sizes.vision_hidden, sizes.vision_layers
    patches = (sizes.image_size // sizes.patch_size) ** 2
    tower_estimate = sizes.frames * (
        2 * params["video_tower_encoder"] * t + 4 * lv * t**2 * dv + 2 * 3 * sizes.patch_size**2 * dv * patches
    )
    print("\nanalytic cross-check:")
    print(f"  LLM non-embedding params N = {n_llm / 1e9:.3f} B, S = {s_len} tokens")
    print(f"  2*N*S                       = {_t(linear):>16}")
    print(
        f"  + 4*L*S^2*d (attention)     = {_t(linear + attention):>16}   counted language model {_t(llm)} "
        f"(ratio {llm / (linear + attention):.4f})"
    )
    print(f"  lm_head 2*V*d*S             = {_t(head):>16}   counted {_t(lm_head)}")
    print(
        f"  video tower estimate        = {_t(tower_estimate):>16}   counted {_t(video_tower)} "
        f"(ratio {video_tower / tower_estimate:.4f})"
    )
    rule = 2 * (n_llm + vocab * d) * s_len
    print(
        f"  rule of thumb 2*(N + V*d)*S = {_t(rule):>16}   vs counted Video-LLaVA total {_t(base.total)}; the "
        f"difference {_t(base.total - rule)} = LLM attention {_t(attention)} + video tower {_t(video_tower)} + "
        f"projector {_t(projector)}"
    )
    # Sensitivity: FlopCounterMode counts the causal LLM attention densely; halving it changes the ratios a little.
    causal_saving = attention / 2
    print(
        "  sensitivity: counting the LLM's causal attention as half of the dense 4*L*S^2*d gives Video-LLaVA "
        f"{_t(base.total - causal_saving)} and ratios "
        + ", ".join(
            f"{(counts[name].total - causal_saving) / (base.total - causal_saving):.4f} ({LABELS[name].split(', ')[1]})"
            for name in ("sherlock_features", "sherlock_pixels")
        )
    )
    results.update(
        gsm=gsm,
        gate=gate,
        per_expert=per_expert,
        background_tower=tower,
        video_tower=video_tower,
        language_model=llm,
        lm_head=lm_head,
        analytic_llm=linear + attention,
        analytic_2NS=linear,
        unattributed=unattributed,
    )
    return results


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed forward passes per model (default 21; 2 with --quick)"
    )
    parser.add_argument(
        "--generate-repeats", type=int, default=None, help="timed generate calls per model (default 9; 1 with --quick)"
    )
    parser.add_argument(
        "--warmup", type=int, default=3, help="untimed rounds over the models before timing (default 3)"
    )
    parser.add_argument(
        "--new-tokens", type=int, default=None, help="tokens generated per call (default 32; 4 with --quick)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny sizes for both parts: a smoke run of a few seconds")
    parser.add_argument("--skip-wall-time", action="store_true", help="only part (b)")
    parser.add_argument("--skip-flops", action="store_true", help="only part (a)")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 2 if args.quick else 21
    if args.generate_repeats is None:
        args.generate_repeats = 1 if args.quick else 9
    if args.new_tokens is None:
        args.new_tokens = 4 if args.quick else 32
    if min(args.repeats, args.generate_repeats, args.new_tokens) < 1 or args.warmup < 0:
        parser.error("--repeats, --generate-repeats and --new-tokens must be >= 1, --warmup >= 0")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    transformers.logging.set_verbosity_error()
    wall_sizes, flop_sizes = (TINY, TINY) if args.quick else (MID, VIDEO_LLAVA_7B)
    print(
        f"benchmark_gsm_overhead: torch {torch.__version__}, transformers {transformers.__version__}, python "
        f"{platform.python_version()}, {platform.machine()} CPU, {torch.get_num_threads()} threads"
        + (" [--quick: tiny sizes, the figures mean nothing]" if args.quick else "")
    )
    start = time.perf_counter()
    results = {}
    if not args.skip_wall_time:
        results["wall_time"] = run_wall_time(wall_sizes, args)
    if not args.skip_flops:
        mid_check = None
        if "wall_time" in results:
            mid_check = (wall_sizes, results["wall_time"].pop("real_counts"))
        results["flops"] = run_flops(flop_sizes, args, mid_check)
    elif "wall_time" in results:
        results["wall_time"].pop("real_counts")
    print(f"\ntotal run time {time.perf_counter() - start:.0f} s")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
