"""Tests of the answer format (processing/events_sherlock.py and the modules it re-exports from): `format_events` and
`post_process_events`."""

import ast
import doctest
import logging
import math
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processing import (
    abnormal_event_sherlock,
    answer_format_sherlock,
    answer_json_sherlock,
    answer_parser_sherlock,
    answer_spans_sherlock,
    answer_text_sherlock,
    events_sherlock,
)
from processing.events_sherlock import (
    ANSWER_LINE_FORMAT,
    NO_EVENT_ANSWER,
    AbnormalEvent,
    format_events,
    post_process_events,
)
from processing.vocabulary_sherlock import ENTITIES, EVENT_TYPES, SCENES


QUAD = ("people", "Theft", "car", "Street")
NONE4 = (None, None, None, None)


def as_tuples(events):
    return [(event.start, event.end, *event.quadruple) for event in events]


def assert_valid(events, duration=None):
    """Properties every parse result has, whatever the text."""
    assert all(isinstance(event, AbnormalEvent) for event in events)
    assert [(e.start, e.end) for e in events] == sorted((e.start, e.end) for e in events)
    for event in events:
        assert math.isfinite(event.start) and math.isfinite(event.end)
        assert 0 <= event.start <= event.end
        if duration is not None:
            assert event.end <= duration
        assert event.subject in (None, *ENTITIES)
        assert event.object in (None, *ENTITIES)
        assert event.event_type in (None, *EVENT_TYPES)
        assert event.scene in (None, *SCENES)


# ---------------------------------------------------------------------------------------------------------------------
# AbnormalEvent and the constants
# ---------------------------------------------------------------------------------------------------------------------


def test_abnormal_event_record():
    event = AbnormalEvent(23.0, 25.0, "people", "Theft", "car", "Street", score=0.5)
    assert event.quadruple == QUAD
    assert event.to_dict() == {
        "start": 23.0,
        "end": 25.0,
        "subject": "people",
        "event_type": "Theft",
        "object": "car",
        "scene": "Street",
        "score": 0.5,
    }
    assert AbnormalEvent.from_dict({**event.to_dict(), "video_id": "00001"}) == event
    assert AbnormalEvent(1.0, 2.0).quadruple == NONE4


def test_answer_line_format_and_no_event_answer():
    assert NO_EVENT_ANSWER == "No abnormal event."
    line = ANSWER_LINE_FORMAT.format(**AbnormalEvent(23, 25.04, *QUAD).to_dict())
    assert line == "23.0-25.0s: (people, Theft, car, Street)"


# ---------------------------------------------------------------------------------------------------------------------
# format_events
# ---------------------------------------------------------------------------------------------------------------------


def test_format_events_sorts_by_start_then_end_and_is_exact():
    events = [
        AbnormalEvent(40.5, 52.0, "man", "Fighting", "man", "Street"),
        AbnormalEvent(23.0, 30.0, "dog", "Animals", "child", "Lawn"),
        AbnormalEvent(23.0, 25.0, *QUAD),
        AbnormalEvent(0.0, 0.0, "woman", "Pedestrian", "none", "Road"),
    ]
    assert format_events(events) == (
        "0.0-0.0s: (woman, Pedestrian, none, Road)\n"
        "23.0-25.0s: (people, Theft, car, Street)\n"
        "23.0-30.0s: (dog, Animals, child, Lawn)\n"
        "40.5-52.0s: (man, Fighting, man, Street)"
    )


def test_format_events_keeps_the_order_of_ties():
    first = AbnormalEvent(1.0, 2.0, "man", "Fighting", "man", "Street")
    second = AbnormalEvent(1.0, 2.0, "woman", "Fighting", "woman", "Street")
    assert format_events([second, first]).splitlines() == [
        "1.0-2.0s: (woman, Fighting, woman, Street)",
        "1.0-2.0s: (man, Fighting, man, Street)",
    ]


def test_format_events_empty_and_mappings():
    assert format_events([]) == "No abnormal event."
    row = {"start": 3, "end": 7.25, "subject": "wild animal", "event_type": "Animals", "object": "none"}
    row["scene"] = "Wild"
    row["video_id"] = "00002"  # extra keys of a dataset row are ignored
    assert format_events([row]) == "3.0-7.2s: (wild animal, Animals, none, Wild)"
    assert format_events([AbnormalEvent(-0.0, 1.0, *QUAD)]) == "0.0-1.0s: (people, Theft, car, Street)"


@pytest.mark.parametrize(
    "event, message",
    [
        (AbnormalEvent(1.0, 2.0, None, "Theft", "car", "Street"), "subject is missing"),
        (AbnormalEvent(1.0, 2.0, "people", None, "car", "Street"), "event_type is missing"),
        (AbnormalEvent(1.0, 2.0, "people", "Theft", None, "Street"), "object is missing"),
        (AbnormalEvent(1.0, 2.0, "people", "Theft", "car", None), "scene is missing"),
        (AbnormalEvent(1.0, 2.0, "people", "steal", "car", "Street"), "'steal'"),
        (AbnormalEvent(1.0, 2.0, "persons", "Theft", "car", "Street"), "'persons'"),
        (AbnormalEvent(1.0, 2.0, "people", "Theft", "Car", "Street"), "'Car'"),
        (AbnormalEvent(1.0, 2.0, "people", "Theft", "car", "street"), "'street'"),
        (AbnormalEvent(-1.0, 2.0, *QUAD), "-1.0"),
        (AbnormalEvent(3.0, 2.0, *QUAD), "end (2.0) is before start (3.0)"),
        (AbnormalEvent(float("nan"), 2.0, *QUAD), "nan"),
        (AbnormalEvent(1.0, float("inf"), *QUAD), "inf"),
        (AbnormalEvent("1.0", 2.0, *QUAD), "'1.0'"),
        ({"end": 2.0, "subject": "people"}, "start missing"),
    ],
)
def test_format_events_is_strict(event, message):
    valid = AbnormalEvent(0.0, 1.0, *QUAD)
    with pytest.raises(ValueError) as error:
        format_events([valid, event])
    assert message in str(error.value)
    assert "Event 1" in str(error.value)


def test_format_events_rejects_other_types():
    with pytest.raises(TypeError, match="tuple"):
        format_events([(1.0, 2.0, *QUAD)])


# ---------------------------------------------------------------------------------------------------------------------
# Round trip
# ---------------------------------------------------------------------------------------------------------------------

_events = st.lists(
    st.builds(
        lambda start, length, subject, event_type, object_, scene: AbnormalEvent(
            start / 10, (start + length) / 10, subject, event_type, object_, scene
        ),
        st.integers(0, 6000),
        st.integers(0, 600),
        st.sampled_from(ENTITIES),
        st.sampled_from(EVENT_TYPES),
        st.sampled_from(ENTITIES),
        st.sampled_from(SCENES),
    ).filter(lambda event: event.end <= 600),
    max_size=6,
)


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(_events, st.sampled_from([None, 600.0]))
def test_format_then_parse_round_trip(events, duration):
    text = format_events(events)
    parsed = post_process_events(text, duration=duration)
    expected = sorted(((round(e.start, 1), round(e.end, 1), *e.quadruple) for e in events), key=lambda t: t[:2])
    assert [(round(e.start, 1), round(e.end, 1), *e.quadruple) for e in parsed] == expected
    assert all(event.score is None for event in parsed)
    assert format_events(parsed) == text  # the canonical answer is a fixed point


# ---------------------------------------------------------------------------------------------------------------------
# Hand-written answers (the canonical format and what Video-LLMs write instead)
# ---------------------------------------------------------------------------------------------------------------------

VARIANTS = [
    # --- canonical and near-canonical ---
    ("canonical", "23.0-25.0s: (people, Theft, car, Street)", {}, [(23.0, 25.0, *QUAD)]),
    (
        "canonical, two lines, unsorted",
        "40.5-52.0s: (man, Fighting, man, Street)\n23.0-25.0s: (people, Theft, car, Street)",
        {},
        [(23.0, 25.0, *QUAD), (40.5, 52.0, "man", "Fighting", "man", "Street")],
    ),
    ("paper braces", "{23s, 25s, (people, steal, car, street)}", {}, [(23.0, 25.0, *QUAD)]),
    ("synonyms in the quadruple", "23s-25s: (thieves, stealing, bikes, residential area)", {},
     [(23.0, 25.0, "thief", "Theft", "bicycle", "Residence")]),
    ("comma label without brackets", "23.0-25.0s: people, steal, car, street.", {}, [(23.0, 25.0, *QUAD)]),
    ("flat bracket list", "[23s, 25s, people, steal, car, street]", {}, [(23.0, 25.0, *QUAD)]),
    ("unknown words give None fields", "1-2s: (alien, teleporting, spaceship, Mars)", {},
     [(1.0, 2.0, None, None, None, None)]),
    ("one line, two events", "23-25s: (people, Theft, car, Street); 40-45s: (man, Fighting, man, Road)", {},
     [(23.0, 25.0, *QUAD), (40.0, 45.0, "man", "Fighting", "man", "Road")]),
    ("quadruple before the span", "(people, Theft, car, Street): 23.0-25.0s\n(man, fight, man, road): 30-35s", {},
     [(23.0, 25.0, *QUAD), (30.0, 35.0, "man", "Fighting", "man", "Road")]),
    # --- time spans only ---
    ("bracket fraction without duration", "[0.0, 0.12]", {}, [(0.0, 0.12, *NONE4)]),
    ("bracket fraction with duration", "[0.0, 0.12]", {"duration": 50.0}, [(0.0, 6.0, *NONE4)]),
    ("from ... to ... seconds", "from 23 to 25 seconds", {}, [(23.0, 25.0, *NONE4)]),
    ("between ... and ...", "The event happens between 23s and 25s.", {}, [(23.0, 25.0, *NONE4)]),
    ("dash with unit", "23-25s", {}, [(23.0, 25.0, *NONE4)]),
    ("units on both", "23s-25s", {}, [(23.0, 25.0, *NONE4)]),
    ("en dash and spaced unit", "23 – 25 s", {}, [(23.0, 25.0, *NONE4)]),
    ("mm:ss", "00:23-00:25", {}, [(23.0, 25.0, *NONE4)]),
    ("m:ss to m:ss", "0:23 to 1:05", {}, [(23.0, 65.0, *NONE4)]),
    ("h:mm:ss", "1:05:30 to 1:06:00", {}, [(3930.0, 3960.0, *NONE4)]),
    ("minutes", "2-3 min: a fire breaks out in the factory", {}, [(120.0, 180.0, None, "Fire", None, None)]),
    ("start/end keys", "Start time: 3.5s, end time: 7s.", {}, [(3.5, 7.0, *NONE4)]),
    # --- Video-LLM habits ---
    (
        "Video-LLaVA prose",
        "The abnormal event happens from 23.5 to 25 seconds, where a man steals a car on the street.",
        {},
        [(23.5, 25.0, None, "Theft", None, None)],
    ),
    (
        "Video-LLaVA prose, event named before the span",
        "In the video, a man is seen stealing a bike from the street. The theft occurs from 12 seconds to 20 seconds.",
        {},
        [(12.0, 20.0, None, "Theft", None, None)],
    ),
    (
        "Video-LLaVA quadruple then span in another sentence",
        "The quadruple for the abnormal event in the video is (man, fighting, woman, street). "
        "The abnormal event occurs between 0:05 and 0:10.",
        {},
        [(5.0, 10.0, "man", "Fighting", "woman", "Street")],
    ),
    (
        "Video-ChatGPT prose with clock times",
        "The abnormal event in the video occurs from 0:23 to 0:25, when a man on a motorcycle crashes into a car.",
        {},
        [(23.0, 25.0, None, "Accidents", None, None)],
    ),
    ("clock label", "00:12 - 00:18: fighting", {}, [(12.0, 18.0, None, "Fighting", None, None)]),
    (
        "TimeChat style, two sentences",
        "0.0 - 10.5 seconds, a group of people fight on the street. 30.2 - 40.0 seconds, the police arrive.",
        {},
        [(0.0, 10.5, None, "Fighting", None, None), (30.2, 40.0, *NONE4)],
    ),
    (
        "numbered list",
        "1. 0:05 - 0:10: a man punches another man\n2. 0:15 - 0:20: a dog bites a child",
        {},
        [(5.0, 10.0, None, "Fighting", None, None), (15.0, 20.0, None, "Animals", None, None)],
    ),
    (
        "markdown bullets and bold",
        "Sure! Here are the abnormal events:\n- **00:10-00:15**: (two men, brawl, each other, parking lot)\n"
        "- **00:40-00:52**: (a woman, falls, nothing, sidewalk)\n\nLet me know if you need more details.",
        {},
        [(10.0, 15.0, "man", "Fighting", None, "Road"), (40.0, 52.0, "woman", "Pedestrian", "none", "Street")],
    ),
    (
        "JSON list in a code fence",
        'Here is the result:\n```json\n[{"start": 23, "end": 25, "subject": "people", "event_type": "Theft", '
        '"object": "car", "scene": "street"}, {"start": "0:40", "end": "0:52", "subject": "men", '
        '"event_type": "fight", "object": "men", "scene": "school"}]\n```',
        {},
        [(23.0, 25.0, *QUAD), (40.0, 52.0, "man", "Fighting", "man", "School")],
    ),
    (
        "nested JSON with timestamps, event and quadruple keys",
        '{"abnormal_events": [{"timestamps": ["00:05", "00:09"], "event": "fighting", "type": "ignored"}, '
        '{"time": "12-15s", "quadruple": ["dog", "bite", "kid", "park"]}]}',
        {},
        [(5.0, 9.0, None, "Fighting", None, None), (12.0, 15.0, "dog", "Animals", "child", "Lawn")],
    ),
    ("JSON fraction timestamps", '[{"timestamps": [0.25, 0.5], "type": "fire"}]', {"duration": 40.0},
     [(10.0, 20.0, None, "Fire", None, None)]),
    ("Python literal", "[{'start': 1, 'end': 2, 'type': 'arson', 'location': 'forest'}]", {},
     [(1.0, 2.0, None, "Fire", None, "Forest")]),
    (
        "key: value fields before the span",
        "Subject: a man\nEvent type: robbery\nObject: the bank\nScene: bank\nTime: 10s to 20s",
        {},
        [(10.0, 20.0, "man", "Robbery", "bank", "Bank")],
    ),
    (
        "event blocks with the quadruple on the next line",
        "Event 1:\n- Time: 23-25s\n- Quadruple: (people, Theft, car, Street)\n"
        "Event 2:\n- Time: 30-35s\n- Quadruple: (man, Fighting, man, Road)",
        {},
        [(23.0, 25.0, *QUAD), (30.0, 35.0, "man", "Fighting", "man", "Road")],
    ),
    # --- chat templates and special tokens ---
    (
        "echoed Video-LLaVA prompt, stop token and padding",
        "USER: <video>\nThe video lasts 80.0 seconds; frames sampled at 0.0s, 10.0s, 20.0s. Generate a quadruple and "
        "localize an abnormal event in the video. ASSISTANT: 12.0-14.0s: (man, Vandalism, window, Shop)</s><pad><pad>",
        {},
        [(12.0, 14.0, "man", "Vandalism", "window", "Shop")],
    ),
    ("ChatML", "<|im_start|>assistant\n3.0-6.0s: (dog, Animals, child, Lawn)<|im_end|>\n<|im_start|>user\n1-2s",
     {}, [(3.0, 6.0, "dog", "Animals", "child", "Lawn")]),
    ("text after the stop token is ignored", "5-9s: (crowd, riot, shop, mall)</s> 50-60s: (man, fire, car, road)",
     {}, [(5.0, 9.0, "crowd", "Fighting", "shop", "Commercial")]),
    # --- no event ---
    ("no abnormal event", "No abnormal event.", {}, []),
    ("no abnormal events", "no abnormal events", {}, []),
    ("there is no abnormal event", "There is no abnormal event in this video.</s>", {}, []),
    ("nothing abnormal", "Nothing abnormal happens in the video.", {}, []),
    ("no event with a span in prose", "There are no abnormal events between 0 and 30 seconds.", {}, []),
    ("echoed prompt, no event", "USER: <video>\nThe video lasts 80.0 seconds. ASSISTANT: No abnormal event.</s>", {},
     []),
    # --- things that are not spans ---
    ("dates and counts", "Recorded on 2023-05-01, 3-4 people walk by.", {}, []),
    ("a single time", "The event happens at 12 seconds.", {}, []),
    ("clock seconds >= 60 are unreadable", "00:75-00:80: (people, Theft, car, Street)", {}, []),
    ("a quadruple without a span", "(people, Theft, car, Street)", {}, []),
]  # fmt: skip


def test_there_are_enough_variants():
    assert len(VARIANTS) >= 25
    assert len({name for name, *_ in VARIANTS}) == len(VARIANTS)


@pytest.mark.parametrize("name, text, kwargs, expected", VARIANTS, ids=[variant[0] for variant in VARIANTS])
def test_answer_variants(name, text, kwargs, expected):
    events = post_process_events(text, **kwargs)
    assert as_tuples(events) == [tuple(pytest.approx(v) if isinstance(v, float) else v for v in e) for e in expected]
    assert_valid(events, kwargs.get("duration"))


# ---------------------------------------------------------------------------------------------------------------------
# Times: swapping, clamping, fractions
# ---------------------------------------------------------------------------------------------------------------------


def test_reversed_spans_are_swapped():
    assert as_tuples(post_process_events("25-23s: (people, Theft, car, Street)")) == [(23.0, 25.0, *QUAD)]
    assert as_tuples(post_process_events("{25s, 23s, (people, steal, car, street)}")) == [(23.0, 25.0, *QUAD)]
    assert as_tuples(post_process_events('[{"start": 9, "end": 5}]')) == [(5.0, 9.0, *NONE4)]


def test_clamping_to_the_duration():
    text = "70-100s: (people, Theft, car, Street)\n90-100s: (man, Fighting, man, Road)\n5-5s: (dog, bite, child, park)"
    events = post_process_events(text, duration=80.0)
    # 70-100 is cut at 80; 90-100 lies after the video and is dropped; a zero-length span inside is kept
    assert as_tuples(events) == [(5.0, 5.0, "dog", "Animals", "child", "Lawn"), (70.0, 80.0, *QUAD)]
    assert as_tuples(post_process_events(text)) == [
        (5.0, 5.0, "dog", "Animals", "child", "Lawn"),
        (70.0, 100.0, *QUAD),
        (90.0, 100.0, "man", "Fighting", "man", "Road"),
    ]


def test_negative_json_times_are_clamped_at_zero():
    events = post_process_events('[{"start": -5, "end": 3}, {"start": -9, "end": -2}]')
    assert as_tuples(events) == [(0.0, 3.0, *NONE4)]
    assert math.copysign(1.0, events[0].start) == 1.0


def test_unreadable_json_times_are_dropped():
    text = '[{"start": "soon", "end": 3}, {"start": NaN, "end": 4}, {"start": 1, "end": Infinity}, {"start": 1, "end": 2}]'
    assert as_tuples(post_process_events(text)) == [(1.0, 2.0, *NONE4)]


@pytest.mark.parametrize(
    "text, duration, expected",
    [
        ("[0.25, 0.5]", 40.0, (10.0, 20.0)),
        ("[0.25, 0.5]", None, (0.25, 0.5)),  # no duration: seconds
        ("[0.5, 2]", 40.0, (0.5, 2.0)),  # not both <= 1: seconds
        ("[0.25s, 0.5s]", 40.0, (0.25, 0.5)),  # explicit unit: seconds
        ("0.25-0.5s", 40.0, (0.25, 0.5)),  # not bracketed: seconds
        ("(0.1, 0.2)", 10.0, (1.0, 2.0)),
        ("[0.1-0.2]", 10.0, (1.0, 2.0)),
        ("[0, 1]", 30.0, (0.0, 30.0)),
    ],
)
def test_fraction_spans(text, duration, expected):
    events = post_process_events(text, duration=duration)
    assert [(e.start, e.end) for e in events] == [pytest.approx(expected)]


def test_invalid_duration_raises():
    with pytest.raises(ValueError, match="-1.0"):
        post_process_events("1-2s", duration=-1)
    with pytest.raises(ValueError, match="nan"):
        post_process_events("1-2s", duration=float("nan"))


def test_non_str_text_raises_type_error():
    with pytest.raises(TypeError, match="bytes"):
        post_process_events(b"1-2s")


# ---------------------------------------------------------------------------------------------------------------------
# Events without times: a quadruple with no valid time span (kept on request, for the extraction metrics)
# ---------------------------------------------------------------------------------------------------------------------

UNTIMED = (None, None, *QUAD)
_NOISE_TOKENS_FOR_UNTIMED = [
    *"0123456789:-.,;[](){}\n'\"?", "s ", "(people, Theft, car, Street)", "(man, fight, man, road)", '{"start": ',
    '"end": ', '"event": "fire"', "subject: man", " event type: theft", "??-??s: ", "No abnormal event.", "null",
]  # fmt: skip


@pytest.mark.parametrize(
    "text, duration",
    [
        ("(people, Theft, car, Street)", None),  # no time span at all
        ("??-??s: (people, Theft, car, Street)", None),
        ("00:75-00:80: (people, Theft, car, Street)", None),  # unreadable clock times
        ("90-95s: (people, Theft, car, Street)", 60.0),  # the span lies after the video
        ("subject: people, event type: Theft, object: car, scene: Street", None),
        ('{"subject": "people", "event_type": "Theft", "object": "car", "scene": "Street"}', None),
        ('[{"start": null, "end": null, "quadruple": ["people", "steal", "car", "street"]}]', None),
        ('{"start": "soon", "end": "later", "event": "theft", "subject": "people", "object": "car", "scene": "street"}', None),
    ],
)  # fmt: skip
def test_a_quadruple_without_valid_times_is_kept_on_request(text, duration):
    events = post_process_events(text, duration=duration, keep_events_without_times=True)
    assert as_tuples(events) == [UNTIMED]
    assert not events[0].has_span
    assert post_process_events(text, duration=duration) == []  # the default keeps only events with times


def test_events_without_times_come_after_the_timed_ones_in_generation_order():
    text = (
        "(man, Fighting, man, Street)\n40-50s: (people, Theft, car, Street)\n"
        "?: (car, Accidents, pedestrian, Road)\n10-20s: (people, Fire, none, Street)"
    )
    events = post_process_events(text, keep_events_without_times=True, scores=[0.1, 0.2, 0.3, 0.4])
    assert [(e.start, e.event_type, e.score) for e in events] == [
        (10.0, "Fire", 0.4),
        (40.0, "Theft", 0.2),
        (None, "Fighting", 0.1),
        (None, "Accidents", 0.3),
    ]
    # dropped or kept, an event without times consumes its score: the pairing does not depend on the flag
    assert [(e.start, e.score) for e in post_process_events(text, scores=[0.1, 0.2, 0.3, 0.4])] == [
        (10.0, 0.4),
        (40.0, 0.2),
    ]


def test_only_a_quadruple_with_a_readable_event_type_is_an_event_without_times():
    for text in ("(a man, a woman, a child, a dog)", "a list: [x, y, z]", "subject: people, scene: street", "{}"):
        assert post_process_events(text, keep_events_without_times=True) == [], text
    # an unreadable span keeps any readable field (the span says it is an event)
    events = post_process_events("00:75-00:80: (people, walks, car, Street)", keep_events_without_times=True)
    assert as_tuples(events) == [(None, None, "people", None, "car", "Street")]
    # a span with nothing readable beside its unreadable times stays dropped
    assert post_process_events("00:75-00:80: hmm", keep_events_without_times=True) == []


def test_no_event_answer_and_timed_answers_are_unchanged_by_the_flag():
    assert post_process_events("No abnormal event. (people, Theft, car, Street)", keep_events_without_times=True) == []
    text = "23.0-25.0s: (people, Theft, car, Street)\n40.5-52.0s: (man, Fighting, man, Street)"
    assert post_process_events(text, keep_events_without_times=True) == post_process_events(text)


def test_dropping_an_event_without_times_is_said_once(caplog):
    type(answer_parser_sherlock.logger).warning_once.cache_clear()
    with caplog.at_level(logging.WARNING, logger=answer_parser_sherlock.__name__):
        post_process_events("(people, Theft, car, Street)")
        post_process_events("(man, Fighting, man, Street)")
    assert caplog.text.count("without a valid time span") == 1
    assert "keep_events_without_times=True" in caplog.text


def test_an_event_without_times_is_not_a_training_target():
    with pytest.raises(ValueError, match="Event 0: start is missing"):
        format_events([AbnormalEvent(None, None, *QUAD)])


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    st.lists(st.sampled_from(_NOISE_TOKENS_FOR_UNTIMED), max_size=30).map("".join),
    st.one_of(st.none(), st.floats(0, 1000, allow_subnormal=False)),
)
def test_events_with_and_without_times_are_well_formed(text, duration):
    events = post_process_events(text, duration=duration, keep_events_without_times=True)
    timed = [e for e in events if e.has_span]
    untimed = [e for e in events if not e.has_span]
    assert events == timed + untimed  # events with times first
    assert_valid(timed, duration)
    assert all(e.start is None and e.end is None and e.quadruple != NONE4 for e in untimed)
    assert timed == post_process_events(text, duration=duration)


# ---------------------------------------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------------------------------------


def test_scores_follow_generation_order_before_sorting():
    text = "40-50s: (man, Fighting, man, Street)\n10-20s: (people, Theft, car, Street)"
    events = post_process_events(text, scores=[0.9, 0.3])
    assert [(e.start, e.score) for e in events] == [(10.0, 0.3), (40.0, 0.9)]
    assert all(e.score is None for e in post_process_events(text))


def test_dropped_spans_still_consume_their_score():
    text = "90-95s: (man, Fighting, man, Street)\n10-20s: (people, Theft, car, Street)"
    events = post_process_events(text, duration=60.0, scores=[0.9, 0.3])
    assert [(e.start, e.score) for e in events] == [(10.0, 0.3)]


def test_score_count_mismatch_warns_and_pairs_in_order(caplog):
    text = "1-2s: fire\n3-4s: fire"
    with caplog.at_level(logging.WARNING, logger=answer_parser_sherlock.__name__):
        events = post_process_events(text, scores=[0.5])
    assert [e.score for e in events] == [0.5, None]
    assert "1 scores for 2 events" in caplog.text


# ---------------------------------------------------------------------------------------------------------------------
# Robustness
# ---------------------------------------------------------------------------------------------------------------------


@settings(max_examples=300, derandomize=True, deadline=None)
# allow_subnormal=False: a video library loaded by other tests switches the CPU to flush-to-zero, under which
# hypothesis refuses to draw subnormal floats
@given(st.text(), st.one_of(st.none(), st.floats(0, 1000, allow_subnormal=False)))
def test_arbitrary_unicode_never_raises(text, duration):
    assert_valid(post_process_events(text, duration=duration), duration)


_NOISE_TOKENS = [
    *"0123456789:-–.,;[](){}<>s \n'\"",
    "to", "from ", "between ", " and ", "sec", "min", ": ", "(people, Theft, car, Street)", '{"start": ', '"end": ',
    '"timestamps": ', "subject: ", "event type: ", "ASSISTANT:", "</s>", "USER:", "[{", "{'", "```json", "No ",
    "abnormal event", "9" * 400, "1.5.5", "::",
]  # fmt: skip


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.lists(st.sampled_from(_NOISE_TOKENS), max_size=40).map("".join),
    st.one_of(st.none(), st.floats(0, 1000, allow_subnormal=False)),
    st.one_of(st.none(), st.lists(st.floats(0, 1, allow_subnormal=False), max_size=4)),
)
def test_time_like_noise_never_raises(text, duration, scores):
    events = post_process_events(text, duration=duration, scores=scores)
    assert_valid(events, duration)
    assert all(e.score is None or 0 <= e.score <= 1 for e in events)


@pytest.mark.parametrize(
    "text",
    ["[" * 5000, "{'" * 3000, "1-" * 5000, "(a, b, c, d)" * 1000, "subject: a " * 2000, "0:00-" * 3000],
)
def test_pathological_text_is_handled(text):
    assert_valid(post_process_events(text))


ANSWER_MODULES = [
    abnormal_event_sherlock,
    answer_format_sherlock,
    answer_json_sherlock,
    answer_parser_sherlock,
    answer_spans_sherlock,
    answer_text_sherlock,
    events_sherlock,
]


def test_module_doctests_pass():
    results = [doctest.testmod(module, optionflags=doctest.ELLIPSIS) for module in ANSWER_MODULES]
    assert sum(result.attempted for result in results) >= 10
    assert sum(result.failed for result in results) == 0


# ---------------------------------------------------------------------------------------------------------------------
# The split: small flat remote-code modules, the public names where they always were
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ANSWER_MODULES, ids=lambda module: module.__name__.split(".")[-1])
def test_answer_modules_are_small_flat_remote_code(module):
    from transformers.dynamic_module_utils import get_imports

    path = Path(module.__file__)
    source = path.read_text()
    assert path.name.endswith("_sherlock.py") and len(source.splitlines()) < 600
    # transformers' remote-code loader demands every package named by any import statement of the file
    assert set(get_imports(path)) <= set(sys.stdlib_module_names) | {"transformers"}
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            assert node.level == 1 and node.module and "." not in node.module, node.module
    assert isinstance(tree.body[-1], ast.Assign) and tree.body[-1].targets[0].id == "__all__"
    assert all(hasattr(module, name) for name in module.__all__)


def test_answer_modules_ship_with_the_remote_code_processor():
    from transformers.dynamic_module_utils import get_relative_import_files

    processing_dir = Path(events_sherlock.__file__).parent
    copied = {Path(path).name for path in get_relative_import_files(processing_dir / "processing_sherlock.py")}
    assert {Path(module.__file__).name for module in ANSWER_MODULES} <= copied


def test_public_names_stay_importable_from_events_sherlock_and_processing():
    import processing

    for name in ("NO_EVENT_ANSWER", "AbnormalEvent", "format_events", "post_process_events"):
        assert getattr(processing, name) is getattr(events_sherlock, name), name
    assert events_sherlock.AbnormalEvent is abnormal_event_sherlock.AbnormalEvent
    assert events_sherlock.format_events is answer_format_sherlock.format_events
    assert events_sherlock.post_process_events is answer_parser_sherlock.post_process_events
