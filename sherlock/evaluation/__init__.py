"""The M-VAE evaluation of the paper (§4.3, Tables 2-4): pure metric functions over gold and predicted events
grouped by video (`{video_id: [EvalEvent, ...]}`).

- `extraction`: extraction F1 of single elements, pairs and quadruples (Table 2), macro and micro;
- `localization`: ActivityNet-style mAP@tIoU per event type and class-agnostic (Table 2);
- `classification`: frame-level FNRs and F2, overall, per scene (Table 3) and per second (Table 4);
- `significance`: the paired t-test between two systems' per-video scores;
- `judges`: Video-Bench-style judge scores (sentence-embedding similarity, LLM grading);
- `predictions`, `scoring`, `compare`: prediction files, the metrics of `sherlock evaluate`, two runs side by side;
- `report`, `report_plots`: `report.md` with the paper's table layouts, timelines, per-scene FNR, gate weights;
- `predictors`, `sherlock_predictor`, `baselines` (+ `video_processors_torch`), `runner`, `dataset`: running a model
  over a split (batched, resumable, sharded across processes).

Only the metric functions are imported here; the other modules load torch / transformers / matplotlib on import.
"""

from .classification import classification_scores, per_second_scores, per_video_classification
from .events import ELEMENTS, EvalEvent, EventsByVideo, as_event, as_events_by_video
from .extraction import (
    EXTRACTION_GROUPS,
    EXTRACTION_TARGETS,
    extraction_score,
    extraction_scores,
    per_video_extraction,
)
from .localization import average_precision, map_at_tiou, per_video_localization, temporal_iou
from .significance import paired_t_test


__all__ = [
    "ELEMENTS",
    "EXTRACTION_GROUPS",
    "EXTRACTION_TARGETS",
    "EvalEvent",
    "EventsByVideo",
    "as_event",
    "as_events_by_video",
    "average_precision",
    "classification_scores",
    "extraction_score",
    "extraction_scores",
    "map_at_tiou",
    "paired_t_test",
    "per_second_scores",
    "per_video_classification",
    "per_video_extraction",
    "per_video_localization",
    "temporal_iou",
]
