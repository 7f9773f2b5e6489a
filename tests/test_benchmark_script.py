"""The GSM overhead benchmark script runs end to end (a smoke run at tiny sizes; no timing is asserted)."""

import sys
from pathlib import Path

import pytest


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import benchmark_gsm_overhead as benchmark  # noqa: E402


def test_quick_run_reports_consistent_flop_counts():
    results = benchmark.main(["--quick"])
    flops = results["flops"]
    base = flops["video_llava"]
    features, pixels = flops["sherlock_features"], flops["sherlock_pixels"]
    # Sherlock = Video-LLaVA + GSM (+ the background tower on pixels): every FLOP is attributed
    assert features["flops"] == base + flops["gsm"]
    assert pixels["flops"] == base + flops["gsm"] + flops["background_tower"]
    assert flops["unattributed"] == {"sherlock_features": 0, "sherlock_pixels": 0}
    assert flops["gsm"] == sum(flops["per_expert"].values()) + flops["gate"]
    assert features["ratio"] == pytest.approx(features["flops"] / base)
    # the counted language model matches the analytic formula within 1 %
    assert flops["language_model"] == pytest.approx(flops["analytic_llm"], rel=0.01)
    wall = results["wall_time"]["forward"]
    assert set(wall) == {"video_llava", "sherlock_features", "sherlock_pixels"}
    assert all(entry["median_s"] > 0 for entry in wall.values())


def test_expert_forms_benchmark_separates_the_two_forms_without_the_global_expert(capsys):
    """At initialisation the paper form's "w/o GE" mixture is unrelated to the video tokens, the residual form's is
    a copy of them; with the global expert both stay close to Video-LLaVA's features."""
    import benchmark_expert_forms

    summary = benchmark_expert_forms.main(["--sizes", "tiny", "--seeds", "1"])
    assert "| w/o GE | paper |" in capsys.readouterr().out
    assert abs(summary[("w/o GE", "paper")]["cos(O, T_v)"]) < 0.5
    assert summary[("w/o GE", "residual")]["cos(O, T_v)"] > 0.95
    assert abs(summary[("all four experts", "paper")]["cos(S_local, T_v)"]) < 0.5
    assert summary[("all four experts", "residual")]["cos(S_local, T_v)"] > 0.99
    for form in ("paper", "residual"):
        assert summary[("all four experts", form)]["cos(O, T_v)"] > 0.95
