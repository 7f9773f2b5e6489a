"""`EpochSummaryCallback`: one line per training epoch, from the metrics `SherlockTrainer` logs.

    epoch 1/3: loss 1.234, lm_loss 1.100, gsb_loss 0.335, gate action 0.25 object_relation 0.25 background 0.25 global 0.25, 12.3 s

The values are the means over the epoch's optimizer steps of what the trainer logs every `logging_steps`
(`loss`, `lm_loss`, `gsb_loss`, `gate/<expert>`), each logged value weighted by the steps it covers. At the end of
an epoch the callback asks the trainer for one more log (`control.should_log`), so the steps since the last logging
step count too and every epoch has a line even when `logging_steps` is longer than an epoch. Printed on the main
process only (to stderr, through `tqdm.write` so that the progress bar stays intact); the summaries are kept in
`summaries` for the training record.
"""

import sys
import time
from collections.abc import Callable

from transformers import TrainerCallback


SUMMARY_METRICS = ("loss", "lm_loss", "gsb_loss")
GATE_PREFIX = "gate/"


def _write_stderr(line: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)


def format_epoch_summary(summary: dict) -> str:
    """`epoch E/N: loss ..., lm_loss ..., gsb_loss ..., gate <expert> <weight> ..., S s` (the metrics it has)."""
    parts = [f"{name} {summary[name]:.3f}" for name in SUMMARY_METRICS if summary.get(name) is not None]
    gates = summary.get("gate") or {}
    if gates:
        parts.append("gate " + " ".join(f"{name} {value:.2f}" for name, value in gates.items()))
    parts.append(f"{summary['seconds']:.1f} s")
    return f"epoch {summary['epoch']}/{summary['epochs']}: " + ", ".join(parts)


class EpochSummaryCallback(TrainerCallback):
    """Prints `format_epoch_summary` at the end of every epoch (module docstring).

    Args:
        write (`Callable[[str], None]`, *optional*): where the lines go (default: stderr via `tqdm.write`).
    """

    def __init__(self, write: Callable[[str], None] | None = None):
        self.write = write or _write_stderr
        self.summaries: list[dict] = []
        self._sums: dict[str, float] = {}
        self._weights: dict[str, float] = {}
        self._last_logged_step = 0
        self._epoch = 0
        self._started = 0.0
        self._pending = False

    def on_train_begin(self, args, state, control, **kwargs):
        self._last_logged_step = state.global_step

    def on_epoch_begin(self, args, state, control, **kwargs):
        self._epoch += 1
        self._sums, self._weights = {}, {}
        self._started = time.perf_counter()
        self._pending = False

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs:  # the final `train_loss` / runtime log, or an evaluation
            return
        steps = max(1, state.global_step - self._last_logged_step)
        self._last_logged_step = state.global_step
        for name, value in logs.items():
            if (name in SUMMARY_METRICS or name.startswith(GATE_PREFIX)) and isinstance(value, (int, float)):
                self._sums[name] = self._sums.get(name, 0.0) + float(value) * steps
                self._weights[name] = self._weights.get(name, 0.0) + steps
        if self._pending:
            self._summarise(args, state)

    def on_epoch_end(self, args, state, control, **kwargs):
        self._pending = True
        if state.global_step > self._last_logged_step:
            control.should_log = True  # the trainer logs right after this callback: the summary follows that log
        else:
            self._summarise(args, state)
        return control

    def on_train_end(self, args, state, control, **kwargs):
        if self._pending:
            self._summarise(args, state)

    def _summarise(self, args, state) -> None:
        self._pending = False
        means = {name: self._sums[name] / self._weights[name] for name in self._sums if self._weights.get(name)}
        summary = {
            "epoch": self._epoch,
            "epochs": max(int(state.num_train_epochs or 0), self._epoch),
            "step": state.global_step,
            **{name: means.get(name) for name in SUMMARY_METRICS},
            "gate": {name[len(GATE_PREFIX) :]: value for name, value in means.items() if name.startswith(GATE_PREFIX)},
            "seconds": time.perf_counter() - self._started,
        }
        self.summaries.append(summary)
        if state.is_world_process_zero:
            self.write(format_epoch_summary(summary))


__all__ = ["EpochSummaryCallback", "format_epoch_summary"]
