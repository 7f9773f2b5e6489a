"""The heads of the frame-supervision stage (issue 21): small classifiers over each frame's GSM output, trained only
during that stage and never part of the model (they are not a submodule of it, so no export, config or checkpoint of
the model holds them).

    heads = FrameHeads(hidden_size=model.config.text_config.hidden_size)
    output = model.model.get_video_features(pixel_values_videos=..., pose_keypoints=..., ...)
    frames = output.pooler_output.reshape(batch, num_frames, tokens_per_frame, hidden)  # the GSM mixture
    logits = heads(frames)                                  # per-frame mean over the frame's tokens, then the heads
    loss = frame_loss(logits, targets)                      # `frame_targets.as_tensors(...)`

Each frame's tokens are averaged (`(batch, frames, hidden)`), then a shared layer (LayerNorm, Linear, GELU) feeds four
linear heads: event types (multi-label, binary cross-entropy per type; all zeros is "no event"), subject and object
(cross-entropy over `ENTITIES` plus `NO_EVENT`) and scene (cross-entropy over `SCENES`, unknown scenes ignored).
"""

import torch
from torch import nn

from processing.vocabulary_sherlock import EVENT_TYPES, SCENES

from .frame_targets import IGNORE_INDEX, NUM_ENTITY_CLASSES


HEAD_NAMES = ("event_types", "subject", "object", "scene")


class FrameHeads(nn.Module):
    """Per-frame classifiers over the GSM mixture (module docstring)."""

    def __init__(self, hidden_size: int, inner_size: int = 256, temporal_kernel: int = 0):
        super().__init__()
        self.shared = nn.Sequential(nn.LayerNorm(hidden_size), nn.Linear(hidden_size, inner_size), nn.GELU())
        if temporal_kernel and temporal_kernel % 2 == 0:
            raise ValueError(f"FrameHeads: temporal_kernel must be odd (centred on the frame), got {temporal_kernel}")
        # optional: each frame also sees its neighbours (a residual 1-D convolution over the frames)
        self.temporal = (
            nn.Conv1d(inner_size, inner_size, temporal_kernel, padding=temporal_kernel // 2)
            if temporal_kernel
            else None
        )
        sizes = {"event_types": len(EVENT_TYPES), "subject": NUM_ENTITY_CLASSES, "object": NUM_ENTITY_CLASSES}
        sizes["scene"] = len(SCENES)
        self.heads = nn.ModuleDict({name: nn.Linear(inner_size, size) for name, size in sizes.items()})

    def forward(self, frame_tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """`frame_tokens` `(batch, frames, tokens_per_frame, hidden)` -> logits `(batch, frames, classes)` per head."""
        if frame_tokens.dim() != 4:
            raise ValueError(f"FrameHeads needs (batch, frames, tokens, hidden), got {tuple(frame_tokens.shape)}")
        pooled = self.shared(frame_tokens.float().mean(dim=2))
        if self.temporal is not None:
            pooled = pooled + nn.functional.gelu(self.temporal(pooled.transpose(1, 2)).transpose(1, 2))
        return {name: head(pooled) for name, head in self.heads.items()}


def frame_loss(logits: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The losses of each head and their sum (`"loss"`); `targets` as `frame_targets.as_tensors` gives them."""
    functional = nn.functional
    losses = {
        "event_types": functional.binary_cross_entropy_with_logits(
            logits["event_types"], targets["frame_event_types"].to(logits["event_types"].device)
        )
    }
    for name in ("subject", "object", "scene"):
        target = targets[f"frame_{name}"].to(logits[name].device)
        if (target != IGNORE_INDEX).any():
            losses[name] = functional.cross_entropy(logits[name].flatten(0, 1), target.flatten(), ignore_index=-100)
        else:  # no known target in the batch: nothing to learn (cross-entropy would be NaN)
            losses[name] = logits[name].sum() * 0.0
    losses["loss"] = sum(losses[name] for name in HEAD_NAMES)
    return losses


__all__ = ["HEAD_NAMES", "FrameHeads", "frame_loss"]
