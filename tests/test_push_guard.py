"""What may be published: the remote-code modules of a model (only those `auto_map` names and what they import), the
one guard that `sherlock push` and the dataset builders' `--push-to-hub` share (no pickle, no link, only the files
of a dataset repo), and Hub ids that are never local paths."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import HfApi

from dataset_scripts.dataset_io import HubArguments
from sherlock.cli import main
from sherlock.hub_upload import PushError, check_hub_id, select_files
from sherlock.push import SELECTIONS, remote_code_modules, select_model_files

from hub_server import hub_server, hub_server_instance, use_hub_endpoint  # noqa: F401  (pytest fixtures)


TOKEN = "hf_test"


@pytest.fixture
def hub(hub_server, hub_server_instance, monkeypatch, tmp_path):  # noqa: F811
    setup = use_hub_endpoint(monkeypatch, hub_server, tmp_path / "hf", token=TOKEN)
    yield {"url": hub_server, "server": hub_server_instance, "api": HfApi(endpoint=hub_server, token=TOKEN)}
    assert setup["blocked"] == [], "a client tried to reach another host than the test Hub"


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def _remote_code_folder(folder: Path) -> Path:
    """A model folder as transformers saves remote code (flat): the modules auto_map names import siblings."""
    auto = {"AutoConfig": "configuration_x.XConfig", "AutoModel": "modeling_x.XModel"}
    processor = {"auto_map": {"AutoProcessor": "processing_x.XProcessor"}, "image_processor": {"size": 32}}
    return _write(
        folder,
        {
            "config.json": json.dumps({"model_type": "x", "auto_map": auto}),
            "processor_config.json": json.dumps(processor),
            "tokenizer_config.json": json.dumps({"auto_map": {"AutoTokenizer": ["other/repo--tok.T", None]}}),
            "configuration_x.py": "from transformers import PretrainedConfig\n",
            "modeling_x.py": "import torch\nfrom .configuration_x import XConfig\nfrom .layers_x import Layer\n",
            "layers_x.py": "from .helpers_x import helper\n",
            "helpers_x.py": "def helper():\n    return 1\n",
            "processing_x.py": "from .helpers_x import helper\n",
            "train.py": "print('a local script')\n",
            "extractor-pose/config.json": "{}",
            "extractor-pose/evil.py": "import os\n",
            "model.safetensors": "weights",
        },
    )


def test_only_the_modules_that_auto_map_names_and_their_relative_imports_are_pushed(tmp_path):
    folder = _remote_code_folder(tmp_path / "model")
    modules = ["configuration_x.py", "helpers_x.py", "layers_x.py", "modeling_x.py", "processing_x.py"]
    assert remote_code_modules(folder) == modules  # `other/repo--tok.T` lives in another repo
    files = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    pushed, skipped = select_model_files(folder, files)
    assert [name for name in pushed if name.endswith(".py")] == modules
    assert skipped == ["extractor-pose/evil.py", "train.py"]
    assert "extractor-pose/config.json" in pushed and "model.safetensors" in pushed

    (folder / "helpers_x.py").unlink()
    with pytest.raises(
        PushError, match=r"helpers_x\.py, which (layers_x|processing_x)\.py needs, is not in the folder"
    ):
        remote_code_modules(folder)


TOKENIZER_FILES = [
    "added_tokens.json",
    "chat_template.jinja",
    "merges.txt",
    "special_tokens_map.json",
    "spiece.model",
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "vocab.json",
    "vocab.txt",
]


@pytest.mark.parametrize("kind", ["model", "adapter"])
def test_every_file_a_tokenizer_saves_is_pushed(tmp_path, kind):
    """A slow tokenizer's vocabulary (`tokenizer.model`, `spiece.model`, `vocab.*`, `merges.txt`) and its
    `added_tokens.json` are pushed with the model (and with an adapter), not left out: the repo loads without them
    only when a fast `tokenizer.json` is there too."""
    files = {name: "{}" if name.endswith(".json") else "x" for name in TOKENIZER_FILES}
    if kind == "model":
        folder = _remote_code_folder(tmp_path / "model")  # its own tokenizer_config.json (an auto_map) kept
        files = {name: text for name, text in files.items() if not (folder / name).exists()}
        _write(folder, files | {"generation_config.json": "{}"})
        names = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
        pushed, skipped = select_model_files(folder, names)
        assert "generation_config.json" in pushed
    else:
        files |= {"adapter_config.json": "{}", "adapter_model.safetensors": "weights"}
        folder = _write(tmp_path / "adapter", files)
        pushed, skipped = select_files(sorted(files), SELECTIONS["adapter"])
    assert [name for name in TOKENIZER_FILES if name not in pushed] == []
    assert not set(skipped) & set(TOKENIZER_FILES)


def _dataset_folder(folder: Path) -> Path:
    """A built dataset folder (card, parquet shard, rejects) and stray files that are no part of the dataset."""
    (folder / "default").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2]}), folder / "default" / "train-00000-of-00001.parquet")
    return _write(
        folder,
        {
            "README.md": "---\nlicense: cc-by-4.0\n---\n# A dataset\n",
            "rejects.jsonl": "",
            "build_notes.txt": "a local note",
            "helper.py": "print('a local script')\n",
            "videos/a.mp4": "video",
        },
    )


@pytest.mark.parametrize("path", ["builders", "cli"])
def test_the_builders_push_to_hub_and_sherlock_push_dataset_share_one_guard(hub, tmp_path, path, capsys):
    folder = _dataset_folder(tmp_path / "data")
    repo_id = f"org/guarded-{path}"

    def push():
        if path == "builders":  # what every builder's --push-to-hub calls
            return HubArguments(push_to_hub=repo_id, hub_endpoint=hub["url"], hub_token=TOKEN).push(folder)
        code = main(["push", "dataset", str(folder), repo_id, "--endpoint", hub["url"], "--token", TOKEN])
        if code != 0:
            raise PushError(capsys.readouterr().err)
        return code

    (folder / "default" / "state.pkl").write_bytes(b"\x80\x04pickle")
    with pytest.raises(PushError, match=r"pickle files \(default/state\.pkl\)"):
        push()
    (folder / "default" / "state.pkl").unlink()
    (tmp_path / "secret.txt").write_text("a token")
    (folder / "videos" / "b.mp4").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(PushError, match=r"symbolic links \(videos/b\.mp4\)"):
        push()
    assert not hub["api"].repo_exists(repo_id, repo_type="dataset")  # refused before anything was uploaded
    (folder / "videos" / "b.mp4").unlink()
    push()
    files = sorted(hub["api"].list_repo_files(repo_id, repo_type="dataset"))
    assert files == [".gitattributes", "README.md", "default/train-00000-of-00001.parquet", "rejects.jsonl",
                     "videos/a.mp4"] or files == ["README.md", "default/train-00000-of-00001.parquet",
                                                  "rejects.jsonl", "videos/a.mp4"]  # fmt: skip


def test_a_local_path_is_never_taken_for_a_hub_id(hub, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    folder = _remote_code_folder(tmp_path / "model")
    (tmp_path / "out" / "x").mkdir(parents=True)
    endpoint = ["--endpoint", hub["url"], "--token", TOKEN]
    for repo_id in ("./out", "out/x", "../org/x", str(tmp_path / "out"), "~/models/x"):
        assert main(["push", "model", str(folder), repo_id, *endpoint]) == 2
        assert f"repo id {repo_id!r} is a local path, not a Hub repo id" in capsys.readouterr().err
    assert main(["push", "model", "out/y", "org/sherlock", *endpoint]) == 2  # a folder that does not exist
    assert "out/y is not a folder" in capsys.readouterr().err
    assert main(["push", "model", str(folder), "org/sherlock", "--base-model", "./base", *endpoint]) == 2
    assert "--base-model './base' is a local path" in capsys.readouterr().err

    adapter = _write(tmp_path / "adapter", {"adapter_model.safetensors": "weights"})
    for base, message in [
        ("out/x", "the base model 'out/x' is a local path"),
        ("runs/stage1", f"the base model 'runs/stage1' is not a model repo on {hub['url']}"),  # not here: ask the Hub
    ]:
        (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base}))
        assert main(["push", "adapter", str(adapter), "org/lora", *endpoint]) == 2
        error = capsys.readouterr().err.strip()
        assert message in error and "--base-model" in error and len(error.splitlines()) == 1
    for repo_id in ("out/x", "org/sherlock", "org/lora", "runs/stage1"):  # no upload was attempted
        assert not hub["api"].repo_exists(repo_id)
    assert check_hub_id("org/sherlock") == "org/sherlock"


def test_a_builder_refuses_a_local_path_for_push_to_hub_before_building(tmp_path, capsys):
    from dataset_scripts.build_synthetic import main as build_synthetic

    output = tmp_path / "synthetic"
    argv = ["--output-dir", str(output), "--num-videos", "1", "--size", "96x64", "--duration", "4"]
    assert build_synthetic([*argv, "--push-to-hub", "./hub-copy"]) == 1
    error = capsys.readouterr().err.strip()
    assert error == (
        "sherlock-build-synthetic: error: --push-to-hub './hub-copy' is a local path, not a Hub repo id (namespace/name)"
    )
    assert not output.exists()  # refused before the build
