"""Expert extractors as a set: detector -> poses / objects + relations / background, through `ExtractorSet` and
`build_extractors`, on tiny random models (no downloads): end to end with 0 / many / different numbers of
detections, settings, extractor ids (the feature-cache keys) and errors, the extractor modules as remote code, and the
benchmark. The extractors one by one: test_extractors_models.py (RT-DETR, ViTPose, SAM2, the paper's backends) and
test_extractors_relations.py (the geometric relation rules).

Expected values are written by hand, never computed with the function under test.
"""

import ast
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest

from processing.extractors_sherlock import (
    DEFAULT_EXTRACTOR_SETTINGS,
    EXPERT_OUTPUT_KEYS,
    EXTRACTOR_BACKENDS,
    EXTRACTOR_PATH_SETTINGS,
    ExtractorSet,
    FrameDetections,
    GeometricRelationExtractor,
    ObjectDetector,
    Sam2BackgroundExtractor,
    ViTPoseExtractor,
    build_extractors,
    is_precomputed,
)
from processing.relations_sherlock import RELATION_PREDICATES
from sherlock.tiny_extractors import tiny_extractor_models, tiny_extractor_settings

from extractor_helpers import (
    CAR,
    CUP,
    FAR_CAR,
    HEIGHT,
    HELD_CUP,
    PERSON,
    WIDTH,
    assert_same_pose,
    detections,
    extractor_warnings,
    make_frames,
)


PROCESSING = Path(__file__).resolve().parents[1] / "processing"


@pytest.fixture(scope="module")
def paths():
    return tiny_extractor_models()


@pytest.fixture
def warnings_log(caplog):
    """The warnings the extractor modules log during the test."""
    return extractor_warnings(caplog)


class StubDetector(ObjectDetector):
    """Returns fixed detections (one `FrameDetections` per frame, cycled) and counts its calls."""

    def __init__(self, per_frame: list[FrameDetections], person_label_id: int | None = PERSON):
        self.per_frame, self._person, self.calls = per_frame, person_label_id, 0

    @property
    def extractor_id(self) -> str:
        return "stub"

    @property
    def person_label_id(self):
        return self._person

    def detect(self, frames):
        self.calls += 1
        return [self.per_frame[i % len(self.per_frame)] for i in range(len(frames))]


def check_expert_outputs(out: dict, num_frames: int, max_persons: int, max_objects: int, max_relations: int):
    """Shapes, dtypes, padding and index validity shared by every end-to-end output."""
    assert set(out) == set(EXPERT_OUTPUT_KEYS)
    assert out["pose_keypoints"].shape == (num_frames, max_persons, 17, 3)
    assert out["pose_keypoints"].dtype == np.float32
    assert out["pose_mask"].shape == (num_frames, max_persons) and out["pose_mask"].dtype == np.bool_
    assert out["object_boxes"].shape == (num_frames, max_objects, 4) and out["object_boxes"].dtype == np.float32
    assert out["object_labels"].shape == (num_frames, max_objects) and out["object_labels"].dtype == np.int64
    assert out["object_mask"].shape == (num_frames, max_objects) and out["object_mask"].dtype == np.bool_
    assert out["relation_triplets"].shape == (num_frames, max_relations, 3)
    assert out["relation_triplets"].dtype == np.int64
    assert out["relation_mask"].shape == (num_frames, max_relations) and out["relation_mask"].dtype == np.bool_
    assert out["background_frames"].shape == (num_frames, HEIGHT, WIDTH, 3)
    assert out["background_frames"].dtype == np.uint8
    # padding is zero, masks are prefixes (valid entries first)
    for name, mask in (("pose", out["pose_mask"]), ("object", out["object_mask"]), ("relation", out["relation_mask"])):
        counts = mask.sum(-1)
        assert (mask == (np.arange(mask.shape[1]) < counts[:, None])).all(), name
    assert not out["pose_keypoints"][~out["pose_mask"]].any()
    assert not out["object_boxes"][~out["object_mask"]].any()
    assert not out["object_labels"][~out["object_mask"]].any()
    assert not out["relation_triplets"][~out["relation_mask"]].any()
    valid_keypoints = out["pose_keypoints"][out["pose_mask"]]
    assert np.isfinite(valid_keypoints).all()
    assert (valid_keypoints >= 0).all() and (valid_keypoints <= 1).all()
    boxes = out["object_boxes"][out["object_mask"]]
    assert (boxes >= 0).all() and (boxes <= 1).all() and (boxes[:, 2:] >= boxes[:, :2]).all()
    # relations point at unmasked objects, predicates inside the vocabulary
    for frame in range(num_frames):
        triplets = out["relation_triplets"][frame][out["relation_mask"][frame]]
        objects = int(out["object_mask"][frame].sum())
        assert ((triplets[:, [0, 2]] >= 0) & (triplets[:, [0, 2]] < objects)).all()
        assert (triplets[:, 0] != triplets[:, 2]).all()
        assert ((triplets[:, 1] >= 0) & (triplets[:, 1] < len(RELATION_PREDICATES))).all()


# ---------------------------------------------------------------------------------------------------------------------
# End to end: 0 / many / different numbers of detections
# ---------------------------------------------------------------------------------------------------------------------


def test_extract_with_no_detections(paths):
    extractors = build_extractors(tiny_extractor_settings(paths, threshold=1.01))
    frames = make_frames(3)
    out = extractors.extract(frames)
    check_expert_outputs(out, 3, max_persons=4, max_objects=6, max_relations=8)
    assert not out["pose_mask"].any() and not out["object_mask"].any() and not out["relation_mask"].any()
    assert np.array_equal(out["background_frames"], frames)


def test_extract_runs_the_detector_once_and_feeds_every_part_its_detections(paths, warnings_log):
    extractors = build_extractors(tiny_extractor_settings(paths, threshold=0.0, max_persons=2))
    frames = make_frames(3, seed=1)
    reference = extractors.detector.detect(frames)
    calls = []
    detect = extractors.detector.detect
    extractors.detector.detect = lambda f: calls.append(len(f)) or detect(f)
    out = extractors.extract(frames)
    assert calls == [3]
    check_expert_outputs(out, 3, max_persons=2, max_objects=6, max_relations=8)
    for frame, det in enumerate(reference):
        persons = int((det.labels == PERSON).sum())
        assert out["pose_mask"][frame].sum() == min(persons, 2)
        assert out["object_mask"][frame].all()  # 10 detections, capacity 6: capped
        np.testing.assert_array_equal(out["object_labels"][frame], det.labels[:6])
        np.testing.assert_allclose(out["object_boxes"][frame], det.boxes[:6])
    # the parts saw exactly the detector's detections of these frames
    for part in (extractors.pose, extractors.objects):
        for key, value in part(frames, reference).items():
            np.testing.assert_array_equal(out[key], value, err_msg=key)
    np.testing.assert_array_equal(out["background_frames"], extractors.background(frames, reference))
    assert any("found 30 objects, kept 18" in message for message in warnings_log())


def test_frames_and_clips_with_different_numbers_of_persons_and_objects(paths, warnings_log):
    """Frame 0: 3 persons + 2 objects (capacities 2 persons, 4 objects); frame 1: one person; frame 2: nothing."""
    crowd = detections(
        [(0.05, 0.1, 0.25, 0.9), (0.30, 0.1, 0.50, 0.9), (0.55, 0.1, 0.75, 0.9), HELD_CUP, FAR_CAR],
        [PERSON, PERSON, PERSON, CUP, CAR],
        [0.7, 0.95, 0.8, 0.9, 0.6],  # by score: person 1, cup, person 2, person 0, car
    )
    alone = detections([(0.40, 0.20, 0.60, 0.95)], [PERSON])
    empty = detections([], [])
    vitpose = ViTPoseExtractor(paths["vitpose"], max_persons=2)
    extractors = ExtractorSet(
        detector=StubDetector([crowd, alone, empty]),
        pose=vitpose,
        objects=GeometricRelationExtractor(max_objects=4, max_relations=3),
        background=Sam2BackgroundExtractor(paths["sam2"]),
    )
    frames = make_frames(3, seed=4)
    out = extractors.extract(frames)
    check_expert_outputs(out, 3, max_persons=2, max_objects=4, max_relations=3)
    assert out["pose_mask"].tolist() == [[True, True], [True, False], [False, False]]
    assert out["object_mask"].tolist() == [[True] * 4, [True, False, False, False], [False] * 4]
    assert out["object_labels"][0].tolist() == [PERSON, CUP, PERSON, PERSON]  # the car (lowest score) dropped
    assert out["object_labels"][1].tolist() == [PERSON, 0, 0, 0]
    np.testing.assert_allclose(out["object_boxes"][1, 0], (0.40, 0.20, 0.60, 0.95))
    assert out["relation_mask"].tolist() == [[True] * 3, [False] * 3, [False] * 3]  # one object: no pair
    assert np.array_equal(out["background_frames"][2], frames[2])  # no detection: unchanged
    # a frame's persons are posed as if the frame were alone, whatever the other frames hold
    solo = vitpose(frames[1:2], [alone])["pose_keypoints"][0, 0]
    assert_same_pose(out["pose_keypoints"][1, 0], solo)
    messages = warnings_log()
    assert any("`max_persons`=2 exceeded in 1 of 3 frames: found 3 persons, kept 2" in m for m in messages), messages
    assert any("`max_objects`=4 exceeded in 1 of 3 frames: found 5 objects, kept 4" in m for m in messages), messages
    # two clips of different contents stack into one batch: same shapes, masks tell them apart
    other = ExtractorSet(detector=StubDetector([empty]), objects=GeometricRelationExtractor(4, 3))
    batch = {key: np.stack([out[key], other.extract(frames)[key]]) for key in ("object_mask", "relation_triplets")}
    assert batch["object_mask"].shape == (2, 3, 4) and batch["relation_triplets"].shape == (2, 3, 3, 3)
    assert batch["object_mask"].sum(axis=(1, 2)).tolist() == [5, 0]


def test_parts_set_to_none_are_not_produced(paths):
    settings = tiny_extractor_settings(paths, threshold=0.0)
    settings["background"] = None
    del settings["pose"]
    extractors = build_extractors(settings)
    assert extractors.pose is None and extractors.background is None
    assert set(extractors.extractor_ids()) == {"detector", "objects"}
    out = extractors.extract(make_frames(2))
    assert set(out) == {"object_boxes", "object_labels", "object_mask", "relation_triplets", "relation_mask"}
    assert build_extractors({}).extract(make_frames(1)) == {}


# ---------------------------------------------------------------------------------------------------------------------
# Settings, ids, errors
# ---------------------------------------------------------------------------------------------------------------------


def test_default_settings_build_without_weights(paths):
    extractors = build_extractors(DEFAULT_EXTRACTOR_SETTINGS)
    ids = extractors.extractor_ids()
    assert set(ids) == {"detector", "pose", "objects", "background"}
    assert "PekingU/rtdetr_r50vd" in ids["detector"] and "facebook/sam2.1-hiera-tiny" in ids["background"]
    assert extractors.detector._model is None and extractors.pose._model is None  # nothing loaded yet
    assert extractors.background._model is None


@pytest.mark.parametrize(
    "part, changes, same",
    [
        ("detector", {"model": "other", "threshold": 0.3}, {"batch_size": 3, "device": "meta"}),
        (
            "pose",
            {"model": "other", "max_persons": 5, "min_score": 0.2, "dark_kernel": 5},
            {"batch_size": 3, "device": "meta"},
        ),
        (
            "objects",
            {"max_objects": 5, "max_relations": 9, "min_score": 0.2, "rideable_classes": ("horse",)},
            {},
        ),
        (
            "background",
            {
                "model": "other",
                "min_score": 0.2,
                "max_boxes": 3,
                "mask_threshold": 0.5,
                "box_margin": 0.2,
                "fill_value": (0, 0, 0),
            },
            {"batch_size": 3, "device": "meta"},
        ),
    ],
)
def test_extractor_ids_change_with_every_output_setting_and_only_with_those(paths, part, changes, same):
    def part_id(**overrides):
        settings = tiny_extractor_settings(paths)
        settings[part] = {**settings[part], **overrides}
        return build_extractors(settings).extractor_ids()[part]

    base = part_id()
    assert part_id() == base  # separately built from equal settings: equal keys
    for name, value in changes.items():
        assert part_id(**{name: value}) != base, f"{part}.{name} changes the outputs but not the cache key"
    ids = {part_id(**{name: value}) for name, value in changes.items()}
    assert len(ids) == len(changes)  # each setting changes the key differently
    for name, value in same.items():
        assert part_id(**{name: value}) == base, f"{part}.{name} does not change the outputs but changes the key"


def test_extractor_ids_change_when_weights_change_in_place(tmp_path):
    """Weights rewritten at the same path are new weights: the cache key must change (no stale features)."""
    from safetensors.torch import load_file, save_file

    from sherlock.tiny_extractors import build_tiny_extractor_models

    paths = build_tiny_extractor_models(str(tmp_path))
    before = build_extractors(tiny_extractor_settings(paths)).extractor_ids()
    assert build_extractors(tiny_extractor_settings(paths)).extractor_ids() == before
    weights = next(Path(paths["vitpose"]).glob("*.safetensors"))
    state = load_file(weights)
    save_file({name: value + 1 for name, value in state.items()}, weights, metadata={"format": "pt"})
    after = build_extractors(tiny_extractor_settings(paths)).extractor_ids()
    assert after["pose"] != before["pose"]
    assert {part: after[part] for part in after if part != "pose"} == {p: before[p] for p in before if p != "pose"}


def test_extractor_ids_do_not_depend_on_where_local_models_lie(tmp_path):
    """A saved folder that is moved or copied (its files keep their times) keeps its cache entries."""
    import shutil

    from sherlock.tiny_extractors import build_tiny_extractor_models

    paths = build_tiny_extractor_models(str(tmp_path / "here"))
    shutil.copytree(tmp_path / "here", tmp_path / "there")
    moved = {name: str(tmp_path / "there" / Path(path).name) for name, path in paths.items()}
    ids = build_extractors(tiny_extractor_settings(paths)).extractor_ids()
    assert build_extractors(tiny_extractor_settings(moved)).extractor_ids() == ids
    assert not any(str(tmp_path) in value for value in ids.values())


def test_settings_errors():
    with pytest.raises(ValueError, match=r"Unknown detector backend 'yolo'; known: \['rt_detr'\]"):
        build_extractors({"detector": {"backend": "yolo"}})
    with pytest.raises(ValueError, match="Unknown pose backend 'openpose'.*higherhrnet.*vitpose"):
        build_extractors({"detector": DEFAULT_EXTRACTOR_SETTINGS["detector"], "pose": {"backend": "openpose"}})
    with pytest.raises(ValueError, match="Unknown extractor parts"):
        build_extractors({"depth": {"backend": "x"}})
    with pytest.raises(ValueError, match=r"Unknown settings \['thresh'\]"):
        build_extractors({"detector": {"backend": "rt_detr", "thresh": 0.1}})
    with pytest.raises(ValueError, match="no `detector`"):
        ExtractorSet(objects=GeometricRelationExtractor())
    with pytest.raises(ValueError, match="uint8"):
        GeometricRelationExtractor()(np.zeros((1, 4, 4, 3), np.float32), [detections([], [])])
    with pytest.raises(ValueError, match="2 frames but 1"):
        GeometricRelationExtractor()(make_frames(1), [detections([], [])] * 2)
    with pytest.raises(ValueError, match="`max_persons` must be a positive integer, got 0"):
        ViTPoseExtractor(max_persons=0)


def test_every_model_location_setting_is_a_declared_path_setting():
    """A saved processor copies the settings named in `EXTRACTOR_PATH_SETTINGS`: every constructor argument that
    locates a model (a Hub id or a local file / folder) must be one of them, under its settings name."""
    locations = {"model_name_or_path", "config_path", "checkpoint"}
    for part, backends in EXTRACTOR_BACKENDS.items():
        for backend, (cls, renames) in backends.items():
            arguments = set(inspect.signature(cls.__init__).parameters) & locations
            settings_names = {next((k for k, v in renames.items() if v == a), a) for a in arguments}
            assert settings_names <= set(EXTRACTOR_PATH_SETTINGS), (part, backend, settings_names)
            assert arguments or backend == "geometric", (part, backend)  # every other backend loads a model
    assert set(EXTRACTOR_PATH_SETTINGS) == {"model", "config_path", "checkpoint"}


def test_precomputed_settings_are_recognised_and_build_nothing():
    assert is_precomputed({"backend": "precomputed"})
    assert not is_precomputed(DEFAULT_EXTRACTOR_SETTINGS) and not is_precomputed(None)
    with pytest.raises(ValueError, match="'precomputed' extractor settings build no extractor.*feature cache"):
        build_extractors({"backend": "precomputed"})


def test_stub_detector_contract_is_used_once_per_extract(paths):
    """`extract` calls the detector exactly once even with all three extractors on a one-person clip."""
    detector = StubDetector([detections([(0.3, 0.1, 0.55, 0.9), (0.6, 0.5, 0.7, 0.6)], [PERSON, CUP])])
    extractors = ExtractorSet(
        detector=detector,
        pose=ViTPoseExtractor(paths["vitpose"], max_persons=2),
        objects=GeometricRelationExtractor(max_objects=3, max_relations=2),
        background=Sam2BackgroundExtractor(paths["sam2"]),
    )
    out = extractors.extract(make_frames(2))
    assert detector.calls == 1
    check_expert_outputs(out, 2, max_persons=2, max_objects=3, max_relations=2)
    assert out["pose_mask"].tolist() == [[True, False]] * 2
    assert out["object_mask"].tolist() == [[True, True, False]] * 2
    assert extractors.extractor_ids()["detector"] == "stub"


# ---------------------------------------------------------------------------------------------------------------------
# Remote code: flat modules, allowed imports, cheap to import, all copied next to a saved processor
# ---------------------------------------------------------------------------------------------------------------------

EXTRACTOR_MODULES = sorted(p.name for p in PROCESSING.glob("extractor*_sherlock.py")) + ["relations_sherlock.py"]


@pytest.mark.parametrize("name", EXTRACTOR_MODULES)
def test_extractor_modules_are_small_flat_remote_code_with_lazy_heavy_imports(name):
    from transformers.dynamic_module_utils import get_imports

    source = (PROCESSING / name).read_text()
    assert len(source.splitlines()) < 600
    allowed = set(sys.stdlib_module_names) | {"numpy", "torch", "transformers"}
    # transformers' remote-code loader demands every package named by any import statement of the file
    assert set(get_imports(PROCESSING / name)) <= allowed
    tree = ast.parse(source)
    for node in tree.body:  # module level: no torch, no model classes, no scipy
        if isinstance(node, ast.Import):
            assert all(alias.name.split(".")[0] in set(sys.stdlib_module_names) | {"numpy"} for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                assert node.level == 1 and node.module and "." not in node.module, node.module
            else:
                assert node.module.split(".")[0] in set(sys.stdlib_module_names) | {"numpy"} or node.module in (
                    "transformers.utils",
                ), node.module
    assert isinstance(tree.body[-1], ast.Assign) and tree.body[-1].targets[0].id == "__all__"


def test_every_extractor_module_is_copied_with_the_remote_code_processor():
    from transformers.dynamic_module_utils import get_relative_import_files

    copied = {Path(path).name for path in get_relative_import_files(PROCESSING / "processing_sherlock.py")}
    assert set(EXTRACTOR_MODULES) | {"extractors_sherlock.py"} <= copied


# ---------------------------------------------------------------------------------------------------------------------
# Benchmark
# ---------------------------------------------------------------------------------------------------------------------


def test_benchmark_quick_run_reports_every_backend():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import benchmark_extractors

    results = benchmark_extractors.main(["--quick", "--frames", "2"])
    assert set(results["per_frame_ms"]) == {"detector", "pose", "relations", "background"}
    assert all(value > 0 for value in results["per_frame_ms"].values())
    assert results["counts"]["detections_per_frame"] == 10.0  # the tiny detector at threshold 0 keeps its 10 queries
    assert results["counts"]["relations_per_frame"] <= 32
