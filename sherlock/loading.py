"""Finding and loading a Sherlock model for the commands (`analyze`, `evaluate`, `precompute`, `train`, `push`) and
the Space: `resolve_model` checks a `--model` value with the standard library and the Hub client only, `load_sherlock`
loads the model and its processor. Shared by every command, so it lives below them (the dispatcher `sherlock.cli`
imports the commands, never the other way round)."""

import logging
import os
import threading
from pathlib import Path

from .arguments import one_line


logger = logging.getLogger("sherlock")

DEMO_MODEL = "demo"
# Seconds to wait for the Hub before saying that it cannot be reached (env SHERLOCK_HUB_TIMEOUT).
HUB_TIMEOUT = float(os.environ.get("SHERLOCK_HUB_TIMEOUT", "5"))
# Files a Sherlock model folder holds.
MODEL_FILES = ("config.json", "processor_config.json")


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


def _hub_error(repo_id: str, error: Exception) -> str | None:
    """Why the Hub refuses `repo_id` (not found, gated, ...), or None when the Hub could not be reached at all."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    if isinstance(error, GatedRepoError):
        return f"model {repo_id!r} is gated on the Hub: request access and log in (`hf auth login`)"
    if isinstance(error, RepositoryNotFoundError):
        return f"model {repo_id!r} not found on the Hub (or private: log in with `hf auth login`)"
    if isinstance(error, HfHubHTTPError) and getattr(error, "response", None) is not None:
        return f"the Hub refused model {repo_id!r} (HTTP {error.response.status_code})"
    return None


def _ask_hub(model_info, repo_id: str) -> Exception | None:
    """`model_info(repo_id)` within `HUB_TIMEOUT` seconds: None when the Hub answered, else the error (a
    `TimeoutError` when it did not answer in time; the request runs in a daemon thread, so a name lookup that hangs
    cannot hold the command)."""
    outcome: list = []

    def ask():
        try:
            model_info(repo_id, timeout=HUB_TIMEOUT)
            outcome.append(None)
        except Exception as error:  # any failure: refused, timed out, DNS, proxy, HTTP errors
            outcome.append(error)

    thread = threading.Thread(target=ask, name="sherlock-hub-probe", daemon=True)
    thread.start()
    thread.join(HUB_TIMEOUT + 1.0)
    if not outcome:
        return TimeoutError(f"no answer within {HUB_TIMEOUT:g} s")
    return outcome[0]


def resolve_model(model: str, required_files: tuple[str, ...] = MODEL_FILES) -> str:
    """Check `--model` without loading anything heavy; returns what to load it from.

    - `demo` stays `demo`;
    - an existing path must be a model folder with `required_files` (default: a Sherlock folder, `config.json` and
      `processor_config.json`);
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
        missing = [name for name in required_files if not (path / name).is_file()]
        if missing:
            kind = "a Sherlock model" if required_files == MODEL_FILES else "a model folder"
            raise ModelNotFoundError(f"model folder {model!r} is not {kind} (no {' or '.join(missing)})")
        return str(path)
    if not _looks_like_hub_id(model):
        raise ModelNotFoundError(f"model {model!r} not found: give a model folder, a Hub id or 'demo'")

    from huggingface_hub import constants, model_info, snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        cached = snapshot_download(model, local_files_only=True)
    except HFValidationError as error:
        raise ModelNotFoundError(f"model {model!r} is not a valid Hub id ({error})") from error
    except (LocalEntryNotFoundError, OSError, ValueError):
        cached = None
    offline = constants.HF_HUB_OFFLINE or os.environ.get("TRANSFORMERS_OFFLINE", "").upper() in ("1", "ON", "YES")
    if offline:
        if cached is None:
            raise ModelNotFoundError(
                f"model {model!r} is not in the local cache and the Hub cannot be reached (HF_HUB_OFFLINE is set): "
                "download it first or give a local folder"
            )
        return cached
    error = _ask_hub(model_info, model)
    if error is not None:
        refused = _hub_error(model, error)
        if refused is not None:
            raise ModelNotFoundError(refused) from error
        if cached is None:
            raise ModelNotFoundError(
                f"model {model!r} is not in the local cache and the Hub cannot be reached ({type(error).__name__}: "
                f"{one_line(error)[:160]}): check the network or give a local folder"
            ) from error
        logger.warning("The Hub cannot be reached: using the cached copy of %s", model)
        return cached
    return model


def quiet_libraries(verbose: bool) -> None:
    """Only errors from transformers and huggingface_hub, no download bars (unless `verbose`)."""
    if verbose:
        return
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    hub_logging.set_verbosity_error()


def default_cache_dir(processor, model_path: str) -> str | None:
    """The feature cache of a loaded model: the processor's, else `<model>/feature_cache` for a local folder outside
    the Hub cache (never written into a Hub snapshot), else None."""
    if processor.feature_cache_dir is not None:
        return processor.feature_cache_dir
    if Path(model_path).is_dir() and not _in_hub_cache(model_path):
        return str(Path(model_path) / "feature_cache")
    return None


def demo_model_path(model_path: str) -> str:
    """The demo model's folder for "demo" (built on first use, with a warning that its weights are random)."""
    if model_path != DEMO_MODEL:
        return model_path
    from .demo import ensure_demo_model

    logger.warning(
        "Using the built-in demo model: tiny and RANDOMLY initialised, so its events are not meaningful "
        "(no trained Sherlock checkpoint exists yet: pass --model for real answers)."
    )
    return str(ensure_demo_model())


def load_sherlock(
    model_path: str,
    device: str = "cpu",
    cache_dir: str | None = None,
    num_frames: int | None = None,
    dtype: str = "auto",
):
    """A Sherlock model (eval mode, on `device`, in `dtype`) and its processor from a resolved `--model` value
    ("demo": the built-in tiny random model). The feature cache is `cache_dir`, else `default_cache_dir`;
    `num_frames` replaces the processor's sampling (also an `fps` one)."""
    from modeling_sherlock import SherlockForConditionalGeneration
    from processing import SherlockProcessor

    model_path = demo_model_path(model_path)
    processor = SherlockProcessor.from_pretrained(model_path)
    processor.feature_cache_dir = cache_dir if cache_dir is not None else default_cache_dir(processor, model_path)
    if num_frames is not None:
        processor.num_frames, processor.fps = num_frames, None
    model = SherlockForConditionalGeneration.from_pretrained(model_path, dtype=dtype).to(device).eval()
    return model, processor


def _in_hub_cache(path: str) -> bool:
    """Whether `path` is a snapshot folder of the Hugging Face cache (never write a feature cache there)."""
    return Path(path).resolve().parent.name == "snapshots"


__all__ = [
    "DEMO_MODEL",
    "HUB_TIMEOUT",
    "MODEL_FILES",
    "ModelNotFoundError",
    "default_cache_dir",
    "demo_model_path",
    "load_sherlock",
    "quiet_libraries",
    "resolve_model",
]
