# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Can the GSM learn the evidence when it is told the event type directly? A diagnosis for issue 9.

    python benchmarks/train_experts_directly.py --dataset DIR [--epochs 20] [--experts action,global --read action]
    python benchmarks/train_experts_directly.py --dataset DIR --extractors random [--image-size 128 --patch-size 16]

The video path of a tiny Sherlock (`learn_synthetic.tiny_model`: video tower, projector, the local experts and the
gate; no language model) plus a small classification head (each frame's tokens averaged, frames concatenated, a
two-layer MLP) is trained with cross-entropy on the event type of the synthetic training videos that have exactly
one event (plus `α · L_gate`, as in training), and evaluated on a held-out fifth of them after every epoch: accuracy
overall and per evidence modality. `--read NAME` reads one local expert's output instead of the gate's mixture;
`--experts` chooses the configured experts. `--extractors oracle` (default) reads the builder's oracle expert features
at 32 px; `--extractors random` runs tiny random extractors instead (`build_tiny_extractor_models`, what the demo
model ran before issue 21: here the evidence is in the pixels alone), `--extractors trained` the shipped extractors
trained on the renderer's ground truth (`trained_extractor_settings`), and both show the video tower whole frames squeezed into
`--image-size` squares (no crop). Compare with `learn_synthetic.py`, where the same GSM learns only
through the language model's loss, and with its `gold_evidence` control.
"""

import argparse
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="synthetic dataset folder (sherlock-build-synthetic)")
    parser.add_argument("--experts", default="action,object_relation,background,global")
    parser.add_argument("--read", default=None, help="read this local expert's output instead of the mixture")
    parser.add_argument("--videos", type=int, default=1400, help="single-event training videos to use")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--extractors", choices=("oracle", "random", "trained"), default="oracle")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--patch-size", type=int, default=8)
    return parser.parse_args(argv)


def load_inputs(processor, rows, video_root: Path, batch_size: int = 50) -> dict:
    """The processor's video and expert inputs of `rows`, concatenated (no text)."""
    import torch

    parts = []
    for start in range(0, len(rows), batch_size):
        batch = processor(videos=[str(video_root / row["video"]) for row in rows[start : start + batch_size]])
        parts.append({k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask")})
    return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}


def extractors_processor(tokenizer, dataset: Path, image_size: int, patch_size: int, kind: str):
    """A processor with tiny extractors (`kind`: "random", built in a temporary folder, or "trained", the shipped
    ones; their output is cached in `dataset/features-<kind>-extractors`) and whole frames squeezed into
    `image_size` squares."""
    import atexit
    import shutil
    import tempfile

    from processing import SherlockProcessor
    from sherlock.demo import DEMO_CAPACITIES
    from sherlock.tiny_extractors import (
        build_tiny_extractor_models,
        tiny_extractor_settings,
        trained_extractor_settings,
    )
    from sherlock.tiny_models import tiny_image_processor

    if kind == "trained":
        settings = trained_extractor_settings(**DEMO_CAPACITIES)
    else:
        scratch = tempfile.mkdtemp(prefix="sherlock-random-extractors-")
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        settings = tiny_extractor_settings(build_tiny_extractor_models(scratch), threshold=0.15, **DEMO_CAPACITIES)
    squeeze = tiny_image_processor(image_size)
    squeeze.size, squeeze.do_center_crop = {"height": image_size, "width": image_size}, False
    return SherlockProcessor(
        image_processor=squeeze,
        tokenizer=tokenizer,
        num_frames=8,
        patch_size=patch_size,
        extractors=settings,
        feature_cache_dir=str(dataset / f"features-{kind}-extractors"),
    )


def main(argv=None) -> list[dict]:
    """Train and evaluate; returns one dict of figures per epoch (also printed)."""
    args = parse_args(argv)
    import torch
    from learn_synthetic import synthetic_processor, tiny_model
    from torch import nn

    from dataset_scripts.synthetic_world import EVENT_SPECS
    from modeling_sherlock import gsb_loss
    from sherlock.evaluation.dataset import load_split_rows
    from sherlock.tiny_models import train_tokenizer

    dataset = Path(args.dataset)
    rows = [row for row in load_split_rows(str(dataset), "train") if len(row["events"]) == 1][: args.videos]
    types = sorted(EVENT_SPECS)
    tokenizer = train_tokenizer()
    if args.extractors == "oracle":
        processor = synthetic_processor(tokenizer, dataset)
    else:
        processor = extractors_processor(tokenizer, dataset, args.image_size, args.patch_size, args.extractors)
    inputs = load_inputs(processor, rows, dataset / "videos")
    labels = torch.tensor([types.index(row["events"][0]["event_type"]) for row in rows])
    modalities = [EVENT_SPECS[row["events"][0]["event_type"]].modality for row in rows]
    experts = args.experts.split(",")
    view = {"image_size": args.image_size, "patch_size": args.patch_size}
    if args.extractors != "oracle":
        from sherlock.demo import DEMO_CAPACITIES

        view["max_relations"] = DEMO_CAPACITIES["max_relations"]  # the extractors' relation capacity
    model = tiny_model(tokenizer, 128, 4, args.seed, experts=experts, **view)
    hidden, frames = model.config.text_config.hidden_size, inputs["pixel_values_videos"].shape[1]
    if "background" in experts:
        model.model.spatial_experts["background"].tower.requires_grad_(False)
    head = nn.Sequential(nn.Linear(frames * hidden, 256), nn.ReLU(), nn.Linear(256, len(types)))
    parameters = [p for p in model.model.parameters() if p.requires_grad] + list(head.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=args.learning_rate, weight_decay=0.0)
    alpha = model.config.gsb_loss_coef

    def logits(index):
        grabbed = {}
        hook = None
        if args.read:
            expert = model.model.spatial_experts[args.read]
            hook = expert.register_forward_hook(lambda _m, _i, out: grabbed.setdefault("out", out))
        output = model.model.get_video_features(**{k: v[index] for k, v in inputs.items()})
        if hook is not None:
            hook.remove()
        features = grabbed["out"] if args.read else output.pooler_output
        pooled = features.reshape(len(index), frames, -1, hidden).mean(2).reshape(len(index), -1)
        # the GSB loss of this batch's gate weights, as the model's forward computes it when it has labels
        gsb = gsb_loss(output.gate_weights, list(model.config.experts), model.config.gsb_variant)
        return head(pooled), gsb

    count = len(rows)
    train_count = int(0.8 * count)
    held_out = torch.arange(train_count, count)
    history = []
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(train_count, generator=torch.Generator().manual_seed(args.seed + epoch))
        for first in range(0, train_count, args.batch_size):
            index = order[first : first + args.batch_size]
            scores, gsb = logits(index)
            loss = nn.functional.cross_entropy(scores, labels[index])
            if gsb is not None and alpha:
                loss = loss + alpha * gsb
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            correct = (logits(held_out)[0].argmax(-1) == labels[held_out]).float()
        per_modality = {}
        for modality in sorted(set(modalities)):
            mask = torch.tensor([modalities[i] == modality for i in held_out.tolist()])
            per_modality[modality] = round(correct[mask].mean().item(), 3) if mask.any() else None
        figures = {"epoch": epoch + 1, "accuracy": round(correct.mean().item(), 3), "per_modality": per_modality}
        history.append(figures)
        print(
            f"epoch {epoch + 1}: held-out event-type accuracy {figures['accuracy']:.3f} {per_modality} "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    majority = max(labels[held_out].bincount().tolist()) / len(held_out)
    print(f"{train_count} training / {len(held_out)} held-out videos; majority class {majority:.3f}")
    return history


if __name__ == "__main__":
    main()
