# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Sherlock model configuration (arXiv 2502.18863, Global-local Spatial-enhanced MoE on Video-LLaVA).

This file ships to the Hub as remote code: it may import only the standard library, torch, numpy,
transformers and single-dot siblings.
"""

import copy
from dataclasses import field

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec
from transformers.models.video_llava.configuration_video_llava import VideoLlavaConfig
from transformers.utils import logging


logger = logging.get_logger(__name__)

# One source of truth for the expert names; their order in `SherlockConfig.experts` is the order of the gate
# weights (`gate_weights[..., i]` belongs to `config.experts[i]`).
EXPERT_NAMES = ("action", "object_relation", "background", "global")
GATE_TYPES = ("soft", "uniform")
GATE_NORMS = ("mixture", "experts")
GSB_VARIANTS = ("paper", "uniform")
EXPERT_OUTPUT_FORMS = ("paper", "residual")

# COCO-17 keypoints (the order of ViTPose / HigherHRNet / mmpose COCO models).
COCO_KEYPOINT_NAMES = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
# Undirected skeleton edges between COCO keypoint indices (the COCO person skeleton, 0-based).
COCO_SKELETON = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip


@strict
class SherlockConfig(VideoLlavaConfig):
    r"""
    Configuration of a [`SherlockForConditionalGeneration`]: a Video-LLaVA configuration plus the Global-local
    Spatial-enhanced MoE (GSM) of Sherlock (WWW 2025, arXiv 2502.18863). Every Video-LLaVA field keeps its meaning, so
    a Video-LLaVA checkpoint's `config.json` plus the fields below is a Sherlock configuration.

    Args:
        experts (`list[str]`, *optional*, defaults to `["action", "object_relation", "background", "global"]`):
            The spatial experts, an ordered subset of `["action", "object_relation", "background", "global"]`. The
            order is the order of the last dimension of `gate_weights`. Dropping one gives the paper's ablations
            (w/o AE, w/o ORE, w/o BE, w/o GE).
        gate (`str`, *optional*, defaults to `"soft"`):
            `"soft"`: the expert gate of Eq. 5-6, `g = softmax(W_g sum_i S_i)` per video token and
            `O = LayerNorm(sum_i g_i S_i)`. `"uniform"`: the ablation w/o EG, `O = mean_i S_i`, no gate parameters.
        gate_norm (`str`, *optional*, defaults to `"mixture"`):
            Where the soft gate's LayerNorm stands. `"mixture"`: after the mixture, `O = LayerNorm(sum_i g_i S_i)`
            (Eq. 6 as printed); while the local experts read out nothing (their up projections start at zero) the
            LayerNorm removes the global weight, so the gate gets no gradient from the language model.
            `"experts"`: one LayerNorm per expert before the gate, `N_i = LayerNorm_i(S_i)`,
            `g = softmax(W_g sum_i N_i)`, `O = sum_i g_i N_i` (not in the paper): each weight scales an expert of unit
            scale, so the gate gets a gradient from the first step.
        gsb_loss_coef (`float`, *optional*, defaults to 0.4):
            Weight alpha of the Gated Spatial Balancing loss in `loss = lm_loss + alpha * gsb_loss` (paper: 0.4;
            0 is the ablation w/o SIR).
        gsb_variant (`str`, *optional*, defaults to `"paper"`):
            `"paper"`: Eq. 7 as printed, `mean_local(-log g_i) - log g_global` (minimum at global 1/2, locals 1/6
            with three locals). `"uniform"`: `mean_i(-log g_i)` over all experts (minimum at equal weights).
        expert_hidden_size (`int`, *optional*, defaults to 512):
            Width in which the local experts work (projected from and back to the language model's width).
        expert_num_layers (`int`, *optional*, defaults to 2):
            Graph layers of the action expert (skeleton graph attention, Eq. 1) and of the object-relation expert
            (GCN, Eq. 2).
        action_pose_embedding (`bool`, *optional*, defaults to `True`):
            Whether every keypoint node of the action expert also carries an embedding of its person's whole skeleton
            (a two-layer MLP of the person's 17 relative keypoints), so that the cross-attention's weighted mean of
            nodes still sees each pose as a whole (not in the paper, whose node features are unspecified). `False`:
            keypoint, person-position and joint features only (the form of checkpoints saved before this field
            existed: load those with `action_pose_embedding=False`).
        expert_num_heads (`int`, *optional*, defaults to 8):
            Heads of the experts' cross-attention from the video tokens; must divide `expert_hidden_size`.
        num_keypoints (`int`, *optional*, defaults to 17):
            Keypoints per person, in COCO order (the action expert's graph is the COCO skeleton, so only 17 is
            supported).
        max_persons (`int`, *optional*, defaults to 8):
            Most persons per frame the action expert accepts (the processor pads to it).
        num_object_classes (`int`, *optional*, defaults to 80):
            Size of the object-class vocabulary of `object_labels` (80 COCO classes for RT-DETR).
        num_relation_classes (`int`, *optional*, defaults to 16):
            Size of the predicate vocabulary of `relation_triplets`.
        max_objects (`int`, *optional*, defaults to 16):
            Most objects per frame the object-relation expert accepts.
        max_relations (`int`, *optional*, defaults to 32):
            Most relation triplets per frame the object-relation expert accepts.
        expert_output (`str`, *optional*, defaults to `"paper"`):
            What a local expert returns. `"paper"`: the attention read-out alone, `S_i = W_up softmax(Q_v K_i) V_i`
            (the paper's `T'_a = softmax(Q_v K_a) V_a`, projected back); the "w/o GE" ablation then carries no copy of
            the video features `T_v`. `"residual"`: `S_i = T_v + W_up softmax(Q_v K_i) V_i`, which keeps a freshly
            initialised GSM close to Video-LLaVA's features (not in the paper).
        background_vision_config (`dict` or `PreTrainedConfig`, *optional*):
            Config of the frozen background tower (InternViT in the paper; any vision config that
            `AutoModel.from_config` builds and whose output has `last_hidden_state`). Defaults to a copy of
            `vision_config` when the background expert is used, and is `None` otherwise.
        background_tower_name_or_path (`str`, *optional*):
            A pretrained vision-only checkpoint (folder or Hub id, e.g. an InternViT or CLIP vision model) whose
            weights fill the background tower when a checkpoint without them is loaded (e.g. a Video-LLaVA one). When
            `None`, the tower is initialised from the checkpoint's own pretrained image tower (its config must then
            equal `background_vision_config`); a tower that would stay random is reported with a warning.
        check_expert_inputs (`bool`, *optional*, defaults to `True`):
            Check the values of the expert inputs in `forward` (`check_expert_input_values`: finite keypoints and
            boxes in [0, 1], ids in the vocabularies, relation indices pointing to unmasked objects), at the cost of
            one host synchronisation per forward that encodes a video. Never done while `torch.compile` traces the
            forward; set `False` to skip it in eager mode too, when the processor has checked the inputs.

    Example:

    ```python
    >>> from modeling_sherlock import SherlockConfig, SherlockForConditionalGeneration

    >>> config = SherlockConfig(experts=["action", "background", "global"])  # the w/o ORE ablation
    >>> model = SherlockForConditionalGeneration(config)
    ```
    """

    model_type = "sherlock"
    sub_configs_defaults = {
        **VideoLlavaConfig.sub_configs_defaults,
        "background_vision_config": SubConfigSpec(
            config_class=AutoConfig, model_type="clip_vision_model", optional=True
        ),
    }

    experts: list[str] = field(default_factory=lambda: list(EXPERT_NAMES))
    gate: str = "soft"
    gate_norm: str = "mixture"
    gsb_loss_coef: float = 0.4
    gsb_variant: str = "paper"
    expert_hidden_size: int = 512
    expert_num_layers: int = 2
    action_pose_embedding: bool = True
    expert_num_heads: int = 8
    num_keypoints: int = 17
    max_persons: int = 8
    num_object_classes: int = 80
    num_relation_classes: int = 16
    max_objects: int = 16
    max_relations: int = 32
    expert_output: str = "paper"
    background_vision_config: dict | PreTrainedConfig | None = None
    background_tower_name_or_path: str | None = None
    check_expert_inputs: bool = True

    def __post_init__(self, **kwargs):
        # A Video-LLaVA `config.json` read into a SherlockConfig carries `model_type: video_llava`; setting it on the
        # instance would shadow the class's "sherlock" (and with it the weight-name conversions of this model type).
        kwargs.pop("model_type", None)
        super().__post_init__(**kwargs)
        if "background" in self.experts and self.background_vision_config is None:
            self.background_vision_config = copy.deepcopy(self.vision_config)
        self._validate_sherlock_fields()

    def _validate_sherlock_fields(self):
        experts = list(self.experts)
        unknown = [name for name in experts if name not in EXPERT_NAMES]
        if unknown:
            raise ValueError(f"Unknown expert(s) {unknown} in `experts={experts}`; choose from {list(EXPERT_NAMES)}.")
        if not experts:
            raise ValueError(f"`experts` is empty; give at least one of {list(EXPERT_NAMES)}.")
        if len(set(experts)) != len(experts):
            raise ValueError(f"`experts={experts}` lists an expert more than once.")
        if self.gate not in GATE_TYPES:
            raise ValueError(f"Unknown `gate={self.gate!r}`; choose from {list(GATE_TYPES)}.")
        if self.gate_norm not in GATE_NORMS:
            raise ValueError(f"Unknown `gate_norm={self.gate_norm!r}`; choose from {list(GATE_NORMS)}.")
        if self.expert_output not in EXPERT_OUTPUT_FORMS:
            raise ValueError(
                f"Unknown `expert_output={self.expert_output!r}`; choose from {list(EXPERT_OUTPUT_FORMS)}."
            )
        if self.gsb_variant not in GSB_VARIANTS:
            raise ValueError(f"Unknown `gsb_variant={self.gsb_variant!r}`; choose from {list(GSB_VARIANTS)}.")
        if not self.gsb_loss_coef >= 0:
            raise ValueError(f"`gsb_loss_coef` must be >= 0, got {self.gsb_loss_coef}.")
        positive = (
            "expert_hidden_size",
            "expert_num_layers",
            "expert_num_heads",
            "max_persons",
            "num_object_classes",
            "num_relation_classes",
            "max_objects",
            "max_relations",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be >= 1, got {getattr(self, name)}.")
        if self.expert_hidden_size % self.expert_num_heads != 0:
            raise ValueError(
                f"`expert_hidden_size` ({self.expert_hidden_size}) must be divisible by `expert_num_heads` "
                f"({self.expert_num_heads})."
            )
        if self.num_keypoints != len(COCO_KEYPOINT_NAMES):
            raise ValueError(
                f"`num_keypoints` must be {len(COCO_KEYPOINT_NAMES)} (the action expert's graph is the COCO "
                f"skeleton), got {self.num_keypoints}."
            )

    @property
    def local_experts(self) -> list[str]:
        """The configured experts other than `"global"`, in config order."""
        return [name for name in self.experts if name != "global"]


__all__ = ["SherlockConfig"]
