"""The Gated Spatial Balancing loss (Eq. 7): values, zero cases and the minima of both variants."""

import math

import pytest
import torch

from modeling_sherlock import EXPERT_NAMES, gsb_loss


EXPERTS = list(EXPERT_NAMES)  # three locals, then global


def minimise_over_gate_logits(experts, variant, steps=3000):
    """Optimise free gate logits (per token) directly and return the mean gate weights at the optimum."""
    torch.manual_seed(0)
    logits = torch.randn(2, 10, len(experts), requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = gsb_loss(logits.softmax(-1), experts, variant)
        loss.backward()
        optimizer.step()
    return logits.softmax(-1).mean(dim=(0, 1)).detach()


def test_paper_variant_is_minimised_at_global_half_and_locals_one_sixth():
    weights = minimise_over_gate_logits(EXPERTS, "paper")
    torch.testing.assert_close(weights, torch.tensor([1 / 6, 1 / 6, 1 / 6, 1 / 2]), atol=2e-3, rtol=0)
    # the minimum value: -log(1/6) - log(1/2)
    expected = -math.log(1 / 6) - math.log(1 / 2)
    assert gsb_loss(torch.tensor([[1 / 6, 1 / 6, 1 / 6, 1 / 2]]), EXPERTS, "paper").item() == pytest.approx(expected)


def test_paper_variant_minimum_follows_the_global_expert_position():
    experts = ["global", "action", "background"]
    weights = minimise_over_gate_logits(experts, "paper")
    torch.testing.assert_close(weights, torch.tensor([1 / 2, 1 / 4, 1 / 4]), atol=2e-3, rtol=0)


def test_uniform_variant_is_minimised_at_equal_weights():
    weights = minimise_over_gate_logits(EXPERTS, "uniform")
    torch.testing.assert_close(weights, torch.full((4,), 0.25), atol=2e-3, rtol=0)
    assert gsb_loss(torch.full((1, 4), 0.25), EXPERTS, "uniform").item() == pytest.approx(math.log(4))


def test_average_is_over_tokens_before_the_log():
    # two tokens with opposite one-hot-ish gates average to uniform: a per-token loss would be large
    weights = torch.tensor([[[0.97, 0.01, 0.01, 0.01], [0.01, 0.97, 0.01, 0.01]]])
    mean = weights.mean(dim=(0, 1))
    expected = -torch.log(mean).mean()
    torch.testing.assert_close(gsb_loss(weights, EXPERTS, "uniform"), expected)


def test_token_mask_excludes_padding_tokens():
    weights = torch.tensor([[[0.25, 0.25, 0.25, 0.25], [0.97, 0.01, 0.01, 0.01]]])
    mask = torch.tensor([[True, False]])
    assert gsb_loss(weights, EXPERTS, "uniform", token_mask=mask).item() == pytest.approx(math.log(4))
    assert gsb_loss(weights, EXPERTS, "uniform").item() > math.log(4)


def test_single_expert_loss_is_zero_and_collapse_is_penalised():
    assert gsb_loss(torch.ones(2, 5, 1), ["global"], "paper").item() == 0.0
    collapsed = torch.tensor([[0.997, 0.001, 0.001, 0.001]])
    balanced = torch.tensor([[1 / 6, 1 / 6, 1 / 6, 1 / 2]])
    assert gsb_loss(collapsed, EXPERTS).item() > gsb_loss(balanced, EXPERTS).item()
    assert torch.isfinite(gsb_loss(torch.tensor([[1.0, 0.0, 0.0, 0.0]]), EXPERTS))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="4 experts .* names 3"):
        gsb_loss(torch.full((1, 4), 0.25), EXPERTS[:3])
    with pytest.raises(ValueError, match="'median'"):
        gsb_loss(torch.full((1, 4), 0.25), EXPERTS, "median")
