"""Train the built-in demo model from nothing (`make demo-model`, `python -m sherlock.demo_training`).

Every step is the project's own command, run as a subprocess, and is skipped when its result is complete, so an
interrupted build resumes where it stopped:

1. **extractors**: `python -m sherlock.extractor_training --output-dir WORK/extractors` (RT-DETR, ViTPose and SAM 2
   trained on the synthetic renderer's ground truth; resumable), installed into the package's `demo_extractors/` at
   the end; `--extractors-dir DIR` uses trained extractors that exist instead (e.g. the shipped ones);
2. **data**: `sherlock-build-synthetic` builds the training set (`--num-videos`, seed `--data-seed`) and a held-out set
   of another seed (`--eval-videos`, seed `--eval-seed`) that neither the model nor the extractors trained on;
3. **base**: an untrained tiny Sherlock (`DEMO_TEXT_CONFIG`, 8 frames at 32 px, `DEMO_CAPACITIES`) whose processor runs
   those extractors (`trained_extractor_settings`);
4. **features**: `sherlock precompute` runs the extractors over the training videos' pixels into a feature cache
   (resumable; `--processes` workers under `accelerate launch`);
5. **train**: `sherlock train` (stage 2 only, `--without pretune`) on those features, with no LoRA (every weight but
   the background tower): the frame stage (`--frame-supervision-epochs`) and then the language model
   (`TRAIN_OPTIONS`); resumes from its last checkpoint;
6. **evaluate**: `sherlock evaluate` of the trained model on the held-out set through the whole pipeline (decode, the
   extractors on pixels, generate, parse);
7. **install**: the trained model, its processor and extractors go to `--output-dir` (the package's `demo_model/`, the
   default of `sherlock analyze`), with `demo_training.json`: every command, the held-out metrics and the seconds
   per step.

Nothing here reads the synthetic set's oracle features: the model trains and is evaluated on what its extractors see.
"""

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_MODEL_DIR = PACKAGE_DIR / "demo_model"
DEMO_RECORD = "demo_training.json"
# The language model of the tiny Sherlock of `benchmarks/learn_synthetic.py` (its default --width 128 --layers 4).
DEMO_TEXT_CONFIG = {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 4, "head_dim": 32}
# The recipe of the README's frame supervision (`learn_synthetic.py --frame-epochs 24 --frame-temporal-kernel 3
# --frame-lr-scheduler cosine --frame-learning-rate 2e-3 --epochs 6`), as `sherlock train` options.
TRAIN_OPTIONS = [
    "--without", "pretune",  # stage 2 only, as in learn_synthetic.py: no stage-1 pre-tuning (the paper's ablation)
    "--no-lora",
    "--learning-rate", "2e-3",
    "--lr-scheduler-type", "cosine",
    "--warmup-ratio", "0.05",
    "--weight-decay", "0",
    "--per-device-train-batch-size", "4",
    "--gradient-accumulation-steps", "1",
    "--frame-learning-rate", "2e-3",
    "--frame-lr-scheduler-type", "cosine",
    "--frame-temporal-kernel", "3",
    "--gsm-after-frames", "frozen",
    "--save-strategy", "steps",
    "--save-steps", "200",
    "--save-total-limit", "1",
    "--logging-steps", "50",
    "--use-cpu",
]  # fmt: skip


@dataclass
class DemoTrainingArguments:
    """The options of `python -m sherlock.demo_training` (`make demo-model`): the defaults build the shipped model."""

    work_dir: str = field(
        default="demo-build", metadata={"help": "where the data, features, checkpoints and logs go (resumable)"}
    )
    output_dir: str = field(
        default=str(DEMO_MODEL_DIR), metadata={"help": "where the trained demo model is installed"}
    )
    extractors_dir: str | None = field(
        default=None,
        metadata={
            "help": "use these trained extractors (e.g. sherlock/demo_extractors) instead of training them into "
            "<work-dir>/extractors and installing them into --extractors-output-dir"
        },
    )
    extractors_output_dir: str = field(
        default=str(PACKAGE_DIR / "demo_extractors"),
        metadata={"help": "where extractors trained here are installed"},
    )
    num_videos: int = field(default=4000, metadata={"help": "videos of the training set (its train split is used)"})
    data_seed: int = field(default=0, metadata={"help": "seed of the training set"})
    eval_videos: int = field(default=200, metadata={"help": "videos of the held-out set"})
    eval_seed: int = field(default=5, metadata={"help": "seed of the held-out set (not 0, 1, 3: the extractors')"})
    frame_epochs: int = field(default=24, metadata={"help": "frame-supervision epochs"})
    epochs: float = field(default=6.0, metadata={"help": "language-model epochs"})
    seed: int = field(default=0, metadata={"help": "model initialisation and data order"})
    processes: int = field(default=2, metadata={"help": "extractor workers of `sherlock precompute`"})
    threads: int = field(default=2, metadata={"help": "torch threads of training and evaluation"})


def _run(command: list[str], log: Path, threads: int) -> None:
    """Run `command`, appending its output to `log`; `RuntimeError` with the log's tail on failure."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    print("$ " + " ".join(command), flush=True)
    with log.open("a", encoding="utf-8") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    if code:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"step failed (exit {code}): {' '.join(command)}\n... {log}:\n{tail}")


def _cli(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "sherlock.cli", *arguments]


def extractors_complete(folder: Path) -> bool:
    """Whether `folder` holds the three trained extractors (`trained_extractor_models`) and their training record."""
    from .tiny_extractors import trained_extractor_models

    try:
        trained_extractor_models(str(folder))
    except FileNotFoundError:
        return False
    return (folder / "training_record.json").is_file()


def base_extractor_settings(extractors_dir: Path) -> dict:
    """The extractor settings of the demo's processor: the trained extractors in `extractors_dir` with their shipped
    thresholds and NMS (`trained_extractor_settings`) and the demo's capacities."""
    from .demo import DEMO_CAPACITIES
    from .tiny_extractors import trained_extractor_settings

    return trained_extractor_settings(str(extractors_dir), **DEMO_CAPACITIES)


def without_paths(settings: dict) -> dict:
    """Extractor settings without their model locations (`EXTRACTOR_PATH_SETTINGS`): what makes the features, wherever
    the weights lie (the weights themselves are keyed by their digest)."""
    from processing.extractors_sherlock import EXTRACTOR_PATH_SETTINGS

    return {
        part: {key: value for key, value in part_settings.items() if key not in EXTRACTOR_PATH_SETTINGS}
        for part, part_settings in settings.items()
    }


def build_base(folder: Path, extractors_dir: Path, seed: int) -> None:
    """The untrained demo model: a tiny Sherlock (`DEMO_TEXT_CONFIG`) whose processor runs the trained extractors."""
    from .demo import DEMO_CAPACITIES
    from .tiny_models import build_tiny_sherlock

    settings = base_extractor_settings(extractors_dir)
    build_tiny_sherlock(folder, extractors=settings, seed=seed, text_overrides=DEMO_TEXT_CONFIG, **DEMO_CAPACITIES)


def extractors_digest(folder: Path) -> str | None:
    """One SHA-256 over the three extractors' weight digests (`None` before they exist)."""
    from processing.feature_cache_sherlock import file_digest

    from .tiny_extractors import trained_extractor_models

    if not extractors_complete(folder):
        return None
    weights = [Path(path) / "model.safetensors" for path in trained_extractor_models(str(folder)).values()]
    return hashlib.sha256("".join(file_digest(path) for path in weights).encode()).hexdigest()


def remove(path: Path) -> None:
    """Remove a folder, or the link that stands for one."""
    if path.is_symlink():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def build_set(folder: Path, num_videos: int, seed: int) -> None:
    from dataset_scripts.build_synthetic import SyntheticArguments
    from dataset_scripts.synthetic_build import build_synthetic

    if (folder / "README.md").is_file():
        return
    remove(folder)  # an interrupted build
    build_synthetic(SyntheticArguments(output_dir=str(folder), num_videos=num_videos, seed=seed))


def install_tree(source: Path, destination: Path, ignore=(), finish=None) -> None:
    """Replace `destination` with a copy of `source` (without the `ignore` patterns), completed by `finish(copy)`;
    the copy is made beside it and renamed into place, so `destination` is never half-written."""
    staging = destination.with_name(f".{destination.name}.installing")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging, ignore=shutil.ignore_patterns(*ignore))
    if finish is not None:
        finish(staging)
    old = destination.with_name(f".{destination.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if destination.exists():
        os.rename(destination, old)
    os.rename(staging, destination)  # the previous content stays whole until here
    shutil.rmtree(old, ignore_errors=True)


def install(trained: Path, output: Path, record: dict, evaluation: Path) -> None:
    """Install the trained export (model, processor, extractors, training record) as `output`, with `DEMO_RECORD`
    and its model card (`README.md`, with the held-out metrics of the run folder `evaluation`)."""
    from .model_card import render_model_card

    def finish(folder: Path) -> None:
        (folder / DEMO_RECORD).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        card = render_model_card(folder, metrics=evaluation, datasets=[record["held_out"]["dataset"]])
        card.save(folder / "README.md")

    # without the training plots, and without the remote code: the package writes its own into each copy of the
    # demo model (`sherlock.demo.copy_shipped_demo`), so the copy's code is always the installed one
    ignore = ("checkpoint-*", "feature_cache", "runs", "*.log", "gate_weights.*", "*.py")
    install_tree(trained, output, ignore=ignore, finish=finish)


def build_demo_model(args: DemoTrainingArguments) -> dict:
    """Run every step (module docstring); returns the record written next to the installed model."""
    work = Path(args.work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    log = work / "demo_training.log"
    extractors = Path(args.extractors_dir or work / "extractors").resolve()
    state_path = work / "steps.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    train_set, eval_set = work / f"synthetic-{args.data_seed}", work / f"synthetic-{args.eval_seed}"
    base, features, trained, evaluation = work / "base", work / "features", work / "trained", work / "evaluation"
    threads = str(args.threads)

    outputs = {
        "data": [train_set, eval_set],
        "base": [base],
        "features": [features],
        "train": [trained],
        "evaluate": [evaluation, work / "eval-features"],
    }
    previous = ""

    def step(name: str, run, *depends) -> None:
        """Run step `name` unless it finished with the same key: its settings `depends` chained with the previous
        step's key. A step whose key changed runs again from nothing (its outputs removed), and so does every step
        after it; an unfinished step with the same key runs again on what it left (the training resumes)."""
        nonlocal previous
        key = hashlib.sha256(json.dumps([previous, name, *depends], default=str).encode()).hexdigest()
        previous = key
        done = state.get(name, {})
        if done.get("key") == key and done.get("finished"):
            print(f"[{name}] done before ({done['seconds']:.0f} s)")
            return
        if done.get("key") != key:
            for folder in outputs.get(name, []):
                remove(folder)
        state[name] = {"key": key, "finished": False}
        state_path.write_text(json.dumps(state, indent=1))
        print(f"[{name}] ...", flush=True)
        start = time.perf_counter()
        commands = run() or []
        state[name] = {"key": key, "finished": True, "seconds": round(time.perf_counter() - start, 1)}
        state[name]["commands"] = commands
        state_path.write_text(json.dumps(state, indent=1))

    def extractor_step():
        if args.extractors_dir is not None:
            if not extractors_complete(extractors):
                raise FileNotFoundError(f"--extractors-dir {args.extractors_dir}: no trained extractors there")
            return [f"(the trained extractors of {args.extractors_dir})"]
        command = [sys.executable, "-m", "sherlock.extractor_training", "--output-dir", str(extractors)]
        _run(command, log, args.threads)
        return [" ".join(command)]

    def data_step():
        build_set(train_set, args.num_videos, args.data_seed)
        build_set(eval_set, args.eval_videos, args.eval_seed)
        return [
            f"sherlock-build-synthetic --output-dir {train_set} --num-videos {args.num_videos} --seed {args.data_seed}",
            f"sherlock-build-synthetic --output-dir {eval_set} --num-videos {args.eval_videos} --seed {args.eval_seed}",
        ]

    def base_step():
        shutil.rmtree(base, ignore_errors=True)
        build_base(base, extractors, args.seed)

    def feature_step():
        arguments = ["precompute", "--dataset", str(train_set), "--processor", str(base), "--split", "train"]
        arguments += ["--cache-dir", str(features)]
        command = _cli(*arguments)
        if args.processes > 1:
            # accelerate's multi-process launcher; on a machine without GPUs its processes use gloo on the CPU
            launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes"]
            launch += [str(args.processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
            command = [*launch, "-m", "sherlock.cli", *arguments]
        _run(command, log, 1)  # one torch thread per worker
        return [" ".join(command)]

    def train_step():
        command = _cli(
            "train", "--model", str(base), "--dataset", str(train_set), "--extractors", "precomputed",
            "--cache-dir", str(features), "--output-dir", str(trained), "--seed", str(args.seed),
            "--frame-supervision-epochs", str(args.frame_epochs), "--num-train-epochs", str(args.epochs),
            *TRAIN_OPTIONS,
        )  # fmt: skip
        resume = ["--resume-from-checkpoint", "last"] if any(trained.glob("checkpoint-*")) else []
        _run(command + resume, log, args.threads)
        return [" ".join(command)]

    def evaluate_step():
        command = _cli(
            "evaluate", "--model", str(trained), "--dataset", str(eval_set), "--split", "all",
            "--output-dir", str(evaluation), "--cache-dir", str(work / "eval-features"), "--batch-size", "8",
        )  # fmt: skip
        _run(command, log, args.threads)
        return [" ".join(command)]

    os.environ.setdefault("OMP_NUM_THREADS", threads)
    step("extractors", extractor_step, args.extractors_dir)
    step("data", data_step, args.num_videos, args.data_seed, args.eval_videos, args.eval_seed)
    # the extractors' weights and settings (thresholds, NMS): either changed makes other features, so a new base
    # (another path to the same extractors keeps the key)
    extractor_settings = without_paths(base_extractor_settings(extractors))
    step("base", base_step, args.seed, DEMO_TEXT_CONFIG, extractors_digest(extractors), extractor_settings)
    step("features", feature_step)
    step("train", train_step, args.seed, args.frame_epochs, args.epochs, TRAIN_OPTIONS)
    step("evaluate", evaluate_step)
    metrics = json.loads((evaluation / "metrics.json").read_text())
    settings = {
        key: value
        for key, value in vars(args).items()
        if key not in ("work_dir", "output_dir", "extractors_output_dir")
    }
    record = {
        "settings": settings,
        # the commands as run, with the work folder written <work-dir> and this Python `python`
        "steps": json.loads(json.dumps(state).replace(str(work), "<work-dir>").replace(sys.executable, "python")),
        "held_out": {"dataset": f"synthetic-seed{args.eval_seed}", "videos": args.eval_videos, "metrics": metrics},
    }
    install(trained, Path(args.output_dir), record, evaluation)
    if args.extractors_dir is None:  # trained here: they are the ones the model learnt from
        install_tree(extractors, Path(args.extractors_output_dir), ignore=(".checkpoints",))
    print(f"installed the trained demo model in {args.output_dir}")
    return record


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    parser = HfArgumentParser(DemoTrainingArguments, description=__doc__.split("\n\n")[0])
    (args,) = parser.parse_args_into_dataclasses(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build_demo_model(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
