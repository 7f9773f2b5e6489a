"""The built-in demo model (`sherlock.demo.ensure_demo_model`): the trained model shipped in the package, copied once
into a writable folder, reused while complete, copied again when a file of its copy is missing or truncated (issue 20,
item 15) or the package ships other weights (issue 21)."""

import hashlib
import json
import logging
import os
import shutil

import pytest

from modeling_sherlock import SherlockForConditionalGeneration
from processing import SherlockProcessor, load_video
from sherlock import demo


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return demo.ensure_demo_model(tmp_path_factory.mktemp("demo") / "demo")


@pytest.fixture
def folder(built, tmp_path):
    return shutil.copytree(built, tmp_path / "demo")


@pytest.fixture
def builds(monkeypatch):
    """Counts the copies of the shipped model that `ensure_demo_model` starts."""
    calls = []
    original = demo.copy_shipped_demo

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(demo, "copy_shipped_demo", counted)
    return calls


def test_the_stamp_lists_the_files_of_the_copy(built):
    record = json.loads((built / demo.DEMO_STAMP).read_text())
    assert record["version"] == demo.DEMO_VERSION and "random_weights" not in record
    shipped = (demo.SHIPPED_DEMO_DIR / "model.safetensors").read_bytes()
    assert record["weights_sha256"] == hashlib.sha256(shipped).hexdigest()
    assert (built / "model.safetensors").read_bytes() == shipped
    # the installed package's remote code was written into the copy: every module its auto_maps need is there
    from sherlock.push import remote_code_modules

    modules = remote_code_modules(built)
    assert {"configuration_sherlock.py", "modeling_sherlock.py", "processing_sherlock.py"} <= set(modules)
    assert all(record["files"][name] > 0 for name in modules)
    assert not any(name.endswith(".py") for name in os.listdir(demo.SHIPPED_DEMO_DIR))  # the package ships none
    for name in ("config.json", "model.safetensors", "processor_config.json", "extractor-detector/model.safetensors"):
        assert record["files"][name] == (built / name).stat().st_size > 0, name
    assert demo.demo_problem(built) is None


def test_a_complete_folder_is_reused(folder, builds):
    assert demo.ensure_demo_model(folder) == folder
    assert builds == []


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda folder: (folder / "model.safetensors").unlink(), "model.safetensors is missing"),
        (lambda folder: shutil.rmtree(folder / "extractor-pose"), "extractor-pose/"),
        (
            lambda folder: (folder / "extractor-detector" / "model.safetensors").write_bytes(b"\x00" * 10),
            "extractor-detector/model.safetensors is incomplete (10 of",
        ),
        (lambda folder: (folder / demo.DEMO_STAMP).unlink(), f"no {demo.DEMO_STAMP}"),
        (
            lambda folder: (folder / demo.DEMO_STAMP).write_text(json.dumps({"version": 3, "random_weights": True})),
            f"demo version 3, this is {demo.DEMO_VERSION}",
        ),
    ],
    ids=["model-weights-missing", "extractor-folder-missing", "truncated-extractor", "no-stamp", "older-version"],
)
def test_a_damaged_folder_is_rebuilt(folder, builds, damage, reason, caplog):
    expected = json.loads((folder / demo.DEMO_STAMP).read_text())["files"]
    damage(folder)
    assert reason in demo.demo_problem(folder)
    with caplog.at_level(logging.WARNING, logger="sherlock.demo"):
        assert demo.ensure_demo_model(folder) == folder
    assert len(builds) == 1
    assert "Replacing the demo model" in caplog.text and reason in caplog.text
    assert demo.demo_problem(folder) is None
    for name, size in expected.items():
        assert (folder / name).stat().st_size == size, name
    # and it loads
    SherlockForConditionalGeneration.from_pretrained(folder)
    SherlockProcessor.from_pretrained(folder).extractor_set.extractor_ids()


def test_a_feature_cache_in_the_folder_is_not_part_of_the_build(folder, builds):
    (folder / "feature_cache" / "ab").mkdir(parents=True, exist_ok=True)
    (folder / "feature_cache" / "ab" / "entry.safetensors").write_bytes(b"features")
    assert demo.ensure_demo_model(folder) == folder and builds == []


def test_the_demo_video_on_the_demo_model_drops_no_relation(built, caplog):
    """Issue 20: the first command of a newcomer (`sherlock analyze examples/demo.mp4`) printed a `max_relations`
    warning: the demo's relation capacity was smaller than what its (then random) detector found. It holds a relation
    for every pair of its objects, so nothing is dropped and nothing is said."""
    config = json.loads((built / "config.json").read_text())
    objects = config["max_objects"]
    assert config["max_relations"] == demo.DEMO_CAPACITIES["max_relations"] >= objects * (objects - 1) // 2
    processor = SherlockProcessor.from_pretrained(built)
    assert processor.extractors["objects"]["max_relations"] == config["max_relations"]
    with caplog.at_level(logging.INFO, logger="processing"):
        processor(videos=str(demo.EXAMPLE_VIDEO))
        clip = load_video(str(demo.EXAMPLE_VIDEO), num_frames=processor.num_frames)
        features = processor.extractor_set.extract(clip.frames)
    assert "exceeded" not in caplog.text
    # every pair of the objects it can keep has room: nothing can be dropped, whatever the video
    assert features["relation_mask"].shape[1] == config["max_relations"] == objects * (objects - 1) // 2


def test_two_concurrent_first_uses_both_get_a_complete_folder(tmp_path, monkeypatch):
    """Two processes (here threads) running the demo at once on an empty `SHERLOCK_HOME`: both build, neither sees
    the other's half-built folder, and both return the complete folder; no build folder is left behind. The second
    build is held until the first call returned, then looks at the folder while it is
    build is half-way (a truncated weights file written, as a build does): the folder must still be complete (a
    build in place would show the reader its truncated file)."""
    import threading
    from pathlib import Path

    monkeypatch.setenv("SHERLOCK_HOME", str(tmp_path / "home"))
    target = demo.default_demo_dir()
    original = demo.copy_shipped_demo
    entered, returned = threading.Barrier(2, timeout=120), threading.Event()
    seen_during_second_build, results, errors = [], [], []

    def build(destination):
        if entered.wait() != 0:  # the second build: after the first call returned
            assert returned.wait(timeout=120)
            (Path(destination) / "model.safetensors").write_bytes(b"\x00" * 10)  # half-way through its writes
            seen_during_second_build.append(demo.demo_problem(target))
        return original(destination)

    monkeypatch.setattr(demo, "copy_shipped_demo", build)

    def use():
        try:
            results.append(demo.ensure_demo_model())
            returned.set()
        except Exception as error:  # noqa: BLE001  (any failure is what this test looks for)
            errors.append(repr(error))

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == [] and results == [target, target]
    assert seen_during_second_build == [None]
    assert demo.demo_problem(target) is None
    assert sorted(path.name for path in target.parent.iterdir()) == [target.name]
    SherlockForConditionalGeneration.from_pretrained(target)


def test_other_shipped_weights_replace_the_copy(folder, builds, tmp_path, monkeypatch, caplog):
    """A newer package (other trained weights under the same demo version) replaces the copy made by the older one."""
    shipped = shutil.copytree(demo.SHIPPED_DEMO_DIR, tmp_path / "shipped")
    weights = bytearray((shipped / "model.safetensors").read_bytes())
    weights[-1] ^= 1  # one bit of the last tensor's data
    (shipped / "model.safetensors").write_bytes(bytes(weights))
    monkeypatch.setattr(demo, "SHIPPED_DEMO_DIR", shipped)
    assert demo.demo_problem(folder) == "the installed package ships other demo weights"
    with caplog.at_level(logging.WARNING, logger="sherlock.demo"):
        assert demo.ensure_demo_model(folder) == folder
    assert len(builds) == 1 and demo.demo_problem(folder) is None
    assert (folder / "model.safetensors").read_bytes() == bytes(weights)


def test_installations_with_other_weights_keep_their_own_copies(tmp_path, monkeypatch):
    """Two installations sharing `$SHERLOCK_HOME` (a checkout and a wheel of another release) each get their own
    folder, named by their weights: neither replaces the other's copy under a reader."""
    monkeypatch.setenv("SHERLOCK_HOME", str(tmp_path / "home"))
    first = demo.ensure_demo_model()
    shipped = shutil.copytree(demo.SHIPPED_DEMO_DIR, tmp_path / "shipped")
    weights = bytearray((shipped / "model.safetensors").read_bytes())
    weights[-1] ^= 1
    (shipped / "model.safetensors").write_bytes(bytes(weights))
    monkeypatch.setattr(demo, "SHIPPED_DEMO_DIR", shipped)
    second = demo.ensure_demo_model()
    assert first != second and first.parent == second.parent
    assert (second / "model.safetensors").read_bytes() == bytes(weights)
    monkeypatch.undo()  # the first installation again: its copy is still complete and reused as it is
    monkeypatch.setenv("SHERLOCK_HOME", str(tmp_path / "home"))
    assert demo.demo_problem(first) is None and demo.default_demo_dir() == first


def test_an_installation_without_the_shipped_model_says_how_to_rebuild_it(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "SHIPPED_DEMO_DIR", tmp_path / "no-demo-model")
    with pytest.raises(FileNotFoundError, match="make demo-model"):
        demo.ensure_demo_model(tmp_path / "demo")
    assert not (tmp_path / "demo").exists()
