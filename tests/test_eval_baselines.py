"""Baselines with Sherlock's yardstick (`sherlock.evaluation.baselines`): tiny random Video-LLaVA, LLaVA-OneVision,
Qwen2-VL and Qwen2.5-VL folders load through the Auto classes without torchvision, answer batches like single videos
(left padding), see the same instruction and frame-time line through their own chat templates, get the pixel tensors
of the real video processors (and Qwen2.5-VL each video's seconds per temporal patch), and a forced canonical answer
comes back as the right scored event."""

import json

import numpy as np
import pytest
import torch
from transformers.utils import is_torchvision_available
from transformers.video_utils import VideoMetadata

from processing import DEFAULT_INSTRUCTION, load_video
from processing.processing_sherlock import timing_line
from sherlock.evaluation.baselines import (
    VideoLLMPredictor,
    frames_metadata,
    load_video_llm,
    load_video_llm_processor,
    model_kind,
)
from sherlock.evaluation.predictors import PHASES, VideoItem
from sherlock.evaluation.tiny_baselines import (
    build_tiny_llava_onevision,
    build_tiny_qwen2_5_vl,
    build_tiny_qwen2_vl,
    build_tiny_video_llava,
)
from sherlock.evaluation.video_processors_torch import (
    LlavaOnevisionVideoProcessorTorch,
    Qwen2VLVideoProcessorTorch,
    VideoLlavaVideoProcessorTorch,
)

from forced_answer import FORCED_EVENT, forced_generation_kwargs
from video_factory import index_frame, write_video


BUILDERS = {
    "video_llava": build_tiny_video_llava,
    "llava_onevision": build_tiny_llava_onevision,
    "qwen2_vl": build_tiny_qwen2_vl,
    "qwen2_5_vl": build_tiny_qwen2_5_vl,
}
CLASSES = {
    "video_llava": ("VideoLlavaForConditionalGeneration", "VideoLlavaProcessor", "VideoLlavaVideoProcessor"),
    "llava_onevision": (
        "LlavaOnevisionForConditionalGeneration",
        "LlavaOnevisionProcessor",
        "LlavaOnevisionVideoProcessor",
    ),
    "qwen2_vl": ("Qwen2VLForConditionalGeneration", "Qwen2VLProcessor", "Qwen2VLVideoProcessor"),
    "qwen2_5_vl": ("Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLProcessor", "Qwen2VLVideoProcessor"),
}
# The chat-template markers of each family around the video and the question (the model's own format).
QWEN_MARKERS = ("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>", "<|im_end|>\n<|im_start|>assistant\n")
MARKERS = {
    "video_llava": ("USER: <video>\n", " ASSISTANT:"),
    "llava_onevision": ("<|im_start|>user <video>\n", "<|im_end|><|im_start|>assistant\n"),
    "qwen2_vl": QWEN_MARKERS,
    "qwen2_5_vl": QWEN_MARKERS,
}
# Video tokens of the 8 frames of the 64 x 48 video: Video-LLaVA 8 x (4 x 4 patches + CLS); LLaVA-OneVision 8 x (5 x 5
# patches pooled to 3 x 3) + 1 newline; Qwen2(.5)-VL 4 temporal x 6 x 8 patches (48 x 64 pixels) merged 2 x 2.
VIDEO_TOKENS = {"video_llava": 8 * (4 * 4 + 1), "llava_onevision": 8 * 3 * 3 + 1, "qwen2_vl": 48, "qwen2_5_vl": 48}
BACKEND = "torchvision" if is_torchvision_available() else "torch"
MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
STD = np.array([0.26862954, 0.26130258, 0.27577711])


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Videos that give prompts of different lengths (3.0 s at 64 x 48, 10.0 s at 32 x 32), and one with fewer frames
    than the 8 sampled (5)."""
    folder = tmp_path_factory.mktemp("videos")
    for name, frames, fps, size in [
        ("short", 24, 8.0, (64, 48)),
        ("long", 100, 10.0, (32, 32)),
        ("few", 5, 5.0, (32, 32)),
    ]:
        write_video(folder / f"{name}.mp4", num_frames=frames, fps=fps, size=size)
    return [VideoItem(name, str(folder / f"{name}.mp4")) for name in ("short", "long", "few")]


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def baseline(request, tmp_path_factory):
    family = request.param
    folder = BUILDERS[family](tmp_path_factory.mktemp(family))
    model, processor = load_video_llm(folder)
    return family, folder, model, processor


def test_tiny_baselines_load_through_the_auto_classes_without_torchvision(baseline):
    family, folder, model, processor = baseline
    model_class, processor_class, video_processor = CLASSES[family]
    assert (type(model).__name__, type(processor).__name__) == (model_class, processor_class)
    # without torchvision (this project's environments) the torch-only mirror, else the real video processor
    assert type(processor.video_processor).__name__ == video_processor + ("Torch" if BACKEND == "torch" else "")
    assert not model.training and 1e5 < model.num_parameters() < 1e6
    assert model_kind(folder) == "video_llm"
    saved = json.loads((folder / "processor_config.json").read_text())
    # saved as the real classes: where torchvision is installed, AutoProcessor loads the real video processor
    assert (saved["processor_class"], saved["video_processor"]["video_processor_type"]) == (
        processor_class,
        video_processor,
    )


def test_batch_answers_equal_single_answers_with_left_padding(baseline, videos):
    family, folder, model, processor = baseline
    predictor = VideoLLMPredictor(model, processor, max_new_tokens=8)
    clips = [load_video(video.path, num_frames=8) for video in videos[:2]]
    mask = predictor.inputs(clips)["attention_mask"]
    assert mask[:, -1].all() and not mask[:, 0].all()  # the shorter prompt is padded, on the left
    timings = {}
    batch = predictor.predict(videos, timings)  # the 5-frame video is generated apart from the 8-frame ones
    singles = [predictor.predict([video], {})[0] for video in videos]
    assert len(batch) == 3 and [p.answer for p in batch] == [p.answer for p in singles]
    assert all(p.gate_weights is None for p in batch)
    assert {"decode", "preprocess", "generate", "parse"} <= set(timings) <= set(PHASES)
    assert all(seconds > 0 for seconds in timings.values())
    settings = json.loads(json.dumps(predictor.settings()))
    assert settings["model_type"] == family and settings["video_backend"] == BACKEND
    assert (settings["num_frames"], settings["max_new_tokens"]) == (8, 8)


def test_prompt_has_the_instruction_the_frame_times_and_the_family_template(baseline, videos):
    family, folder, model, processor = baseline
    predictor = VideoLLMPredictor(model, processor)
    clip = load_video(videos[0].path, num_frames=8)
    prompt = predictor.prompt(clip)
    before, after = MARKERS[family]
    expected = f"{before}{DEFAULT_INSTRUCTION}\n{timing_line(clip.duration, clip.timestamps)}"
    assert expected in prompt and prompt.endswith(after)
    assert "The video lasts 3.0 seconds; its frames are sampled at 0.1, 0.5," in prompt
    # the model's own processor expands the one video placeholder to the model's number of video tokens
    assert VideoMetadata(**frames_metadata(clip)).sampled_fps == pytest.approx(8 / 3.0)  # Qwen2.5-VL's frame rate
    inputs = predictor.inputs([clip])
    video_tokens = int((inputs["input_ids"] == model.config.video_token_id).sum())
    assert video_tokens == VIDEO_TOKENS[family]
    if family.startswith("qwen"):
        assert inputs["video_grid_thw"].tolist() == [[4, 6, 8]]
    assert ("second_per_grid_ts" in inputs) == (family == "qwen2_5_vl")


@pytest.mark.parametrize("baseline", ["qwen2_5_vl"], indirect=True)
def test_qwen2_5_vl_gets_each_videos_seconds_per_temporal_patch(baseline, videos):
    """Qwen2.5-VL's M-RoPE time axis: `second_per_grid_ts` = temporal_patch_size / sampled fps, per video of a batch
    (8 of 24 frames at 8 fps: 2 / (8 / 3); 8 of 100 frames at 10 fps: 2 / 0.8; all 5 frames at 5 fps: 2 / 5)."""
    family, folder, model, processor = baseline
    predictor = VideoLLMPredictor(model, processor)
    clips = [load_video(video.path, num_frames=8) for video in videos]
    inputs = predictor.inputs(clips[:2])
    assert inputs["second_per_grid_ts"].dtype == torch.float32
    assert inputs["second_per_grid_ts"].tolist() == pytest.approx([0.75, 2.5])
    assert predictor.inputs(clips[2:])["second_per_grid_ts"].tolist() == pytest.approx([0.4])


def test_video_llava_pixels_equal_a_hand_computation():
    frames = np.stack([index_frame(i, size=(32, 32), pattern="texture") for i in range(8)])  # no resize, no crop
    processor = VideoLlavaVideoProcessorTorch(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    pixels = processor([frames], return_tensors="pt")["pixel_values_videos"]
    expected = ((frames / 255.0 - MEAN) / STD).transpose(0, 3, 1, 2)[None]
    assert pixels.shape == (1, 8, 3, 32, 32) and pixels.dtype == torch.float32
    np.testing.assert_allclose(pixels.numpy(), expected, atol=1e-5)


def test_llava_onevision_pixels_equal_a_hand_computation(tmp_path):
    """The tiny folder's video processor (SigLIP's 0.5 mean and std, 40 x 40 frames) as loaded by `load_video_llm`:
    rescale and normalize per RGB channel; other sizes are resized to the square (bicubic), not cropped."""
    processor = load_video_llm_processor(build_tiny_llava_onevision(tmp_path)).video_processor
    assert type(processor) is LlavaOnevisionVideoProcessorTorch or BACKEND == "torchvision"
    gray = np.stack([index_frame(i, size=(40, 40), pattern="texture")[..., 0] for i in range(8)])
    frames = np.stack([gray, 255 - gray, gray // 2], axis=-1)  # three different channels: RGB order checked
    pixels = processor([frames], return_tensors="pt")["pixel_values_videos"]
    expected = ((frames / 255.0 - 0.5) / 0.5).transpose(0, 3, 1, 2)[None]
    assert pixels.shape == (1, 8, 3, 40, 40) and pixels.dtype == torch.float32
    np.testing.assert_allclose(pixels.numpy(), expected, atol=1e-5)
    # 64 x 48 frames are squeezed to 40 x 40 (no crop): their left quarter fills the first 10 of the 40 columns
    frames = np.full((8, 48, 64, 3), [200, 100, 50], np.uint8)
    frames[:, :, :16] = [20, 40, 240]
    pixels = processor([frames], return_tensors="pt")["pixel_values_videos"]
    assert pixels.shape == (1, 8, 3, 40, 40)
    left, right = (np.array([[20, 40, 240], [200, 100, 50]]) / 255.0 - 0.5) / 0.5
    columns = pixels[0].permute(0, 2, 3, 1).numpy()  # the bicubic kernel spans 2 columns: 8-11 are left out
    np.testing.assert_allclose(columns[:, :, :8], np.broadcast_to(left, (8, 40, 8, 3)), atol=1e-6)
    np.testing.assert_allclose(columns[:, :, 12:], np.broadcast_to(right, (8, 40, 28, 3)), atol=1e-6)


def test_qwen2_vl_patches_equal_a_hand_computation():
    frames = np.stack([index_frame(i, size=(32, 32), pattern="texture") for i in range(7)])  # 7: last frame repeated
    processor = Qwen2VLVideoProcessorTorch(
        size={"shortest_edge": 256, "longest_edge": 4096}, patch_size=8, merge_size=2, temporal_patch_size=2
    )
    out = processor([frames], return_tensors="pt")
    normalized = (np.concatenate([frames, frames[-1:]]) / 255.0 - MEAN) / STD  # (8, 32, 32, 3)
    expected = []  # temporal patch, 2 x 2 merge block (row, col), position in the block, then (C, t, y, x) values
    for t in range(4):
        for block_row in range(2):
            for block_col in range(2):
                for row in (2 * block_row, 2 * block_row + 1):
                    for col in (2 * block_col, 2 * block_col + 1):
                        patch = normalized[2 * t : 2 * t + 2, 8 * row : 8 * row + 8, 8 * col : 8 * col + 8]
                        expected.append(patch.transpose(3, 0, 1, 2).reshape(-1))
    assert out["video_grid_thw"].tolist() == [[4, 4, 4]]
    np.testing.assert_allclose(out["pixel_values_videos"].numpy(), np.stack(expected), atol=1e-5)


def test_resized_pixels_equal_the_torchvision_video_processors():
    """References: `VideoLlavaVideoProcessor` / `Qwen2VLVideoProcessor` of transformers 5.24 with torchvision 0.29.1
    (torch 2.14.1, CPU) on the same frames (regenerate there with the same settings and print these slices)."""
    frames = np.stack([index_frame(i, size=(70, 50), pattern="texture") for i in range(8)])  # needs a resize
    video_llava = VideoLlavaVideoProcessorTorch(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    pixels = video_llava([frames], return_tensors="pt")["pixel_values_videos"]
    reference = [-1.35431, -1.281318, -1.179129, -1.35431, -1.252121, -1.222924, -1.295916, -1.295916, -1.222924]
    np.testing.assert_allclose(pixels[0, 3, 0, 8:11, 20:23].flatten().numpy(), reference, atol=1e-5)
    assert abs(float(pixels.double().mean()) - -0.6808190353728586) < 1e-6
    qwen = Qwen2VLVideoProcessorTorch(
        size={"shortest_edge": 256, "longest_edge": 4096}, patch_size=8, merge_size=2, temporal_patch_size=2
    )
    out = qwen([frames], return_tensors="pt")
    reference = [-0.770373, -0.857963, -0.770373, -0.814168, -1.018546, -0.960152, -1.003948, -0.930955]
    assert out["video_grid_thw"].tolist() == [[4, 6, 8]]  # 50 x 70 -> 48 x 64
    np.testing.assert_allclose(out["pixel_values_videos"][37, 100:108].numpy(), reference, atol=1e-5)
    assert abs(float(out["pixel_values_videos"].double().mean()) - -0.7071095603231975) < 1e-6


def test_a_forced_canonical_answer_is_parsed_into_a_scored_event(baseline, videos):
    family, folder, model, processor = baseline
    predictor = VideoLLMPredictor(model, processor, max_new_tokens=48, **forced_generation_kwargs(processor.tokenizer))
    (prediction,) = predictor.predict(videos[:1], {})
    (event,) = prediction.events
    assert prediction.answer == "1.0-3.0s: (people, Fighting, none, Street)"
    assert {key: getattr(event, key) for key in FORCED_EVENT} == FORCED_EVENT
    assert 0.0 < event.score < 1.0  # the forced tokens are likely, not certain (`ForceAnswer`)


def test_a_quadruple_without_times_is_kept_for_the_extraction_score(baseline, videos):
    """Issue 20, item 5: a baseline's answer line with a quadruple and no time span is an event (start = end = None),
    as for Sherlock, so the extraction F1 scores it and the localisation counts it."""
    family, folder, model, processor = baseline
    answer = "(people, Fighting, none, Street)"
    kwargs = forced_generation_kwargs(processor.tokenizer, answer)
    (prediction,) = VideoLLMPredictor(model, processor, max_new_tokens=48, **kwargs).predict(videos[:1], {})
    assert prediction.answer == answer
    (event,) = prediction.events
    assert (event.start, event.end, event.subject, event.event_type) == (None, None, "people", "Fighting")


def test_unsupported_folders_and_inputs_fail_clearly(tmp_path):
    (tmp_path / "sherlock").mkdir()
    (tmp_path / "sherlock" / "config.json").write_text(json.dumps({"model_type": "sherlock"}))
    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert model_kind(tmp_path / "sherlock") == "sherlock"
    with pytest.raises(ValueError, match="is a Sherlock model"):
        load_video_llm(tmp_path / "sherlock")
    with pytest.raises(ValueError, match="neither a Sherlock model nor a supported video LLM.*'llama'"):
        load_video_llm(tmp_path / "llama")
    with pytest.raises(ValueError, match="no readable config.json"):
        load_video_llm(tmp_path)
    processor = VideoLlavaVideoProcessorTorch()
    with pytest.raises(ValueError, match="decoded frames"):
        processor(["clip.mp4"])
    with pytest.raises(ValueError, match="do_sample_frames=False"):
        processor([np.zeros((8, 32, 32, 3), np.uint8)], do_sample_frames=True)
