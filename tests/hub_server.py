"""A small local Hugging Face Hub-compatible test server (standard library only) and the helpers to point
`huggingface_hub` / `datasets` at it.

No package on PyPI provides a maintained Hub-compatible mock server, so this implements just enough of the Hub HTTP
API for `huggingface_hub` 2.x (`HfApi`, `hf_hub_download`, `snapshot_download`, `HfFileSystem`) and `datasets`
(`load_dataset("namespace/name")`):

    POST   /api/repos/create                                   create_repo (409 when it exists => exist_ok works)
    DELETE /api/repos/delete                                   delete_repo
    GET    /api/whoami-v2                                      whoami
    POST   /api/validate-yaml                                  README.md metadata check done before every commit
    GET    /api/{type}s/{ns}/{name}[/revision/{rev}]           repo_info / model_info / dataset_info (sha, siblings)
    GET    /api/{type}s/{ns}/{name}/tree/{rev}[/{path}]        list_repo_tree / list_repo_files (?recursive, ?expand)
    POST   /api/{type}s/{ns}/{name}/paths-info/{rev}           get_paths_info (form: paths, expand)
    GET    /api/{type}s/{ns}/{name}/refs                       list_repo_refs
    GET    /api/{type}s/{ns}/{name}/commits/{rev}              list_repo_commits
    POST   /api/{type}s/{ns}/{name}/preupload/{rev}            upload mode of each file: "lfs" or "regular" (below)
    POST   /[{type}s/]{ns}/{name}.git/info/lfs/objects/batch   Git LFS batch API (upload): transfer "basic", actions
    PUT    /lfs-storage/{type}s/{ns}/{name}/{sha256}?size&signature   the `upload` href: stores one LFS object
    POST   /[{type}s/]{ns}/{name}.git/info/lfs/objects/verify  the `verify` href: 404 / 422 unless the object is stored
    POST   /api/{type}s/{ns}/{name}/commit/{rev}               NDJSON header / file (base64) / lfsFile / deletedFile /
                                                               deletedFolder
    GET    /[{type}s/]{ns}/{name}/resolve/{rev}/{path}         file download (+ HEAD; Range requests)

`{type}` is model, dataset, space or kernel; model URLs have no type prefix (`/{ns}/{name}/resolve/...`).

Uploads take the two paths of the Hub. Preupload answers "lfs" for the suffixes of `LFS_SUFFIXES` (`.safetensors`,
`.parquet`, `.bin`, `.pt`, `.png`, `.mp4`, ...; the Hub's default `.gitattributes`) and for files over 10 MiB, else
"regular" (`shouldIgnore` is always false). Regular files travel inline (base64) in the commit. For LFS files the
client calls the batch API (sha256 `oid` + `size` per object); objects the repo already has get no actions
(dedup, scoped per repo as Git LFS servers do), the others an `upload` href (a signed URL on this server: like the
Hub's presigned storage URLs it needs no token) and a `verify` href. The PUT stores the body under its sha256 after
checking sha256 and size (400 otherwise) and is recorded in `HubServer.lfs_uploads` ({"repo_type", "repo", "oid",
"size"}), so a test can assert that a file went through LFS. The commit then names the object in an `lfsFile`
line (`path`, `algo`, `oid`, `size`), refused (400) unless the object was uploaded to that repo.

Storage: regular files are content-addressed blobs (named by their git blob sha1, the same oid `huggingface_hub`
computes for regular files), LFS objects files named by their sha256, both in a temporary folder; repos, branches
and commits are kept in memory. In a tree an LFS file is the git blob oid of its LFS pointer file, as in git: the
listings (tree, paths-info, siblings) give it as `oid` / `blobId` with an `lfs` entry (`oid` or, in siblings,
`sha256`, `size`, `pointerSize`), and preupload reports its sha256 as its `oid` (what the client compares for LFS
files). Downloads of an LFS file send ETag = X-Linked-Etag = its sha256 and X-Linked-Size (as the Hub's answer for
LFS files), a regular file's ETag is its blob oid; all carry X-Repo-Commit. A commit id is the sha1 of (parent,
tree, message), so identical content gives identical ids and `snapshot_download` caching works as on the Hub (blobs
are cached by ETag, snapshots by commit id).

Xet: `huggingface_hub` 2.4 uploads every "lfs" file through Xet whenever `hf_xet` is importable (the default), and
`upload_folder` then uses its Xet pipeline: no server answer decides it (the client never calls the LFS batch API on
that path, and ignores the batch answer's `transfer` on the LFS path). Its only switch is the `HF_HUB_DISABLE_XET`
setting, which `use_hub_endpoint` turns on (environment and `huggingface_hub.constants`); a client without it asks
for `/api/.../xet-write-token/...` (404) and fails. The batch answer itself never offers Xet: its transfer is "basic",
whatever the client lists; downloads never carry Xet headers (`X-Xet-Hash`), so clients download over HTTP.

Not implemented (answered 404 and recorded in `HubServer.unhandled`): Xet storage (upload and download; the
`xet-write-token` / `xet-read-token` routes), LFS downloads through the batch API and multipart LFS uploads (never
offered), pull requests (`create_pr`), branches and tags other than the default `main`, `.gitignore` rules,
discussions, spaces runtime, inference, the dataset viewer.

Auth: write requests need an `Authorization: Bearer <token>` header (any token, or exactly `token` when the server
is built with one); private repos are only visible with a token.

Typical use in a test module:

    from hub_server import hub_server, use_hub_endpoint  # noqa: F401  (pytest fixture)

    def test_push(hub_server, monkeypatch, tmp_path):
        use_hub_endpoint(monkeypatch, hub_server, tmp_path)   # snapshot_download / load_dataset now use the server
        HfApi(endpoint=hub_server, token="hf_test").create_repo("org/name", repo_type="dataset")
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qs, unquote, urlsplit

import pytest


DEFAULT_BRANCH = "main"
DEFAULT_USER = "test-user"
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space", "kernels": "kernel"}
URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/", "kernel": "kernels/"}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# what the Hub stores in LFS: the default `.gitattributes` patterns of a new repo (these suffixes) and any file too
# large for a regular git blob
LFS_SUFFIXES = (
    ".safetensors",
    ".parquet",
    ".bin",
    ".pt",
    ".pth",
    ".mp4",
    ".png",
    ".jpg",
    ".zip",
    ".gz",
    ".msgpack",
    ".h5",
    ".onnx",
    ".npy",
    ".npz",
    ".arrow",
)
LFS_SIZE_LIMIT = 10 * 1024 * 1024  # bytes; larger files must go through LFS
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
LFS_CONTENT_TYPE = "application/vnd.git-lfs+json"


def git_blob_oid(data: bytes) -> str:
    """The git blob sha1 of `data` (what `git hash-object` and `huggingface_hub.utils.sha.git_hash` compute)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git LFS pointer file of an object: what git stores in place of an LFS file's content."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def upload_mode(path: str, size: int) -> str:
    """The Hub's preupload answer for a file: "lfs" for the LFS-tracked suffixes and for files over 10 MiB."""
    return "lfs" if path.endswith(LFS_SUFFIXES) or size > LFS_SIZE_LIMIT else "regular"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes"}


def _card_data(text: str) -> dict | None:
    """The YAML front matter of a README.md, or None."""
    if not text.startswith("---"):
        return None
    lines = text.splitlines()
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            import yaml

            data = yaml.safe_load("\n".join(lines[1:index]))
            return data if isinstance(data, dict) else None
    return None


@dataclass
class Commit:
    oid: str
    parent: str | None
    tree: dict[str, str]  # path -> blob oid
    title: str
    message: str
    date: str


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    refs: dict[str, str] = field(default_factory=dict)  # branch -> commit oid
    commits: dict[str, Commit] = field(default_factory=dict)
    lfs_objects: set[str] = field(default_factory=set)  # sha256 of the LFS objects uploaded to this repo


class HubError(Exception):
    """An HTTP error answer, with the `X-Error-Code` header `huggingface_hub` maps to its exceptions."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


class HubStore:
    """Repos, commits and content-addressed blobs (thread-safe)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.blob_dir = self.root / "blobs"
        self.lfs_dir = self.root / "lfs"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.lfs_dir.mkdir(parents=True, exist_ok=True)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.blob_sizes: dict[str, int] = {}  # git blob oid -> size (regular files)
        self.lfs_sizes: dict[str, int] = {}  # sha256 -> size (LFS objects, whichever repo they were uploaded to)
        self.lfs_pointers: dict[str, tuple[str, int]] = {}  # git blob oid of a pointer file -> (sha256, size)
        self.lock = threading.RLock()

    # blobs
    def put_blob(self, data: bytes) -> str:
        oid = git_blob_oid(data)
        with self.lock:
            if oid not in self.blob_sizes:
                tmp = self.blob_dir / f".{oid}.tmp"
                tmp.write_bytes(data)
                os.replace(tmp, self.blob_dir / oid)
                self.blob_sizes[oid] = len(data)
        return oid

    def blob_path(self, oid: str) -> Path:
        return self.blob_dir / oid

    # LFS objects (named by their sha256) and the files of a tree that point at them
    def put_lfs_object(self, repo: Repo, data: bytes, sha256: str, size: int) -> None:
        """Store an uploaded LFS object in `repo` after checking that it is the announced one (400 otherwise)."""
        if len(data) != size:
            raise HubError(400, f"Size mismatch: got {len(data)} bytes, expected {size}")
        if hashlib.sha256(data).hexdigest() != sha256:
            raise HubError(400, f"sha256 mismatch: the uploaded content is not the object {sha256}")
        with self.lock:
            if sha256 not in self.lfs_sizes:
                tmp = self.lfs_dir / f".{sha256}.tmp"
                tmp.write_bytes(data)
                os.replace(tmp, self.lfs_dir / sha256)
                self.lfs_sizes[sha256] = size
            repo.lfs_objects.add(sha256)

    def lfs_file(self, sha256: str, size: int) -> str:
        """The tree oid of an LFS file: the git blob oid of its pointer file (as git and the Hub have it)."""
        oid = git_blob_oid(lfs_pointer(sha256, size))
        with self.lock:
            self.lfs_pointers[oid] = (sha256, size)
        return oid

    def lfs_info(self, oid: str) -> tuple[str, int] | None:
        """(sha256, size) when the tree oid `oid` is an LFS file, else None."""
        return self.lfs_pointers.get(oid)

    def file_size(self, oid: str) -> int:
        lfs = self.lfs_pointers.get(oid)
        return lfs[1] if lfs else self.blob_sizes[oid]

    def file_path(self, oid: str) -> Path:
        lfs = self.lfs_pointers.get(oid)
        return self.lfs_dir / lfs[0] if lfs else self.blob_path(oid)

    # repos
    def get_repo(self, repo_type: str, repo_id: str, authorized: bool) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, "Repository not found", code="RepoNotFound")
        if repo.private and not authorized:
            raise HubError(401, "Repository not found", code="RepoNotFound")
        return repo

    def create_repo(self, repo_type: str, repo_id: str, private: bool) -> Repo:
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                raise HubError(409, f"You already created this {repo_type} repo")
            repo = Repo(repo_type=repo_type, repo_id=repo_id, private=private, created_at=_now())
            self._add_commit(repo, DEFAULT_BRANCH, parent=None, tree={}, title="initial commit", message="")
            self.repos[(repo_type, repo_id)] = repo
            return repo

    def delete_repo(self, repo_type: str, repo_id: str) -> None:
        with self.lock:
            if self.repos.pop((repo_type, repo_id), None) is None:
                raise HubError(404, "Repository not found", code="RepoNotFound")

    def _add_commit(self, repo: Repo, branch: str, parent: str | None, tree: dict, title: str, message: str) -> Commit:
        payload = json.dumps({"parent": parent, "tree": sorted(tree.items()), "title": title, "message": message})
        oid = hashlib.sha1(payload.encode()).hexdigest()
        commit = Commit(oid=oid, parent=parent, tree=dict(tree), title=title, message=message, date=_now())
        repo.commits.setdefault(oid, commit)
        repo.refs[branch] = oid
        return repo.commits[oid]

    @staticmethod
    def resolve(repo: Repo, revision: str) -> Commit:
        """A branch name or a full commit id -> the commit."""
        oid = repo.refs.get(revision) or (revision if revision in repo.commits else None)
        if oid is None:
            raise HubError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        return repo.commits[oid]

    def commit(self, repo: Repo, branch: str, lines: list[dict]) -> Commit:
        """Apply the NDJSON operations of a `/commit` call on top of `branch`."""
        with self.lock:
            if branch not in repo.refs:
                raise HubError(404, f"Invalid rev id: {branch}", code="RevisionNotFound")
            head = repo.commits[repo.refs[branch]]
            header = next((line["value"] for line in lines if line.get("key") == "header"), None)
            if header is None or not header.get("summary"):
                raise HubError(400, "The commit header (with a summary) is missing")
            parent_commit = header.get("parentCommit")
            if parent_commit and not head.oid.startswith(parent_commit):
                raise HubError(412, f"A commit has happened since. Head is {head.oid}, not {parent_commit}")
            tree = dict(head.tree)
            for line in lines:
                key, value = line.get("key"), line.get("value") or {}
                path = str(value.get("path", "")).strip("/")
                if key == "header":
                    continue
                if key == "file":
                    if value.get("encoding", "base64") != "base64":
                        raise HubError(400, f"Unsupported encoding {value.get('encoding')!r}")
                    tree[path] = self.put_blob(base64.b64decode(value["content"]))
                elif key == "deletedFile":
                    if tree.pop(path, None) is None:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", code="EntryNotFound")
                elif key == "deletedFolder":
                    doomed = [name for name in tree if name.startswith(path + "/")]
                    if not doomed:
                        raise HubError(404, f"A folder with this name doesn't exist: {path}", code="EntryNotFound")
                    for name in doomed:
                        del tree[name]
                elif key == "lfsFile":
                    tree[path] = self._lfs_commit_file(repo, path, value)
                else:
                    raise HubError(400, f"Unknown commit operation {key!r}")
            return self._add_commit(repo, branch, head.oid, tree, header["summary"], header.get("description") or "")

    def _lfs_commit_file(self, repo: Repo, path: str, value: dict) -> str:
        """An `lfsFile` commit line -> the tree oid of the file; 400 unless its object was uploaded to `repo`."""
        if value.get("algo", "sha256") != "sha256":
            raise HubError(400, f"Unsupported LFS hash algorithm {value.get('algo')!r}")
        sha256 = str(value.get("oid") or "")
        if sha256 not in repo.lfs_objects:
            raise HubError(400, f"LFS object {sha256} of {path} was never uploaded to {repo.repo_id}")
        size = self.lfs_sizes[sha256]
        if value.get("size") is not None and value["size"] != size:  # a copy (`CommitOperationCopy`) has no size
            raise HubError(400, f"LFS object {sha256} of {path} has {size} bytes, not {value['size']}")
        return self.lfs_file(sha256, size)


def _tree_oid(tree: dict[str, str], folder: str) -> str:
    """A folder's id: the hash of its content (paths relative to it), so identical sub-trees share an id."""
    prefix = folder + "/"
    items = sorted((path[len(prefix) :], oid) for path, oid in tree.items() if path.startswith(prefix))
    return hashlib.sha1(json.dumps(items).encode()).hexdigest()


class HubServer(ThreadingHTTPServer):
    """The threaded HTTP server; `url` is its endpoint. Use `start()` / `stop()` or the `hub_server` fixture."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: str | Path | None = None, token: str | None = None, host: str = "127.0.0.1"):
        self._tmp = None if root is not None else tempfile.mkdtemp(prefix="hub-server-")
        self.store = HubStore(root if root is not None else self._tmp)
        self.token = token
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) of every request
        self.unhandled: list[tuple[str, str]] = []  # routes this server does not implement
        # every LFS object stored by an upload PUT: {"repo_type", "repo", "oid" (sha256), "size"}
        self.lfs_uploads: list[dict] = []
        self.lfs_secret = secrets.token_bytes(16)  # signs the upload URLs (the Hub's are presigned storage URLs)
        self._thread: threading.Thread | None = None
        super().__init__((host, 0), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "HubServer":
        self._thread = threading.Thread(target=self.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HubServer

    # plumbing
    def log_message(self, format, *args):
        pass

    def _dispatch(self, method: str) -> None:
        self._status = 500
        try:
            body = self._read_body()
            split = urlsplit(self.path)
            self.query = parse_qs(split.query, keep_blank_values=True)
            segments = [unquote(part) for part in split.path.split("/") if part]
            self._route(method, segments, body)
        except HubError as error:
            self._send_error(error)
        except (BrokenPipeError, ConnectionResetError):  # the client went away mid-answer
            self.close_connection = True
        except Exception as error:  # a server bug: answer 500 with the reason, keep serving
            self._send_error(HubError(500, f"{type(error).__name__}: {error}"))
        finally:
            self.server.requests.append((method, self.path, self._status))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, content_type="application/json"):
        """Answer; `headers` may carry the Content-Length of a HEAD answer (whose body is empty)."""
        headers = dict(headers or {})
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(headers.pop("Content-Length", len(body))))
        for key, value in headers.items():
            self.send_header(key, str(value))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _send_json(self, data, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def _send_error(self, error: HubError) -> None:
        headers = {"X-Error-Message": error.message, **error.headers}
        if error.code:
            headers["X-Error-Code"] = error.code
        self._send_json({"error": error.message}, error.status, headers)

    # auth
    @property
    def _bearer(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return (auth[len("Bearer ") :] or None) if auth.startswith("Bearer ") else None

    @property
    def _authorized(self) -> bool:
        return self._bearer is not None and (self.server.token is None or self._bearer == self.server.token)

    def _require_auth(self) -> None:
        if not self._authorized:
            raise HubError(401, "Invalid credentials in Authorization header")

    # routing
    def _route(self, method: str, seg: list[str], body: bytes) -> None:
        store = self.server.store
        if seg[:1] == ["lfs-storage"] and len(seg) == 5 and seg[1] in REPO_TYPES and method == "PUT":
            return self._lfs_put(REPO_TYPES[seg[1]], f"{seg[2]}/{seg[3]}", seg[4], body)
        if seg[:1] == ["api"]:
            rest = seg[1:]
            if rest == ["whoami-v2"] and method == "GET":
                return self._whoami()
            if rest == ["validate-yaml"] and method == "POST":
                return self._validate_yaml(json.loads(body or b"{}"))
            if rest == ["repos", "create"] and method == "POST":
                return self._create_repo(json.loads(body or b"{}"))
            if rest == ["repos", "delete"] and method == "DELETE":
                self._require_auth()
                payload = json.loads(body or b"{}")
                store.delete_repo(payload.get("type") or "model", self._repo_id_from_payload(payload))
                return self._send_json({})
            if len(rest) >= 3 and rest[0] in REPO_TYPES:
                repo_type, repo_id, action = REPO_TYPES[rest[0]], f"{rest[1]}/{rest[2]}", rest[3:]
                return self._api_repo(method, repo_type, repo_id, action, body)
        else:
            repo_type = "model"
            if seg[:1] and seg[0] in REPO_TYPES and seg[0] != "models":
                repo_type, seg = REPO_TYPES[seg[0]], seg[1:]
            if len(seg) >= 5 and seg[2] == "resolve" and method in ("GET", "HEAD"):
                return self._resolve(repo_type, f"{seg[0]}/{seg[1]}", seg[3], "/".join(seg[4:]))
            if (
                len(seg) == 6
                and seg[1].endswith(".git")
                and seg[2:5] == ["info", "lfs", "objects"]
                and seg[5] in ("batch", "verify")
                and method == "POST"
            ):
                self._require_auth()
                repo = store.get_repo(repo_type, f"{seg[0]}/{seg[1][: -len('.git')]}", authorized=True)
                payload = json.loads(body or b"{}")
                return self._lfs_batch(repo, payload) if seg[5] == "batch" else self._lfs_verify(repo, payload)
        self._not_implemented()

    def _not_implemented(self, hint: str = "") -> NoReturn:
        """Record the request in `HubServer.unhandled` and answer 404."""
        self.server.unhandled.append((self.command, self.path))
        print(f"[hub_server] unhandled: {self.command} {self.path}", file=sys.stderr)
        raise HubError(404, f"Not implemented by the test Hub: {self.command} {self.path}{hint}")

    def _api_repo(self, method: str, repo_type: str, repo_id: str, action: list[str], body: bytes) -> None:
        store = self.server.store
        repo = store.get_repo(repo_type, repo_id, self._authorized)
        name = action[0] if action else None
        if method == "GET" and (not action or (name == "revision" and len(action) == 2)):
            return self._info(repo, action[1] if action else DEFAULT_BRANCH)
        if method == "GET" and name == "tree" and len(action) >= 2:
            return self._tree(repo, action[1], "/".join(action[2:]))
        if method == "POST" and name == "paths-info" and len(action) == 2:
            return self._paths_info(repo, action[1], parse_qs(body.decode(), keep_blank_values=True))
        if method == "GET" and action == ["refs"]:
            branches = [
                {"name": branch, "ref": f"refs/heads/{branch}", "targetCommit": oid}
                for branch, oid in repo.refs.items()
            ]
            return self._send_json({"branches": branches, "converts": [], "tags": [], "pullRequests": []})
        if method == "GET" and name == "commits" and len(action) == 2:
            return self._commits(repo, action[1])
        if method == "POST" and name == "preupload" and len(action) == 2:
            self._require_auth()
            return self._preupload(repo, action[1], json.loads(body or b"{}"))
        if method == "POST" and name == "commit" and len(action) == 2:
            self._require_auth()
            if _truthy(self.query.get("create_pr", [""])[0]):
                raise HubError(400, "Pull requests are not supported by the test Hub")
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            commit = store.commit(repo, action[1], lines)
            url = f"{self.server.url}/{URL_PREFIXES[repo.repo_type]}{repo.repo_id}/commit/{commit.oid}"
            return self._send_json({"success": True, "commitOid": commit.oid, "commitUrl": url, "hookOutput": ""})
        hint = ""
        if name in ("xet-write-token", "xet-read-token"):
            hint = " (no Xet storage: set HF_HUB_DISABLE_XET=1, as use_hub_endpoint does, to upload through LFS)"
        self._not_implemented(hint)

    # endpoints
    def _whoami(self) -> None:
        self._require_auth()
        namespaces = sorted({repo_id.split("/")[0] for _, repo_id in self.server.store.repos} - {DEFAULT_USER})
        self._send_json(
            {
                "type": "user",
                "id": DEFAULT_USER,
                "name": DEFAULT_USER,
                "fullname": "Test User",
                "isPro": False,
                "orgs": [{"type": "org", "name": name, "roleInOrg": "admin"} for name in namespaces],
                "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}},
            }
        )

    def _validate_yaml(self, payload: dict) -> None:
        try:
            _card_data(payload.get("content") or "")
        except Exception as error:
            return self._send_json({"errors": [{"message": str(error)}], "warnings": []}, 400)
        self._send_json({"errors": [], "warnings": []})

    @staticmethod
    def _repo_id_from_payload(payload: dict) -> str:
        return f"{payload.get('organization') or DEFAULT_USER}/{payload['name']}"

    def _create_repo(self, payload: dict) -> None:
        self._require_auth()
        repo_type = payload.get("type") or "model"
        if repo_type not in URL_PREFIXES:
            raise HubError(400, f"Invalid repo type {repo_type!r}")
        repo_id = self._repo_id_from_payload(payload)
        url = f"{self.server.url}/{URL_PREFIXES[repo_type]}{repo_id}"
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        try:
            self.server.store.create_repo(repo_type, repo_id, private)
        except HubError as error:
            error.headers = {}
            return self._send_json(
                {"error": error.message, "url": url}, error.status, {"X-Error-Message": error.message}
            )
        self._send_json({"url": url, "name": repo_id, "id": hashlib.sha1(url.encode()).hexdigest()[:24]})

    def _info(self, repo: Repo, revision: str) -> None:
        commit = self.server.store.resolve(repo, revision)
        with_blobs = _truthy(self.query.get("blobs", [""])[0])
        siblings = []
        for path, oid in sorted(commit.tree.items()):
            sibling = {"rfilename": path}
            if with_blobs:
                sibling.update(size=self.server.store.file_size(oid), blobId=oid)
                lfs = self.server.store.lfs_info(oid)
                if lfs is not None:  # the Hub names the sha256 `sha256` here (and `oid` in tree / paths-info)
                    sibling["lfs"] = {"sha256": lfs[0], "size": lfs[1], "pointerSize": len(lfs_pointer(*lfs))}
            siblings.append(sibling)
        card = None
        if "README.md" in commit.tree:
            try:
                card = _card_data(self.server.store.file_path(commit.tree["README.md"]).read_text(encoding="utf-8"))
            except Exception:
                card = None
        namespace = repo.repo_id.split("/")[0]
        info = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": namespace,
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
        }
        if card is not None:
            info["cardData"] = card
        if repo.repo_type == "model":
            info["modelId"] = repo.repo_id
        if repo.repo_type == "space":
            info["sdk"] = (card or {}).get("sdk", "static")
        self._send_json(info)

    def _last_commit(self, repo: Repo, head: Commit, path: str, is_folder: bool) -> dict:
        """The most recent commit (from `head` back) that changed `path` (a file, or anything under a folder)."""

        def state(commit: Commit):
            if is_folder:
                return _tree_oid(commit.tree, path)
            return commit.tree.get(path)

        commit = head
        while commit.parent is not None and state(repo.commits[commit.parent]) == state(commit):
            commit = repo.commits[commit.parent]
        return {"id": commit.oid, "title": commit.title, "date": commit.date}

    def _entry(self, repo: Repo, commit: Commit, path: str, expand: bool) -> dict | None:
        """A tree entry ({type, oid, size, path}) for a file or folder of `commit`, or None."""
        if path in commit.tree:
            oid = commit.tree[path]
            entry = {"type": "file", "oid": oid, "size": self.server.store.file_size(oid)}
            lfs = self.server.store.lfs_info(oid)
            if lfs is not None:  # `oid` is then the git blob oid of the pointer file, as on the Hub
                entry["lfs"] = {"oid": lfs[0], "size": lfs[1], "pointerSize": len(lfs_pointer(*lfs))}
            entry["path"] = path
        elif any(name.startswith(path + "/") for name in commit.tree):
            entry = {"type": "directory", "oid": _tree_oid(commit.tree, path), "size": 0, "path": path}
        else:
            return None
        if expand:
            entry["lastCommit"] = self._last_commit(repo, commit, path, entry["type"] == "directory")
        return entry

    def _tree(self, repo: Repo, revision: str, path: str) -> None:
        commit = self.server.store.resolve(repo, revision)
        path = path.strip("/")
        recursive = _truthy(self.query.get("recursive", [""])[0])
        expand = _truthy(self.query.get("expand", [""])[0])
        prefix = path + "/" if path else ""
        names = [name for name in commit.tree if name.startswith(prefix)]
        if path and not names:
            if path in commit.tree:  # the tree of a file is the file itself (as on the Hub)
                return self._send_json([self._entry(repo, commit, path, expand)])
            raise HubError(404, f"Entry not found: {path}", code="EntryNotFound")
        paths = set()
        for name in names:
            parts = name[len(prefix) :].split("/")
            depth = len(parts) if recursive else 1
            for index in range(1, depth + 1):
                paths.add(prefix + "/".join(parts[:index]))
        entries = [self._entry(repo, commit, item, expand) for item in sorted(paths)]
        # folders first, then files (as the Hub does); each group sorted by path
        entries.sort(key=lambda entry: (entry["type"] != "directory", entry["path"]))
        self._send_json(entries)

    def _paths_info(self, repo: Repo, revision: str, form: dict) -> None:
        commit = self.server.store.resolve(repo, revision)
        expand = _truthy(form.get("expand", [""])[0])
        entries = [self._entry(repo, commit, path.strip("/"), expand) for path in form.get("paths", [])]
        self._send_json([entry for entry in entries if entry is not None])

    def _commits(self, repo: Repo, revision: str) -> None:
        commit, history = self.server.store.resolve(repo, revision), []
        while commit is not None:
            history.append(
                {
                    "id": commit.oid,
                    "title": commit.title,
                    "message": commit.message,
                    "authors": [{"user": DEFAULT_USER}],
                    "date": commit.date,
                }
            )
            commit = repo.commits[commit.parent] if commit.parent else None
        self._send_json(history)

    def _preupload(self, repo: Repo, revision: str, payload: dict) -> None:
        """Each file's upload mode ("lfs": LFS batch + upload + `lfsFile` commit line; "regular": inline in the
        commit) and the oid of the file now in the repo, which the client compares with its own to skip unchanged
        files: the sha256 for an LFS file, the git blob oid for a regular one (what `CommitOperationAdd._local_oid`
        computes for each mode)."""
        store = self.server.store
        commit = store.resolve(repo, revision)
        files = []
        for item in payload.get("files", []):
            path = item["path"]
            remote = commit.tree.get(path)
            lfs = store.lfs_info(remote) if remote is not None else None
            files.append(
                {
                    "path": path,
                    "uploadMode": upload_mode(path, int(item.get("size") or 0)),
                    "shouldIgnore": False,
                    "oid": lfs[0] if lfs is not None else remote,
                }
            )
        self._send_json({"files": files, "commitOid": commit.oid})

    def _lfs_batch(self, repo: Repo, payload: dict) -> None:
        """The Git LFS batch API (upload only), always with the "basic" transfer: objects the repo already has get
        no actions (the client skips them), the others an `upload` (a signed PUT on this server) and a `verify`."""
        if payload.get("operation") != "upload":  # LFS downloads: `resolve` serves LFS files
            self._not_implemented(f" (LFS batch operation {payload.get('operation')!r}: only uploads)")
        if "basic" not in (payload.get("transfers") or ["basic"]):  # never Xet, whatever the client offers
            raise HubError(422, f"The test Hub only offers the 'basic' LFS transfer, not {payload.get('transfers')}")
        if payload.get("hash_algo", "sha256") != "sha256":
            raise HubError(422, f"Unsupported hash algorithm {payload.get('hash_algo')!r}")
        ref = (payload.get("ref") or {}).get("name")
        if ref is not None:
            self.server.store.resolve(repo, ref)
        objects = []
        for item in payload.get("objects") or []:
            oid, size = item.get("oid"), item.get("size")
            if not (isinstance(oid, str) and SHA256_RE.match(oid)) or not isinstance(size, int) or size < 0:
                objects.append(
                    {
                        "oid": str(oid),
                        "size": size if isinstance(size, int) else 0,
                        "error": {"code": 422, "message": "Invalid object"},
                    }
                )
                continue
            if oid in repo.lfs_objects:
                if self.server.store.lfs_sizes[oid] != size:
                    objects.append({"oid": oid, "size": size, "error": {"code": 422, "message": "Size mismatch"}})
                else:
                    objects.append({"oid": oid, "size": size})  # already stored: nothing to do (dedup)
                continue
            prefix = f"{URL_PREFIXES[repo.repo_type]}{repo.repo_id}"
            upload = f"{self.server.url}/lfs-storage/{repo.repo_type}s/{repo.repo_id}/{oid}"
            upload += f"?size={size}&signature={self._lfs_signature(repo, oid, size)}"
            objects.append(
                {
                    "oid": oid,
                    "size": size,
                    "authenticated": True,
                    "actions": {
                        "upload": {"href": upload, "expires_in": 3600},
                        "verify": {"href": f"{self.server.url}/{prefix}.git/info/lfs/objects/verify"},
                    },
                }
            )
        answer = {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}
        self._send(200, json.dumps(answer).encode(), content_type=LFS_CONTENT_TYPE)

    def _lfs_signature(self, repo: Repo, oid: str, size: int) -> str:
        message = f"{repo.repo_type}/{repo.repo_id}/{oid}/{size}".encode()
        return hmac.new(self.server.lfs_secret, message, hashlib.sha256).hexdigest()

    def _lfs_put(self, repo_type: str, repo_id: str, oid: str, body: bytes) -> None:
        """An upload `href` of the batch answer: like a presigned storage URL, it needs no token but its signature."""
        store = self.server.store
        repo = store.get_repo(repo_type, repo_id, authorized=True)
        size, signature = self.query.get("size", [""])[0], self.query.get("signature", [""])[0]
        size = int(size) if size.isdigit() else -1
        if size < 0 or not hmac.compare_digest(signature, self._lfs_signature(repo, oid, size)):
            raise HubError(403, "Invalid upload URL signature")
        store.put_lfs_object(repo, body, oid, size)
        self.server.lfs_uploads.append({"repo_type": repo_type, "repo": repo_id, "oid": oid, "size": size})
        self._send(200, b"", {"ETag": f'"{oid}"'})

    def _lfs_verify(self, repo: Repo, payload: dict) -> None:
        oid, size = payload.get("oid"), payload.get("size")
        if oid not in repo.lfs_objects:
            raise HubError(404, f"LFS object {oid} was not uploaded to {repo.repo_id}")
        if self.server.store.lfs_sizes[oid] != size:
            raise HubError(422, f"LFS object {oid} has {self.server.store.lfs_sizes[oid]} bytes, not {size}")
        self._send(200, json.dumps({"success": True}).encode(), content_type=LFS_CONTENT_TYPE)

    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        store = self.server.store
        repo = store.get_repo(repo_type, repo_id, self._authorized)
        commit = store.resolve(repo, revision)
        oid = commit.tree.get(path)
        if oid is None:
            raise HubError(
                404, f"Entry not found: {path}", code="EntryNotFound", headers={"X-Repo-Commit": commit.oid}
            )
        size, lfs = store.file_size(oid), store.lfs_info(oid)
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{oid}"', "Accept-Ranges": "bytes"}
        if lfs is not None:  # as the Hub: an LFS file's ETag is its sha256, also sent as X-Linked-Etag / -Size
            headers.update({"ETag": f'"{lfs[0]}"', "X-Linked-Etag": f'"{lfs[0]}"', "X-Linked-Size": size})
        status, start, end = 200, 0, size - 1
        range_header = self.headers.get("Range")
        if range_header and range_header.startswith("bytes="):
            first, _, last = range_header[len("bytes=") :].split(",")[0].partition("-")
            if first:
                start, end = int(first), min(int(last), size - 1) if last else size - 1
            else:
                start, end = max(size - int(last), 0), size - 1
            if start >= size or start > end:
                raise HubError(416, "Range Not Satisfiable", headers={"Content-Range": f"bytes */{size}", **headers})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        if self.command == "HEAD":
            headers["Content-Length"] = end - start + 1
            return self._send(status, b"", headers, "application/octet-stream")
        with store.file_path(oid).open("rb") as handle:
            handle.seek(start)
            data = handle.read(end - start + 1)
        self._send(status, data, headers, "application/octet-stream")


@pytest.fixture(scope="session")
def hub_server_instance():
    """The running `HubServer` (session scope): inspect `.requests`, `.unhandled`, `.store`."""
    server = HubServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def hub_server(hub_server_instance):
    """The URL of a local Hub-compatible server (session scope), e.g. `http://127.0.0.1:40123`."""
    return hub_server_instance.url


def use_hub_endpoint(monkeypatch, url: str, tmp_path, token: str = "hf_test", block_network: bool = True) -> dict:
    """Point `huggingface_hub`, `datasets` (and `transformers`) at the Hub server `url` for one test.

    - environment: `HF_ENDPOINT`, a fresh `HF_HOME` / `HF_HUB_CACHE` / `HF_DATASETS_CACHE` / `HF_XET_CACHE` under
      `tmp_path`, `HF_TOKEN=token`, offline mode and telemetry off, `HF_HUB_DISABLE_XET=1` (binary files are then
      uploaded through LFS, which this server implements, instead of Xet, which it does not);
    - the module constants read at import time: `huggingface_hub.constants.ENDPOINT`, `HUGGINGFACE_CO_URL_TEMPLATE`,
      the cache / token paths, `HF_HUB_OFFLINE` and `HF_HUB_DISABLE_XET`, `datasets.config.HF_ENDPOINT`,
      `HUB_DATASETS_URL`, its caches, offline flags, download counting (a HEAD to S3 otherwise) and
      `USE_PARQUET_EXPORT` (the dataset viewer at `datasets-server.<host>` otherwise), and any copy of the endpoint
      in loaded modules;
    - `HfFileSystem`'s instance cache is cleared (it caches listings per endpoint);
    - with `block_network` (default), name resolution of any host but the loopback one fails, so nothing can leave
      the machine (the attempts are listed in the returned dict under "blocked").

    Returns {"cache_dir": HF_HUB_CACHE, "datasets_cache": HF_DATASETS_CACHE, "blocked": [...]}.
    """
    url = url.rstrip("/")
    home = Path(tmp_path) / "hf_home"
    paths = {
        "HF_HOME": home,
        "HF_HUB_CACHE": home / "hub",
        "HF_ASSETS_CACHE": home / "assets",
        "HF_XET_CACHE": home / "xet",
        "HF_DATASETS_CACHE": home / "datasets",
        "HF_MODULES_CACHE": home / "modules",
    }
    for path in paths.values():
        path.mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        monkeypatch.setenv(name, str(path))
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_UPDATE_DOWNLOAD_COUNTS", "0")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")  # LFS uploads instead of Xet (see the module docstring)
    monkeypatch.setenv("NO_PROXY", ",".join(sorted(LOCAL_HOSTS)))
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HUGGINGFACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    from huggingface_hub import constants

    old_endpoint = constants.ENDPOINT
    for name, value in {
        "ENDPOINT": url,
        "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_URL_HOSTS": frozenset(constants.HF_URL_HOSTS | {urlsplit(url).hostname}),
        "DATASETS_SERVER_ENDPOINT": url,
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_XET": True,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(paths["HF_HUB_CACHE"]),
        "HUGGINGFACE_HUB_CACHE": str(paths["HF_HUB_CACHE"]),
        "HF_ASSETS_CACHE": str(paths["HF_ASSETS_CACHE"]),
        "HUGGINGFACE_ASSETS_CACHE": str(paths["HF_ASSETS_CACHE"]),
        "HF_XET_CACHE": str(paths["HF_XET_CACHE"]),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
    }.items():
        if hasattr(constants, name):
            monkeypatch.setattr(constants, name, value)

    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a test dependency
        datasets = None
    if datasets is not None:
        config = datasets.config
        for name, value in {
            "HF_ENDPOINT": url,
            "HUB_DATASETS_URL": url + "/datasets/{repo_id}/resolve/{revision}/{path}",
            "HF_HUB_OFFLINE": False,
            "HF_DATASETS_OFFLINE": False,
            "HF_UPDATE_DOWNLOAD_COUNTS": False,
            "USE_PARQUET_EXPORT": False,  # the dataset viewer (`datasets-server.<host>`) is not part of this Hub
            "HF_CACHE_HOME": str(home),
            "HF_DATASETS_CACHE": paths["HF_DATASETS_CACHE"],
            "HF_MODULES_CACHE": paths["HF_MODULES_CACHE"],
            "DOWNLOADED_DATASETS_PATH": paths["HF_DATASETS_CACHE"] / "downloads",
            "EXTRACTED_DATASETS_PATH": paths["HF_DATASETS_CACHE"] / "downloads" / "extracted",
        }.items():
            if hasattr(config, name):
                monkeypatch.setattr(config, name, value)

    # any other module that copied the endpoint at import time (e.g. `from huggingface_hub.constants import ENDPOINT`)
    for module_name, module in list(sys.modules.items()):
        if module is None or not module_name.startswith(("huggingface_hub", "datasets", "transformers")):
            continue
        for name in ("ENDPOINT", "HF_ENDPOINT", "HUGGINGFACE_CO_RESOLVE_ENDPOINT"):
            value = getattr(module, name, None)
            if isinstance(value, str) and value.rstrip("/") == old_endpoint and value != url:
                monkeypatch.setattr(module, name, url)

    # the module-level `HfApi()` behind `huggingface_hub.create_repo`, `upload_folder`, ... fixed its endpoint when
    # `huggingface_hub.hf_api` was first imported
    from huggingface_hub import HfFileSystem, hf_api

    shared = [hf_api.api]
    # and transformers' shared `HfApi` (`transformers.utils.hub.hf_api()`), created on its first Hub call
    transformers_hub = sys.modules.get("transformers.utils.hub")
    if transformers_hub is not None and callable(getattr(transformers_hub, "hf_api", None)):
        shared.append(transformers_hub.hf_api())
    for api in shared:  # whatever endpoint they hold (the default one, or an earlier test's server)
        monkeypatch.setattr(api, "endpoint", url)
    HfFileSystem.clear_instance_cache()

    blocked: list[str] = []
    if block_network:
        real_getaddrinfo = socket.getaddrinfo
        allowed = LOCAL_HOSTS | {urlsplit(url).hostname}

        def local_only_getaddrinfo(host, *args, **kwargs):
            name = host.decode() if isinstance(host, bytes) else host
            if name is not None and name not in allowed:
                blocked.append(name)
                raise socket.gaierror(socket.EAI_NONAME, f"test Hub: no network, refusing to resolve {name!r}")
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", local_only_getaddrinfo)
    return {
        "cache_dir": str(paths["HF_HUB_CACHE"]),
        "datasets_cache": str(paths["HF_DATASETS_CACHE"]),
        "blocked": blocked,
    }


__all__ = [
    "HubServer",
    "HubStore",
    "git_blob_oid",
    "hub_server",
    "hub_server_instance",
    "lfs_pointer",
    "upload_mode",
    "use_hub_endpoint",
]
