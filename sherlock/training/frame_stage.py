"""The frame-supervision stage of `sherlock train --frame-supervision-epochs N` (issue 21; a departure from the paper:
a frame-level auxiliary stage derived from the event spans). Stage 2 only, before its language-model training:

1. For N epochs the GSM (the trainable ones of: video tower, projector, spatial experts, gate) and the `FrameHeads`
   learn each sampled frame's targets (`frame_targets`: event types under way, subject, object, scene) from
   `model.model.get_video_features(...)` alone, with `α · GSB` of its gate weights (α = the model's `gsb_loss_coef`;
   0 with `--without sir`). The language model never runs and is not in the optimizer: its weights do not change.
   AdamW at `--frame-learning-rate` (default `--learning-rate`) on `--frame-lr-scheduler-type` (default constant),
   `--weight-decay`, micro-batches of `--per-device-train-batch-size` (one optimizer step each; no accumulation),
   rows shuffled with `--seed`; the heads see `--frame-temporal-kernel` neighbouring frames (0: each frame alone).
2. `--gsm-after-frames` says what the GSM does in the language-model training that follows: `frozen` (default: its
   parameters stop training, so the exported GSM is the frame stage's), `lower_lr` (it trains at 0.1 x the learning
   rate: a two-group AdamW given to the trainer) or `joint` (it trains as without the frame stage).

The heads are dropped after the stage: they are never a submodule of the model, so the export, its config and the
checkpoints do not hold them. The inputs are `SherlockDataCollator`'s (the processor's frame sampling, extractors and
feature cache), collated once per row and kept in memory (`FrameInputCache`); the frame times are the ones the
collator's prompt shows (`processor.load_video(path, decode=False)`). One process only (a distributed launch is refused
before anything loads).
"""

import inspect
import logging
import time

import torch
from transformers import get_scheduler

from processing.vocabulary_sherlock import EVENT_TYPES

from .collator import SherlockDataCollator
from .frame_heads import HEAD_NAMES, FrameHeads, frame_loss
from .frame_targets import IGNORE_INDEX, as_tensors, row_frame_targets


logger = logging.getLogger("sherlock")

GSM_MODULES = ("video_tower", "multi_modal_projector", "spatial_experts", "expert_gate")
GSM_AFTER_FRAMES = ("frozen", "lower_lr", "joint")
LOWER_LR_SCALE = 0.1
TARGET_KEYS = ("frame_event_types", "frame_subject", "frame_object", "frame_scene")


def is_gsm_parameter(name: str) -> bool:
    """Whether a parameter (its name in the model, plain or under PEFT) belongs to the GSM, not the language model."""
    parts = name.split(".")
    return "language_model" not in parts and any(module in parts for module in GSM_MODULES)


def gsm_parameters(model, trainable_only: bool = True) -> dict:
    """`{name: parameter}` of the GSM (the trainable ones by default)."""
    return {
        name: param
        for name, param in model.named_parameters()
        if is_gsm_parameter(name) and (param.requires_grad or not trainable_only)
    }


def sherlock_model(model):
    """The `SherlockModel` (`.model`) under a PEFT wrapper or not."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.model


class FrameSupervisionCollator(SherlockDataCollator):
    """`SherlockDataCollator`'s batch plus the per-frame targets of each row at its sampled frame times."""

    def __call__(self, rows):
        rows = list(rows)
        batch = super().__call__(rows)
        times = [self.processor.load_video(self.video_path(row), decode=False).timestamps for row in rows]
        batch.update(as_tensors([row_frame_targets(row, frame_times) for row, frame_times in zip(rows, times)]))
        return batch


LANGUAGE_KEYS = ("input_ids", "attention_mask", "labels")  # the collator's text side: the frame stage does not use it
INPUT_CACHE_BYTES = 2 * 1024**3


class FrameInputCache:
    """The frame stage's inputs, collated one row at a time and kept in memory across epochs (decoding, sampling and
    reading the feature cache of a video once, not once per epoch) up to `budget_bytes` in all; rows past the budget
    are collated anew each time. Rows of other shapes than the first cached ones (another frame count) make their
    batch fall back to the collator. A batch is the rows' cached tensors concatenated: the same values as
    `collator(rows)` (tested), without the text side."""

    def __init__(self, collator, dataset, budget_bytes: int = INPUT_CACHE_BYTES):
        self.collator, self.dataset, self.budget = collator, dataset, budget_bytes
        self.rows, self.used = {}, 0

    def _row(self, index: int) -> dict:
        cached = self.rows.get(index)
        if cached is not None:
            return cached
        row = self.collator([self.dataset[index]])
        row = {key: value for key, value in row.items() if key not in LANGUAGE_KEYS and torch.is_tensor(value)}
        size = sum(value.numel() * value.element_size() for value in row.values())
        if self.used + size <= self.budget:
            self.rows[index] = row
            self.used += size
        return row

    def batch(self, indices) -> dict:
        rows = [self._row(index) for index in indices]
        if any(set(row) != set(rows[0]) or any(row[k].shape != rows[0][k].shape for k in row) for row in rows):
            return self.collator([self.dataset[index] for index in indices])
        return {key: torch.cat([row[key] for row in rows]) for key in rows[0]}


def _video_inputs(sherlock, batch: dict, device) -> dict:
    accepted = set(inspect.signature(sherlock.get_video_features).parameters) - {"vision_feature_layer", "kwargs"}
    return {name: value.to(device) for name, value in batch.items() if name in accepted}


def _frame_logits(sherlock, heads, batch, device, bf16, tokens_per_frame) -> tuple[dict, object]:
    """The heads' per-frame logits of a collated batch, and the GSM's output (with its gate weights)."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bool(bf16)):
        output = sherlock.get_video_features(**_video_inputs(sherlock, batch, device))
    mixture = output.pooler_output
    count, num_frames = batch["frame_subject"].shape
    return heads(mixture.reshape(count, num_frames, tokens_per_frame, mixture.shape[-1])), output


@torch.no_grad()
def evaluate_frames(sherlock, heads, collator, dataset, *, batch_size, device, bf16, cache=None) -> dict:
    """Frame accuracies of the GSM + heads on `dataset` (e.g. held-out rows): `event_frame_accuracy` (all event-type
    bits right, frames inside events), `frame_accuracy` (the same over all frames), `subject_accuracy`,
    `object_accuracy` (frames inside events), `scene_accuracy` (frames of a known scene) and `event_type_recall`
    (per event type under way in some frame: the share of its frames where its bit is predicted). `cache`: the
    `FrameInputCache` of `dataset` to read the inputs from (default: collate them)."""
    was_training = sherlock.training, heads.training
    sherlock.eval()
    heads.eval()
    hits = dict.fromkeys(("correct", "frames", "event_correct", "event_frames", "subject", "object"), 0)
    scene_hits = scene_frames = 0
    type_frames = torch.zeros(len(EVENT_TYPES), dtype=torch.long)  # frames where each type is under way
    type_found = torch.zeros(len(EVENT_TYPES), dtype=torch.long)  # ... and its bit is predicted
    inputs = cache if cache is not None else FrameInputCache(collator, dataset, budget_bytes=0)
    for first in range(0, len(dataset), batch_size):
        batch = inputs.batch(range(first, min(first + batch_size, len(dataset))))
        logits, _ = _frame_logits(sherlock, heads, batch, device, bf16, collator.processor.tokens_per_frame)
        types = batch["frame_event_types"].to(device)
        for key, value in event_type_hits(logits["event_types"], types).items():
            hits[key] += value
        in_event = (types > 0.5).any(dim=-1)
        under_way = (types > 0.5).flatten(0, 1)
        type_frames += under_way.sum(0).cpu()
        type_found += ((logits["event_types"] > 0).flatten(0, 1) & under_way).sum(0).cpu()
        for name in ("subject", "object"):
            right = logits[name].argmax(-1) == batch[f"frame_{name}"].to(device)
            hits[name] += int((right & in_event).sum())
        scene = batch["frame_scene"].to(device)
        known = scene != IGNORE_INDEX
        scene_hits += int(((logits["scene"].argmax(-1) == scene) & known).sum())
        scene_frames += int(known.sum())
    sherlock.train(was_training[0])
    heads.train(was_training[1])
    inside = hits["event_frames"]
    return {
        "event_frame_accuracy": round(hits["event_correct"] / inside, 4) if inside else None,
        "frame_accuracy": round(hits["correct"] / max(hits["frames"], 1), 4),
        "subject_accuracy": round(hits["subject"] / inside, 4) if inside else None,
        "object_accuracy": round(hits["object"] / inside, 4) if inside else None,
        "scene_accuracy": round(scene_hits / scene_frames, 4) if scene_frames else None,
        "event_type_recall": {
            name: round(int(found) / int(frames), 4)
            for name, found, frames in zip(EVENT_TYPES, type_found, type_frames)
            if frames
        },
    }


def run_frame_stage(model, collator, dataset, *, epochs, learning_rate, weight_decay, batch_size, seed, device, bf16,
                    progress=False, eval_dataset=None, temporal_kernel=0, lr_scheduler_type="constant",
                    input_cache_bytes=INPUT_CACHE_BYTES) -> dict:  # fmt: skip
    """Train the model's trainable GSM parameters and fresh `FrameHeads` on the frame targets (module docstring);
    returns the stage's record (settings and per-epoch mean losses, frame accuracies and gate weights).

    With `eval_dataset` (rows like `dataset`'s) every epoch also reports `evaluate_frames` on it (`held_out`).
    `temporal_kernel` > 0 gives the heads a 1-D convolution over that many neighbouring frames (`FrameHeads`).
    `lr_scheduler_type`: a transformers schedule name (`"constant"`, `"cosine"`, `"linear"`, ...) over the stage's
    steps, with 5 % warm-up when it is not constant. The inputs of up to `input_cache_bytes` of rows (train and
    held-out rows each) are collated once and kept in memory (`FrameInputCache`).
    """
    sherlock = sherlock_model(model)
    config = sherlock.config
    gsm = gsm_parameters(model)
    if not gsm:
        raise ValueError("--frame-supervision-epochs: no GSM parameter trains (video tower, projector, experts, gate)")
    model.to(device)
    model.train()
    heads = FrameHeads(config.text_config.hidden_size, temporal_kernel=temporal_kernel).to(device)
    optimizer = torch.optim.AdamW([*gsm.values(), *heads.parameters()], lr=learning_rate, weight_decay=weight_decay)
    total_steps = epochs * -(-len(dataset) // batch_size)
    warmup = 0 if lr_scheduler_type == "constant" else int(0.05 * total_steps)
    scheduler = get_scheduler(lr_scheduler_type, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)
    alpha = float(config.gsb_loss_coef)
    from modeling_sherlock import gsb_loss

    train_inputs = FrameInputCache(collator, dataset, budget_bytes=input_cache_bytes)
    eval_inputs = None if eval_dataset is None else FrameInputCache(collator, eval_dataset, input_cache_bytes)
    generator = torch.Generator().manual_seed(seed)
    tokens_per_frame = collator.processor.tokens_per_frame
    epochs_record, started = [], time.time()
    for epoch in range(epochs):
        order = torch.randperm(len(dataset), generator=generator).tolist()
        totals, steps, epoch_start = dict.fromkeys((*HEAD_NAMES, "gsb", "loss"), 0.0), 0, time.time()
        hits = dict.fromkeys(("correct", "frames", "event_correct", "event_frames"), 0)
        gate_sums = torch.zeros(len(config.experts))
        for first in range(0, len(order), batch_size):
            batch = train_inputs.batch(order[first : first + batch_size])
            logits, output = _frame_logits(sherlock, heads, batch, device, bf16, tokens_per_frame)
            losses = frame_loss(logits, {key: batch[key] for key in TARGET_KEYS})
            gsb = gsb_loss(output.gate_weights.float(), list(config.experts), config.gsb_variant)
            loss = losses["loss"] + alpha * gsb
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            steps += 1
            for name in HEAD_NAMES:
                totals[name] += losses[name].item()
            totals["gsb"] += gsb.item()
            totals["loss"] += loss.item()
            gate_sums += output.gate_weights.detach().float().mean(dim=(0, 1)).cpu()
            for key, value in event_type_hits(logits["event_types"], batch["frame_event_types"].to(device)).items():
                hits[key] += value
        summary = {name: round(value / max(steps, 1), 4) for name, value in totals.items()}
        summary.update(
            epoch=epoch + 1,
            steps=steps,
            frame_accuracy=round(hits["correct"] / max(hits["frames"], 1), 4),
            # inside events only: most frames have no event, so the accuracy over all frames starts at that share
            event_frame_accuracy=round(hits["event_correct"] / hits["event_frames"], 4)
            if hits["event_frames"]
            else None,
        )
        # the mean gate weight of each expert over the epoch's tokens (mean of the micro-batches' means)
        summary["gate_weights"] = {
            name: round(float(w) / max(steps, 1), 4) for name, w in zip(config.experts, gate_sums)
        }
        summary["learning_rate"] = scheduler.get_last_lr()[0]  # at the end of the epoch
        summary["seconds"] = round(time.time() - epoch_start, 3)
        if eval_dataset is not None:
            summary["held_out"] = evaluate_frames(
                sherlock,
                heads,
                collator,
                eval_dataset,
                batch_size=batch_size,
                device=device,
                bf16=bf16,
                cache=eval_inputs,
            )
        epochs_record.append(summary)
        message = f"frame supervision epoch {epoch + 1}/{epochs}: loss {summary['loss']:.3f}, " + ", ".join(
            f"{name} {summary[name]:.3f}" for name in (*HEAD_NAMES, "gsb")
        )
        inside = summary["event_frame_accuracy"]
        message += f", frame event-type accuracy {summary['frame_accuracy']:.2f}"
        message += f" (inside events {inside:.2f})" if inside is not None else ""
        message += ", gate " + ", ".join(f"{name} {weight:.2f}" for name, weight in summary["gate_weights"].items())
        message += f", {summary['seconds']:.1f} s"
        if "held_out" in summary:
            message += ", held out: " + ", ".join(f"{k} {v}" for k, v in summary["held_out"].items())
        if progress:
            print(message, flush=True)
        logger.info("%s", message)
    cached_rows = len(train_inputs.rows)
    del heads, optimizer, train_inputs, eval_inputs  # the heads are never part of the model
    return {
        "epochs": epochs,
        "learning_rate": learning_rate,
        "gsb_loss_coef": alpha,
        "temporal_kernel": temporal_kernel,
        "lr_scheduler_type": lr_scheduler_type,
        "input_cache_rows": cached_rows,
        "trained_parameters": sum(param.numel() for param in gsm.values()),
        "per_epoch": epochs_record,
        "seconds": round(time.time() - started, 3),
    }


def gsm_after_frames(model, mode: str, learning_rate: float, weight_decay: float):
    """Set up the GSM for the language-model training after the frame stage; returns the trainer's `optimizers`."""
    if mode not in GSM_AFTER_FRAMES:
        raise ValueError(f"--gsm-after-frames {mode!r}: choose from {', '.join(GSM_AFTER_FRAMES)}")
    gsm = gsm_parameters(model)
    if mode == "frozen":
        for param in gsm.values():
            param.requires_grad = False
        return None, None
    if mode == "joint":
        return None, None
    others = [param for name, param in model.named_parameters() if param.requires_grad and name not in gsm]
    groups = [
        {"params": others, "lr": learning_rate},
        {"params": list(gsm.values()), "lr": learning_rate * LOWER_LR_SCALE},
    ]
    return torch.optim.AdamW(
        [group for group in groups if group["params"]], lr=learning_rate, weight_decay=weight_decay
    ), None


def event_type_hits(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, int]:
    """Counts of exact event-type predictions (every type's logit > 0 iff the type is under way) of `(batch, frames,
    types)` logits against multi-hot targets: over all frames (`correct` of `frames`) and over the frames where an
    event is under way (`event_correct` of `event_frames`)."""
    exact = ((logits.detach() > 0) == (targets > 0.5)).all(dim=-1)
    in_event = (targets > 0.5).any(dim=-1)
    return {
        "correct": int(exact.sum()),
        "frames": exact.numel(),
        "event_correct": int((exact & in_event).sum()),
        "event_frames": int(in_event.sum()),
    }


def frame_supervision(args, model, processor, dataset, video_root, sft_args) -> tuple[dict, tuple]:
    """`sherlock train`'s frame stage: `run_frame_stage` on the training rows, then `gsm_after_frames`; returns the
    record of `sherlock_training.json` and the trainer's `optimizers`."""
    collator = FrameSupervisionCollator(processor, video_root=video_root, max_length=args.max_length)
    learning_rate = args.frame_learning_rate or args.learning_rate
    record = run_frame_stage(
        model,
        collator,
        dataset,
        epochs=args.frame_supervision_epochs,
        learning_rate=learning_rate,
        weight_decay=args.weight_decay,
        batch_size=args.per_device_train_batch_size,
        seed=args.seed,
        device=sft_args.device,
        bf16=sft_args.bf16 and sft_args.device.type == "cuda",
        progress=sft_args.process_index == 0,
        temporal_kernel=args.frame_temporal_kernel,
        lr_scheduler_type=args.frame_lr_scheduler_type,
    )
    optimizers = gsm_after_frames(model, args.gsm_after_frames, args.learning_rate, args.weight_decay)
    record["gsm_after_frames"] = args.gsm_after_frames
    if args.gsm_after_frames == "lower_lr":
        record["gsm_learning_rate"] = args.learning_rate * LOWER_LR_SCALE
    return record, optimizers


__all__ = [
    "evaluate_frames",
    "FrameInputCache",
    "event_type_hits",
    "GSM_AFTER_FRAMES",
    "FrameSupervisionCollator",
    "frame_supervision",
    "gsm_after_frames",
    "gsm_parameters",
    "is_gsm_parameter",
    "run_frame_stage",
]
