"""The Gated Spatial Balancing loss (Eq. 7): values, zero cases and the minima of both variants."""

import math

import pytest
import torch

from modeling_sherlock import EXPERT_NAMES, gsb_loss
from modeling_sherlock.modeling_sherlock_gsb import gsb_batch_share


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


@pytest.mark.parametrize("variant", ["paper", "uniform"])
def test_the_shares_of_the_micro_batches_add_up_to_the_whole_batch_gsb_and_its_gradient(variant):
    """Micro-batches of 1, 2 and 3 videos of different gate statistics: the sum of their shares is the GSB of the
    6 videos together, in value and gradient; the mean of their own GSBs (what one gets per micro-batch) is not."""
    torch.manual_seed(0)
    logits = torch.randn(6, 10, 4, requires_grad=True)
    whole = gsb_loss(logits.softmax(-1), EXPERTS, variant)
    (expected,) = torch.autograd.grad(whole, logits)
    mean = logits.softmax(-1).detach().mean(dim=(0, 1))
    parts = [logits[:1], logits[1:3], logits[3:]]
    shares = sum(gsb_batch_share(part.softmax(-1), mean, 60, EXPERTS, variant) for part in parts)
    (gradient,) = torch.autograd.grad(shares, logits)
    torch.testing.assert_close(shares, whole)
    torch.testing.assert_close(gradient, expected)
    per_micro_batch = sum(gsb_loss(part.softmax(-1), EXPERTS, variant) * part.shape[0] / 6 for part in parts)
    (naive,) = torch.autograd.grad(per_micro_batch, logits)
    assert (naive - expected).abs().max() > 100 * (gradient - expected).abs().max() + 1e-6


def test_the_share_of_the_whole_batch_is_its_gsb():
    weights = torch.softmax(torch.randn(2, 5, 4), -1)
    share = gsb_batch_share(weights, weights.mean(dim=(0, 1)), 10, EXPERTS)
    torch.testing.assert_close(share, gsb_loss(weights, EXPERTS))
    assert gsb_batch_share(torch.ones(1, 3, 1), torch.ones(1), 3, ["global"]).item() == 0.0
    with pytest.raises(ValueError, match=r"batch_mean has shape \(3,\)"):
        gsb_batch_share(weights, torch.full((3,), 1 / 3), 10, EXPERTS)
