"""The export folder of `sherlock train`, written by the main process after training (`sherlock.train` calls these):
`save_export` (the model or LoRA adapter and the processor; `_tidy_adapter` takes local paths out of PEFT's files),
`write_record` (the training record `sherlock_training.json`) and `clean_previous_export` (what an earlier run in the same folder left). The folder:

    config.json, model.safetensors, *.py   the trained model (when there is one: --no-lora, --merge, stage 1)
    adapter/adapter_model.safetensors      LoRA runs: the adapter with the experts, gate and projector (PEFT)
    adapter/adapter_config.json
    processor_config.json, tokenizer ...   the processor (its extractors: the model's, or `--extractors` unless
                                           that was `precomputed`, which only says where training features are)
    sherlock_training.json                 stage, dataset, arguments, config switches, epoch summaries, losses, time,
                                           the frame-supervision stage (`frame_supervision`: None when off)
    gate_weights.csv / .png                mean gate weights per event type (stage 2: rows with `events`)
    checkpoint-N/                          the Trainer's checkpoints (`--save-strategy`), not part of the export

Everything exported is safetensors or JSON (no pickle). The export folder of a LoRA run without a merged model is a
model argument of every command (`sherlock analyze --model <output_dir>`): `sherlock.loading` loads the base that
`adapter/adapter_config.json` names (`base_model_name_or_path`: a Hub id, `demo`, or a path relative to the adapter
folder, never an absolute one) with the config switches of `sherlock_training.json`, then merges the adapter.
torch, transformers, TRL, PEFT and huggingface_hub load inside the functions.
"""

import dataclasses
import json
import shutil
import time
from pathlib import Path

from ..loading import ADAPTER_DIR, base_reference
from ..train import RECORD_FILE


RECORD_VERSION = 1
# What a previous `sherlock train` export in the same folder left and this run rewrites (removed first when the folder
# holds a training record, so that nothing stale survives, e.g. a model of a --merge run under a run without it).
EXPORT_FILES = ("config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json")


def clean_previous_export(output: Path) -> None:
    """Remove what an earlier `sherlock train` export in `output` wrote (only when the folder holds its record)."""
    if not (output / RECORD_FILE).is_file():
        return
    for name in (*EXPORT_FILES, RECORD_FILE, "gate_weights.csv", "gate_weights.png"):
        (output / name).unlink(missing_ok=True)
    for path in output.glob("model-*-of-*.safetensors"):
        path.unlink()
    shutil.rmtree(output / ADAPTER_DIR, ignore_errors=True)


def save_export(model, processor, output: Path, args, without, kind, pretuned, record) -> list[str]:
    """Write the export folder (module docstring); returns what was written."""
    output.mkdir(parents=True, exist_ok=True)
    written = []
    if args.lora:
        # a Hub id or demo as it is, a local folder relative to the adapter folder (`sherlock.loading.base_reference`)
        base = base_reference(args.model, output / ADAPTER_DIR)
        model.save_pretrained(output / ADAPTER_DIR, safe_serialization=True)
        _tidy_adapter(output / ADAPTER_DIR, base)
        written.append(f"{ADAPTER_DIR}/")
        if args.merge or args.stage == 1:
            model = model.merge_and_unload()
        else:
            model = None
    if model is not None:
        model.save_pretrained(output, safe_serialization=True)
        written.append("model (merged)" if args.lora else "model")
    processor.save_pretrained(output)
    written.append("processor")
    readme = output / "README.md"
    if readme.is_file() and "generated_from_trainer" in readme.read_text(encoding="utf-8", errors="replace"):
        readme.unlink()  # TRL's checkpoint card (a text-generation quick start): wrong for Sherlock
    return written


def _tidy_adapter(folder: Path, base: str | None) -> None:
    """PEFT writes the base model's absolute local path into `adapter_config.json` and a template card (`README.md`)
    whose header names it too: the config gets `base` (a Hub id, `demo`, or a `./` / `../` path relative to the
    adapter folder; `sherlock.loading.base_reference`), the template goes."""
    config_path = folder / "adapter_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (folder / "README.md").unlink(missing_ok=True)


def write_record(output: Path, args, without, config, pretuned, base_record, rows, epochs, info, written) -> None:
    """`sherlock_training.json`: what was trained, on what, how, and how it went."""
    import peft
    import torch
    import transformers
    import trl

    sources = sorted({row.get("source", "") for row in rows} - {""})
    record = {
        "format_version": RECORD_VERSION,
        "stage": args.stage,
        "pretuned": args.stage == 1 or pretuned,
        "base_model": args.model,
        "base_record": {key: base_record.get(key) for key in ("stage", "dataset", "base_model")}
        if base_record
        else None,
        "dataset": args.dataset,
        "dataset_config": args.dataset_config or ("all" if args.stage == 1 else None),
        "split": args.split,
        "rows": len(rows),
        "sources": sources or None,
        "ablations": without,
        "config": {name: getattr(config, name) for name in ("experts", "gate", "gsb_loss_coef", "gsb_variant")},
        "lora": {"r": args.lora_r, "alpha": args.lora_alpha, "dropout": args.lora_dropout} if args.lora else None,
        "export": written,
        "arguments": dataclasses.asdict(args),
        "frame_supervision": info.get("frame_supervision"),
        "epochs": epochs,
        "train_loss": info["train_loss"],
        "global_step": info["global_step"],
        "seconds": round(info["seconds"], 3),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "trl": trl.__version__,
            "peft": peft.__version__,
        },
    }
    (output / RECORD_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
