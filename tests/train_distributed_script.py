"""Train a tiny random Sherlock with `SherlockTrainer` on CPU and write the final weights: the one script behind the
distributed and resume tests (`tests/test_train_distributed.py`).

The same script runs

- under `torchrun --nproc_per_node 2` or `accelerate launch --config_file configs/accelerate/multi_gpu_ddp.yaml
  --num_processes 2` (gloo, CPU): every rank writes its weights, to be compared with each other and with a
  one-process run of the same global batch;
- as one plain process, or through `main(argv)` inside the tests' process: the references;
- with `--kill-after-step N` (and `--save-steps 1`): the process ends itself with `os._exit(KILLED_EXIT_CODE)` as soon as
  the step-N checkpoint is written, like a job killed mid-run (`--stop-after-step N` stops there cleanly instead);
  `--resume <checkpoint>|latest` then carries it on, with `--perturb-trainable` so that only the checkpoint can bring
  the trained parameters back.

Outputs in `--output`: `initial-rank<R>.safetensors` and `weights-rank<R>.safetensors` (the model's state dict before
and after training) and `run-rank<R>.json` (the world size, the first and last optimizer step of this run, the sample
ids of each micro-batch in the order this rank trained on them, and the logged `loss`, `lm_loss` and `gsb_loss`).
Checkpoints go to `--output/checkpoints`.

The model is `sherlock_tester.build_model()`, whole or with LoRA (`--lora`; `sherlock.training.lora.add_lora`), with
no dropout unless `--lora-dropout` (so every rank's forward is deterministic), and the data `train_helpers._dataset()`
(`--samples 4`) or two of them (`--samples 8`): different samples whose answers are 2 to 5 tokens long, shuffled by
the trainer's seeded sampler.
"""

import argparse
import json
import os
import sys
from pathlib import Path


TESTS = Path(__file__).resolve().parent
KILLED_EXIT_CODE = 37


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--alpha", type=float, default=0.4, help="the GSB coefficient α (config.gsb_loss_coef)")
    parser.add_argument("--batch-size", type=int, default=1, help="per device")
    parser.add_argument("--accumulation", type=int, default=1, help="gradient accumulation steps")
    parser.add_argument("--max-steps", type=int, default=2)
    parser.add_argument("--optim", default="sgd", help="a TrainingArguments optim: sgd, adamw_torch, ...")
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--scheduler", default="constant", help="a TrainingArguments lr_scheduler_type")
    parser.add_argument("--warmup-steps", type=int, default=0)
    parser.add_argument("--max-grad-norm", type=float, default=0.0, help="0: no clipping")
    parser.add_argument("--save-steps", type=int, default=0, help="a checkpoint every N steps; 0: none")
    parser.add_argument("--kill-after-step", type=int, default=0, help="os._exit once the step-N checkpoint is saved")
    parser.add_argument(
        "--stop-after-step", type=int, default=0, help="stop (cleanly) once the step-N checkpoint is saved"
    )
    parser.add_argument("--resume", default=None, help="a checkpoint folder to resume from, or `latest`")
    parser.add_argument(
        "--samples", type=int, default=4, choices=(4, 8), help="train_helpers._dataset() once or twice"
    )
    parser.add_argument("--lora", action="store_true", help="sherlock.training.lora.add_lora (the paper's setup)")
    parser.add_argument("--lora-dropout", type=float, default=0.0)
    parser.add_argument(
        "--perturb-trainable",
        action="store_true",
        help="add noise to every trainable parameter before training: a resumed run must get them all back",
    )
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    for path in (TESTS, TESTS.parent):  # sherlock_tester / train_helpers, and the repository's packages
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))

    import torch
    from datasets import concatenate_datasets
    from safetensors.torch import save_file
    from transformers import TrainerCallback

    from sherlock.tiny_models import train_tokenizer
    from sherlock.training.trainer import SherlockTrainer, sherlock_sft_config

    from sherlock_tester import build_model
    from train_helpers import _dataset, collate

    class KillAfterSave(TrainerCallback):
        """Ends the process, without any clean-up, right after the step-`step` checkpoint is written (`kill`), or
        stops training there the ordinary way (the same checkpoint; for a run inside another process)."""

        def __init__(self, step: int, kill: bool = True):
            self.step, self.kill = step, kill

        def on_save(self, args, state, control, **kwargs):
            if state.global_step >= self.step:
                if not self.kill:
                    control.should_training_stop = True
                    return control
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(KILLED_EXIT_CODE)

    class StartStep(TrainerCallback):
        """The optimizer step training starts from (that of the checkpoint when resuming)."""

        step = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.step = state.global_step

    seen: list[list[int]] = []

    def recording_collate(batch):
        seen.append([int(row["uid"]) for row in batch])
        return collate([{name: value for name, value in row.items() if name != "uid"} for row in batch])

    # `sample` indexes train_helpers.EVENT_TYPES (0-3); `uid` tells the 4 or 8 samples apart
    dataset = _dataset(seed=0) if args.samples == 4 else concatenate_datasets([_dataset(seed=0), _dataset(seed=1)])
    dataset = dataset.add_column("uid", list(range(args.samples))).with_format("torch")

    model = build_model().train()
    model.config.gsb_loss_coef = args.alpha
    if args.lora:
        from sherlock.training.lora import add_lora

        model = add_lora(model, dropout=args.lora_dropout)
    if args.perturb_trainable:
        noise = torch.Generator().manual_seed(1234)
        with torch.no_grad():
            for param in model.parameters():
                if param.requires_grad:
                    param.add_(torch.randn(param.shape, generator=noise, dtype=param.dtype))
    config = sherlock_sft_config(
        output_dir=str(args.output / "checkpoints"),
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.accumulation,
        max_steps=args.max_steps,
        optim=args.optim,
        learning_rate=args.learning_rate,
        lr_scheduler_type=args.scheduler,
        warmup_steps=args.warmup_steps,
        max_grad_norm=args.max_grad_norm,
        save_strategy="steps" if args.save_steps else "no",
        save_steps=args.save_steps or 500,
        logging_steps=1,
        use_cpu=True,
        # gloo across CPU processes (accelerate would take MPI where torch has it); on one process no backend at all:
        # accelerate 1.15 would take `ddp_backend="gloo"` there as distributed and fail with no process group
        ddp_backend="gloo" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    rank = int(os.environ.get("RANK", "0"))
    args.output.mkdir(parents=True, exist_ok=True)
    save_file(_weights(model), str(args.output / f"initial-rank{rank}.safetensors"))
    start = StartStep()
    trainer = SherlockTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        data_collator=recording_collate,
        processing_class=train_tokenizer(),
        callbacks=[start]
        + ([KillAfterSave(args.kill_after_step)] if args.kill_after_step else [])
        + ([KillAfterSave(args.stop_after_step, kill=False)] if args.stop_after_step else []),
    )
    trainer.train(resume_from_checkpoint=True if args.resume == "latest" else args.resume)

    assert rank == trainer.args.process_index
    save_file(_weights(model), str(args.output / f"weights-rank{rank}.safetensors"))
    # the micro-batches of this run's steps (the dataloader may have fetched one batch more)
    micro_batches = (trainer.state.global_step - start.step) * args.accumulation
    logs = [
        {key: log[key] for key in ("step", "loss", "lm_loss", "gsb_loss") if key in log}
        for log in trainer.state.log_history
        if "loss" in log
    ]
    record = {
        "world_size": trainer.args.world_size,
        "start_step": start.step,
        "global_step": trainer.state.global_step,
        "micro_batches": seen[:micro_batches],
        "logs": logs,
        "torch_threads": torch.get_num_threads(),
    }
    (args.output / f"run-rank{rank}.json").write_text(json.dumps(record, indent=1))


def _weights(model) -> dict:
    return {name: value.detach().clone().contiguous() for name, value in model.state_dict().items()}


if __name__ == "__main__":
    main()
