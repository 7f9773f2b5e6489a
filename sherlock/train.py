"""`sherlock train`: the two training stages of Sherlock (paper §4.4) as one command.

    sherlock train --stage 1 --model LanguageBind/Video-LLaVA-7B-hf --dataset org/sherlock-pretune \\
        --media-root humanml3d=HumanML3D --media-root coco_captions=coco/train2017 ... --output-dir stage1
    sherlock train --stage 2 --model stage1 --dataset org/m-vae --video-root cuva/videos --output-dir sherlock-7b
    sherlock train --config train.yaml --learning-rate 1e-5          # YAML keys = option names; the command line wins
    accelerate launch -m sherlock.cli train ...  /  torchrun --nproc_per_node 2 -m sherlock.cli train ...

**Model** (`--model`): a Sherlock folder / Hub id (`model_type` "sherlock"; the ablation switches are applied to its
config), or a Video-LLaVA one (`model_type` "video_llava": converted in memory by `sherlock.convert`, as
`sherlock-convert-video-llava` does, the processor built from its tokenizer and image settings). LoRA (default; the
paper's r 16, alpha 64, dropout 0.05 on the language model's attention and MLP projections) trains the adapter plus,
fully, the spatial experts, the gate and the projector (`modules_to_save`), never the frozen background tower;
`--no-lora` trains every weight but the background tower (for tiny models trained from scratch).

**Data**: stage 1 reads the pre-tuning set of `sherlock-build-pretune` (config `all` by default) and turns each row
into a clip (`training.stage1`: images become static clips, HumanML3D motions stick-figure clips whose poses go into
the feature cache), kept in `--stage1-media-dir` (default `<output_dir>/stage1_media`) for later runs. Stage 2 reads
an M-VAE split (`video`, `instruction`, `answer`, `events`; videos under `--video-root`, default
`<dataset>/videos`). Both go through `SherlockDataCollator` and `SherlockTrainer` (`lm_loss + α gsb_loss`).

**Ablations** (`--without`, repeatable or comma-separated; the paper's names work too): `action` (AE),
`object_relation` (ORE), `background` (BE), `global` (GE) drop that expert from `config.experts` (its weights are
not loaded; a soft gate keeps its trained rows for the other experts); `gate` (EG) sets `gate="uniform"`; `sir` sets
α = 0; `pretune` lets stage 2 start from a model without a stage-1 record.

**Frame supervision** (`--frame-supervision-epochs N`, stage 2; 0 = off, the paper's recipe): first N epochs train
the GSM (its trainable part: experts, gate, projector; the video tower with `--no-lora`) with small per-frame heads on
targets derived from each row's event spans (`training.frame_targets`), the language model untouched; then the
LM training runs with the GSM `--gsm-after-frames frozen` (default), `lower_lr` or `joint`. The heads are never
exported; the record's `frame_supervision` holds the stage (`training.frame_stage`).

**Stage 1 -> stage 2.** Stage 2 refuses (one line) a `--model` without a stage-1 record (`sherlock_training.json`
with `"pretuned": true`: written by stage 1, and by a stage 2 that started from a stage-1 output) unless
`--without pretune`. Stage 1 with LoRA always saves the merged model too, so that its output folder IS a Sherlock
model folder: stage 2 loads it like any other (the stage-1 adapter merged into the weights, a fresh adapter on top).

**Output** (`--output-dir`, written by the main process; `--push-to-hub REPO_ID` uploads it, without `checkpoint-*`,
`stage1_media/` and `runs/`): the trained model (`--no-lora`, `--merge`, stage 1) and / or the LoRA adapter
(`adapter/`), the processor, the training record `sherlock_training.json` and the gate weights per event type, all
safetensors or JSON; `sherlock.training.export` lists the files.

**Code.** This module holds the options (`TrainArguments`, the YAML config file), the checks made before anything
heavy loads (arguments, the stage-1 record stage 2 needs, Hub access), the training rows and `train_command`, which
puts together `sherlock.training.model_loading` (the model and processor, the ablation switches, the in-memory
Video-LLaVA conversion of `sherlock.convert`), the `sherlock.training` trainer and `sherlock.training.export` (the
export folder, the record, the push). It imports only the standard library at import time: `sherlock train --help`
and argument errors answer at once; torch, transformers, TRL and PEFT load in `train_command`.
"""

import argparse
import dataclasses
import logging
import os
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .arguments import MAX_FRAMES, UsageError, add_dataclass_arguments, check_count
from .loading import DEMO_MODEL, RECORD_FILE


if typing.TYPE_CHECKING:
    from .training.model_loading import load_model_and_processor


logger = logging.getLogger("sherlock")

STAGE1_MEDIA_DIR = "stage1_media"
EXPERTS = (
    "action",
    "object_relation",
    "background",
    "global",
)  # = modeling_sherlock.EXPERT_NAMES (no transformers here)
WITHOUT = (*EXPERTS, "gate", "sir", "pretune")
WITHOUT_ALIASES = {"ae": "action", "ore": "object_relation", "be": "background", "ge": "global", "eg": "gate"}
DTYPES = ("auto", "float32", "bfloat16", "float16")
BOOL_WORDS = {"auto": None, "true": True, "yes": True, "1": True, "on": True, "false": False, "no": False, "0": False}
SAVE_STRATEGIES = ("no", "steps", "epoch")
GSM_AFTER_FRAMES = ("frozen", "lower_lr", "joint")  # = training.frame_stage.GSM_AFTER_FRAMES (no torch here)
FRAME_SCHEDULERS = ("constant", "cosine", "linear")  # the frame stage's schedules (5 % warm-up but for constant)
EVENT_KEYS = ("start", "end", "subject", "event_type", "object", "scene")
PRETUNE_COLUMNS = ("source", "id", "media", "media_type", "instruction", "answer")


def _option(text: str, default=None):
    return field(default=default, metadata={"help": text})


@dataclass
class TrainArguments:
    """Arguments of `sherlock train` (each option's help is its `metadata`; module docstring)."""

    config: str | None = _option("YAML file with any of these options (keys: the option names with underscores)")
    stage: int = _option("1: pre-tuning on spatial data (images, motions); 2: instruction tuning on M-VAE", 2)
    model: str | None = _option("Sherlock or Video-LLaVA model: folder or Hub id (stage 2: a stage-1 output)")
    dataset: str | None = _option("dataset folder or Hub id (stage 1: sherlock-build-pretune's; stage 2: M-VAE)")
    split: str = _option("dataset split", "train")
    dataset_config: str | None = _option("dataset config name (stage 1 default: all)")
    video_root: str | None = _option("stage 2: folder of the `video` files (default: <dataset>/videos)")
    media_root: list[str] | None = _option(
        "stage 1: where each source's media lie, SOURCE=DIR (the folder given to sherlock-build-pretune) or DIR "
        "(one sub-folder per source); repeatable (default: <dataset>/media)"
    )
    stage1_media_dir: str | None = _option(
        "stage 1: folder of the generated clips (default: <output_dir>/stage1_media)"
    )
    cache_dir: str | None = _option(
        "feature cache (default: the processor's; with --extractors precomputed, <dataset>/features if present)"
    )
    extractors: str | None = _option(
        "expert extractors: 'precomputed' (read the feature cache only), 'default' (RT-DETR, ViTPose, SAM2) or a JSON "
        "file of extractor settings (default: the model's processor's)"
    )
    output_dir: str | None = _option("export folder (also the Trainer's checkpoints)")
    num_frames: int | None = _option("frames sampled per video (default: the processor's)")
    max_samples: int | None = _option("train on the first N rows only (quick runs)")
    lora: bool = _option("LoRA on the language model (--no-lora: train every weight but the background tower)", True)
    lora_r: int = _option("LoRA rank", 16)
    lora_alpha: int = _option("LoRA alpha", 64)
    lora_dropout: float = _option("LoRA dropout", 0.05)
    learning_rate: float = _option("peak learning rate (AdamW)", 2e-5)
    lr_scheduler_type: str = _option("learning-rate schedule (transformers' names)", "cosine")
    warmup_ratio: float = _option("share of the steps with a linear warm-up", 0.03)
    weight_decay: float = _option("AdamW weight decay", 0.0)
    optim: str = _option("optimizer (transformers' names)", "adamw_torch")
    num_train_epochs: float = _option("epochs", 1.0)
    max_steps: int = _option("stop after this many optimizer steps (> 0 overrides --num-train-epochs)", -1)
    per_device_train_batch_size: int = _option("videos per device and micro-batch", 1)
    gradient_accumulation_steps: int = _option("micro-batches per optimizer step (paper batch: 16)", 16)
    gradient_checkpointing: bool = _option("recompute activations in the backward pass (less memory)", False)
    bf16: str = _option("bf16 mixed precision: auto (on CUDA with bf16 support), true or false", "auto")
    dtype: str = _option("weights dtype: auto (bfloat16 for LoRA with bf16 on, else float32) or a dtype", "auto")
    report_to: str = _option("where to report metrics: none, tensorboard, wandb, ... (comma list)", "none")
    logging_steps: int = _option("log every N optimizer steps", 10)
    save_strategy: str = _option("checkpoints: no, steps or epoch", "steps")
    save_steps: int = _option("checkpoint every N steps (--save-strategy steps)", 500)
    save_total_limit: int | None = _option("keep at most N checkpoints", 2)
    seed: int = _option("random seed (new modules, LoRA, data order)", 42)
    resume_from_checkpoint: str | None = _option("resume from a checkpoint folder, or 'last' (in --output-dir)")
    gsb_loss_coef: float = _option("α, the weight of the GSB loss", 0.4)
    gsb_variant: str | None = _option("GSB loss variant: paper or uniform (default: the model's)")
    gsb_alpha_warmup_steps: int = _option("raise α linearly from 0 over N steps (0: constant)", 0)
    frame_supervision_epochs: int = _option(
        "stage 2: first train the GSM on per-frame targets from the event spans for N epochs (0: off, the paper)", 0
    )
    frame_learning_rate: float | None = _option("learning rate of the frame stage (default: --learning-rate)")
    frame_lr_scheduler_type: str = _option(
        "frame stage: its learning-rate schedule, a transformers scheduler name (constant, cosine, linear, ...)",
        "constant",
    )
    frame_temporal_kernel: int = _option(
        "frame stage: the heads also see this many neighbouring frames (odd; 0: each frame alone)", 0
    )
    gsm_after_frames: str = _option(
        "the GSM in the LM training after the frame stage: frozen, lower_lr or joint", "frozen"
    )
    without: list[str] | None = _option(
        "ablation, repeatable or comma list: action, object_relation, background, global, gate, sir, pretune"
    )
    merge: bool = _option("also save the model with the LoRA adapter merged (always in stage 1)", False)
    push_to_hub: str | None = _option("upload the export folder to this Hub repo (org/name)")
    hub_private: bool = _option("create the Hub repo private", False)
    dataloader_num_workers: int = _option("data-loading worker processes", 0)
    max_length: int | None = _option("longest training sequence allowed (tokens; longer rows raise, never truncate)")
    use_cpu: bool = _option("train on the CPU even when a GPU is present", False)
    progress: bool = _option("progress bars (--no-progress: none)", True)


# --------------------------------------------------------------------------------------------- options and YAML


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `TrainArguments` on `parser`, each defaulting to None so that the options given on the command
    line can be told apart from the others (they override the YAML file; `train_arguments` fills the defaults)."""
    add_dataclass_arguments(parser, TrainArguments)
    parser.set_defaults(**{item.name: None for item in dataclasses.fields(TrainArguments)})


def build_train_parser() -> argparse.ArgumentParser:
    """A stand-alone parser of `sherlock train`'s options (the same as the subcommand's)."""
    parser = argparse.ArgumentParser(prog="sherlock train", description="Train Sherlock (stage 1 or 2).")
    add_train_arguments(parser)
    return parser


def _coerce(name: str, value, annotation):
    """A YAML value as the field's type (YAML 1.1 reads `2e-5` as a string: numbers in strings are accepted)."""
    options = [arg for arg in typing.get_args(annotation) if arg is not type(None)] or [annotation]
    kind = options[0]
    if value is None:
        if type(None) in typing.get_args(annotation):
            return None
        raise UsageError(f"config key {name!r} cannot be empty")
    try:
        if typing.get_origin(kind) is list:
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(item, (str, int, float)) for item in items):
                raise TypeError
            return [str(item) for item in items]
        if kind is bool:
            if isinstance(value, str) and BOOL_WORDS.get(value.lower()) is not None:
                return BOOL_WORDS[value.lower()]
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if kind is str:
            if isinstance(value, (dict, list)):
                raise TypeError
            return str(value).lower() if isinstance(value, bool) else str(value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise UsageError(f"config key {name!r} must be {getattr(kind, '__name__', kind)}, got {value!r}")


def read_config_file(path: str) -> dict:
    """The options of a YAML config file, typed; `UsageError` for a missing file, bad YAML or unknown keys."""
    try:
        import yaml
    except ImportError as error:
        raise ImportError("--config needs PyYAML: pip install pyyaml") from error
    file = Path(os.path.expanduser(path))
    if not file.is_file():
        raise UsageError(f"--config {path!r}: no such file")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise UsageError(f"--config {path!r} is not valid YAML: {' '.join(str(error).split())}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"--config {path!r} must be a mapping of option names to values, not {type(data).__name__}")
    hints = typing.get_type_hints(TrainArguments)
    known = {item.name for item in dataclasses.fields(TrainArguments)} - {"config"}
    keys = {str(key).replace("-", "_"): value for key, value in data.items()}
    unknown = sorted(set(keys) - known)
    if unknown:
        raise UsageError(
            f"unknown key(s) in --config {path}: {', '.join(unknown)} (keys are the option names, e.g. learning_rate)"
        )
    return {key: _coerce(key, value, hints[key]) for key, value in keys.items()}


def train_arguments(options: dict) -> TrainArguments:
    """`TrainArguments` from parsed options (None = not given): the YAML file's values (`config`), then the options
    given on the command line over them, the defaults for the rest."""
    given = {key: value for key, value in options.items() if value is not None}
    values = read_config_file(given["config"]) if given.get("config") else {}
    values.update(given)
    return TrainArguments(**values)


def parse_train_arguments(argv: list[str]) -> TrainArguments:
    """`TrainArguments` from a command line (`sherlock train`'s options, with `--config`)."""
    return train_arguments(vars(build_train_parser().parse_args(argv)))


# -------------------------------------------------------------------------------------------------------- checks


def ablations(args: TrainArguments) -> list[str]:
    """The `--without` values, split at commas, paper names (AE, ORE, BE, GE, EG, SIR) mapped; `UsageError` for an
    unknown one."""
    found = []
    for value in args.without or ():
        for item in str(value).split(","):
            item = item.strip().lower().replace("-", "_")
            if not item:
                continue
            item = WITHOUT_ALIASES.get(item, item)
            if item not in WITHOUT:
                raise UsageError(f"--without {item!r}: choose from {', '.join(WITHOUT)}")
            if item not in found:
                found.append(item)
    return found


def bf16_setting(value: str) -> bool | None:
    """`--bf16`: None for auto, else True / False."""
    word = str(value).strip().lower()
    if word not in BOOL_WORDS:
        raise UsageError(f"--bf16 must be auto, true or false, got {value!r}")
    return BOOL_WORDS[word]


def check_arguments(args: TrainArguments) -> list[str]:
    """Everything that can be checked before anything heavy loads; returns the ablations."""
    for name in ("model", "dataset", "output_dir"):
        if not getattr(args, name):
            raise UsageError(f"give --{name.replace('_', '-')} (or `{name}:` in the --config file)")
    if args.stage not in (1, 2):
        raise UsageError(f"--stage must be 1 or 2, got {args.stage}")
    without = ablations(args)
    if args.stage == 1 and "pretune" in without:
        raise UsageError("--without pretune is a stage-2 switch (stage 2 without the stage-1 pre-tuning)")
    if not [name for name in EXPERTS if name not in without]:
        raise UsageError("--without leaves no expert")
    positive = ("lora_r", "per_device_train_batch_size", "gradient_accumulation_steps", "logging_steps", "save_steps")
    for name in positive:
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    check_count("--num-frames", args.num_frames, MAX_FRAMES)
    for name in ("max_samples", "max_length", "save_total_limit"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not args.lora_alpha > 0:
        raise UsageError(f"--lora-alpha must be > 0, got {args.lora_alpha}")
    if not 0 <= args.lora_dropout < 1:
        raise UsageError(f"--lora-dropout must be in [0, 1), got {args.lora_dropout}")
    if not args.learning_rate > 0:
        raise UsageError(f"--learning-rate must be > 0, got {args.learning_rate}")
    if not 0 <= args.warmup_ratio < 1:
        raise UsageError(f"--warmup-ratio must be in [0, 1), got {args.warmup_ratio}")
    if args.max_steps <= 0 and not args.num_train_epochs > 0:
        raise UsageError("give --num-train-epochs > 0 or --max-steps > 0")
    if not args.gsb_loss_coef >= 0 or args.gsb_alpha_warmup_steps < 0 or args.dataloader_num_workers < 0:
        raise UsageError("--gsb-loss-coef, --gsb-alpha-warmup-steps and --dataloader-num-workers must be >= 0")
    if args.gsb_variant not in (None, "paper", "uniform"):
        raise UsageError(f"--gsb-variant must be paper or uniform, got {args.gsb_variant!r}")
    bf16_setting(args.bf16)
    if args.frame_supervision_epochs < 0 or (args.frame_supervision_epochs and args.stage != 2):
        raise UsageError(f"--frame-supervision-epochs is a stage-2 count >= 0, got {args.frame_supervision_epochs}")
    if args.frame_supervision_epochs and int(os.environ.get("WORLD_SIZE", "1")) > 1:  # torchrun / accelerate set it
        raise UsageError("--frame-supervision-epochs runs on one process: launch it without torchrun / accelerate")
    if args.frame_lr_scheduler_type not in FRAME_SCHEDULERS:
        raise UsageError(
            f"--frame-lr-scheduler-type: one of {', '.join(FRAME_SCHEDULERS)}, got {args.frame_lr_scheduler_type!r}"
        )
    if args.frame_temporal_kernel < 0 or (args.frame_temporal_kernel and args.frame_temporal_kernel % 2 == 0):
        raise UsageError(f"--frame-temporal-kernel: 0 or an odd count of frames, got {args.frame_temporal_kernel}")
    if args.gsm_after_frames not in GSM_AFTER_FRAMES or not (args.frame_learning_rate or 1) > 0:
        raise UsageError(f"--gsm-after-frames: one of {', '.join(GSM_AFTER_FRAMES)}; --frame-learning-rate: > 0")
    if args.dtype not in DTYPES:
        raise UsageError(f"--dtype must be one of {', '.join(DTYPES)}, got {args.dtype!r}")
    if args.save_strategy not in SAVE_STRATEGIES:
        raise UsageError(f"--save-strategy must be one of {', '.join(SAVE_STRATEGIES)}, got {args.save_strategy!r}")
    if args.extractors not in (None, "precomputed", "default") and not args.extractors.lstrip().startswith("{"):
        if not Path(os.path.expanduser(args.extractors)).is_file():
            raise UsageError(f"--extractors {args.extractors!r}: not 'precomputed', 'default' or a JSON file")
    output = Path(os.path.expanduser(args.output_dir))
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output-dir {args.output_dir!r} is a file, not a folder")
    model = Path(os.path.expanduser(args.model))
    if model.is_dir() and output.exists() and output.resolve() == model.resolve():
        raise UsageError("--output-dir is the --model folder: the export would overwrite the model it trains")
    resume = args.resume_from_checkpoint
    if resume not in (None, "last") and not Path(os.path.expanduser(resume)).is_dir():
        raise UsageError(f"--resume-from-checkpoint {resume!r}: no such checkpoint folder (or 'last')")
    if args.push_to_hub is not None and (args.push_to_hub.count("/") > 1 or not args.push_to_hub.strip("/")):
        raise UsageError(f"--push-to-hub {args.push_to_hub!r} is not a repo id (org/name)")
    return without


def check_stage2_start(args: TrainArguments, without: list[str], record: dict | None) -> bool:
    """Whether stage 2 starts from a pre-tuned model; `UsageError` (one line) when it does not and `--without pretune`
    is not given."""
    pretuned = bool(record and record.get("pretuned"))
    if args.stage == 2 and not pretuned and "pretune" not in without:
        if args.model == DEMO_MODEL:
            why = "is the built-in demo model, never pre-tuned (stage 1)"
        elif record:
            why = f"was not pre-tuned: its {RECORD_FILE} is of a stage-2 run that started without stage 1"
        else:
            why = f"has no stage-1 record ({RECORD_FILE} of `sherlock train --stage 1`)"
        raise UsageError(
            f"--model {args.model!r} {why}: add --without pretune to train stage 2 from it anyway (the paper's w/o "
            "pre-tuning ablation), or run stage 1 first and give its output"
        )
    return pretuned


def check_push_access(repo_id: str) -> None:
    """Fail before training, not after, when the Hub refuses the credentials (`whoami`)."""
    from huggingface_hub import HfApi

    try:
        HfApi().whoami()
    except Exception as error:
        raise OSError(
            f"--push-to-hub {repo_id}: the Hub does not accept the credentials ({type(error).__name__}): log in "
            "with `hf auth login` or set HF_TOKEN"
        ) from error


# ---------------------------------------------------------------------------------------------------------- data


def training_rows(args: TrainArguments, processor, model_config, stage1_dir: Path, sft_args, verbose: bool):
    """`(rows, video_root)`: stage 1, the pre-tuning rows turned into clips (the main process converts, the others
    wait and then find every clip); stage 2, the M-VAE rows with their event types."""
    if args.stage == 1:
        from .evaluation.dataset import load_split_rows
        from .training.stage1 import Stage1Converter, expert_capacities, parse_media_roots

        config = args.dataset_config or "all"
        rows = load_split_rows(args.dataset, args.split, verbose, config=config, columns=PRETUNE_COLUMNS)
        rows = rows[: args.max_samples] if args.max_samples else rows
        default_root = Path(os.path.expanduser(args.dataset)) / "media"
        converter = Stage1Converter(
            processor,
            stage1_dir,
            parse_media_roots(args.media_root, default_root if default_root.parent.is_dir() else None),
            capacities=expert_capacities(processor, model_config),
        )
        with sft_args.main_process_first(local=False, desc="stage-1 clips"):
            converted = converter.convert(rows, progress=args.progress and sft_args.process_index == 0)
        return converted, None
    from .evaluation.dataset import load_split_rows, resolve_video_root, video_items

    columns = None if args.dataset_config is None else ("video", "answer")  # M-VAE's, or another config's
    rows = load_split_rows(args.dataset, args.split, verbose, config=args.dataset_config, columns=columns)
    rows = rows[: args.max_samples] if args.max_samples else rows
    video_root = resolve_video_root(args.dataset, args.video_root)
    if "video_id" in (rows[0] if rows else {}):
        video_items(rows, video_root)  # every file present (a one-line error naming how many are missing)
    converted = []
    for row in rows:
        item = {"video": row["video"], "instruction": row.get("instruction") or "", "answer": row["answer"]}
        keys = EVENT_KEYS if args.frame_supervision_epochs else ("event_type",)  # the frame targets need spans
        if "events" in row:
            item["events"] = [{key: event.get(key) for key in keys} for event in row["events"] or []]
        if args.frame_supervision_epochs:
            item["video_scene"] = (row.get("source") or {}).get("scene") or None
        converted.append(item)
    return converted, video_root


# ------------------------------------------------------------------------------------------------------- command


def _trainable_summary(model) -> str:
    total = sum(param.numel() for param in model.parameters())
    trained = sum(param.numel() for param in model.parameters() if param.requires_grad)
    return f"{trained:,} of {total:,} parameters train ({100 * trained / max(total, 1):.2f} %)"


def _sft_config(args: TrainArguments, bf16: bool | None):
    from .training import sherlock_sft_config

    settings = {
        "output_dir": os.path.expanduser(args.output_dir),
        "learning_rate": args.learning_rate,
        "lr_scheduler_type": args.lr_scheduler_type,
        "warmup_steps": args.warmup_ratio,  # a float < 1 is a ratio of the total steps (transformers >= 5.23)
        "weight_decay": args.weight_decay,
        "optim": args.optim,
        "num_train_epochs": args.num_train_epochs,
        "max_steps": args.max_steps,
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "report_to": [name.strip() for name in args.report_to.split(",") if name.strip()] or "none",
        "logging_steps": args.logging_steps,
        "save_strategy": args.save_strategy,
        "save_steps": args.save_steps,
        "save_total_limit": args.save_total_limit,
        "seed": args.seed,
        "dataloader_num_workers": args.dataloader_num_workers,
        "use_cpu": args.use_cpu,
        "disable_tqdm": not args.progress,
    }
    if bf16 is not None:
        settings["bf16"] = bf16
    return sherlock_sft_config(activation_checkpointing=args.gradient_checkpointing, **settings)


def train_command(args: TrainArguments, verbose: bool = False) -> int:
    """`sherlock train` (module docstring)."""
    without = check_arguments(args)
    from .loading import check_pushable_base, model_training_record, quiet_libraries, resolve_dataset, resolve_model

    model_path = resolve_model(args.model, required_files=("config.json",))
    pretuned = check_stage2_start(args, without, record := model_training_record(model_path))
    resolve_dataset(args.dataset)  # a Hub dataset that cannot be used: one line now, not after the model loads
    if model_path == DEMO_MODEL:
        logger.warning("Training from the built-in demo model (tiny, trained on synthetic videos): a smoke test")
    if args.push_to_hub:
        if args.stage == 2 and args.lora and not args.merge:
            check_pushable_base(args.model)
        check_push_access(args.push_to_hub)
    quiet_libraries(verbose)

    from transformers import set_seed

    from .training import EpochSummaryCallback, GSBCallback, SherlockDataCollator, SherlockTrainer, add_lora
    from .training.callbacks import linear_warmup_alpha
    from .training.export import clean_previous_export, save_export, write_record
    from .training.model_loading import configure_processor, load_model_and_processor

    started = time.time()
    output = Path(os.path.expanduser(args.output_dir))
    stage1_dir = (
        Path(os.path.expanduser(args.stage1_media_dir)) if args.stage1_media_dir else output / STAGE1_MEDIA_DIR
    )
    bf16 = bf16_setting(args.bf16)
    sft_args = _sft_config(args, bf16)  # sets up the (distributed) state first
    if sft_args.process_index == 0 and args.resume_from_checkpoint is None:
        clean_previous_export(output)
    set_seed(args.seed)
    model, processor, kind = load_model_and_processor(args, model_path, without, bf16=bool(sft_args.bf16))
    saved_cache_dir = processor.feature_cache_dir
    exported_extractors = configure_processor(processor, args, stage1_dir)
    if not processor.is_precomputed and sft_args.device.type == "cuda":
        processor.set_extractor_device(str(sft_args.device))
    rows, video_root = training_rows(args, processor, model.config, stage1_dir, sft_args, verbose)
    if not rows:
        raise ValueError(f"split {args.split!r} of {args.dataset!r} has no rows")

    import datasets

    dataset = datasets.Dataset.from_list(rows)
    if args.lora:
        model = add_lora(model, r=args.lora_r, alpha=args.lora_alpha, dropout=args.lora_dropout)
    else:
        for name, param in model.named_parameters():
            param.requires_grad = not (name.startswith("model.spatial_experts.") and ".tower." in name)
    frames, optimizers = None, (None, None)
    if args.frame_supervision_epochs:  # the GSM on per-frame targets first (`training.frame_stage`)
        from .training import frame_stage

        frames, optimizers = frame_stage.frame_supervision(args, model, processor, dataset, video_root, sft_args)
    logger.info("%s", _trainable_summary(model))
    collator = SherlockDataCollator(
        processor, video_root=video_root, max_length=args.max_length, return_event_types="events" in rows[0]
    )
    summary = EpochSummaryCallback()
    steps = args.gsb_alpha_warmup_steps
    gsb = GSBCallback(alpha_schedule=linear_warmup_alpha(model.config.gsb_loss_coef, steps) if steps else None)
    trainer = SherlockTrainer(
        model=model,
        args=sft_args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=processor,
        callbacks=[gsb, summary],
        optimizers=optimizers,
    )
    resume = True if args.resume_from_checkpoint == "last" else args.resume_from_checkpoint
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.accelerator.wait_for_everyone()
    if not trainer.is_world_process_zero():
        return 0

    processor.feature_cache_dir, processor.extractors = saved_cache_dir, exported_extractors
    processor._extractor_set = None
    info = {"seconds": time.time() - started, "train_loss": result.training_loss, "global_step": result.global_step}
    written = save_export(
        trainer.accelerator.unwrap_model(trainer.model), processor, output, args, without, kind, pretuned, record
    )
    info["frame_supervision"] = frames
    write_record(output, args, without, model.config, pretuned, record, rows, summary.summaries, info, written)
    print(
        f"sherlock train stage {args.stage}: {result.global_step} steps on {len(rows)} rows, train loss "
        f"{result.training_loss:.4f}, {info['seconds']:.1f} s; wrote {output} ({', '.join(written)})"
    )
    if args.push_to_hub:
        from .push import push_training_export

        url = push_training_export(output, args.push_to_hub, args.hub_private, args.stage, args.model)
        print(f"pushed {output} to {url}")
    return 0


# Moved to `sherlock.training.model_loading` / `.export` (they load torch and transformers): still importable from
# here, loaded on first use so that importing this module stays light.
_MOVED = {
    "config_switches": "model_loading",
    "configure_processor": "model_loading",
    "load_model_and_processor": "model_loading",
    "save_export": "export",
    "write_record": "export",
}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f".training.{_MOVED[name]}", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RECORD_FILE",
    "TrainArguments",
    "add_train_arguments",
    "build_train_parser",
    "load_model_and_processor",
    "parse_train_arguments",
    "read_config_file",
    "train_arguments",
    "train_command",
]
