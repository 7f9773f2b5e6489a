# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Sherlock: video abnormal event extraction and localization on Video-LLaVA (WWW 2025, arXiv 2502.18863).

Importing the package registers `SherlockConfig` / `SherlockForConditionalGeneration` with transformers' Auto classes,
so `AutoModel.from_pretrained(folder)` works in this process without `trust_remote_code`; a saved folder also carries
the remote code for machines without this package.
"""

from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText

from .configuration_sherlock import EXPERT_NAMES, SherlockConfig
from .modeling_sherlock import (
    SherlockCausalLMOutputWithPast,
    SherlockForConditionalGeneration,
    SherlockModel,
    SherlockModelOutputWithPast,
    SherlockPreTrainedModel,
    gsb_loss,
)
from .modeling_sherlock_inputs import EXPERT_INPUT_NAMES, check_expert_input_values


AutoConfig.register(SherlockConfig.model_type, SherlockConfig, exist_ok=True)
AutoModel.register(SherlockConfig, SherlockForConditionalGeneration, exist_ok=True)
AutoModelForImageTextToText.register(SherlockConfig, SherlockForConditionalGeneration, exist_ok=True)

__all__ = [
    "EXPERT_INPUT_NAMES",
    "EXPERT_NAMES",
    "SherlockCausalLMOutputWithPast",
    "SherlockConfig",
    "SherlockForConditionalGeneration",
    "SherlockModel",
    "SherlockModelOutputWithPast",
    "SherlockPreTrainedModel",
    "check_expert_input_values",
    "gsb_loss",
]
