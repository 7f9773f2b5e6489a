"""SherlockProcessor: video in, model inputs out; the feature cache; remote code; end to end with a tiny Sherlock."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling_sherlock import EXPERT_INPUT_NAMES, SherlockForConditionalGeneration
from processing import DEFAULT_INSTRUCTION, AbnormalEvent, SherlockProcessor, VideoDecodeError
from processing.relations_sherlock import RELATION_PREDICATES
from sherlock.tiny_extractors import tiny_extractor_models, tiny_extractor_settings
from sherlock.tiny_models import build_tiny_sherlock

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
        assert (counts == 10).all()  # the tiny detector's 10 queries, all above threshold 0
        assert batch["pose_mask"].any()
        boxes = batch["object_boxes"][batch["object_mask"]]
        assert (boxes >= 0).all() and (boxes <= 1).all()
        triplets = batch["relation_triplets"][batch["relation_mask"]]
        assert (triplets[:, [0, 2]] < counts.max()).all() and (triplets[:, 1] < len(RELATION_PREDICATES)).all()
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
    processor = load_processor(folder, cache_dir=str(cache))
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
    other = load_processor(folder, cache_dir=str(cache))
    other.extractors["detector"]["threshold"] = 0.5
    other_calls = count_calls(other)
    other(videos=video)
    assert other_calls["detector"] == 1
    again = load_processor(folder, cache_dir=str(cache))
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
    processor = load_processor(folder, cache_dir=str(tmp_path / "cache"))
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
    load_processor(folder, cache_dir=str(cache))(videos=video)
    reference = load_processor(folder, cache_dir=str(cache))(videos=video)
    precomputed = load_processor(folder, cache_dir=str(cache), extractors={"backend": "precomputed"})
    batch = precomputed(videos=video)
    assert precomputed._extractor_set is None  # no extractor model was even built
    for name in reference:
        torch.testing.assert_close(batch[name], reference[name])
    with pytest.raises(ValueError, match="precomputed features missing"):
        precomputed(videos=video, num_frames=3)


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
    assert config["extractors"] == processor.extractors and config["num_frames"] == 6
    for name in ("processing_sherlock.py", "video_sherlock.py", "events_sherlock.py", "extractors_sherlock.py"):
        assert (tmp_path / name).is_file(), name
    loaded = SherlockProcessor.from_pretrained(tmp_path)
    assert loaded.num_frames == 6 and loaded.extractors == processor.extractors
    assert loaded.tokens_per_frame == processor.tokens_per_frame
    assert loaded.chat_template == processor.chat_template


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
                  "events": [e.to_dict() for e in events]}))
"""


def test_auto_processor_with_remote_code_in_a_subprocess_without_the_repository(folder, video, tmp_path):
    result = run_without_repository(REMOTE_PROCESSOR_SCRIPT, [folder, video], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "pose_keypoints" in report["keys"] and "background_pixel_values" in report["keys"]
    assert report["new_tokens"] == 5
    assert report["events"][0]["event_type"] == "Theft" and report["events"][0]["start"] == 1.0


def test_end_to_end_generated_video_to_events(folder, video):
    from sherlock.analyze import analyze_video

    processor = load_processor(folder)
    model = SherlockForConditionalGeneration.from_pretrained(folder).eval()
    result = analyze_video(model, processor, video, max_new_tokens=12)
    assert isinstance(result.events, list) and all(isinstance(e, AbnormalEvent) for e in result.events)
    assert isinstance(result.answer, str) and result.duration == pytest.approx(3.0)
    assert len(result.timestamps) == NUM_FRAMES
    for event in result.events:
        assert 0 <= event.start <= event.end <= result.duration
        assert 0 < event.score <= 1


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
