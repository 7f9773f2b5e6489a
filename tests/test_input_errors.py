"""Wrong expert inputs raise ValueErrors that name both numbers."""

import pytest
import torch

from sherlock_tester import build_model, prepare_inputs


@pytest.fixture(scope="module")
def model():
    return build_model()


def run(model, **changes):
    inputs = prepare_inputs()
    for name, value in changes.items():
        if value is None:
            inputs.pop(name)
        else:
            inputs[name] = value(inputs) if callable(value) else value
    with torch.no_grad():
        return model(**inputs)


def test_frames_in_expert_inputs_must_match_the_video(model):
    with pytest.raises(ValueError, match=r"`pose_keypoints` has 3 frames but `pixel_values_videos` has 2 frames"):
        run(model, pose_keypoints=torch.rand(2, 3, 2, 17, 3), pose_mask=None)
    with pytest.raises(ValueError, match=r"`object_boxes` has 1 frames but `pixel_values_videos` has 2 frames"):
        run(model, object_boxes=lambda i: i["object_boxes"][:, :1])
    with pytest.raises(ValueError, match=r"`background_pixel_values` has 4 frames .* has 2 frames"):
        run(model, background_pixel_values=torch.randn(2, 4, 3, 8, 8))
    with pytest.raises(ValueError, match=r"batch size 1 but `pixel_values_videos` has 2"):
        run(model, pose_keypoints=lambda i: i["pose_keypoints"][:1], pose_mask=None)


def test_keypoints_must_be_17(model):
    with pytest.raises(ValueError, match=r"has 16 keypoints per person but `config.num_keypoints` is 17"):
        run(model, pose_keypoints=lambda i: i["pose_keypoints"][:, :, :, :16])


def test_boxes_must_be_normalised(model):
    with pytest.raises(ValueError, match=r"normalised to \[0, 1\], got values in \[.*, 224\]"):
        run(
            model,
            object_boxes=lambda i: torch.cat(
                [i["object_boxes"][..., :3], torch.full_like(i["object_boxes"][..., :1], 224.0)], -1
            ),
        )
    with pytest.raises(ValueError, match="x1 <= x2"):
        run(model, object_boxes=lambda i: i["object_boxes"][..., [2, 1, 0, 3]] + torch.tensor([0.01, 0, 0, 0]))


def test_masked_boxes_are_not_checked(model):
    """Garbage in a padding slot raises nothing and changes nothing: the output equals that of a clean padding box."""

    def padding_box(value):
        def boxes(inputs):
            boxes = inputs["object_boxes"].clone()
            boxes[:, :, -1] = value
            return boxes

        return boxes

    mask = torch.ones(2, 2, 3, dtype=torch.bool)
    mask[:, :, -1] = False
    relations = torch.tensor([0, 1, 1]).expand(2, 2, 2, 3).clone()
    garbage = run(model, object_boxes=padding_box(5.0), object_mask=mask, relation_triplets=relations)
    clean = run(model, object_boxes=padding_box(0.5), object_mask=mask, relation_triplets=relations)
    torch.testing.assert_close(garbage.logits, clean.logits, atol=0, rtol=0)
    # and the slot is really ignored: unmasked, the same clean box changes the output
    unmasked = run(model, object_boxes=padding_box(0.5), relation_triplets=relations)
    assert not torch.allclose(unmasked.logits, clean.logits, atol=1e-4)


def test_relation_indices_must_point_to_existing_objects(model):
    bad = lambda i: torch.tensor([0, 1, 3]).expand(2, 2, 2, 3).clone()  # noqa: E731 - object 3 of 3 objects
    with pytest.raises(ValueError, match=r"object index 3 but frame 0 of video 0 has 3 objects"):
        run(model, relation_triplets=bad)
    mask = torch.ones(2, 2, 3, dtype=torch.bool)
    mask[:, :, 2] = False  # object 2 is padding
    masked_target = lambda i: torch.tensor([2, 1, 0]).expand(2, 2, 2, 3).clone()  # noqa: E731
    with pytest.raises(ValueError, match=r"subject index 2 but frame 0 of video 0 has 2 objects"):
        run(model, relation_triplets=masked_target, object_mask=mask)


def test_ids_must_be_in_the_vocabularies(model):
    with pytest.raises(ValueError, match=r"object class id 5 outside \[0, 5\)"):
        run(model, object_labels=lambda i: torch.full_like(i["object_labels"], 5))
    with pytest.raises(ValueError, match=r"predicate id 7 outside \[0, 3\)"):
        run(model, relation_triplets=lambda i: torch.tensor([0, 7, 1]).expand(2, 2, 2, 3).clone())


def test_capacity_limits_are_enforced(model):
    with pytest.raises(ValueError, match=r"holds 5 entries per frame but `config.max_persons` is 4"):
        run(model, pose_keypoints=torch.rand(2, 2, 5, 17, 3), pose_mask=None)


def test_a_listed_expert_needs_its_input(model):
    with pytest.raises(ValueError, match=r"'action' expert is in `config.experts` but `pose_keypoints` was not given"):
        run(model, pose_keypoints=None, pose_mask=None)
    with pytest.raises(ValueError, match=r"'background' expert .* `background_pixel_values` or `background_features`"):
        run(model, background_pixel_values=None)
    with pytest.raises(ValueError, match="'object_relation' expert"):
        run(model, object_labels=None)


def test_inputs_of_unlisted_experts_are_ignored(caplog):
    """Inputs of an expert that is not configured change nothing (even malformed ones) and a warning names them."""
    from transformers.utils import logging as hf_logging

    model = build_model(experts=["object_relation", "global"])
    without = run(model, pose_keypoints=None, pose_mask=None, background_pixel_values=None)
    hf_logging.get_logger("x").warning_once.cache_clear()  # the message may have been logged once already
    hf_logging.enable_propagation()
    try:
        with caplog.at_level("WARNING"):
            out = run(model, pose_keypoints=torch.rand(2, 9, 1, 17, 3))  # wrong frames, but the expert is not used
    finally:
        hf_logging.disable_propagation()
    torch.testing.assert_close(out.logits, without.logits, atol=0, rtol=0)
    assert "Ignoring ['pose_keypoints', 'pose_mask']: the 'action' expert is not in" in caplog.text


def test_both_background_inputs_and_wrong_feature_width(model):
    with pytest.raises(ValueError, match="either `background_pixel_values` or `background_features`"):
        run(model, background_features=torch.randn(2, 2, 5, 24))
    with pytest.raises(ValueError, match=r"width 7 but the background tower's hidden size is 24"):
        run(model, background_pixel_values=None, background_features=torch.randn(2, 2, 5, 7))


def test_expert_inputs_without_a_video(model):
    inputs = prepare_inputs()
    inputs.pop("pixel_values_videos")
    inputs["input_ids"] = inputs["input_ids"].clamp(max=100)
    with pytest.raises(ValueError, match="without `pixel_values_videos`"):
        model(**inputs)


def test_video_placeholder_count_must_match_the_features(model):
    inputs = prepare_inputs()
    inputs["input_ids"] = inputs["input_ids"][:, 3:]
    inputs["attention_mask"] = inputs["attention_mask"][:, 3:]
    with pytest.raises(ValueError, match="do not match"):
        with torch.no_grad():
            model(**inputs)


def test_unknown_expert_name_in_config_raises():
    with pytest.raises(ValueError, match=r"Unknown expert\(s\) \['scene'\]"):
        build_model(experts=["scene", "global"])


def _with_value(name: str, index: tuple, value: float):
    def change(inputs):
        changed = inputs[name].clone()
        changed[index] = value
        return changed

    return change


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")], ids=["nan", "inf", "-inf"])
def test_non_finite_keypoints_and_boxes_are_rejected_naming_the_input(model, value):
    """A NaN or inf would make the whole mixture (and the logits) non-finite: one clear error names the input."""
    with pytest.raises(
        ValueError, match=r"`pose_keypoints` must be finite with x, y and score in \[0, 1\].* at \[1, 0, 1, 5, 0\]"
    ):
        run(model, pose_keypoints=_with_value("pose_keypoints", (1, 0, 1, 5, 0), value))
    with pytest.raises(ValueError, match=r"`object_boxes` must be finite, got .* at \[0, 1, 2, 3\] \(1 such values\)"):
        run(model, object_boxes=_with_value("object_boxes", (0, 1, 2, 3), value))
    with pytest.raises(ValueError, match=r"`background_pixel_values` must be finite"):
        run(model, background_pixel_values=_with_value("background_pixel_values", (0, 0, 0, 1, 1), value))


def test_keypoints_outside_the_unit_square_are_rejected(model):
    """The processor clamps keypoints to the view (a keypoint outside it gets score 0); a hand-made one outside [0, 1]
    is refused, like a box."""
    with pytest.raises(ValueError, match=r"`pose_keypoints` must be finite .* got 1.5 at \[0, 1, 0, 3, 1\]"):
        run(model, pose_keypoints=_with_value("pose_keypoints", (0, 1, 0, 3, 1), 1.5))
    with pytest.raises(ValueError, match=r"got -0.25 at \[0, 0, 0, 0, 2\]"):
        run(model, pose_keypoints=_with_value("pose_keypoints", (0, 0, 0, 0, 2), -0.25))


def test_non_finite_values_in_padding_slots_change_nothing(model):
    """A padding (masked) person or object may hold anything, NaN included: it is zeroed before the experts (a NaN
    times a zero attention weight or adjacency entry would still be NaN) and not checked."""
    pose_mask = torch.ones(2, 2, 2, dtype=torch.bool)
    pose_mask[:, :, 1] = False
    object_mask = torch.ones(2, 2, 3, dtype=torch.bool)
    object_mask[:, :, -1] = False
    relations = torch.tensor([0, 1, 1]).expand(2, 2, 2, 3).clone()

    def padded(value):
        keypoints = lambda i: i["pose_keypoints"].index_fill(2, torch.tensor([1]), value)  # noqa: E731
        boxes = lambda i: i["object_boxes"].index_fill(2, torch.tensor([2]), value)  # noqa: E731
        return run(
            model,
            pose_keypoints=keypoints,
            pose_mask=pose_mask,
            object_boxes=boxes,
            object_mask=object_mask,
            relation_triplets=relations,
        )

    clean, garbage = padded(0.5), padded(float("nan"))
    assert torch.isfinite(garbage.logits).all()
    torch.testing.assert_close(garbage.logits, clean.logits, atol=0, rtol=0)


def test_the_value_checks_can_be_switched_off():
    """`config.check_expert_inputs=False` (the processor checked the inputs): no check, no host synchronisation; an
    out-of-vocabulary id is then clamped by the expert instead of raising."""
    unchecked = build_model(check_expert_inputs=False)
    out = run(unchecked, object_labels=lambda i: torch.full_like(i["object_labels"], 5))
    assert torch.isfinite(out.logits).all()
    with pytest.raises(ValueError, match="object class id 5"):
        run(build_model(), object_labels=lambda i: torch.full_like(i["object_labels"], 5))
