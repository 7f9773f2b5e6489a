"""LoRA for Sherlock (paper §4.4): adapters on the language model's attention and MLP projections (r 16, alpha 64,
dropout 0.05), while the spatial experts, the expert gate and the multimodal projector train fully and are saved with
the adapter (PEFT's `modules_to_save`). The frozen background tower is never among them: it stays the base model's,
bit for bit, and is not written into the adapter."""

import warnings
from contextlib import contextmanager

from peft import LoraConfig, PeftModel, get_peft_model


LANGUAGE_MODEL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# The language model's projections only: the experts' cross-attention also has q/k/v/o_proj layers, trained fully.
LORA_TARGETS = rf".*language_model\..*\.({'|'.join(LANGUAGE_MODEL_PROJECTIONS)})$"
FROZEN_CHILDREN = ("tower",)


def trained_module_names(model) -> list[str]:
    """The modules that train fully beside the adapter (`modules_to_save`): the multimodal projector, the expert gate
    (when the model has one) and every spatial expert — whole, or, for an expert holding a frozen tower (the background
    expert), each of its other children."""
    sherlock = model.model
    names = ["multi_modal_projector"]
    if getattr(sherlock, "expert_gate", None) is not None:
        names.append("expert_gate")
    for expert_name, expert in sherlock.spatial_experts.items():
        children = [name for name, _ in expert.named_children()]
        if any(name in FROZEN_CHILDREN for name in children):
            names += [f"spatial_experts.{expert_name}.{name}" for name in children if name not in FROZEN_CHILDREN]
        else:
            names.append(f"spatial_experts.{expert_name}")
    return names


def sherlock_lora_config(model, r: int = 16, alpha: int = 64, dropout: float = 0.05, **kwargs) -> LoraConfig:
    """The paper's LoRA settings for `model` (a `SherlockForConditionalGeneration`): adapters on `LORA_TARGETS`,
    `modules_to_save = trained_module_names(model)`; `kwargs` go to `LoraConfig`."""
    settings = {
        "r": r,
        "lora_alpha": alpha,
        "lora_dropout": dropout,
        "target_modules": LORA_TARGETS,
        "modules_to_save": trained_module_names(model),
        **kwargs,
    }
    return LoraConfig(**settings)


@contextmanager
def _peft_on_new_transformers():
    """PEFT 0.21 still reads `model.is_gradient_checkpointing`, which transformers 5.24 renamed
    (`is_activation_checkpointing`) with a FutureWarning; that warning is PEFT's to fix, so it is silenced here only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def add_lora(model, **kwargs):
    """`get_peft_model(model, sherlock_lora_config(model, **kwargs))`: only the adapters and the trained modules
    require gradients afterwards (the background tower, the video tower and the language model's own weights not)."""
    with _peft_on_new_transformers():
        return get_peft_model(model, sherlock_lora_config(model, **kwargs))


def load_lora(model, adapter_path, is_trainable: bool = False):
    """A saved Sherlock adapter (LoRA weights and the trained modules) onto `model`, the base it was trained from."""
    with _peft_on_new_transformers():
        return PeftModel.from_pretrained(model, str(adapter_path), is_trainable=is_trainable)


__all__ = ["LORA_TARGETS", "add_lora", "load_lora", "sherlock_lora_config", "trained_module_names"]
