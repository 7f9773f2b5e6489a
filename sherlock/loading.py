"""Finding and loading a Sherlock model for the commands (`analyze`, `evaluate`, `precompute`, `train`, `push`) and
the Space: `resolve_model` checks a `--model` value with the standard library and the Hub client only, `load_sherlock`
loads the model and its processor (`load_model`, `processor_source`), `resolve_dataset` checks a Hub dataset the same
way. Shared by every command, so it lives below them (the dispatcher `sherlock.cli` imports the commands, never the
other way round).

A model argument is one of:
- `demo`: the built-in tiny model trained on synthetic videos (`sherlock.demo`, copied from the package on first use);
- a model folder (`config.json`) or a Hub id (`org/name`);
- a LoRA adapter: a PEFT folder (`adapter_config.json`), or the export folder of a `sherlock train` LoRA run without
  `--merge` (`adapter/` beside the processor and `sherlock_training.json`). Its base is loaded first (with the
  config switches of the run, from its training record), then the adapter, merged.

**Where an adapter's base is written** (`base_reference`, `adapter_base`). `adapter_config.json`'s
`base_model_name_or_path` names the base as PEFT expects: a Hub id or `demo` as is; a local folder as its path
RELATIVE TO THE ADAPTER FOLDER, always starting with `./` or `../` (so that it is never taken for a Hub id). No
absolute path is saved: the export keeps working when it moves together with its base (a project folder copied or
renamed); moved alone, loading stops with one line that names where the base was expected and how to point at it
(edit `base_model_name_or_path` to the base's folder or Hub id; PEFT reads it too). An older export with `null`
there falls back to the `base_model` of its training record.
"""

import json
import logging
import os
import threading
import warnings
from pathlib import Path

from .arguments import UsageError, one_line


logger = logging.getLogger("sherlock")

DEMO_MODEL = "demo"
# Seconds to wait for the Hub before saying that it cannot be reached (env SHERLOCK_HUB_TIMEOUT).
HUB_TIMEOUT = float(os.environ.get("SHERLOCK_HUB_TIMEOUT", "5"))
# Files a Sherlock model folder holds.
MODEL_FILES = ("config.json", "processor_config.json")
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_DIR = "adapter"  # the adapter folder inside the export of a `sherlock train` LoRA run
RECORD_FILE = "sherlock_training.json"  # the training record of a `sherlock train` export


class ModelNotFoundError(OSError):
    """The `--model` value names no local Sherlock folder and no usable Hub repo (one-line message)."""


def _looks_like_hub_id(value: str) -> bool:
    parts = value.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not value.startswith((".", "/", "~"))
        and not any(c.isspace() or c in "\\:" for c in value)
    )


def _hub_error(repo_id: str, error: Exception, kind: str = "model") -> str | None:
    """Why the Hub refuses `repo_id` (not found, gated, ...), or None when the Hub could not be reached at all."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    if isinstance(error, GatedRepoError):
        return f"{kind} {repo_id!r} is gated on the Hub: request access and log in (`hf auth login`)"
    if isinstance(error, RepositoryNotFoundError):
        return f"{kind} {repo_id!r} not found on the Hub (or private: log in with `hf auth login`)"
    if isinstance(error, HfHubHTTPError) and getattr(error, "response", None) is not None:
        return f"the Hub refused {kind} {repo_id!r} (HTTP {error.response.status_code})"
    return None


class _ThreadFilter(logging.Filter):
    """Drops the records that one thread emits (the Hub probe's retry warnings), lets every other through."""

    def __init__(self, thread: threading.Thread):
        super().__init__()
        self.thread = thread

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread is None or record.thread != self.thread.ident


def _hub_loggers() -> list[logging.Logger]:
    """huggingface_hub's logger and the ones below it (a logger's filters see only the records made on it, not those
    its children pass up)."""
    children = [
        item
        for name, item in logging.Logger.manager.loggerDict.items()
        if name.startswith("huggingface_hub.") and isinstance(item, logging.Logger)
    ]
    return [logging.getLogger("huggingface_hub"), *children]


def _ask_hub(info, repo_id: str) -> Exception | None:
    """`info(repo_id)` (`model_info` / `dataset_info`) within `HUB_TIMEOUT` seconds: None when the Hub answered, else
    the error (a `TimeoutError` when it did not answer in time; the request runs in a daemon thread, so a name lookup
    that hangs cannot hold the command). huggingface_hub's log records from that thread (its retry warnings) are
    dropped until the thread ends, also after a timeout, while the thread still retries: the caller says what
    happened, in one line. Records of the other threads pass."""
    outcome: list = []
    loggers = _hub_loggers()

    def ask():
        try:
            info(repo_id, timeout=HUB_TIMEOUT)
            outcome.append(None)
        except Exception as error:  # any failure: refused, timed out, DNS, proxy, HTTP errors
            outcome.append(error)
        finally:
            for item in loggers:
                item.removeFilter(quiet)

    thread = threading.Thread(target=ask, name="sherlock-hub-probe", daemon=True)
    quiet = _ThreadFilter(thread)
    for item in loggers:
        item.addFilter(quiet)
    try:
        thread.start()
    except BaseException:
        for item in loggers:
            item.removeFilter(quiet)
        raise
    thread.join(HUB_TIMEOUT + 1.0)
    if not outcome:
        return TimeoutError(f"no answer within {HUB_TIMEOUT:g} s")
    return outcome[0]


def _offline() -> bool:
    from huggingface_hub import constants

    return constants.HF_HUB_OFFLINE or os.environ.get("TRANSFORMERS_OFFLINE", "").upper() in ("1", "ON", "YES")


def _resolve_hub_repo(repo_id: str, kind: str, hint: str = "check the network or give a local folder") -> str:
    """A Hub id (`kind` "model" or "dataset") checked as `resolve_model` documents: the id itself when the Hub
    answers, the cached snapshot folder when it cannot be reached; `ModelNotFoundError` (one line) otherwise."""
    from huggingface_hub import dataset_info, model_info, snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    repo_type = None if kind == "model" else kind
    try:
        cached = snapshot_download(repo_id, repo_type=repo_type, local_files_only=True)
    except HFValidationError as error:
        raise ModelNotFoundError(f"{kind} {repo_id!r} is not a valid Hub id ({error})") from error
    except (LocalEntryNotFoundError, OSError, ValueError):
        cached = None
    if _offline():
        if cached is None:
            raise ModelNotFoundError(
                f"{kind} {repo_id!r} is not in the local cache and the Hub cannot be reached (HF_HUB_OFFLINE is set): "
                "download it first or give a local folder"
            )
        return cached
    error = _ask_hub(model_info if kind == "model" else dataset_info, repo_id)
    if error is not None:
        refused = _hub_error(repo_id, error, kind)
        if refused is not None:
            raise ModelNotFoundError(refused) from error
        if cached is None:
            raise ModelNotFoundError(
                f"{kind} {repo_id!r} is not in the local cache and the Hub cannot be reached ({type(error).__name__}: "
                f"{one_line(error)[:160]}): {hint}"
            ) from error
        logger.warning("The Hub cannot be reached: using the cached copy of %s", repo_id)
        return cached
    return repo_id


def resolve_model(model: str, required_files: tuple[str, ...] = MODEL_FILES) -> str:
    """Check `--model` without loading anything heavy; returns what to load it from.

    - `demo` stays `demo`;
    - an existing path must be a model folder with `required_files` (default: a Sherlock folder, `config.json` and
      `processor_config.json`), or a LoRA adapter (module docstring) whose base resolves (the files its export
      folder lacks, e.g. the processor of a bare PEFT folder, must be the base's);
    - a Hub id (`org/name`) is looked up in the local cache first: when it is not cached, the Hub must answer within
      `HUB_TIMEOUT` seconds (and not be switched off with `HF_HUB_OFFLINE`); when it is cached but the Hub cannot be
      reached, the cached snapshot folder is used.

    Raises `ModelNotFoundError` with a one-line message otherwise.
    """
    if model == DEMO_MODEL:
        return model
    path = Path(os.path.expanduser(model))
    if path.exists():
        if not path.is_dir():
            raise ModelNotFoundError(f"model {model!r} is a file: give a model folder, a Hub id or 'demo'")
        adapter = adapter_folder(path)
        if adapter is not None:
            home = export_folder(adapter)
            needed = tuple(name for name in required_files if not (home / name).is_file())
            resolve_model(adapter_base(adapter), required_files=tuple(dict.fromkeys(("config.json", *needed))))
            return str(path)
        missing = [name for name in required_files if not (path / name).is_file()]
        if missing:
            kind = "a Sherlock model" if required_files == MODEL_FILES else "a model folder"
            raise ModelNotFoundError(
                f"model folder {model!r} is not {kind} (no {' or '.join(missing)}, and no {ADAPTER_CONFIG} of a "
                "LoRA adapter)"
            )
        return str(path)
    if not _looks_like_hub_id(model):
        raise ModelNotFoundError(f"model {model!r} not found: give a model folder, a Hub id or 'demo'")
    return _resolve_hub_repo(model, "model")


def resolve_dataset(dataset: str) -> str:
    """Check a `--dataset` value before `datasets.load_dataset` (which retries an unreachable Hub for a minute, with
    two warnings per try): a local folder, a value that is no Hub id, a Hub id whose Hub answers within `HUB_TIMEOUT`
    seconds, and any Hub id under `HF_HUB_OFFLINE` (`datasets` then reads its own cache) as they are; a Hub id in the
    Hub cache while the Hub cannot be reached as its snapshot folder. `ModelNotFoundError` (one line) otherwise."""
    if Path(os.path.expanduser(dataset)).is_dir():
        return os.path.expanduser(dataset)
    if not _looks_like_hub_id(dataset) or _offline():
        return dataset  # not a Hub id: `datasets` says why; offline: `datasets` reads its own cache, without retries
    hint = "check the network, give a local folder, or set HF_HUB_OFFLINE=1 to read a copy that `datasets` cached"
    return _resolve_hub_repo(dataset, "dataset", hint)


# ------------------------------------------------------------------------------------------------------ adapters


def adapter_folder(path) -> Path | None:
    """The LoRA adapter folder that the model folder `path` stands for, or None: `path` itself when it holds
    `adapter_config.json`, `path/adapter` for the export of a `sherlock train` LoRA run without a merged model. A
    folder with a `config.json` is a model (a `--merge` export holds both: its merged model is used)."""
    path = Path(path)
    if not path.is_dir() or (path / "config.json").is_file():
        return None
    if (path / ADAPTER_CONFIG).is_file():
        return path
    if (path / ADAPTER_DIR / ADAPTER_CONFIG).is_file():
        return path / ADAPTER_DIR
    return None


def export_folder(adapter: Path) -> Path:
    """The folder that holds an adapter's processor and training record: the export folder of a `sherlock train` run
    for its `adapter/`, else the adapter folder itself."""
    adapter = Path(adapter)
    parent = adapter.parent
    if adapter.name == ADAPTER_DIR and any(
        (parent / name).is_file() for name in (RECORD_FILE, "processor_config.json")
    ):
        return parent
    return adapter


def read_training_record(folder, strict: bool = False) -> dict | None:
    """The `sherlock_training.json` of a local folder, or None (no file, or not a JSON object); `strict`: a file that
    is there but cannot be read or parsed raises `ValueError` (one line) instead."""
    path = Path(folder) / RECORD_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        if strict and path.is_file():
            raise ValueError(f"{path} is not a readable training record ({one_line(error)})") from error
        return None
    return record if isinstance(record, dict) else None


def model_training_record(model_path: str) -> dict | None:
    """The training record of a resolved `--model` value: a model folder's, the export folder's of a LoRA adapter, a
    Hub repo's (None when it has none or the Hub cannot be reached), None for `demo`. A record that is there but
    unreadable raises `ValueError` (`read_training_record`, strict)."""
    if model_path == DEMO_MODEL:
        return None
    if not Path(model_path).is_dir():
        try:
            from huggingface_hub import hf_hub_download

            folder = Path(hf_hub_download(model_path, RECORD_FILE)).parent
        except Exception:  # no such file in the repo, or the Hub cannot be reached: no record
            return None
        return read_training_record(folder, strict=True)
    adapter = adapter_folder(model_path)
    return read_training_record(export_folder(adapter) if adapter is not None else model_path, strict=True)


def check_pushable_base(model: str) -> None:
    """`sherlock train --push-to-hub` of a LoRA run without `--merge` pushes the adapter, whose base must be a Hub repo
    (PEFT loads the base by the id the adapter names): `UsageError` (one line, before training) when `--model` is
    the demo or a local folder."""
    from .hub_upload import PushError, check_hub_id

    try:
        if model == DEMO_MODEL:
            raise PushError("the demo model is built locally, not a Hub repo")
        check_hub_id(model, "--model")
    except PushError as error:
        raise UsageError(
            f"--push-to-hub without --merge pushes the LoRA adapter, whose base must be on the Hub: {error}; add "
            "--merge, or train from the base's Hub id"
        ) from None


def base_reference(base: str, adapter: Path) -> str | None:
    """What `base_model_name_or_path` of the adapter saved in `adapter` says for its base `base` (a `--model`
    value): `demo` and Hub ids as they are; a local folder as its path relative to `adapter`, starting with `./` or
    `../`; None when there is no relative path (another drive)."""
    if base == DEMO_MODEL:
        return base
    local = Path(os.path.expanduser(base))
    if not local.exists():
        return base
    try:
        relative = Path(os.path.relpath(local.resolve(), Path(adapter).resolve())).as_posix()
    except ValueError:
        return None
    if relative in (".", ".."):
        return f"{relative}/"
    return relative if relative.startswith("../") else f"./{relative}"


def adapter_base(adapter: Path) -> str:
    """The base model of an adapter folder, as a `--model` value (module docstring): `base_model_name_or_path`
    (`./` / `../` paths are relative to the adapter folder), else the `base_model` of the export's training record.
    `ModelNotFoundError` (one line) when neither names a base that exists."""
    adapter = Path(adapter)
    try:
        config = json.loads((adapter / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelNotFoundError(f"{adapter / ADAPTER_CONFIG} is not readable ({one_line(error)})") from error
    base = config.get("base_model_name_or_path") if isinstance(config, dict) else None
    how = f"edit base_model_name_or_path in {adapter / ADAPTER_CONFIG} to the base model's folder or Hub id"
    if isinstance(base, str) and base.startswith(("./", "../")):
        local = adapter / base
        if not local.is_dir():
            raise ModelNotFoundError(
                f"the base model of adapter {str(adapter)!r} is not where it was ({base!r}, i.e. {os.path.normpath(local)}"
                f" was moved?): {how}"
            )
        return os.path.normpath(local)
    if isinstance(base, str) and base:
        return base
    base = (read_training_record(export_folder(adapter)) or {}).get("base_model")
    if (
        isinstance(base, str)
        and base
        and (base == DEMO_MODEL or Path(os.path.expanduser(base)).exists() or _looks_like_hub_id(base))
    ):
        return base
    raise ModelNotFoundError(f"adapter {str(adapter)!r} does not name its base model: {how}")


def _adapter_of(model_path: str) -> Path | None:
    return None if model_path == DEMO_MODEL else adapter_folder(Path(model_path))


def processor_source(model_path: str) -> str:
    """Where the processor of a resolved `--model` value loads from: the demo's folder (built on first use), the
    model folder / Hub id itself, an adapter's export folder when it holds a processor, else the adapter's base's."""
    adapter = _adapter_of(model_path)
    if adapter is None:
        return demo_model_path(model_path, warn=False)
    home = export_folder(adapter)
    if (home / "processor_config.json").is_file():
        return str(home)
    return processor_source(resolve_model(adapter_base(adapter), required_files=("processor_config.json",)))


# ------------------------------------------------------------------------------------------------------- loading


def quiet_libraries(verbose: bool) -> None:
    """Only errors from transformers, huggingface_hub and datasets, no download bars (unless `verbose`)."""
    if verbose:
        return
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    hub_logging.set_verbosity_error()
    logging.getLogger("datasets").setLevel(logging.ERROR)


def default_cache_dir(processor, model_path: str) -> str | None:
    """The feature cache of a loaded model: the processor's, else `<model>/feature_cache` for a local folder outside
    the Hub cache (never written into a Hub snapshot), else None."""
    if processor.feature_cache_dir is not None:
        return processor.feature_cache_dir
    if Path(model_path).is_dir() and not _in_hub_cache(model_path):
        return str(Path(model_path) / "feature_cache")
    return None


def demo_model_path(model_path: str, warn: bool = True) -> str:
    """The demo model's folder for "demo" (copied from the package on first use; `warn`: say what it is), else
    `model_path` as it is."""
    if model_path != DEMO_MODEL:
        return model_path
    from .demo import ensure_demo_model

    if warn:
        logger.warning(
            "Using the built-in demo model: a tiny Sherlock trained on synthetic videos only (on real footage its "
            "answers mean nothing): pass --model for a real model."
        )
    return str(ensure_demo_model())


GATE_WEIGHTS = ("model.expert_gate.proj.weight", "model.expert_gate.proj.bias")


def keep_gate_rows(model, model_path: str, source_experts: list[str], info: dict) -> None:
    """After dropping experts from a soft-gated checkpoint: the gate's rows of the kept experts, read from the
    checkpoint (its softmax over the kept experts is the trained gate renormalised); anything else that did not fit
    is an error."""
    import torch
    from safetensors import safe_open
    from transformers.utils import cached_file

    mismatched = {entry[0] if isinstance(entry, (tuple, list)) else entry for entry in info.get("mismatched_keys", [])}
    if mismatched - set(GATE_WEIGHTS):
        raise ValueError(f"weights of {model_path} do not fit the model: {sorted(mismatched - set(GATE_WEIGHTS))[:3]}")
    keep = [source_experts.index(name) for name in model.config.experts]
    index = cached_file(model_path, "model.safetensors.index.json", _raise_exceptions_for_missing_entries=False)
    files = (
        json.loads(Path(index).read_text())["weight_map"]
        if index
        else dict.fromkeys(GATE_WEIGHTS, "model.safetensors")
    )
    with torch.no_grad():
        for name in GATE_WEIGHTS:
            path = cached_file(model_path, files[name])
            with safe_open(path, framework="pt") as handle:
                rows = handle.get_tensor(name)[keep]
            parameter = model.get_parameter(name)
            parameter.copy_(rows.to(parameter.dtype))
    logger.info("kept the gate rows of %s (of %s)", model.config.experts, source_experts)


def load_base_model(model_path: str, switches: dict | None = None, dtype="auto"):
    """`(model, kind)`: the Sherlock model of a model folder / Hub id with the config fields `switches` (`experts`,
    `gate`, `gsb_loss_coef`, `gsb_variant`) applied (dropped experts are not loaded; a soft gate keeps the rows of
    the remaining experts), or a Video-LLaVA one converted in memory (`sherlock.convert.convert_video_llava`); `kind`
    is "sherlock" or "video_llava". `demo` is the demo model; an adapter is its base with the adapter merged (its
    experts and gate cannot change: `UsageError` when `switches` would)."""
    from transformers import PretrainedConfig

    from modeling_sherlock import SherlockConfig, SherlockForConditionalGeneration

    from .convert import convert_video_llava, sherlock_config

    switches = dict(switches or {})
    if _adapter_of(model_path) is not None:
        model = load_adapter_model(_adapter_of(model_path), dtype)
        changed = [
            key for key in ("experts", "gate") if key in switches and switches[key] != getattr(model.config, key)
        ]
        if changed:
            raise UsageError(
                f"--model {model_path!r} is a LoRA adapter: its {' and '.join(changed)} cannot change (train from "
                "a model saved with --merge, or from its base)"
            )
        for key in ("gsb_loss_coef", "gsb_variant"):
            if key in switches:
                setattr(model.config, key, switches[key])
        return model, "sherlock"
    model_path = demo_model_path(model_path, warn=False)
    kind = PretrainedConfig.get_config_dict(model_path)[0].get("model_type")
    if kind == "video_llava":
        return convert_video_llava(model_path, dtype=dtype, **switches)[0], kind
    if kind != "sherlock":
        raise ValueError(f"model {model_path!r} is a {kind!r} model: give a Sherlock or a Video-LLaVA one")
    if not switches:
        return SherlockForConditionalGeneration.from_pretrained(model_path, dtype=dtype), kind
    source = SherlockConfig.from_pretrained(model_path)
    config = sherlock_config(source, **switches)
    fewer = config.gate == "soft" == source.gate and list(config.experts) != list(source.experts)
    model, info = SherlockForConditionalGeneration.from_pretrained(
        model_path, config=config, dtype=dtype, ignore_mismatched_sizes=fewer, output_loading_info=True
    )
    if fewer:
        keep_gate_rows(model, model_path, list(source.experts), info)
    return model, kind


def _record_switches(adapter: Path) -> dict:
    """The config switches (`experts`, `gate`, `gsb_loss_coef`, `gsb_variant`) of an adapter's training record."""
    record = read_training_record(export_folder(adapter)) or {}
    switches = record.get("config") if isinstance(record.get("config"), dict) else {}
    return {key: value for key, value in switches.items() if value is not None}


def model_config(model_path: str):
    """The config a resolved `--model` value loads with (without its weights): the demo's, a folder's or Hub id's (a
    Video-LLaVA config as it is), an adapter's base's with the switches of its training record."""
    from transformers import AutoConfig, PretrainedConfig

    from .convert import sherlock_config

    adapter = _adapter_of(model_path)
    if adapter is not None:
        base = model_config(resolve_model(adapter_base(adapter), required_files=("config.json",)))
        return sherlock_config(base, **_record_switches(adapter))
    model_path = demo_model_path(model_path, warn=False)
    kind = PretrainedConfig.get_config_dict(model_path)[0].get("model_type")
    if kind == "sherlock":
        from modeling_sherlock import SherlockConfig

        return SherlockConfig.from_pretrained(model_path)
    return AutoConfig.from_pretrained(model_path)


def load_adapter_model(adapter: Path, dtype="auto"):
    """The model of a LoRA adapter folder: its base (`adapter_base`, resolved; itself an adapter, possibly) with the
    config switches of the adapter's training record, then the adapter (PEFT), merged into the weights."""
    try:
        from peft import PeftModel
    except ImportError as error:
        raise ImportError(f"{adapter} is a LoRA adapter: loading it needs PEFT (pip install 'peft>=0.21')") from error

    switches = _record_switches(adapter)
    base = resolve_model(adapter_base(adapter), required_files=("config.json",))
    model, _ = load_base_model(base, switches, dtype)
    with warnings.catch_warnings():  # PEFT 0.21 reads a renamed transformers attribute (see `training.lora`)
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    logger.info("loaded adapter %s onto its base %s (merged)", adapter, base)
    return model


def load_model(model_path: str, dtype="auto"):
    """The Sherlock model of a resolved `--model` value: `demo`, a model folder / Hub id, or a LoRA adapter (its base,
    then the adapter, merged)."""
    adapter = _adapter_of(model_path)
    if adapter is not None:
        return load_adapter_model(adapter, dtype)
    from modeling_sherlock import SherlockForConditionalGeneration

    return SherlockForConditionalGeneration.from_pretrained(demo_model_path(model_path, warn=False), dtype=dtype)


def load_sherlock(
    model_path: str,
    device: str = "cpu",
    cache_dir: str | None = None,
    num_frames: int | None = None,
    dtype: str = "auto",
):
    """A Sherlock model (eval mode, on `device`, in `dtype`) and its processor from a resolved `--model` value
    ("demo": the built-in tiny demo model; a LoRA adapter: its base with the adapter merged). The feature cache is
    `cache_dir`, else `default_cache_dir`; `num_frames` replaces the processor's sampling (also an `fps` one)."""
    from processing import SherlockProcessor

    demo_model_path(model_path)  # the demo's warning, once
    source = processor_source(model_path)
    processor = SherlockProcessor.from_pretrained(source)
    processor.feature_cache_dir = cache_dir if cache_dir is not None else default_cache_dir(processor, source)
    if num_frames is not None:
        processor.num_frames, processor.fps = num_frames, None
    model = load_model(model_path, dtype=dtype).to(device).eval()
    return model, processor


def _in_hub_cache(path: str) -> bool:
    """Whether `path` is a snapshot folder of the Hugging Face cache (never write a feature cache there)."""
    return Path(path).resolve().parent.name == "snapshots"


__all__ = [
    "ADAPTER_CONFIG",
    "ADAPTER_DIR",
    "DEMO_MODEL",
    "HUB_TIMEOUT",
    "MODEL_FILES",
    "RECORD_FILE",
    "ModelNotFoundError",
    "adapter_base",
    "adapter_folder",
    "base_reference",
    "check_pushable_base",
    "default_cache_dir",
    "demo_model_path",
    "export_folder",
    "load_adapter_model",
    "load_base_model",
    "load_model",
    "load_sherlock",
    "model_config",
    "model_training_record",
    "processor_source",
    "quiet_libraries",
    "read_training_record",
    "resolve_dataset",
    "resolve_model",
]
