# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""How far a freshly initialised GSM moves Video-LLaVA, for the two expert output forms (`config.expert_output`).

    python benchmarks/benchmark_expert_forms.py [--sizes mid|tiny] [--seeds 3]

At the mid-size random configuration of `benchmark_gsm_overhead.py` (same backbone weights for Video-LLaVA and
Sherlock, the GSM at transformers' default initialisation, the background tower copied from the image tower as
`from_pretrained` does), for `expert_output="paper"` (an expert returns its attention read-out alone) and
`"residual"` (`T_v + read-out`), with all four experts and without the global expert ("w/o GE"), it prints:

- `cos(O, T_v)`: the mean cosine similarity between the GSM mixture `O` and Video-LLaVA's video features `T_v`, per
  video token (1 = the mixture is a copy of `T_v` up to scale);
- `cos(S_local, T_v)`: the same for the local experts' outputs alone (what "w/o GE" feeds the LLM);
- `KL(next token)`: the mean KL divergence, over the text positions, between Video-LLaVA's and Sherlock's next-token
  distributions (0 = the LLM sees no difference).

Each figure is the mean over `--seeds` random models and inputs. Nothing is downloaded; every weight is random.
"""

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F


sys.path.insert(0, str(Path(__file__).resolve().parent))

from modeling_sherlock import EXPERT_INPUT_NAMES, SherlockForConditionalGeneration  # noqa: E402

from benchmark_gsm_overhead import MID, TINY, VIDEO_LLAVA_INPUTS, build_pair, make_inputs  # noqa: E402


EXPERT_INPUTS = tuple(name for name in EXPERT_INPUT_NAMES if name != "background_features")  # pixels here
SETTINGS = {
    "all four experts": ["action", "object_relation", "background", "global"],
    "w/o GE": ["action", "object_relation", "background"],
}


def variant(base: SherlockForConditionalGeneration, experts: list[str], form: str) -> SherlockForConditionalGeneration:
    """`base` with another expert list / output form; every weight the two share is copied from `base`."""
    config = base.config.__class__(**{**base.config.to_dict(), "experts": experts, "expert_output": form})
    model = SherlockForConditionalGeneration(config).eval()
    state = base.state_dict()
    own = model.state_dict()
    model.load_state_dict({k: v for k, v in state.items() if k in own and v.shape == own[k].shape}, strict=False)
    return model


@torch.inference_mode()
def measure(model, video_llava, inputs: dict, text_positions: slice) -> dict[str, float]:
    video = {name: inputs[name] for name in VIDEO_LLAVA_INPUTS}
    experts = {name: inputs[name] for name in EXPERT_INPUTS}
    tokens_v = video_llava.model.get_video_features(pixel_values_videos=video["pixel_values_videos"]).pooler_output
    mixture = model.model.get_video_features(pixel_values_videos=video["pixel_values_videos"], **experts).pooler_output
    reference = video_llava(**video).logits[:, text_positions].float().log_softmax(-1)
    logits = model(**video, **experts).logits[:, text_positions].float().log_softmax(-1)
    kl = F.kl_div(logits, reference, log_target=True, reduction="none").sum(-1).mean()
    locals_ = [name for name in model.config.experts if name != "global"]
    base = model.model
    frames = video["pixel_values_videos"].shape[1]
    t_v = tokens_v.reshape(1, frames, tokens_v.shape[1], tokens_v.shape[2])
    prepared = {
        "action": (experts["pose_keypoints"], experts["pose_mask"]),
        "object_relation": tuple(
            experts[k] for k in ("object_boxes", "object_labels", "object_mask", "relation_triplets", "relation_mask")
        ),
        "background": (base.spatial_experts["background"].encode_background(experts["background_pixel_values"]),),
    }
    local_cos = [
        F.cosine_similarity(base.spatial_experts[name](t_v, *prepared[name]), t_v, dim=-1).mean().item()
        for name in locals_
    ]
    return {
        "cos(O, T_v)": F.cosine_similarity(mixture.float(), tokens_v.float(), dim=-1).mean().item(),
        "cos(S_local, T_v)": sum(local_cos) / len(local_cos),
        "KL(next token)": kl.item(),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", choices=["mid", "tiny"], default="mid")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = MID if args.sizes == "mid" else TINY
    results: dict[tuple[str, str], dict[str, list[float]]] = {}
    for seed in range(args.seeds):
        sherlock, video_llava, _ = build_pair(sizes, seed=seed)
        sherlock.model.load_background_tower()  # as `from_pretrained` does: the image tower's weights
        inputs = make_inputs(sizes, seed=seed)
        text = slice(inputs["input_ids"].shape[1] - sizes.text_tokens, None)
        for setting, experts in SETTINGS.items():
            for form in ("paper", "residual"):
                figures = measure(variant(sherlock, experts, form), video_llava, inputs, text)
                for key, value in figures.items():
                    results.setdefault((setting, form), {}).setdefault(key, []).append(value)
    columns = ("cos(O, T_v)", "cos(S_local, T_v)", "KL(next token)")
    print(f"GSM at initialisation vs Video-LLaVA ({sizes.name} config, mean of {args.seeds} seeds)")
    print(f"| experts | expert_output | {' | '.join(columns)} |")
    print("|---|---|" + "---|" * len(columns))
    summary = {}
    for (setting, form), figures in results.items():
        means = {key: sum(values) / len(values) for key, values in figures.items()}
        summary[(setting, form)] = means
        print(f"| {setting} | {form} | " + " | ".join(f"{means[key]:.4g}" for key in columns) + " |")
    return summary


if __name__ == "__main__":
    main()
