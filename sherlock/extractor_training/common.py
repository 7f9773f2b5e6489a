"""The training loop shared by the three demo extractors: AdamW with warm-up and cosine decay, gradient clipping,
a step or wall-clock bound, one CPU thread by default, and a resumable checkpoint (model, optimizer, step)."""

import math
import os
import time
from collections.abc import Callable

import torch


def set_seed(seed: int) -> None:
    """Seed torch's CPU generator (the models' initialisation and the samplers below)."""
    torch.manual_seed(seed)


def cosine_lr(step: int, steps: int, lr: float, warmup: int) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to 5 % of `lr` at `steps`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min((step - warmup) / max(steps - warmup, 1), 1.0)
    return lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def train_loop(
    model: torch.nn.Module,
    loss_fn: Callable[[int], torch.Tensor],
    steps: int,
    lr: float,
    checkpoint: str | None = None,
    time_limit: float | None = None,
    progress=None,
    clip: float = 1.0,
    weight_decay: float = 1e-4,
    checkpoint_every: int = 100,
) -> dict:
    """Train `model` for `steps` steps on `loss_fn(step)` (which draws its own batch and returns the loss).

    Args:
        checkpoint (`str`, *optional*): a file holding `{model, optimizer, step, losses}`; resumed from when it exists,
            written every `checkpoint_every` steps and at the end.
        time_limit (`float`, *optional*): seconds after which training stops early (the checkpoint is written).
        progress (`tqdm`, *optional*): advanced by one per step, its postfix showing the running loss.

    Returns:
        `dict` with `steps` (done in total), `seconds` (of this call), `losses` (one per step, resumed ones included),
        `stopped_early`.
    """
    if steps < 1 or lr <= 0:
        raise ValueError(f"steps must be >= 1 and lr > 0, got {steps}, {lr}")
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    start, losses = 0, []
    if checkpoint and os.path.isfile(checkpoint):
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, losses = int(state["step"]), list(state["losses"])
        torch.manual_seed(1000 + start)  # the resumed batches differ from an uninterrupted run's, deterministically
        if progress is not None:
            progress.update(min(start, steps))

    def save(step):
        if checkpoint:
            os.makedirs(os.path.dirname(os.path.abspath(checkpoint)), exist_ok=True)
            temporary = f"{checkpoint}.tmp"
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                        "losses": losses}, temporary)  # fmt: skip
            os.replace(temporary, checkpoint)

    began = time.monotonic()
    model.train()
    step, stopped = start, False
    warmup = max(1, min(100, steps // 10))
    for step in range(start, steps):
        if time_limit is not None and time.monotonic() - began > time_limit:
            stopped = True
            break
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, steps, lr, warmup)
        loss = loss_fn(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.4f}", refresh=False)
        if checkpoint and (step + 1) % checkpoint_every == 0:
            save(step + 1)
    else:
        step = steps
    save(step)
    model.eval()
    return {"steps": step, "seconds": time.monotonic() - began, "losses": losses, "stopped_early": stopped}


__all__ = ["cosine_lr", "set_seed", "train_loop"]
