"""Boxes and keypoints in the frame the model sees: the resize + centre-crop arithmetic (`geometry_sherlock.py`),
checked with exact numbers and against transformers' own image processing."""

import ast
import sys
from pathlib import Path

import numpy as np
import pytest
from transformers import CLIPImageProcessorPil
from transformers.image_transforms import center_crop, get_resize_output_image_size

from processing.geometry_sherlock import (
    image_processor_window,
    map_boxes,
    map_expert_arrays,
    map_keypoints,
    mask_relations,
    resized_size,
    view_window,
)


PROCESSING = Path(__file__).resolve().parents[1] / "processing"
CLIP_224 = {"size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 224}}


def test_16_9_frame_through_clip_224():
    # 1920 x 1080 -> resized 398 x 224 (int(224 * 1920 / 1080) = 398) -> crop columns 87..311 of 398
    window = view_window(1080, 1920, **CLIP_224)
    assert (window.scale_x, window.scale_y) == (398, 224)
    assert (window.offset_x, window.offset_y, window.crop_width, window.crop_height) == (87, 0, 224, 224)
    assert (window.x0, window.x1, window.y0, window.y1) == (87 / 398, 311 / 398, 0.0, 1.0)
    boxes = np.array(
        [
            [0.5, 0.25, 0.75, 0.75],  # inside: x -> (0.5 * 398 - 87) / 224 = 0.5, (0.75 * 398 - 87) / 224
            [0.0, 0.1, 0.2, 0.9],  # in the cropped-away left margin (0.2 < 87 / 398 = 0.2186)
            [0.1, 0.2, 0.3, 0.4],  # across the left border: clipped at 0
            [0.0, 0.0, 87 / 398, 1.0],  # touches the border from outside: no area inside
            [0.9, 0.1, 1.0, 0.2],  # in the right margin (0.9 > 311 / 398 = 0.7814)
            [0.0, 0.0, 0.0, 0.0],  # padding
        ],
        dtype=np.float32,
    )
    mask = np.array([True, True, True, True, True, False])
    mapped, new_mask = map_boxes(boxes, mask, window)
    assert new_mask.tolist() == [True, False, True, False, False, False]
    assert mapped.dtype == np.float32
    expected_inside = [0.5, 0.25, (np.float32(0.75) * 398 - 87) / 224, 0.75]
    np.testing.assert_allclose(mapped[0], expected_inside, rtol=1e-6)
    assert mapped[0, 2] == pytest.approx(211.5 / 224, rel=1e-6)
    np.testing.assert_allclose(mapped[2], [0.0, 0.2, (np.float32(0.3) * 398 - 87) / 224, 0.4], rtol=1e-6)
    assert mapped[2, 2] == pytest.approx(32.4 / 224, rel=1e-5)
    assert (mapped[[1, 3, 4, 5]] == 0).all()  # masked boxes are zero, like padding


def test_9_16_frame_through_clip_224():
    # 1080 x 1920 (portrait) -> resized 224 x 398 -> crop rows 87..311 of 398; x is unchanged
    window = view_window(1920, 1080, **CLIP_224)
    assert (window.scale_x, window.scale_y, window.offset_x, window.offset_y) == (224, 398, 0, 87)
    boxes = np.array([[0.25, 0.5, 0.75, 0.75], [0.1, 0.05, 0.9, 0.15]], dtype=np.float32)
    mapped, mask = map_boxes(boxes, np.array([True, True]), window)
    assert mask.tolist() == [True, False]  # the second box lies in the cropped-away top margin
    np.testing.assert_allclose(mapped[0], [0.25, 0.5, 0.75, (np.float32(0.75) * 398 - 87) / 224], rtol=1e-6)
    # keypoints: inside, outside (top margin), exactly on the crop's bottom border
    keypoints = np.zeros((2, 17, 3), dtype=np.float32)
    keypoints[0, :, :] = [0.5, 0.5, 0.9]
    keypoints[0, 1] = [0.4, 0.1, 0.8]  # y = 0.1 < 87 / 398: outside -> score 0, clamped to y = 0
    keypoints[0, 2] = [0.6, 311 / 398, 0.7]  # on the border: inside, keeps its score
    keypoints[1, :, :] = [0.5, 0.95, 0.9]  # the whole person in the bottom margin
    mapped_points, pose_mask = map_keypoints(keypoints, np.array([True, True]), window)
    assert pose_mask.tolist() == [True, False]
    np.testing.assert_allclose(mapped_points[0, 0], [0.5, (0.5 * 398 - 87) / 224, 0.9], rtol=1e-6)
    np.testing.assert_allclose(mapped_points[0, 1], [0.4, 0.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(mapped_points[0, 2], [0.6, 1.0, 0.7], rtol=1e-6)
    assert (mapped_points[1] == 0).all()


def test_relations_of_a_masked_object_are_masked():
    object_mask = np.array([True, False, True])
    triplets = np.array([[0, 3, 1], [0, 2, 2], [1, 1, 2], [0, 0, 0]], dtype=np.int64)
    relation_mask = np.array([True, True, True, False])
    new_triplets, new_mask = mask_relations(triplets, relation_mask, object_mask)
    assert new_mask.tolist() == [False, True, False, False]
    assert new_triplets.tolist() == [[0, 0, 0], [0, 2, 2], [0, 0, 0], [0, 0, 0]]


def test_map_expert_arrays_keeps_shapes_and_dtypes_and_masks_consistently():
    window = view_window(1080, 1920, **CLIP_224)
    arrays = {
        "object_boxes": np.array([[[0.5, 0.2, 0.6, 0.4], [0.0, 0.2, 0.1, 0.4]]], dtype=np.float32),
        "object_labels": np.array([[2, 0]], dtype=np.int64),
        "object_mask": np.array([[True, True]]),
        "relation_triplets": np.array([[[1, 4, 0]]], dtype=np.int64),
        "relation_mask": np.array([[True]]),
        "pose_keypoints": np.full((1, 1, 17, 3), 0.05, dtype=np.float32),
        "pose_mask": np.array([[True]]),
        "background_features": np.ones((1, 2, 3), dtype=np.float32),
    }
    out = map_expert_arrays(arrays, window)
    assert arrays["object_mask"].all()  # the input is not modified
    for name, value in arrays.items():
        assert out[name].shape == value.shape and out[name].dtype == value.dtype, name
    assert out["object_mask"].tolist() == [[True, False]] and out["object_labels"].tolist() == [[2, 0]]
    assert not out["relation_mask"].any() and not out["pose_mask"].any()
    assert out["background_features"] is arrays["background_features"]


@pytest.mark.parametrize("height, width", [(1080, 1920), (1920, 1080), (64, 96), (48, 80), (31, 57), (224, 224)])
@pytest.mark.parametrize("shortest, crop", [(224, 224), (32, 32), (256, 224), (40, 32)])
def test_resize_and_crop_match_transformers(height, width, shortest, crop):
    frame = np.zeros((3, height, width), dtype=np.uint8)
    new_height, new_width = get_resize_output_image_size(
        frame, size=shortest, default_to_square=False, input_data_format="channels_first"
    )
    assert resized_size(height, width, {"shortest_edge": shortest}) == (new_height, new_width)
    # column / row index + 1 as pixel values (0 = padding): the crop's first column / row gives the offset
    columns = np.broadcast_to(np.arange(1, new_width + 1, dtype=np.float32), (1, new_height, new_width))
    rows = np.broadcast_to(np.arange(1, new_height + 1, dtype=np.float32)[:, None], (1, new_height, new_width))
    cropped_columns = center_crop(columns, (crop, crop), input_data_format="channels_first")
    cropped_rows = center_crop(rows, (crop, crop), input_data_format="channels_first")
    window = view_window(height, width, size={"shortest_edge": shortest}, crop_size={"height": crop, "width": crop})
    first_column = cropped_columns[0, crop // 2, :][cropped_columns[0, crop // 2, :] > 0][0] - 1
    first_row = cropped_rows[0, :, crop // 2][cropped_rows[0, :, crop // 2] > 0][0] - 1
    pad_x = int(np.argmax(cropped_columns[0, crop // 2, :] > 0))
    pad_y = int(np.argmax(cropped_rows[0, :, crop // 2] > 0))
    assert window.offset_x == first_column - pad_x and window.offset_y == first_row - pad_y


def test_a_bright_box_lands_where_the_mapped_box_says_in_the_processed_pixels():
    # 160 x 90 (16:9) through a CLIP processor of shortest edge 40, crop 32 (resize != crop): the processed crop's
    # bright pixels sit inside the mapped box (within one pixel of resampling blur)
    processor = CLIPImageProcessorPil(
        size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32}, do_normalize=False, do_rescale=False
    )
    height, width = 90, 160
    box = np.array([0.45, 0.3, 0.6, 0.7])
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[round(box[1] * height) : round(box[3] * height), round(box[0] * width) : round(box[2] * width)] = 255
    pixels = processor(images=[frame], return_tensors="np")["pixel_values"][0, 0]
    window = image_processor_window(processor, height, width)
    assert (window.scale_x, window.scale_y, window.offset_x, window.offset_y) == (71, 40, 19, 4)
    mapped, mask = map_boxes(box[None].astype(np.float32), np.array([True]), window)
    assert mask.all()
    ys, xs = np.nonzero(pixels > 127)
    x1, y1, x2, y2 = mapped[0] * 32
    assert abs(xs.min() - x1) <= 1 and abs(xs.max() + 1 - x2) <= 1
    assert abs(ys.min() - y1) <= 1 and abs(ys.max() + 1 - y2) <= 1


def test_background_window_uses_the_background_side():
    processor = CLIPImageProcessorPil(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224})
    main = image_processor_window(processor, 1080, 1920)
    background = image_processor_window(processor, 1080, 1920, side=448)
    assert (main.scale_x, main.offset_x, main.offset_y) == (455, 115, 16)
    assert (background.scale_x, background.offset_x, background.offset_y) == (796, 174, 0)


def test_geometry_module_is_remote_code_safe():
    tree = ast.parse((PROCESSING / "geometry_sherlock.py").read_text())
    allowed = set(sys.stdlib_module_names) | {"numpy"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(alias.name.split(".")[0] in allowed for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module.split(".")[0] in allowed, node.module
    assert tree.body[-1].targets[0].id == "__all__"


def test_module_doctests_pass():
    import doctest

    import processing.geometry_sherlock as module

    result = doctest.testmod(module)
    assert result.attempted >= 2 and result.failed == 0
