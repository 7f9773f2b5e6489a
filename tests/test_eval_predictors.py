"""Events without times through the evaluation (issue 20, item 5): a generated quadruple without a valid time span
is kept by the evaluation's predictor, scored by the extraction F1 and counted apart by the localisation."""

import pytest

from sherlock.evaluation.dataset import VideoItem
from sherlock.evaluation.localization import map_at_tiou
from sherlock.evaluation.predictions import prediction_line, read_predictions
from sherlock.evaluation.predictors import scored_events
from sherlock.evaluation.scoring import score

from forced_answer import forced_generation_kwargs
from video_factory import write_video


QUADRUPLE = {"subject": "people", "event_type": "Fighting", "object": "none", "scene": "Street"}
GOLD_ROWS = [{"video_id": "v", "video": "v.mp4", "duration": 3.0, "events": [{"start": 1.0, "end": 3.0, **QUADRUPLE}]}]


@pytest.fixture(scope="module")
def tokenizer():
    from sherlock.tiny_models import train_tokenizer

    return train_tokenizer()


def test_scored_events_keep_a_line_without_times_on_request(tokenizer):
    answer = "1.0-2.0s: (car, Accidents, car, Road)\n(people, Fighting, none, Street)"
    ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    logprobs = [-0.1] * (len(ids) // 2) + [-1.0] * (len(ids) - len(ids) // 2)
    assert [e.event_type for e in scored_events(ids, logprobs, tokenizer, duration=3.0)] == ["Accidents"]
    events = scored_events(ids, logprobs, tokenizer, duration=3.0, keep_events_without_times=True)
    assert [(e.start, e.end, e.event_type) for e in events] == [(1.0, 2.0, "Accidents"), (None, None, "Fighting")]
    assert 0 < events[1].score < events[0].score < 1  # each event keeps its own line's score


@pytest.fixture(scope="module")
def untimed_prediction(tmp_path_factory):
    """What `SherlockPredictor` makes of a tiny Sherlock forced to answer a quadruple without times."""
    from modeling_sherlock import SherlockForConditionalGeneration
    from processing import SherlockProcessor
    from sherlock.evaluation.sherlock_predictor import SherlockPredictor
    from sherlock.tiny_extractors import tiny_extractor_models, tiny_extractor_settings
    from sherlock.tiny_models import build_tiny_sherlock

    root = tmp_path_factory.mktemp("untimed")
    # a random model: the forcing bonus decides its every token (a trained one has logits of its own)
    folder = build_tiny_sherlock(root / "model", extractors=tiny_extractor_settings(tiny_extractor_models()))
    video = write_video(root / "v.mp4", num_frames=24, fps=8.0, size=(96, 64))
    processor = SherlockProcessor.from_pretrained(folder)
    processor.feature_cache_dir = str(root / "cache")
    model = SherlockForConditionalGeneration.from_pretrained(folder).eval()
    answer = "({subject}, {event_type}, {object}, {scene})".format(**QUADRUPLE)
    predictor = SherlockPredictor(
        model, processor, max_new_tokens=24, **forced_generation_kwargs(processor.tokenizer, answer)
    )
    [prediction] = predictor.predict([VideoItem("v", str(video))], {})
    assert prediction.answer == answer
    return prediction


def test_the_predictor_keeps_a_quadruple_without_times(untimed_prediction):
    [event] = untimed_prediction.events
    assert (event.start, event.end) == (None, None)
    assert dict(zip(QUADRUPLE, event.quadruple)) == QUADRUPLE
    assert 0 < event.score < 1


def test_a_correct_quadruple_without_times_is_an_extraction_hit_and_counted_apart_in_localisation(
    untimed_prediction, tmp_path
):
    # through the prediction file, as `sherlock evaluate` writes and reads it
    path = tmp_path / "predictions.jsonl"
    path.write_text(prediction_line("v", untimed_prediction.answer, untimed_prediction.events))
    predictions, _ = read_predictions(path, ["v"])
    metrics = score(GOLD_ROWS, predictions)
    assert metrics["extraction"]["quadruple"] == 1.0
    assert all(value == 1.0 for value in metrics["extraction"]["single"].values())
    localization = metrics["details"]["localization"]
    assert localization["predictions_without_times"] == 1
    # localisation (localization.py's docstring): not a false positive, not a hit; the gold span is missed
    assert metrics["localization"]["map@0.1"] == 0.0
    assert metrics["details"]["counts"]["predicted_events"] == 1


def test_an_event_without_times_costs_no_false_positive_in_the_map(untimed_prediction):
    untimed = untimed_prediction.events[0]
    timed = {"start": 1.0, "end": 3.0, **QUADRUPLE, "score": untimed.score / 2}  # ranked after the untimed one
    gold = {"v": [GOLD_ROWS[0]["events"][0]]}
    with_untimed = map_at_tiou(gold, {"v": [untimed, timed]})
    assert with_untimed["map@0.3"] == map_at_tiou(gold, {"v": [timed]})["map@0.3"] == 1.0
    assert with_untimed["predictions_without_times"] == 1
