"""Shared pieces of the training tests: a tiny random dataset of model inputs and a `SherlockTrainer` on it."""

import datasets
import torch

from sherlock.tiny_models import train_tokenizer
from sherlock.training.trainer import EVENT_TYPES_KEY, SherlockTrainer, sherlock_sft_config

from sherlock_tester import build_model, prepare_inputs


SAMPLES = 4
EVENT_TYPES = [["Fighting"], ["Theft", "Fighting"], [], ["Theft"]]


def _dataset(seed: int = 0, identical: bool = False) -> datasets.Dataset:
    """4 samples whose 2 to 5 last tokens are labelled (different answer lengths: the token normalisation matters);
    `identical`: the first sample's video inputs four times (every micro-batch then has the same gate statistics)."""
    inputs = prepare_inputs(batch=SAMPLES, labels=True, text_len=6, seed=seed)
    if identical:
        inputs = {name: value[:1].expand(SAMPLES, *value.shape[1:]).clone() for name, value in inputs.items()}
    labels = inputs["labels"]
    for sample in range(SAMPLES):
        labels[sample, : labels.shape[1] - 2 - sample] = -100
    columns = {name: value.tolist() for name, value in inputs.items()}
    columns["sample"] = list(range(SAMPLES))
    return datasets.Dataset.from_dict(columns).with_format("torch")


def collate(batch):
    inputs = {name: torch.stack([row[name] for row in batch]) for name in batch[0] if name != "sample"}
    inputs[EVENT_TYPES_KEY] = [EVENT_TYPES[int(row["sample"])] for row in batch]
    return inputs


def _trainer(tmp_path, model=None, callbacks=None, dataset=None, gsb_scope="batch", **overrides):
    settings = {
        "output_dir": str(tmp_path / "out"),
        "per_device_train_batch_size": 2,
        "max_steps": 2,
        "learning_rate": 1e-3,
        "logging_steps": 1,
        "use_cpu": True,
        "save_strategy": "no",
        "disable_tqdm": True,
        **overrides,
    }
    model = model if model is not None else build_model().train()
    return SherlockTrainer(
        model=model,
        args=sherlock_sft_config(**settings),
        train_dataset=dataset if dataset is not None else _dataset(),
        data_collator=collate,
        processing_class=train_tokenizer(),
        callbacks=callbacks,
        gsb_scope=gsb_scope,
    )
