"""Per-frame targets of the frame-supervision stage (`sherlock.training.frame_targets`): exact values at the span
boundaries, overlapping events, videos without an event, the video scene and bad events."""

import pytest
import torch

from processing.vocabulary_sherlock import ENTITIES, EVENT_TYPES, SCENES
from sherlock.training.frame_targets import (
    IGNORE_INDEX,
    NO_EVENT,
    as_tensors,
    frame_targets,
    row_frame_targets,
)


def event(start, end, subject="people", event_type="Theft", obj="car", scene="Street"):
    return {"start": start, "end": end, "subject": subject, "event_type": event_type, "object": obj, "scene": scene}


def bits(*types):
    return [int(name in types) for name in EVENT_TYPES]


def test_boundaries_are_included():
    """start <= t <= end: frames exactly at the start and the end are under way, just outside are not."""
    targets = frame_targets([event(1.0, 2.0)], [0.999, 1.0, 1.5, 2.0, 2.001])
    assert targets.event_types == [bits(), bits("Theft"), bits("Theft"), bits("Theft"), bits()]
    people, car = ENTITIES.index("people"), ENTITIES.index("car")
    assert targets.subject == [NO_EVENT, people, people, people, NO_EVENT]
    assert targets.object == [NO_EVENT, car, car, car, NO_EVENT]
    assert targets.scene == [SCENES.index("Street")] * 5  # the video's scene outside the event


def test_zero_length_event_covers_the_frame_at_its_time():
    assert frame_targets([event(1.0, 1.0)], [0.5, 1.0, 1.5]).event_types == [bits(), bits("Theft"), bits()]


def test_overlapping_events_multi_hot_types_and_the_primary_event():
    """Both types under way are set; subject / object / scene are those of the event that started first."""
    first = event(1.0, 3.0, "man", "Fighting", "man", "Street")
    second = event(2.0, 4.0, "fire", "Fire", "none", "Residence")
    targets = frame_targets([second, first], [0.0, 1.0, 2.0, 3.0, 3.5])  # order in the row does not matter
    assert targets.event_types == [bits(), bits("Fighting"), bits("Fighting", "Fire"), bits("Fighting", "Fire")] + [
        bits("Fire")
    ]
    man, fire, none = ENTITIES.index("man"), ENTITIES.index("fire"), ENTITIES.index("none")
    assert targets.subject == [NO_EVENT, man, man, man, fire]
    assert targets.object == [NO_EVENT, man, man, man, none]
    street, residence = SCENES.index("Street"), SCENES.index("Residence")
    assert targets.scene == [street, street, street, street, residence]


def test_same_start_the_event_that_ends_first_is_primary_and_same_type_is_one_bit():
    long, short = event(1.0, 5.0, subject="man"), event(1.0, 2.0, subject="woman")
    targets = frame_targets([long, short], [1.5, 3.0])
    assert targets.subject == [ENTITIES.index("woman"), ENTITIES.index("man")]
    assert targets.event_types == [bits("Theft"), bits("Theft")]


def test_video_without_event():
    targets = frame_targets([], [0.0, 1.0])
    assert targets.event_types == [bits(), bits()]
    assert targets.subject == targets.object == [NO_EVENT, NO_EVENT]
    assert targets.scene == [IGNORE_INDEX, IGNORE_INDEX]  # unknown: not learnt
    assert frame_targets(None, [0.0], video_scene="Lawn").scene == [SCENES.index("Lawn")]
    row = {"events": [], "source": {"scene": "Factory"}}
    assert row_frame_targets(row, [0.0, 2.0]).scene == [SCENES.index("Factory")] * 2


def test_synonyms_are_normalised_and_bad_values_raise():
    assert frame_targets([event(0, 1, subject="People", scene="street")], [0.5]).subject == [ENTITIES.index("people")]
    with pytest.raises(ValueError, match="event 0: event_type 'Teleport' is not in the vocabulary"):
        frame_targets([event(0, 1, event_type="Teleport")], [0.5])
    with pytest.raises(ValueError, match="event 0: end 1.0 is before start 2.0"):
        frame_targets([event(2, 1)], [0.5])
    with pytest.raises(ValueError, match="needs numeric `start` and `end`"):
        frame_targets([{"event_type": "Theft"}], [0.5])


def test_as_tensors():
    batch = as_tensors([frame_targets([event(0, 1)], [0.5, 2.0]), frame_targets([], [0.5, 2.0], "Street")])
    assert batch["frame_event_types"].shape == (2, 2, len(EVENT_TYPES))
    assert batch["frame_event_types"].dtype == torch.float32
    assert batch["frame_subject"].tolist() == [[ENTITIES.index("people"), NO_EVENT], [NO_EVENT, NO_EVENT]]
    assert batch["frame_scene"].tolist() == [[SCENES.index("Street")] * 2] * 2
