# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Output dataclasses of the Sherlock model: Video-LLaVA's outputs plus the gate weights (and the losses).

This file ships to the Hub as remote code: it may import only the standard library, torch, numpy, transformers and
single-dot siblings.
"""

from dataclasses import dataclass

import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.video_llava.modeling_video_llava import (
    VideoLlavaCausalLMOutputWithPast,
    VideoLlavaModelOutputWithPast,
)


@dataclass
class SherlockVideoFeaturesOutput(BaseModelOutputWithPooling):
    r"""
    Output of [`SherlockModel.get_video_features`]: the video tower's outputs with the GSM mixture as `pooler_output`.

    last_hidden_state (`torch.Tensor` of shape `(batch_size * num_frames, tokens_per_frame, vision_hidden_size)`):
        Last hidden state of the video tower.
    pooler_output (`torch.Tensor` of shape `(batch_size * num_frames, tokens_per_frame, hidden_size)`):
        The GSM mixture `O` (Eq. 6) that fills the `<video>` placeholders.
    hidden_states (`tuple(torch.Tensor)`, *optional*):
        Hidden states of the video tower's layers.
    attentions (`tuple(torch.Tensor)`, *optional*):
        Attention weights of the video tower's layers.
    gate_weights (`torch.Tensor` of shape `(batch_size, num_frames * tokens_per_frame, num_experts)`):
        Per-video-token expert weights, in the order of `config.experts`.
    """

    gate_weights: torch.Tensor | None = None


# The backbone's output fields follow the installed transformers: from 5.24 they are `cache`, `image_outputs` and
# `video_outputs` (the encoders' `ModelOutput`s); in 5.23 they were `past_key_values`, `image_hidden_states` and
# `video_hidden_states` (tensors). Sherlock's outputs subclass Video-LLaVA's, so they carry whichever set is installed,
# and add the fields below.


@dataclass
class SherlockModelOutputWithPast(VideoLlavaModelOutputWithPast):
    r"""
    Outputs of [`SherlockModel`]: Video-LLaVA's model outputs plus the gate weights. The GSB loss is a training loss:
    [`SherlockForConditionalGeneration`] computes it when `labels` are given (`gsb_loss(gate_weights, ...)` computes
    it from `output_gate_weights=True`).

    last_hidden_state (`torch.Tensor` of shape `(batch_size, sequence_length, hidden_size)`):
        Hidden states of the last layer of the language model.
    cache (`Cache`, *optional*; `past_key_values` in transformers 5.23):
        The key/value cache of the language model, returned when `use_cache=True`.
    hidden_states (`tuple(torch.Tensor)`, *optional*):
        Hidden states of every layer, each `(batch_size, sequence_length, hidden_size)`.
    attentions (`tuple(torch.Tensor)`, *optional*):
        Attention weights of every layer, each `(batch_size, num_heads, sequence_length, sequence_length)`.
    image_outputs (`BaseModelOutputWithPooling`, *optional*; `image_hidden_states` in 5.23):
        The image encoder's outputs when images were given.
    video_outputs ([`SherlockVideoFeaturesOutput`], *optional*; `video_hidden_states` in 5.23, its `pooler_output`):
        On steps that encode a video: its `pooler_output` is the GSM mixture `O` that replaced the video placeholders,
        `(batch_size * num_frames, tokens_per_frame, hidden_size)`.
    gate_weights (`torch.Tensor` of shape `(batch_size, num_frames * tokens_per_frame, num_experts)`, *optional*):
        Per-video-token expert weights, in the order of `config.experts`; returned when `output_gate_weights=True`.
    """

    gate_weights: torch.Tensor | None = None


@dataclass
class SherlockCausalLMOutputWithPast(VideoLlavaCausalLMOutputWithPast):
    r"""
    Outputs of [`SherlockForConditionalGeneration`].

    loss (`torch.Tensor` of shape `()`, *optional*, returned when `labels` is provided):
        `lm_loss + config.gsb_loss_coef * gsb_loss` (`lm_loss` alone on steps without a video).
    logits (`torch.Tensor` of shape `(batch_size, sequence_length, vocab_size)`):
        Prediction scores of the language modeling head.
    cache (`Cache`, *optional*; `past_key_values` in transformers 5.23):
        The key/value cache of the language model, returned when `use_cache=True`.
    hidden_states (`tuple(torch.Tensor)`, *optional*):
        Hidden states of every layer, each `(batch_size, sequence_length, hidden_size)`.
    attentions (`tuple(torch.Tensor)`, *optional*):
        Attention weights of every layer, each `(batch_size, num_heads, sequence_length, sequence_length)`.
    image_outputs (`BaseModelOutputWithPooling`, *optional*; `image_hidden_states` in 5.23):
        The image encoder's outputs when images were given.
    video_outputs ([`SherlockVideoFeaturesOutput`], *optional*; `video_hidden_states` in 5.23, its `pooler_output`):
        On steps that encode a video: the GSM mixture `(batch_size * num_frames, tokens_per_frame, hidden_size)` as
        `pooler_output`, with the `gate_weights`.
    lm_loss (`torch.Tensor` of shape `()`, *optional*, returned when `labels` is provided):
        Next-token cross-entropy of the language model.
    gsb_loss (`torch.Tensor` of shape `()`, *optional*, returned when `labels` are provided on a step with a video):
        The Gated Spatial Balancing loss (Eq. 7) of this batch's video tokens; 0 with one expert or the uniform gate.
        Not computed during `generate` (no `labels`).
    gate_weights (`torch.Tensor` of shape `(batch_size, num_frames * tokens_per_frame, num_experts)`, *optional*):
        Per-video-token expert weights, in the order of `config.experts`; returned when `output_gate_weights=True`.
    """

    lm_loss: torch.Tensor | None = None
    gsb_loss: torch.Tensor | None = None
    gate_weights: torch.Tensor | None = None


__all__ = ["SherlockCausalLMOutputWithPast", "SherlockModelOutputWithPast", "SherlockVideoFeaturesOutput"]
