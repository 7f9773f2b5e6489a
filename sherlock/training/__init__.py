"""Training Sherlock (issue 9, in progress): the data collator, `SherlockTrainer` (TRL's `SFTTrainer` with Sherlock's
own loss, normalised for gradient accumulation and data parallelism), the `GSBCallback` and LoRA (PEFT). Imports TRL: install the
`train` extra (`pip install "sherlock-mvae[train]"`)."""

from .callbacks import GSBCallback, constant_alpha, linear_warmup_alpha
from .collator import EVENT_TYPES_KEY, SherlockDataCollator
from .lora import add_lora, load_lora, sherlock_lora_config, trained_module_names
from .trainer import SherlockTrainer, sherlock_sft_config


__all__ = [
    "EVENT_TYPES_KEY",
    "GSBCallback",
    "SherlockDataCollator",
    "SherlockTrainer",
    "add_lora",
    "constant_alpha",
    "linear_warmup_alpha",
    "load_lora",
    "sherlock_lora_config",
    "sherlock_sft_config",
    "trained_module_names",
]
