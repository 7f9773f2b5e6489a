"""`SherlockTrainer`: TRL's `SFTTrainer` running Sherlock's own forward, with `loss = lm_loss + α · gsb_loss` normalised
so that neither the gradient-accumulation steps nor the number of processes change the effective α or the gradients.

Why a `compute_loss` of its own (DESIGN §5): `SFTTrainer`'s loss path may run only the language backbone and head (its
fused / entropy paths), which would skip the GSM and the GSB term. Here the model's forward runs whole and returns
`lm_loss` and `gsb_loss` separately; the trainer combines them:

- **The language-model term.** Sherlock's `forward` takes `**kwargs`, so `Trainer` treats it as accepting loss kwargs: it
  passes `num_items_in_batch` (the answer tokens of the whole accumulated batch, over every process when
  `average_tokens_across_devices`) and does not divide the loss by the accumulation steps. `lm_loss` is then
  `sum of token losses / num_items_in_batch`; with several processes DDP averages the gradients, so it is multiplied
  by the number of processes (as `Trainer.compute_loss` does). Without `num_items_in_batch` (no labels counted) it is
  a per-micro-batch mean, divided by the accumulation steps here.
- **The GSB term** is a mean over one micro-batch's video tokens: it is divided by the accumulation steps (the
  accumulated gradient is then the mean over the micro-batches), and not multiplied by the number of processes (DDP's
  average is already the mean over processes). So `α` means the same for any accumulation and any world size.

`loss_is_scaled_for_ga = True` tells `Trainer` not to divide again. The logged metrics (every logging step, averaged
over the steps since the last log, through `SFTTrainer`'s metric store so that every `report_to` integration gets
them): `lm_loss` and `gsb_loss` (per micro-batch means), `gsb_alpha`, and `gate/<expert>` (the mean gate weight of each
expert over the video tokens). The `GSBCallback` (added automatically) schedules α and writes the gate-weight table.
"""

import dataclasses

import torch
from trl import SFTConfig, SFTTrainer

from .callbacks import GSBCallback
from .collator import EVENT_TYPES_KEY


def sherlock_sft_config(activation_checkpointing: bool = False, **kwargs) -> SFTConfig:
    """An `SFTConfig` for Sherlock: the dataset is not prepared by TRL (the collator turns rows into model inputs, and
    TRL's preparation would drop the video columns), unused columns are kept for the collator, nothing is reported
    unless `report_to` says so, activation (gradient) checkpointing is off unless asked for (TRL's default is on;
    transformers 5.24 renamed the setting `activation_checkpointing`, 5.23 knows only `gradient_checkpointing`), and
    bf16 mixed precision is on only on a CUDA device that supports it (TRL would also autocast on a CPU)."""
    dataset_kwargs = {"skip_prepare_dataset": True, **kwargs.pop("dataset_kwargs", {})}
    names = {field.name for field in dataclasses.fields(SFTConfig)}
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    settings = {
        "remove_unused_columns": False,
        "dataset_kwargs": dataset_kwargs,
        "report_to": "none",
        checkpointing: activation_checkpointing,
        "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported() and not kwargs.get("use_cpu", False),
        **kwargs,
    }
    return SFTConfig(**settings)


class SherlockTrainer(SFTTrainer):
    """`SFTTrainer` for `SherlockForConditionalGeneration` (plain or with a PEFT adapter); see the module docstring.

    Args are `SFTTrainer`'s. `args` should come from `sherlock_sft_config` (or set `remove_unused_columns=False` and
    `dataset_kwargs={"skip_prepare_dataset": True}` yourself), and `data_collator` must produce the model's inputs with
    `labels` (e.g. `SherlockDataCollator`). A `GSBCallback` is added unless one is given.
    """

    loss_is_scaled_for_ga = True

    def __init__(self, *args, callbacks=None, **kwargs):
        callbacks = list(callbacks or [])
        if not any(isinstance(callback, GSBCallback) for callback in callbacks):
            callbacks.append(GSBCallback())
        super().__init__(*args, callbacks=callbacks, **kwargs)

    def _sherlock(self, model):
        """The `SherlockForConditionalGeneration` under the DDP / PEFT wrappers."""
        model = self.accelerator.unwrap_model(model)
        return model.get_base_model() if hasattr(model, "get_base_model") else model

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """`lm_loss` (normalised by the accumulated answer tokens) + α · `gsb_loss` / accumulation steps."""
        inputs = dict(inputs)
        event_types = inputs.pop(EVENT_TYPES_KEY, None)
        extra = {"num_items_in_batch": num_items_in_batch} if num_items_in_batch is not None else {}
        outputs = model(**inputs, **extra, use_cache=False, output_gate_weights=True)
        steps = self.current_gradient_accumulation_steps if model.training else 1
        lm_loss = outputs.lm_loss
        if num_items_in_batch is None:
            lm_loss = lm_loss / steps
        elif self.args.average_tokens_across_devices and self.accelerator.num_processes > 1:
            lm_loss = lm_loss * self.accelerator.num_processes
        loss = lm_loss
        config = self._sherlock(model).config
        if outputs.gsb_loss is not None:
            loss = loss + config.gsb_loss_coef * outputs.gsb_loss.to(lm_loss.dtype) / steps
        self._record(outputs, config, inputs.get("labels"), event_types, num_items_in_batch, model.training)
        return (loss, outputs) if return_outputs else loss

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        """Resume the weights of a whole-model (non-PEFT) run through `from_pretrained`.

        `Trainer` reloads a full checkpoint with a plain `load_state_dict`, without the checkpoint key conversions
        (transformers#43701), while Sherlock saves under Video-LLaVA's names (`language_model.model.*`,
        `video_tower.*`): those weights would come back as "unexpected keys" and the model would keep its own. Here the
        checkpoint is loaded with `from_pretrained` (which converts the names) and its weights copied in, strictly.
        This holds a second copy of the weights in CPU memory for the copy. PEFT models (their adapter files carry
        PEFT's own names), FSDP and DeepSpeed keep `Trainer`'s own loading.
        """
        target = self.model if model is None else model
        unwrapped = self.accelerator.unwrap_model(target)
        if self.is_fsdp_enabled or self.is_deepspeed_enabled or hasattr(unwrapped, "peft_config"):
            return super()._load_from_checkpoint(resume_from_checkpoint, model=model)
        dtype = next(unwrapped.parameters()).dtype
        loaded = type(unwrapped).from_pretrained(resume_from_checkpoint, dtype=dtype)
        unwrapped.load_state_dict(loaded.state_dict(), strict=True)
        del loaded

    @property
    def current_gradient_accumulation_steps(self) -> int:
        """The micro-batches of the current optimizer step (the last window of an epoch may be shorter)."""
        return self.__dict__.get("current_gradient_accumulation_steps", self.args.gradient_accumulation_steps)

    @current_gradient_accumulation_steps.setter
    def current_gradient_accumulation_steps(self, value: int) -> None:
        self.__dict__["current_gradient_accumulation_steps"] = value

    @torch.no_grad()
    def _record(self, outputs, config, labels, event_types, num_items_in_batch, training: bool) -> None:
        """Per micro-batch: the mean `lm_loss` over its answer tokens, `gsb_loss`, α and the mean gate weight per expert
        into the metric store (averaged at each log); each sample's gate weights to the `GSBCallback`'s table."""
        metrics = self._metrics["train" if training else "eval"]
        lm_loss = float(outputs.lm_loss.detach().float())
        if num_items_in_batch is not None:  # sum / accumulated tokens -> the mean over this micro-batch's tokens
            tokens = int((labels[..., 1:] != -100).sum()) if labels is not None else 0
            lm_loss = lm_loss * float(num_items_in_batch) / tokens if tokens else float("nan")
        metrics["lm_loss"].append(lm_loss)
        if outputs.gsb_loss is not None:
            metrics["gsb_loss"].append(float(outputs.gsb_loss.detach().float()))
            metrics["gsb_alpha"].append(float(config.gsb_loss_coef))
        if outputs.gate_weights is not None:
            per_sample = outputs.gate_weights.detach().float().mean(dim=1).cpu()  # (batch, experts)
            for name, value in zip(config.experts, per_sample.mean(dim=0).tolist()):
                metrics[f"gate/{name}"].append(value)
            if training:
                for callback in self.callback_handler.callbacks:
                    if isinstance(callback, GSBCallback):
                        callback.add_gate_weights(list(config.experts), per_sample, event_types)


__all__ = ["EVENT_TYPES_KEY", "SherlockTrainer", "sherlock_sft_config"]
