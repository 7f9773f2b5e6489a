"""Significance of the difference between two systems (Sherlock, arXiv 2502.18863, §4.3, Tables 3 and 4): a paired
t-test over per-video scores (e.g. `sherlock.evaluation.classification.per_video_classification`)."""

import math
from collections.abc import Mapping


def paired_t_test(scores_a: Mapping[str, float], scores_b: Mapping[str, float]) -> dict:
    """Two-sided paired t-test of `scores_a` against `scores_b`, `scipy.stats.ttest_rel(a, b)`, the pairs being the
    scores of the same video.

    Definitions: with `d_i = a_i - b_i` over the `n` videos (paired by id, in sorted id order),
    `t = mean(d) / (std(d, ddof=1) / sqrt(n))` and `p_value = 2 * P(T_{n-1} >= |t|)`. Degenerate cases, where scipy
    would return NaN or warn: identical scores (every `d_i == 0`) give `t = 0.0` and `p_value = 1.0`; a constant
    non-zero difference (every `d_i == c != 0`, so `std(d) == 0`) gives `t = ±inf` (the sign of `c`) and
    `p_value = 0.0`.

    Args:
        scores_a, scores_b (`Mapping[str, float]`): `{video_id: score}` of the two systems, over the same videos.

    Returns:
        `{"t", "p_value", "n", "mean_a", "mean_b", "mean_difference"}` (`mean_difference = mean_a - mean_b`).

    Raises:
        `ValueError` when the two mappings do not have the same video ids (the caller decides how to align them: no
        video is dropped silently), when fewer than 2 videos are given, or for a score that is not a finite number.
    """
    only_a = sorted(set(scores_a) - set(scores_b))
    only_b = sorted(set(scores_b) - set(scores_a))
    if only_a or only_b:
        example = (only_a or only_b)[0]
        raise ValueError(
            f"The two score mappings must have the same videos: {len(only_a)} only in `scores_a`, {len(only_b)} only "
            f"in `scores_b` (e.g. {example!r})."
        )
    ids = sorted(scores_a)
    if len(ids) < 2:
        raise ValueError(f"A paired t-test needs at least 2 videos, got {len(ids)}.")
    a, b = [], []
    for name, scores, values in (("scores_a", scores_a, a), ("scores_b", scores_b, b)):
        for video_id in ids:
            value = scores[video_id]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"`{name}[{video_id!r}]` must be a finite number, got {value!r}.")
            values.append(float(value))
    n = len(ids)
    mean_a, mean_b = sum(a) / n, sum(b) / n
    differences = [x - y for x, y in zip(a, b)]
    if all(d == differences[0] for d in differences):
        constant = differences[0]
        t = 0.0 if constant == 0 else math.copysign(math.inf, constant)
        p_value = 1.0 if constant == 0 else 0.0
    else:
        from scipy import stats

        result = stats.ttest_rel(a, b)
        t, p_value = float(result.statistic), float(result.pvalue)
    return {"t": t, "p_value": p_value, "n": n, "mean_a": mean_a, "mean_b": mean_b, "mean_difference": mean_a - mean_b}


__all__ = ["paired_t_test"]
