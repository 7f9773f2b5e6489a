"""Pushing a built dataset folder to a (local, Hub-compatible) Hub and reading it back: `push_dataset_folder`,
`list_repo_files`, `snapshot_download`, `datasets.load_dataset("namespace/name")`; plus the server's own contract
(auth, private repos, deletions, ranges, model repos, LFS uploads of binary files) that later model pushes rely on."""

import hashlib
import json
import random
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    HfApi,
    HfFileSystem,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
    snapshot_download,
)
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

from hub_server import git_blob_oid, hub_server, hub_server_instance, lfs_pointer, use_hub_endpoint  # noqa: F401
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


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    # the parquet shards are LFS files (as on the Hub), the card and the rejects regular ones
    lfs = {sibling.rfilename: sibling.lfs.sha256 for sibling in info.siblings if sibling.lfs is not None}
    assert lfs == {name: sha256(folder / name) for name in local_files(folder) if name.endswith(".parquet")}
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
    """What later model pushes use: a model repo (no URL prefix), a binary file > 5 MB (through LFS, not Xet)."""
    api, repo_id = HfApi(endpoint=hub["url"], token=TOKEN), "org/tiny-model"
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "sherlock"}\n')
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 24_000)
    api.create_repo(repo_id)
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id)
    assert info.commit_url == f"{hub['url']}/{repo_id}/commit/{info.oid}"
    assert {"repo_type": "model", "repo": repo_id, "oid": sha256(folder / "model.safetensors"), "size": 6_144_000} in (
        hub["server"].lfs_uploads
    )
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


# LFS: what the Hub stores in LFS (the preupload answer) goes through the LFS batch API, a PUT and a verify; the
# commit then names the object (`lfsFile`) instead of carrying the content


LFS_REPO = "org/lfs-mixed"


def build_mixed_folder(folder: Path, seed: int = 0) -> Path:
    """Weights (`.safetensors`) and a table (`.parquet`), both LFS files, and a config (`.json`)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(random.Random(seed).randbytes(300_000))
    (folder / "data").mkdir(exist_ok=True)
    pq.write_table(pa.table({"id": list(range(100)), "seed": [seed] * 100}), folder / "data" / "train.parquet")
    (folder / "config.json").write_text(json.dumps({"model_type": "sherlock", "seed": seed}) + "\n")
    return folder


def lfs_paths(folder: Path) -> list[str]:
    return [name for name in local_files(folder) if name.endswith((".safetensors", ".parquet"))]


@pytest.fixture(scope="module")
def lfs_push(hub_server, hub_server_instance, tmp_path_factory):  # noqa: F811
    """`LFS_REPO` (a dataset repo: `huggingface_hub` warns about parquet files in model repos) pushed once with
    `upload_folder`: the folder, the commit, the NDJSON lines of that commit and the LFS uploads / requests made."""
    server, folder = hub_server_instance, build_mixed_folder(tmp_path_factory.mktemp("lfs") / "model")
    lines, real_commit = [], server.store.commit

    def spy(repo, branch, commit_lines):
        if repo.repo_id == LFS_REPO:
            lines.extend(commit_lines)
        return real_commit(repo, branch, commit_lines)

    uploads, requests, unhandled = len(server.lfs_uploads), len(server.requests), len(server.unhandled)
    with pytest.MonkeyPatch.context() as monkeypatch:
        setup = use_hub_endpoint(monkeypatch, hub_server, tmp_path_factory.mktemp("hf"), token=TOKEN)
        monkeypatch.setattr(server.store, "commit", spy)
        api = HfApi(endpoint=hub_server, token=TOKEN)
        api.create_repo(LFS_REPO, repo_type="dataset")
        info = api.upload_folder(folder_path=str(folder), repo_id=LFS_REPO, repo_type="dataset")
    assert setup["blocked"] == [] and server.unhandled[unhandled:] == []
    return {
        "folder": folder,
        "info": info,
        "lines": lines,
        "uploads": server.lfs_uploads[uploads:],
        "requests": server.requests[requests:],
    }


def test_binary_files_go_through_lfs_and_json_goes_inline(hub, lfs_push):
    folder = lfs_push["folder"]
    expected = [
        {
            "repo_type": "dataset",
            "repo": LFS_REPO,
            "oid": sha256(folder / name),
            "size": (folder / name).stat().st_size,
        }
        for name in lfs_paths(folder)
    ]
    assert sorted(lfs_push["uploads"], key=lambda upload: upload["oid"]) == sorted(expected, key=lambda e: e["oid"])
    # the commit names the LFS objects and carries only the JSON inline
    operations = {line["value"]["path"]: line for line in lfs_push["lines"] if line["key"] != "header"}
    assert {path: line["key"] for path, line in operations.items()} == {
        "config.json": "file",
        "data/train.parquet": "lfsFile",
        "model.safetensors": "lfsFile",
    }
    for name in lfs_paths(folder):
        size = (folder / name).stat().st_size
        assert operations[name]["value"] == {
            "path": name,
            "algo": "sha256",
            "oid": sha256(folder / name),
            "size": size,
        }
    # the Git LFS protocol: a batch call on the repo's .git URL, a PUT per object, a verify per object
    paths = [(method, path.split("?")[0]) for method, path, status in lfs_push["requests"] if status == 200]
    assert paths.count(("POST", f"/datasets/{LFS_REPO}.git/info/lfs/objects/batch")) == 1
    assert paths.count(("POST", f"/datasets/{LFS_REPO}.git/info/lfs/objects/verify")) == 2
    assert sorted(path for method, path in paths if method == "PUT") == sorted(
        f"/lfs-storage/datasets/{LFS_REPO}/{upload['oid']}" for upload in expected
    )
    # the listings describe LFS files as the Hub does: `lfs` info, the pointer file's git oid as `oid`
    api = HfApi(endpoint=hub["url"])
    tree = {
        entry.path: entry
        for entry in api.list_repo_tree(LFS_REPO, recursive=True, repo_type="dataset")
        if hasattr(entry, "lfs")
    }
    infos = {entry.path: entry for entry in api.get_paths_info(LFS_REPO, local_files(folder), repo_type="dataset")}
    siblings = {sibling.rfilename: sibling for sibling in api.dataset_info(LFS_REPO, files_metadata=True).siblings}
    for name in local_files(folder):
        data = (folder / name).read_bytes()
        for entry in (tree[name], infos[name]):
            assert entry.size == len(data)
        assert siblings[name].size == len(data)
        if name in lfs_paths(folder):
            pointer = lfs_pointer(sha256(folder / name), len(data))
            for entry in (tree[name], infos[name]):
                assert entry.blob_id == git_blob_oid(pointer)
                assert entry.lfs == {"size": len(data), "sha256": sha256(folder / name), "pointer_size": len(pointer)}
            assert siblings[name].blob_id == git_blob_oid(pointer) and siblings[name].lfs == tree[name].lfs
        else:
            assert tree[name].lfs is None and infos[name].lfs is None and siblings[name].lfs is None
            assert tree[name].blob_id == infos[name].blob_id == siblings[name].blob_id == git_blob_oid(data)


def test_lfs_files_download_byte_identical(hub, lfs_push, tmp_path):
    folder, commit = lfs_push["folder"], lfs_push["info"].oid
    snapshot = Path(snapshot_download(repo_id=LFS_REPO, repo_type="dataset", cache_dir=tmp_path / "cache"))
    assert snapshot.name == commit
    assert_same_bytes(snapshot, folder)
    # the cache names an LFS blob by its sha256 (the ETag the Hub sends for LFS files), a regular one by its git oid
    blobs = {Path(snapshot / name).resolve().name: name for name in local_files(folder)}
    assert blobs == {
        **{sha256(folder / name): name for name in lfs_paths(folder)},
        git_blob_oid((folder / "config.json").read_bytes()): "config.json",
    }
    path = hf_hub_download(LFS_REPO, "model.safetensors", repo_type="dataset", cache_dir=tmp_path / "other")
    assert Path(path).read_bytes() == (folder / "model.safetensors").read_bytes()
    url = hf_hub_url(LFS_REPO, "data/train.parquet", repo_type="dataset")
    metadata = get_hf_file_metadata(url)
    size = (folder / "data/train.parquet").stat().st_size
    assert (metadata.etag, metadata.size, metadata.commit_hash) == (
        sha256(folder / "data/train.parquet"),
        size,
        commit,
    )
    head = get_session().head(url)
    assert head.status_code == 200 and head.headers["X-Linked-Size"] == str(size)
    assert head.headers["X-Linked-Etag"] == head.headers["ETag"] == f'"{sha256(folder / "data/train.parquet")}"'
    # ranged reads of an LFS file (HfFileSystem reads parquet footers this way)
    ranged = get_session().get(url, headers={"Range": "bytes=-8"})
    assert ranged.status_code == 206 and ranged.content == (folder / "data/train.parquet").read_bytes()[-8:]
    fs = HfFileSystem(endpoint=hub["url"], token=TOKEN)
    data = (folder / "model.safetensors").read_bytes()
    assert fs.cat_file(f"datasets/{LFS_REPO}/model.safetensors", start=1000, end=5000) == data[1000:5000]


def test_repushing_identical_lfs_content_uploads_no_object_again(hub, tmp_path):
    """The batch answer gives no actions for objects the repo has (dedup), whatever path or commit names them."""
    server, api, repo_id = hub["server"], HfApi(endpoint=hub["url"], token=TOKEN), "org/lfs-dedup"
    folder = build_mixed_folder(tmp_path / "build", seed=1)
    push = dict(folder_path=str(folder), repo_id=repo_id, repo_type="dataset")
    api.create_repo(repo_id, repo_type="dataset")
    first = api.upload_folder(**push)
    uploaded = [upload for upload in server.lfs_uploads if upload["repo"] == repo_id]
    assert sorted(upload["oid"] for upload in uploaded) == sorted(sha256(folder / name) for name in lfs_paths(folder))

    requests = len(server.requests)
    again = api.upload_folder(**push)
    assert again.oid == first.oid  # nothing changed: no commit
    batches = [path for method, path, _ in server.requests[requests:] if path.endswith("/lfs/objects/batch")]
    assert batches == [
        f"/datasets/{repo_id}.git/info/lfs/objects/batch"
    ]  # the client asked, the server had both objects
    assert not any(method == "PUT" for method, _, _ in server.requests[requests:])

    # the same weights under a new name, plus a changed config: a new commit, still no LFS upload
    (folder / "copy.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    (folder / "config.json").write_text('{"model_type": "sherlock", "seed": 2}\n')
    third = api.upload_folder(**push)
    assert third.oid != first.oid
    assert [upload for upload in server.lfs_uploads if upload["repo"] == repo_id] == uploaded
    copy = api.get_paths_info(repo_id, ["copy.safetensors"], repo_type="dataset")[0]
    assert copy.lfs.sha256 == sha256(folder / "model.safetensors")
    assert_same_bytes(snapshot_download(repo_id=repo_id, repo_type="dataset", cache_dir=tmp_path / "cache"), folder)


def raw_commit(url: str, repo_id: str, *operations: dict):
    """POST a commit's NDJSON lines directly (what `create_commit` sends after uploading)."""
    lines = [{"key": "header", "value": {"summary": "raw commit"}}, *operations]
    return get_session().post(
        f"{url}/api/models/{repo_id}/commit/main",
        content="\n".join(json.dumps(line) for line in lines).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"},
    )


def test_a_commit_naming_an_lfs_object_never_uploaded_is_refused(hub):
    api, repo_id = HfApi(endpoint=hub["url"], token=TOKEN), "org/lfs-refused"
    api.create_repo(repo_id)
    head = api.model_info(repo_id).sha
    data = random.Random(3).randbytes(5_000)
    oid = hashlib.sha256(data).hexdigest()
    line = {"key": "lfsFile", "value": {"path": "w.safetensors", "algo": "sha256", "oid": oid, "size": len(data)}}

    # through the client: an LFS addition whose upload is skipped
    skipped = CommitOperationAdd(path_in_repo="w.safetensors", path_or_fileobj=data)
    skipped._upload_mode, skipped._is_uploaded = "lfs", True
    with pytest.raises(HfHubHTTPError) as error:
        api.create_commit(repo_id, [skipped], commit_message="no upload")
    assert error.value.response.status_code == 400 and "never uploaded" in str(error.value)
    # an object uploaded to another repo is not this repo's (LFS storage is per repo)
    api.create_repo("org/lfs-refused-other")
    api.upload_file(path_or_fileobj=data, path_in_repo="w.safetensors", repo_id="org/lfs-refused-other")
    assert raw_commit(hub["url"], repo_id, line).status_code == 400
    assert api.model_info(repo_id).sha == head and api.list_repo_files(repo_id) == []

    # once uploaded to this repo the same line is accepted, but not with another size
    api.preupload_lfs_files(repo_id, [CommitOperationAdd(path_in_repo="w.safetensors", path_or_fileobj=data)])
    wrong = {"key": "lfsFile", "value": {**line["value"], "size": len(data) + 1}}
    assert raw_commit(hub["url"], repo_id, wrong).status_code == 400
    assert raw_commit(hub["url"], repo_id, line).status_code == 200
    assert api.list_repo_files(repo_id) == ["w.safetensors"]
    assert get_session().get(hf_hub_url(repo_id, "w.safetensors", endpoint=hub["url"])).content == data


def test_lfs_batch_upload_and_verify_protocol(hub):
    """The raw Git LFS exchange: basic transfer only, signed upload URLs, content checked, verify, then dedup."""
    server, url, repo_id = hub["server"], hub["url"], "org/lfs-protocol"
    HfApi(endpoint=url, token=TOKEN).create_repo(repo_id)
    data = random.Random(4).randbytes(2_000)
    oid, size = hashlib.sha256(data).hexdigest(), len(data)
    auth = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.git-lfs+json"}
    batch_url, verify_url = (
        f"{url}/{repo_id}.git/info/lfs/objects/batch",
        f"{url}/{repo_id}.git/info/lfs/objects/verify",
    )
    request = {
        "operation": "upload",
        "transfers": ["basic", "multipart", "xet"],
        "objects": [{"oid": oid, "size": size}],
        "hash_algo": "sha256",
    }

    assert get_session().post(batch_url, json=request).status_code == 401  # writes need a token
    answer = get_session().post(batch_url, json=request, headers=auth).json()
    assert answer["transfer"] == "basic"  # never xet, even when offered
    (obj,) = answer["objects"]
    assert (obj["oid"], obj["size"]) == (oid, size) and set(obj["actions"]) == {"upload", "verify"}
    put_url, verify = obj["actions"]["upload"]["href"], obj["actions"]["verify"]["href"]
    assert verify == verify_url
    assert get_session().post(verify, json={"oid": oid, "size": size}, headers=auth).status_code == 404

    assert get_session().put(put_url, content=data[:-1] + b"x").status_code == 400  # not the announced sha256
    tampered = put_url.replace(f"size={size}", f"size={size - 1}")  # the signature covers repo, oid and size
    assert get_session().put(tampered, content=data[:-1]).status_code == 403
    assert not any(upload["repo"] == repo_id for upload in server.lfs_uploads)
    assert get_session().put(put_url, content=data).status_code == 200
    assert [upload for upload in server.lfs_uploads if upload["repo"] == repo_id] == [
        {"repo_type": "model", "repo": repo_id, "oid": oid, "size": size}
    ]
    assert get_session().post(verify, json={"oid": oid, "size": size}, headers=auth).status_code == 200
    assert get_session().post(verify, json={"oid": oid, "size": size + 1}, headers=auth).status_code == 422
    again = get_session().post(batch_url, json=request, headers=auth).json()
    assert again["objects"] == [{"oid": oid, "size": size}]  # stored: no actions
