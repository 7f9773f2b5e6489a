"""Two evaluation runs side by side: their headline metrics and paired t-tests on their per-video scores.

A run is a folder written by `sherlock evaluate` (`metrics.json`, `per_video.json`). The two runs must score the same
videos (the same dataset split); the t-tests pair each video's scores of the two systems.
"""

import json
import math
from pathlib import Path

from .significance import paired_t_test


HEADLINE_SECTIONS = ("extraction", "localization", "classification")


def _read(folder: Path, name: str) -> dict:
    path = Path(folder) / name
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not an evaluation run: no {name} (write one with `sherlock evaluate`)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error


def flatten_metrics(metrics: dict) -> dict[str, float | None]:
    """The headline metrics of a `metrics.json` as `{"extraction.single.subject": value, ...}` (no `details`)."""
    flat = {}

    def walk(prefix: str, value):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)
        else:
            flat[prefix] = value

    for section in HEADLINE_SECTIONS:
        if section in metrics:
            walk(section, metrics[section])
    return flat


def compare_runs(run_a, run_b) -> dict:
    """Compare two `sherlock evaluate` runs.

    Returns:
        `{"metrics": {key: {"a", "b", "difference"}}, "tests": {score: paired_t_test result}}`: every headline metric
        of either run (a value missing from one run is `None`), and for each per-video score (`quadruple_f1`,
        `localization_f1@0.3`, `f2`) the two-sided paired t-test over the videos where both runs have a value
        (`f2` is `None` for a video without a gold abnormal frame); a score with fewer than two such videos has no
        test (`None`).

    Raises:
        `FileNotFoundError` / `ValueError` when a folder is not a run, or when the runs scored different videos.
    """
    metrics_a, metrics_b = flatten_metrics(_read(run_a, "metrics.json")), flatten_metrics(_read(run_b, "metrics.json"))
    videos_a, videos_b = _read(run_a, "per_video.json"), _read(run_b, "per_video.json")
    if set(videos_a) != set(videos_b):
        only_a, only_b = sorted(set(videos_a) - set(videos_b)), sorted(set(videos_b) - set(videos_a))
        raise ValueError(
            f"the runs scored different videos ({len(videos_a)} vs {len(videos_b)}; only in {run_a}: {only_a[:3]}, "
            f"only in {run_b}: {only_b[:3]}): compare runs on the same dataset split"
        )
    rows = {}
    for key in list(metrics_a) + [key for key in metrics_b if key not in metrics_a]:
        a, b = metrics_a.get(key), metrics_b.get(key)
        difference = b - a if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None
        rows[key] = {"a": a, "b": b, "difference": difference}
    tests = {}
    scores = sorted({name for entry in videos_a.values() for name in entry})
    for name in scores:
        pairs = {
            video: (videos_a[video].get(name), videos_b[video].get(name))
            for video in sorted(videos_a)
            if videos_a[video].get(name) is not None and videos_b[video].get(name) is not None
        }
        if len(pairs) < 2:
            tests[name] = None
            continue
        result = paired_t_test({v: a for v, (a, _) in pairs.items()}, {v: b for v, (_, b) in pairs.items()})
        tests[name] = {
            key: (None if isinstance(value, float) and math.isnan(value) else value) for key, value in result.items()
        }
    return {"metrics": rows, "tests": tests}


def format_comparison(comparison: dict, name_a: str, name_b: str) -> str:
    """A plain-text table: each headline metric of both runs in percent (two decimals), then the t-tests."""

    def percent(value):
        return "-" if not isinstance(value, (int, float)) or value != value else f"{100 * value:.2f}"

    rows = [(key, percent(row["a"]), percent(row["b"])) for key, row in comparison["metrics"].items()]
    width = max([len("metric")] + [len(key) for key, _, _ in rows])
    col = max(9, len(name_a), len(name_b))
    lines = [f"{'metric'.ljust(width)}  {name_a.rjust(col)}  {name_b.rjust(col)}", "-" * (width + 2 * col + 4)]
    lines += [f"{key.ljust(width)}  {a.rjust(col)}  {b.rjust(col)}" for key, a, b in rows]
    lines.append("")
    lines.append("paired t-tests on per-video scores (two-sided):")
    for name, test in comparison["tests"].items():
        if test is None:
            lines.append(f"  {name}: fewer than 2 videos with a score in both runs, no test")
        else:
            lines.append(
                f"  {name}: n={test['n']}, mean {test['mean_a']:.4f} vs {test['mean_b']:.4f}, "
                f"t={test['t']:.3f}, p={test['p_value']:.4g}"
            )
    return "\n".join(lines)


__all__ = ["compare_runs", "flatten_metrics", "format_comparison"]
