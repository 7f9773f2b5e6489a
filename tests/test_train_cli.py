"""`sherlock train`: options from the command line and YAML, the ablation switches, the stage-1 record that stage 2
requires, and tiny end-to-end runs (stage 2 on the synthetic set with LoRA, merge and a push to the local test Hub;
stage 1 on generated pre-tuning rows, then stage 2 from its output)."""

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import HfApi
from PIL import Image
from safetensors.torch import load_file
from test_train_stage1 import smooth_motion

from dataset_scripts.build_pretune import PretuneArguments, build_pretune
from dataset_scripts.build_synthetic import SyntheticArguments
from dataset_scripts.synthetic_build import build_synthetic
from modeling_sherlock import EXPERT_NAMES, SherlockForConditionalGeneration
from processing import SherlockProcessor
from sherlock.cli import main
from sherlock.tiny_extractors import tiny_extractor_models, tiny_extractor_settings
from sherlock.tiny_models import build_tiny_sherlock
from sherlock.train import (
    EXPERTS,
    RECORD_FILE,
    _sft_config,
    ablations,
    load_model_and_processor,
    parse_train_arguments,
)
from sherlock.training import load_lora

from hub_server import hub_server, hub_server_instance, use_hub_endpoint  # noqa: F401  (pytest fixtures)


REPO = Path(__file__).resolve().parents[1]
TOKEN = "hf_test"
NUM_FRAMES = 4
QUICK = ["--max-steps", "2", "--per-device-train-batch-size", "2", "--gradient-accumulation-steps", "1"]
QUICK += ["--logging-steps", "1", "--learning-rate", "1e-3", "--use-cpu", "--no-progress"]
SUMMARY = re.compile(
    r"^epoch 1/1: loss \d+\.\d{3}, lm_loss \d+\.\d{3}, gsb_loss \d+\.\d{3}, gate action 0\.\d\d object_relation "
    r"0\.\d\d background 0\.\d\d global 0\.\d\d, \d+\.\d s$",
    re.MULTILINE,
)


def run(argv: list[str]) -> tuple[int, str, str]:
    """`sherlock <argv>` in process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    small = {"num_videos": 6, "num_frames": NUM_FRAMES, "duration": 4.0, "size": "96x64", "num_workers": 1}
    build_synthetic(SyntheticArguments(output_dir=str(folder), seed=3, **small))
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny random Sherlock whose processor reads the feature cache (the synthetic set's oracle features)."""
    folder = tmp_path_factory.mktemp("tiny_sherlock")
    return build_tiny_sherlock(folder, extractors={"backend": "precomputed"}, num_frames=NUM_FRAMES)


@pytest.fixture(scope="module")
def stage2_run(tiny_model, synthetic, hub_server, tmp_path_factory):  # noqa: F811
    """One stage-2 run (LoRA, --merge, --push-to-hub to the local test Hub): (code, stdout, stderr, output folder)."""
    output = tmp_path_factory.mktemp("stage2") / "out"
    output.mkdir()
    (output / "notes.py").write_text("print('a script of mine, not remote code')\n")  # must stay local
    argv = ["train", "--stage", "2", "--without", "pretune", "--model", str(tiny_model), "--dataset", str(synthetic)]
    argv += ["--output-dir", str(output), "--merge", "--push-to-hub", "org/tiny-sherlock", *QUICK]
    with pytest.MonkeyPatch.context() as monkeypatch:
        setup = use_hub_endpoint(monkeypatch, hub_server, tmp_path_factory.mktemp("hf"), token=TOKEN)
        code, out, err = run(argv)
    assert setup["blocked"] == []
    return code, out, err, output


def files_under(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


# ------------------------------------------------------------------------------------------------ options


HELP_SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from sherlock.cli import main

    report = []
    for argv in json.loads(sys.argv[1]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                code = main(argv)
            except SystemExit as exit:
                code = exit.code
        heavy = [name for name in ("torch", "transformers", "trl", "peft", "numpy") if name in sys.modules]
        report.append({"code": code, "out": out.getvalue(), "err": err.getvalue(), "heavy": heavy})
    print(json.dumps(report))
    """
)


def test_help_and_argument_errors_answer_before_any_heavy_import(tmp_path):
    """`--help`, bad options and a stage-2 model without a stage-1 record: answered without torch / transformers."""
    model = tmp_path / "raw-sherlock"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "sherlock"}')
    (model / "processor_config.json").write_text("{}")
    base = ["train", "--dataset", str(tmp_path), "--output-dir", str(tmp_path / "out")]
    cases = [
        (["train", "--help"], 0, None),
        (["train", "--dataset", "x", "--output-dir", "y"], 2, "give --model (or `model:` in the --config file)"),
        ([*base, "--model", str(model), "--without", "action,teleport"], 2, "--without 'teleport': choose from"),
        ([*base, "--model", str(model), "--stage", "1", "--without", "pretune"], 2, "is a stage-2 switch"),
        ([*base, "--model", str(model)], 2, "has no stage-1 record (sherlock_training.json"),
    ]
    result = subprocess.run(
        [sys.executable, "-c", HELP_SCRIPT, json.dumps([argv for argv, _, _ in cases])],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for (argv, code, needle), outcome in zip(cases, json.loads(result.stdout.strip().splitlines()[-1])):
        assert outcome["code"] == code and outcome["heavy"] == [], (argv, outcome)
        if needle is None:
            assert "--without" in outcome["out"] and "--push-to-hub" in outcome["out"] and "--config" in outcome["out"]
        else:
            lines = outcome["err"].strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("sherlock train: error: ") and needle in lines[0], outcome


def test_yaml_config_with_command_line_overrides(tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text(
        "stage: 1\nmodel: some/model\ndataset: data\noutput-dir: out\nlearning_rate: 2e-4\nlora: false\n"
        "lora_r: 8\nwithout: [action, gate]\nmedia_root: humanml3d=/data/HumanML3D\nnum_train_epochs: 3\n"
    )
    args = parse_train_arguments(["--config", str(config), "--learning-rate", "1e-3", "--lora-r", "16"])
    assert (args.stage, args.model, args.dataset, args.output_dir) == (1, "some/model", "data", "out")
    assert args.learning_rate == 1e-3 and args.lora_r == 16  # given on the command line: they win, even = default
    assert args.lora is False and args.num_train_epochs == 3.0 and args.without == ["action", "gate"]
    assert args.media_root == ["humanml3d=/data/HumanML3D"] and args.lora_alpha == 64  # untouched defaults stay
    assert parse_train_arguments(["--config", str(config), "--lora"]).lora is True

    # the paper's warm-up ratio reaches the trainer as a ratio (warmup_steps < 1 in transformers >= 5.23)
    sft = _sft_config(parse_train_arguments(["--output-dir", str(tmp_path / "o"), "--use-cpu"]), None)
    assert sft.warmup_steps == pytest.approx(0.03) and sft.get_warmup_steps(100) == 3
    assert (sft.learning_rate, sft.lr_scheduler_type, sft.optim) == (2e-5, "cosine", "adamw_torch")


@pytest.mark.parametrize(
    "text, needle",
    [
        ("model: m\nlearning_rat: 0.1\nbatch: 4\n", "unknown key(s) in --config"),
        ("model: m\nlora_r: many\n", "config key 'lora_r' must be int, got 'many'"),
        ("- model\n", "must be a mapping of option names to values"),
    ],
    ids=["unknown-keys", "bad-type", "not-a-mapping"],
)
def test_a_bad_config_file_is_a_one_line_usage_error(tmp_path, capsys, text, needle):
    config = tmp_path / "train.yaml"
    config.write_text(text)
    assert main(["train", "--config", str(config)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines
    if "unknown" in needle:
        assert "batch, learning_rat" in lines[0]


def test_ablation_flags_switch_the_config(tiny_model):
    argv = ["--model", str(tiny_model), "--without", "action", "--without", "EG,sir"]
    args = parse_train_arguments(argv)
    assert ablations(args) == ["action", "gate", "sir"] and EXPERTS == EXPERT_NAMES  # the CLI's copy of the names
    model, processor, kind = load_model_and_processor(args, str(tiny_model), ablations(args))
    assert kind == "sherlock" and isinstance(processor, SherlockProcessor)
    assert model.config.experts == ["object_relation", "background", "global"]
    assert model.config.gate == "uniform" and model.config.gsb_loss_coef == 0.0
    assert model.model.expert_gate is None and "action" not in model.model.spatial_experts
    model, _, _ = load_model_and_processor(parse_train_arguments(["--model", str(tiny_model)]), str(tiny_model), [])
    assert model.config.experts == ["action", "object_relation", "background", "global"]
    assert model.config.gate == "soft" and model.config.gsb_loss_coef == 0.4
    # without one expert the soft gate keeps the trained rows of the others (its softmax over them, renormalised)
    args = parse_train_arguments(["--model", str(tiny_model), "--without", "background"])
    fewer, _, _ = load_model_and_processor(args, str(tiny_model), ablations(args))
    assert fewer.config.experts == ["action", "object_relation", "global"] and fewer.config.gate == "soft"
    for name in ("weight", "bias"):
        full = getattr(model.model.expert_gate.proj, name)
        assert torch.equal(getattr(fewer.model.expert_gate.proj, name), full[[0, 1, 3]])


def test_a_video_llava_model_is_converted_in_memory(tmp_path):
    from transformers import VideoLlavaForConditionalGeneration

    from sherlock.evaluation.tiny_baselines import build_tiny_video_llava

    folder = build_tiny_video_llava(tmp_path / "video-llava")
    args = parse_train_arguments(["--model", str(folder), "--without", "background"])
    model, processor, kind = load_model_and_processor(args, str(folder), ablations(args))
    assert kind == "video_llava" and model.config.model_type == "sherlock"
    assert model.config.experts == ["action", "object_relation", "global"]
    source = VideoLlavaForConditionalGeneration.from_pretrained(folder).state_dict()
    weights = model.state_dict()
    for name in (
        "model.language_model.layers.0.self_attn.q_proj.weight",
        "model.multi_modal_projector.linear_1.weight",
    ):
        assert torch.equal(weights[name], source[name])
    assert processor.tokens_per_frame == (32 // 8) ** 2 + 1 and processor.video_token == "<video>"


def test_the_epoch_summary_weights_each_log_by_its_steps_and_has_the_trainer_log_the_epochs_tail():
    from transformers import TrainerControl, TrainerState

    from sherlock.training.progress import EpochSummaryCallback

    lines = []
    callback, state, control = (
        EpochSummaryCallback(write=lines.append),
        TrainerState(num_train_epochs=2),
        TrainerControl(),
    )
    callback.on_train_begin(None, state, control)
    callback.on_epoch_begin(None, state, control)
    state.global_step = 2  # logging every 2 steps, 3 steps per epoch
    callback.on_log(None, state, control, logs={"loss": 1.0, "lm_loss": 0.5, "gate/action": 0.2, "learning_rate": 0.1})
    state.global_step = 3
    control = callback.on_epoch_end(None, state, control)
    assert control.should_log and lines == []  # the trainer logs step 3 next: the summary waits for it
    callback.on_log(None, state, control, logs={"loss": 4.0, "lm_loss": 2.0, "gate/action": 0.5})
    assert re.fullmatch(r"epoch 1/2: loss 2\.000, lm_loss 1\.000, gate action 0\.30, \d+\.\d s", lines[-1]), lines
    callback.on_epoch_begin(None, state, control)
    callback.on_epoch_end(None, state, TrainerControl())  # nothing left to log: the summary comes at once
    assert len(lines) == 2 and lines[-1].startswith("epoch 2/2: ")
    assert [summary["loss"] for summary in callback.summaries] == [2.0, None]


# ---------------------------------------------------------------------------------------------- tiny runs


def test_a_stage2_run_exports_adapter_trained_modules_processor_and_record(stage2_run, tiny_model, synthetic):
    code, out, err, output = stage2_run
    assert code == 0, err[-3000:]
    assert len(SUMMARY.findall(err)) == 1, err[-2000:]  # one epoch: one summary line
    assert "sherlock train stage 2: 2 steps on 4 rows" in out
    files = files_under(output)
    export = [name for name in files if not name.startswith("checkpoint-")]
    for name in (
        "adapter/adapter_model.safetensors",
        "adapter/adapter_config.json",
        "config.json",
        "model.safetensors",
    ):
        assert name in export
    for name in ("processor_config.json", "tokenizer.json", RECORD_FILE, "gate_weights.csv", "gate_weights.png"):
        assert name in export
    assert not [name for name in export if name.endswith((".bin", ".pt", ".pth", ".pkl", ".pickle"))]
    assert "README.md" not in export  # TRL's text-generation card is not Sherlock's
    assert not any(
        str(output) in (output / name).read_text() for name in export if name.endswith(".json") and name != RECORD_FILE
    )

    keys = list(load_file(output / "adapter" / "adapter_model.safetensors"))
    assert any("lora_A" in key for key in keys) and any("lora_B" in key for key in keys)
    for module in ("expert_gate.", "multi_modal_projector.", "spatial_experts.action.", "background.null_node"):
        assert any(module in key and "lora_" not in key for key in keys), module
    assert not any("tower" in key for key in keys)
    config = json.loads((output / "adapter" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["lora_dropout"]) == (16, 64, 0.05)
    base = config["base_model_name_or_path"]  # a local base: relative to the adapter folder, never absolute
    assert base.startswith("../") and (output / "adapter" / base).resolve() == Path(tiny_model).resolve()

    record = json.loads((output / RECORD_FILE).read_text())
    assert (record["stage"], record["pretuned"], record["ablations"], record["rows"]) == (2, False, ["pretune"], 4)
    assert record["global_step"] == 2 and record["epochs"][0]["epoch"] == 1 and record["epochs"][0]["lm_loss"] > 0
    assert record["config"]["experts"] == ["action", "object_relation", "background", "global"]
    assert record["arguments"]["model"] == str(tiny_model) and record["dataset"] == str(synthetic)
    processor = SherlockProcessor.from_pretrained(output)
    assert processor.num_frames == NUM_FRAMES and processor.is_precomputed
    rows = (output / "gate_weights.csv").read_text().splitlines()
    assert rows[0].startswith("event_type") and rows[-1].startswith("(all videos),4,")


def test_the_adapter_reloads_onto_the_base_and_the_merged_model_gives_the_same_logits(
    stage2_run, tiny_model, synthetic
):
    code, _, err, output = stage2_run
    assert code == 0, err[-3000:]
    processor = SherlockProcessor.from_pretrained(output)
    processor.feature_cache_dir = str(synthetic / "features")
    inputs = processor(videos=str(sorted((synthetic / "videos").glob("*.mp4"))[0]))
    with torch.no_grad():
        base = SherlockForConditionalGeneration.from_pretrained(tiny_model).eval()
        untrained = base(**inputs).logits
        adapted = load_lora(base, output / "adapter").eval()(**inputs).logits
        merged = SherlockForConditionalGeneration.from_pretrained(output).eval()(**inputs).logits
    torch.testing.assert_close(merged, adapted, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(untrained, adapted, atol=1e-3)  # the adapter and the trained modules changed it


def lora_only_copy(output: Path, target: Path, base: str | None = "keep") -> Path:
    """The export of a LoRA run without --merge: `output` (a --merge run) without its merged model, copied to
    `target`; `base` replaces the adapter's `base_model_name_or_path` (unless "keep")."""
    shutil.copytree(output, target, ignore=shutil.ignore_patterns("checkpoint-*", "config.json", "model.safetensors"))
    if base != "keep":
        path = target / "adapter" / "adapter_config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "base_model_name_or_path": base}))
    return target


def test_a_lora_export_without_merge_is_a_model_argument_of_every_command(stage2_run, synthetic, tmp_path):
    """`sherlock analyze / evaluate / precompute / train --model OUT` on the export of a LoRA run without --merge:
    the base that the adapter names (relative to it), then the adapter, merged: the merged model's logits."""
    from sherlock.loading import load_sherlock, resolve_model

    code, _, err, output = stage2_run
    assert code == 0, err[-3000:]
    lora = lora_only_copy(output, output.parent / "lora-only")  # beside `out`: the relative base still holds
    assert resolve_model(str(lora)) == str(lora) and resolve_model(str(lora / "adapter")) == str(lora / "adapter")
    video = sorted((synthetic / "videos").glob("*.mp4"))[0]
    features = str(synthetic / "features")
    for model in (lora, lora / "adapter"):  # the export folder, or its adapter folder itself
        loaded, processor = load_sherlock(str(model), cache_dir=features)
        inputs = processor(videos=str(video))
        with torch.no_grad():
            merged = SherlockForConditionalGeneration.from_pretrained(output).eval()(**inputs).logits
            torch.testing.assert_close(loaded(**inputs).logits, merged, rtol=1e-4, atol=1e-5)
    code, out, err = run(["analyze", str(video), "--model", str(lora), "--cache-dir", features, "--json"])
    assert code == 0, err[-3000:]
    assert json.loads(out)["duration"] > 0
    evaluation = tmp_path / "evaluation"
    argv = ["evaluate", "--model", str(lora), "--dataset", str(synthetic), "--output-dir", str(evaluation)]
    code, out, err = run([*argv, "--cache-dir", features, "--max-new-tokens", "4", "--device", "cpu"])
    assert code == 0, err[-3000:]
    assert (evaluation / "metrics.json").is_file()
    argv = ["precompute", "--dataset", str(synthetic), "--processor", str(lora), "--cache-dir", str(tmp_path / "c")]
    code, out, err = run(argv)  # a precomputed processor: nothing to compute, said in one line (not "no config")
    assert code == 2 and "nothing to compute" in err and len(err.strip().splitlines()) == 1, err
    argv = ["train", "--model", str(lora), "--dataset", str(synthetic), "--output-dir", str(tmp_path / "again")]
    code, out, err = run([*argv, "--save-strategy", "no", *QUICK])  # the record says: not pre-tuned
    assert code == 2 and "--without pretune" in err and len(err.strip().splitlines()) == 1, err
    code, out, err = run([*argv, "--without", "pretune", "--save-strategy", "no", *QUICK])
    assert code == 0, err[-3000:]
    config = json.loads((tmp_path / "again" / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"].startswith("../")  # the new adapter's base: the LoRA export
    assert (tmp_path / "again" / "adapter" / config["base_model_name_or_path"]).resolve() == lora.resolve()
    assert load_sherlock(str(tmp_path / "again"))[0].config.experts == list(EXPERT_NAMES)


def test_an_adapter_moved_without_its_base_says_where_the_base_was(stage2_run, tmp_path, tiny_model):
    code, _, err, output = stage2_run
    assert code == 0, err[-3000:]
    video = str(REPO / "examples" / "demo.mp4")
    moved = lora_only_copy(output, tmp_path / "deeper" / "moved")  # another depth: the relative base is lost
    code, out, err = run(["analyze", video, "--model", str(moved)])
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert "is not where it was" in lines[0] and "base_model_name_or_path" in lines[0]
    # an older export (null there) falls back to the record's base_model (here an absolute path)
    from sherlock.loading import adapter_base

    older = lora_only_copy(output, tmp_path / "older", base=None)
    assert adapter_base(older / "adapter") == str(tiny_model)


def test_training_from_the_demo_model_then_analysing_with_its_output(tmp_path, synthetic, monkeypatch):
    """`--model demo` is the built-in demo model for `train` too (no Hub look-up); the refusal names
    `--without pretune`; the LoRA output names `demo` as its base and analyses a video."""
    monkeypatch.setenv("SHERLOCK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # a Hub look-up would fail (and retry) loudly
    argv = ["train", "--model", "demo", "--dataset", str(synthetic), "--output-dir", str(tmp_path / "out")]
    code, out, err = run([*argv, *QUICK])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("sherlock train: error: --model 'demo' is the built-in demo model") and (
        "add --without pretune" in lines[0]
    )
    code, out, err = run([*argv, "--without", "pretune", "--save-strategy", "no", *QUICK])
    assert code == 0, err[-3000:]
    config = json.loads((tmp_path / "out" / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "demo"
    code, out, err = run(["analyze", str(REPO / "examples" / "demo.mp4"), "--model", str(tmp_path / "out")])
    assert code == 0, err[-3000:]
    assert out.startswith(f"{REPO / 'examples' / 'demo.mp4'}: 5.2 s")  # 5.25 s, shown to a tenth


def test_push_to_hub_uploads_the_export_without_checkpoints(stage2_run, hub_server, tmp_path):  # noqa: F811
    code, out, err, output = stage2_run
    assert code == 0, err[-3000:]
    local = files_under(output)
    assert any(name.startswith("checkpoint-2/") for name in local)  # the Trainer's final checkpoint stays local
    with pytest.MonkeyPatch.context() as monkeypatch:  # CI runs with HF_HUB_OFFLINE=1: point the client at the server
        use_hub_endpoint(monkeypatch, hub_server, tmp_path / "hf", token=TOKEN)
        remote = HfApi(endpoint=hub_server, token=TOKEN).list_repo_files("org/tiny-sherlock")
    # the model push's allow-list (sherlock push model): the model, its remote code, the processor, the record and a
    # card; no checkpoint, no stray script, no adapter folder (the merged model holds it)
    assert "notes.py" in local and "notes.py" not in remote
    assert not any(name.startswith(("checkpoint-", "adapter/")) for name in remote)
    assert {"config.json", "model.safetensors", "processor_config.json", "sherlock_training.json"} <= set(remote)
    assert "modeling_sherlock.py" in remote and "README.md" in remote
    assert set(remote) - {"README.md"} <= set(local)
    assert f"pushed {output} to {hub_server}" in out


def test_push_to_hub_of_an_adapter_needs_a_base_on_the_hub(tiny_model, synthetic, tmp_path):
    argv = ["train", "--stage", "2", "--without", "pretune", "--model", str(tiny_model), "--dataset", str(synthetic)]
    code, out, err = run([*argv, "--output-dir", str(tmp_path / "out"), "--push-to-hub", "org/x", *QUICK])
    assert code == 2 and "--merge" in err and "local path" in err, err
    assert not (tmp_path / "out").exists()  # refused before training


def make_pretune_sources(root: Path) -> dict:
    """A HumanML3D root with one motion and a COCO captions file with two images."""
    humanml3d = root / "HumanML3D"
    (humanml3d / "texts").mkdir(parents=True)
    (humanml3d / "new_joints").mkdir()
    (humanml3d / "train.txt").write_text("000021\n")
    (humanml3d / "texts" / "000021.txt").write_text("a person walks forward#a/DET person/NOUN#0.0#0.0\n")
    np.save(humanml3d / "new_joints" / "000021.npy", smooth_motion().astype(np.float32))
    images = root / "coco" / "train2017"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("000000000009.jpg", "000000000025.jpg"):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(images / name)
    captions = {
        "images": [{"id": 9, "file_name": "000000000009.jpg"}, {"id": 25, "file_name": "000000000025.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 9, "caption": "A surfer."},
            {"id": 2, "image_id": 25, "caption": "A giraffe."},
        ],
    }
    (root / "coco" / "captions_train2017.json").write_text(json.dumps(captions))
    return {"humanml3d": humanml3d, "coco_images": images, "coco_captions": root / "coco" / "captions_train2017.json"}


def test_stage1_on_pretuning_rows_then_stage2_from_its_output(tmp_path, synthetic):
    sources = make_pretune_sources(tmp_path / "sources")
    build_pretune(
        PretuneArguments(
            output_dir=str(tmp_path / "pretune"),
            humanml3d_dir=str(sources["humanml3d"]),
            coco_captions_file=str(sources["coco_captions"]),
            coco_images_dir=str(sources["coco_images"]),
        )
    )
    settings = tiny_extractor_settings(tiny_extractor_models(), threshold=0.0)  # images need extractors that run
    model = build_tiny_sherlock(tmp_path / "model", extractors=settings, num_frames=NUM_FRAMES)
    stage1 = tmp_path / "stage1"
    argv = ["train", "--stage", "1", "--model", str(model), "--dataset", str(tmp_path / "pretune")]
    argv += [
        "--media-root",
        f"humanml3d={sources['humanml3d']}",
        "--media-root",
        f"coco_captions={sources['coco_images']}",
    ]
    argv += ["--output-dir", str(stage1), "--save-strategy", "no", *QUICK]
    argv[argv.index("--max-steps") + 1], argv[argv.index("--per-device-train-batch-size") + 1] = "1", "3"
    code, out, err = run(argv)  # one batch of all three rows: two static clips and the stick figure
    assert code == 0, err[-3000:]
    assert "sherlock train stage 1: 1 steps on 3 rows" in out and len(SUMMARY.findall(err)) == 1
    record = json.loads((stage1 / RECORD_FILE).read_text())
    assert (record["stage"], record["pretuned"], record["dataset_config"]) == (1, True, "all")
    assert record["sources"] == ["coco_captions", "humanml3d"]
    assert (stage1 / "config.json").is_file() and (stage1 / "adapter" / "adapter_model.safetensors").is_file()
    assert len(list((stage1 / "stage1_media" / "clips").rglob("*.mp4"))) == 3

    stage2 = tmp_path / "stage2"
    argv = ["train", "--model", str(stage1), "--dataset", str(synthetic), "--extractors", "precomputed"]
    argv += ["--output-dir", str(stage2), "--save-strategy", "no", *QUICK]
    code, out, err = run(argv)
    assert code == 0, err[-3000:]
    record = json.loads((stage2 / RECORD_FILE).read_text())
    assert (record["stage"], record["pretuned"], record["base_record"]["stage"]) == (2, True, 1)
    assert not (stage2 / "config.json").exists() and (stage2 / "adapter" / "adapter_model.safetensors").is_file()
    # the export keeps the model's extractors (`precomputed` only said where the training features were)
    assert SherlockProcessor.from_pretrained(stage2).extractors["pose"]["backend"] == "vitpose"
