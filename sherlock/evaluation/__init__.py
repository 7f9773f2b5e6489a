"""The M-VAE evaluation of the paper (§4.3, Tables 2-4): pure metric functions over gold and predicted events
grouped by video (`{video_id: [EvalEvent, ...]}`)."""

from .events import ELEMENTS, EvalEvent, EventsByVideo, as_event, as_events_by_video


__all__ = ["ELEMENTS", "EvalEvent", "EventsByVideo", "as_event", "as_events_by_video"]
