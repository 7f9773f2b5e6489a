"""The expert-feature cache: keys, atomic entries, misses."""

import json

import numpy as np
import pytest

from processing.feature_cache_sherlock import FeatureCache, FeatureCacheMiss, clip_key, entry_key


IDS = {"detector": "rt_detr:a", "pose": "vitpose:b"}


def arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {"pose_keypoints": rng.random((4, 2, 17, 3), dtype=np.float32), "pose_mask": rng.random((4, 2)) > 0.5}


def test_round_trip_keeps_dtypes_and_values(tmp_path):
    cache = FeatureCache(tmp_path)
    times = [0.5, 1.5, 2.5, 3.5]
    stored = arrays()
    path = cache.save("abc", times, IDS, stored, extra={"source": "v.mp4"})
    assert path.is_file() and path.with_suffix(".json").is_file()
    loaded = cache.load("abc", times, IDS)
    assert set(loaded) == set(stored)
    for name, value in stored.items():
        assert loaded[name].dtype == value.dtype
        np.testing.assert_array_equal(loaded[name], value)
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["extractor_ids"] == IDS and manifest["timestamps"] == times and manifest["source"] == "v.mp4"
    assert manifest["arrays"]["pose_keypoints"] == {"shape": [4, 2, 17, 3], "dtype": "float32"}
    assert not list(tmp_path.rglob("*.tmp"))


def test_keys_change_with_video_times_and_extractors(tmp_path):
    times = [0.5, 1.5]
    base = entry_key("abc", times, IDS)
    assert entry_key("abd", times, IDS) != base
    assert entry_key("abc", [0.5, 1.6], IDS) != base
    assert entry_key("abc", times, {**IDS, "pose": "vitpose:c"}) != base
    assert entry_key("abc", np.array(times) + 1e-9, IDS) == base  # rounded to the microsecond
    assert entry_key("abc", times, dict(reversed(list(IDS.items())))) == base  # order of ids does not matter
    assert clip_key("abc", times) == clip_key("abc", times)


def test_misses_raise_and_contains_reports(tmp_path):
    cache = FeatureCache(tmp_path)
    times = [0.5]
    with pytest.raises(FeatureCacheMiss):
        cache.load("abc", times, IDS)
    cache.save("abc", times, IDS, arrays())
    assert cache.contains("abc", times, IDS)
    assert not cache.contains("abc", times, {**IDS, "pose": "other"})
    with pytest.raises(FeatureCacheMiss):
        cache.load("abc", times, {**IDS, "pose": "other"})


def test_unnamed_extractors_need_exactly_one_entry(tmp_path):
    cache = FeatureCache(tmp_path)
    times = [0.5]
    cache.save("abc", times, IDS, arrays(0))
    np.testing.assert_array_equal(cache.load("abc", times)["pose_mask"], arrays(0)["pose_mask"])
    cache.save("abc", times, {"pose": "other"}, arrays(1))
    with pytest.raises(FeatureCacheMiss, match="2 cached feature entries"):
        cache.load("abc", times)
