"""`torch.compile` of Sherlock's forward (CPU, tiny model, the `eager` backend: Dynamo's tracing without code
generation, so the test checks what stops tracing, not a compiler).

- The GSM path (the expert inputs' checks, the four experts, the gate and the GSB loss) compiles as ONE graph
  (`fullgraph=True`): it has no data-dependent branch or host synchronisation. The value checks of the expert inputs
  (`check_expert_input_values`, a host sync) run in eager mode only (`config.check_expert_inputs`), never while tracing.
- The whole forward compiles and gives the eager outputs; none of its graph breaks is in Sherlock's code. (The whole
  forward cannot be one graph: Video-LLaVA's own forward breaks the graph in transformers' code, e.g. the output
  capturing of its vision tower, which is not Sherlock's to change.)
"""

from pathlib import Path

import pytest
import torch

from modeling_sherlock import EXPERT_INPUT_NAMES, gsb_loss

from sherlock_tester import build_model, prepare_inputs


MODELING = Path(__file__).resolve().parents[1] / "modeling_sherlock"


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _gsm(model):
    """The GSM path of `get_video_features` after Video-LLaVA's towers: checked inputs -> experts -> gate -> GSB."""
    sherlock = model.model

    def gsm(video_tokens, **expert_inputs):
        batch, frames = video_tokens.shape[:2]
        checked = sherlock.prepare_expert_inputs(batch, frames, **expert_inputs)
        mixture, gate_weights = sherlock.get_spatial_features(video_tokens, checked)
        return mixture, gsb_loss(gate_weights, list(model.config.experts), model.config.gsb_variant)

    return gsm


def test_the_gsm_path_compiles_as_one_graph():
    model = build_model()
    inputs = prepare_inputs()
    expert_inputs = {name: inputs[name] for name in EXPERT_INPUT_NAMES if name in inputs}
    video_tokens = torch.randn(2, 2, 17, model.config.text_config.hidden_size)
    gsm = _gsm(model)
    with torch.no_grad():
        expected = gsm(video_tokens, **expert_inputs)
        compiled = torch.compile(gsm, backend="eager", fullgraph=True)(video_tokens, **expert_inputs)
    torch.testing.assert_close(compiled, expected)


def test_the_value_checks_run_in_eager_mode_only():
    model = build_model()
    inputs = prepare_inputs()
    expert_inputs = {name: inputs[name] for name in EXPERT_INPUT_NAMES if name in inputs}
    expert_inputs["object_labels"] = torch.full_like(expert_inputs["object_labels"], 99)  # outside the vocabulary
    video_tokens = torch.randn(2, 2, 17, model.config.text_config.hidden_size)
    gsm = _gsm(model)
    with pytest.raises(ValueError, match=r"object class id 99 outside \[0, 5\)"):
        gsm(video_tokens, **expert_inputs)
    model.config.check_expert_inputs = False  # the processor checked them: no host sync in eager mode either
    with torch.no_grad():
        gsm(video_tokens, **expert_inputs)  # clamped ids, no error
        torch.compile(gsm, backend="eager", fullgraph=True)(video_tokens, **expert_inputs)


def test_the_whole_forward_compiles_with_no_graph_break_in_sherlock_code():
    model = build_model()
    inputs = prepare_inputs(labels=True)
    with torch.no_grad():
        expected = model(**inputs, use_cache=False)
        explanation = torch._dynamo.explain(model)(**inputs, use_cache=False)
        torch._dynamo.reset()
        compiled = torch.compile(model, backend="eager")(**inputs, use_cache=False)
    in_sherlock = [
        f"{reason.user_stack[-1].filename}:{reason.user_stack[-1].lineno}: {reason.reason.splitlines()[0]}"
        for reason in explanation.break_reasons
        if reason.user_stack and Path(reason.user_stack[-1].filename).resolve().parent == MODELING
    ]
    assert in_sherlock == []
    assert explanation.graph_count >= 1
    for name in ("logits", "loss", "lm_loss", "gsb_loss"):
        torch.testing.assert_close(getattr(compiled, name), getattr(expected, name), msg=name)
