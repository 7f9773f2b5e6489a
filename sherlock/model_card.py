"""The model card (the Hub repository's `README.md`) of a Sherlock folder.

`render_model_card(folder, ...)` fills the Jinja2 template `model_card.md` (one copy, at the repository root; the
package reaches it as `sherlock/templates/model_card.md`, a link to it in a checkout and a copy in a wheel) through
`huggingface_hub.ModelCard.from_template`, from:

- the folder's `config.json` (a `SherlockConfig`: experts, gate, GSB variant and coefficient, expert output form,
  the language model and the towers), its weights' headers (parameter counts) and `processor_config.json` (frames,
  extractors);
- `sherlock_demo.json` (the stamp of a demo model copy, `sherlock.demo`; the random demo models of versions up to 4
  stamped `"random_weights": true`) and the
  training record `sherlock_training.json` of `sherlock train` (`sherlock.training.export.write_record`), or the
  `training` records given: whether the weights are trained, and how;
- an evaluation run's `metrics.json` (`sherlock evaluate`, `sherlock.evaluation.scoring.score`): the paper's Table 2
  (macro extraction F1, mAP@tIoU) and Table 3 (FNRs, F2) layouts in percent with two decimals, as `report.md`
  writes them, and one `EvalResult` per headline metric in the metadata.

Template variables (besides the metadata's own keys, e.g. `license`, `datasets`, `base_model`): `model_name`,
`repo_ref`, `trained`, `random_weights`, `training` (stages), `evaluation`, `model_config`, `processor`.
"""

import importlib.resources
import json
import math
import numbers
import os
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

from .train import RECORD_FILE


TEMPLATE = "templates/model_card.md"
METRICS_FILE = "metrics.json"
DEMO_STAMP = "sherlock_demo.json"
PIPELINE_TAG = "video-text-to-text"
TASK_NAME = "Video abnormal event extraction and localization"
TAGS = ["sherlock", "video-llava", "video-anomaly", "event-extraction", "temporal-localization", "custom_code"]
# the paper's names of the ablations a config encodes (README "Using the model")
EXPERT_ABLATIONS = {"action": "w/o AE", "object_relation": "w/o ORE", "background": "w/o BE", "global": "w/o GE"}
EXTRACTOR_PARTS = ("detector", "pose", "objects", "background")
# metrics.json key -> the metric's name in the metadata (`EvalResult.metric_name`) and its type (`metric_type`)
METRIC_NAMES = {
    "extraction.single.subject": ("Subject F1 (macro, %)", "f1"),
    "extraction.single.event_type": ("Event type F1 (macro, %)", "f1"),
    "extraction.single.object": ("Object F1 (macro, %)", "f1"),
    "extraction.single.scene": ("Scene F1 (macro, %)", "f1"),
    "extraction.pair.subject_type": ("Subject-type F1 (macro, %)", "f1"),
    "extraction.pair.object_type": ("Object-type F1 (macro, %)", "f1"),
    "extraction.pair.subject_scene": ("Subject-scene F1 (macro, %)", "f1"),
    "extraction.pair.object_scene": ("Object-scene F1 (macro, %)", "f1"),
    "extraction.quadruple": ("Quadruple F1 (macro, %)", "f1"),
    "localization.map@0.1": ("mAP@tIoU 0.1 (%)", "map"),
    "localization.map@0.2": ("mAP@tIoU 0.2 (%)", "map"),
    "localization.map@0.3": ("mAP@tIoU 0.3 (%)", "map"),
    "localization.map_mean": ("mAP@tIoU mean (%)", "map"),
    "classification.fnr": ("Frame-level FNR (%)", "fnr"),
    "classification.f2": ("Frame-level F2 (%)", "f2"),
}


def render_model_card(
    model_folder,
    repo_id: str | None = None,
    metrics=None,
    base_model: str | None = None,
    datasets: Sequence[str] | str | None = None,
    license: str = "apache-2.0",
    trained: bool | None = None,
    training=None,
):
    """The model card of the Sherlock model in `model_folder` (module docstring), ready to `save` as its `README.md`
    or to `push_to_hub`.

    Args:
        model_folder (`str` or `Path`): a saved Sherlock model (its `config.json`; a LoRA export without a merged
            model has none: merge it first).
        repo_id (`str`, *optional*): the Hub repository, used in the usage examples and as the model's name
            (default: the folder's name).
        metrics (`str`, `Path` or `Mapping`, *optional*): an evaluation run's `metrics.json`, its run folder, or the
            dict it holds (`sherlock.evaluation.scoring.score`). Needs `datasets`: the evaluation results name the
            last of them as the evaluated dataset.
        base_model (`str`, *optional*): the Hub id of the model it was trained from (metadata `base_model`).
        datasets (`str` or `list[str]`, *optional*): Hub ids of the datasets it was trained / evaluated on, the
            evaluation dataset last.
        license (`str`, *optional*, defaults to `"apache-2.0"`): the metadata license.
        trained (`bool`, *optional*): whether the weights are trained. Default: `False` for a folder stamped as
            random by `sherlock_demo.json`, else `True` when there is a training record (given or in the folder),
            else `False` (a model without a record is taken as untrained, e.g. a tiny or converted one).
        training (`Mapping`, path or a list of them, *optional*): training records in the format of
            `sherlock_training.json`, in stage order. Default: the folder's `sherlock_training.json` (its
            `base_record` names the stage before).

    Returns:
        `huggingface_hub.ModelCard`.

    Raises:
        `FileNotFoundError` for a missing folder, `config.json`, metrics or training file; `ValueError` for a file
        that is not JSON or not what it should be (the message names it), metrics without `datasets`, or
        `trained=True` for weights stamped random.
    """
    from huggingface_hub import ModelCard, ModelCardData

    folder = Path(model_folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Model folder {folder} does not exist or is not a directory.")
    datasets = [datasets] if isinstance(datasets, str) else list(datasets or [])
    model_config = _model_config(folder)
    stamp = _read_json(folder / DEMO_STAMP, "demo stamp") if (folder / DEMO_STAMP).is_file() else {}
    random_weights = bool(stamp.get("random_weights"))
    stages = _training_stages(folder, training)
    if trained is None:
        trained = bool(stages) and not random_weights
    elif trained and random_weights:
        raise ValueError(f"trained=True, but {folder / DEMO_STAMP} says the weights of {folder} are random.")
    name = repo_id.rstrip("/").split("/")[-1] if repo_id else folder.resolve().name

    evaluation, eval_results = None, None
    if metrics is not None:
        values, source = load_metrics(metrics)
        if not datasets:
            raise ValueError(
                f"Metrics ({source}) need `datasets`: the evaluation results name the evaluated dataset (the last one)."
            )
        evaluation = _evaluation(values, name, datasets[-1])
        eval_results = _eval_results(values, datasets[-1]) or None

    card_data = ModelCardData(
        base_model=base_model,
        datasets=datasets or None,
        license=license,
        library_name="transformers",
        pipeline_tag=PIPELINE_TAG,
        tags=list(TAGS),
        eval_results=eval_results,
        model_name=name,
    )
    with importlib.resources.as_file(importlib.resources.files("sherlock").joinpath(TEMPLATE)) as template:
        return ModelCard.from_template(
            card_data,
            template_path=str(template),
            model_name=name,
            repo_ref=repo_id or f"path/to/{name}",
            trained=trained,
            random_weights=random_weights,
            training=stages,
            evaluation=evaluation,
            model_config=model_config,
            processor=_processor(folder),
            requirements=_requirements(),
        )


# ------------------------------------------------------------------------------------------------------- files


def _read_json(path: Path, what: str):
    if not path.is_file():
        raise FileNotFoundError(f"The {what} file {path} does not exist.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"The {what} file {path} is not valid JSON: {error}") from error


def load_metrics(metrics) -> tuple[dict, str]:
    """`(metrics, source)`: the dict of an evaluation run's `metrics.json`, from the file, its run folder or the dict
    itself, checked (`source` names it in errors).

    Raises:
        `FileNotFoundError` for a missing file; `ValueError` for a file that is not JSON, or content that is not a
        `metrics.json` (no headline metric, or a value that is not a number).
    """
    if isinstance(metrics, Mapping):
        values, source = metrics, "the metrics dict"
    elif isinstance(metrics, (str, os.PathLike)):
        path = Path(metrics)
        if path.is_dir():
            path = path / METRICS_FILE
        values, source = _read_json(path, "metrics"), f"metrics file {path}"
    else:
        raise TypeError(f"`metrics` must be a path or a mapping, got {type(metrics).__name__}.")
    if not isinstance(values, Mapping):
        raise ValueError(f"The {source} holds {type(values).__name__}, not an object of metrics.")
    headline = _headline(values, source)
    if not headline:
        raise ValueError(
            f"The {source} has none of the metrics of `sherlock evaluate` "
            f"(extraction.quadruple, localization.map@0.3, classification.fnr, ...)."
        )
    return dict(values), source


def _headline(values: Mapping, source: str = "metrics") -> dict[str, float | None]:
    """`{"extraction.single.subject": value, ...}`: the headline metrics present (fractions; None for null)."""
    flat = {}

    def add(key, value):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            raise ValueError(f"The {source}: `{key}` is not a number ({value!r}).")
        flat[key] = None if value is None or not math.isfinite(value) else float(value)

    def group(name) -> Mapping:
        value = values.get(name, {})
        if not isinstance(value, Mapping):
            raise ValueError(f"The {source}: `{name}` is not an object ({value!r}).")
        return value

    extraction = group("extraction")
    for kind in ("single", "pair"):
        scores = extraction.get(kind, {})
        if not isinstance(scores, Mapping):
            raise ValueError(f"The {source}: `extraction.{kind}` is not an object ({scores!r}).")
        for key, value in scores.items():
            add(f"extraction.{kind}.{key}", value)
    if "quadruple" in extraction:
        add("extraction.quadruple", extraction["quadruple"])
    for key, value in group("localization").items():
        add(f"localization.{key}", value)
    classification = group("classification")
    for key in ("fnr", "f2"):
        if key in classification:
            add(f"classification.{key}", classification[key])
    return flat


def _training_stages(folder: Path, training) -> list[dict]:
    if training is None:
        path = folder / RECORD_FILE
        records = [_read_json(path, "training record")] if path.is_file() else []
        sources = [str(path)]
    else:
        items = [training] if isinstance(training, (Mapping, str, os.PathLike)) else list(training)
        records, sources = [], []
        for item in items:
            if isinstance(item, Mapping):
                records.append(item)
                sources.append("the training record")
            else:
                records.append(_read_json(Path(item), "training record"))
                sources.append(str(item))
    for record, source in zip(records, sources):
        if not isinstance(record, Mapping):
            raise ValueError(f"The training record ({source}) holds {type(record).__name__}, not an object.")
    stages = []
    first = records[0] if records else None
    base = first.get("base_record") if first else None
    if isinstance(base, Mapping) and base.get("stage") is not None and base.get("stage") != first.get("stage"):
        stages.append(_stage({k: base.get(k) for k in ("stage", "dataset", "base_model")}, partial=True))
    stages += [_stage(record) for record in records]
    return stages


# ------------------------------------------------------------------------------------------------------- formatting


def _public_name(value) -> str | None:
    """A Hub id as it is; a local path as its folder name (no local path on a public card)."""
    if value is None:
        return None
    text = str(value)
    local = text.startswith(("/", "~", ".")) or "\\" in text or text.count("/") > 1
    if local or os.path.exists(os.path.expanduser(text)):
        return f"a local folder (`{Path(text).name}`)"
    return text


def _number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(value)
    return f"{float(value):.4g}"


def _count(value: int) -> str:
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return str(value)


def _stage(record: Mapping, partial: bool = False) -> dict:
    """One training stage for the template (see `sherlock.training.export.write_record` for the record's keys)."""
    stage = record.get("stage")
    arguments = record.get("arguments") or {}
    facts = []
    for label, value in (
        ("Trained from", _public_name(record.get("base_model"))),
        ("Dataset", _public_name(record.get("dataset"))),
        ("Dataset config", record.get("dataset_config")),
        ("Split", record.get("split")),
        ("Rows", record.get("rows")),
        ("Sources", ", ".join(record["sources"]) if record.get("sources") else None),
        ("Without", ", ".join(record["ablations"]) if record.get("ablations") else None),
        ("Optimizer steps", record.get("global_step")),
        ("Training loss", _number(record["train_loss"]) if record.get("train_loss") is not None else None),
        ("Training time", f"{float(record['seconds']):.0f} s" if record.get("seconds") is not None else None),
    ):
        if value is not None:
            facts.append((label, value))
    hyperparameters = []
    for label, key in (
        ("learning rate", "learning_rate"),
        ("schedule", "lr_scheduler_type"),
        ("warm-up ratio", "warmup_ratio"),
        ("epochs", "num_train_epochs"),
        ("batch per device", "per_device_train_batch_size"),
        ("gradient accumulation", "gradient_accumulation_steps"),
        ("GSB α", "gsb_loss_coef"),
        ("seed", "seed"),
    ):
        if arguments.get(key) is not None:
            hyperparameters.append((label, _number(arguments[key])))
    if arguments.get("max_steps") is not None and arguments["max_steps"] > 0:
        hyperparameters.append(("max steps", _number(arguments["max_steps"])))
    epochs = record.get("epochs") or []
    last = epochs[-1] if epochs and isinstance(epochs[-1], Mapping) else {}
    versions = record.get("versions") or {}
    lora = record.get("lora")
    return {
        "stage": stage,
        "kind": {1: "spatial pre-tuning", 2: "M-VAE instruction tuning"}.get(stage),
        "partial": partial,
        "facts": facts,
        "lora": lora if isinstance(lora, Mapping) else None,
        "full": not partial and "lora" in record and lora is None,
        "hyperparameters": hyperparameters,
        "final_epoch": [
            (k, _number(last[k])) for k in ("epoch", "loss", "lm_loss", "gsb_loss") if last.get(k) is not None
        ],
        "gate": [(k, f"{float(v):.3f}") for k, v in (last.get("gate") or {}).items() if v is not None],
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()) if isinstance(versions, Mapping) else None,
    }


def _model_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{folder} has no config.json: give a saved Sherlock model (a LoRA export of `sherlock train` without "
            "--merge holds only the adapter)."
        )
    raw = _read_json(path, "model config")
    if not isinstance(raw, Mapping) or raw.get("model_type") != "sherlock":
        kind = raw.get("model_type") if isinstance(raw, Mapping) else type(raw).__name__
        raise ValueError(f"The model config file {path} is not a Sherlock config (model_type {kind!r}).")
    from modeling_sherlock import SherlockConfig

    config = SherlockConfig.from_json_file(str(path))
    total, language = _parameters(folder)
    text = config.text_config
    llm = (
        f"{text.model_type}, hidden size {text.hidden_size}, {text.num_hidden_layers} layers, "
        f"{text.num_attention_heads} attention heads, vocabulary {text.vocab_size}"
    )
    if language:
        llm += f" ({_count(language)} parameters)"
    return {
        "experts": list(config.experts),
        "ablations": [EXPERT_ABLATIONS[e] for e in EXPERT_ABLATIONS if e not in config.experts]
        + (["w/o EG"] if config.gate == "uniform" else [])
        + (["w/o SIR"] if config.gsb_loss_coef == 0 else []),
        "gate": config.gate,
        "gsb_variant": config.gsb_variant,
        "gsb_loss_coef": _number(config.gsb_loss_coef),
        "expert_output": config.expert_output,
        "gate_norm": config.gate_norm,
        "action_pose_embedding": config.action_pose_embedding,
        "expert_hidden_size": config.expert_hidden_size,
        "expert_num_layers": config.expert_num_layers,
        "expert_num_heads": config.expert_num_heads,
        "llm": llm,
        "vision": _tower(config.vision_config),
        "background": _tower(config.background_vision_config, config.background_tower_name_or_path)
        if "background" in config.experts and config.background_vision_config is not None
        else None,
        "parameters": f"{_count(total)} in all" if total else None,
    }


def _tower(config, source: str | None = None) -> str:
    text = (
        f"{config.model_type}, hidden size {config.hidden_size}, {config.num_hidden_layers} layers, "
        f"{config.image_size} px images, patch {config.patch_size}"
    )
    return text + (f", weights from {_public_name(source)}" if source else "")


def _parameters(folder: Path) -> tuple[int, int]:
    """(all parameters, the language model's) from the safetensors headers (0, 0 without weights)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(_read_json(index, "weight index").get("weight_map", {}).values()))
    else:
        files = ["model.safetensors"]
    total = language = 0
    for name in files:
        path = folder / name
        if not path.is_file():
            return 0, 0
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        for key, info in header.items():
            if key == "__metadata__":
                continue
            count = math.prod(info["shape"])
            total += count
            if key.startswith(("language_model.", "model.language_model.")):
                language += count
    return total, language


def _processor(folder: Path) -> dict | None:
    path = folder / "processor_config.json"
    if not path.is_file():
        return None
    config = _read_json(path, "processor config")
    if config.get("fps"):
        frames = f"sampled at {_number(config['fps'])} per second"
    else:
        frames = f"{config.get('num_frames', 8)}, sampled uniformly over the video"
    extractors = []
    settings = config.get("extractors") or {}
    for part in EXTRACTOR_PARTS:
        setting = settings.get(part)
        if isinstance(setting, Mapping) and setting.get("backend"):
            model = setting.get("model")
            extractors.append(f"{part} {setting['backend']}" + (f" ({_public_name(model)})" if model else ""))
    return {"frames": frames, "extractors": extractors}


def _requirements() -> list[dict]:
    """The packages the processor's remote code needs beyond torch and transformers (`REQUIRED_PACKAGES`)."""
    from processing.processing_sherlock import REQUIRED_PACKAGES

    return [{"pip": pip, "use": use} for pip, use in REQUIRED_PACKAGES.values()]


def _evaluation(values: Mapping, label: str, dataset: str) -> dict:
    from .evaluation.report import TABLE2_GROUPS, percent

    headline = _headline(values)
    header, names, cells = [""], [""], [label]
    for group_name, *columns in TABLE2_GROUPS:
        keys = [(_metric_key(group, key), title) for group, key, title in columns]
        prefix = {"single": "extraction.single.", "pair": "extraction.pair.", "localization": "localization."}.get(
            columns[0][0]
        )
        known = {key for key, _ in keys}
        if prefix:  # keys of this group in the metrics that the paper's layout does not name
            keys += [(key, key[len(prefix) :]) for key in headline if key.startswith(prefix) and key not in known]
        keys = [(key, title) for key, title in keys if key in headline]
        for index, (key, title) in enumerate(keys):
            header.append(group_name if index == 0 else "")
            names.append(f"**{title}**")
            cells.append(percent(headline[key]))
    table2 = {"header": header, "names": names, "cells": cells} if len(header) > 1 else None

    classification = values.get("classification") or {}
    details = values.get("details") or {}
    table3 = None
    if "fnr" in classification or "f2" in classification:
        per_scene = classification.get("per_scene_fnr") or {}
        per_scene_f2 = (details.get("classification") or {}).get("per_scene_f2") or {}
        scenes = list(per_scene)
        rows = []
        if "fnr" in classification:
            rows.append(["FNRs", percent(classification["fnr"]), *(percent(per_scene[s]) for s in scenes)])
        if "f2" in classification:
            rows.append(["F2", percent(classification["f2"]), *(percent(per_scene_f2.get(s)) for s in scenes)])
        table3 = {"header": ["", "Overall", *scenes], "rows": rows}
    counts = details.get("counts") or {}
    return {
        "dataset": dataset,
        "table2": table2,
        "table3": table3,
        "fps": f"{details.get('fps', 8.0):g}",
        "videos": counts.get("videos"),
        "gold_events": counts.get("gold_events"),
    }


def _metric_key(group: str, key: str | None) -> str:
    if group == "quadruple":
        return "extraction.quadruple"
    if group == "localization":
        return f"localization.{key}"
    return f"extraction.{group}.{key}"


def _eval_results(values: Mapping, dataset: str) -> list:
    """One `EvalResult` per headline metric with a value (percent, two decimals, as in the card's tables); the
    metrics.json key is its `metric_config`."""
    from huggingface_hub import EvalResult

    results = []
    for key, value in _headline(values).items():
        if value is None:
            continue
        name, kind = METRIC_NAMES.get(key, (f"{key} (%)", key.rsplit(".", 1)[-1]))
        results.append(
            EvalResult(
                task_type=PIPELINE_TAG,
                task_name=TASK_NAME,
                dataset_type=dataset,
                dataset_name=dataset,
                metric_type=kind,
                metric_name=name,
                metric_config=key,
                metric_value=round(100.0 * value, 2),
            )
        )
    return results


__all__ = ["load_metrics", "render_model_card"]
