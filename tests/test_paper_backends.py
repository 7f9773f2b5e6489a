"""The paper's own extractors with the real packages: HigherHRNet through mmpose 0.29 and SAM 2 through Meta's `sam2`
(random weights, configs shipped with the packages). They need the paper-backends environment (`make
paper-backends-env`; torchvision, which the default install never has), so `make test` leaves them to
`make test-paper-backends`, which runs them there with SHERLOCK_REQUIRE_PAPER_BACKENDS=1: a missing package is then
a failure, never a skip."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from processing import SherlockProcessor
from processing.extractors_sherlock import CLIP_MEAN_FILL, Sam2BackgroundExtractor, ViTPoseExtractor
from sherlock.tiny_extractors import tiny_extractor_models, tiny_extractor_settings
from sherlock.tiny_models import build_tiny_sherlock

from extractor_helpers import HEIGHT, PERSON, WIDTH, detections, make_frames
from video_factory import write_video


pytestmark = pytest.mark.paper_backends

MISSING = [name for name in ("mmpose", "sam2") if importlib.util.find_spec(name) is None]
if MISSING:
    message = f"paper backends NOT RUN: {', '.join(MISSING)} not installed (make test-paper-backends)"
    if os.environ.get("SHERLOCK_REQUIRE_PAPER_BACKENDS") == "1":
        raise ImportError(message)
    pytestmark = [pytestmark, pytest.mark.skip(reason=message)]

SAM2_CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"  # hiera-tiny, packaged with sam2
PERSON_BOX = (0.30, 0.15, 0.55, 0.95)


# Random weights find no person at the config's detection threshold: take the 3 strongest candidates, no flip test
# (about 4 s per frame on 2 CPU cores at the config's 512 x 512 input).
CFG_OPTIONS = {
    "model.test_cfg.detection_threshold": 0.0,
    "model.test_cfg.max_num_people": 3,
    "model.test_cfg.flip_test": False,
}


HIGHERHRNET = "configs/body/2d_kpt_sview_rgb_img/associative_embedding/coco/higherhrnet_w32_coco_512x512.py"


def higherhrnet_config() -> str:
    """HigherHRNet-W32 (COCO, 512 x 512), a config mmpose 0.29 ships in its `.mim` folder, by reference."""
    import mmpose

    assert (Path(mmpose.__file__).parent / ".mim" / HIGHERHRNET).is_file(), f"mmpose ships no {HIGHERHRNET}"
    return "mmpose::" + HIGHERHRNET


def paper_settings() -> dict:
    settings = tiny_extractor_settings(tiny_extractor_models(), threshold=0.0, max_persons=4, max_objects=8)
    settings["pose"] = {
        "backend": "higherhrnet",
        "config_path": higherhrnet_config(),
        "checkpoint": None,
        "max_persons": 4,
        "cfg_options": CFG_OPTIONS,
    }
    settings["background"] = {"backend": "meta_sam2", "checkpoint": None, "model_cfg": SAM2_CONFIG}
    return settings


def test_higherhrnet_runs_bottom_up_in_the_default_pose_format_and_frame():
    """The persons HigherHRNet finds in each frame, ranked by mean keypoint score, in the default backend's arrays:
    keypoints normalised to the full frame (mmpose's pixels / frame size), scores, mask; the same shapes and dtypes as
    ViTPose gives for the same frames."""
    from mmpose.apis import inference_bottom_up_pose_model

    from processing.extractor_paper_sherlock import HigherHRNetPoseExtractor

    frames = make_frames(2)
    extractor = HigherHRNetPoseExtractor(higherhrnet_config(), None, max_persons=2, cfg_options=CFG_OPTIONS)
    assert type(extractor.model).__name__ == "AssociativeEmbedding"  # HigherHRNet: bottom-up, found by "auto"
    out = extractor(frames, [detections([], [])] * 2)  # the persons come from the frame itself
    default = ViTPoseExtractor(tiny_extractor_models()["vitpose"], max_persons=2)(
        frames, [detections([PERSON_BOX], [PERSON])] * 2
    )
    for name in ("pose_keypoints", "pose_mask"):
        assert out[name].shape == default[name].shape and out[name].dtype == default[name].dtype, name
    assert out["pose_mask"].all()  # 3 found, the 2 best kept
    # the same frame as mmpose's own answer: pixels of the BGR frame divided by its size, best mean score first
    results, _ = inference_bottom_up_pose_model(extractor.model, np.ascontiguousarray(frames[0][..., ::-1]))
    raw = np.asarray([r["keypoints"] for r in results], dtype=np.float32)
    best = raw[np.argsort(-raw[..., 2].mean(1), kind="stable")[:2]]
    expected = np.stack([best[..., 0] / WIDTH, best[..., 1] / HEIGHT, best[..., 2]], -1).clip(0, 1)
    np.testing.assert_allclose(out["pose_keypoints"][0], expected, rtol=1e-5, atol=1e-6)


def test_mmpose_0x_top_down_models_fail_with_a_clear_message_under_numpy_2():
    import mmpose

    from processing.extractor_paper_sherlock import HigherHRNetPoseExtractor

    config = (
        Path(mmpose.__file__).parent
        / ".mim/configs/body/2d_kpt_sview_rgb_img/topdown_heatmap/coco/hrnet_w32_coco_256x192.py"
    )
    extractor = HigherHRNetPoseExtractor(str(config), None, mode="topdown")
    with pytest.raises(RuntimeError, match="mmpose 0.x top-down models do not run under numpy 2"):
        extractor(make_frames(1), [detections([PERSON_BOX], [PERSON])])


def test_meta_sam2_blanks_exactly_what_the_default_sam2_blanks_when_every_pixel_passes():
    """With every mask logit above the threshold, the mask is the whole frame and the blanked region is the prompt
    box grown by the margin: the same pixels for both backends, so both read the boxes in the same frame."""
    from processing.extractor_paper_sherlock import MetaSam2BackgroundExtractor

    frames = make_frames(2, seed=1)
    dets = [detections([PERSON_BOX], [PERSON]), detections([], [])]
    paper = MetaSam2BackgroundExtractor(None, SAM2_CONFIG, mask_threshold=-1e9)(frames, dets)
    default = Sam2BackgroundExtractor(tiny_extractor_models()["sam2"], mask_threshold=-1e9)(frames, dets)
    assert paper.shape == default.shape == frames.shape and paper.dtype == default.dtype == np.uint8
    np.testing.assert_array_equal(paper, default)
    blanked = (paper[0] == np.array(CLIP_MEAN_FILL, np.uint8)).all(-1)
    x1, y1, x2, y2 = PERSON_BOX
    assert blanked[int(0.5 * (y1 + y2) * HEIGHT), int(0.5 * (x1 + x2) * WIDTH)] and not blanked[0, 0]
    np.testing.assert_array_equal(paper[1], frames[1])  # no box, nothing blanked


def test_a_video_through_the_paper_backends_into_a_tiny_sherlock(tmp_path):
    """video -> processor with both paper backends -> model inputs -> forward: the same inputs (names, shapes,
    dtypes) as with the default backends, and finite logits."""
    video = write_video(tmp_path / "clip.mp4", num_frames=16, fps=8.0, size=(128, 72))
    default_folder = build_tiny_sherlock(tmp_path / "default", extractors=paper_settings() | {
        "pose": tiny_extractor_settings(tiny_extractor_models(), max_persons=4)["pose"],
        "background": tiny_extractor_settings(tiny_extractor_models())["background"],
    }, num_frames=2)  # fmt: skip
    paper_folder = build_tiny_sherlock(tmp_path / "paper", extractors=paper_settings(), num_frames=2)
    default = SherlockProcessor.from_pretrained(default_folder)(videos=str(video))
    paper_processor = SherlockProcessor.from_pretrained(paper_folder)
    assert paper_processor.extractors["pose"]["backend"] == "higherhrnet"  # saved and loaded with the folder
    assert paper_processor.extractors["background"]["backend"] == "meta_sam2"
    paper = paper_processor(videos=str(video))
    assert set(paper) == set(default)
    for name in default:
        assert paper[name].shape == default[name].shape and paper[name].dtype == default[name].dtype, name
    torch.testing.assert_close(paper["pixel_values_videos"], default["pixel_values_videos"])
    torch.testing.assert_close(paper["object_boxes"], default["object_boxes"])  # the same detector
    assert paper["pose_mask"].any()  # HigherHRNet found persons (CFG_OPTIONS)
    from modeling_sherlock import SherlockForConditionalGeneration

    model = SherlockForConditionalGeneration.from_pretrained(paper_folder).eval()
    with torch.no_grad():
        logits = model(**paper).logits
    assert torch.isfinite(logits).all()
