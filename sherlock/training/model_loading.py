"""The model and processor that `sherlock train` trains (`sherlock.train` puts them to work).

- `load_model_and_processor`: a Sherlock folder or Hub id, `demo` or a LoRA adapter with the run's config switches
  applied (`sherlock.loading.load_base_model`: dropped experts are not loaded; a soft gate keeps the checkpoint's rows
  of the remaining experts), or a Video-LLaVA one converted in memory by `sherlock.convert.convert_video_llava`
  (every backbone weight kept, the GSM initialised) with a `SherlockProcessor` built from its tokenizer and image
  settings.
- `config_switches`: the Sherlock config fields a run sets from `--without` (the ablations), `--gsb-loss-coef` and
  `--gsb-variant`.
- `configure_processor`: `--num-frames`, `--extractors` and `--cache-dir` on the training processor.

torch, transformers and the model load inside the functions.
"""

import json
import logging
import os
from pathlib import Path

from ..arguments import UsageError
from ..train import EXPERTS, TrainArguments


logger = logging.getLogger("sherlock")


def config_switches(config, args: TrainArguments, without: list[str]) -> dict:
    """The Sherlock config fields this run sets: experts without the dropped ones, the gate, α and the GSB variant."""
    experts = [name for name in config.experts if name not in without] if hasattr(config, "experts") else None
    experts = experts if experts is not None else [name for name in EXPERTS if name not in without]
    if not experts:
        raise UsageError(f"--without leaves no expert of the model's {list(config.experts)}")
    switches = {
        "experts": experts,
        "gate": "uniform" if "gate" in without else getattr(config, "gate", "soft"),
        "gsb_loss_coef": 0.0 if "sir" in without else float(args.gsb_loss_coef),
    }
    if args.gsb_variant is not None:
        switches["gsb_variant"] = args.gsb_variant
    return switches


def _dtype(args: TrainArguments, bf16: bool):
    import torch

    if args.dtype != "auto":
        return getattr(torch, args.dtype)
    return torch.bfloat16 if (bf16 and args.lora) else torch.float32


def load_model_and_processor(args: TrainArguments, model_path: str, without: list[str], bf16: bool = False):
    """`(model, processor, kind)` for training from a resolved `--model` value (`sherlock.loading.load_base_model`):
    a Sherlock folder with the config switches applied (dropped experts are not loaded; a soft gate keeps the rows of
    the remaining experts), `demo`, a LoRA adapter (its base with the adapter merged; its experts and gate stay), or
    a Video-LLaVA one converted in memory (`convert_video_llava`: every backbone weight kept, the GSM initialised)
    with a processor built from its tokenizer and image settings; `kind` is "sherlock" or "video_llava"."""
    from processing import SherlockProcessor

    from ..loading import load_base_model, model_config, processor_source

    source = model_config(model_path)
    if source.model_type not in ("sherlock", "video_llava"):
        raise ValueError(
            f"--model {args.model!r} is a {source.model_type!r} model: give a Sherlock or a Video-LLaVA one"
        )
    model, kind = load_base_model(model_path, config_switches(source, args, without), dtype=_dtype(args, bf16))
    if kind == "sherlock":
        return model, SherlockProcessor.from_pretrained(processor_source(model_path)), kind
    from transformers import AutoTokenizer, CLIPImageProcessorPil

    processor = SherlockProcessor(
        image_processor=CLIPImageProcessorPil.from_pretrained(model_path),
        tokenizer=AutoTokenizer.from_pretrained(model_path),
        patch_size=int(model.config.vision_config.patch_size),
    )
    return model, processor, kind


def configure_processor(processor, args: TrainArguments, stage1_dir: Path) -> dict | None:
    """Apply `--num-frames`, `--extractors` and `--cache-dir` to the training processor; returns the extractor
    settings the exported processor keeps: the model's, or `--extractors` unless that was `precomputed` (which
    only says where the training features are)."""
    from processing import DEFAULT_EXTRACTOR_SETTINGS

    exported = processor.extractors
    if args.num_frames is not None:
        processor.num_frames, processor.fps = args.num_frames, None
    if args.extractors == "precomputed":
        processor.extractors = {"backend": "precomputed"}
    elif args.extractors == "default":
        processor.extractors = json.loads(json.dumps(DEFAULT_EXTRACTOR_SETTINGS))
    elif args.extractors is not None:
        text = args.extractors
        if not text.lstrip().startswith("{"):
            text = Path(os.path.expanduser(text)).read_text(encoding="utf-8")
        try:
            processor.extractors = json.loads(text)
        except json.JSONDecodeError as error:
            raise UsageError(f"--extractors: not valid JSON ({error})") from error
    if args.extractors is not None and args.extractors != "precomputed":
        exported = processor.extractors
    processor._extractor_set = None  # rebuilt from the new settings on first use
    if args.cache_dir is not None:
        processor.feature_cache_dir = os.path.expanduser(args.cache_dir)
    elif processor.is_precomputed and processor.feature_cache_dir is None:
        features = Path(os.path.expanduser(args.dataset)) / "features"
        if features.is_dir():
            processor.feature_cache_dir = str(features)
    if processor.feature_cache_dir is None and args.stage == 1:
        processor.feature_cache_dir = str(stage1_dir / "features")
    if processor.is_precomputed and processor.feature_cache_dir is None:
        raise UsageError("--extractors precomputed reads the feature cache: give --cache-dir")
    return exported
