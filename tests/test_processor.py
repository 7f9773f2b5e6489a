"""SherlockProcessor: video in, model inputs out; the feature cache; remote code; end to end with a tiny Sherlock."""

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling_sherlock import EXPERT_INPUT_NAMES, SherlockForConditionalGeneration
from modeling_sherlock.modeling_sherlock_experts import patch_centers
from processing import DEFAULT_INSTRUCTION, AbnormalEvent, SherlockProcessor, VideoDecodeError
from processing.extractors_sherlock import FrameDetections
from processing.relations_sherlock import RELATION_PREDICATES
from sherlock.tiny_extractors import build_tiny_extractor_models, tiny_extractor_models, tiny_extractor_settings
from sherlock.tiny_models import build_tiny_sherlock

from forced_answer import FORCED_ANSWER, FORCED_EVENT, forced_generation_kwargs
from hub_server import hub_server, hub_server_instance, use_hub_endpoint  # noqa: F401  (pytest fixtures)
from isolated_python import run_without_repository
from video_factory import make_empty, make_text_as_mp4, make_truncated, write_video


REPO = Path(__file__).resolve().parents[1]
NUM_FRAMES = 4
TOKENS_PER_FRAME = (32 // 8) ** 2 + 1


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_sherlock")
    settings = tiny_extractor_settings(tiny_extractor_models(), threshold=0.0, max_persons=8, max_objects=16)
    settings["objects"]["max_relations"] = 32
    return build_tiny_sherlock(folder, extractors=settings, num_frames=NUM_FRAMES)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("videos") / "clip.mp4", num_frames=24, fps=8.0, size=(96, 64))


@pytest.fixture(scope="module")
def moved_folder(tmp_path_factory):
    """A tiny Sherlock saved with extractor models from a folder of their own, then moved elsewhere, with the
    original extractor folder deleted: it only loads if the saved folder carries its extractors."""
    root = tmp_path_factory.mktemp("travel")
    paths = build_tiny_extractor_models(str(root / "extractor_models"))
    settings = tiny_extractor_settings(paths, threshold=0.0, max_persons=8, max_objects=16)
    settings["objects"]["max_relations"] = 32
    build_tiny_sherlock(root / "saved", extractors=settings, num_frames=NUM_FRAMES)
    moved = root / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(str(root / "saved"), str(moved))
    shutil.rmtree(root / "extractor_models")
    return moved


def absolute_paths_in_json(folder: Path) -> list[tuple[str, str]]:
    """(file, value) for every string in the folder's JSON files that is an absolute path."""
    found = []

    def walk(value, name):
        if isinstance(value, dict):
            for item in value.values():
                walk(item, name)
        elif isinstance(value, list):
            for item in value:
                walk(item, name)
        elif isinstance(value, str) and (os.path.isabs(value) or value.startswith("~")):
            found.append((name, value))

    for path in folder.rglob("*.json"):
        walk(json.loads(path.read_text()), str(path.relative_to(folder)))
    return found


def load_processor(folder, **changes) -> SherlockProcessor:
    processor = SherlockProcessor.from_pretrained(folder)
    for name, value in changes.items():
        setattr(processor, name, value)
    return processor


def test_outputs_are_exactly_the_model_inputs_with_their_shapes(folder, video):
    processor = load_processor(folder)
    batch = processor(videos=video)
    # exactly the model's inputs: the base ones and every expert input (background as pixels, not cached features)
    expected = {"input_ids", "attention_mask", "pixel_values_videos"} | set(EXPERT_INPUT_NAMES)
    expected.discard("background_features")
    assert set(batch.keys()) == expected
    assert batch["pixel_values_videos"].shape == (1, NUM_FRAMES, 3, 32, 32)
    assert batch["background_pixel_values"].shape == (1, NUM_FRAMES, 3, 32, 32)
    assert batch["pose_keypoints"].shape == (1, NUM_FRAMES, 8, 17, 3)
    assert batch["pose_mask"].shape == (1, NUM_FRAMES, 8) and batch["pose_mask"].dtype == torch.bool
    assert batch["object_boxes"].shape == (1, NUM_FRAMES, 16, 4)
    assert batch["object_labels"].dtype == torch.int64
    assert batch["relation_triplets"].shape == (1, NUM_FRAMES, 32, 3)
    video_tokens = (batch["input_ids"] == processor.video_token_id).sum().item()
    assert video_tokens == NUM_FRAMES * TOKENS_PER_FRAME == processor.tokens_per_frame * NUM_FRAMES
    prompt = processor.tokenizer.decode(batch["input_ids"][0][batch["input_ids"][0] != processor.video_token_id])
    assert prompt.startswith("USER: ") and prompt.rstrip().endswith("ASSISTANT:")
    assert "Generate a quadruple and localize an abnormal event" in prompt
    assert "The video lasts 3.0 seconds; its frames are sampled at 0.4, 1.1, 1.9, 2.6 seconds." in prompt


def test_frames_resized_without_a_crop_still_give_square_background_frames(folder, video):
    """An image processor that squeezes the whole frame into the model's square (no centre crop): the video frames
    are the whole frame, the background tower still gets its square view (it has a fixed input size)."""
    from sherlock.tiny_models import tiny_image_processor

    squeeze = tiny_image_processor(32)
    squeeze.size, squeeze.do_center_crop = {"height": 32, "width": 32}, False
    processor = load_processor(folder, image_processor=squeeze)
    batch = processor(videos=video)  # 96 x 64 frames
    assert batch["pixel_values_videos"].shape == (1, NUM_FRAMES, 3, 32, 32)
    assert batch["background_pixel_values"].shape == (1, NUM_FRAMES, 3, 32, 32)
    model = SherlockForConditionalGeneration.from_pretrained(folder)
    with torch.no_grad():
        assert torch.isfinite(model(**batch).logits).all()


@pytest.mark.parametrize("threshold, persons", [(1.01, "none"), (0.0, "some")])
def test_expert_masks_for_videos_without_and_with_detections(folder, video, threshold, persons):
    processor = load_processor(folder)
    processor.extractors["detector"]["threshold"] = threshold
    batch = processor(videos=video)
    if persons == "none":
        for name in ("pose_mask", "object_mask", "relation_mask"):
            assert not batch[name].any(), name
        assert (batch["pose_keypoints"] == 0).all()
    else:
        counts = batch["object_mask"].sum(-1)
        # the tiny detector's 10 queries are all above threshold 0 ...
        raw = processor.extract_features(processor.load_video(video), "no-cache")
        assert (raw["object_mask"].sum(-1) == 10).all()
        # ... and the model sees those whose boxes keep an area inside the centre crop of the 96 x 64 frames
        window = processor.view_window(64, 96)
        boxes = raw["object_boxes"]
        visible = (np.minimum(boxes[..., 2], window.x1) - np.maximum(boxes[..., 0], window.x0) > 1e-6) & (
            np.minimum(boxes[..., 3], window.y1) - np.maximum(boxes[..., 1], window.y0) > 1e-6
        )
        assert counts[0].tolist() == (visible & raw["object_mask"]).sum(-1).tolist()
        assert batch["pose_mask"].any()
        boxes = batch["object_boxes"][batch["object_mask"]]
        assert (boxes >= 0).all() and (boxes <= 1).all()
        # every kept relation joins two objects the model sees, with a known predicate
        b, f, r = torch.nonzero(batch["relation_mask"], as_tuple=True)
        triplets = batch["relation_triplets"][b, f, r]
        assert len(triplets) > 0 and (triplets[:, 1] < len(RELATION_PREDICATES)).all()
        assert batch["object_mask"][b, f, triplets[:, 0]].all() and batch["object_mask"][b, f, triplets[:, 2]].all()
    # whatever was detected, the tiny Sherlock accepts these inputs
    model = SherlockForConditionalGeneration.from_pretrained(folder).eval()
    with torch.no_grad():
        assert torch.isfinite(model(**batch).logits).all()


def test_one_detection_gives_exactly_one_object(folder, video):
    processor = load_processor(folder)
    detector = processor.extractor_set.detector
    original = detector.detect

    def keep_best(frames):
        return [
            d.__class__(d.boxes[:1], d.labels[:1], d.scores[:1], d.person_label_id, d.id2label)
            for d in original(frames)
        ]

    detector.detect = keep_best
    batch = processor(videos=video)
    assert (batch["object_mask"].sum(-1) == 1).all()
    assert not batch["relation_mask"].any()  # one object: no pair to relate


def test_batch_of_videos_pads_text_and_stacks_inputs(folder, video, tmp_path):
    other = write_video(tmp_path / "other.mp4", num_frames=40, fps=10.0, size=(80, 48))
    processor = load_processor(folder)
    batch = processor(videos=[video, other], return_metadata=True)
    assert batch["pixel_values_videos"].shape[:2] == (2, NUM_FRAMES)
    assert batch["input_ids"].shape[0] == 2
    assert [m["duration"] for m in batch["video_metadata"]] == [3.0, 4.0]
    # left padding, so that generation continues right after each prompt
    assert (batch["attention_mask"][:, -1] == 1).all()


def test_file_objects_bytes_and_arrays(folder, video):
    processor = load_processor(folder)
    from_path = processor(videos=video)
    with open(video, "rb") as handle:
        from_file = processor(videos=handle)
    from_bytes = processor(videos=Path(video).read_bytes())
    for other in (from_file, from_bytes):
        torch.testing.assert_close(other["pixel_values_videos"], from_path["pixel_values_videos"])
        torch.testing.assert_close(other["object_boxes"], from_path["object_boxes"])
    frames = np.stack([np.full((48, 64, 3), i * 10, dtype=np.uint8) for i in range(12)])
    from_array = processor(videos=frames, array_fps=4.0, return_metadata=True)
    assert from_array["video_metadata"][0]["duration"] == pytest.approx(3.0)


def test_custom_prompt_and_wrong_placeholders(folder, video):
    processor = load_processor(folder)
    batch = processor(text="USER: <video>\nWhat happens? ASSISTANT:", videos=video)
    assert (batch["input_ids"] == processor.video_token_id).sum() == NUM_FRAMES * TOKENS_PER_FRAME
    with pytest.raises(ValueError, match="exactly one `<video>` placeholder, found 0"):
        processor(text="USER: no video here ASSISTANT:", videos=video)
    with pytest.raises(ValueError, match="2 prompts for 1 videos"):
        processor(text=["a <video>", "b <video>"], videos=video)


def count_calls(processor):
    calls = {"detector": 0, "pose": 0, "objects": 0, "background": 0}
    extractors = processor.extractor_set
    for name, part in (
        ("pose", extractors.pose),
        ("objects", extractors.objects),
        ("background", extractors.background),
    ):
        original = part.__class__.__call__

        def counted(frames, detections, _original=original, _part=part, _name=name):
            calls[_name] += 1
            return _original(_part, frames, detections)

        setattr(
            extractors,
            name,
            type("Counted", (), {"__call__": staticmethod(counted), "extractor_id": part.extractor_id})(),
        )
    detect = extractors.detector.detect

    def counted_detect(frames):
        calls["detector"] += 1
        return detect(frames)

    extractors.detector.detect = counted_detect
    return calls


def test_cache_runs_the_extractors_once_and_misses_on_changes(folder, video, tmp_path):
    cache = tmp_path / "cache"
    processor = load_processor(folder, feature_cache_dir=str(cache))
    calls = count_calls(processor)
    first = processor(videos=video)
    second = processor(videos=video)
    assert calls == {"detector": 1, "pose": 1, "objects": 1, "background": 1}
    for name in first:
        torch.testing.assert_close(second[name], first[name])
    # one entry of expert features, one of preprocessed pixels
    assert len(list(cache.rglob("*.safetensors"))) == 2 and len(list(cache.rglob("*.json"))) == 2

    # a changed video (same name, other content) misses
    changed = write_video(tmp_path / "changed.mp4", num_frames=24, fps=8.0, size=(96, 64), pattern="texture")
    processor(videos=changed)
    assert calls["detector"] == 2
    # another extractor id (threshold) misses, and a fresh processor with the same settings hits
    other = load_processor(folder, feature_cache_dir=str(cache))
    other.extractors["detector"]["threshold"] = 0.5
    other_calls = count_calls(other)
    other(videos=video)
    assert other_calls["detector"] == 1
    again = load_processor(folder, feature_cache_dir=str(cache))
    again_calls = count_calls(again)
    again(videos=video)
    assert again_calls["detector"] == 0
    # other frame times miss
    again(videos=video, num_frames=6)
    assert again_calls["detector"] == 1


def test_a_cached_pass_probes_the_video_without_decoding_it(folder, video, tmp_path, monkeypatch):
    import processing.processing_sherlock as module

    decoded = []
    original = module.load_video

    def counting(*args, **kwargs):
        decoded.append(kwargs.get("decode", True))
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "load_video", counting)
    processor = load_processor(folder, feature_cache_dir=str(tmp_path / "cache"))
    first = processor(videos=video)
    assert decoded == [False, True]  # probe (miss), then decode
    second = processor(videos=video)
    assert decoded == [False, True, False]  # probe (hit): no decoding
    for name in first:
        torch.testing.assert_close(second[name], first[name])
    # without pixel caching the video is decoded again (features still come from the cache)
    processor.cache_pixels = False
    processor(videos=video)
    assert decoded[-1] is True


def test_precomputed_backend_reads_the_cache_and_runs_no_model(folder, video, tmp_path):
    cache = tmp_path / "cache"
    load_processor(folder, feature_cache_dir=str(cache))(videos=video)
    reference = load_processor(folder, feature_cache_dir=str(cache))(videos=video)
    precomputed = load_processor(folder, feature_cache_dir=str(cache), extractors={"backend": "precomputed"})
    batch = precomputed(videos=video)
    assert precomputed._extractor_set is None  # no extractor model was even built
    for name in reference:
        torch.testing.assert_close(batch[name], reference[name])
    with pytest.raises(ValueError, match="precomputed features missing"):
        precomputed(videos=video, num_frames=3)


def test_a_reloaded_processor_keeps_its_feature_cache(folder, video, tmp_path):
    """Issue 20: `from_pretrained` has its own `cache_dir` (the download folder); on transformers 5.25 it handed back
    `cache_dir=None` and a saved processor forgot its feature cache. The precomputed backend reads only the cache, so
    a reload that loses it raises."""
    saved = tmp_path / "saved"
    shutil.copytree(folder, saved)
    processor = load_processor(saved, feature_cache_dir=str(saved / "feature_cache"))
    reference = processor(videos=video)
    processor.extractors = {"backend": "precomputed"}
    processor.save_pretrained(saved)
    reloaded = SherlockProcessor.from_pretrained(saved)
    assert reloaded.feature_cache_dir == str(saved / "feature_cache")
    # `cache_dir` given to `from_pretrained` is the download folder, never the feature cache
    downloads = SherlockProcessor.from_pretrained(saved, cache_dir=str(tmp_path / "downloads"))
    assert downloads.feature_cache_dir == str(saved / "feature_cache")
    batch = reloaded(videos=video)
    for name in ("object_boxes", "pose_keypoints"):
        torch.testing.assert_close(batch[name], reference[name])


def test_a_folder_copied_like_cp_r_hits_its_own_feature_cache(folder, video, tmp_path):
    """Issue 20: `cp -r` gives the copied files new modification times; the extractor ids fingerprint the extractor
    models' contents, so the copy finds the features its original cached (no extractor runs)."""
    saved = tmp_path / "saved"
    shutil.copytree(folder, saved)
    processor = load_processor(saved, feature_cache_dir=str(saved / "feature_cache"))
    reference = processor(videos=video)
    processor.save_pretrained(saved)  # `./feature_cache`, inside the folder, travels with it
    copy = shutil.copytree(saved, tmp_path / "copy", copy_function=shutil.copy)  # no file times kept, as `cp -r`
    weights = Path("extractor-detector") / "model.safetensors"
    assert (copy / weights).stat().st_mtime_ns != (saved / weights).stat().st_mtime_ns
    copied = SherlockProcessor.from_pretrained(copy)
    assert copied.feature_cache_dir == str(copy / "feature_cache")
    assert copied.extractor_set.extractor_ids() == processor.extractor_set.extractor_ids()
    calls = count_calls(copied)
    batch = copied(videos=video)
    assert calls == {"detector": 0, "pose": 0, "objects": 0, "background": 0}
    for name in reference:
        torch.testing.assert_close(batch[name], reference[name])


def test_a_config_with_the_old_cache_dir_name_loads_with_a_deprecation_warning(folder, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    config_path = old / "processor_config.json"
    config = json.loads(config_path.read_text())
    config.pop("feature_cache_dir", None)
    config["cache_dir"] = "./feature_cache"
    config_path.write_text(json.dumps(config))
    with pytest.warns(FutureWarning, match="feature_cache_dir"):
        processor = SherlockProcessor.from_pretrained(old)
    assert processor.feature_cache_dir == str(old / "feature_cache")
    # the old keyword and attribute still work, with the warning
    with pytest.warns(FutureWarning, match="feature_cache_dir"):
        assert processor.cache_dir == str(old / "feature_cache")
    with pytest.warns(FutureWarning, match="feature_cache_dir"):
        renamed = SherlockProcessor(processor.image_processor, processor.tokenizer, cache_dir="/tmp/features")
    assert renamed.feature_cache_dir == "/tmp/features"
    # a config with the new name loads without the warning
    processor.save_pretrained(tmp_path / "new")
    assert "cache_dir" not in json.loads((tmp_path / "new" / "processor_config.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        SherlockProcessor.from_pretrained(tmp_path / "new")


@pytest.mark.parametrize(
    "make, reason",
    [
        (make_empty, "empty"),
        (make_text_as_mp4, "text"),
        (lambda path: make_truncated(path, fraction=0.3), "truncated"),
        (lambda path: path, "no such file"),
    ],
)
def test_bad_videos_raise_the_one_error_type(folder, tmp_path, make, reason):
    path = make(tmp_path / "bad.mp4")
    with pytest.raises(VideoDecodeError) as error:
        load_processor(folder)(videos=path)
    message = str(error.value)
    assert "bad.mp4" in message and reason in message and "\n" not in message


def test_save_load_round_trip_keeps_every_setting(folder, tmp_path):
    processor = load_processor(folder)
    processor.num_frames = 6
    processor.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "processor_config.json").read_text())
    assert config["auto_map"] == {"AutoProcessor": "processing_sherlock.SherlockProcessor"}
    assert config["num_frames"] == 6
    # the extractor models are copied into the folder and referenced relative to it; every other setting is kept
    assert config["extractors"]["detector"]["model"] == "./extractor-detector"
    assert config["extractors"]["pose"]["model"] == "./extractor-pose"
    assert config["extractors"]["background"]["model"] == "./extractor-background"
    for part in ("detector", "pose", "background"):
        assert (tmp_path / f"extractor-{part}" / "config.json").is_file(), part
        saved = {k: v for k, v in config["extractors"][part].items() if k != "model"}
        assert saved == {k: v for k, v in processor.extractors[part].items() if k != "model"}
    assert config["extractors"]["objects"] == processor.extractors["objects"]
    assert absolute_paths_in_json(tmp_path) == []
    # every module of the processing package is remote code the saved processor needs (none is left behind)
    modules = sorted(p.name for p in (REPO / "processing").glob("*_sherlock.py"))
    assert len(modules) >= 15
    missing = [name for name in modules if not (tmp_path / name).is_file()]
    assert not missing, missing
    loaded = SherlockProcessor.from_pretrained(tmp_path)
    assert loaded.num_frames == 6
    assert loaded.extractors["detector"]["model"] == str(tmp_path / "extractor-detector")
    assert loaded.tokens_per_frame == processor.tokens_per_frame
    assert loaded.chat_template == processor.chat_template
    # saving a loaded processor into its own folder references its models in place (no copy of a copy)
    loaded.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "processor_config.json").read_text())["extractors"] == config["extractors"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("extractor-")) == [
        "extractor-background",
        "extractor-detector",
        "extractor-pose",
    ]


def test_a_saved_folder_can_be_moved_and_loads_its_own_extractors(moved_folder, video, tmp_path):
    assert absolute_paths_in_json(moved_folder) == []
    processor = SherlockProcessor.from_pretrained(moved_folder)
    for part in ("detector", "pose", "background"):
        assert Path(processor.extractors[part]["model"]).parent == moved_folder, part
    batch = processor(videos=video)
    assert batch["object_mask"].any() and batch["background_pixel_values"].shape == (1, NUM_FRAMES, 3, 32, 32)
    model = SherlockForConditionalGeneration.from_pretrained(moved_folder).eval()
    with torch.no_grad():
        assert torch.isfinite(model(**batch).logits).all()
    # a cache dir inside the folder is saved relative to it, one outside is not saved
    processor.feature_cache_dir = str(tmp_path / "copy" / "feature_cache")
    processor.save_pretrained(tmp_path / "copy")
    assert (
        json.loads((tmp_path / "copy" / "processor_config.json").read_text())["feature_cache_dir"] == "./feature_cache"
    )
    assert SherlockProcessor.from_pretrained(tmp_path / "copy").feature_cache_dir == str(
        tmp_path / "copy" / "feature_cache"
    )
    processor.feature_cache_dir = str(tmp_path / "elsewhere")
    processor.save_pretrained(tmp_path / "other")
    assert json.loads((tmp_path / "other" / "processor_config.json").read_text())["feature_cache_dir"] is None
    assert absolute_paths_in_json(tmp_path / "copy") == [] and absolute_paths_in_json(tmp_path / "other") == []


def test_saving_a_missing_local_extractor_path_fails_loudly(folder, tmp_path):
    processor = load_processor(folder)
    processor.extractors["detector"]["model"] = str(tmp_path / "gone")
    with pytest.raises(ValueError, match="detector extractor's model .*gone.* does not exist"):
        processor.save_pretrained(tmp_path / "out")
    processor.extractors["detector"]["model"] = str(tmp_path)
    with pytest.raises(ValueError, match="inside the detector extractor's model folder"):
        processor.save_pretrained(tmp_path / "out")


def test_a_processor_pushed_to_the_hub_loads_its_extractors_from_the_snapshot(
    moved_folder,
    video,
    hub_server,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    setup = use_hub_endpoint(monkeypatch, hub_server, tmp_path)
    processor = SherlockProcessor.from_pretrained(moved_folder)
    processor.push_to_hub("org/tiny-sherlock-processor", token="hf_test")
    loaded = SherlockProcessor.from_pretrained("org/tiny-sherlock-processor")
    snapshot = Path(loaded.extractors["detector"]["model"]).parent
    assert snapshot.parent.name == "snapshots" and Path(setup["cache_dir"]) in snapshot.parents
    for part in ("detector", "pose", "background"):
        assert (Path(loaded.extractors[part]["model"]) / "config.json").is_file(), part
    reference = processor(videos=video)
    batch = loaded(videos=video)
    for name in reference:
        torch.testing.assert_close(batch[name], reference[name])
    assert setup["blocked"] == []


REMOTE_PROCESSOR_SCRIPT = """
import inspect, json
from transformers import AutoModel, AutoProcessor

folder, video = sys.argv[1], sys.argv[2]
processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
assert type(processor).__name__ == "SherlockProcessor", type(processor)
assert "transformers_modules" in type(processor).__module__, type(processor).__module__
assert not in_repo(inspect.getfile(type(processor)))
batch = processor(videos=video, return_metadata=True)
metadata = batch.pop("video_metadata")
out = model.generate(**batch, max_new_tokens=5, do_sample=False)
events = processor.post_process_events("1.0-2.0s: (people, Theft, car, Street)", metadata[0]["duration"])
print(json.dumps({"keys": sorted(batch.keys()), "new_tokens": out.shape[1] - batch["input_ids"].shape[1],
                  "events": [e.to_dict() for e in events], "objects": int(batch["object_mask"].sum()),
                  "extractors": {part: processor.extractors[part]["model"] for part in ("detector", "background")}}))
"""


def test_auto_processor_with_remote_code_in_a_subprocess_without_the_repository(moved_folder, video, tmp_path):
    # the moved folder: its extractors' original folder is gone, so this also proves the folder travels
    result = run_without_repository(REMOTE_PROCESSOR_SCRIPT, [moved_folder, video], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "pose_keypoints" in report["keys"] and "background_pixel_values" in report["keys"]
    assert report["new_tokens"] == 5
    assert report["events"][0]["event_type"] == "Theft" and report["events"][0]["start"] == 1.0
    assert report["objects"] > 0  # the extractors ran from the moved folder
    assert report["extractors"] == {
        "detector": str(moved_folder / "extractor-detector"),
        "background": str(moved_folder / "extractor-background"),
    }


def test_end_to_end_generated_video_to_events(folder, video):
    """Through the real generate -> score -> parse path; a logits processor makes the random model say one event."""
    from sherlock.analyze import analyze_video

    processor = load_processor(folder)
    model = SherlockForConditionalGeneration.from_pretrained(folder).eval()
    result = analyze_video(model, processor, video, max_new_tokens=30, **forced_generation_kwargs(processor.tokenizer))
    assert result.answer == FORCED_ANSWER
    assert len(result.events) == 1 and isinstance(result.events[0], AbnormalEvent)
    event = result.events[0].to_dict()
    score = event.pop("score")
    assert event == FORCED_EVENT
    assert 0 < score < 1  # forced by a logit bonus, not made certain
    assert result.duration == 3.0 and result.timestamps == [0.375, 1.125, 1.875, 2.625]


def test_analysis_reports_its_phases_and_the_videos_gate_weights(folder, video):
    """The gate weights of `analyze_video` are the video's mean over its tokens, as the evaluation records them."""
    from sherlock.analyze import analyze_video
    from sherlock.evaluation.dataset import VideoItem
    from sherlock.evaluation.sherlock_predictor import SherlockPredictor

    processor = load_processor(folder)
    model = SherlockForConditionalGeneration.from_pretrained(folder).eval()
    phases = []
    result = analyze_video(model, processor, video, max_new_tokens=8, progress=phases.append)
    assert phases == ["decoding and extracting", "generating", "parsing"]
    assert list(result.gate_weights) == list(model.config.experts)
    assert sum(result.gate_weights.values()) == pytest.approx(1.0, abs=1e-5)
    [evaluated] = SherlockPredictor(model, processor, max_new_tokens=8).predict([VideoItem("v", str(video))], {})
    assert result.gate_weights == pytest.approx(evaluated.gate_weights, abs=1e-6)
    assert result.to_dict(str(video))["gate_weights"] == result.gate_weights


def test_the_gate_recorder_ignores_forwards_of_other_threads(folder, video, tmp_path):
    """A Space shares one model between users: a forward run by another thread is not this request's."""
    import threading

    from sherlock.evaluation.sherlock_predictor import GateRecorder

    processor = load_processor(folder)
    model = SherlockForConditionalGeneration.from_pretrained(folder).eval()
    other = processor(videos=write_video(tmp_path / "other.mp4", num_frames=40, fps=8.0, size=(160, 96)))
    mine = processor(videos=video)
    with torch.no_grad(), GateRecorder(model) as alone:
        model(**mine)
    with torch.no_grad(), GateRecorder(model) as recorder:
        thread = threading.Thread(target=lambda: model(**other))
        thread.start()
        thread.join()  # the other thread's forward runs first
        model(**mine)
    assert recorder.per_video(1) == alone.per_video(1)
    with torch.no_grad(), GateRecorder(model) as first_seen:
        model(**other)
    assert first_seen.per_video(1) != alone.per_video(1)  # the two videos do give different gate weights


def test_loading_never_asks_to_trust_the_models_remote_code(folder, monkeypatch):
    import transformers.models.auto.configuration_auto as configuration_auto

    asked = []
    original = configuration_auto.resolve_trust_remote_code

    def recording(trust_remote_code, *args, **kwargs):
        asked.append(trust_remote_code)
        return original(trust_remote_code, *args, **kwargs)

    monkeypatch.setattr(configuration_auto, "resolve_trust_remote_code", recording)
    SherlockProcessor.from_pretrained(folder)
    assert asked and None not in asked  # None would mean an interactive prompt in a terminal


def test_analyze_with_a_custom_question_keeps_the_frame_times_line(folder, video):
    from sherlock.analyze import analyze_video

    processor = load_processor(folder)
    model = SherlockForConditionalGeneration.from_pretrained(folder).eval()
    seen = []
    original = model.generate

    def spy(**inputs):
        seen.append(processor.tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=True))
        return original(**inputs)

    model.generate = spy
    analyze_video(model, processor, video, max_new_tokens=2, question="Is anyone falling?")
    assert "Is anyone falling?" in seen[0] and "its frames are sampled at 0.4, 1.1, 1.9, 2.6 seconds" in seen[0]
    assert DEFAULT_INSTRUCTION not in seen[0]


# ------------------------------------------------------------------------------------- boxes in the model's view


def fixed_detections(processor, boxes, labels, scores):
    """Make the processor's detector return these detections (full-frame normalised boxes) on every frame."""
    detector = processor.extractor_set.detector
    person, id2label = detector.person_label_id, detector.id2label

    def detect(frames):
        return [FrameDetections(np.array(boxes), np.array(labels), np.array(scores), person, id2label) for _ in frames]

    detector.detect = detect


def test_boxes_and_keypoints_are_mapped_into_the_cropped_view(folder, tmp_path, monkeypatch):
    """A 2:1 video: the 32 x 32 crop of the 64 x 32 resized frame keeps x in [0.25, 0.75] of the full frame."""
    import processing.processing_sherlock as module

    video = write_video(tmp_path / "wide.mp4", num_frames=16, fps=8.0, size=(128, 64))
    car, person = 2, 0
    boxes = [
        [0.5, 0.25, 0.625, 0.5],  # covers exactly patch (row 1, column 2) of the crop's 4 x 4 grid: x' = 2x - 0.5
        [0.2, 0.4, 0.3, 0.6],  # across the crop's left border: clipped to x' in [0, 0.1]
        [0.05, 0.4, 0.2, 0.6],  # a person in the cropped-away left margin, touching the second car
    ]
    processor = load_processor(folder, feature_cache_dir=str(tmp_path / "cache"))
    fixed_detections(processor, boxes, [car, car, person], [0.9, 0.85, 0.8])
    window = processor.view_window(64, 128)
    assert (window.x0, window.x1, window.y0, window.y1) == (0.25, 0.75, 0.0, 1.0)

    raw = processor.extract_features(processor.load_video(video), "not-cached")
    assert raw["object_mask"][:, :3].all() and raw["pose_mask"][:, 0].all()  # the extractors saw all three
    touching, right_of = RELATION_PREDICATES.index("touching"), RELATION_PREDICATES.index("right of")
    raw_relations = raw["relation_triplets"][0][raw["relation_mask"][0]].tolist()
    assert raw_relations == [[1, touching, 2], [0, right_of, 1]]

    decoded = []
    original = module.load_video
    monkeypatch.setattr(
        module, "load_video", lambda *a, **k: decoded.append(k.get("decode", True)) or original(*a, **k)
    )
    first = processor(videos=video)
    second = processor(videos=video)  # from the cache: the video is only probed, the frame size comes from the cache
    assert decoded == [False, True, False]
    for batch in (first, second):
        assert batch["object_mask"][0, :, :3].tolist() == [[True, True, False]] * NUM_FRAMES
        for frame in range(NUM_FRAMES):
            assert batch["object_boxes"][0, frame, 0].tolist() == [0.5, 0.25, 0.75, 0.5]  # exactly the patch
            torch.testing.assert_close(batch["object_boxes"][0, frame, 1], torch.tensor([0.0, 0.4, 0.1, 0.6]))
        assert (batch["object_boxes"][0, :, 2] == 0).all() and (batch["object_labels"][0, :, 2] == 0).all()
        # the relation with the person is masked, the one between the two visible cars is kept
        for frame in range(NUM_FRAMES):
            kept = batch["relation_triplets"][0, frame][batch["relation_mask"][0, frame]].tolist()
            assert kept == [[0, right_of, 1]]
        assert not batch["pose_mask"].any()  # the only person is outside the crop
        assert (batch["pose_keypoints"] == 0).all()
    # the object-relation expert's patch centres: the mapped box covers exactly patch 1 * 4 + 2
    centers, has_cls = patch_centers(TOKENS_PER_FRAME, torch.device("cpu"))
    x1, y1, x2, y2 = first["object_boxes"][0, 0, 0]
    covered = (x1 <= centers[:, 0]) & (centers[:, 0] <= x2) & (y1 <= centers[:, 1]) & (centers[:, 1] <= y2)
    assert has_cls and torch.nonzero(covered).flatten().tolist() == [6]


@pytest.mark.parametrize("cached", [False, True], ids=["extracted", "from-the-cache"])
def test_a_nan_box_is_one_error_naming_the_input_the_video_and_the_frame(folder, video, tmp_path, monkeypatch, cached):
    """`np.clip` (the view mapping) lets a NaN through: the processor checks the expert values itself, before it
    builds tensors, for extracted features and for a full cache hit (the video only probed) alike. The objects
    extractor here gives a NaN box for its second object."""
    import processing.processing_sherlock as module

    processor = load_processor(folder, feature_cache_dir=str(tmp_path / "cache"))
    fixed_detections(processor, [[0.1, 0.1, 0.4, 0.4], [0.2, 0.3, 0.5, 0.6]], [2, 2], [0.9, 0.8])
    objects = type(processor.extractor_set.objects)
    original = objects.__call__

    def nan_box(self, frames, detections):
        out = original(self, frames, detections)
        assert out["object_mask"][:, 1].all()  # the second object is kept: its box is checked
        out["object_boxes"][:, 1, 1] = np.nan
        return out

    monkeypatch.setattr(objects, "__call__", nan_box)
    if cached:  # a cache filled without the check: the next call reads the NaN box from it, no extractor runs
        with monkeypatch.context() as unchecked:
            unchecked.setattr(module, "check_expert_values", lambda features, source: None)
            processor(videos=video)
        processor.extractor_set.detector.detect = None
    with pytest.raises(ValueError) as raised:
        processor(videos=video)
    message = str(raised.value)
    assert "\n" not in message and "`object_boxes`" in message and "is not finite at frame 0" in message
    assert str(video) in message and f"({NUM_FRAMES} of {NUM_FRAMES} frames)" in message


def test_a_detector_nan_is_one_error_naming_the_detector(folder, video):
    """A NaN box from the detector stops at the detections, with one line, before any crop or model."""
    processor = load_processor(folder)
    fixed_detections(processor, [[0.1, 0.1, 0.4, 0.4], [np.nan, 0.3, 0.5, 0.6]], [2, 2], [0.9, 0.8])
    with pytest.raises(ValueError, match=r"^The detector returned non-finite boxes \(NaN or inf\) at frame 0\.$"):
        processor(videos=video)


def test_an_expert_input_missing_for_some_videos_of_a_batch_is_an_error(folder, video, tmp_path):
    other = write_video(tmp_path / "other.mp4", num_frames=40, fps=10.0, size=(80, 48))
    processor = load_processor(folder)
    original = processor._prepare_video
    calls = []

    def second_lacks_background(video, **kwargs):
        clip, item = original(video, **kwargs)
        calls.append(clip.source)
        if len(calls) == 2:
            item.pop("background_pixel_values")
        return clip, item

    processor._prepare_video = second_lacks_background
    with pytest.raises(ValueError, match=r"`background_pixel_values` is missing for 1 of the 2 videos .*videos \[1\]"):
        processor(videos=[video, other])


def test_metadata_times_are_float64_without_float32_noise(folder, video, monkeypatch):
    import processing.processing_sherlock as module

    original = module.load_video

    def float32_times(*args, **kwargs):
        clip = original(*args, **kwargs)
        clip.timestamps = np.array([0.6, 1.8, 18.72, 3599.04], dtype=np.float32)[: len(clip.timestamps)]
        clip.duration = np.float32(3.84)
        return clip

    monkeypatch.setattr(module, "load_video", float32_times)
    metadata = load_processor(folder)(videos=video, return_metadata=True)["video_metadata"][0]
    # 18.72 in float32 is 18.719999313354492: neither that nor its microsecond rounding 18.719999 may show
    assert metadata["timestamps"] == [0.6, 1.8, 18.72, 3599.04] and metadata["duration"] == 3.84
    assert all(type(t) is float for t in metadata["timestamps"]) and type(metadata["duration"]) is float
    assert json.dumps(metadata["timestamps"]) == "[0.6, 1.8, 18.72, 3599.04]"


# ------------------------------------------------------------------------------------------------- analyze_video


def test_analyze_a_file_object_with_a_question_reads_it_once(folder, video):
    from sherlock.analyze import analyze_video

    processor = load_processor(folder)
    model = SherlockForConditionalGeneration.from_pretrained(folder).eval()
    with open(video, "rb") as handle:
        result = analyze_video(model, processor, handle, max_new_tokens=2, question="Is anyone falling?")
    assert result.duration == 3.0 and result.timestamps == [0.375, 1.125, 1.875, 2.625]


def test_analyze_an_array_with_its_frame_rate(folder):
    from sherlock.analyze import analyze_video

    processor = load_processor(folder)
    model = SherlockForConditionalGeneration.from_pretrained(folder).eval()
    frames = np.stack([np.full((48, 64, 3), i * 10, dtype=np.uint8) for i in range(12)])
    result = analyze_video(model, processor, frames, max_new_tokens=2, array_fps=4.0, question="What happens?")
    assert result.duration == 3.0 and result.timestamps == [0.25, 1.0, 1.75, 2.5]
    with pytest.raises(ValueError, match="array_fps is required"):
        analyze_video(model, processor, frames, max_new_tokens=2)
