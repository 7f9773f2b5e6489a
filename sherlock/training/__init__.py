"""Training Sherlock (issue 9, in progress): the data collator, `SherlockTrainer` (TRL's `SFTTrainer` with Sherlock's
own loss, normalised for gradient accumulation and data parallelism), the `GSBCallback`, LoRA (PEFT), the stage-1 data
path (`stage1`: pre-tuning rows -> clips), the per-epoch summary (`progress`), the model and processor a run trains
(`model_loading`: ablation switches, in-memory Video-LLaVA conversion) and the export folder (`export`: model or
adapter, processor, training record, Hub push); `sherlock train` (`sherlock.train`) puts them together. Imports TRL:
install the `train` extra (`pip install "sherlock-mvae[train]"`)."""

from .callbacks import GSBCallback, constant_alpha, linear_warmup_alpha
from .collator import EVENT_TYPES_KEY, SherlockDataCollator
from .export import save_export, write_record
from .lora import add_lora, load_lora, sherlock_lora_config, trained_module_names
from .model_loading import config_switches, configure_processor, load_model_and_processor
from .progress import EpochSummaryCallback, format_epoch_summary
from .stage1 import ClipSettings, MissingMediaError, Stage1Converter, parse_media_roots, smpl_to_coco
from .trainer import SherlockTrainer, sherlock_sft_config


__all__ = [
    "EVENT_TYPES_KEY",
    "ClipSettings",
    "EpochSummaryCallback",
    "GSBCallback",
    "MissingMediaError",
    "SherlockDataCollator",
    "SherlockTrainer",
    "Stage1Converter",
    "add_lora",
    "config_switches",
    "configure_processor",
    "constant_alpha",
    "format_epoch_summary",
    "linear_warmup_alpha",
    "load_lora",
    "load_model_and_processor",
    "parse_media_roots",
    "save_export",
    "sherlock_lora_config",
    "sherlock_sft_config",
    "smpl_to_coco",
    "trained_module_names",
    "write_record",
]
