"""The suite's deprecation guard (tests/conftest.py) catches what transformers logs, not only what it warns."""

import warnings

import pytest


def test_a_logged_transformers_deprecation_is_caught(transformers_deprecation_logs):
    from transformers.utils import logging as hf_logging

    hf_logging.get_logger("transformers.models.video_llava").warning("`video_hidden_states` is deprecated")
    hf_logging.get_logger("transformers.models.video_llava").warning("an ordinary warning")
    assert transformers_deprecation_logs.messages == [
        "transformers.models.video_llava: `video_hidden_states` is deprecated"
    ]
    transformers_deprecation_logs.messages.clear()  # caught: do not fail this test


def test_future_warnings_are_errors():
    with pytest.raises(FutureWarning):
        warnings.warn("`gradient_checkpointing_enable` is deprecated", FutureWarning, stacklevel=1)
