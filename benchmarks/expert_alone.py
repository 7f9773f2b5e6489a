# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Can each local expert, alone, learn its modality's per-frame event types from the synthetic set's oracle inputs?
(issue 21)

    python benchmarks/expert_alone.py --dataset DIR [--learners action,action_no_pose_embedding,action_mlp,
        object_relation,object_relation_mlp] [--epochs 15] [--temporal-kernel 0] [--threads 1] [--output-json FILE]

The synthetic set (`sherlock-build-synthetic`, built into `--dataset` when that folder holds none, as
`learn_synthetic.py` does) carries the renderer's oracle expert inputs (poses, objects, relations) in its feature
cache. Each frame's target is the 11 event-type bits of the event under way at the frame's sampled time, from
`sherlock.training.frame_stage.FrameSupervisionCollator` (read once through `FrameInputCache`) with the processor of
`learn_synthetic.synthetic_processor` (8 frames). Each learner maps one frame's inputs to a vector, optionally mixes
neighbouring frames (`--temporal-kernel K` > 0: `x + ReLU(Conv1d_K(x))` over the video's frames), and a linear head
gives the 11 logits. Learners (`--learners`, comma-separated):

- `action`: `SherlockActionExpert` with `action_pose_embedding=True` (each keypoint node also carries an embedding of
  its person's whole skeleton), then a LayerNorm;
- `action_no_pose_embedding`: the same with `action_pose_embedding=False` (the expert before issue 21);
- `action_mlp`: the reference, a two-layer MLP over each person's relative keypoints and where the person is
  (`person_relative_keypoints`), max-pooled over the frame's persons;
- `object_relation`: `SherlockObjectRelationExpert`, then a LayerNorm;
- `object_relation_mlp`: the reference, two-layer MLPs over each object (class embedding, box) and each relation
  triplet (subject class, predicate, object class, both boxes), each max-pooled over the frame, concatenated.

An expert is the one of a tiny Sherlock (`learn_synthetic.tiny_model`, `--width`, config switch as above), so it has the
model's own initialisation (`SherlockLocalExpert.mark_initialisation`, read by `_init_weights`: fan-in linears, unit
embeddings, a zero up projection); it is queried by one constant (zero) video token per frame, which, as a CLS token,
sees every node of the frame. Every learner is trained from the same seed (`--seed`: initialisation of the added
layers and the batch order) with AdamW (`--learning-rate`, `--batch-size`), binary cross-entropy over the 11 bits, on
the train split, for `--epochs` epochs.

Printed after every epoch, for each learner: the last batch's loss and, on the test split's frames, the recall and
the false positives (frames predicted but not gold) of each event type of the learner's modality
(`dataset_scripts.synthetic_world.EVENT_SPECS`: `pose` for the action learners, `relation` and `object` for the
object-relation learners); a bit counts as predicted at logit > 0. At the end, a markdown table per modality group with
the last epoch's figures. `--output-json` also writes every figure, per epoch, with the norm of each learner's weight
change.
"""

import argparse
import json
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# learner -> its group: the expert (and modality inputs) it reads
LEARNERS = {
    "action": "action",
    "action_no_pose_embedding": "action",
    "action_mlp": "action",
    "object_relation": "object_relation",
    "object_relation_mlp": "object_relation",
}
GROUP_MODALITIES = {"action": ("pose",), "object_relation": ("relation", "object")}
GROUP_INPUTS = {
    "action": ("pose_keypoints", "pose_mask"),
    "object_relation": ("object_boxes", "object_labels", "object_mask", "relation_triplets", "relation_mask"),
}
MLP_WIDTH = 128


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=None, help="synthetic dataset folder (built there when missing)")
    parser.add_argument("--num-videos", type=int, default=1000, help="videos of the built dataset")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the built dataset")
    parser.add_argument("--learners", default=",".join(LEARNERS), help=f"comma-separated among {', '.join(LEARNERS)}")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=16, help="videos per step")
    parser.add_argument("--temporal-kernel", type=int, default=0, help="odd K: a convolution over K frames (0: none)")
    parser.add_argument("--width", type=int, default=128, help="the tiny model's hidden size (the experts' read-out)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and batch order")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--output-json", default=None, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    learners = [name.strip() for name in args.learners.split(",") if name.strip()]
    unknown = [name for name in learners if name not in LEARNERS]
    if unknown or not learners:
        parser.error(f"--learners: unknown {', '.join(unknown) or '(none given)'}; choose among {', '.join(LEARNERS)}")
    if args.temporal_kernel < 0 or (args.temporal_kernel and args.temporal_kernel % 2 == 0):
        parser.error(f"--temporal-kernel must be 0 or an odd positive number, got {args.temporal_kernel}")
    if args.epochs < 1 or args.batch_size < 1:
        parser.error("--epochs and --batch-size must be positive")
    args.learners = learners
    return args


def modality_event_types(group: str) -> list[str]:
    """The event types (in `EVENT_TYPES` order) whose evidence is in the modalities of a learner group."""
    from dataset_scripts.synthetic_world import EVENT_SPECS
    from processing.vocabulary_sherlock import EVENT_TYPES

    modalities = GROUP_MODALITIES[group]
    return [t for t in EVENT_TYPES if t in EVENT_SPECS and EVENT_SPECS[t].modality in modalities]


def load_frames(collator, rows) -> dict:
    """The oracle expert inputs and per-frame event-type targets of `rows` (one collated batch)."""
    from sherlock.training.frame_stage import FrameInputCache

    batch = FrameInputCache(collator, rows).batch(range(len(rows)))
    keys = {key for inputs in GROUP_INPUTS.values() for key in inputs} | {"frame_event_types"}
    return {key: batch[key] for key in keys}


def build_learner(name: str, tokenizer, args, num_event_types: int):
    """A learner (`torch.nn.Module`: inputs dict -> `(videos, frames, event types)` logits), seeded."""
    import torch
    from learn_synthetic import tiny_model
    from torch import nn

    from modeling_sherlock.modeling_sherlock_experts import person_relative_keypoints

    group = LEARNERS[name]
    keys = GROUP_INPUTS[group]

    class ExpertEncoder(nn.Module):
        """A local expert of the tiny model, queried by one zero video token per frame, then a LayerNorm."""

        def __init__(self, expert, hidden):
            super().__init__()
            self.expert, self.hidden, self.out_features = expert, hidden, hidden
            self.norm = nn.LayerNorm(hidden)

        def forward(self, inputs):
            videos, frames = inputs[keys[0]].shape[:2]
            tokens = torch.zeros(videos, frames, 1, self.hidden)
            return self.norm(self.expert(tokens, *(inputs[key] for key in keys))[:, :, 0])

    class PoseMLP(nn.Module):
        """Each person's relative keypoints + where it is -> MLP, max over the frame's persons (0 without one)."""

        def __init__(self, num_keypoints):
            super().__init__()
            self.out_features = MLP_WIDTH
            self.mlp = nn.Sequential(
                nn.Linear(3 * num_keypoints + 3, MLP_WIDTH), nn.ReLU(), nn.Linear(MLP_WIDTH, MLP_WIDTH), nn.ReLU()
            )

        def forward(self, inputs):
            relative, person = person_relative_keypoints(inputs["pose_keypoints"])
            mask = inputs["pose_mask"].bool()
            x = self.mlp(torch.cat([relative.flatten(-2), person], -1))  # (videos, frames, persons, width)
            return torch.where(mask.unsqueeze(-1), x, torch.zeros_like(x)).amax(-2)  # ReLU output: 0 is neutral

    class RelationMLP(nn.Module):
        """Objects (class, box) and relation triplets (classes, predicate, boxes) -> MLPs, max over the frame."""

        def __init__(self, num_object_classes, num_relation_classes, dim=64):
            super().__init__()
            self.out_features = 2 * MLP_WIDTH
            self.classes = nn.Embedding(num_object_classes, dim)
            self.predicates = nn.Embedding(num_relation_classes, dim)
            self.objects = nn.Sequential(
                nn.Linear(dim + 4, MLP_WIDTH), nn.ReLU(), nn.Linear(MLP_WIDTH, MLP_WIDTH), nn.ReLU()
            )
            self.relations = nn.Sequential(
                nn.Linear(3 * dim + 8, MLP_WIDTH), nn.ReLU(), nn.Linear(MLP_WIDTH, MLP_WIDTH), nn.ReLU()
            )

        @staticmethod
        def pooled(x, mask):
            return torch.where(mask.unsqueeze(-1), x, torch.zeros_like(x)).amax(-2)  # ReLU output: 0 is neutral

        def forward(self, inputs):
            boxes, labels = inputs["object_boxes"].float(), inputs["object_labels"]
            triplets = inputs["relation_triplets"]
            labels = labels.clamp(0, self.classes.num_embeddings - 1)
            last = max(boxes.shape[2] - 1, 0)
            subject, target = triplets[..., 0].clamp(0, last), triplets[..., 2].clamp(0, last)
            predicate = triplets[..., 1].clamp(0, self.predicates.num_embeddings - 1)

            def gather(values, index):  # values (v, f, objects, d), index (v, f, relations)
                return torch.gather(values, 2, index.unsqueeze(-1).expand(*index.shape, values.shape[-1]))

            classes = self.classes(labels)
            objects = self.objects(torch.cat([classes, boxes], -1))
            relation = torch.cat(
                [gather(classes, subject), self.predicates(predicate), gather(classes, target)]
                + [gather(boxes, subject), gather(boxes, target)],
                -1,
            )
            relations = self.relations(relation)
            return torch.cat(
                [
                    self.pooled(objects, inputs["object_mask"].bool()),
                    self.pooled(relations, inputs["relation_mask"].bool()),
                ],
                -1,
            )

    class Learner(nn.Module):
        """encoder -> (optional residual temporal convolution over the frames) -> linear head."""

        def __init__(self, encoder, kernel):
            super().__init__()
            width = encoder.out_features
            self.encoder = encoder
            self.temporal = nn.Conv1d(width, width, kernel, padding=kernel // 2) if kernel else None
            self.head = nn.Linear(width, num_event_types)

        def forward(self, inputs):
            x = self.encoder(inputs)  # (videos, frames, width)
            if self.temporal is not None:
                x = x + torch.relu(self.temporal(x.transpose(1, 2)).transpose(1, 2))
            return self.head(x)

    if name in ("action", "action_no_pose_embedding", "object_relation"):
        # the expert of a tiny Sherlock: the model's own initialisation (tiny_model seeds torch with args.seed)
        model = tiny_model(tokenizer, args.width, 1, args.seed, action_pose_embedding=name == "action")
        encoder = ExpertEncoder(model.model.spatial_experts[group], model.config.text_config.hidden_size)
        del model
    else:
        from sherlock.tiny_models import tiny_sherlock_config

        config = tiny_sherlock_config(tokenizer)
        torch.manual_seed(args.seed)
        if name == "action_mlp":
            encoder = PoseMLP(config.num_keypoints)
        else:
            encoder = RelationMLP(config.num_object_classes, config.num_relation_classes)
    return Learner(encoder, args.temporal_kernel)


def held_out_figures(learner, test: dict, columns: list[int], names: list[str]) -> dict:
    """Recall and false-positive frames per event type on `test` (a bit is predicted at logit > 0)."""
    import torch

    with torch.no_grad():
        predicted = learner(test) > 0
    gold = test["frame_event_types"] > 0.5
    recall, false_positives = {}, {}
    for column, name in zip(columns, names):
        positives = int(gold[..., column].sum())
        hits = int((predicted[..., column] & gold[..., column]).sum())
        recall[name] = round(hits / positives, 4) if positives else None
        false_positives[name] = int((predicted[..., column] & ~gold[..., column]).sum())
    return {"recall": recall, "false_positives": false_positives}


def train_learner(name: str, learner, train: dict, test: dict, args) -> dict:
    """Train one learner; its figures after every epoch (also printed)."""
    import torch
    import torch.nn.functional as F

    from processing.vocabulary_sherlock import EVENT_TYPES

    names = modality_event_types(LEARNERS[name])
    columns = [EVENT_TYPES.index(t) for t in names]
    initial = {key: value.detach().clone() for key, value in learner.state_dict().items()}
    optimizer = torch.optim.AdamW(learner.parameters(), lr=args.learning_rate)
    generator = torch.Generator().manual_seed(args.seed)
    count = train["frame_event_types"].shape[0]
    per_epoch, start = [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        learner.train()
        order = torch.randperm(count, generator=generator)
        for first in range(0, count, args.batch_size):
            index = order[first : first + args.batch_size]
            batch = {key: value[index] for key, value in train.items()}
            loss = F.binary_cross_entropy_with_logits(learner(batch), batch["frame_event_types"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        learner.eval()
        figures = {"epoch": epoch, "loss": round(loss.item(), 4), **held_out_figures(learner, test, columns, names)}
        per_epoch.append(figures)
        shown = ", ".join(
            f"{t} {format_recall(figures['recall'][t])} (fp {figures['false_positives'][t]})" for t in names
        )
        print(f"{name} epoch {epoch}/{args.epochs}: loss {figures['loss']:.4f}; held-out recall {shown}", flush=True)
    final = learner.state_dict()
    change = {}  # the norm of each part's weight change: "expert" (an expert learner's expert) within "encoder"
    for part in ("encoder", "expert", "temporal", "head"):
        prefix = "encoder.expert." if part == "expert" else f"{part}."
        keys = [key for key in final if key.startswith(prefix)]
        if keys:
            squares = sum(float((final[key] - initial[key]).float().norm()) ** 2 for key in keys)
            change[part] = round(squares**0.5, 6)
    return {
        "group": LEARNERS[name],
        "event_types": names,
        "parameters": sum(p.numel() for p in learner.parameters()),
        "seconds": round(time.perf_counter() - start, 1),
        "weight_change": change,
        "per_epoch": per_epoch,
    }


def format_recall(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def format_tables(results: dict, positives: dict, temporal_kernel: int) -> str:
    """One markdown table per learner group: the last epoch's held-out recall (false-positive frames) per type."""
    tables = []
    for group in GROUP_MODALITIES:
        learners = [name for name, result in results.items() if result["group"] == group]
        if not learners:
            continue
        names = results[learners[0]]["event_types"]
        header = ["learner", *(f"{t} (n={positives[t]})" for t in names), "train loss"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for learner in learners:
            last = results[learner]["per_epoch"][-1]
            cells = [f"{format_recall(last['recall'][t])} ({last['false_positives'][t]})" for t in names]
            label = learner + (f" + temporal conv k={temporal_kernel}" if temporal_kernel else "")
            lines.append("| " + " | ".join([label, *cells, f"{last['loss']:.3f}"]) + " |")
        epochs = results[learners[0]]["per_epoch"][-1]["epoch"]
        modalities = " + ".join(GROUP_MODALITIES[group])
        tables.append(
            f"{modalities} event types, held-out recall (false-positive frames) after {epochs} epochs; n = "
            "held-out frames of the type\n\n" + "\n".join(lines)
        )
    return "\n\n".join(tables)


def main(argv=None) -> dict:
    """Run the benchmark; returns every figure (also printed, and written to `--output-json`)."""
    args = parse_args(argv)
    import logging

    import torch
    from learn_synthetic import ensure_dataset, synthetic_processor
    from transformers.utils import logging as hf_logging

    from processing.vocabulary_sherlock import EVENT_TYPES
    from sherlock.evaluation.dataset import load_split_rows
    from sherlock.tiny_models import train_tokenizer
    from sherlock.training.frame_stage import FrameSupervisionCollator

    if args.threads:
        torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    logging.basicConfig(level=logging.WARNING)
    dataset = ensure_dataset(args)
    tokenizer = train_tokenizer()
    collator = FrameSupervisionCollator(synthetic_processor(tokenizer, dataset), video_root=dataset / "videos")
    start = time.perf_counter()
    train_rows, test_rows = load_split_rows(str(dataset), "train"), load_split_rows(str(dataset), "test")
    if not train_rows or not test_rows:
        raise SystemExit(f"{dataset} needs train and test rows (found {len(train_rows)} and {len(test_rows)})")
    train, test = load_frames(collator, train_rows), load_frames(collator, test_rows)
    gold = test["frame_event_types"] > 0.5
    positives = {t: int(gold[..., i].sum()) for i, t in enumerate(EVENT_TYPES)}
    frames = {"train": int(train["frame_event_types"][..., 0].numel()), "test": int(gold[..., 0].numel())}
    print(
        f"{len(train_rows)} train / {len(test_rows)} test videos ({frames['train']} / {frames['test']} frames) of "
        f"{dataset} loaded in {time.perf_counter() - start:.1f}s; torch threads {torch.get_num_threads()}",
        flush=True,
    )
    results = {}
    for name in args.learners:
        learner = build_learner(name, tokenizer, args, len(EVENT_TYPES))
        results[name] = train_learner(name, learner, train, test, args)
    table = format_tables(results, positives, args.temporal_kernel)
    print("\n" + table)
    settings = dict(vars(args))
    settings["dataset"] = str(dataset)
    print(f"\nsettings: {json.dumps(settings)}")
    summary = {"settings": settings, "frames": frames, "held_out_positives": positives, "learners": results}
    summary["table"] = table
    if args.output_json:
        Path(args.output_json).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
