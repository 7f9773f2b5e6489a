"""`GSBCallback`: the α schedule of the GSB loss and the gate-weight table per event type (the paper's Figure 6)."""

import math
from collections.abc import Callable
from pathlib import Path

from transformers import TrainerCallback

from ..evaluation.events import EvalEvent


def constant_alpha(alpha: float) -> Callable[[int, int], float]:
    """α fixed at `alpha` (the paper: 0.4)."""
    return lambda step, max_steps: alpha


def linear_warmup_alpha(alpha: float, warmup_steps: int) -> Callable[[int, int], float]:
    """α rising linearly from 0 to `alpha` over the first `warmup_steps` optimizer steps, then fixed."""
    if warmup_steps < 1:
        raise ValueError(f"warmup_steps must be >= 1, got {warmup_steps}.")
    return lambda step, max_steps: alpha * min(1.0, step / warmup_steps)


def _sherlock(model):
    """The `SherlockForConditionalGeneration` under DDP / PEFT wrappers."""
    model = getattr(model, "module", model)
    return model.get_base_model() if hasattr(model, "get_base_model") else model


class GSBCallback(TrainerCallback):
    """Schedules the GSB coefficient α and collects each training sample's mean gate weight per expert.

    - `alpha_schedule(step, max_steps) -> α` (optional): set as `config.gsb_loss_coef` before every optimizer step
      (`SherlockTrainer` reads it there, and logs it as `gsb_alpha`); `None` keeps the model's α.
    - When the training samples carry their gold event types (`event_types` in the collator's output), the mean gate
      weight per expert and event type is written at the end of training to `<output_dir>/gate_weights.csv` and
      `gate_weights.png` (the same table as the evaluation report's: `evaluation.report.gate_weight_table`). With
      several processes every process's samples are gathered to the main process first (`gather_object` to rank
      0), so the table covers every sample trained on (a sample the distributed sampler repeats to even out the
      processes counts as often as it was trained on). The samples are reset when training begins: the table of
      a second `train()` covers that run alone.

    `SherlockTrainer` adds one automatically and logs `lm_loss`, `gsb_loss`, `gsb_alpha` and `gate/<expert>` every
    logging step.
    """

    def __init__(self, alpha_schedule: Callable[[int, int], float] | None = None, write_table: bool = True):
        self.alpha_schedule = alpha_schedule
        self.write_table = write_table
        self.experts: list[str] | None = None
        self.samples: list[tuple[tuple[str, ...], tuple[float, ...]]] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.samples = []  # a second `train()` counts its own samples only

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if self.alpha_schedule is not None and model is not None:
            alpha = float(self.alpha_schedule(state.global_step, state.max_steps))
            if not (math.isfinite(alpha) and alpha >= 0):
                raise ValueError(
                    f"The α schedule gave {alpha} at step {state.global_step}; α must be finite and >= 0."
                )
            _sherlock(model).config.gsb_loss_coef = alpha

    def add_gate_weights(self, experts: list[str], per_sample, event_types) -> None:
        """Record `per_sample` gate weights `(batch, experts)` with each sample's gold event types (skipped when the
        batch has none)."""
        if event_types is None:
            return
        self.experts = experts
        for types, weights in zip(event_types, per_sample.tolist()):
            self.samples.append((tuple(types), tuple(weights)))

    def gate_table(self):
        """`(experts, rows)` of `evaluation.report.gate_weight_table` over the recorded samples, or None."""
        if not self.samples:
            return None
        from ..evaluation.report import gate_weight_table

        gold = {f"{i}": [EvalEvent(event_type=t) for t in types] for i, (types, _) in enumerate(self.samples)}
        weights = {f"{i}": dict(zip(self.experts, values)) for i, (_, values) in enumerate(self.samples)}
        return gate_weight_table(gold, weights)

    def gather_samples(self) -> None:
        """On rank 0, replace the recorded samples by those of every process (in rank order), when
        `torch.distributed` runs several (the other ranks keep their own: only rank 0 writes the table); every
        process must call it (a collective)."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return
        main = dist.get_rank() == 0
        gathered = [None] * dist.get_world_size() if main else None
        dist.gather_object((self.experts, self.samples), gathered, dst=0)
        if main:
            self.experts = next((experts for experts, _ in gathered if experts is not None), self.experts)
            self.samples = [sample for _, samples in gathered for sample in samples]

    def on_train_end(self, args, state, control, **kwargs):
        if not self.write_table:
            return
        self.gather_samples()
        table = self.gate_table() if state.is_world_process_zero else None
        if table is None:
            return
        from ..evaluation.report import write_gate_weight_csv
        from ..evaluation.report_plots import plot_gate_weights

        output = Path(args.output_dir)
        output.mkdir(parents=True, exist_ok=True)
        experts, rows = table
        write_gate_weight_csv(output / "gate_weights.csv", experts, rows)
        plot_gate_weights(output / "gate_weights.png", experts, rows)


__all__ = ["GSBCallback", "constant_alpha", "linear_warmup_alpha"]
