"""The GSM as the paper describes it: expert output forms, directed relations, the loss's device."""

from unittest import mock

import pytest
import torch

from modeling_sherlock import EXPERT_INPUT_NAMES
from modeling_sherlock.modeling_sherlock_experts import directed_relation_graph, person_relative_keypoints

from sherlock_tester import BACKGROUND_HIDDEN, BACKGROUND_SIZE, PATCH, build_model, prepare_inputs


LOCAL_ONLY = ["action", "object_relation", "background"]


def video_features(model, inputs):
    """The GSM mixture that fills the `<video>` placeholders, `(batch * frames, tokens, hidden)`."""
    names = ("pixel_values_videos", *EXPERT_INPUT_NAMES)
    with torch.no_grad():
        return model.model.get_video_features(**{k: inputs[k] for k in names if k in inputs}).pooler_output


def evidence_free_inputs(model, seed):
    """Frames with no person and no object, and a background whose every patch projects onto the background expert's
    null node: each local expert then has one single value to read per frame, whatever the video tokens ask."""
    inputs = prepare_inputs(seed=seed, background="features")
    inputs["pose_mask"] = torch.zeros_like(inputs["pose_mask"])
    inputs["object_mask"] = torch.zeros_like(inputs["object_mask"])
    inputs["relation_mask"] = torch.zeros_like(inputs["relation_mask"])
    expert = model.model.spatial_experts["background"]
    weight, bias = expert.feature_proj.weight.double(), expert.feature_proj.bias.double()
    target = expert.null_node.weight.reshape(-1).double() - bias
    feature = (torch.linalg.pinv(weight) @ target).float()  # feature_proj(feature) == null node
    torch.testing.assert_close(expert.feature_proj(feature), expert.null_node.weight.reshape(-1), atol=1e-5, rtol=0)
    num_patches = (BACKGROUND_SIZE // PATCH) ** 2 + 1
    inputs["background_features"] = feature.expand(2, 2, num_patches, BACKGROUND_HIDDEN).contiguous()
    return inputs


def test_paper_form_without_the_global_expert_carries_no_copy_of_the_video_tokens():
    """With the paper's read-out-only experts, "w/o GE" sees the video only through the attention weights: when every
    frame offers a single value to read, two different videos give the same mixture. The residual form passes the
    video tokens through."""
    paper = build_model(experts=LOCAL_ONLY, expert_output="paper")
    first, second = evidence_free_inputs(paper, seed=0), evidence_free_inputs(paper, seed=1)
    assert not torch.equal(first["pixel_values_videos"], second["pixel_values_videos"])
    torch.testing.assert_close(video_features(paper, first), video_features(paper, second), atol=1e-4, rtol=0)
    residual = build_model(experts=LOCAL_ONLY, expert_output="residual")
    residual.load_state_dict(paper.state_dict())
    assert not torch.allclose(video_features(residual, first), video_features(residual, second), atol=1e-2)


def test_residual_form_is_the_paper_form_plus_the_video_tokens():
    inputs = prepare_inputs(background="features")
    paper = build_model(expert_output="paper")
    residual = build_model(expert_output="residual")
    residual.load_state_dict(paper.state_dict())
    tokens = torch.randn(2, 2, 17, 32)
    for name in LOCAL_ONLY:
        args = {
            "action": (inputs["pose_keypoints"], inputs["pose_mask"]),
            "object_relation": (
                inputs["object_boxes"],
                inputs["object_labels"],
                inputs["object_mask"],
                inputs["relation_triplets"],
                inputs["relation_mask"],
            ),
            "background": (inputs["background_features"],),
        }[name]
        with torch.no_grad():
            readout = paper.model.spatial_experts[name](tokens, *args)
            with_residual = residual.model.spatial_experts[name](tokens, *args)
        torch.testing.assert_close(with_residual, tokens + readout, msg=name)
        assert readout.abs().max() > 1e-3, name


def test_the_expert_output_form_is_validated():
    with pytest.raises(ValueError, match="expert_output='sum'"):
        build_model(expert_output="sum")


def test_directed_relation_graph_has_exactly_the_subject_to_relation_to_object_edges():
    # objects o0, o1 and one relation r = (o0, predicate, o1): edges o0 -> r -> o1 plus self-loops
    adjacency = directed_relation_graph(
        torch.tensor([[[0]]]), torch.tensor([[[1]]]), torch.tensor([[[True]]]), num_objects=2
    )[0, 0]
    # in-degrees (rows) o0: 1, o1: 2, r: 2; out-degrees (columns) o0: 2, o1: 1, r: 2
    expected = torch.tensor(
        [
            [1 / 2**0.5, 0.0, 0.0],
            [0.0, 1 / 2**0.5, 0.5],
            [0.5, 0.0, 0.5],
        ]
    )
    torch.testing.assert_close(adjacency, expected)
    # a padding relation adds no edge
    masked = directed_relation_graph(
        torch.tensor([[[0]]]), torch.tensor([[[1]]]), torch.tensor([[[False]]]), num_objects=2
    )[0, 0]
    torch.testing.assert_close(masked, torch.eye(3))


def test_keypoints_are_seen_relative_to_their_person():
    torch.manual_seed(0)
    standing = torch.cat([torch.rand(17, 2) * torch.tensor([0.1, 0.3]) + 0.2, torch.ones(17, 1)], dim=-1)
    standing[5, 2] = 0.0  # one keypoint not seen
    # the same skeleton moved and scaled: the same relative pose, only the person's place and extent change
    moved = standing.clone()
    moved[:, :2] = standing[:, :2] * 0.5 + torch.tensor([0.4, 0.1])
    lying = standing.clone()
    lying[:, :2] = standing[:, :2].flip(-1)  # rotated by swapping the axes: wider than high
    padding = torch.zeros(17, 3)
    relative, person = person_relative_keypoints(torch.stack([standing, moved, lying, padding]))
    torch.testing.assert_close(relative[1], relative[0])
    torch.testing.assert_close(person[1, :2], person[0, :2] * 0.5 + torch.tensor([0.4, 0.1]))
    torch.testing.assert_close(person[1, 2], person[0, 2] * 0.5)
    seen = standing[:, 2] > 0
    centre = standing[seen, :2].mean(0)
    extent = (standing[seen, :2].amax(0) - standing[seen, :2].amin(0)).max()
    torch.testing.assert_close(person[0], torch.cat([centre, extent.reshape(1)]))
    torch.testing.assert_close(relative[0, seen, :2], (standing[seen, :2] - centre) / extent)
    assert relative[0, 5].tolist() == [0.0, 0.0, 0.0]
    # the pose shape is of order one whatever the person's size (it was a few hundredths in frame coordinates)
    assert relative[0, seen, 1].abs().max() > 0.3
    # a lying person keeps its aspect (wide relative x, narrow relative y) and its extent (the larger side)
    torch.testing.assert_close(person[2, 2], person[0, 2])
    assert relative[2, seen, 0].abs().max() > 2 * relative[2, seen, 1].abs().max()
    assert torch.isfinite(relative).all() and torch.isfinite(person).all()
    assert relative[3].abs().max() == 0


def test_swapping_subject_and_object_changes_the_object_relation_expert_output():
    model = build_model(experts=["object_relation", "global"])
    expert = model.model.spatial_experts["object_relation"]
    inputs = prepare_inputs(objects=2, relations=1)
    forward = inputs["relation_triplets"].clone()
    forward[..., 0], forward[..., 2] = 0, 1
    backward = forward.clone()
    backward[..., 0], backward[..., 2] = 1, 0
    # both objects cover the whole frame, so the masking is the same either way: only the direction differs
    boxes = torch.tensor([0.0, 0.0, 1.0, 1.0]).expand(2, 2, 2, 4).contiguous()
    tokens = torch.randn(2, 2, 17, 32)
    args = (boxes, inputs["object_labels"], inputs["object_mask"])
    with torch.no_grad():
        out_forward = expert(tokens, *args, forward, inputs["relation_mask"])
        out_backward = expert(tokens, *args, backward, inputs["relation_mask"])
    assert (out_forward - out_backward).abs().max() > 1e-3


def test_the_gsb_term_follows_the_device_and_dtype_of_the_lm_loss():
    """On several GPUs the experts may sit on another device than the LM head: the GSB loss is moved to the LM loss's
    device, and the loss keeps the LM loss's dtype."""
    import modeling_sherlock.modeling_sherlock as modeling

    model = build_model()
    inputs = prepare_inputs(labels=True)
    original = modeling.gsb_loss
    moved = {}

    def spy(*args, **kwargs):
        gsb = original(*args, **kwargs)
        tagged = mock.MagicMock()
        tagged.to.side_effect = lambda *a, **k: moved.update(args=a, kwargs=k) or gsb
        return tagged

    with mock.patch.object(modeling, "gsb_loss", side_effect=spy):
        out = model(**inputs)
    assert moved["args"] == (out.lm_loss.device,) or moved["kwargs"].get("device") == out.lm_loss.device
    assert out.loss.dtype == out.lm_loss.dtype


def test_the_background_tower_stays_frozen_and_in_eval_mode_after_train():
    model = build_model().train()
    background = model.model.spatial_experts["background"]
    assert background.training and background.down_proj.training
    assert not background.tower.training
    assert not any(module.training for module in background.tower.modules())
    assert not any(p.requires_grad for p in background.tower.parameters())
