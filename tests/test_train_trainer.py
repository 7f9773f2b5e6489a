"""`SherlockTrainer`: Sherlock's own forward with `lm_loss + α · gsb_loss`, both terms those of the optimizer step's
whole batch, so that the accumulation steps do not change the gradients; the logged metrics; the GSB callback's α
schedule and gate-weight table. And the model's own `loss` under a plain `transformers.Trainer` with accumulation."""

import copy
import csv

import pytest
import torch

from sherlock.training.callbacks import GSBCallback, linear_warmup_alpha
from sherlock.training.trainer import EVENT_TYPES_KEY

from sherlock_tester import build_model
from train_helpers import _dataset, _trainer, collate


# One plain SGD step at learning rate 1: the update equals the gradient, so updates compare gradients.
ONE_SGD_STEP = {
    "max_steps": 1,
    "optim": "sgd",
    "learning_rate": 1.0,
    "max_grad_norm": 0.0,
    "lr_scheduler_type": "constant",
}


def test_the_loss_is_the_language_loss_plus_alpha_gsb_and_the_parts_are_logged(tmp_path):
    trainer = _trainer(tmp_path, per_device_train_batch_size=4, max_steps=1)
    trainer.train()
    log = trainer.state.log_history[0]
    assert log["gsb_alpha"] == pytest.approx(0.4)
    assert log["loss"] == pytest.approx(log["lm_loss"] + 0.4 * log["gsb_loss"], rel=1e-5)
    gates = [log[f"gate/{name}"] for name in ("action", "object_relation", "background", "global")]
    assert sum(gates) == pytest.approx(1.0, abs=1e-5) and all(0 < g < 1 for g in gates)
    assert torch.isfinite(torch.tensor([log["loss"], log["lm_loss"], log["gsb_loss"]])).all()


def _one_step(
    tmp_path, batch_size: int, accumulation: int, alpha: float, identical: bool, **overrides
) -> dict[str, torch.Tensor]:
    model = build_model().train()
    model.config.gsb_loss_coef = alpha
    trainer = _trainer(
        tmp_path / f"{batch_size}x{accumulation}",
        model=model,
        dataset=_dataset(identical=identical),
        **overrides,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        **ONE_SGD_STEP,
    )
    before = {name: param.detach().clone() for name, param in model.named_parameters()}
    trainer.train()
    return {name: param.detach() - before[name] for name, param in model.named_parameters()}


@pytest.mark.parametrize(
    "alpha", [0.0, 0.4], ids=["language-term-different-answer-lengths", "alpha-0.4-different-samples"]
)
def test_the_update_does_not_depend_on_the_accumulation_steps(tmp_path, alpha):
    """The same 4 different samples as one batch, 2 x 2 or 1 x 4 micro-batches: the same SGD update. The language
    term is normalised by the labelled tokens of the whole accumulated batch (answers of 2 to 5 tokens); the GSB term
    is -log of the mean gate weights over ALL the step's video tokens (the pre-pass), not a mean of per-micro-batch
    GSBs."""
    reference = _one_step(tmp_path, 4, 1, alpha, identical=False)
    assert reference["model.expert_gate.proj.weight"].abs().max() > 0
    for batch_size, accumulation in ((2, 2), (1, 4)):
        update = _one_step(tmp_path, batch_size, accumulation, alpha, identical=False)
        for name, delta in reference.items():
            torch.testing.assert_close(
                update[name], delta, rtol=1e-5, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}"
            )


def test_the_gsb_term_is_the_whole_batch_gsb_and_the_micro_batch_scope_differs(tmp_path):
    """The GSB term alone (the gate's update with α = 0.4 minus that with α = 0: the language term moves the gate too)
    is the same for 1 x 4 micro-batches as for the whole batch at once, while the mean of the micro-batches' GSBs
    (`gsb_scope="micro_batch"`, what the trainer did before) is measurably another update."""
    language = _one_step(tmp_path / "lm", 4, 1, 0.0, False)
    name = "model.expert_gate.proj.weight"
    whole = _one_step(tmp_path / "whole", 4, 1, 0.4, False)[name] - language[name]
    split = _one_step(tmp_path / "split", 1, 4, 0.4, False)[name] - language[name]
    per_micro_batch = _one_step(tmp_path / "micro", 1, 4, 0.4, False, gsb_scope="micro_batch")[name] - language[name]
    assert whole.abs().max() > 1e-3  # the GSB term moves the gate
    torch.testing.assert_close(split, whole, rtol=1e-4, atol=1e-6)
    assert (per_micro_batch - whole).abs().max() > 10 * (split - whole).abs().max() + 1e-5


def _plain_trainer_update(tmp_path, batch_size: int, accumulation: int) -> dict[str, torch.Tensor]:
    """One SGD step of a plain `transformers.Trainer` on the model's own `loss` (no `SherlockTrainer`)."""
    from transformers import Trainer, TrainingArguments

    model = build_model().train()
    model.config.gsb_loss_coef = 0.4
    args = TrainingArguments(
        output_dir=str(tmp_path / f"plain-{batch_size}x{accumulation}"),
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        **ONE_SGD_STEP,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        remove_unused_columns=False,
        disable_tqdm=True,
    )

    def plain_collate(rows):
        return {name: value for name, value in collate(rows).items() if name != EVENT_TYPES_KEY}

    trainer = Trainer(model=model, args=args, train_dataset=_dataset(identical=True), data_collator=plain_collate)
    before = {name: param.detach().clone() for name, param in model.named_parameters()}
    trainer.train()
    return {name: param.detach() - before[name] for name, param in model.named_parameters()}


def test_the_models_own_loss_under_a_plain_trainer_does_not_grow_with_accumulation(tmp_path):
    """A plain `Trainer` passes `num_items_in_batch` and sums the micro-batches' losses: the model weights each
    micro-batch's GSB term by its share of the batch's labelled tokens, so the GSB term keeps its weight α. The four
    samples have the same video inputs (the same gate statistics: the model's own loss cannot see other micro-batches,
    see `SherlockForConditionalGeneration.forward`) and answers of different lengths."""
    reference = _plain_trainer_update(tmp_path, 4, 1)
    assert reference["model.expert_gate.proj.weight"].abs().max() > 0
    for batch_size, accumulation in ((2, 2), (1, 4)):
        update = _plain_trainer_update(tmp_path, batch_size, accumulation)
        for name, delta in reference.items():
            torch.testing.assert_close(
                update[name], delta, rtol=1e-5, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}"
            )


def test_alpha_zero_leaves_no_gsb_gradient(tmp_path):
    model = build_model().train()
    trainer = _trainer(tmp_path, model=model)
    batch = collate([trainer.train_dataset[i] for i in range(2)])
    batch = {name: value for name, value in batch.items() if name != EVENT_TYPES_KEY}

    def gate_gradient(loss_of):
        model.zero_grad()
        loss_of().backward()
        return model.model.expert_gate.proj.weight.grad.clone()

    language_only = gate_gradient(lambda: model(**batch).lm_loss)
    model.config.gsb_loss_coef = 0.0
    assert torch.equal(gate_gradient(lambda: trainer.compute_loss(model, dict(batch))), language_only)
    model.config.gsb_loss_coef = 0.4
    assert not torch.allclose(gate_gradient(lambda: trainer.compute_loss(model, dict(batch))), language_only)


def test_training_leaves_the_frozen_background_tower_untouched(tmp_path):
    model = build_model().train()
    tower = copy.deepcopy(model.model.spatial_experts.background.tower.state_dict())
    gate = model.model.expert_gate.proj.weight.detach().clone()
    _trainer(tmp_path, model=model).train()
    after = model.model.spatial_experts.background.tower.state_dict()
    assert all(torch.equal(after[name], value) for name, value in tower.items())
    assert not torch.equal(model.model.expert_gate.proj.weight, gate)


def test_the_alpha_schedule_and_the_gate_weight_table(tmp_path):
    """The table of a run counts the samples of that run: a second `train()` of the same trainer (the same callback)
    gives the same counts, not the two runs' samples together."""
    trainer = _trainer(tmp_path, callbacks=[GSBCallback(alpha_schedule=linear_warmup_alpha(0.4, 2))])
    for _ in range(2):
        trainer.train()
        alphas = [log["gsb_alpha"] for log in trainer.state.log_history if "gsb_alpha" in log]
        assert alphas == pytest.approx([0.0, 0.2])
        with (tmp_path / "out" / "gate_weights.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert [row["event_type"] for row in rows] == ["Fighting", "Theft", "(no event)", "(all videos)"]
        # 2 steps x 2 samples: samples 0-3 once each; Fighting in samples 0 and 1, Theft in 1 and 3
        assert [int(row["videos"]) for row in rows] == [2, 2, 1, 4]
        for row in rows:
            weights = [float(row[name]) for name in ("action", "object_relation", "background", "global")]
            assert sum(weights) == pytest.approx(1.0, abs=3e-4)  # 4 rounded decimals each
        assert (tmp_path / "out" / "gate_weights.png").is_file()
        (tmp_path / "out" / "gate_weights.csv").unlink()
