# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""PyTorch Sherlock model: Video-LLaVA with a Global-local Spatial-enhanced MoE (GSM) and the Gated Spatial Balancing
(GSB) loss, for video abnormal event extraction and localization (WWW 2025, arXiv 2502.18863).

Sherlock subclasses transformers' Video-LLaVA: the weight names of the backbone are unchanged, so a Video-LLaVA
checkpoint loads into it and only the experts and the gate are new. The GSM replaces Video-LLaVA's video features
`T_v = projector(video_tower(frames))` with the gated mixture of the four spatial experts before they are scattered
into the `<video>` placeholder positions.

This file ships to the Hub as remote code: it may import only the standard library, torch, numpy, transformers and
single-dot siblings.
"""

import os

import torch
from torch import nn
from transformers import AutoModel
from transformers import initialization as init
from transformers.conversion_mapping import get_checkpoint_conversion_mapping, register_checkpoint_conversion_mapping
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.modeling_utils import slice_logits_to_keep
from transformers.models.video_llava.modeling_video_llava import (
    VideoLlavaForConditionalGeneration,
    VideoLlavaModel,
    VideoLlavaPreTrainedModel,
)
from transformers.utils import logging
from transformers.utils.generic import can_return_tuple

from .configuration_sherlock import SherlockConfig
from .modeling_sherlock_experts import (
    EXPERT_INIT_ATTRIBUTE,
    SherlockActionExpert,
    SherlockBackgroundExpert,
    SherlockExpertGate,
    SherlockNullNode,
    SherlockObjectRelationExpert,
)
from .modeling_sherlock_gsb import gsb_loss
from .modeling_sherlock_inputs import prepare_expert_inputs
from .modeling_sherlock_outputs import (
    SherlockCausalLMOutputWithPast,
    SherlockModelOutputWithPast,
    SherlockVideoFeaturesOutput,
)


logger = logging.get_logger(__name__)

# Config fields that do not change what a vision tower computes.
_PROVENANCE_FIELDS = ("_name_or_path", "architectures", "transformers_version", "dtype", "torch_dtype", "_commit_hash")


def _same_vision_config(first, second) -> bool:
    """Whether two vision configs build the same tower (ignoring provenance fields such as `_name_or_path`)."""
    if first is None or second is None:
        return False

    def fields(config):
        return {key: value for key, value in config.to_dict().items() if key not in _PROVENANCE_FIELDS}

    return fields(first) == fields(second)


LOCAL_EXPERT_CLASSES = {
    "action": SherlockActionExpert,
    "object_relation": SherlockObjectRelationExpert,
    "background": SherlockBackgroundExpert,
}


class SherlockPreTrainedModel(VideoLlavaPreTrainedModel):
    config: SherlockConfig
    config_class = SherlockConfig

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, SherlockNullNode):
            std = getattr(self.config.get_text_config(), "initializer_range", 0.02)
            init.normal_(module.weight, mean=0.0, std=std)
        scheme = getattr(module, EXPERT_INIT_ATTRIBUTE, None)
        if scheme == "fan_in":  # see `SherlockLocalExpert.mark_initialisation`
            init.normal_(module.weight, mean=0.0, std=module.weight.shape[1] ** -0.5)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif scheme == "zero":
            init.zeros_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif scheme == "unit":
            init.normal_(module.weight, mean=0.0, std=1.0)

    def tie_weights(self, missing_keys: set[str] | None = None, recompute_mapping: bool = True):
        """`PreTrainedModel.tie_weights`, then the frozen background tower: filled when `from_pretrained` found no
        weights for it, and frozen.

        `from_pretrained` calls this hook once the checkpoint is loaded and the missing weights are initialised, with
        the `missing_keys` it will report. When the background tower's weights are among them (a Video-LLaVA
        checkpoint, or one converted without them), [`SherlockModel.load_background_tower`] fills the tower (from
        `config.background_tower_name_or_path`, else from the checkpoint's own pretrained image tower) and its keys are
        no longer missing; a tower that stays random is reported with a warning and its keys stay missing. Loading
        gives every weight a new `nn.Parameter` that requires gradients, so the tower is frozen again here (this hook
        also runs when a model is built from a config).
        """
        super().tie_weights(missing_keys=missing_keys, recompute_mapping=recompute_mapping)
        base = self.model if isinstance(getattr(self, "model", None), SherlockModel) else self
        experts = getattr(base, "spatial_experts", None)
        if experts is None or "background" not in experts:  # still being built, or no background expert
            return
        tower = experts["background"].tower
        if missing_keys is not None:
            tower_keys = {key for key in missing_keys if ".background.tower." in f".{key}"}
            if tower_keys and base.load_background_tower() is not None:
                missing_keys.difference_update(tower_keys)
        tower.requires_grad_(False)


class SherlockModel(SherlockPreTrainedModel, VideoLlavaModel):
    """Video-LLaVA's model with the GSM: the video features are replaced by the gated mixture of the spatial experts.

    Submodules added to Video-LLaVA's: `spatial_experts` (a `ModuleDict` of the configured local experts) and
    `expert_gate` (only with `config.gate == "soft"`). The global expert is Video-LLaVA's own video path.
    """

    def __init__(self, config: SherlockConfig):
        super().__init__(config)
        self.spatial_experts = nn.ModuleDict(
            {name: LOCAL_EXPERT_CLASSES[name](config) for name in config.local_experts}
        )
        for expert in self.spatial_experts.values():
            expert.mark_initialisation()
        self.expert_gate = SherlockExpertGate(config) if config.gate == "soft" else None
        self.post_init()

    def load_background_tower(self, name_or_path: str | None = None, **from_pretrained_kwargs) -> str | None:
        """Fill the frozen background tower with pretrained weights.

        The source is, in this order: `name_or_path`, `config.background_tower_name_or_path` (a vision-only
        checkpoint, folder or Hub id, loaded with `AutoModel.from_pretrained`), or this model's own image tower when
        its config equals `config.background_vision_config` (Video-LLaVA checkpoints carry a pretrained one). When none
        applies, the tower keeps its current (random) weights and a warning names it.

        Returns:
            `str` naming the source the weights came from, or `None` when the tower stays as it was.

        Raises:
            `ValueError` when the model has no background expert or the source's weights do not fit the tower.
        """
        if "background" not in self.spatial_experts:
            raise ValueError(f"`config.experts={list(self.config.experts)}` has no background expert.")
        tower = self.spatial_experts["background"].tower
        source = name_or_path or self.config.background_tower_name_or_path
        param = next(tower.parameters())
        if source is not None:
            pretrained = AutoModel.from_pretrained(source, dtype=param.dtype, **from_pretrained_kwargs)
            state, origin = pretrained.state_dict(), f"{source!r}"
        elif _same_vision_config(self.config.vision_config, self.config.background_vision_config):
            state, origin = self.image_tower.state_dict(), "the checkpoint's image tower"
        else:
            logger.warning(
                "The background tower (%s, %d layers, width %d) is RANDOMLY initialised: the checkpoint has no "
                "weights for it, `config.background_tower_name_or_path` is not set, and its config differs from the "
                "image tower's. The background expert reads noise until it is loaded (`load_background_tower`).",
                self.config.background_vision_config.model_type,
                getattr(self.config.background_vision_config, "num_hidden_layers", -1),
                self.config.background_vision_config.hidden_size,
            )
            return None
        try:
            tower.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise ValueError(
                f"The weights of {origin} do not fit the background tower built from `background_vision_config` "
                f"({self.config.background_vision_config.model_type}): {str(error).splitlines()[0]}"
            ) from error
        tower.to(device=param.device).requires_grad_(False).eval()
        logger.info("Background tower initialised from %s.", origin)
        return origin

    def prepare_expert_inputs(self, batch: int, frames: int, **expert_inputs) -> dict:
        """The expert inputs as the experts read them (`modeling_sherlock_inputs.prepare_expert_inputs`): shapes
        checked, masks filled, padding zeroed; values checked (`check_expert_input_values`, one host synchronisation)
        when `config.check_expert_inputs`, but never while `torch.compile` traces (no data-dependent branch in the
        graph)."""
        check_values = self.config.check_expert_inputs and not torch.compiler.is_compiling()
        return prepare_expert_inputs(self.config, batch, frames, check_values=check_values, **expert_inputs)

    def get_spatial_features(
        self, video_features: torch.Tensor, expert_inputs: dict[str, torch.Tensor | None]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the experts on the video tokens and mix them.

        Args:
            video_features (`torch.Tensor` of shape `(batch_size, num_frames, tokens_per_frame, hidden_size)`):
                `T_v`, Video-LLaVA's projected video features (the global expert's output `S_g`).
            expert_inputs (`dict`): the validated expert inputs from `prepare_expert_inputs`.

        Returns:
            `(mixture, gate_weights)`: `O` of the same shape as `video_features` and the gate weights
            `(batch_size, num_frames * tokens_per_frame, num_experts)`.
        """
        outputs = []
        for name in self.config.experts:
            if name == "global":
                outputs.append(video_features)
            elif name == "action":
                outputs.append(
                    self.spatial_experts["action"](
                        video_features, expert_inputs["pose_keypoints"], expert_inputs["pose_mask"]
                    )
                )
            elif name == "object_relation":
                outputs.append(
                    self.spatial_experts["object_relation"](
                        video_features,
                        expert_inputs["object_boxes"],
                        expert_inputs["object_labels"],
                        expert_inputs["object_mask"],
                        expert_inputs["relation_triplets"],
                        expert_inputs["relation_mask"],
                    )
                )
            else:
                background = self.spatial_experts["background"]
                features = expert_inputs["background_features"]
                if features is None:
                    features = background.encode_background(expert_inputs["background_pixel_values"])
                outputs.append(background(video_features, features))
        stacked = torch.stack(outputs, dim=-2)  # (batch, frames, tokens, experts, hidden)
        if self.expert_gate is not None:
            mixture, gate_weights = self.expert_gate(stacked)
        else:
            mixture = stacked.mean(dim=-2)
            gate_weights = stacked.new_full(stacked.shape[:-1], 1.0 / len(outputs))
        batch = video_features.shape[0]
        return mixture, gate_weights.reshape(batch, -1, len(outputs))

    @can_return_tuple
    def get_video_features(
        self,
        pixel_values_videos: torch.Tensor,
        vision_feature_layer: int | list[int] | None = None,
        pose_keypoints: torch.Tensor | None = None,
        pose_mask: torch.Tensor | None = None,
        object_boxes: torch.Tensor | None = None,
        object_labels: torch.Tensor | None = None,
        object_mask: torch.Tensor | None = None,
        relation_triplets: torch.Tensor | None = None,
        relation_mask: torch.Tensor | None = None,
        background_pixel_values: torch.Tensor | None = None,
        background_features: torch.Tensor | None = None,
        **kwargs,
    ) -> tuple | SherlockVideoFeaturesOutput:
        r"""
        Video-LLaVA's video features `T_v` (the global expert) mixed with the local experts by the gate: the tensor
        that fills the `<video>` placeholders. `generate` calls this once, before the prefill step, with the expert
        inputs it was given (matched by name), so the experts run once per prompt and the KV cache holds the rest.

        Args:
            pixel_values_videos (`torch.Tensor` of shape `(batch_size, num_frames, 3, height, width)`): the frames.
            vision_feature_layer (`int` or `list[int]`, *optional*): as Video-LLaVA (defaults to the config's).
            pose_keypoints, pose_mask, object_boxes, object_labels, object_mask, relation_triplets, relation_mask,
            background_pixel_values, background_features: the expert inputs, see [`SherlockModel.forward`].

        Returns:
            [`SherlockVideoFeaturesOutput`] with the mixture as `pooler_output` and the `gate_weights`. The GSB loss
            is not computed here (`generate` calls this): [`SherlockForConditionalGeneration.forward`] computes it when
            `labels` are given.
        """
        if pixel_values_videos.dim() != 5:
            raise ValueError(
                "`pixel_values_videos` must be (batch, frames, 3, height, width), got shape "
                f"{tuple(pixel_values_videos.shape)}."
            )
        batch, frames = pixel_values_videos.shape[:2]
        expert_inputs = self.prepare_expert_inputs(
            batch,
            frames,
            pose_keypoints=pose_keypoints,
            pose_mask=pose_mask,
            object_boxes=object_boxes,
            object_labels=object_labels,
            object_mask=object_mask,
            relation_triplets=relation_triplets,
            relation_mask=relation_mask,
            background_pixel_values=background_pixel_values,
            background_features=background_features,
        )
        video_outputs = super().get_video_features(
            pixel_values_videos=pixel_values_videos,
            vision_feature_layer=vision_feature_layer,
            return_dict=True,
            **kwargs,
        )
        video_features = video_outputs.pooler_output
        video_features = video_features.reshape(batch, frames, video_features.shape[1], video_features.shape[2])
        mixture, gate_weights = self.get_spatial_features(video_features, expert_inputs)
        return SherlockVideoFeaturesOutput(
            last_hidden_state=video_outputs.last_hidden_state,
            pooler_output=mixture.flatten(0, 1),
            hidden_states=video_outputs.hidden_states,
            attentions=video_outputs.attentions,
            gate_weights=gate_weights,
        )

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        vision_feature_layer: int | list[int] | None = None,
        vision_feature_select_strategy: str | None = None,
        use_cache: bool | None = None,
        mm_encoder_outputs: dict[str, BaseModelOutputWithPooling] | None = None,
        pose_keypoints: torch.Tensor | None = None,
        pose_mask: torch.Tensor | None = None,
        object_boxes: torch.Tensor | None = None,
        object_labels: torch.Tensor | None = None,
        object_mask: torch.Tensor | None = None,
        relation_triplets: torch.Tensor | None = None,
        relation_mask: torch.Tensor | None = None,
        background_pixel_values: torch.Tensor | None = None,
        background_features: torch.Tensor | None = None,
        output_gate_weights: bool = False,
        **kwargs,
    ) -> tuple | SherlockModelOutputWithPast:
        r"""
        Video-LLaVA's forward with the GSM on the video features. Expert inputs (see `prepare_expert_inputs` for the
        checks) are read only on steps that encode a video (`pixel_values_videos` given):

        pose_keypoints (`(batch, frames, persons, 17, 3)`), pose_mask (`(batch, frames, persons)`):
            COCO keypoints (x, y in [0, 1], score) for the action expert; padding persons masked out.
        object_boxes (`(batch, frames, objects, 4)`), object_labels (`(batch, frames, objects)`), object_mask:
            Boxes (x1, y1, x2, y2 in [0, 1]) and class ids for the object-relation expert.
        relation_triplets (`(batch, frames, relations, 3)`), relation_mask (`(batch, frames, relations)`):
            (subject index, predicate id, object index) triplets over the frame's objects.
        background_pixel_values (`(batch, frames, 3, H', W')`) or background_features (`(batch, frames, N_bg, D_bg)`):
            Background frames for the frozen background tower, or its cached output.
        output_gate_weights (`bool`, *optional*, defaults to `False`):
            Return the per-token gate weights.

        The language model's cache (`cache` from transformers 5.24, `past_key_values` in 5.23) and every other keyword
        argument go to Video-LLaVA's forward unchanged.
        """
        expert_kwargs = {
            "pose_keypoints": pose_keypoints,
            "pose_mask": pose_mask,
            "object_boxes": object_boxes,
            "object_labels": object_labels,
            "object_mask": object_mask,
            "relation_triplets": relation_triplets,
            "relation_mask": relation_mask,
            "background_pixel_values": background_pixel_values,
            "background_features": background_features,
        }
        mm_encoder_outputs = dict(mm_encoder_outputs or {})
        if pixel_values_videos is not None:
            if mm_encoder_outputs.get("video") is not None:
                raise ValueError("Pass either `pixel_values_videos` or `mm_encoder_outputs['video']`, not both.")
            mm_encoder_outputs["video"] = self.get_video_features(
                pixel_values_videos=pixel_values_videos,
                vision_feature_layer=vision_feature_layer,
                return_dict=True,
                **expert_kwargs,
            )
        else:
            given = [name for name, value in expert_kwargs.items() if value is not None]
            if given:
                raise ValueError(
                    f"Expert inputs {given} were given without `pixel_values_videos`; the experts read the video "
                    "tokens (pre-encoded `mm_encoder_outputs['video']` from `get_video_features` already hold them)."
                )
        video_output = mm_encoder_outputs.get("video")

        outputs = super().forward(
            input_ids=input_ids,
            pixel_values=pixel_values,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            vision_feature_layer=vision_feature_layer,
            vision_feature_select_strategy=vision_feature_select_strategy,
            use_cache=use_cache,
            mm_encoder_outputs=mm_encoder_outputs or None,
            return_dict=True,
            **kwargs,
        )
        gate_weights = getattr(video_output, "gate_weights", None) if output_gate_weights else None
        return SherlockModelOutputWithPast(**outputs, gate_weights=gate_weights)


class SherlockForConditionalGeneration(SherlockPreTrainedModel, VideoLlavaForConditionalGeneration):
    """Sherlock: Video-LLaVA with the GSM and the GSB loss, with a language modeling head and `generate`.

    `loss = lm_loss + config.gsb_loss_coef * gsb_loss` when `labels` are given (the GSB loss is computed only then,
    never during `generate`); the three are returned separately. Under gradient accumulation see `forward` for how
    the GSB term is weighted, and `sherlock.training.SherlockTrainer` for the GSB over the whole accumulated batch.
    `generate` encodes the video and the expert inputs once, before the prefill step (`get_video_features`); the KV
    cache holds them afterwards.
    """

    # Copied from transformers.models.video_llava.modeling_video_llava.VideoLlavaForConditionalGeneration.__init__
    # with VideoLlava->Sherlock (the parent's __init__ would first build a VideoLlavaModel only to throw it away)
    def __init__(self, config: SherlockConfig):
        VideoLlavaPreTrainedModel.__init__(self, config)
        self.model = SherlockModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        vision_feature_layer: int | list[int] | None = None,
        vision_feature_select_strategy: str | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        mm_encoder_outputs: dict[str, BaseModelOutputWithPooling] | None = None,
        pose_keypoints: torch.Tensor | None = None,
        pose_mask: torch.Tensor | None = None,
        object_boxes: torch.Tensor | None = None,
        object_labels: torch.Tensor | None = None,
        object_mask: torch.Tensor | None = None,
        relation_triplets: torch.Tensor | None = None,
        relation_mask: torch.Tensor | None = None,
        background_pixel_values: torch.Tensor | None = None,
        background_features: torch.Tensor | None = None,
        output_gate_weights: bool = False,
        **kwargs,
    ) -> tuple | SherlockCausalLMOutputWithPast:
        r"""
        Arguments as [`SherlockModel.forward`], plus:

        labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            Next-token labels (-100 is ignored). When given, `loss = lm_loss + config.gsb_loss_coef * gsb_loss`, with
            `gsb_loss` the GSB loss of this batch's video tokens (on steps that encode a video; 0 without a soft gate).
        logits_to_keep (`int` or `torch.Tensor`, *optional*, defaults to 0):
            Compute logits only for the last `logits_to_keep` positions (0 = all).
        num_items_in_batch (`int` or `torch.Tensor`, *optional*, in `kwargs`):
            The labelled tokens of the whole accumulated batch, as `transformers.Trainer` passes it under gradient
            accumulation. `lm_loss` is then `sum of token losses / num_items_in_batch`, and the GSB term is weighted
            by this batch's share of those tokens: `loss = lm_loss + α · gsb_loss · n / num_items_in_batch`, `n` this
            batch's labelled tokens (counted as the loss counts them, after the shift). Summed over the micro-batches
            of an optimizer step (and averaged over processes, with the `Trainer`'s scaling), the GSB term keeps its
            weight α for any number of accumulation steps; each micro-batch's `gsb_loss` is still a statistic of that
            micro-batch alone (`SherlockTrainer` computes it over the whole batch instead). `gsb_loss` in the output
            stays unweighted.
        """
        want_gates = output_gate_weights or (labels is not None and self.model.expert_gate is not None)
        outputs = self.model(
            input_ids=input_ids,
            pixel_values=pixel_values,
            pixel_values_videos=pixel_values_videos,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            vision_feature_layer=vision_feature_layer,
            vision_feature_select_strategy=vision_feature_select_strategy,
            use_cache=use_cache,
            mm_encoder_outputs=mm_encoder_outputs,
            pose_keypoints=pose_keypoints,
            pose_mask=pose_mask,
            object_boxes=object_boxes,
            object_labels=object_labels,
            object_mask=object_mask,
            relation_triplets=relation_triplets,
            relation_mask=relation_mask,
            background_pixel_values=background_pixel_values,
            background_features=background_features,
            output_gate_weights=want_gates,
            return_dict=True,
            **kwargs,
        )
        hidden_states = slice_logits_to_keep(outputs.last_hidden_state, logits_to_keep)
        logits = self.lm_head(hidden_states)

        loss = lm_loss = gsb = None
        encoded_video = pixel_values_videos is not None or (mm_encoder_outputs or {}).get("video") is not None
        if labels is not None:
            lm_loss = self.loss_function(
                logits=logits, labels=labels, vocab_size=self.config.text_config.vocab_size, **kwargs
            )
            loss = lm_loss
            if encoded_video:
                gsb = self._gsb_loss(outputs.gate_weights, lm_loss)
                term = gsb
                num_items_in_batch = kwargs.get("num_items_in_batch")
                if num_items_in_batch is not None:  # this batch's share of the accumulated batch's labelled tokens
                    tokens = (labels[..., 1:] != -100).sum().to(lm_loss.device)
                    total = torch.as_tensor(num_items_in_batch, device=lm_loss.device).clamp_min(1)
                    term = gsb * tokens / total
                loss = lm_loss + self.config.gsb_loss_coef * term.to(lm_loss.dtype)

        # Every field of the backbone's output but its last hidden state carries over, under the names of the installed
        # transformers (see the note in `modeling_sherlock_outputs.py`).
        carried = {name: value for name, value in outputs.items() if name not in ("last_hidden_state", "gate_weights")}
        return SherlockCausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            lm_loss=lm_loss,
            gsb_loss=gsb,
            gate_weights=outputs.gate_weights if output_gate_weights else None,
            **carried,
        )

    def _gsb_loss(self, gate_weights: torch.Tensor | None, lm_loss: torch.Tensor) -> torch.Tensor:
        """The GSB loss of this batch's video tokens, in float32 on `lm_loss`'s device (the experts may sit on
        another one); 0 without a soft gate."""
        if self.model.expert_gate is None or gate_weights is None:
            return lm_loss.new_zeros((), dtype=torch.float32)
        gsb = gsb_loss(gate_weights, list(self.config.experts), self.config.gsb_variant)
        return gsb.to(lm_loss.device)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`, with `auto_map` also naming this class for `AutoModelForImageTextToText`
        (this class is registered for `AutoModel` below, so transformers writes the remote code and the other
        `auto_map` entries; the extra entry is set before saving, so a `push_to_hub=True` upload carries it too).

        A local `background_tower_name_or_path` is not written: the tower's weights are in the checkpoint, and a
        saved folder must not depend on a path of this machine."""
        auto_map = dict(getattr(self.config, "auto_map", None) or {})
        auto_map.setdefault("AutoModelForImageTextToText", f"{self.__module__.split('.')[-1]}.{type(self).__name__}")
        self.config.auto_map = auto_map
        tower_path = self.config.background_tower_name_or_path
        if tower_path is not None and os.path.exists(tower_path):
            self.config.background_tower_name_or_path = None
        try:
            return super().save_pretrained(save_directory, *args, **kwargs)
        finally:
            self.config.background_tower_name_or_path = tower_path


def register_weight_conversions() -> list[str]:
    """Give Sherlock Video-LLaVA's weight-name conversions, under Sherlock's own model type and class name: a
    Video-LLaVA folder in the Hub layout (`language_model.model.*`, `video_tower.*`, ...) then loads into Sherlock, and
    Sherlock saves in that layout. transformers looks conversions up by model type and class name, and applies none to
    custom code whose names are not registered. A name that already has a conversion (registered by the user, by an
    earlier import of this module, e.g. as remote code, or by a future transformers) is left as it is: nothing is
    overwritten. Run at import; returns the names it registered."""
    registered = []
    for source, target in (("video_llava", SherlockConfig.model_type), ("VideoLlavaModel", "SherlockModel")):
        if get_checkpoint_conversion_mapping(target) is None:
            register_checkpoint_conversion_mapping(target, get_checkpoint_conversion_mapping(source))
            registered.append(target)
    return registered


register_weight_conversions()

SherlockConfig.register_for_auto_class()
SherlockForConditionalGeneration.register_for_auto_class("AutoModel")

__all__ = [
    "SherlockCausalLMOutputWithPast",
    "SherlockForConditionalGeneration",
    "SherlockModel",
    "SherlockModelOutputWithPast",
    "SherlockPreTrainedModel",
    "SherlockVideoFeaturesOutput",
    "gsb_loss",
]
