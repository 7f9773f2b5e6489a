"""SherlockConfig: defaults, validation with ValueErrors that name the bad value, round trips."""

import pytest

from modeling_sherlock import EXPERT_NAMES, SherlockConfig

from sherlock_tester import get_config


def test_defaults_are_the_paper_settings():
    config = SherlockConfig()
    assert config.model_type == "sherlock"
    assert config.experts == list(EXPERT_NAMES)
    assert config.gate == "soft" and config.gsb_variant == "paper"
    assert config.gsb_loss_coef == pytest.approx(0.4)
    assert config.num_keypoints == 17
    # the background tower defaults to a copy of the video tower's config (not the same object)
    assert config.background_vision_config.to_dict() == config.vision_config.to_dict()
    assert config.background_vision_config is not config.vision_config


def test_no_background_tower_without_the_background_expert():
    config = SherlockConfig(experts=["action", "global"])
    assert config.background_vision_config is None
    assert config.local_experts == ["action"]


def test_round_trip_through_dict_and_folder(tmp_path):
    config = get_config(
        experts=["object_relation", "global"], gate="uniform", gsb_variant="uniform", gsb_loss_coef=0.0
    )
    config.save_pretrained(tmp_path)
    loaded = SherlockConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    again = SherlockConfig(**get_config().to_dict())
    assert again.background_vision_config.hidden_size == get_config().background_vision_config.hidden_size


@pytest.mark.parametrize(
    "overrides, needle",
    [
        ({"experts": ["action", "pose"]}, "'pose'"),
        ({"experts": []}, "empty"),
        ({"experts": ["action", "action"]}, "more than once"),
        ({"gate": "hard"}, "'hard'"),
        ({"gsb_variant": "balanced"}, "'balanced'"),
        ({"gsb_loss_coef": -0.1}, "-0.1"),
        ({"expert_hidden_size": 0}, "expert_hidden_size"),
        ({"expert_hidden_size": 30, "expert_num_heads": 4}, "(30)"),
        ({"num_keypoints": 18}, "18"),
        ({"max_objects": 0}, "max_objects"),
    ],
)
def test_invalid_fields_raise_value_errors_naming_the_value(overrides, needle):
    with pytest.raises(ValueError) as error:
        SherlockConfig(**overrides)
    assert needle in str(error.value)
