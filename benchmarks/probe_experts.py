# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""What does each expert's output encode? Linear probes of the event type on a synthetic set (a diagnosis for
issue 9: why the tiny Sherlock of `learn_synthetic.py` learns the scenes but hardly the events).

    python benchmarks/learn_synthetic.py --configs full --save-dir runs/learn   # a trained model to probe
    python benchmarks/probe_experts.py --model runs/learn/full --dataset /tmp/syn [--videos 360]

For the training videos with exactly one event, every expert's output `S_i` and the gate's mixture `O` are reduced to
the mean and standard deviation over each frame's tokens (frames concatenated), and a logistic regression predicts
the event type from them (3-fold cross-validated accuracy, next to the majority class). The same is printed for the
untrained model of the same configuration (`learn_synthetic.tiny_model`, same seed). Needs scikit-learn.
"""

import argparse
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def expert_features(model, processor, rows, video_root: Path, batch_size: int = 20) -> dict:
    """`{name: (videos, features)}` for each expert's output and the mixture."""
    import torch

    model.eval()
    outputs: dict[str, list] = {}
    hooks = [
        module.register_forward_hook(lambda _m, _i, out, name=name: outputs.setdefault(name, []).append(out.detach()))
        for name, module in model.model.spatial_experts.items()
    ]
    try:
        with torch.no_grad():
            for start in range(0, len(rows), batch_size):
                batch = rows[start : start + batch_size]
                inputs = processor(videos=[str(video_root / row["video"]) for row in batch])
                inputs = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
                mixture = model.model.get_video_features(**inputs).pooler_output
                outputs.setdefault("mixture", []).append(mixture.reshape(len(batch), -1, mixture.shape[-1]))
    finally:
        for hook in hooks:
            hook.remove()
    frames = processor.num_frames
    features = {}
    for name, parts in outputs.items():
        values = torch.cat([part.reshape(part.shape[0], -1, part.shape[-1]) for part in parts]).float()
        values = values.reshape(len(rows), frames, -1, values.shape[-1])
        features[name] = torch.cat([values.mean(2), values.std(2)], dim=-1).reshape(len(rows), -1).numpy()
    return features


def probe(features: dict, labels: list[str]) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    return {
        name: float(cross_val_score(LogisticRegression(max_iter=3000), values, labels, cv=3).mean())
        for name, values in features.items()
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a Sherlock folder saved by learn_synthetic.py --save-dir")
    parser.add_argument("--dataset", required=True, help="the synthetic dataset folder")
    parser.add_argument("--videos", type=int, default=360, help="training videos with one event to probe")
    args = parser.parse_args(argv)

    from collections import Counter

    from learn_synthetic import tiny_model

    from modeling_sherlock import SherlockForConditionalGeneration
    from processing import SherlockProcessor
    from sherlock.evaluation.dataset import load_split_rows

    dataset = Path(args.dataset)
    rows = [row for row in load_split_rows(str(dataset), "train") if len(row["events"]) == 1][: args.videos]
    labels = [row["events"][0]["event_type"] for row in rows]
    processor = SherlockProcessor.from_pretrained(args.model)
    processor.feature_cache_dir = str(dataset / "features")
    trained = SherlockForConditionalGeneration.from_pretrained(args.model)
    text = trained.config.text_config
    untrained = tiny_model(
        processor.tokenizer, text.hidden_size, text.num_hidden_layers, 0, **_switches(trained.config)
    )
    results = {
        "trained": probe(expert_features(trained, processor, rows, dataset / "videos"), labels),
        "untrained": probe(expert_features(untrained, processor, rows, dataset / "videos"), labels),
    }
    majority = Counter(labels).most_common(1)[0][1] / len(labels)
    print(f"event-type accuracy of a linear probe, {len(rows)} videos (majority class {majority:.2f})")
    print("| output | trained | untrained |\n|---|---|---|")
    for name in results["trained"]:
        print(f"| {name} | {results['trained'][name]:.2f} | {results['untrained'][name]:.2f} |")
    return {**results, "majority": majority}


def _switches(config) -> dict:
    return {
        "experts": list(config.experts),
        "gate": config.gate,
        "expert_output": config.expert_output,
        "gsb_variant": config.gsb_variant,
        "gsb_loss_coef": config.gsb_loss_coef,
    }


if __name__ == "__main__":
    main()
