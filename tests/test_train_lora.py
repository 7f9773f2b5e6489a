"""LoRA (paper §4.4): adapters on the language model, experts / gate / projector trained fully and saved with the
adapter, the frozen background tower and every other base weight untouched; the adapter reloads onto a fresh base."""

import torch

from sherlock.training.lora import add_lora, load_lora, trained_module_names
from sherlock.training.trainer import sherlock_sft_config

from sherlock_tester import build_model, prepare_inputs
from train_helpers import _trainer


TRAINED = ("lora_", "modules_to_save")


def test_trained_modules_never_include_the_background_tower():
    names = trained_module_names(build_model())
    assert "spatial_experts.background.null_node" in names and "expert_gate" in names
    assert not any("tower" in name for name in names)


def test_three_lora_steps_change_only_the_adapter_and_the_trained_modules(tmp_path):
    model = add_lora(build_model().train(), r=4, alpha=8)
    before = {name: param.detach().clone() for name, param in model.named_parameters()}
    trainable = {name for name, param in model.named_parameters() if param.requires_grad}
    assert trainable and all(any(mark in name for mark in TRAINED) for name in trainable)
    trainer = _trainer(tmp_path, model=model, max_steps=3, learning_rate=1e-2)
    trainer.train()
    changed = {name for name, param in model.named_parameters() if not torch.equal(param, before[name])}
    assert changed and changed <= trainable
    assert any("spatial_experts.background" in name for name in changed)  # its trainable parts did train
    assert any("lora_B" in name for name in changed) and any("expert_gate" in name for name in changed)
    logs = [log for log in trainer.state.log_history if "lm_loss" in log]
    assert len(logs) == 3 and all(log["gsb_loss"] > 0 and log["gate/global"] > 0 for log in logs)

    model.save_pretrained(tmp_path / "adapter")
    files = sorted(path.name for path in (tmp_path / "adapter").iterdir())
    assert "adapter_model.safetensors" in files and not any(name.endswith((".bin", ".pt")) for name in files)
    from safetensors.torch import load_file

    keys = load_file(tmp_path / "adapter" / "adapter_model.safetensors").keys()
    assert not any("tower" in key for key in keys) and any("null_node" in key for key in keys)

    inputs = prepare_inputs(labels=False)
    model.eval()
    with torch.no_grad():
        expected = model(**inputs).logits
        reloaded = load_lora(build_model(), tmp_path / "adapter").eval()
        torch.testing.assert_close(reloaded(**inputs).logits, expected)
        assert not torch.allclose(build_model()(**inputs).logits, expected)  # the adapter matters


def test_lora_config_defaults_follow_the_paper():
    config = sherlock_sft_config(output_dir="unused", use_cpu=True)
    assert config.remove_unused_columns is False and config.dataset_kwargs["skip_prepare_dataset"] is True
    # no pinned memory without an accelerator (torch warns "'pin_memory' ... no accelerator" on every CPU run)
    assert config.dataloader_pin_memory is torch.accelerator.is_available()
    model = add_lora(build_model())
    lora = model.peft_config["default"]
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (16, 64, 0.05)
