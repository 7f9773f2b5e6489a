"""The expert-feature cache: keys, atomic entries, misses, unusable entries, weight fingerprints."""

import json
import logging
import os
import shutil

import numpy as np
import pytest

from processing import feature_cache_sherlock
from processing.feature_cache_sherlock import (
    CACHE_FORMAT_VERSION,
    FeatureCache,
    FeatureCacheMiss,
    clip_key,
    entry_key,
    file_digest,
    weights_fingerprint,
)


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
    assert manifest["format_version"] == CACHE_FORMAT_VERSION
    assert manifest["arrays"]["pose_keypoints"] == {"shape": [4, 2, 17, 3], "dtype": "float32"}
    assert not list(tmp_path.rglob("*.tmp"))


# -------------------------------------------------------------------------------------------------------------- keys


def test_equal_inputs_built_separately_give_equal_keys():
    times = [0.5, 1.5, 2.25]
    key = clip_key("abc", times)
    assert len(key) == 64 and int(key, 16) >= 0  # a SHA-256 hex digest
    for same in (
        tuple(times),
        np.array(times),
        np.array(times, dtype=np.float32),
        np.array([times]),
        [0.5, 1.5, 2.25],
    ):
        assert clip_key("ab" + "c", same) == key
    assert entry_key("abc", times, dict(IDS)) == entry_key("abc", np.array(times), {"pose": "vitpose:b", **IDS})
    # the ids' order does not matter
    assert entry_key("abc", times, IDS) == entry_key("abc", times, dict(reversed(list(IDS.items()))))


def test_keys_are_stable_across_versions():
    # changing these orphans every cache on disk: only on purpose, with CACHE_FORMAT_VERSION bumped
    assert clip_key("abc", [0.5, 1.5]) == "c5c6b1b21704ce21e01b1e55e0a660a1630debb3ee0fc8e24265c718c9b4b985"


def test_different_videos_times_or_extractors_give_different_keys():
    times = [0.5, 1.5]
    base_clip, base_entry = clip_key("abc", times), entry_key("abc", times, IDS)
    assert clip_key("abd", times) != base_clip and entry_key("abd", times, IDS) != base_entry
    for other in ([0.5, 1.6], [0.5], [0.5, 1.5, 2.5], [1.5, 0.5], [0.5, 1.5001]):
        assert clip_key("abc", other) != base_clip, other
        assert entry_key("abc", other, IDS) != base_entry, other
    other_entries = set()
    for ids in ({**IDS, "pose": "vitpose:c"}, {"pose": "vitpose:b"}, {**IDS, "background": "sam2:x"}):
        assert entry_key("abc", times, ids) != base_entry, ids
        other_entries.add(entry_key("abc", times, ids))
    assert len(other_entries) == 3  # each extractor change gives its own entry
    # the fields do not run into each other
    assert entry_key("ab", times, IDS) != entry_key("abc", times, IDS)


def test_times_equal_at_float32_precision_give_the_same_key():
    # decord's frame times are float32: 18.72 read through float32 is the same frame time, the same entry
    for noisy in (np.float32(18.72), float(np.float32(18.72)), 18.719999313354492, 18.72 + 1e-9, 18.7200001):
        assert clip_key("abc", [0.0, noisy]) == clip_key("abc", [0.0, 18.72]), noisy
    assert clip_key("abc", np.array([0.0, 18.72], dtype=np.float32)) == clip_key("abc", [0.0, 18.72])
    # while times a frame apart (or a millisecond) stay apart, even after an hour
    assert clip_key("abc", [0.0, 18.76]) != clip_key("abc", [0.0, 18.72])
    assert clip_key("abc", [3600.001]) != clip_key("abc", [3600.0])


def test_a_cache_entry_is_found_with_float32_times(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.save("abc", [0.0, 18.72], IDS, arrays())
    loaded = cache.load("abc", np.array([0.0, 18.72], dtype=np.float32), IDS)
    np.testing.assert_array_equal(loaded["pose_mask"], arrays()["pose_mask"])
    manifest = json.loads(next(tmp_path.rglob("*.json")).read_text())
    assert manifest["timestamps"] == [0.0, 18.72]


# ------------------------------------------------------------------------------------------------------------ misses


def test_misses_raise_and_contains_reports(tmp_path):
    cache = FeatureCache(tmp_path)
    times = [0.5]
    with pytest.raises(FeatureCacheMiss):
        cache.load("abc", times, IDS)
    assert not cache.contains("abc", times, IDS)
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


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7])


def _edit_manifest(change):
    def edit(path):
        manifest = json.loads(path.read_text())
        change(manifest)
        path.write_text(json.dumps(manifest))

    return edit


# case -> (the file damaged, how, the file the warning names, a piece of the reason it gives)
UNUSABLE = {
    "truncated_safetensors": ("safetensors", _truncate, "safetensors", "truncated safetensors file"),
    "garbage_safetensors": ("safetensors", lambda p: p.write_bytes(b"\x00" * 3), "safetensors", "truncated"),
    "empty_safetensors": ("safetensors", lambda p: p.write_bytes(b""), "safetensors", "truncated safetensors file"),
    "bad_header": ("safetensors", lambda p: p.write_bytes(b"\x04" + b"\x00" * 7 + b"{{{{"), "safetensors", "header"),
    "truncated_manifest": ("json", _truncate, "json", "unparsable manifest"),
    "manifest_not_an_object": ("json", lambda p: p.write_text("[1, 2]"), "json", "not an object"),
    "newer_format_version": (
        "json",
        _edit_manifest(lambda m: m.update(format_version=CACHE_FORMAT_VERSION + 1)),
        "json",
        f"format_version {CACHE_FORMAT_VERSION + 1}",
    ),
    "no_format_version": ("json", _edit_manifest(lambda m: m.pop("format_version")), "json", "format_version None"),
    "array_missing": (
        "json",
        _edit_manifest(lambda m: m["arrays"].update(pose_scores={"shape": [4, 2], "dtype": "float32"})),
        "safetensors",
        "missing from the safetensors file: ['pose_scores']",
    ),
    "other_shape": (
        "json",
        _edit_manifest(lambda m: m["arrays"]["pose_mask"].update(shape=[4, 3])),
        "safetensors",
        "'pose_mask' has shape [4, 2], the manifest says [4, 3]",
    ),
    "other_dtype": (
        "json",
        _edit_manifest(lambda m: m["arrays"]["pose_mask"].update(dtype="float16")),
        "safetensors",
        "'pose_mask' has dtype bool, the manifest says float16",
    ),
}


@pytest.mark.parametrize("case", sorted(UNUSABLE))
def test_an_unusable_entry_is_a_logged_miss_and_a_new_save_repairs_it(tmp_path, case, caplog):
    suffix, damage, named, reason = UNUSABLE[case]
    cache = FeatureCache(tmp_path)
    times = [0.5, 1.5]
    tensors = cache.save("abc", times, IDS, arrays(0))
    damage(tensors.with_suffix(f".{suffix}"))
    logger = feature_cache_sherlock.logger.name
    for _ in range(2):  # every call is a miss, not an exception of another type
        with caplog.at_level(logging.WARNING, logger=logger), pytest.raises(FeatureCacheMiss):
            cache.load("abc", times, IDS)
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # warned once for this damaged file, not at every call
    assert str(tensors.with_suffix(f".{named}")) in warnings[0] and reason in warnings[0], warnings[0]
    assert not cache.contains("abc", times, IDS)  # callers that skip cached clips recompute this one
    with pytest.raises(FeatureCacheMiss, match="0 cached feature entries"):
        cache.load("abc", times)  # the `precomputed` path (no extractor ids) treats it alike
    cache.save("abc", times, IDS, arrays(1))  # the recomputed features replace the entry
    assert cache.contains("abc", times, IDS)
    np.testing.assert_array_equal(cache.load("abc", times, IDS)["pose_keypoints"], arrays(1)["pose_keypoints"])
    np.testing.assert_array_equal(cache.load("abc", times)["pose_mask"], arrays(1)["pose_mask"])


@pytest.mark.parametrize(
    "other, reason",
    [
        (("abd", [0.5, 1.5], IDS), "belongs to video abd"),
        (("abc", [0.5, 2.5], IDS), "other frame times"),
        (("abc", [0.5, 1.5], {"pose": "vitpose:other"}), "other extractors"),
    ],
)
def test_a_foreign_entry_copied_in_place_of_another_is_a_logged_miss(tmp_path, other, reason, caplog):
    """An entry copied or renamed from another clip sits under this clip's key: it is a miss, never served."""
    cache = FeatureCache(tmp_path)
    times = [0.5, 1.5]
    target = cache.save("abc", times, IDS, arrays(0))
    foreign = cache.save(*other, arrays(1))
    for suffix in (".safetensors", ".json"):
        target.with_suffix(suffix).write_bytes(foreign.with_suffix(suffix).read_bytes())
    with caplog.at_level(logging.WARNING, logger=feature_cache_sherlock.logger.name):
        with pytest.raises(FeatureCacheMiss):
            cache.load("abc", times, IDS)
        assert not cache.contains("abc", times, IDS)
    assert reason in caplog.text and str(target.with_suffix(".json")) in caplog.text
    cache.save("abc", times, IDS, arrays(2))  # recomputed and rewritten
    np.testing.assert_array_equal(cache.load("abc", times, IDS)["pose_mask"], arrays(2)["pose_mask"])


def test_an_unusable_entry_does_not_hide_the_good_one_of_the_precomputed_path(tmp_path, caplog):
    cache = FeatureCache(tmp_path)
    times = [0.5]
    cache.save("abc", times, IDS, arrays(0))
    broken = cache.save("abc", times, {"pose": "other"}, arrays(1))
    broken.with_suffix(".json").write_text("{not json")
    with caplog.at_level(logging.WARNING, logger=feature_cache_sherlock.logger.name):
        loaded = cache.load("abc", times)
    np.testing.assert_array_equal(loaded["pose_mask"], arrays(0)["pose_mask"])
    assert str(broken.with_suffix(".json")) in caplog.text and "unparsable manifest" in caplog.text


# --------------------------------------------------------------------------------------------- weights fingerprint


def _model_folder(folder):
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "tiny"}')
    (folder / "model.safetensors").write_bytes(b"\x01" * 64)
    (folder / "README.md").write_text("not a weight file")
    return folder


def test_weights_fingerprint_of_a_local_folder_follows_its_weight_files(tmp_path):
    folder = _model_folder(tmp_path / "model")
    first = weights_fingerprint(folder)
    assert len(first) == 16 and int(first, 16) >= 0
    assert weights_fingerprint(folder) == first == weights_fingerprint(str(folder))
    (folder / "README.md").write_text("edited, still not a weight file")
    assert weights_fingerprint(folder) == first
    moved = folder.rename(tmp_path / "moved")  # relocating keeps it (names are relative)
    assert weights_fingerprint(moved) == first
    # weights changed in place (same size, same name): a new fingerprint
    weights = moved / "model.safetensors"
    info = weights.stat()
    weights.write_bytes(b"\x02" * 64)
    os.utime(weights, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
    second = weights_fingerprint(moved)
    assert second != first
    (moved / "sub").mkdir()
    (moved / "sub" / "extra.bin").write_bytes(b"\x00")
    assert weights_fingerprint(moved) not in (first, second)
    # one weight file
    assert weights_fingerprint(weights) == weights_fingerprint(weights) != second


def test_weights_fingerprint_of_a_folder_copied_without_its_file_times_is_the_same(tmp_path):
    """Issue 20: `cp -r` (like `shutil.copy`) gives the copies new modification times; the fingerprint follows the
    contents, so a copied model folder keeps its feature-cache entries."""
    folder = _model_folder(tmp_path / "model")
    (folder / "sub").mkdir()
    (folder / "sub" / "weights.bin").write_bytes(os.urandom(3 << 20))
    first = weights_fingerprint(folder)
    for path in folder.rglob("*"):  # the originals are older than any copy
        os.utime(path, ns=(10**18, 10**18))
    copy = shutil.copytree(folder, tmp_path / "copy", copy_function=shutil.copy)
    assert (copy / "sub" / "weights.bin").stat().st_mtime_ns != (folder / "sub" / "weights.bin").stat().st_mtime_ns
    assert weights_fingerprint(copy) == weights_fingerprint(folder) == first
    # the contents, not the times: the same bytes written again elsewhere, the same digest
    other = tmp_path / "other.bin"
    other.write_bytes((folder / "sub" / "weights.bin").read_bytes())
    assert file_digest(other) == file_digest(copy / "sub" / "weights.bin")
    # a changed byte in a copy is a new fingerprint (even with the copy's times put back)
    weights = copy / "sub" / "weights.bin"
    info = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert weights_fingerprint(copy) != first


def test_weights_fingerprint_of_a_hub_id_is_its_cached_commit(tmp_path):
    commit, other = "a" * 40, "b" * 40
    repo = tmp_path / "hub" / "models--org--tiny-model"
    (repo / "refs").mkdir(parents=True)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / other).mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "refs" / "v2").write_text(other)
    hub = tmp_path / "hub"
    assert weights_fingerprint("org/tiny-model", cache_dir=hub) == commit
    assert weights_fingerprint("org/tiny-model", revision="v2", cache_dir=hub) == other
    (repo / "refs" / "main").write_text(other)  # the model was updated and downloaded again
    assert weights_fingerprint("org/tiny-model", cache_dir=hub) == other
    # not in the cache: the id itself (with the revision asked for); a commit hash stands for itself
    assert weights_fingerprint("org/absent", cache_dir=hub) == "org/absent"
    assert weights_fingerprint("org/absent", revision="v1", cache_dir=hub) == "org/absent@v1"
    assert weights_fingerprint("org/absent", revision="c" * 40, cache_dir=hub) == "c" * 40
