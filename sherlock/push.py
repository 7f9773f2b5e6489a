# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""`sherlock push`: publish a model, a LoRA adapter, a dataset or the Space to the Hub, one command each.

    sherlock push model   FOLDER org/sherlock [--metrics run/metrics.json] [--base-model ID] [--dataset org/m-vae]
    sherlock push adapter FOLDER org/sherlock-lora --base-model org/sherlock
    sherlock push dataset FOLDER org/m-vae
    sherlock push space   spaces_demo org/sherlock-demo

Each push makes the repo mirror exactly what it describes: the files it selects (below, an explicit allow-list) plus a
card as `README.md`, in one commit; remote files outside that selection are deleted, and local files outside it are
left out with a log line naming them. Every push first runs the guard of `sherlock.hub_upload` (the dataset builders'
`--push-to-hub` runs the same): a pickle file (`.bin`, `.pt`, `.pth`, `.pkl`, `.ckpt`) or a symbolic link in the folder
stops the push with its name. The repo id, `--base-model` and `--dataset` must be Hub ids: a local path (`./out`, an
existing folder) is refused before anything is uploaded. Large binary files go through the Hub's LFS / Xet pre-upload
like any `huggingface_hub` upload.

- model: a Sherlock folder saved with `save_pretrained`, so that `AutoModel.from_pretrained(repo,
  trust_remote_code=True)` and `AutoProcessor.from_pretrained(repo, trust_remote_code=True)` work from the Hub: the
  config, safetensors weights, the processor and its `extractor-*/` models, and as code only the modules that the
  `auto_map` of `config.json` and of the processor's files name, with the modules they import relatively (found as
  transformers finds them, so exactly what `trust_remote_code` downloads); any other `.py` (a script, a stray file in
  an `extractor-*/` folder) stays local. The card is the root `model_card.md` rendered by
  `sherlock.model_card.render_model_card`, with the evaluation run's `metrics.json` when given, and lists the files
  pushed.
- adapter: a PEFT LoRA folder (`adapter_config.json` + `adapter_model.safetensors`, as `sherlock train` writes in its
  `adapter/`); `adapter_config.json` is pushed with `base_model_name_or_path` set to `--base-model` (required when
  the folder names no Hub id there), and that base must be a model repo of the Hub, so that
  `PeftModel.from_pretrained(base, repo)` finds it.
- dataset: a dataset folder of the builders (`sherlock-build-mvae`, `sherlock-build-synthetic`,
  `sherlock-build-pretune`): `sherlock.hub_upload.push_dataset_folder`, the same code as their `--push-to-hub`.
- space: the Space folder (`spaces_demo/`: `app.py`, `README.md` with the Space header, `requirements.txt`,
  `examples/`), created as a Gradio Space, made self-contained by `sherlock.space_bundle`: the `sherlock-mvae` wheel
  (`--wheel`, or built from this checkout) is pushed with it, and its `requirements.txt` installs that wheel.
"""

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .hub_upload import PushError, check_hub_id, guard_folder, mirror_commit, push_dataset_folder, select_files
from .train import STAGE1_MEDIA_DIR  # the standard library only at import time


logger = logging.getLogger(__name__)

KINDS = ("model", "adapter", "dataset", "space")
# What a tokenizer's `save_pretrained` may write: the fast tokenizer, its config and template, and a slow tokenizer's
# vocabulary (sentencepiece, BPE, WordPiece) with the tokens added to it.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "tokenizer.model",
    "spiece.model",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
)
# What each kind pushes besides the remote-code modules of a model (relative paths, fnmatch patterns; `*` also
# matches `/`).
SELECTIONS = {
    "model": (
        "config.json",
        "generation_config.json",
        "*.safetensors",
        "model.safetensors.index.json",
        "processor_config.json",
        "preprocessor_config.json",
        "video_preprocessor_config.json",
        *TOKENIZER_FILES,
        "extractor-*/*.json",
        "sherlock_training.json",
        "sherlock_demo.json",
        "gate_weights.csv",
    ),
    "adapter": (
        "adapter_config.json",
        "adapter_model.safetensors",
        "processor_config.json",
        *TOKENIZER_FILES,
        "sherlock_training.json",
    ),
    "space": ("app.py", "README.md", "requirements.txt", "examples/*.mp4"),
}
# What `sherlock train` writes into its export folder that stays local: the Trainer's checkpoints (pickled optimizer
# states), TensorBoard runs and stage-1 media.
TRAINING_LOCAL_ONLY = ("checkpoint-*", "runs", STAGE1_MEDIA_DIR)
# The files of a model folder whose `auto_map` (anywhere in them) names remote-code classes.
AUTO_MAP_FILES = (
    "config.json",
    "processor_config.json",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "tokenizer_config.json",
)


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
    wheel: str | None = field(
        default=None, metadata={"help": "space: the sherlock-mvae wheel to ship (default: built from this checkout)"}
    )
    endpoint: str | None = field(default=None, metadata={"help": "Hub endpoint (default: HF_ENDPOINT or hf.co)"})
    token: str | None = field(default=None, metadata={"help": "Hub token (default: the logged-in one)"})
    commit_message: str | None = field(default=None, metadata={"help": "the commit message"})


def _auto_map_references(value) -> list[str]:
    """Every class reference ("module.Class") of every `auto_map` inside a JSON value."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "auto_map" and isinstance(item, dict):
                for reference in item.values():
                    references = reference if isinstance(reference, list | tuple) else [reference]
                    found += [name for name in references if isinstance(name, str)]
            else:
                found += _auto_map_references(item)
    elif isinstance(value, list):
        for item in value:
            found += _auto_map_references(item)
    return found


def remote_code_modules(folder: Path) -> list[str]:
    """The `.py` files (sorted) that loading `folder` with `trust_remote_code` needs: the modules the `auto_map`s of
    `AUTO_MAP_FILES` name (a reference `repo--module.Class` lives in another repo: none), and, recursively, the
    modules they import relatively (`transformers.dynamic_module_utils.get_relative_imports`, what transformers
    downloads). A named or imported module missing from the folder is a `PushError`."""
    from transformers.dynamic_module_utils import get_relative_imports

    needed, importer = set(), {}
    for name in AUTO_MAP_FILES:
        path = folder / name
        if path.is_file():
            for reference in _auto_map_references(json.loads(path.read_text(encoding="utf-8"))):
                if "--" not in reference:
                    module = reference.rsplit(".", 1)[0].replace(".", "/") + ".py"
                    needed.add(module)
                    importer.setdefault(module, name)
    queue = sorted(needed)
    while queue:
        module = queue.pop()
        if not (folder / module).is_file():
            raise PushError(f"{folder}: {module}, which {importer[module]} needs, is not in the folder")
        for imported in get_relative_imports(folder / module):
            path = (Path(module).parent / (imported.replace(".", "/") + ".py")).as_posix()
            if path not in needed:
                needed.add(path)
                importer[path] = module
                queue.append(path)
    return sorted(needed)


def select_model_files(folder: Path, files: list[str]) -> tuple[list[str], list[str]]:
    """`(pushed, left out)` of a model folder's `files`: `SELECTIONS["model"]` (at the root or in an `extractor-*/`
    folder) and the `remote_code_modules`."""
    kept = [name for name in files if "/" not in name or name.startswith("extractor-")]
    pushed, skipped = select_files(kept, SELECTIONS["model"], remote_code_modules(folder))
    return pushed, sorted(skipped + [name for name in files if name not in kept and not name.startswith(".")])


def _check_model_folder(folder: Path, pushed: list[str]) -> None:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise PushError(f"{folder} is not a model folder: no config.json")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if not config.get("auto_map"):
        raise PushError(
            f"{folder} cannot load from the Hub with trust_remote_code: config.json has no auto_map"
            " (save the model with SherlockForConditionalGeneration.save_pretrained)"
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


def _adapter_config(folder: Path, base_model: str | None, api) -> tuple[bytes, str]:
    path = folder / "adapter_config.json"
    if not path.is_file() or not (folder / "adapter_model.safetensors").is_file():
        raise PushError(f"{folder} is not a LoRA adapter folder: adapter_config.json and adapter_model.safetensors")
    config = json.loads(path.read_text(encoding="utf-8"))
    base = base_model or config.get("base_model_name_or_path")
    if not base:
        raise PushError(f"{folder}: give --base-model, the Hub id of the model this adapter was trained on")
    try:
        check_hub_id(base, "the base model")
    except PushError as error:
        raise PushError(f"{error}: give --base-model, the Hub id of the model this adapter was trained on") from None
    if not api.repo_exists(base):  # a relative path such as `out/stage1` reads like an id: the Hub tells
        raise PushError(
            f"the base model {base!r} is not a model repo on {api.endpoint}: push it first, or give --base-model"
            " with its Hub id"
        )
    config["base_model_name_or_path"] = base
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode("utf-8"), base


def _check_arguments(args: PushArguments) -> Path:
    """The folder, after the checks that need no file read and no network."""
    if args.kind not in KINDS:
        raise PushError(f"unknown kind {args.kind!r}: choose among {', '.join(KINDS)}")
    folder = Path(args.folder).expanduser()
    if not folder.is_dir():
        raise PushError(f"{folder} is not a folder")
    check_hub_id(args.repo_id)
    if args.base_model:
        check_hub_id(args.base_model, "--base-model")
    for dataset in args.dataset or []:
        check_hub_id(dataset, "--dataset")
    if args.wheel and args.kind != "space":
        raise PushError("--wheel is for `sherlock push space`")
    return folder


def push(args: PushArguments, local_only: tuple[str, ...] = ()) -> str:
    """Run one push (module docstring); returns the commit URL. `local_only`: top-level folders of `args.folder` that
    are never pushed (`guard_folder`), e.g. a training run's checkpoints."""
    from huggingface_hub import HfApi

    folder = _check_arguments(args)
    message = args.commit_message or f"sherlock push {args.kind}"
    hub = {"token": args.token, "endpoint": args.endpoint, "private": args.private, "commit_message": message}
    if args.kind == "dataset":
        return push_dataset_folder(folder, args.repo_id, **hub)
    files = guard_folder(folder, local_only)
    contents = {}
    with tempfile.TemporaryDirectory(prefix="sherlock-push-") as workdir:
        if args.kind == "model":
            pushed, skipped = select_model_files(folder, files) if (folder / "config.json").is_file() else ([], [])
            _check_model_folder(folder, pushed)
            contents["README.md"] = model_card_text(folder, pushed, args).encode("utf-8")
        elif args.kind == "adapter":
            pushed, skipped = select_files(files, SELECTIONS["adapter"])
            api = HfApi(endpoint=args.endpoint, token=args.token)
            contents["adapter_config.json"], base = _adapter_config(folder, args.base_model, api)
            contents["README.md"] = adapter_card_text(folder, pushed, base, args.repo_id).encode("utf-8")
        else:
            from .space_bundle import bundle_space

            pushed, skipped = select_files(files, SELECTIONS["space"])
            missing = [name for name in ("app.py", "README.md", "requirements.txt") if name not in pushed]
            if missing:
                raise PushError(f"{folder} is not a Space folder: missing {', '.join(missing)}")
            if args.private:
                logger.warning(
                    "a private Space: its builder installs the wheel from the Space's own URL (requirements.txt), "
                    "which an anonymous download may not reach"
                )
            contents.update(bundle_space(folder, args.repo_id, args.endpoint, args.wheel, workdir))
        if skipped:
            logger.warning("not pushed (outside what a %s repo holds): %s", args.kind, ", ".join(skipped))
        repo_type = "space" if args.kind == "space" else "model"
        return mirror_commit(folder, args.repo_id, pushed, repo_type, contents, **hub)


def push_training_export(output: Path, repo_id: str, private: bool, stage: int, base_model: str | None) -> str:
    """`sherlock train --push-to-hub`: push a training export through `push`, with its guard and allow-list (no
    checkpoint, stage-1 media, stray `.py` or pickle). An export with a model (`--no-lora`, `--merge`, stage 1) is
    pushed as a model; a LoRA export without one pushes its `adapter/`, with `base_model` (a Hub id) as its base.
    Returns the commit URL."""
    output = Path(output)
    message = f"sherlock train: stage {stage}"
    if (output / "config.json").is_file():
        args = PushArguments("model", str(output), repo_id, private=private, commit_message=message)
        return push(args, local_only=TRAINING_LOCAL_ONLY)
    args = PushArguments(
        "adapter", str(output / "adapter"), repo_id, private=private, base_model=base_model, commit_message=message
    )
    return push(args)


def push_command(args: PushArguments, verbose: bool = False) -> int:
    """`sherlock push`: prints the commit URL."""
    try:
        url = push(args)
    except PushError as error:
        from .arguments import UsageError

        raise UsageError(str(error)) from None
    print(url)
    return 0


__all__ = [
    "KINDS",
    "PushArguments",
    "PushError",
    "push",
    "push_command",
    "push_training_export",
    "remote_code_modules",
    "select_model_files",
]
