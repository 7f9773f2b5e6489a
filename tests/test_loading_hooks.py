"""Loading in transformers' own way: no `from_pretrained` override (the background tower is filled and frozen in the
`tie_weights(missing_keys=...)` hook that `from_pretrained` calls), and Video-LLaVA's weight-name conversions
registered under Sherlock's names without overwriting anything registered there. (The loading results themselves,
Video-LLaVA and Sherlock folders, both key layouts, the tower from a vision checkpoint: `test_save_load.py`.)"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from modeling_sherlock import SherlockForConditionalGeneration, SherlockModel, SherlockPreTrainedModel

from sherlock_tester import build_model


REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("cls", [SherlockPreTrainedModel, SherlockModel, SherlockForConditionalGeneration])
def test_no_class_overrides_from_pretrained(cls):
    assert "from_pretrained" not in vars(cls)
    assert "tie_weights" in vars(SherlockPreTrainedModel)


@pytest.fixture(scope="module")
def saved_without_tower(tmp_path_factory):
    """A saved Sherlock folder whose background tower (a copy of the image tower's config) has no weights."""
    folder = tmp_path_factory.mktemp("without_tower")
    model = build_model(background_vision_config=None)  # the default: a copy of `vision_config`
    model.save_pretrained(folder)
    state = load_file(folder / "model.safetensors")
    kept = {key: value for key, value in state.items() if ".background.tower." not in key}
    assert len(kept) < len(state)
    save_file(kept, folder / "model.safetensors", metadata={"format": "pt"})
    return folder, model


@pytest.mark.parametrize("cls", [SherlockForConditionalGeneration, SherlockModel])
def test_the_loading_hook_fills_and_freezes_a_missing_tower(saved_without_tower, cls):
    """For the model with a head and for the base model alone: the missing tower is the checkpoint's image tower,
    frozen, and its keys are not reported missing."""
    folder, original = saved_without_tower
    model, info = cls.from_pretrained(folder, output_loading_info=True)
    base = model.model if isinstance(model, SherlockForConditionalGeneration) else model
    assert not info["missing_keys"]
    assert all(key.endswith("lm_head.weight") for key in info["unexpected_keys"])  # the base model has no head
    tower = base.spatial_experts["background"].tower
    for key, value in tower.state_dict().items():
        torch.testing.assert_close(value, base.image_tower.state_dict()[key], atol=0, rtol=0, msg=key)
    assert not any(param.requires_grad for param in tower.parameters())
    assert all(param.requires_grad for param in base.expert_gate.parameters())


def _run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_importing_keeps_a_conversion_registered_before_under_sherlocks_name():
    """A conversion that a user (or a future transformers) registered for the `sherlock` model type stays; the names
    nobody registered get Video-LLaVA's conversions; importing a second copy of the module (remote code beside the
    installed package) raises nothing."""
    result = _run(
        """
        from transformers.conversion_mapping import get_checkpoint_conversion_mapping, register_checkpoint_conversion_mapping
        from transformers.core_model_loading import WeightRenaming

        register_checkpoint_conversion_mapping("sherlock", [WeightRenaming(source_patterns="^mine", target_patterns="x")])
        import modeling_sherlock.modeling_sherlock as modeling

        kept = get_checkpoint_conversion_mapping("sherlock")
        assert [t.source_patterns for t in kept] == [["^mine"]], kept
        assert get_checkpoint_conversion_mapping("SherlockModel") is not None
        assert modeling.register_weight_conversions() == []
        print("KEPT")
        """
    )
    assert result.returncode == 0 and "KEPT" in result.stdout, result.stderr[-3000:]
