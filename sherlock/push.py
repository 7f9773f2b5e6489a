# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""`sherlock push`: publish a model, a LoRA adapter, a dataset or the Space to the Hub, one command each.

    sherlock push model   FOLDER org/sherlock [--metrics run/metrics.json] [--base-model ID] [--dataset org/m-vae]
    sherlock push adapter FOLDER org/sherlock-lora --base-model org/sherlock
    sherlock push dataset FOLDER org/m-vae
    sherlock push space   spaces_demo org/sherlock-demo

Each push makes the repo mirror exactly what it describes: the files it selects (below) plus a card as `README.md`,
in one commit; remote files outside that selection are deleted, and local files outside it are left out with a log
line naming them. Weights are safetensors only: a pickle file (`.bin`, `.pt`, `.pth`, `.pkl`, `.ckpt`) in the folder
stops the push with its name. Large binary files go through the Hub's LFS / Xet pre-upload like any
`huggingface_hub` upload.

- model: a Sherlock folder saved with `save_pretrained` (config with `auto_map` and the remote-code files it names,
  safetensors weights, the processor and its `extractor-*/` models), so that `AutoModel.from_pretrained(repo,
  trust_remote_code=True)` and `AutoProcessor.from_pretrained(repo, trust_remote_code=True)` work from the Hub. The
  card is the root `model_card.md` rendered by `sherlock.model_card.render_model_card`, with the evaluation run's
  `metrics.json` when given, and lists the files pushed.
- adapter: a PEFT LoRA folder (`adapter_config.json` + `adapter_model.safetensors`, as `sherlock train` writes in its
  `adapter/`); `adapter_config.json` is pushed with `base_model_name_or_path` set to `--base-model` (required when
  the folder has no Hub id there), so `PeftModel.from_pretrained(base, repo)` finds its base.
- dataset: an M-VAE-style dataset folder (`sherlock-build-mvae`, `sherlock-build-synthetic`): the same code as the
  builders' `--push-to-hub` (`dataset_scripts.dataset_io.push_dataset_folder`), its own card included.
- space: the Space folder (`spaces_demo/`: `app.py`, `README.md` with the Space header, `requirements.txt`,
  `examples/`), created as a Gradio Space.
"""

import fnmatch
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path


logger = logging.getLogger(__name__)

KINDS = ("model", "adapter", "dataset", "space")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# What each kind pushes (relative paths, fnmatch patterns; `*` also matches `/`).
SELECTIONS = {
    "model": (
        "config.json",
        "generation_config.json",
        "*.safetensors",
        "model.safetensors.index.json",
        "processor_config.json",
        "preprocessor_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "chat_template.jinja",
        "*.py",
        "extractor-*/*.json",
        "sherlock_training.json",
        "sherlock_demo.json",
        "gate_weights.csv",
    ),
    "adapter": (
        "adapter_config.json",
        "adapter_model.safetensors",
        "processor_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "sherlock_training.json",
    ),
    "space": ("app.py", "README.md", "requirements.txt", "examples/*.mp4"),
}


class PushError(ValueError):
    """A folder that cannot be pushed as the kind asked for (one line naming what is wrong)."""


@dataclass
class PushArguments:
    kind: str = field(metadata={"help": f"what to push: {', '.join(KINDS)}"})
    folder: str = field(metadata={"help": "the local folder"})
    repo_id: str = field(metadata={"help": "the Hub repo id (namespace/name)"})
    private: bool = field(default=False, metadata={"help": "create the repo as private"})
    metrics: str | None = field(
        default=None, metadata={"help": "model: an evaluation run's metrics.json for the card"}
    )
    base_model: str | None = field(default=None, metadata={"help": "model / adapter: the base model's Hub id"})
    dataset: list[str] | None = field(default=None, metadata={"help": "model: the dataset id(s) it was trained on"})
    endpoint: str | None = field(default=None, metadata={"help": "Hub endpoint (default: HF_ENDPOINT or hf.co)"})
    token: str | None = field(default=None, metadata={"help": "Hub token (default: the logged-in one)"})
    commit_message: str | None = field(default=None, metadata={"help": "the commit message"})


def _refuse_pickles(folder: Path) -> list[str]:
    """The folder's files (sorted relative POSIX paths); a pickle or a symbolic link among them is a `PushError`
    naming them."""
    links = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_symlink())
    if links:  # a link could point anywhere: only the folder's own files are ever pushed
        raise PushError(f"{folder} holds symbolic links ({', '.join(links)}): replace them with the files themselves")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    pickles = [name for name in files if name.lower().endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise PushError(
            f"{folder} holds pickle files ({', '.join(pickles)}): only safetensors are pushed; remove or convert them"
        )
    return files


def select_files(folder: Path, kind: str) -> tuple[list[str], list[str]]:
    """`(pushed, left out)`: the folder's files (relative POSIX paths) that `kind` pushes and the others. A pickle
    file anywhere in the folder is a `PushError`."""
    files = _refuse_pickles(folder)
    patterns = SELECTIONS[kind]
    pushed = [name for name in files if any(fnmatch.fnmatch(name, pattern) for pattern in patterns)]
    if kind == "model":
        pushed = [name for name in pushed if "/" not in name or name.startswith("extractor-")]
    skipped = [name for name in files if name not in pushed and not name.startswith(".")]
    return pushed, skipped


def _check_model_folder(folder: Path, pushed: list[str]) -> None:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise PushError(f"{folder} is not a model folder: no config.json")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    auto_map = config.get("auto_map") or {}
    modules = {reference.split(".")[0] + ".py" for reference in auto_map.values() if isinstance(reference, str)}
    missing = sorted(name for name in modules if name not in pushed)
    if not auto_map or missing:
        raise PushError(
            f"{folder} cannot load from the Hub with trust_remote_code: "
            + (f"missing {', '.join(missing)}" if missing else "config.json has no auto_map")
            + " (save the model with SherlockForConditionalGeneration.save_pretrained)"
        )
    if not any(name.endswith(".safetensors") and "/" not in name for name in pushed):
        raise PushError(f"{folder} has no safetensors weights")
    if "processor_config.json" not in pushed:
        raise PushError(f"{folder} has no processor (processor_config.json): save the processor into it too")
    extractors = json.loads((folder / "processor_config.json").read_text(encoding="utf-8")).get("extractors") or {}
    for part in extractors.values() if isinstance(extractors, dict) else []:
        model = part.get("model") if isinstance(part, dict) else None
        if isinstance(model, str) and model.startswith("./"):
            if not any(name.startswith(model[2:] + "/") for name in pushed):
                raise PushError(f"{folder}: the processor's extractor model {model} is not in the folder")


def _files_section(pushed: list[str]) -> str:
    lines = ["", "## Files in this repository", ""]
    lines += [f"- `{name}`" for name in pushed + ["README.md"]]
    return "\n".join(lines) + "\n"


def model_card_text(folder: Path, pushed: list[str], args: PushArguments) -> str:
    from .model_card import render_model_card

    card = render_model_card(
        folder, repo_id=args.repo_id, metrics=args.metrics, base_model=args.base_model, datasets=args.dataset
    )
    return str(card).rstrip("\n") + "\n" + _files_section(pushed)


def adapter_card_text(folder: Path, pushed: list[str], base_model: str, repo_id: str) -> str:
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(
        library_name="peft",
        base_model=base_model,
        license="apache-2.0",
        tags=["sherlock", "lora", "video-anomaly", "event-extraction", "temporal-localization"],
    )
    text = (
        f"---\n{data.to_yaml()}\n---\n\n# {repo_id}\n\nA LoRA adapter of the Sherlock model `{base_model}` "
        "(arXiv 2502.18863), trained with `sherlock train`.\n\n```python\nfrom peft import PeftModel\nfrom "
        f'transformers import AutoModel\n\nbase = AutoModel.from_pretrained("{base_model}", trust_remote_code=True)\n'
        f'model = PeftModel.from_pretrained(base, "{repo_id}")\n```\n\nIntended and out-of-scope uses, risks and '
        f"the evaluation are those of the base model's card (`{base_model}`): never use it for surveillance of "
        "people.\n"
    )
    ModelCard(text)  # validates the metadata
    return text + _files_section(pushed)


def _adapter_config(folder: Path, base_model: str | None) -> tuple[bytes, str]:
    path = folder / "adapter_config.json"
    if not path.is_file() or not (folder / "adapter_model.safetensors").is_file():
        raise PushError(f"{folder} is not a LoRA adapter folder: adapter_config.json and adapter_model.safetensors")
    config = json.loads(path.read_text(encoding="utf-8"))
    base = base_model or config.get("base_model_name_or_path")
    if not base or Path(base).expanduser().is_absolute():
        raise PushError(f"{folder}: give --base-model, the Hub id of the model this adapter was trained on")
    config["base_model_name_or_path"] = base
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode("utf-8"), base


def push(args: PushArguments) -> str:
    """Run one push (module docstring); returns the commit URL."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    if args.kind not in KINDS:
        raise PushError(f"unknown kind {args.kind!r}: choose among {', '.join(KINDS)}")
    folder = Path(args.folder).expanduser()
    if not folder.is_dir():
        raise PushError(f"{folder} is not a folder")
    if args.kind == "dataset":
        from dataset_scripts.dataset_io import push_dataset_folder

        _refuse_pickles(folder)
        return push_dataset_folder(
            folder, args.repo_id, token=args.token, endpoint=args.endpoint, private=args.private,
            commit_message=args.commit_message or "sherlock push dataset",
        )  # fmt: skip
    pushed, skipped = select_files(folder, args.kind)
    contents = {}
    if args.kind == "model":
        _check_model_folder(folder, pushed)
        contents["README.md"] = model_card_text(folder, pushed, args).encode("utf-8")
    elif args.kind == "adapter":
        contents["adapter_config.json"], base = _adapter_config(folder, args.base_model)
        contents["README.md"] = adapter_card_text(folder, pushed, base, args.repo_id).encode("utf-8")
    else:
        missing = [name for name in ("app.py", "README.md", "requirements.txt") if name not in pushed]
        if missing:
            raise PushError(f"{folder} is not a Space folder: missing {', '.join(missing)}")
    if skipped:
        logger.warning("not pushed (outside what a %s repo holds): %s", args.kind, ", ".join(skipped))
    operations = [CommitOperationAdd(name, data) for name, data in contents.items()]
    operations += [CommitOperationAdd(name, str(folder / name)) for name in pushed if name not in contents]
    api = HfApi(endpoint=args.endpoint, token=args.token)
    repo_type = "space" if args.kind == "space" else "model"
    extra = {"space_sdk": "gradio"} if repo_type == "space" else {}
    api.create_repo(args.repo_id, repo_type=repo_type, private=args.private, exist_ok=True, **extra)
    keep = {operation.path_in_repo for operation in operations} | {".gitattributes"}
    remote = api.list_repo_files(args.repo_id, repo_type=repo_type)
    operations += [CommitOperationDelete(name) for name in remote if name not in keep]
    commit = api.create_commit(
        args.repo_id,
        operations,
        repo_type=repo_type,
        commit_message=args.commit_message or f"sherlock push {args.kind}",
    )
    logger.info("pushed %d file(s) to %s", len(keep) - 1, args.repo_id)
    return commit.commit_url


def push_command(args: PushArguments, verbose: bool = False) -> int:
    """`sherlock push`: prints the commit URL."""
    try:
        url = push(args)
    except PushError as error:
        from .arguments import UsageError

        raise UsageError(str(error)) from None
    print(url)
    return 0


__all__ = ["KINDS", "PushArguments", "PushError", "push", "push_command", "select_files"]
