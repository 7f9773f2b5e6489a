# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The Gated Spatial Balancing (GSB) loss of Sherlock (arXiv 2502.18863, Eq. 7), and its share in a larger batch.

`gsb_loss` is `f(ḡ) = Σ_i w_i · (−log ḡ_i)`, with `ḡ` the gate weights averaged over the video tokens of a batch and
`w` the expert weights of the variant (`gsb_expert_weights`). Because of the log, the GSB of a batch is not the mean
of the GSB of its parts: one micro-batch of 2 videos gives another value and gradient than 2 micro-batches of 1.

`gsb_batch_share` makes the GSB of a whole batch (every micro-batch of a gradient-accumulation step, on every process)
computable one micro-batch at a time: given the batch's mean gate weights `ḡ` (known beforehand, without gradient),
each micro-batch contributes its exact share of `f(ḡ)` and of its gradient, `∂f/∂g_t = f'(ḡ) / T` for each of the
batch's `T` tokens. `SherlockTrainer` obtains `ḡ` in a no-grad pre-pass of the video side of the model.

This file ships to the Hub as remote code: it may import only the standard library, torch, numpy, transformers and
single-dot siblings.
"""

import torch


GSB_VARIANT_NAMES = ("paper", "uniform")


def gsb_expert_weights(experts: list[str], variant: str = "paper") -> list[float]:
    """The weight `w_i` of each expert's `−log ḡ_i` in the GSB loss.

    `"paper"` (Eq. 7 as printed): `1 / (number of local experts)` for each local expert and 1 for `"global"` (without
    a global expert: the mean over the locals). `"uniform"`: `1 / E` for each of the `E` experts. One expert: 0 (the
    gate has nothing to balance).
    """
    if variant not in GSB_VARIANT_NAMES:
        raise ValueError(f"Unknown GSB variant {variant!r}; choose from {list(GSB_VARIANT_NAMES)}.")
    if len(experts) == 1:
        return [0.0]
    if variant == "uniform" or "global" not in experts:
        return [1.0 / len(experts)] * len(experts)
    locals_count = len(experts) - 1
    return [1.0 if name == "global" else 1.0 / locals_count for name in experts]


def _weights_tensor(experts, variant, num_experts: int, device) -> torch.Tensor:
    if num_experts != len(experts):
        raise ValueError(
            f"gate_weights has {num_experts} experts in its last dimension but `experts` names {len(experts)}."
        )
    return torch.tensor(gsb_expert_weights(list(experts), variant), dtype=torch.float32, device=device)


def _safe(mean: torch.Tensor) -> torch.Tensor:
    return mean.clamp_min(torch.finfo(torch.float32).tiny)


def gsb_loss(
    gate_weights: torch.Tensor,
    experts: list[str],
    variant: str = "paper",
    token_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Gated Spatial Balancing loss (Sherlock, arXiv 2502.18863, Eq. 7).

    With `ḡ_i` the gate weight of expert `i` averaged over the non-padding video tokens of the batch:

    - `variant="paper"` (Eq. 7 as printed): `L_gate = mean_{i ∈ local}(−log ḡ_i) − log ḡ_global`. Under `Σ_i g_i = 1`
      with three local experts its minimum is at `ḡ_global = 1/2` and `ḡ_local = 1/6` each (not at equal weights;
      the paper's Figure 6 shows ≈ 25 % each). Without a global expert it reduces to the mean over the locals.
    - `variant="uniform"`: `L_gate = mean_i(−log ḡ_i)` over all experts, minimised at equal weights `1/E`.

    With a single expert the loss is 0 (the gate has nothing to balance).

    Args:
        gate_weights (`torch.Tensor` of shape `(..., num_experts)`):
            Per-token gate weights (positive, summing to 1 over the last dimension), e.g. `(batch, video_tokens, E)`.
        experts (`list[str]`):
            The expert names in the order of the last dimension; `"global"` marks the global expert.
        variant (`str`, *optional*, defaults to `"paper"`):
            `"paper"` or `"uniform"`, see above.
        token_mask (`torch.Tensor` of shape `gate_weights.shape[:-1]`, *optional*):
            `True` for tokens that count in the average (all tokens when `None`).

    Returns:
        `torch.Tensor`: the scalar loss, in float32.
    """
    num_experts = gate_weights.shape[-1]
    expert_weights = _weights_tensor(experts, variant, num_experts, gate_weights.device)
    weights = gate_weights.float().reshape(-1, num_experts)
    if token_mask is not None:
        if token_mask.shape != gate_weights.shape[:-1]:
            raise ValueError(
                f"token_mask has shape {tuple(token_mask.shape)} but gate_weights has {tuple(gate_weights.shape[:-1])} tokens."
            )
        weights = weights[token_mask.reshape(-1).bool()]
    if num_experts == 1:
        return weights.sum() * 0.0
    if weights.shape[0] == 0:
        raise ValueError("gsb_loss got 0 tokens to average the gate weights over.")
    return (expert_weights * -torch.log(_safe(weights.mean(dim=0)))).sum()


def gsb_batch_share(
    gate_weights: torch.Tensor,
    batch_mean: torch.Tensor,
    batch_tokens: int | torch.Tensor,
    experts: list[str],
    variant: str = "paper",
) -> torch.Tensor:
    r"""This micro-batch's share of the GSB loss of a larger batch it belongs to.

    With `ḡ = batch_mean` the batch's mean gate weights over its `T = batch_tokens` video tokens, `S` the sum of this
    micro-batch's gate weights over its `n` tokens and `f = gsb_loss` of the batch:

        share = f(ḡ) · n / T + Σ_i (∂f/∂ḡ_i) · (S_i − n · ḡ_i) / T,   with ∂f/∂ḡ_i = −w_i / ḡ_i

    Summed over the micro-batches that make up the batch, the value is `f(ḡ)` (the second term sums to 0 when `ḡ`
    is their mean) and the gradient is exactly that of `f` over the whole batch: only `S` carries a gradient, and
    `∂f/∂g_t = f'(ḡ) / T` for every token `t`. `batch_mean` and `batch_tokens` carry no gradient.

    Args:
        gate_weights (`torch.Tensor` of shape `(..., num_experts)`): this micro-batch's per-token gate weights.
        batch_mean (`torch.Tensor` of shape `(num_experts,)`): the whole batch's mean gate weights.
        batch_tokens (`int` or `torch.Tensor`): the whole batch's number of video tokens.
        experts, variant: as in `gsb_loss`.

    Returns:
        `torch.Tensor`: the scalar share, in float32.
    """
    num_experts = gate_weights.shape[-1]
    expert_weights = _weights_tensor(experts, variant, num_experts, gate_weights.device)
    weights = gate_weights.float().reshape(-1, num_experts)
    mean = batch_mean.detach().float().to(weights.device)
    if mean.shape != (num_experts,):
        raise ValueError(f"batch_mean has shape {tuple(mean.shape)}; expected ({num_experts},).")
    tokens = weights.shape[0]
    value = (expert_weights * -torch.log(_safe(mean))).sum()
    slope = -expert_weights / _safe(mean)
    return (value * tokens + (slope * (weights.sum(dim=0) - tokens * mean)).sum()) / batch_tokens


__all__ = ["GSB_VARIANT_NAMES", "gsb_batch_share", "gsb_expert_weights", "gsb_loss"]
