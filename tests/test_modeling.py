"""Forward, backward, gate, losses, ablations, masking, batching and generation of the Sherlock model."""

import pytest
import torch
from transformers import VideoLlavaConfig, VideoLlavaForConditionalGeneration

from modeling_sherlock import EXPERT_NAMES

from sherlock_tester import (
    TOKENS_PER_FRAME,
    build_model,
    get_config,
    prepare_inputs,
    select,
    video_features_of,
    video_llava_kwargs,
)


def build(seed=0, **overrides):
    return build_model(seed, **overrides)


def expert_and_gate_parameters(model):
    return {
        name: param
        for name, param in model.named_parameters()
        if name.startswith(("model.spatial_experts.", "model.expert_gate."))
    }


def test_forward_shapes_and_gate_weights():
    model = build()
    inputs = prepare_inputs()
    out = model(**inputs, output_gate_weights=True)
    assert out.logits.shape == (2, inputs["input_ids"].shape[1], 128)
    assert out.gate_weights.shape == (2, 2 * TOKENS_PER_FRAME, len(EXPERT_NAMES))
    assert (out.gate_weights > 0).all()
    torch.testing.assert_close(out.gate_weights.sum(-1), torch.ones(2, 2 * TOKENS_PER_FRAME))
    assert out.gsb_loss is None and out.loss is None  # the GSB loss is a loss: computed with labels only
    assert video_features_of(out).shape == (2 * 2, TOKENS_PER_FRAME, 32)
    assert model(**inputs).gate_weights is None  # only on request
    with_labels = model(**prepare_inputs(labels=True))
    assert with_labels.gsb_loss.ndim == 0 and torch.isfinite(with_labels.gsb_loss)
    assert with_labels.gate_weights is None  # used for the loss, returned only on request


def test_loss_is_lm_loss_plus_weighted_gsb_loss():
    model = build(gsb_loss_coef=0.7)
    out = model(**prepare_inputs(labels=True))
    torch.testing.assert_close(out.loss, out.lm_loss + 0.7 * out.gsb_loss)
    assert out.gsb_loss > 0
    manual = torch.nn.functional.cross_entropy(
        out.logits[:, :-1].reshape(-1, 128),
        prepare_inputs(labels=True)["labels"][:, 1:].reshape(-1),
        ignore_index=-100,
    )
    torch.testing.assert_close(out.lm_loss, manual)


def test_backward_reaches_every_expert_and_gate_parameter_but_not_the_frozen_tower():
    model = build().train()
    out = model(**prepare_inputs(labels=True))
    out.loss.backward()
    params = expert_and_gate_parameters(model)
    trainable = {name: p for name, p in params.items() if p.requires_grad}
    frozen = {name: p for name, p in params.items() if not p.requires_grad}
    assert frozen and all(".background.tower." in name for name in frozen)
    assert all(p.grad is None for p in frozen.values())
    # a threshold well above float noise: a parameter without effect (e.g. a key bias under softmax) gets ~1e-12
    no_grad = [name for name, p in trainable.items() if p.grad is None or not p.grad.abs().max() > 1e-7]
    assert not no_grad, no_grad
    assert len(trainable) > 30


@pytest.mark.parametrize("missing", [*EXPERT_NAMES, "none (uniform gate)"])
def test_every_ablation_builds_runs_and_trains(missing):
    experts = [name for name in EXPERT_NAMES if name != missing]
    gate = "uniform" if missing.startswith("none") else "soft"
    model = build(experts=experts, gate=gate).train()
    assert set(model.model.spatial_experts.keys()) == {name for name in experts if name != "global"}
    inputs = prepare_inputs(labels=True)
    out = model(**inputs, output_gate_weights=True)
    assert out.gate_weights.shape[-1] == len(experts)
    out.loss.backward()
    for name, param in expert_and_gate_parameters(model).items():
        if param.requires_grad:
            assert param.grad is not None and param.grad.abs().max() > 1e-7, name
    # a few optimiser steps on one batch lower the loss
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    first = out.loss.item()
    for _ in range(5):
        optimizer.step()
        optimizer.zero_grad()
        loss = model(**inputs).loss
        loss.backward()
    assert loss.item() < first


def test_bfloat16_forward_is_finite_and_close_to_float32():
    """bf16 stays closer to float32 than any broken expert input would be: the tolerance is tied to the bf16 error
    measured here (and bounded by bf16's precision), never loose enough to hide a lost pose, object or background."""
    model = build()
    inputs = prepare_inputs()
    with torch.no_grad():
        reference = model(**inputs, output_gate_weights=True)
        mixture = video_features_of(reference)
        broken_inputs = {
            "no pose": dict(inputs, pose_mask=torch.zeros_like(inputs["pose_mask"])),
            "no objects": dict(
                inputs,
                object_mask=torch.zeros_like(inputs["object_mask"]),
                relation_mask=torch.zeros_like(inputs["relation_mask"]),
            ),
            "no background": dict(inputs, background_pixel_values=torch.zeros_like(inputs["background_pixel_values"])),
        }
        broken = {
            name: (video_features_of(model(**changed)) - mixture).abs().max()
            for name, changed in broken_inputs.items()
        }
        half = model.to(torch.bfloat16)(**prepare_inputs(labels=True), output_gate_weights=True)
    assert half.logits.dtype == torch.bfloat16 and torch.isfinite(half.logits).all()
    assert half.gsb_loss.dtype == torch.float32
    bf16_error = (video_features_of(half).float() - mixture).abs().max()
    unit_roundoff = 2.0**-8
    assert bf16_error <= 16 * unit_roundoff * mixture.abs().max(), bf16_error
    for name, effect in broken.items():
        assert bf16_error < effect / 2, f"bf16 error {bf16_error:.4f} vs the effect of {name}: {effect:.4f}"
    logits_error = (half.logits.float() - reference.logits).abs().max()
    assert logits_error <= 16 * unit_roundoff * reference.logits.abs().max(), logits_error
    torch.testing.assert_close(half.gate_weights.float(), reference.gate_weights, atol=4 * unit_roundoff, rtol=0)


def test_uniform_gate_has_no_parameters_and_zero_gsb_loss():
    model = build(gate="uniform").train()
    assert model.model.expert_gate is None
    out = model(**prepare_inputs(labels=True), output_gate_weights=True)
    assert out.gsb_loss.item() == 0.0
    torch.testing.assert_close(out.gate_weights, torch.full_like(out.gate_weights, 0.25))
    torch.testing.assert_close(out.loss, out.lm_loss)
    out.loss.backward()
    assert model.model.spatial_experts["action"].down_proj.weight.grad.abs().sum() > 0


def test_single_expert_soft_gate_has_zero_gsb_loss():
    out = build(experts=["action"]).forward(**prepare_inputs(labels=True), output_gate_weights=True)
    assert out.gsb_loss.item() == 0.0
    torch.testing.assert_close(out.gate_weights, torch.ones_like(out.gate_weights))


def test_ablation_floor_equals_video_llava():
    """experts=["global"], gate="uniform" must compute exactly what Video-LLaVA computes with the same weights."""
    sherlock = build(experts=["global"], gate="uniform")
    video_llava = VideoLlavaForConditionalGeneration(VideoLlavaConfig(**video_llava_kwargs())).eval()
    missing, unexpected = video_llava.load_state_dict(sherlock.state_dict(), strict=True)
    assert not missing and not unexpected
    inputs = prepare_inputs()
    video_inputs = {k: inputs[k] for k in ("input_ids", "attention_mask", "pixel_values_videos")}
    with torch.no_grad():
        expected = video_llava(**video_inputs).logits
        got = sherlock(**video_inputs).logits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # and the GSM is not a no-op once an expert is added
    full = build()
    full.load_state_dict(sherlock.state_dict(), strict=False)
    with torch.no_grad():
        assert not torch.allclose(full(**inputs).logits, expected, atol=1e-3)


def test_padding_persons_objects_and_relations_leaves_outputs_unchanged():
    model = build()
    inputs = prepare_inputs(persons=2, objects=3, relations=2)
    padded = dict(inputs)
    b, f = 2, 2
    padded["pose_keypoints"] = torch.cat([inputs["pose_keypoints"], torch.rand(b, f, 2, 17, 3)], dim=2)
    padded["pose_mask"] = torch.cat([inputs["pose_mask"], torch.zeros(b, f, 2, dtype=torch.bool)], dim=2)
    padded["object_boxes"] = torch.cat(
        [inputs["object_boxes"], torch.tensor([0.0, 0.0, 1.0, 1.0]).expand(b, f, 2, 4)], 2
    )
    padded["object_labels"] = torch.cat([inputs["object_labels"], torch.full((b, f, 2), -1)], dim=2)
    padded["object_mask"] = torch.cat([inputs["object_mask"], torch.zeros(b, f, 2, dtype=torch.bool)], dim=2)
    # padding relations pointing at the padding objects, with an out-of-range predicate: all must be ignored
    padded["relation_triplets"] = torch.cat(
        [inputs["relation_triplets"], torch.tensor([3, 99, 4]).expand(b, f, 3, 3)], 2
    )
    padded["relation_mask"] = torch.cat([inputs["relation_mask"], torch.zeros(b, f, 3, dtype=torch.bool)], dim=2)
    with torch.no_grad():
        expected = model(**inputs, output_gate_weights=True)
        got = model(**padded, output_gate_weights=True)
    torch.testing.assert_close(got.logits, expected.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got.gate_weights, expected.gate_weights, atol=1e-6, rtol=1e-5)


def test_frames_without_people_or_objects_run_and_differ_from_frames_with_them():
    model = build()
    full = prepare_inputs(persons=2, objects=3, relations=2)
    empty = dict(full)
    for name in ("pose_keypoints", "pose_mask", "object_boxes", "object_labels", "object_mask"):
        empty[name] = full[name][:, :, :0]
    empty["relation_triplets"], empty["relation_mask"] = full["relation_triplets"][:, :, :0], None
    with torch.no_grad():
        out_empty = model(**empty)
        out_full = model(**full)
        masked = dict(
            full, pose_mask=torch.zeros_like(full["pose_mask"]), object_mask=torch.zeros_like(full["object_mask"])
        )
        masked["relation_mask"] = torch.zeros_like(full["relation_mask"])
        out_masked = model(**masked)
    assert torch.isfinite(out_empty.logits).all()
    # everything masked == nothing there (only the null nodes are attended)
    torch.testing.assert_close(out_masked.logits, out_empty.logits, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out_full.logits, out_empty.logits, atol=1e-4)


def test_batch_of_two_equals_two_single_runs():
    model = build()
    inputs = prepare_inputs(batch=2)
    with torch.no_grad():
        batched = model(**inputs, output_gate_weights=True)
        singles = [model(**select(inputs, slice(i, i + 1)), output_gate_weights=True) for i in range(2)]
    torch.testing.assert_close(batched.logits, torch.cat([s.logits for s in singles]), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        batched.gate_weights, torch.cat([s.gate_weights for s in singles]), atol=1e-6, rtol=1e-5
    )


def test_batch_of_two_with_different_numbers_of_persons_and_objects_equals_two_single_runs():
    """Video 0 has 1 person, 3 objects and 2 relations, video 1 has 3 persons, 1 object and 1 relation: padded and
    masked into one batch, each video gives what it gives alone with exactly its own entries."""
    model = build()
    counts = [(1, 3, 2), (3, 1, 1)]
    singles = [
        prepare_inputs(batch=1, persons=p, objects=o, relations=r, seed=i) for i, (p, o, r) in enumerate(counts)
    ]
    singles[1]["input_ids"] = singles[0]["input_ids"].clone()  # same prompt length, no text padding needed
    most = [max(c[i] for c in counts) for i in range(3)]

    def pad(tensor, size, fill):
        extra = size - tensor.shape[2]
        shape = (*tensor.shape[:2], extra, *tensor.shape[3:])
        return torch.cat([tensor, torch.full(shape, fill, dtype=tensor.dtype)], dim=2)

    sizes = {"pose": most[0], "object": most[1], "relation": most[2]}
    batch = {}
    for name in singles[0]:
        group = name.split("_")[0] if name.startswith(("pose", "object", "relation")) else None
        values = [single[name] for single in singles]
        if group is not None:
            fill = False if name.endswith("mask") else (0.5 if name == "object_boxes" else 0)
            values = [pad(value, sizes[group], fill) for value in values]
        batch[name] = torch.cat(values)
    assert batch["pose_mask"].sum(-1).tolist() == [[1, 1], [3, 3]]
    assert batch["object_mask"].sum(-1).tolist() == [[3, 3], [1, 1]]
    with torch.no_grad():
        batched = model(**batch, output_gate_weights=True)
        alone = [model(**single, output_gate_weights=True) for single in singles]
    torch.testing.assert_close(batched.logits, torch.cat([a.logits for a in alone]), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched.gate_weights, torch.cat([a.gate_weights for a in alone]), atol=1e-6, rtol=1e-5)
    assert not torch.allclose(alone[0].logits, alone[1].logits, atol=1e-3)


def test_background_features_equal_background_pixels_through_the_tower():
    model = build()
    inputs = prepare_inputs()
    features = model.model.spatial_experts["background"].encode_background(inputs["background_pixel_values"])
    cached = dict(inputs, background_features=features)
    del cached["background_pixel_values"]
    with torch.no_grad():
        torch.testing.assert_close(model(**cached).logits, model(**inputs).logits)


@pytest.mark.parametrize("experts", [list(EXPERT_NAMES), ["global"]])
def test_greedy_generate_same_tokens_with_and_without_cache(experts):
    model = build(experts=experts, gate="soft")
    inputs = prepare_inputs(batch=2)
    kwargs = {"max_new_tokens": 8, "do_sample": False, "pad_token_id": 0}
    with torch.no_grad():
        cached = model.generate(**inputs, use_cache=True, **kwargs)
        uncached = model.generate(**inputs, use_cache=False, **kwargs)
    assert cached.shape == (2, inputs["input_ids"].shape[1] + 8)
    torch.testing.assert_close(cached, uncached)


def test_generate_feeds_the_experts_on_prefill():
    model = build()
    inputs = prepare_inputs(batch=2)
    moved = dict(inputs, pose_keypoints=inputs["pose_keypoints"].flip(-2))
    kwargs = {"max_new_tokens": 2, "do_sample": False, "pad_token_id": 0, "output_logits": True}
    with torch.no_grad():
        first = model.generate(**inputs, return_dict_in_generate=True, **kwargs).logits[0]
        expected = model(**inputs).logits[:, -1]
        other = model(**moved).logits[:, -1]
    torch.testing.assert_close(first, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(first, other, atol=1e-4)  # the poses reached generate's prefill


def test_generate_computes_no_gsb_loss(monkeypatch):
    """The GSB loss is a training loss: neither `generate` nor a forward without labels computes it."""
    import modeling_sherlock.modeling_sherlock as modeling

    calls = []
    monkeypatch.setattr(modeling, "gsb_loss", lambda *args, **kwargs: calls.append(1) or torch.zeros(()))
    model = build()
    inputs = prepare_inputs(batch=2)
    with torch.no_grad():
        model.generate(**inputs, max_new_tokens=3, do_sample=False, pad_token_id=0)
        model(**inputs, output_gate_weights=True)
    assert calls == []
    with torch.no_grad():
        model(**prepare_inputs(labels=True))
    assert calls == [1]  # the patch is where the loss is computed


def test_generate_matches_step_by_step_forward():
    model = build()
    inputs = prepare_inputs(batch=1)
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=4, do_sample=False, pad_token_id=0)
        ids = inputs["input_ids"]
        for _ in range(4):
            step = dict(inputs, input_ids=ids, attention_mask=torch.ones_like(ids))
            next_token = model(**step).logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, next_token], dim=1)
    torch.testing.assert_close(generated, ids)


def test_sdpa_and_eager_attention_agree():
    sdpa = build(attn_implementation="sdpa")
    eager = build(attn_implementation="eager")
    eager.load_state_dict(sdpa.state_dict())
    assert sdpa.config.text_config._attn_implementation == "sdpa"
    assert eager.config.text_config._attn_implementation == "eager"
    inputs = prepare_inputs()
    with torch.no_grad():
        torch.testing.assert_close(sdpa(**inputs).logits, eager(**inputs).logits, atol=1e-5, rtol=1e-5)


def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    inputs = prepare_inputs(labels=True)
    reference = build().train()
    reference.config.text_config.attention_dropout = 0.0
    loss = reference(**inputs).loss
    loss.backward()
    checkpointed = build().train()
    checkpointed.activation_checkpointing_enable()
    calls = []
    checkpointed.model.language_model.layers[0].self_attn.register_forward_hook(lambda *args: calls.append(1))
    loss_ckpt = checkpointed(**inputs).loss
    loss_ckpt.backward()
    assert len(calls) == 2  # the layer ran again in backward: activations were recomputed, not stored
    torch.testing.assert_close(loss_ckpt, loss)
    for (name, p), (_, q) in zip(reference.named_parameters(), checkpointed.named_parameters()):
        if p.grad is not None:
            torch.testing.assert_close(q.grad, p.grad, atol=1e-6, rtol=1e-4, msg=name)


def test_fresh_experts_are_variance_preserving_read_out_nothing_and_learn_from_the_first_step():
    """`SherlockLocalExpert.mark_initialisation`: at the language model's N(0, 0.02) the experts' chain of linear maps
    shrank their read-out to ~1e-6, constant across videos, and they did not learn. A fresh model (not the tester's
    re-initialised one) has fan-in scaled expert layers and zero up projections; one SGD step makes each local expert's
    output depend on its inputs."""
    from modeling_sherlock import SherlockForConditionalGeneration

    from sherlock_tester import get_config

    torch.manual_seed(0)
    model = SherlockForConditionalGeneration(get_config())
    action = model.model.spatial_experts["action"]
    assert torch.equal(action.up_proj.weight, torch.zeros_like(action.up_proj.weight))
    assert action.keypoint_proj.weight.std().item() == pytest.approx(3**-0.5, rel=0.35)
    assert action.joint_embedding.weight.std().item() == pytest.approx(1.0, rel=0.2)
    tower = model.model.spatial_experts["background"].tower
    assert not any(hasattr(module, "_sherlock_init") for module in tower.modules())  # the tower keeps its own init

    inputs, other = prepare_inputs(seed=0, labels=True), prepare_inputs(seed=1, labels=True)
    tokens = torch.randn(1, inputs["pose_mask"].shape[1], TOKENS_PER_FRAME, action.up_proj.out_features)

    def action_outputs():
        with torch.no_grad():
            return [action(tokens, batch["pose_keypoints"][:1], batch["pose_mask"][:1]) for batch in (inputs, other)]

    assert all(torch.equal(out, torch.zeros_like(out)) for out in action_outputs())  # a fresh expert reads out nothing
    read_out = {}

    def keep(module, args, out):
        read_out["x"] = out.detach()

    hook = action.cross_attention.register_forward_hook(keep)
    model.train()
    model(**inputs).loss.backward()
    hook.remove()
    assert read_out["x"].std().item() > 0.05  # what the up projection multiplies is of order one, not ~1e-6
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    first, second = action_outputs()
    assert (first - second).abs().max().item() > 1e-3  # after one step the output depends on the poses


def test_gate_norm_experts_normalises_each_expert_before_the_gate():
    model = build(gate_norm="experts")
    gate = model.model.expert_gate
    assert not hasattr(gate, "norm") and len(gate.expert_norms) == len(EXPERT_NAMES)
    for norm in gate.expert_norms:  # not the identity, so that the check below sees each expert's own norm
        torch.nn.init.normal_(norm.weight)
        torch.nn.init.normal_(norm.bias)
    outputs = torch.randn(2, 3, len(EXPERT_NAMES), 32)
    mixture, weights = gate(outputs)
    normed = torch.stack([norm(outputs[..., i, :]) for i, norm in enumerate(gate.expert_norms)], dim=-2)
    expected_weights = gate.proj(normed.sum(-2)).softmax(-1)
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(mixture, (expected_weights.unsqueeze(-1) * normed).sum(-2))
    with pytest.raises(ValueError, match="gate_norm"):
        build(gate_norm="after")


def test_the_gate_gets_a_language_model_gradient_on_a_fresh_model_with_gate_norm_experts():
    """A fresh GSM's local experts read out zero (their up projections start at zero): the paper's LayerNorm after
    the mixture then removes the global weight, so the language-model loss gives the gate (almost) no gradient;
    normalising each expert before the gate gives it one from the first step (measured: ~370x more here)."""
    from modeling_sherlock import SherlockForConditionalGeneration

    gradients = {}
    for gate_norm in ("mixture", "experts"):
        torch.manual_seed(0)
        model = SherlockForConditionalGeneration(get_config(gate_norm=gate_norm, gsb_loss_coef=0.0)).train()
        assert not model.model.spatial_experts["action"].up_proj.weight.any()  # fresh: the experts read out zero
        model(**prepare_inputs(labels=True)).lm_loss.backward()
        gradients[gate_norm] = model.model.expert_gate.proj.weight.grad.abs().max().item()
    assert gradients["experts"] > 100 * gradients["mixture"], gradients


@pytest.mark.parametrize("pose_embedding", [True, False])
def test_every_keypoint_node_sees_its_whole_skeleton_with_the_pose_embedding(pose_embedding):
    """With one graph layer a node knows its one-hop neighbours only: swapping the two wrists (the person's centre
    and extent stay the same) changes the left ankle's node (far along the skeleton) only through the person's
    skeleton embedding (`action_pose_embedding`)."""
    model = build(action_pose_embedding=pose_embedding, expert_num_layers=1)
    expert = model.model.spatial_experts["action"]
    assert (expert.pose_embedding is not None) == pose_embedding
    assert any("pose_embedding" in name for name, _ in model.named_parameters()) == pose_embedding
    nodes = []
    expert.cross_attention.register_forward_pre_hook(lambda module, args: nodes.append(args[1].detach()))
    inputs = prepare_inputs()
    moved = dict(inputs, pose_keypoints=inputs["pose_keypoints"].clone())
    moved["pose_keypoints"][0, 0, 0, [9, 10]] = inputs["pose_keypoints"][
        0, 0, 0, [10, 9]
    ]  # video 0, frame 0, person 0
    with torch.no_grad():
        model(**inputs)
        model(**moved)
    left_ankle = 1 + 15  # after the null node: person 0's keypoint 15
    changed = not torch.allclose(nodes[0][0, left_ankle], nodes[1][0, left_ankle])
    assert changed == pose_embedding
    assert not torch.allclose(nodes[0][0, 1 + 9], nodes[1][0, 1 + 9])  # the wrist's own node moves either way
