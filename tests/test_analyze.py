"""Event scores from generation log-probabilities: each answer line is scored by its own tokens."""

import math

import pytest

from sherlock.analyze import line_scores
from sherlock.tiny_models import train_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer()


def test_each_line_is_scored_by_the_geometric_mean_of_its_tokens(tokenizer):
    first, second = "1.0-2.0s: (people, Theft, car, Street)", "3.5-4.0s: (man, Fighting, none, School)"
    ids = tokenizer(first + "\n" + second, add_special_tokens=False)["input_ids"]
    logprobs = [-0.1 * (i + 1) for i in range(len(ids))]
    lines = line_scores(ids, logprobs, tokenizer)
    assert [text for text, _ in lines] == [first, second]
    # the tokens up to and including the one that carries the newline belong to the first line
    decoded, cut = "", None
    for position in range(len(ids)):
        decoded = tokenizer.decode(ids[: position + 1])
        if "\n" in decoded:
            cut = position + 1
            break
    expected_first = math.exp(sum(logprobs[:cut]) / cut)
    expected_second = math.exp(sum(logprobs[cut:]) / (len(ids) - cut))
    assert lines[0][1] == pytest.approx(expected_first) and lines[1][1] == pytest.approx(expected_second)
    assert 0 < lines[1][1] < lines[0][1] <= 1  # later tokens were given lower log-probabilities


def test_blank_lines_and_a_certain_answer(tokenizer):
    ids = tokenizer("No abnormal event.\n\n", add_special_tokens=False)["input_ids"]
    lines = line_scores(ids, [0.0] * len(ids), tokenizer)
    assert lines[0] == ("No abnormal event.", 1.0)
    assert all(score == 1.0 for _, score in lines)
    assert line_scores([], [], tokenizer) == []
