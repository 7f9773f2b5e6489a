"""Video processors of Video-LLaVA, LLaVA-OneVision and Qwen2(.5)-VL without torchvision.

Why these `*VideoProcessorTorch` classes (torchvision is not a dependency of this project, see DESIGN §7): in
transformers 5.x the video processors of these families (`VideoLlavaVideoProcessor`, `LlavaOnevisionVideoProcessor`,
`Qwen2VLVideoProcessor`) are torchvision classes. Without torchvision they are import placeholders, so
`AutoProcessor.from_pretrained(folder)` fails ("requires `torchvision`"), and no processor of these families can be
built without a video processor. Their PIL *image* processors do not compute the video tensors (Qwen2-VL's repeats one
image into a temporal patch, LLaVA-OneVision's tiles images "anyres", Video-LLaVA's is a legacy class). So each class
below subclasses transformers' own `BaseVideoProcessor`, whose preprocessing flow runs without torchvision, and
replaces only its torchvision primitives by the torch calls torchvision itself makes (resize: `interpolate` with
torchvision's dtype rules; centre crop: zero pad + slice; normalize: subtract, divide; grayscale: repeat);
Qwen2-VL's dynamic resize and temporal patching are copied from `Qwen2VLVideoProcessor`. They read the folder's own
video-processor config, and `load_video_llm` builds the model's own processor class with them (tokenizer and image
processor through the Auto classes; `torch_processor_class` only lets its type check accept them, since transformers
exports `VideoProcessorMixin`, what the check looks up, only with torchvision), so the text side (chat template, video-token expansion, `video_grid_thw`,
`mm_token_type_ids`, Qwen2.5-VL's `second_per_grid_ts`) is the model's own. Their tensors equal the real video
processor's (checked against torchvision 0.29.1 with transformers 5.24, and by the tests against a hand computation).
They take decoded frames only (`do_sample_frames=False`). Where torchvision IS installed, `load_video_llm` loads the
real processor unchanged with `AutoProcessor.from_pretrained` (`video_backend="torchvision"`).
"""

import functools
import platform

import torch
from transformers.image_utils import ChannelDimension, PILImageResampling, SizeDict
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize
from transformers.processing_utils import Unpack, VideosKwargs
from transformers.video_processing_utils import BaseVideoProcessor, BatchFeature, VideoProcessorMixin
from transformers.video_utils import (
    convert_to_rgb,
    group_videos_by_shape,
    is_valid_video,
    make_batched_metadata,
    make_batched_videos,
    reorder_videos,
)


# PIL resampling filters -> `torch.nn.functional.interpolate` modes (transformers' `pil_torch_interpolation_mapping`).
_INTERPOLATION = {
    PILImageResampling.NEAREST: "nearest-exact",
    PILImageResampling.BILINEAR: "bilinear",
    PILImageResampling.BICUBIC: "bicubic",
}


# --------------------------------------------------------------------------------------- torchvision-free processors
class TorchVideoProcessorMixin:
    """Torch-only replacements for the torchvision calls of `BaseVideoProcessor` / `TorchvisionBackend` (same
    arithmetic as torchvision 0.29's `resize_image`, `center_crop`/`pad`, `normalize_image`, `grayscale_to_rgb`)."""

    mirrors = ""  # the name of the transformers video processor this class reproduces (saved as its type)

    @property
    def backend(self) -> str:
        return "torch"

    def to_dict(self) -> dict:
        """Saved as the video processor it mirrors, so that torchvision installs load the real one."""
        output = super().to_dict()
        output["video_processor_type"] = self.mirrors
        return output

    def _decode_and_sample_videos(self, videos, video_metadata, do_sample_frames=None, sample_indices_fn=None):
        if do_sample_frames:
            raise ValueError(
                f"{type(self).__name__} takes already sampled frames: pass `do_sample_frames=False` (sample with "
                "`processing.load_video`)."
            )
        videos = make_batched_videos(videos)
        if not videos or not is_valid_video(videos[0]):
            raise ValueError(
                f"{type(self).__name__} takes decoded frames ((T, H, W, 3) arrays), not paths or URLs: decode the "
                "video with `processing.load_video` first."
            )
        return videos, make_batched_metadata(videos, video_metadata=video_metadata)

    def convert_to_rgb(self, video: torch.Tensor) -> torch.Tensor:
        return convert_to_rgb(video, input_data_format=ChannelDimension.FIRST)

    def resize(self, image: torch.Tensor, size: SizeDict, resample=None, antialias: bool = True, **kwargs):
        """`TorchvisionBackend.resize`: the output size from `size`, then torchvision's tensor resize."""
        from transformers.image_transforms import get_resize_output_image_size, get_size_with_aspect_ratio

        if size.shortest_edge and size.longest_edge:
            new_size = get_size_with_aspect_ratio(image.size()[-2:], size.shortest_edge, size.longest_edge)
        elif size.shortest_edge:
            new_size = get_resize_output_image_size(
                image, size=size.shortest_edge, default_to_square=False, input_data_format=ChannelDimension.FIRST
            )
        elif size.height and size.width:
            new_size = (size.height, size.width)
        else:
            raise ValueError(f"Size must contain 'height' and 'width', or 'shortest_edge'. Got {size}.")
        resample = PILImageResampling.BILINEAR if resample is None else PILImageResampling(resample)
        if resample not in _INTERPOLATION:
            raise ValueError(
                f"Resampling {resample.name} is not supported without torchvision; use one of "
                f"{[mode.name for mode in _INTERPOLATION]}."
            )
        return torch_resize(image, tuple(int(side) for side in new_size), _INTERPOLATION[resample], antialias)

    def normalize(self, image: torch.Tensor, mean, std, inplace: bool = False, **kwargs) -> torch.Tensor:
        mean = torch.as_tensor(mean, dtype=image.dtype, device=image.device).reshape(-1, 1, 1)
        std = torch.as_tensor(std, dtype=image.dtype, device=image.device).reshape(-1, 1, 1)
        return (image.sub_(mean) if inplace else image.sub(mean)).div_(std)

    def center_crop(self, image: torch.Tensor, size: SizeDict, **kwargs) -> torch.Tensor:
        if size.height is None or size.width is None:
            raise ValueError(f"The size dictionary must have keys 'height' and 'width'. Got {size.keys()}")
        height, width = image.shape[-2:]
        if size.width > width or size.height > height:  # zero padding, as torchvision's crop of a small image
            left, top = max(size.width - width, 0) // 2, max(size.height - height, 0) // 2
            right, bottom = max(size.width - width, 0) - left, max(size.height - height, 0) - top
            image = torch.nn.functional.pad(image, [left, right, top, bottom], value=0)
            height, width = image.shape[-2:]
        top, left = int((height - size.height) / 2.0), int((width - size.width) / 2.0)
        return image[..., top : top + size.height, left : left + size.width]


def torch_resize(image: torch.Tensor, size: tuple[int, int], mode: str, antialias: bool = True) -> torch.Tensor:
    """torchvision 0.29's `resize_image` on a (..., C, H, W) tensor: uint8 stays uint8 where torchvision resizes it
    natively on the CPU (nearest, bicubic; bilinear with AVX2 / AVX-512 / ARM), else float32 then clamp-round-cast."""
    shape = image.shape
    channels, height, width = shape[-3:]
    if size == (height, width):
        return image
    align_corners = False if mode in ("bilinear", "bicubic") else None
    antialias = antialias if mode in ("bilinear", "bicubic") else False
    capability, machine = torch.backends.cpu.get_cpu_capability(), platform.machine()
    native_bilinear = capability in ("AVX2", "AVX512") or machine in ("aarch64", "arm64")
    native_uint8 = mode.startswith("nearest") or (
        image.device.type == "cpu" and (mode == "bicubic" or (mode == "bilinear" and native_bilinear))
    )
    dtype = image.dtype
    image = image.reshape(-1, channels, height, width)
    need_cast = dtype not in (torch.float32, torch.float64) and not (dtype == torch.uint8 and native_uint8)
    if need_cast:
        image = image.to(torch.float32)
    image = torch.nn.functional.interpolate(
        image, size=list(size), mode=mode, align_corners=align_corners, antialias=antialias
    )
    if need_cast:
        if mode == "bicubic" and dtype == torch.uint8:
            image = image.clamp_(0, 255)
        if not dtype.is_floating_point:
            image = image.round_()
        image = image.to(dtype)
    return image.reshape(shape[:-3] + (channels, *size))


class VideoLlavaVideoProcessorTorch(TorchVideoProcessorMixin, BaseVideoProcessor):
    """`VideoLlavaVideoProcessor` without torchvision: CLIP resize (shortest edge 224, bicubic), centre crop 224,
    rescale, normalize -> `pixel_values_videos` (B, T, 3, 224, 224)."""

    mirrors = "VideoLlavaVideoProcessor"
    resample = PILImageResampling.BICUBIC
    image_mean = [0.48145466, 0.4578275, 0.40821073]  # OPENAI_CLIP_MEAN
    image_std = [0.26862954, 0.26130258, 0.27577711]  # OPENAI_CLIP_STD
    size = {"shortest_edge": 224}
    default_to_square = False
    crop_size = {"height": 224, "width": 224}
    do_resize = do_center_crop = do_rescale = do_normalize = do_convert_rgb = True
    do_sample_frames = False


class LlavaOnevisionVideoProcessorTorch(VideoLlavaVideoProcessorTorch):
    """`LlavaOnevisionVideoProcessor` without torchvision: resize to 384 x 384 (bicubic), no crop, rescale,
    normalize -> `pixel_values_videos` (B, T, 3, 384, 384)."""

    mirrors = "LlavaOnevisionVideoProcessor"
    size = {"height": 384, "width": 384}
    rescale_factor = 1 / 255
    crop_size = None
    do_center_crop = None


class Qwen2VLVideoProcessorKwargs(VideosKwargs, total=False):
    # Copied from transformers.models.qwen2_vl.video_processing_qwen2_vl.Qwen2VLVideoProcessorInitKwargs
    min_pixels: int
    max_pixels: int
    patch_size: int
    temporal_patch_size: int
    merge_size: int
    min_frames: int
    max_frames: int
    cap_pixels_per_frame: bool
    max_video_tokens: int


class Qwen2VLVideoProcessorTorch(TorchVideoProcessorMixin, BaseVideoProcessor):
    """`Qwen2VLVideoProcessor` (Qwen2-VL, Qwen2.5-VL) without torchvision: `smart_resize` to multiples of
    `patch_size * merge_size`, rescale + normalize, pad the frames to a multiple of `temporal_patch_size` with the last
    frame, and flatten into patches -> `pixel_values_videos` (sum of t*h*w patches, 3 * temporal_patch_size *
    patch_size**2) and `video_grid_thw` (B, 3)."""

    mirrors = "Qwen2VLVideoProcessor"
    resample = PILImageResampling.BICUBIC
    size = {"shortest_edge": 128 * 28 * 28, "longest_edge": 28 * 28 * 768}
    image_mean = [0.48145466, 0.4578275, 0.40821073]
    image_std = [0.26862954, 0.26130258, 0.27577711]
    do_resize = do_rescale = do_normalize = do_convert_rgb = True
    patch_size, temporal_patch_size, merge_size = 14, 2, 2
    min_frames, max_frames = 4, 768
    do_sample_frames = False
    cap_pixels_per_frame = None
    max_video_tokens = 128000
    valid_kwargs = Qwen2VLVideoProcessorKwargs
    model_input_names = ["pixel_values_videos", "video_grid_thw"]

    def __init__(self, **kwargs: Unpack[Qwen2VLVideoProcessorKwargs]):
        # Copied from transformers.models.qwen2_vl.video_processing_qwen2_vl.Qwen2VLVideoProcessor.__init__
        size = kwargs.pop("size", None)
        size = dict(self.size) if size is None else size
        if (min_pixels := kwargs.pop("min_pixels", None)) is not None:
            size["shortest_edge"] = min_pixels
            size.pop("min_pixels", None)
        if (max_pixels := kwargs.pop("max_pixels", None)) is not None:
            size["longest_edge"] = max_pixels
            size.pop("max_pixels", None)
        super().__init__(size=size, **kwargs)

    def resize(self, videos, size, resample, factor=None, temporal_factor=2, cap_pixels_per_frame=None, **kwargs):
        # Copied from transformers.models.qwen2_vl.video_processing_qwen2_vl.Qwen2VLVideoProcessor.resize
        if factor is None:  # a plain resize to a fixed size (the base class's call)
            return super().resize(videos, size, resample=resample, **kwargs)
        if not size.shortest_edge or not size.longest_edge:
            raise ValueError(f"`size` dict must contain 'shortest_edge' and 'longest_edge' keys but got {size}.")
        max_pixels = size.longest_edge
        if cap_pixels_per_frame:
            total_pixels = int(self.max_video_tokens * factor * factor * 0.9)
            max_pixels = max(
                min(max_pixels, total_pixels * temporal_factor // videos.shape[1]), int(size.shortest_edge * 1.05)
            )
        height, width = videos.shape[-2:]
        resized_height, resized_width = smart_resize(
            height, width, factor=factor, min_pixels=size.shortest_edge, max_pixels=max_pixels
        )
        return super().resize(videos, SizeDict(height=resized_height, width=resized_width), resample=resample)

    @staticmethod
    def patchify(videos: torch.Tensor, patch_size: int, merge_size: int, temporal_patch_size: int):
        # Copied from transformers.models.qwen2_vl.video_processing_qwen2_vl.Qwen2VLVideoProcessor.patchify
        batch_size, num_frames, channel, resized_height, resized_width = videos.shape
        if pad := -num_frames % temporal_patch_size:
            videos = torch.cat((videos, videos[:, -1:].expand(-1, pad, -1, -1, -1)), dim=1)
            num_frames += pad
        grid_t = num_frames // temporal_patch_size
        grid_h, grid_w = resized_height // patch_size, resized_width // patch_size
        patches = videos.view(
            batch_size, grid_t, temporal_patch_size, channel, grid_h // merge_size, merge_size, patch_size,
            grid_w // merge_size, merge_size, patch_size,
        )  # fmt: skip
        patches = patches.permute(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)
        flat = patches.reshape(batch_size, grid_t * grid_h * grid_w, channel * temporal_patch_size * patch_size**2)
        return flat, grid_t, grid_h, grid_w

    def _preprocess(
        self, videos, do_resize, size, resample, do_rescale, rescale_factor, do_normalize, image_mean, image_std,
        patch_size=None, temporal_patch_size=None, merge_size=None, cap_pixels_per_frame=None, return_tensors=None,
        **kwargs,
    ):  # fmt: skip
        # Copied from transformers.models.qwen2_vl.video_processing_qwen2_vl.Qwen2VLVideoProcessor._preprocess
        # (without the warning about the future default of `cap_pixels_per_frame`; None keeps today's: no cap)
        grouped, index = group_videos_by_shape(videos)
        resized = {}
        for shape, stacked in grouped.items():
            if do_resize:
                stacked = self.resize(
                    stacked, size=size, resample=resample, factor=patch_size * merge_size,
                    temporal_factor=temporal_patch_size, cap_pixels_per_frame=bool(cap_pixels_per_frame),
                )  # fmt: skip
            resized[shape] = stacked
        grouped, index = group_videos_by_shape(reorder_videos(resized, index))
        patches_grouped, grids = {}, {}
        for shape, stacked in grouped.items():
            stacked = self.rescale_and_normalize(
                stacked, do_rescale, rescale_factor, do_normalize, image_mean, image_std
            )
            patches, grid_t, grid_h, grid_w = self.patchify(stacked, patch_size, merge_size, temporal_patch_size)
            patches_grouped[shape] = patches
            grids[shape] = [[grid_t, grid_h, grid_w]] * len(stacked)
        pixel_values_videos = torch.cat(reorder_videos(patches_grouped, index), dim=0)
        video_grid_thw = torch.tensor(reorder_videos(grids, index))
        return BatchFeature(
            data={"pixel_values_videos": pixel_values_videos, "video_grid_thw": video_grid_thw},
            tensor_type=return_tensors,
        )


class AcceptsTorchVideoProcessor:
    """`ProcessorMixin` checks a video processor against `transformers.VideoProcessorMixin`, which transformers
    exports only with torchvision (without it the check fails on a placeholder mapping): accept any
    `VideoProcessorMixin` instance, the torch-only ones included."""

    def check_argument_for_proper_class(self, argument_name, argument):
        if "video_processor" in argument_name and isinstance(argument, VideoProcessorMixin):
            return VideoProcessorMixin
        return super().check_argument_for_proper_class(argument_name, argument)


@functools.cache
def torch_processor_class(processor_class: type) -> type:
    """`processor_class` (e.g. `VideoLlavaProcessor`) accepting a torch-only video processor; same name, so that it
    saves as `processor_class` itself."""
    namespace = {"__module__": __name__, "__doc__": processor_class.__doc__}
    return type(processor_class.__name__, (AcceptsTorchVideoProcessor, processor_class), namespace)


# model_type -> (the model's processor class, the torchvision-free video processor)
SUPPORTED_MODEL_TYPES = {
    "video_llava": ("VideoLlavaProcessor", VideoLlavaVideoProcessorTorch),
    "llava_onevision": ("LlavaOnevisionProcessor", LlavaOnevisionVideoProcessorTorch),
    "qwen2_vl": ("Qwen2VLProcessor", Qwen2VLVideoProcessorTorch),
    "qwen2_5_vl": ("Qwen2_5_VLProcessor", Qwen2VLVideoProcessorTorch),
}


__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "AcceptsTorchVideoProcessor",
    "LlavaOnevisionVideoProcessorTorch",
    "Qwen2VLVideoProcessorTorch",
    "TorchVideoProcessorMixin",
    "VideoLlavaVideoProcessorTorch",
    "torch_processor_class",
    "torch_resize",
]
