"""save_pretrained / from_pretrained, remote code in a clean subprocess, and initialisation from Video-LLaVA."""

import json
from pathlib import Path
from unittest import mock

import pytest
import torch
import transformers
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import AutoModel, VideoLlavaConfig, VideoLlavaForConditionalGeneration

from modeling_sherlock import SherlockForConditionalGeneration
from sherlock.convert import ConvertArguments, convert_video_llava_to_sherlock, main

from isolated_python import run_without_repository
from sherlock_tester import build_model, get_config, prepare_inputs, video_llava_kwargs


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sherlock")
    model = build_model()
    model.save_pretrained(folder)
    inputs = prepare_inputs()
    with torch.no_grad():
        logits = model(**inputs).logits
    return folder, model, inputs, logits


def test_save_then_from_pretrained_gives_identical_logits(saved):
    folder, model, inputs, logits = saved
    loaded = SherlockForConditionalGeneration.from_pretrained(folder).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, logits, atol=0, rtol=0)
    # the frozen background tower stays frozen after loading
    assert not any(p.requires_grad for p in loaded.model.spatial_experts["background"].tower.parameters())
    # and AutoModel resolves the same class in this process
    auto = AutoModel.from_pretrained(folder).eval()
    assert type(auto) is SherlockForConditionalGeneration


def test_a_checkpoint_from_before_the_skeleton_embedding_loads_with_it_off(tmp_path):
    """A folder saved before `action_pose_embedding` existed (no such key in its config, no such weights) loads to the
    same logits with `action_pose_embedding=False`."""
    model = build_model(action_pose_embedding=False)
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["action_pose_embedding"]  # as written before the field existed
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert not [key for key in load_file(tmp_path / "model.safetensors") if "pose_embedding" in key]
    inputs = prepare_inputs()
    loaded = SherlockForConditionalGeneration.from_pretrained(tmp_path, action_pose_embedding=False).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, model(**inputs).logits, atol=0, rtol=0)
    assert SherlockForConditionalGeneration.from_pretrained(tmp_path).config.action_pose_embedding  # the default


def test_saved_folder_has_auto_map_and_remote_code_files(saved):
    folder = saved[0]
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "sherlock"
    assert config["auto_map"] == {
        "AutoConfig": "configuration_sherlock.SherlockConfig",
        "AutoModel": "modeling_sherlock.SherlockForConditionalGeneration",
        "AutoModelForImageTextToText": "modeling_sherlock.SherlockForConditionalGeneration",
    }
    for name in (
        "configuration_sherlock.py",
        "modeling_sherlock.py",
        "modeling_sherlock_experts.py",
        "modeling_sherlock_inputs.py",
        "modeling_sherlock_outputs.py",
        "model.safetensors",
    ):
        assert (folder / name).is_file(), name


REMOTE_SCRIPT = """
import inspect
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText

folder, modules_cache = sys.argv[1], os.path.realpath(sys.argv[2])
config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
model_itt = AutoModelForImageTextToText.from_pretrained(folder, trust_remote_code=True).eval()
source = os.path.realpath(inspect.getfile(type(model)))
assert source.startswith(modules_cache), source
assert not in_repo(source), source
assert type(model).__name__ == "SherlockForConditionalGeneration", type(model)
assert type(config).__name__ == "SherlockConfig"
assert not any(name.split(".")[0] in ("modeling_sherlock", "sherlock") for name in sys.modules)
inputs = load_file(os.path.join(folder, "inputs.safetensors"))
with torch.no_grad():
    logits = model(**inputs).logits
    logits_itt = model_itt(**inputs).logits
    generated = model.generate(**inputs, max_new_tokens=6, do_sample=False, pad_token_id=0)
save_file(
    {"logits": logits, "logits_itt": logits_itt, "generated": generated},
    os.path.join(folder, "remote_logits.safetensors"),
)
import transformers
print("REMOTE_OK", type(model).__module__, "transformers", transformers.__version__)
"""


def test_trust_remote_code_load_in_a_subprocess_without_the_repository(saved, tmp_path):
    folder, model, inputs, logits = saved
    save_file({k: v.contiguous() for k, v in inputs.items()}, folder / "inputs.safetensors")
    result = run_without_repository(REMOTE_SCRIPT, [folder, tmp_path / "modules"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    # the subprocess ran the remote code on the transformers this suite runs on (CI runs it on the lowest and newest)
    assert "REMOTE_OK transformers_modules" in result.stdout
    assert result.stdout.split()[-1] == transformers.__version__
    remote = load_file(folder / "remote_logits.safetensors")
    # float32 defaults, not bitwise: a matrix product may sum in another order in another process (seen: 9e-8 apart)
    torch.testing.assert_close(remote["logits"], logits)
    torch.testing.assert_close(remote["logits_itt"], logits)
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=6, do_sample=False, pad_token_id=0)
    assert remote["generated"].shape == (2, inputs["input_ids"].shape[1] + 6)
    torch.testing.assert_close(remote["generated"], generated, atol=0, rtol=0)


@pytest.fixture(scope="module")
def video_llava_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video_llava")
    torch.manual_seed(1)
    model = VideoLlavaForConditionalGeneration(VideoLlavaConfig(**video_llava_kwargs()))
    model.save_pretrained(folder)
    return folder, model.state_dict()


def test_from_pretrained_video_llava_keeps_backbone_and_initialises_only_the_gsm(video_llava_folder):
    folder, reference = video_llava_folder
    model, info = SherlockForConditionalGeneration.from_pretrained(folder, output_loading_info=True)
    missing = info["missing_keys"]
    assert missing and all(key.startswith(("model.spatial_experts.", "model.expert_gate.")) for key in missing)
    assert not info["unexpected_keys"]
    state = model.state_dict()
    for key, value in reference.items():
        torch.testing.assert_close(state[key], value, atol=0, rtol=0, msg=key)
    # the new modules are initialised (finite, not all zero), including the custom null nodes
    for key in missing:
        assert torch.isfinite(state[key]).all(), key
    assert state["model.spatial_experts.action.null_node.weight"].abs().sum() > 0
    assert model.config.experts == ["action", "object_relation", "background", "global"]
    # the background tower is not random: it is the checkpoint's own pretrained image tower, frozen
    tower = model.model.spatial_experts["background"].tower.state_dict()
    for key, value in tower.items():
        torch.testing.assert_close(value, reference[f"model.image_tower.{key}"], atol=0, rtol=0, msg=key)
    assert not any(p.requires_grad for p in model.model.spatial_experts["background"].tower.parameters())
    inputs = prepare_inputs()
    inputs["background_pixel_values"] = torch.randn(2, 2, 3, 16, 16)  # the default tower is a copy of the video tower
    with torch.no_grad():
        assert torch.isfinite(model.eval()(**inputs).logits).all()


def test_a_background_tower_that_would_stay_random_is_reported(video_llava_folder, caplog):
    """A background config unlike the image tower's and no tower path: the tower stays random, and a warning says so."""
    from transformers.utils import logging as hf_logging

    folder, _ = video_llava_folder
    config = get_config()  # a 24-wide background tower: not the image tower's config
    hf_logging.enable_propagation()
    try:
        with caplog.at_level("WARNING"):
            SherlockForConditionalGeneration.from_pretrained(folder, config=config)
    finally:
        hf_logging.disable_propagation()
    assert "background tower (clip_vision_model, 2 layers, width 24) is RANDOMLY initialised" in caplog.text


def test_the_background_tower_loads_from_a_vision_checkpoint_path(video_llava_folder, tmp_path):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    folder, _ = video_llava_folder
    torch.manual_seed(5)
    background = get_config().background_vision_config.to_dict()
    tower = CLIPVisionModel(CLIPVisionConfig(**background))
    tower.save_pretrained(tmp_path / "tower")
    config = get_config(background_tower_name_or_path=str(tmp_path / "tower"))
    model = SherlockForConditionalGeneration.from_pretrained(folder, config=config)
    loaded = model.model.spatial_experts["background"].tower.state_dict()
    for key, value in tower.state_dict().items():
        torch.testing.assert_close(loaded[key], value, atol=0, rtol=0, msg=key)
    # a saved folder does not keep the absolute path (the weights travel in the checkpoint)
    model.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert saved["background_tower_name_or_path"] is None
    reloaded = SherlockForConditionalGeneration.from_pretrained(tmp_path / "saved")
    for key, value in tower.state_dict().items():
        torch.testing.assert_close(
            reloaded.model.spatial_experts["background"].tower.state_dict()[key], value, atol=0, rtol=0
        )


def test_convert_helper_writes_a_sherlock_checkpoint(video_llava_folder, tmp_path):
    folder, reference = video_llava_folder
    args = ConvertArguments(
        video_llava_path=str(folder),
        output_dir=str(tmp_path / "out"),
        experts=["action", "object_relation", "global"],
        expert_hidden_size=16,
    )
    model, initialised = convert_video_llava_to_sherlock(args)
    assert initialised and all(k.startswith(("model.spatial_experts.", "model.expert_gate.")) for k in initialised)
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["model_type"] == "sherlock" and config["experts"] == ["action", "object_relation", "global"]
    loaded = SherlockForConditionalGeneration.from_pretrained(tmp_path / "out")
    state = loaded.state_dict()
    for key, value in reference.items():
        torch.testing.assert_close(state[key], value, atol=0, rtol=0, msg=key)
    assert "background" not in loaded.model.spatial_experts


def test_convert_helper_reads_both_key_layouts(video_llava_folder, tmp_path):
    """transformers saves Video-LLaVA in the Hub layout (`language_model.model.*`, `video_tower.*`); a checkpoint
    written with the module names (`model.language_model.*`) must convert too."""
    folder, reference = video_llava_folder
    with safe_open(folder / "model.safetensors", "pt") as f:
        assert any(key.startswith("language_model.model.") for key in f.keys())
    module_layout = tmp_path / "module_layout"
    module_layout.mkdir()
    (module_layout / "config.json").write_text((folder / "config.json").read_text())
    state = {key: value.contiguous() for key, value in reference.items()}
    save_file(state, module_layout / "model.safetensors", metadata={"format": "pt"})
    model, _ = convert_video_llava_to_sherlock(
        ConvertArguments(video_llava_path=str(module_layout), output_dir=str(tmp_path / "out"), expert_hidden_size=16)
    )
    loaded = model.state_dict()
    for key, value in reference.items():
        torch.testing.assert_close(loaded[key], value, atol=0, rtol=0, msg=key)


def test_convert_cli_fails_with_one_line_on_a_missing_checkpoint(tmp_path, capsys):
    code = main(["--video_llava_path", str(tmp_path / "nope"), "--output_dir", str(tmp_path / "out")])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sherlock-convert-video-llava: error:")


def test_convert_cli_takes_the_background_tower_from_a_vision_checkpoint(video_llava_folder, tmp_path):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    folder, _ = video_llava_folder
    torch.manual_seed(6)
    tower = CLIPVisionModel(CLIPVisionConfig(**get_config().background_vision_config.to_dict()))
    tower.save_pretrained(tmp_path / "tower")
    out = tmp_path / "out"
    argv = ["--video_llava_path", str(folder), "--output_dir", str(out), "--expert_hidden_size", "16"]
    assert main([*argv, "--background_tower_path", str(tmp_path / "tower")]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["background_vision_config"]["hidden_size"] == 24
    assert config["background_tower_name_or_path"] is None  # no path of this machine in a saved folder
    loaded = SherlockForConditionalGeneration.from_pretrained(out).model.spatial_experts["background"].tower
    for key, value in tower.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, atol=0, rtol=0, msg=key)


def test_auto_map_is_complete_before_transformers_saves_or_pushes(saved, tmp_path):
    """transformers' `save_pretrained(..., push_to_hub=True)` uploads from inside the call: the `auto_map` entry for
    `AutoModelForImageTextToText` must already be on the config when it runs, not patched into the file afterwards."""
    from transformers import PreTrainedModel

    model = saved[1]
    seen = {}
    original = PreTrainedModel.save_pretrained

    def spy(self, *args, **kwargs):
        seen["auto_map"] = dict(self.config.auto_map or {})
        return original(self, *args, **kwargs)

    with mock.patch.object(PreTrainedModel, "save_pretrained", spy):
        model.save_pretrained(tmp_path / "out")
    assert seen["auto_map"]["AutoModelForImageTextToText"] == "modeling_sherlock.SherlockForConditionalGeneration"
    written = json.loads((tmp_path / "out" / "config.json").read_text())["auto_map"]
    assert written["AutoModelForImageTextToText"] == written["AutoModel"]
