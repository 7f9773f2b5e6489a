"""Pushing a built dataset folder to a (local, Hub-compatible) Hub and reading it back: `push_dataset_folder`,
`list_repo_files`, `snapshot_download`, `datasets.load_dataset("namespace/name")`; plus the server's own contract
(auth, private repos, deletions, ranges, model repos) that later model pushes rely on."""

from pathlib import Path

import datasets
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, RemoteEntryNotFoundError
from huggingface_hub.utils import get_session

from dataset_scripts.dataset_io import (
    ConfigFiles,
    card_header,
    push_dataset_folder,
    write_card,
    write_rejects,
    write_split,
)
from dataset_scripts.mvae_schema import make_row, mvae_features

from hub_server import hub_server, hub_server_instance, use_hub_endpoint  # noqa: F401  (pytest fixtures)
from sherlock_tester import cuva_dir


TOKEN = "hf_test"
CONFIG = "mvae"
FIGHT = {"start": 40.5, "end": 52.0, "subject": "man", "event_type": "Fighting", "object": "man", "scene": "Street"}
THEFT = {"start": 23.0, "end": 25.0, "subject": "people", "event_type": "Theft", "object": "car", "scene": "Street"}

TRAIN = [
    make_row("00001", "00001.mp4", "train", [FIGHT, THEFT], duration=60.0, source={"reason": "a fight"}),
    make_row("00002", "00002.mp4", "train", [], duration=None),
    make_row("00003", "00003.mp4", "train", [THEFT], duration=12.5, source={"description": "a theft"}),
]
TEST = [make_row("00004", "00004.mp4", "test", [FIGHT], duration=30.0)]


def build_folder(folder: Path, splits: dict[str, list[dict]], rejects: list[dict]) -> Path:
    """A dataset folder as the builders write it: parquet shards (2 rows each), card with `configs:`, rejects."""
    features = mvae_features()
    files = {
        split: write_split(rows, features, folder, CONFIG, split, rows_per_shard=2) for split, rows in splits.items()
    }
    header = card_header(
        [ConfigFiles(CONFIG, files, default=True)], "cc-by-nc-4.0", "M-VAE (test)", {"tags": ["video"]}
    )
    write_card(folder, header, "# M-VAE\n\nA tiny test build.")
    write_rejects(folder, rejects)
    return folder


def local_files(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def assert_same_bytes(snapshot: str | Path, folder: Path) -> None:
    assert local_files(Path(snapshot)) == local_files(folder)
    for name in local_files(folder):
        assert (Path(snapshot) / name).read_bytes() == (folder / name).read_bytes(), name


def assert_same_dataset(repo_id: str, folder: Path) -> datasets.DatasetDict:
    """`load_dataset(repo_id)` (from the server) equals `load_dataset(folder)`, split by split; returns it."""
    remote, local = datasets.load_dataset(repo_id), datasets.load_dataset(str(folder))
    assert sorted(remote) == sorted(local)
    for split in local:
        assert remote[split].features == local[split].features == mvae_features()
        assert remote[split].to_list() == local[split].to_list()
    return remote


@pytest.fixture
def hub(hub_server, hub_server_instance, monkeypatch, tmp_path):  # noqa: F811
    """The server URL with `snapshot_download` / `load_dataset` pointed at it; nothing may leave the machine."""
    setup = use_hub_endpoint(monkeypatch, hub_server, tmp_path, token=TOKEN)
    unhandled_before = len(hub_server_instance.unhandled)
    yield {"url": hub_server, "server": hub_server_instance, **setup}
    assert setup["blocked"] == [], "a client tried to reach another host than the test Hub"
    assert hub_server_instance.unhandled[unhandled_before:] == [], "a client needed a Hub route the server lacks"


@pytest.fixture(scope="module")
def mvae_push(hub_server, tmp_path_factory):  # noqa: F811
    """`org/m-vae` pushed once with `push_dataset_folder`: (folder, commit URL)."""
    folder = build_folder(
        tmp_path_factory.mktemp("m-vae"), {"train": TRAIN, "test": TEST}, [{"row": 7, "reason": "no video"}]
    )
    with pytest.MonkeyPatch.context() as monkeypatch:
        setup = use_hub_endpoint(monkeypatch, hub_server, tmp_path_factory.mktemp("hf"), token=TOKEN)
        commit_url = push_dataset_folder(folder, "org/m-vae", token=TOKEN, endpoint=hub_server)
    assert setup["blocked"] == []
    return folder, commit_url


def test_push_uploads_exactly_the_local_files(hub, mvae_push):
    folder, commit_url = mvae_push
    api = HfApi(endpoint=hub["url"])
    assert api.list_repo_files("org/m-vae", repo_type="dataset") == local_files(folder)
    assert local_files(folder) == [
        "README.md",
        "mvae/test-00000-of-00001.parquet",
        "mvae/train-00000-of-00002.parquet",
        "mvae/train-00001-of-00002.parquet",
        "rejects.jsonl",
    ]
    info = api.dataset_info("org/m-vae", files_metadata=True)
    assert commit_url == f"{hub['url']}/datasets/org/m-vae/commit/{info.sha}"
    sizes = {sibling.rfilename: sibling.size for sibling in info.siblings}
    assert sizes == {name: (folder / name).stat().st_size for name in local_files(folder)}
    assert info.card_data["pretty_name"] == "M-VAE (test)" and info.card_data["configs"][0]["config_name"] == CONFIG


def test_snapshot_download_is_byte_identical(hub, mvae_push, tmp_path):
    folder, _ = mvae_push
    sha = HfApi(endpoint=hub["url"]).dataset_info("org/m-vae").sha
    snapshot = snapshot_download(repo_id="org/m-vae", repo_type="dataset", endpoint=hub["url"], cache_dir=tmp_path)
    assert Path(snapshot).name == sha and Path(snapshot).parent.parent == tmp_path / "datasets--org--m-vae"
    assert_same_bytes(snapshot, folder)
    # the default cache (HF_HUB_CACHE from use_hub_endpoint) and HF_ENDPOINT work without explicit arguments
    assert_same_bytes(snapshot_download(repo_id="org/m-vae", repo_type="dataset"), folder)
    assert Path(hub["cache_dir"], "datasets--org--m-vae", "snapshots", sha).is_dir()


def test_load_dataset_from_the_hub_matches_the_local_folder(hub, mvae_push):
    folder, _ = mvae_push
    remote = assert_same_dataset("org/m-vae", folder)
    assert remote["train"].to_list() == TRAIN and remote["test"].to_list() == TEST


def test_second_push_creates_a_new_commit_that_downloads_reflect(hub, tmp_path):
    api, repo_id = HfApi(endpoint=hub["url"]), "org/m-vae-update"
    folder = build_folder(tmp_path / "build", {"train": TRAIN, "test": TEST}, [])
    push_dataset_folder(folder, repo_id, token=TOKEN, endpoint=hub["url"])
    first = api.dataset_info(repo_id).sha
    first_files = {name: (folder / name).read_bytes() for name in local_files(folder)}

    # rebuild: one train row less (2 shards -> 1), a changed test row, a new reject
    changed_test = [make_row("00004", "00004.mp4", "test", [THEFT, FIGHT], duration=31.0)]
    build_folder(folder, {"train": TRAIN[:2], "test": changed_test}, [{"row": 3, "reason": "corrupt"}])
    commit_url = push_dataset_folder(folder, repo_id, token=TOKEN, endpoint=hub["url"], commit_message="Rebuild")
    second = api.dataset_info(repo_id).sha
    assert second != first and commit_url.endswith(second)
    history = api.list_repo_commits(repo_id, repo_type="dataset")
    assert [commit.commit_id for commit in history[:2]] == [second, first] and history[0].title == "Rebuild"

    snapshot = Path(snapshot_download(repo_id=repo_id, repo_type="dataset", cache_dir=tmp_path / "cache"))
    assert snapshot.name == second
    for name in local_files(folder):
        assert (snapshot / name).read_bytes() == (folder / name).read_bytes(), name
    remote = assert_same_dataset(repo_id, folder)  # the card lists the new shards only
    assert remote["test"].to_list() == changed_test and remote["train"].to_list() == TRAIN[:2]
    # the first commit is still there, unchanged (content-addressed history)
    old = Path(snapshot_download(repo_id=repo_id, repo_type="dataset", revision=first, cache_dir=tmp_path / "cache"))
    assert {name: (old / name).read_bytes() for name in local_files(old)} == first_files


def test_push_removes_remote_files_deleted_locally(hub, tmp_path):
    folder = build_folder(tmp_path / "build", {"train": TRAIN, "test": TEST}, [])
    push_dataset_folder(folder, "org/m-vae-stale", token=TOKEN, endpoint=hub["url"])
    build_folder(folder, {"train": TRAIN[:1], "test": TEST}, [])  # train: 2 shards -> 1
    push_dataset_folder(folder, "org/m-vae-stale", token=TOKEN, endpoint=hub["url"])
    assert HfApi(endpoint=hub["url"]).list_repo_files("org/m-vae-stale", repo_type="dataset") == local_files(folder)


def test_server_applies_deletions(hub, tmp_path):
    """With `delete_patterns`, upload_folder mirrors the folder: deleted files vanish from the listing and downloads."""
    api, repo_id = HfApi(endpoint=hub["url"], token=TOKEN), "org/m-vae-mirror"
    folder = build_folder(tmp_path / "build", {"train": TRAIN, "test": TEST}, [])
    push_dataset_folder(folder, repo_id, token=TOKEN, endpoint=hub["url"])
    build_folder(folder, {"train": TRAIN[:1], "test": TEST}, [])
    (folder / "rejects.jsonl").unlink()
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset", delete_patterns="*")
    assert api.list_repo_files(repo_id, repo_type="dataset") == local_files(folder)
    assert "mvae/train-00001-of-00002.parquet" not in local_files(folder)
    assert_same_bytes(snapshot_download(repo_id=repo_id, repo_type="dataset", cache_dir=tmp_path / "c"), folder)


def test_push_to_an_existing_repo_with_exist_ok(hub, tmp_path):
    api, repo_id = HfApi(endpoint=hub["url"], token=TOKEN), "org/m-vae-existing"
    api.create_repo(repo_id, repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as error:
        api.create_repo(repo_id, repo_type="dataset")
    assert error.value.response.status_code == 409
    folder = build_folder(tmp_path / "build", {"train": TRAIN, "test": TEST}, [])
    first = push_dataset_folder(folder, repo_id, token=TOKEN, endpoint=hub["url"])  # create_repo(exist_ok=True)
    assert api.list_repo_files(repo_id, repo_type="dataset") == local_files(folder)
    # an unchanged folder makes no (empty) commit: the server reports each file's oid at preupload
    assert push_dataset_folder(folder, repo_id, token=TOKEN, endpoint=hub["url"]) == first
    assert len(api.list_repo_commits(repo_id, repo_type="dataset")) == 2  # initial (empty) commit + the push


def test_writes_need_a_token_and_private_repos_are_hidden(hub, tmp_path):
    anonymous = HfApi(endpoint=hub["url"], token=False)
    with pytest.raises(HfHubHTTPError) as error:
        anonymous.create_repo("org/anonymous", repo_type="dataset")
    assert error.value.response.status_code == 401
    api = HfApi(endpoint=hub["url"], token=TOKEN)
    api.create_repo("org/secret", repo_type="dataset", private=True)
    assert api.repo_exists("org/secret", repo_type="dataset")
    assert not anonymous.repo_exists("org/secret", repo_type="dataset")
    assert not api.repo_exists("org/never-created", repo_type="dataset")


def test_model_repos_round_trip(hub, tmp_path):
    """What later model pushes use: a model repo (no URL prefix), a binary file > 5 MB sent inline (no LFS/Xet)."""
    api, repo_id = HfApi(endpoint=hub["url"], token=TOKEN), "org/tiny-model"
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "sherlock"}\n')
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 24_000)
    api.create_repo(repo_id)
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id)
    assert info.commit_url == f"{hub['url']}/{repo_id}/commit/{info.oid}"
    assert api.model_info(repo_id).sha == info.oid
    path = hf_hub_download(repo_id, "model.safetensors", cache_dir=tmp_path / "cache")
    assert Path(path).read_bytes() == (folder / "model.safetensors").read_bytes()
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(repo_id, "missing.bin", cache_dir=tmp_path / "cache")
    # ranged reads (HfFileSystem) get 206 and the right slice
    response = get_session().get(f"{hub['url']}/{repo_id}/resolve/main/config.json", headers={"Range": "bytes=1-12"})
    assert response.status_code == 206 and response.content == b'"model_type"'
    assert response.headers["X-Repo-Commit"] == info.oid


def test_the_real_mvae_build_pushes_through_its_cli_and_loads_back(hub, tmp_path):
    """`sherlock-build-mvae --push-to-hub` on the shared CUVA files, then `load_dataset("org/m-vae-real")` from the
    server gives exactly the rows of the local folder."""
    from dataset_scripts.build_mvae import main as build_mvae

    folder = tmp_path / "m-vae"
    argv = ["--cuva-dir", str(cuva_dir()), "--output-dir", str(folder), "--push-to-hub", "org/m-vae-real"]
    assert build_mvae([*argv, "--hub-endpoint", hub["url"], "--hub-token", TOKEN]) == 0
    remote, local = datasets.load_dataset("org/m-vae-real"), datasets.load_dataset(str(folder))
    assert sorted(remote) == sorted(local) == ["test", "train"]
    for split in local:
        assert remote[split].features == local[split].features
        assert remote[split].to_list() == local[split].to_list()
    assert len(local["train"]) + len(local["test"]) == 918
    assert HfApi(endpoint=hub["url"]).list_repo_files("org/m-vae-real", repo_type="dataset") == local_files(folder)
