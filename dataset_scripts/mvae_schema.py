"""The M-VAE row schema, shared by the CUVA-based builder and the synthetic builder.

One row per video:

- `video_id` (string): e.g. "00001";
- `video` (string): the video file name relative to a video root (e.g. "00001.mp4");
- `duration` (float64, nullable): seconds, when known (read from the video, or generated);
- `split` (string): "train" or "test";
- `events` (list of {start, end, subject, event_type, object, scene}): seconds and canonical vocabulary values;
- `instruction` (string): the paper's instruction (`processing.DEFAULT_INSTRUCTION`);
- `answer` (string): `processing.format_events(events)` — the training target;
- `source` (dict of strings): the source texts the row was built from (may be empty strings).
"""

import datasets

from processing import DEFAULT_INSTRUCTION, format_events


EVENT_FEATURES = {
    "start": datasets.Value("float64"),
    "end": datasets.Value("float64"),
    "subject": datasets.Value("string"),
    "event_type": datasets.Value("string"),
    "object": datasets.Value("string"),
    "scene": datasets.Value("string"),
}
SOURCE_FIELDS = ("type_codes", "reason", "result", "moment", "description", "key_sentences", "gt_description")


def mvae_features(source_fields=SOURCE_FIELDS) -> datasets.Features:
    """The `datasets.Features` of an M-VAE row (`source` holds the given source-text fields)."""
    return datasets.Features(
        {
            "video_id": datasets.Value("string"),
            "video": datasets.Value("string"),
            "duration": datasets.Value("float64"),
            "split": datasets.Value("string"),
            "events": datasets.List(EVENT_FEATURES),
            "instruction": datasets.Value("string"),
            "answer": datasets.Value("string"),
            "source": {name: datasets.Value("string") for name in source_fields},
        }
    )


def make_row(
    video_id: str,
    video: str,
    split: str,
    events: list[dict],
    duration: float | None = None,
    source: dict | None = None,
    source_fields=SOURCE_FIELDS,
) -> dict:
    """An M-VAE row: events sorted by (start, end), the canonical answer and the instruction filled in."""
    events = sorted((dict(event) for event in events), key=lambda e: (e["start"], e["end"]))
    return {
        "video_id": video_id,
        "video": video,
        "duration": duration,
        "split": split,
        "events": events,
        "instruction": DEFAULT_INSTRUCTION,
        "answer": format_events(events),
        "source": {name: str((source or {}).get(name) or "") for name in source_fields},
    }


__all__ = ["EVENT_FEATURES", "SOURCE_FIELDS", "make_row", "mvae_features"]
