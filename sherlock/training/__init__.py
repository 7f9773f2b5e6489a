"""Training Sherlock (issue 9, in progress): the data collator, `SherlockTrainer` (TRL's `SFTTrainer` with Sherlock's
own loss, normalised for gradient accumulation and data parallelism) and the `GSBCallback`. Imports TRL: install the
`train` extra (`pip install "sherlock-mvae[train]"`)."""

from .callbacks import GSBCallback, constant_alpha, linear_warmup_alpha
from .collator import EVENT_TYPES_KEY, SherlockDataCollator
from .trainer import SherlockTrainer, sherlock_sft_config


__all__ = [
    "EVENT_TYPES_KEY",
    "GSBCallback",
    "SherlockDataCollator",
    "SherlockTrainer",
    "constant_alpha",
    "linear_warmup_alpha",
    "sherlock_sft_config",
]
