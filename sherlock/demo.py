"""The built-in demo model of `sherlock analyze` (`--model demo`): a tiny RANDOMLY initialised Sherlock with tiny random
extractors, built locally on first use (nothing is downloaded). It exercises the whole pipeline — decoding, the
extractors, the feature cache, generation and parsing — but its answers are not meaningful: no trained Sherlock
checkpoint exists yet."""

import json
import logging
import os
import tempfile
from pathlib import Path

from .tiny_extractors import build_tiny_extractor_models, tiny_extractor_settings
from .tiny_models import build_tiny_sherlock


logger = logging.getLogger(__name__)

# 2: extractor models inside the folder, referenced relative to it; 3: expert initialisation and the action
# expert's per-person keypoints (`person_proj`): a folder built before would miss weights
DEMO_VERSION = 3
EXAMPLE_VIDEO = Path(__file__).resolve().parents[1] / "examples" / "demo.mp4"


def default_demo_dir() -> Path:
    """`$SHERLOCK_HOME/demo-tiny-random` (default `~/.cache/sherlock/demo-tiny-random`)."""
    home = Path(os.environ.get("SHERLOCK_HOME", Path.home() / ".cache" / "sherlock"))
    return home / "demo-tiny-random"


def demo_extractor_settings(paths: dict[str, str]) -> dict:
    """The demo model's extractor settings for the tiny extractor models at `paths` (`build_tiny_extractor_models`)."""
    return tiny_extractor_settings(paths, threshold=0.15, max_persons=8, max_objects=16, max_relations=32)


def ensure_demo_model(folder: str | Path | None = None) -> Path:
    """Return the demo model folder, building it first if it is missing or from another demo version."""
    folder = Path(folder) if folder is not None else default_demo_dir()
    stamp = folder / "sherlock_demo.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("version") == DEMO_VERSION:
        return folder
    logger.warning("Building the tiny random demo model in %s (first use only) ...", folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sherlock-demo-extractors-") as scratch:
        settings = demo_extractor_settings(build_tiny_extractor_models(scratch))
        # the processor copies the extractor models into the folder (`extractor-<part>/`) and references them
        # relative to it, so the demo folder can be moved like any saved model
        build_tiny_sherlock(folder, extractors=settings)
    stamp.write_text(json.dumps({"version": DEMO_VERSION, "random_weights": True}))
    return folder


__all__ = ["EXAMPLE_VIDEO", "default_demo_dir", "demo_extractor_settings", "ensure_demo_model"]
