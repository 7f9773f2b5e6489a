"""`sherlock push` against the local Hub-compatible test server: model, adapter, dataset and Space, then loaded back
the way a user meets them (a clean subprocess without the repository for the model and the adapter)."""

import hashlib
import json
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, ModelCard

from modeling_sherlock import SherlockForConditionalGeneration
from processing import SherlockProcessor
from sherlock.cli import main

from forced_answer import FORCED_EVENT, save_forced_answer
from hub_server import hub_server, hub_server_instance, use_hub_endpoint  # noqa: F401  (pytest fixtures)
from isolated_python import run_without_repository
from video_factory import write_video


REPO = Path(__file__).resolve().parents[1]
TOKEN = "hf_test"


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    """A tiny Sherlock (tiny extractors inside, a feature cache beside its weights) that says FORCED_EVENT."""
    from sherlock.tiny_extractors import build_tiny_extractor_models, tiny_extractor_settings
    from sherlock.tiny_models import build_tiny_sherlock

    root = tmp_path_factory.mktemp("push")
    paths = build_tiny_extractor_models(str(root / "extractor_models"))
    folder = build_tiny_sherlock(root / "model", extractors=tiny_extractor_settings(paths, threshold=0.15))
    save_forced_answer(folder, SherlockProcessor.from_pretrained(folder).tokenizer)
    (folder / "feature_cache").mkdir()
    (folder / "feature_cache" / "entry.safetensors").write_bytes(b"local cache, never pushed")
    (folder / "notes.txt").write_text("a local note, never pushed")
    (folder / "train_script.py").write_text("print('a local script, never pushed')\n")
    (folder / "extractor-detector" / "evil.py").write_text("import os  # a stray module, never pushed\n")
    return folder


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("videos") / "clip.mp4", num_frames=32, fps=8.0, size=(96, 64))


@pytest.fixture
def hub(hub_server, hub_server_instance, monkeypatch, tmp_path):  # noqa: F811
    setup = use_hub_endpoint(monkeypatch, hub_server, tmp_path, token=TOKEN)
    yield {"url": hub_server, "server": hub_server_instance, **setup}
    assert setup["blocked"] == [], "a client tried to reach another host than the test Hub"


def _push(hub, *args) -> None:
    assert main(["push", *map(str, args), "--endpoint", hub["url"], "--token", TOKEN]) == 0


def _metrics(tmp_path) -> Path:
    from sherlock.evaluation.events import as_event
    from sherlock.evaluation.scoring import score

    rows = [
        {"video_id": "a", "duration": 8.0, "events": [dict(FORCED_EVENT)]},
        {
            "video_id": "b",
            "duration": 8.0,
            "events": [{**FORCED_EVENT, "event_type": "Theft", "start": 4.0, "end": 6.0}],
        },
    ]
    predictions = {"a": [as_event(FORCED_EVENT)], "b": []}
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(score(rows, predictions)))
    return path


AUTO_SCRIPT = """
import json, warnings
from transformers import AutoModelForImageTextToText, AutoProcessor

repo, video = sys.argv[1], sys.argv[2]
processor = AutoProcessor.from_pretrained(repo, trust_remote_code=True)
model = AutoModelForImageTextToText.from_pretrained(repo, trust_remote_code=True).eval()
assert not in_repo(__import__("inspect").getfile(type(model)))
batch = processor(videos=video, return_metadata=True)
metadata = batch.pop("video_metadata")[0]
out = model.generate(**batch, max_new_tokens=40, do_sample=False)
answer = processor.tokenizer.decode(out[0, batch["input_ids"].shape[1]:], skip_special_tokens=True)
events = [e.to_dict() for e in processor.post_process_events(answer, metadata["duration"])]
result = {"answer": answer, "events": events}
if len(sys.argv) > 3:
    from peft import PeftModel

    with warnings.catch_warnings():  # PEFT reads a property transformers 5.24 deprecates (sherlock.training.lora)
        warnings.simplefilter("ignore", FutureWarning)
        tuned = PeftModel.from_pretrained(model, sys.argv[3]).eval()
    with torch.no_grad():
        result["adapter_logits"] = tuned(**batch).logits[0, -1, :8].tolist()
print(json.dumps(result))
"""


def _isolated(hub, tmp_path, *args) -> dict:
    env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub["url"], "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_XET": "1"}
    result = run_without_repository("import torch\n" + AUTO_SCRIPT, list(args), tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_pushed_model_loads_from_the_hub_with_remote_code_and_gives_the_local_events(
    hub, model_folder, video, tmp_path
):
    from sherlock.analyze import analyze_video

    _push(hub, "model", model_folder, "org/sherlock", "--metrics", _metrics(tmp_path), "--dataset", "org/m-vae")
    api = HfApi(endpoint=hub["url"], token=TOKEN)
    files = set(api.list_repo_files("org/sherlock"))
    assert "model.safetensors" in files and "extractor-detector/model.safetensors" in files
    assert "configuration_sherlock.py" in files and "processing_sherlock.py" in files and "README.md" in files
    assert not any(name.startswith("feature_cache/") for name in files) and "notes.txt" not in files
    # code: only the modules auto_map names and those they import relatively (what trust_remote_code downloads)
    assert "train_script.py" not in files and "extractor-detector/evil.py" not in files
    local_code = {path.name for path in model_folder.glob("*.py")} - {"train_script.py"}
    assert {name for name in files if name.endswith(".py")} == local_code
    weights = hashlib.sha256((model_folder / "model.safetensors").read_bytes()).hexdigest()
    lfs_oids = {upload["oid"] for upload in hub["server"].lfs_uploads}
    assert weights in lfs_oids, "the weights must go through the LFS pre-upload, not inline in the commit"
    card = ModelCard.load("org/sherlock")
    assert card.data.library_name == "transformers" and card.data.datasets == ["org/m-vae"]
    for name in sorted(files):
        assert f"`{name}`" in card.text, f"the card does not describe {name}"

    local_model = SherlockForConditionalGeneration.from_pretrained(model_folder).eval()
    local = analyze_video(local_model, SherlockProcessor.from_pretrained(model_folder), str(video))
    remote = _isolated(hub, tmp_path, "org/sherlock", video)
    assert remote["answer"] == local.answer
    unscored = [{k: v for k, v in event.items() if k != "score"} for event in remote["events"]]
    assert unscored == [{k: v for k, v in e.to_dict().items() if k != "score"} for e in local.events] == [FORCED_EVENT]


def test_a_pushed_adapter_loads_onto_its_base_from_the_hub(hub, model_folder, video, tmp_path):
    from sherlock.training.lora import add_lora

    _push(hub, "model", model_folder, "org/sherlock")
    model = add_lora(SherlockForConditionalGeneration.from_pretrained(model_folder))
    torch.manual_seed(0)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # trained adapters are not zero: make this one change the logits
            torch.nn.init.normal_(parameter, std=0.5)
    adapter = tmp_path / "run" / "adapter"
    model.save_pretrained(adapter)
    (adapter / "training_args.bin").write_bytes(b"pickle")
    assert main(["push", "adapter", str(adapter), "org/sherlock-lora", "--endpoint", hub["url"]]) == 2  # a pickle
    (adapter / "training_args.bin").unlink()
    _push(hub, "adapter", adapter, "org/sherlock-lora", "--base-model", "org/sherlock")
    config = json.loads(
        (Path(HfApi(endpoint=hub["url"]).hf_hub_download("org/sherlock-lora", "adapter_config.json"))).read_text()
    )
    assert config["base_model_name_or_path"] == "org/sherlock"
    assert ModelCard.load("org/sherlock-lora").data.base_model == "org/sherlock"
    batch = SherlockProcessor.from_pretrained(model_folder)(videos=str(video))
    with torch.no_grad():
        local = model.eval()(**batch).logits[0, -1, :8]
        base = SherlockForConditionalGeneration.from_pretrained(model_folder).eval()(**batch).logits[0, -1, :8]
    assert not torch.allclose(local, base)
    remote = _isolated(hub, tmp_path, "org/sherlock", video, "org/sherlock-lora")
    torch.testing.assert_close(torch.tensor(remote["adapter_logits"]), local, rtol=1e-4, atol=1e-4)


def test_a_pushed_dataset_loads_back_with_the_same_rows(hub, tmp_path):
    import datasets

    from dataset_scripts.build_synthetic import SyntheticArguments
    from dataset_scripts.synthetic_build import build_synthetic

    folder = tmp_path / "synthetic"
    build_synthetic(
        SyntheticArguments(output_dir=str(folder), num_videos=6, size="96x64", duration=4.0, num_workers=1, seed=2)
    )
    _push(hub, "dataset", folder, "org/m-vae-synthetic")
    remote, local = datasets.load_dataset("org/m-vae-synthetic"), datasets.load_dataset(str(folder))
    assert sorted(remote) == sorted(local)
    for split in local:
        assert remote[split].to_list() == local[split].to_list()
    parquet = [
        name
        for name in HfApi().list_repo_files("org/m-vae-synthetic", repo_type="dataset")
        if name.endswith(".parquet")
    ]
    assert parquet and hub["server"].lfs_uploads


def test_the_space_folder_is_pushed_as_a_gradio_space_with_exactly_its_files(hub):
    _push(hub, "space", REPO / "spaces_demo", "org/sherlock-demo")
    api = HfApi(endpoint=hub["url"], token=TOKEN)
    api.upload_file(path_or_fileobj=b"stale", path_in_repo="stale.txt", repo_id="org/sherlock-demo", repo_type="space")
    _push(hub, "space", REPO / "spaces_demo", "org/sherlock-demo")  # the repo mirrors the folder: stale.txt goes
    files = set(api.list_repo_files("org/sherlock-demo", repo_type="space")) - {".gitattributes"}
    wheel = "sherlock_mvae-0.1.0-py3-none-any.whl"  # the package, which is not on the public index
    assert files == {"README.md", "app.py", "examples/demo.mp4", "requirements.txt", wheel}
    header = ModelCard.load("org/sherlock-demo", repo_type="space").data.to_dict()
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py" and header["sdk_version"]


def test_the_space_requirements_match_what_the_suite_runs():
    import re

    import gradio
    from packaging.requirements import Requirement

    lines = (REPO / "spaces_demo" / "requirements.txt").read_text().splitlines()
    requirements = {
        (requirement := Requirement(line.split(" #")[0])).name: requirement
        for line in lines
        if line.strip() and not line.startswith(("#", "-"))
    }
    assert "sherlock-mvae" not in requirements  # `sherlock push space` adds the line of the wheel it pushes
    pyproject = re.search(r'^\s*"(transformers[^"]*)",', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    transformers = Requirement(pyproject.group(1))
    assert requirements["transformers"].specifier == transformers.specifier  # a range, not one release
    assert str(requirements["gradio"].specifier) == f"=={gradio.__version__}"
    header = ModelCard((REPO / "spaces_demo" / "README.md").read_text()).data.to_dict()
    assert header["sdk_version"] == gradio.__version__
    assert str(requirements["torch"].specifier) == f"=={torch.__version__.split('+')[0]}"


def _fresh_venv(tmp_path) -> Path:
    """A new virtual environment that sees this one's installed packages (what the Space builder gets from the
    index), except Sherlock itself, through a `.pth` file; returns its python."""
    import os
    import subprocess
    import sys
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    view = tmp_path / "installed"
    view.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "sherlock" not in entry.name.lower() and not entry.name.endswith(".pth"):
            os.symlink(entry, view / entry.name)
    (Path(purelib) / "installed_packages.pth").write_text(f"{view}\n")
    return python


def test_the_pushed_space_installs_sherlock_offline_from_what_was_pushed(hub, tmp_path):
    """The Space builder's way: `requirements.txt` alone (no other file of the Space beside it), installed with pip
    into a fresh environment, offline (no index: only the Hub the Space was pushed to). Sherlock then imports from the
    wheel that was pushed, not from this repository."""
    import os
    import shutil
    import subprocess
    import sys

    from huggingface_hub import snapshot_download

    _push(hub, "space", REPO / "spaces_demo", "org/sherlock-space-build")
    snapshot = Path(snapshot_download("org/sherlock-space-build", repo_type="space", cache_dir=tmp_path / "cache"))
    (wheel,) = snapshot.glob("sherlock_mvae-*.whl")
    build = tmp_path / "build"
    build.mkdir()
    shutil.copyfile(snapshot / "requirements.txt", build / "requirements.txt")
    python = _fresh_venv(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "HF_"))}
    env |= {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "--no-cache-dir"]
    done = subprocess.run([*pip, "-r", "requirements.txt"], cwd=build, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    check = (
        "import json, sherlock, sherlock.space, modeling_sherlock, processing, importlib.metadata as m\n"
        "dist = m.distribution('sherlock-mvae')\n"
        "print(json.dumps({'files': [sherlock.__file__, sherlock.space.__file__, modeling_sherlock.__file__, "
        "processing.__file__], 'direct_url': json.loads(dist.read_text('direct_url.json'))}))"
    )
    done = subprocess.run([python, "-c", check], cwd=build, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout)
    venv = (tmp_path / "venv").resolve()
    assert all(Path(path).resolve().is_relative_to(venv) for path in found["files"]), found["files"]
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert found["direct_url"]["url"].startswith(f"{hub['url']}/spaces/org/sherlock-space-build/resolve/")
    assert found["direct_url"]["archive_info"]["hashes"]["sha256"] == digest  # the very wheel that was pushed


def test_a_symbolic_link_is_never_followed_out_of_the_folder(hub, tmp_path, capsys):
    import shutil

    space = tmp_path / "space"
    shutil.copytree(REPO / "spaces_demo", space)
    (tmp_path / "secret.txt").write_text("a token")
    (space / "examples" / "more.mp4").symlink_to(tmp_path / "secret.txt")
    assert main(["push", "space", str(space), "org/leak", "--endpoint", hub["url"], "--token", TOKEN]) == 2
    assert "symbolic links (examples/more.mp4)" in capsys.readouterr().err
    assert not HfApi(endpoint=hub["url"], token=TOKEN).repo_exists("org/leak", repo_type="space")


def test_pushing_the_wrong_folder_is_one_line(hub, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for kind in ("model", "adapter", "space"):
        assert main(["push", kind, str(tmp_path / "empty"), "org/x", "--endpoint", hub["url"]]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("sherlock push: error: ") for line in errors)
    assert "no config.json" in errors[0] and "adapter_config.json" in errors[1] and "missing app.py" in errors[2]


def test_the_space_requirements_replace_any_sherlock_line_by_the_pushed_wheel(tmp_path):
    from sherlock.hub_upload import PushError
    from sherlock.space_bundle import check_wheel, space_requirements

    url = "https://hub.test/spaces/org/demo/resolve/main/sherlock_mvae-0.1.0-py3-none-any.whl#sha256=abc"
    text = (
        "--extra-index-url https://x\ntorch==2.13.0  # cpu\nsherlock-mvae==0.1.0\nSherlock_MVAE[space]>=0.1  # old\n"
    )
    lines = space_requirements(text, url).splitlines()
    assert lines[:2] == ["--extra-index-url https://x", "torch==2.13.0  # cpu"]
    assert [line for line in lines if "sherlock" in line.lower() and not line.startswith("#")] == [
        f"sherlock-mvae[space] @ {url}"
    ]
    (tmp_path / "other-1.0-py3-none-any.whl").write_bytes(b"")
    with pytest.raises(PushError, match="is not a sherlock-mvae wheel file"):
        check_wheel(tmp_path / "other-1.0-py3-none-any.whl")
