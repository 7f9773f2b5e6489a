"""The plots of the evaluation report (`sherlock.evaluation.report`): per-video timelines of gold vs predicted
segments, the per-scene FNR chart and the mean gate weights per event type (the paper's Figure 6).

matplotlib is imported inside the functions (importing `sherlock.evaluation` stays fast) and only through its
object-oriented API on the non-interactive Agg canvas (`matplotlib.figure.Figure`, never `pyplot`): no global state,
no figure left open, safe from several threads. PNGs are written without the "Software" metadata entry, so the same
inputs give the same bytes with the same matplotlib.
"""

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from .events import EvalEvent


NO_TYPE = "(no type)"
NO_TYPE_COLOR = "#9e9e9e"
DPI = 100
# A segment narrower than this fraction of the axis (a zero-length one, e.g.) is drawn as a tick of this width.
MIN_WIDTH_FRACTION = 0.004


def _figure(width: float, height: float):
    """A new Agg `Figure` of `width` x `height` inches (matplotlib imported here)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> Path:
    """Write `figure` as PNG to `path` without the "Software" metadata (stable bytes); returns the path."""
    figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def type_colors(event_types: Sequence[str | None]) -> dict[str, str]:
    """`{event type: colour}`: the distinct types sorted by name, coloured in that order from matplotlib's `tab20`
    palette, its 10 dark hues first, then their light variants (cycling past 20 types); a missing type (`None`) is
    `NO_TYPE` in grey."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    palette = colormaps["tab20"]
    names = sorted({name for name in event_types if name is not None})
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    colors = {name: to_hex(palette(order[index % 20])) for index, name in enumerate(names)}
    if any(name is None for name in event_types):
        colors[NO_TYPE] = NO_TYPE_COLOR
    return colors


def score_alpha(score: float | None) -> float:
    """The opacity of a predicted bar: `0.25 + 0.75 * score` with the score clipped to [0, 1] (scores are the mean
    token probability of the event's line, in (0, 1]); 1.0 for an unscored event."""
    if score is None or not math.isfinite(score):
        return 1.0
    return 0.25 + 0.75 * min(1.0, max(0.0, float(score)))


def _draw_events(axes, events: Sequence[EvalEvent], y: float, colors: Mapping, min_width: float, predicted: bool):
    """Draw the events with times of one row at height `y`: a bar per segment, a tick for a too narrow one."""
    for event in events:
        if not event.has_span:
            continue
        color = colors[event.event_type if event.event_type is not None else NO_TYPE]
        alpha = score_alpha(event.score) if predicted else 1.0
        width = event.end - event.start
        if width < min_width:
            axes.vlines(event.start, y - 0.4, y + 0.4, colors=color, alpha=alpha, linewidth=2.5)
        else:
            axes.barh(
                y, width, left=event.start, height=0.7, color=color, alpha=alpha, edgecolor="black", linewidth=0.4
            )


def plot_timeline_page(
    path: Path,
    video_ids: Sequence[str],
    gold: Mapping[str, Sequence[EvalEvent]],
    predictions: Mapping[str, Sequence[EvalEvent]],
    durations: Mapping[str, float],
    colors: Mapping[str, str],
    caption: str,
) -> Path:
    """One PNG of the timelines of `video_ids`: per video a "gold" row and a "pred" row of horizontal bars over
    [0, duration] (a light grey band shows the video's extent), coloured by event type (`colors`, legend at the
    right), predicted bars' opacity by score (`score_alpha`), zero-length segments as ticks; `caption` under the
    title. Returns `path`."""
    from matplotlib.patches import Patch

    figure = _figure(13.0, 1.6 + 0.55 * len(video_ids))
    axes = figure.add_subplot()
    longest = max([durations[video_id] for video_id in video_ids] + [1e-9])
    min_width = MIN_WIDTH_FRACTION * longest
    ticks, labels = [], []
    for row, video_id in enumerate(video_ids):
        y_gold, y_pred = 3 * row, 3 * row + 1
        short = video_id if len(video_id) <= 28 else video_id[:27] + "…"
        for y, label, events, predicted in (
            (y_gold, f"{short}  gold", gold.get(video_id, ()), False),
            (y_pred, "pred", predictions.get(video_id, ()), True),
        ):
            axes.barh(y, durations[video_id], left=0.0, height=0.9, color="#f0f0f0", edgecolor="none")
            _draw_events(axes, events, y, colors, min_width, predicted)
            ticks.append(y)
            labels.append(label)
    axes.set_yticks(ticks, labels, fontsize=8)
    axes.set_ylim(3 * len(video_ids) - 1, -1)  # first video at the top
    axes.set_xlim(0.0, longest * 1.01)
    axes.set_xlabel("time (s)")
    axes.grid(axis="x", linewidth=0.3, alpha=0.5)
    axes.set_title(f"Gold vs predicted segments (predicted bars: opacity by score)\n{caption}", fontsize=10)
    handles = [Patch(facecolor=color, edgecolor="black", linewidth=0.4, label=name) for name, color in colors.items()]
    if handles:
        figure.legend(handles=handles, title="event type", loc="outside right upper", fontsize=8)
    return _save(figure, path)


def plot_per_scene_fnr(path: Path, per_scene_fnr: Mapping[str, float | None], overall_fnr: float | None) -> Path:
    """A bar chart of the frame-level FNR (%) of each scene (in the given order), the overall FNR as a dashed
    reference line; a note instead of bars when no scene is scored. Returns `path`."""
    scenes = list(per_scene_fnr)
    figure = _figure(max(6.0, 1.0 + 0.55 * len(scenes)), 4.0)
    axes = figure.add_subplot()
    values = [_percent_or_nan(per_scene_fnr[scene]) for scene in scenes]
    if scenes:
        bars = axes.bar(range(len(scenes)), values, color="#4c72b0")
        axes.bar_label(bars, fmt="%.1f", fontsize=8)
        axes.set_xticks(range(len(scenes)), scenes, rotation=45, ha="right", fontsize=9)
    else:
        axes.set_xticks([])
        axes.text(0.5, 0.5, "no scene scored", ha="center", va="center", transform=axes.transAxes)
    overall = _percent_or_nan(overall_fnr)
    title = "Frame-level FNR per scene (lower is better)"
    if not math.isnan(overall):
        axes.axhline(overall, color="#c44e52", linestyle="--", linewidth=1.2)
        title += f"\ndashed line: overall FNR {overall:.2f}%"
    axes.set_ylim(0.0, 110.0)
    axes.set_ylabel("FNR (%)")
    axes.set_title(title, fontsize=10)
    return _save(figure, path)


def plot_gate_weights(path: Path, experts: Sequence[str], rows: Sequence) -> Path:
    """A stacked bar chart of the mean gate weights: one bar per row of `report.gate_weight_table` (event types,
    then `(no event)` and `(all videos)`), stacked by expert in `experts` order. Returns `path`."""
    from matplotlib import colormaps

    palette = colormaps["Set2"]
    figure = _figure(max(6.0, 2.5 + 0.7 * len(rows)), 4.5)
    axes = figure.add_subplot()
    positions = range(len(rows))
    bottoms = [0.0] * len(rows)
    for index, expert in enumerate(experts):
        heights = [row.weights[index] for row in rows]
        axes.bar(positions, heights, bottom=bottoms, color=palette(index % 8), label=expert, edgecolor="white")
        bottoms = [bottom + height for bottom, height in zip(bottoms, heights)]
    axes.set_xticks(list(positions), [f"{row.event_type}\n(n={row.videos})" for row in rows], rotation=45, ha="right")
    axes.tick_params(axis="x", labelsize=8)
    axes.set_ylim(0.0, max([1.0, *bottoms]) * 1.02)
    axes.set_ylabel("mean gate weight")
    axes.set_title("Mean gate weight per expert and event type", fontsize=10)
    figure.legend(title="expert", loc="outside right upper", fontsize=8)
    return _save(figure, path)


def _percent_or_nan(value) -> float:
    if value is None or not math.isfinite(value):
        return math.nan
    return 100.0 * float(value)


__all__ = ["plot_gate_weights", "plot_per_scene_fnr", "plot_timeline_page", "score_alpha", "type_colors"]
