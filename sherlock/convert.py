"""Video-LLaVA -> Sherlock: every backbone weight kept, only the GSM (the spatial experts and their gate) initialised.

    sherlock-convert-video-llava --video_llava_path LanguageBind/Video-LLaVA-7B-hf --output_dir ./sherlock-7b-init

`convert_video_llava` converts in memory (`sherlock train --model <a Video-LLaVA model>` trains the result);
`convert_video_llava_to_sherlock`, the console script's work, converts and saves. `sherlock_config` is the config
step of both (also used by `sherlock train` to apply its ablation switches to a Sherlock config).

The output folder carries `config.json` (model_type `sherlock`, with `auto_map`), the weights as safetensors and the
remote code, so `AutoModel.from_pretrained(output_dir, trust_remote_code=True)` loads it anywhere.
"""

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from modeling_sherlock import SherlockConfig, SherlockForConditionalGeneration

logger = logging.getLogger(__name__)

# The only modules a Video-LLaVA checkpoint may leave uninitialised in Sherlock.
NEW_MODULE_PREFIXES = ("model.spatial_experts.", "model.expert_gate.")
# Fields of the source config that do not carry over into a Sherlock config.
SOURCE_ONLY_FIELDS = ("model_type", "architectures", "auto_map", "transformers_version")


@dataclass
class ConvertArguments:
    """Arguments of `sherlock-convert-video-llava`."""

    video_llava_path: str = field(metadata={"help": "Video-LLaVA checkpoint: a local folder or a Hub id."})
    output_dir: str = field(metadata={"help": "Where to write the Sherlock checkpoint."})
    experts: list[str] = field(
        default_factory=list,
        metadata={"help": "Ordered subset of the experts (see `SherlockConfig.experts`); default: all four."},
    )
    gate: str = field(default="soft", metadata={"help": "'soft' (Eq. 5-6) or 'uniform'."})
    gsb_loss_coef: float = field(default=0.4, metadata={"help": "Weight of the GSB loss (paper 0.4)."})
    expert_hidden_size: int = field(default=512, metadata={"help": "Width of the local experts."})
    background_tower_path: str | None = field(
        default=None,
        metadata={
            "help": "Pretrained vision model (folder or Hub id, e.g. an InternViT or CLIP vision checkpoint) whose "
            "config and weights become the frozen background tower; default: the checkpoint's own image tower."
        },
    )
    dtype: str = field(
        default="auto", metadata={"help": "torch dtype to load and save in ('auto' keeps the checkpoint's)."}
    )


def sherlock_config(source, **overrides) -> "SherlockConfig":
    """A `SherlockConfig` from a Video-LLaVA (or Sherlock) config: its fields, less `SOURCE_ONLY_FIELDS`, with
    `overrides` (any `SherlockConfig` field) on top."""
    from modeling_sherlock import SherlockConfig

    fields = {key: value for key, value in source.to_dict().items() if key not in SOURCE_ONLY_FIELDS}
    fields.update(overrides)
    return SherlockConfig(**fields)


def _background_tower_fields(background_tower_path: str) -> dict:
    """The config fields that make a vision-only checkpoint the background tower."""
    from transformers import AutoConfig

    tower_config = AutoConfig.from_pretrained(background_tower_path)
    if getattr(tower_config, "vision_config", None) is not None:
        raise ValueError(
            f"{background_tower_path} is a composite {tower_config.model_type!r} checkpoint; give "
            "a vision-only one (e.g. a CLIPVisionModel or InternVLVisionModel folder)."
        )
    return {
        "background_vision_config": tower_config.to_dict(),
        "background_tower_name_or_path": background_tower_path,
    }


def convert_video_llava(
    video_llava_path: str, *, dtype="auto", background_tower_path: str | None = None, **config_overrides
) -> tuple["SherlockForConditionalGeneration", list[str]]:
    """Load a Video-LLaVA checkpoint into Sherlock, in memory, and check that only the GSM is new.

    Args:
        video_llava_path: a Video-LLaVA (or Sherlock) checkpoint, folder or Hub id.
        dtype: torch dtype (or its name) to load in; "auto" keeps the checkpoint's.
        background_tower_path: a vision-only checkpoint whose config and weights become the frozen background tower
            (when the background expert is kept); default: the checkpoint's own image tower.
        config_overrides: `SherlockConfig` fields (experts, gate, gsb_loss_coef, expert_hidden_size, ...) over the
            checkpoint's config (`sherlock_config`).

    Returns:
        The model and the list of parameter names that were initialised (all under `NEW_MODULE_PREFIXES`).

    Raises:
        ValueError: if the source is not a Video-LLaVA checkpoint, or if a backbone weight is missing from it.
    """
    from transformers import AutoConfig

    from modeling_sherlock import EXPERT_NAMES, SherlockForConditionalGeneration

    source = AutoConfig.from_pretrained(video_llava_path)
    if source.model_type not in ("video_llava", "sherlock"):
        raise ValueError(f"{video_llava_path} is a {source.model_type!r} checkpoint, not a Video-LLaVA one.")
    experts = config_overrides.get("experts") or getattr(source, "experts", None) or EXPERT_NAMES
    if background_tower_path is not None and "background" in experts:
        config_overrides.update(_background_tower_fields(background_tower_path))
    config = sherlock_config(source, **config_overrides)
    # `from_pretrained` fills the background tower (from the path above, else from the image tower) and reports it.
    model, info = SherlockForConditionalGeneration.from_pretrained(
        video_llava_path,
        config=config,
        output_loading_info=True,
        dtype=dtype,
    )
    initialised = sorted(info["missing_keys"])
    backbone_missing = [key for key in initialised if not key.startswith(NEW_MODULE_PREFIXES)]
    if backbone_missing:
        raise ValueError(
            f"{len(backbone_missing)} backbone weights are missing from {video_llava_path}, e.g. "
            f"{backbone_missing[:5]}; it is not a complete Video-LLaVA checkpoint."
        )
    if info.get("unexpected_keys"):
        logger.warning(
            "Ignored %d unexpected keys, e.g. %s", len(info["unexpected_keys"]), info["unexpected_keys"][:5]
        )
    return model, initialised


def convert_video_llava_to_sherlock(args: ConvertArguments) -> tuple["SherlockForConditionalGeneration", list[str]]:
    """`convert_video_llava` with the console script's arguments, then save the model to `args.output_dir`.

    Returns:
        The model and the list of parameter names that were initialised (all under `NEW_MODULE_PREFIXES`).

    Raises:
        ValueError: if the source is not a Video-LLaVA checkpoint, or if a backbone weight is missing from it.
    """
    from modeling_sherlock import EXPERT_NAMES

    model, initialised = convert_video_llava(
        args.video_llava_path,
        dtype=args.dtype,
        background_tower_path=args.background_tower_path,
        experts=list(args.experts) or list(EXPERT_NAMES),
        gate=args.gate,
        gsb_loss_coef=args.gsb_loss_coef,
        expert_hidden_size=args.expert_hidden_size,
    )
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.output_dir)
    logger.info("Initialised %d new parameters; wrote %s", len(initialised), args.output_dir)
    return model, initialised


PROG = "sherlock-convert-video-llava"


def main(argv: list[str] | None = None) -> int:
    """Console script `sherlock-convert-video-llava`: 0, 1 with one line on stderr for a bad input (`OSError` /
    `ValueError`), 130 for Ctrl-C (`interrupted`, no traceback, as `sherlock`)."""
    try:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        from transformers import HfArgumentParser

        (args,) = HfArgumentParser(ConvertArguments).parse_args_into_dataclasses(args=argv)
        convert_video_llava_to_sherlock(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
