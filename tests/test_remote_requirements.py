"""What the processor's remote code needs beyond torch and transformers (issue 20, item 16): in an environment without
Pillow, PyAV and SciPy, loading it gives ONE error that names all three (not one per run), and the model card lists
them."""

from pathlib import Path

import pytest

from processing import SherlockProcessor
from processing.processing_sherlock import REQUIRED_PACKAGES
from sherlock.model_card import render_model_card
from sherlock.tiny_extractors import tiny_extractor_models, tiny_extractor_settings
from sherlock.tiny_models import build_tiny_sherlock, tiny_image_processor, train_tokenizer

from isolated_python import run_without_repository


LOAD_SCRIPT = """
from transformers import AutoProcessor

try:
    AutoProcessor.from_pretrained(sys.argv[1], trust_remote_code=True)
except Exception as exc:
    print("ERROR", type(exc).__name__, str(exc).replace("\\n", " "))
else:
    print("LOADED")
"""


@pytest.fixture(scope="module")
def processor_folder(tmp_path_factory) -> Path:
    """A saved processor (with its remote code and `auto_map`) of the tiny extractors: no model weights needed."""
    folder = tmp_path_factory.mktemp("processor")
    processor = SherlockProcessor(
        image_processor=tiny_image_processor(32),
        tokenizer=train_tokenizer(),
        num_frames=4,
        patch_size=8,
        extractors=tiny_extractor_settings(tiny_extractor_models()),
    )
    processor.save_pretrained(folder)
    return folder


def test_without_pillow_pyav_and_scipy_loading_names_all_three_at_once(processor_folder, tmp_path):
    result = run_without_repository(LOAD_SCRIPT, [processor_folder], tmp_path, missing=("PIL", "av", "scipy"))
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith(("ERROR", "LOADED"))]
    assert len(lines) == 1 and lines[0].startswith("ERROR ImportError"), result.stdout[-3000:]
    for name in ("Pillow", "av", "scipy"):
        assert name in lines[0], lines[0]
    assert "pip install Pillow av scipy" in lines[0]


def test_the_same_environment_with_the_packages_loads(processor_folder, tmp_path):
    """The check of the test above, not the isolation, is what refuses: with nothing taken away the folder loads."""
    result = run_without_repository(LOAD_SCRIPT, [processor_folder], tmp_path, missing=("decord",))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "LOADED", result.stdout[-3000:]


def test_only_the_missing_ones_are_named(processor_folder, tmp_path):
    result = run_without_repository(LOAD_SCRIPT, [processor_folder], tmp_path, missing=("scipy",))
    last = result.stdout.splitlines()[-1]
    assert last.startswith("ERROR ImportError") and "pip install scipy`" in last, result.stdout[-3000:]
    assert "Pillow" not in last


def test_the_model_card_lists_every_requirement(tmp_path):
    folder = build_tiny_sherlock(tmp_path / "tiny")
    text = render_model_card(folder, repo_id="org/tiny").content
    install = next(line for line in text.splitlines() if line.startswith("pip install torch"))
    for pip_name, _ in REQUIRED_PACKAGES.values():
        assert pip_name in install.split(), install
    assert {pip for pip, _ in REQUIRED_PACKAGES.values()} == {"Pillow", "av", "scipy"}
