"""The event record of the metrics: built from dicts, AbnormalEvents and EvalEvents, with clear errors."""

import pytest

from processing import AbnormalEvent
from sherlock.evaluation import EvalEvent, as_event, as_events_by_video


def test_events_from_dicts_abnormal_events_and_eval_events_are_the_same_record():
    fields = {"start": 1, "end": 2.5, "subject": "man", "event_type": "Fighting", "object": "man", "scene": "Street"}
    from_dict = as_event({**fields, "score": 0.5})
    from_abnormal = as_event(AbnormalEvent(**{**fields, "start": 1.0}, score=0.5))
    assert from_dict == from_abnormal == EvalEvent(1.0, 2.5, "man", "Fighting", "man", "Street", 0.5)
    assert as_event(from_dict) is from_dict
    assert isinstance(from_dict.start, float) and from_dict.has_span
    assert from_dict.quadruple == ("man", "Fighting", "man", "Street")


def test_missing_fields_are_none():
    event = as_event({"event_type": "Theft"})
    assert event == EvalEvent(event_type="Theft") and not event.has_span
    assert not as_event({"start": 3.0}).has_span


@pytest.mark.parametrize(
    "record, message",
    [
        ({"start": "1", "end": 2}, "`start` must be a number or null, got '1'"),
        ({"start": 1, "end": True}, "`end` must be a number or null, got True"),
        ({"start": 3, "end": 2}, r"`end` \(2.0\) is before `start` \(3.0\)"),
        ({"subject": 4}, "`subject` must be a string or null, got 4"),
        ({"score": [1]}, r"`score` must be a number or null, got \[1\]"),
    ],
)
def test_bad_records_raise_naming_the_field(record, message):
    with pytest.raises(ValueError, match=message):
        as_event(record)


def test_events_by_video_keeps_every_video_and_its_order():
    grouped = as_events_by_video({7: [{"start": 0, "end": 1}, {"start": 2, "end": 3}], "b": []})
    assert list(grouped) == ["7", "b"]
    assert [event.start for event in grouped["7"]] == [0.0, 2.0] and grouped["b"] == []
