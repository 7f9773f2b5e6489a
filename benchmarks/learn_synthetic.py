# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Does the whole stack learn? A tiny Sherlock trained from scratch on the synthetic M-VAE set, evaluated on its
held-out split with the evaluation library (issue 9).

    python benchmarks/learn_synthetic.py [--dataset DIR] [--num-videos 1000] [--epochs 8] [--configs all]
        [--frame-epochs 0] [--frame-learning-rate LR] [--gsm-after-frames {frozen,lower_lr,joint}]

The synthetic set (`sherlock-build-synthetic`, built into `--dataset` when that folder holds none) carries oracle expert
features in its feature cache; the processor reads them with the `precomputed` extractor backend, so every
configuration sees exactly the same inputs. Each configuration is a tiny Sherlock (`--width`, `--layers`) built from
the same seed, trained with `SherlockTrainer` + `SherlockDataCollator` (every weight but the frozen background tower;
AdamW, cosine schedule) on the train split, then answers the test split with greedy generation (`SherlockPredictor`),
scored by `sherlock.evaluation.scoring.score`. Printed in one run:

- quadruple F1 and mAP@0.3 of every configuration, next to the untrained model and the majority answer (the most
  frequent training answer given for every test video);
- quadruple F1 split by the modality that carries each event's evidence (pose / relation / object / scene, recorded
  by the builder): gold and predicted events are restricted to the event types of that modality;
- the mean gate weight per expert on the test videos (the `"paper"` and `"uniform"` GSB variants, α = 0).

Configurations (`--configs`, comma-separated, or `all`): `full` (the default model), `wo_ae`, `wo_ore`, `wo_be`,
`wo_ge` (one expert dropped), `wo_eg` (uniform gate), `wo_sir` (α = 0), `video_llava` (the global expert alone,
uniform gate: Video-LLaVA), `residual` (`expert_output="residual"`), `gsb_uniform` (`gsb_variant="uniform"`),
`gate_norm_experts` (`gate_norm="experts"`: a LayerNorm per expert before the gate instead of one after the mixture),
and `gold_evidence`, a control of the language side: the video tokens are replaced by a learned embedding of each frame's
gold evidence (event type, subject and object of the event under way at the frame's time, else none; the scene), so
it shows what the same language model, budget and answer format reach when the evidence is given rather than
extracted (not part of `all`).

Frame supervision (issue 21): with `--frame-epochs N` > 0 every configuration but `gold_evidence` and `wo_frames`
first runs the frame stage of `sherlock train --frame-supervision-epochs N` on the train rows
(`sherlock.training.frame_stage.run_frame_stage`: the GSM and small heads learn each sampled frame's event types,
subject, object and scene from the rows' event spans; AdamW at `--frame-learning-rate`, default `--learning-rate`,
batch `--batch-size`, no weight decay), then the language-model training with the GSM `--gsm-after-frames`: `frozen`
(default), `lower_lr` (0.1 x the learning rate) or `joint` (`gsm_after_frames`). `wo_frames` ("w/o frame
supervision", part of `all` only when N > 0) is the full model without the frame stage, so one run prints both rows;
the table and JSON carry the stage's record (`frame_stage`, with the frame accuracies on the test rows after every
epoch: `evaluate_frames`) and its last epoch's event-type accuracy on the test rows' frames inside events (a frame
counts when all its event-type bits are right). `--frame-temporal-kernel K` gives the stage's heads a convolution over
K neighbouring frames (`FrameHeads`), `--frame-lr-scheduler` the stage's schedule. `--frame-only` runs the frame stage
of each configuration alone and prints its held-out frame accuracies (and each event type's recall): a quick measure
of the GSM, without the language model. `--merge A.json B.json` prints one table from runs that differ only in
`--configs` (configurations split over processes).
Every figure comes from this run; nothing is cached between configurations but the dataset.
"""

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = {
    "full": {},
    "wo_ae": {"experts": ["object_relation", "background", "global"]},
    "wo_ore": {"experts": ["action", "background", "global"]},
    "wo_be": {"experts": ["action", "object_relation", "global"]},
    "wo_ge": {"experts": ["action", "object_relation", "background"]},
    "wo_eg": {"gate": "uniform"},
    "wo_sir": {"gsb_loss_coef": 0.0},
    "video_llava": {"experts": ["global"], "gate": "uniform"},
    "residual": {"expert_output": "residual"},
    "gsb_uniform": {"gsb_variant": "uniform"},
    "gate_norm_experts": {"gate_norm": "experts"},
    "gold_evidence": {},
    "wo_frames": {},
}
LABELS = {
    "full": "Sherlock (full)",
    "wo_ae": "w/o AE",
    "wo_ore": "w/o ORE",
    "wo_be": "w/o BE",
    "wo_ge": "w/o GE",
    "wo_eg": "w/o EG",
    "wo_sir": "w/o SIR (alpha 0)",
    "video_llava": "Video-LLaVA alone",
    "residual": "residual expert form",
    "gsb_uniform": "GSB variant uniform",
    "gate_norm_experts": "LayerNorm per expert before the gate",
    "gold_evidence": "control: gold evidence in place of the GSM",
    "wo_frames": "w/o frame supervision",
}
NO_FRAME_STAGE = ("gold_evidence", "wo_frames")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=None, help="synthetic dataset folder (built there when missing)")
    parser.add_argument("--num-videos", type=int, default=1000, help="videos of the built dataset")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the built dataset")
    parser.add_argument("--configs", default="all", help=f"comma-separated among {', '.join(CONFIGS)}, or all")
    parser.add_argument("--epochs", type=float, default=6.0)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--width", type=int, default=128, help="language model width")
    parser.add_argument("--layers", type=int, default=4, help="language model layers")
    parser.add_argument("--seed", type=int, default=0, help="model initialisation and data order")
    parser.add_argument("--max-train", type=int, default=None, help="use only the first N training rows")
    parser.add_argument("--max-test", type=int, default=None, help="evaluate only the first N test rows")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--frame-epochs", type=int, default=0, help="frame-supervision epochs first (0: none)")
    parser.add_argument("--frame-learning-rate", type=float, default=None, help="default: --learning-rate")
    parser.add_argument("--gsm-after-frames", choices=("frozen", "lower_lr", "joint"), default="frozen")
    parser.add_argument("--frame-temporal-kernel", type=int, default=0, help="frame heads over N neighbouring frames")
    parser.add_argument(
        "--frame-lr-scheduler", default="constant", help="the frame stage's schedule: constant, cosine"
    )
    parser.add_argument(
        "--frame-only",
        action="store_true",
        help="only the frame stage: print its held-out frame accuracies per configuration (no LM training, no answers)",
    )
    parser.add_argument(
        "--output-json", default=None, help="also write every figure to this JSON file (after each configuration)"
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="JSON",
        help="train nothing: print one table from the --output-json files of runs that differ only in --configs "
        "(e.g. the configurations split over two processes)",
    )
    parser.add_argument("--save-dir", default=None, help="also save each trained model (+ processor) in DIR/<config>")
    return parser.parse_args(argv)


def ensure_dataset(args) -> Path:
    from dataset_scripts.build_synthetic import SyntheticArguments
    from dataset_scripts.synthetic_build import build_synthetic

    folder = Path(args.dataset or Path.home() / ".cache" / "sherlock" / f"learn-synthetic-{args.data_seed}")
    if not (folder / "README.md").is_file():
        print(f"building the synthetic set ({args.num_videos} videos, seed {args.data_seed}) in {folder} ...")
        build_synthetic(SyntheticArguments(output_dir=str(folder), num_videos=args.num_videos, seed=args.data_seed))
    return folder


def synthetic_processor(tokenizer, dataset: Path):
    """The processor of the tiny models on a synthetic set: 8 frames at 32 px, the oracle features of the set's
    feature cache (`precomputed` backend)."""
    from processing import SherlockProcessor
    from sherlock.tiny_models import tiny_image_processor

    return SherlockProcessor(
        image_processor=tiny_image_processor(32),
        tokenizer=tokenizer,
        num_frames=8,
        patch_size=8,
        extractors={"backend": "precomputed"},
        feature_cache_dir=str(Path(dataset) / "features"),
    )


def tiny_model(tokenizer, width: int, layers: int, seed: int, **overrides):
    """A tiny Sherlock from scratch: language model `width` x `layers`; `overrides` are config switches."""
    import torch

    from modeling_sherlock import SherlockForConditionalGeneration
    from sherlock.tiny_models import tiny_sherlock_config

    text = {"hidden_size": width, "intermediate_size": 2 * width, "num_hidden_layers": layers, "head_dim": width // 4}
    config = tiny_sherlock_config(tokenizer, text_overrides=text, **overrides)
    torch.manual_seed(seed)
    model = SherlockForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def attach_gold_evidence(model, processor, rows, video_root: Path) -> None:
    """The `gold_evidence` control: `model.model.get_video_features` returns, for every token of a frame, a learned
    embedding of that frame's gold labels instead of the GSM's mixture (`model.gold_evidence_embedding`, trained with
    the rest: the sum of one entry per slot, event type, subject, object and scene). Videos are recognised by their
    exact decoded frames (every row is decoded once here)."""
    import functools
    import hashlib

    import torch
    from torch import nn

    from processing.vocabulary_sherlock import ENTITIES, EVENT_TYPES, SCENES

    vocabulary = {name: i for i, name in enumerate(["<none>", *EVENT_TYPES, *SCENES, *ENTITIES])}

    def key(frames) -> str:
        return hashlib.sha1(frames.contiguous().numpy().tobytes()).hexdigest()

    slots = ("event_type", "subject", "object")
    table = {}
    for row in rows:
        inputs = processor(videos=[str(video_root / row["video"])], return_metadata=True)
        labels = []
        for t in inputs["video_metadata"][0]["timestamps"]:
            event = next((e for e in row["events"] if e["start"] <= t <= e["end"]), None)
            names = [event[k] if event else "<none>" for k in slots] + [row["source"]["scene"]]
            # one block of the embedding table per slot: a subject and an object of the same name differ
            labels.append([slot * len(vocabulary) + vocabulary[name] for slot, name in enumerate(names)])
        table[key(inputs["pixel_values_videos"][0])] = torch.tensor(labels)
    model.gold_evidence_embedding = nn.Embedding(4 * len(vocabulary), model.config.text_config.hidden_size)
    extract = model.model.get_video_features

    @functools.wraps(extract)  # `generate` matches the expert inputs against this signature
    def gold_video_features(pixel_values_videos, **kwargs):
        output = extract(pixel_values_videos=pixel_values_videos, **kwargs)
        labels = torch.stack([table[key(frames)] for frames in pixel_values_videos])  # (batch, frames, 4)
        evidence = model.gold_evidence_embedding(labels).sum(-2)  # (batch, frames, hidden)
        mixture = output.pooler_output
        tokens = mixture.numel() // (evidence.numel())
        shape = (*evidence.shape[:2], tokens, evidence.shape[-1])
        output.pooler_output = evidence.unsqueeze(2).expand(shape).reshape(mixture.shape).to(mixture.dtype)
        return output

    model.model.get_video_features = gold_video_features


def freeze_background_tower(model) -> None:
    if "background" in model.config.experts:
        for parameter in model.model.spatial_experts.background.tower.parameters():
            parameter.requires_grad_(False)


def frame_stage(model, processor, rows, args, eval_rows=None) -> tuple[dict, tuple]:
    """The frame stage of `sherlock train` on `rows` (`run_frame_stage`, reporting the frame accuracies on `eval_rows`
    every epoch), then the GSM set up as `--gsm-after-frames` says (`gsm_after_frames`); returns the stage's record
    and the trainer's `optimizers`."""
    import torch

    from sherlock.training.frame_stage import FrameSupervisionCollator, gsm_after_frames, run_frame_stage

    freeze_background_tower(model)
    record = run_frame_stage(
        model,
        FrameSupervisionCollator(processor, video_root=args.video_root),
        rows,
        epochs=args.frame_epochs,
        learning_rate=args.frame_learning_rate or args.learning_rate,
        weight_decay=0.0,
        batch_size=args.batch_size,
        seed=args.seed,
        device=torch.device("cpu"),
        bf16=False,
        progress=True,
        eval_dataset=eval_rows,
        temporal_kernel=args.frame_temporal_kernel,
        lr_scheduler_type=args.frame_lr_scheduler,
    )
    record["gsm_after_frames"] = args.gsm_after_frames
    return record, gsm_after_frames(model, args.gsm_after_frames, args.learning_rate, 0.0)


def train(model, processor, rows, args, output_dir: Path, optimizers=(None, None)) -> float:
    """Train every weight but the frozen background tower (and the GSM when the frame stage froze it); returns the
    seconds spent."""
    import datasets

    from sherlock.training import SherlockDataCollator, SherlockTrainer, sherlock_sft_config

    freeze_background_tower(model)
    table = datasets.Dataset.from_list([{"video": row["video"], "answer": row["answer"]} for row in rows])
    settings = sherlock_sft_config(
        output_dir=str(output_dir),
        per_device_train_batch_size=args.batch_size,
        num_train_epochs=args.epochs,
        learning_rate=args.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        weight_decay=0.0,
        logging_steps=50,
        use_cpu=True,
        save_strategy="no",
        seed=args.seed,
        disable_tqdm=False,
    )
    trainer = SherlockTrainer(
        model=model,
        args=settings,
        train_dataset=table,
        data_collator=SherlockDataCollator(processor, video_root=args.video_root),
        processing_class=processor.tokenizer,
        optimizers=optimizers,
    )
    start = time.perf_counter()
    trainer.train()
    model.eval()
    return time.perf_counter() - start


def predict(model, processor, rows, video_root: Path) -> tuple[dict, dict]:
    """`({video_id: events}, mean gate weight per expert)` of greedy answers on `rows`."""
    from tqdm.auto import tqdm

    from sherlock.evaluation.dataset import video_items
    from sherlock.evaluation.sherlock_predictor import SherlockPredictor

    predictor = SherlockPredictor(model, processor, max_new_tokens=64)
    items = video_items(rows, video_root)
    events, gates, timings = {}, Counter(), {}
    for start in tqdm(range(0, len(items), 16), desc="answering", leave=False):
        batch = items[start : start + 16]
        for item, prediction in zip(batch, predictor.predict(batch, timings)):
            events[item.video_id] = prediction.events
            for name, value in (prediction.gate_weights or {}).items():
                gates[name] += value / len(items)
    return events, dict(gates)


def modality_f1(rows, predictions) -> dict[str, float]:
    """Quadruple F1 per evidence modality: gold and predicted events restricted to that modality's event types."""
    from dataset_scripts.synthetic_world import EVENT_SPECS, MODALITIES
    from sherlock.evaluation.events import as_event
    from sherlock.evaluation.extraction import extraction_score

    scores = {}
    for modality in MODALITIES:
        types = {name for name, spec in EVENT_SPECS.items() if spec.modality == modality}
        gold = {row["video_id"]: [as_event(e) for e in row["events"] if e["event_type"] in types] for row in rows}
        predicted = {
            video: [as_event(e) for e in events if as_event(e).event_type in types]
            for video, events in predictions.items()
        }
        scores[modality] = extraction_score(gold, predicted, "quadruple")["macro_f1"]
    return scores


def summarise(rows, predictions) -> dict:
    from sherlock.evaluation.scoring import score

    metrics = score(rows, predictions)
    return {
        "quadruple_f1": metrics["extraction"]["quadruple"],
        "map@0.3": metrics["localization"]["map@0.3"],
        "per_modality": modality_f1(rows, predictions),
    }


def majority_answer(train_rows, test_rows) -> dict:
    """The most frequent training answer, given for every test video (parsed like a model's answer)."""
    from processing import post_process_events

    answer, _ = Counter(row["answer"] for row in train_rows).most_common(1)[0]
    return {row["video_id"]: post_process_events(answer, duration=row["duration"]) for row in test_rows}, answer


def format_table(results: dict) -> str:
    from dataset_scripts.synthetic_world import MODALITIES

    header = ["configuration", "quad F1", "mAP@0.3", *(f"F1 {m}" for m in MODALITIES), "gate weights", "train s"]
    header.insert(-1, "frame acc in events (test)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for result in results.values():
        gates = ", ".join(f"{k} {v:.2f}" for k, v in result.get("gate_weights", {}).items()) or "-"
        cells = [
            result["label"],
            f"{100 * result['quadruple_f1']:.1f}",
            f"{100 * result['map@0.3']:.1f}",
            *(f"{100 * result['per_modality'][m]:.1f}" for m in MODALITIES),
            gates,
            f"{100 * result['frame_accuracy']:.1f}" if result.get("frame_accuracy") is not None else "-",
            f"{result['train_seconds']:.0f}" if result.get("train_seconds") else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def frame_only(args, names, tokenizer, processor, train_rows, test_rows) -> dict:
    """`--frame-only`: the frame stage of every configuration, its held-out frame accuracies after the last epoch
    (printed as a table, and in `--output-json`)."""
    if args.frame_epochs < 1:
        raise SystemExit("--frame-only needs --frame-epochs >= 1")
    skipped = [name for name in names if name in NO_FRAME_STAGE]
    if skipped:
        raise SystemExit(f"--frame-only: {skipped} have no frame stage")
    results = {}
    for name in names:
        model = tiny_model(tokenizer, args.width, args.layers, args.seed, **CONFIGS[name])
        record, _ = frame_stage(model, processor, train_rows, args, eval_rows=test_rows)
        last = record["per_epoch"][-1]
        results[name] = {"label": LABELS[name], "frame_stage": record, **last["held_out"]}
        results[name]["gate_weights"] = last["gate_weights"]
    header = ["configuration", "in events", "all frames", "subject", "object", "scene", "gate weights"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for result in results.values():
        cells = [result["label"]]
        for key in ("event_frame_accuracy", "frame_accuracy", "subject_accuracy", "object_accuracy", "scene_accuracy"):
            cells.append("-" if result[key] is None else f"{100 * result[key]:.1f}")
        cells.append(", ".join(f"{k} {v:.2f}" for k, v in result["gate_weights"].items()))
        lines.append("| " + " | ".join(cells) + " |")
    print("\nheld-out frame accuracies after the frame stage (%):\n" + "\n".join(lines))
    recall = sorted({t for result in results.values() for t in result["event_type_recall"]})
    lines = ["| configuration | " + " | ".join(recall) + " |", "|" + "---|" * (len(recall) + 1)]
    for result in results.values():
        cells = [
            f"{100 * result['event_type_recall'][t]:.0f}" if t in result["event_type_recall"] else "-" for t in recall
        ]
        lines.append(f"| {result['label']} | " + " | ".join(cells) + " |")
    print("\nheld-out recall of each event type's frames (%):\n" + "\n".join(lines))
    write_figures(args, results)
    return results


def settings_of(args) -> dict:
    """The run's settings as given (without the derived `video_root`)."""
    return {k: v for k, v in vars(args).items() if k != "video_root"}


def write_figures(args, results: dict) -> None:
    """`--output-json`: the settings and every figure."""
    if args.output_json:
        Path(args.output_json).write_text(
            json.dumps({"settings": settings_of(args), "results": results}, indent=2, default=str)
        )


# settings that may differ between runs merged by --merge
PER_RUN_SETTINGS = ("configs", "output_json", "save_dir", "merge", "threads")


def merge_runs(paths: list[str]) -> dict:
    """`--merge`: the results of several `--output-json` files as one table; `SystemExit` when their settings differ
    in anything but `PER_RUN_SETTINGS` (the figures would not be comparable)."""
    runs = [json.loads(Path(path).read_text()) for path in paths]
    shared = [{k: v for k, v in run["settings"].items() if k not in PER_RUN_SETTINGS} for run in runs]
    for path, settings in zip(paths[1:], shared[1:]):
        differing = sorted(k for k in set(settings) | set(shared[0]) if settings.get(k) != shared[0].get(k))
        if differing:
            raise SystemExit(f"--merge: {path} differs from {paths[0]} in {differing}")
    results = {}
    for run in runs:
        for name, figures in run["results"].items():
            results.setdefault(name, figures)  # majority / untrained: the first run's (the same model and data)
    print(format_table(results))
    print(f"\nmerged from {', '.join(paths)}; settings: {json.dumps(shared[0], default=str)}")
    return results


def main(argv=None) -> dict:
    """Run the benchmark; returns `{configuration: figures}` (also printed as a table)."""
    args = parse_args(argv)
    if args.merge:
        return merge_runs(args.merge)
    if args.configs == "all":
        names = [name for name in CONFIGS if name != "gold_evidence" and (name != "wo_frames" or args.frame_epochs)]
    else:
        names = [name.strip() for name in args.configs.split(",")]
    unknown = [name for name in names if name not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configuration(s) {unknown}: choose among {', '.join(CONFIGS)}")
    import tempfile

    import torch
    from transformers.utils import logging as hf_logging

    from sherlock.evaluation.dataset import load_split_rows
    from sherlock.tiny_models import train_tokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    logging.basicConfig(level=logging.WARNING)
    dataset = ensure_dataset(args)
    args.video_root = dataset / "videos"
    train_rows = load_split_rows(str(dataset), "train")[: args.max_train]
    test_rows = load_split_rows(str(dataset), "test")[: args.max_test]
    print(f"{len(train_rows)} training videos, {len(test_rows)} test videos from {dataset}")
    tokenizer = train_tokenizer()
    processor = synthetic_processor(tokenizer, dataset)
    if args.frame_only:
        return frame_only(args, names, tokenizer, processor, train_rows, test_rows)
    results = {}
    majority, answer = majority_answer(train_rows, test_rows)
    results["majority"] = {"label": f"majority answer ({answer!r})", **summarise(test_rows, majority)}
    untrained = tiny_model(tokenizer, args.width, args.layers, args.seed).eval()
    predictions, gates = predict(untrained, processor, test_rows, args.video_root)
    results["untrained"] = {"label": "untrained", **summarise(test_rows, predictions), "gate_weights": gates}
    with tempfile.TemporaryDirectory(prefix="learn-synthetic-") as scratch:
        for name in names:
            model = tiny_model(tokenizer, args.width, args.layers, args.seed, **CONFIGS[name])
            if name == "gold_evidence":
                attach_gold_evidence(model, processor, train_rows + test_rows, args.video_root)
            frames, optimizers = {}, (None, None)
            if args.frame_epochs > 0 and name not in NO_FRAME_STAGE:
                record, optimizers = frame_stage(model, processor, train_rows, args, eval_rows=test_rows)
                last = record["per_epoch"][-1] if record["per_epoch"] else {}
                frames = {
                    "frame_stage": record,
                    "frame_accuracy": last.get("held_out", {}).get("event_frame_accuracy"),
                }
            seconds = train(model, processor, train_rows, args, Path(scratch) / name, optimizers)
            if args.save_dir and name != "gold_evidence":
                model.save_pretrained(Path(args.save_dir) / name)
                processor.save_pretrained(Path(args.save_dir) / name)
            predictions, gates = predict(model, processor, test_rows, args.video_root)
            result = {"label": LABELS[name], **summarise(test_rows, predictions), "gate_weights": gates}
            results[name] = {**result, **frames, "train_seconds": seconds}
            print(f"{LABELS[name]}: quadruple F1 {result['quadruple_f1']:.3f}, mAP@0.3 {result['map@0.3']:.3f}")
            write_figures(args, results)  # after every configuration: an interrupted run keeps what it finished
    print("\n" + format_table(results))
    print(f"\nsettings: {json.dumps(settings_of(args), default=str)}; torch threads {torch.get_num_threads()}")
    write_figures(args, results)
    return results


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
