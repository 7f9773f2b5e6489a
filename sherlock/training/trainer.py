"""`SherlockTrainer`: TRL's `SFTTrainer` running Sherlock's own forward, with `loss = lm_loss + α · gsb_loss` where both
terms are those of the whole batch of an optimizer step (every micro-batch of the gradient accumulation, on every
process), so that neither the accumulation steps nor the number of processes change the loss or the gradients.

Why a `compute_loss` of its own (DESIGN §5): `SFTTrainer`'s loss path may run only the language backbone and head (its
fused / entropy paths), which would skip the GSM and the GSB term. Here the model's forward runs whole and returns
`lm_loss` and the gate weights; the trainer combines them:

- **The language-model term.** Sherlock's `forward` takes `**kwargs`, so `Trainer` treats it as accepting loss kwargs: it
  passes `num_items_in_batch` (the answer tokens of the whole accumulated batch, over every process when
  `average_tokens_across_devices`) and does not divide the loss by the accumulation steps. `lm_loss` is then
  `sum of token losses / num_items_in_batch`; with several processes DDP averages the gradients, so it is multiplied
  by the number of processes (as `Trainer.compute_loss` does). Without `num_items_in_batch` (no labels counted) it is
  a per-micro-batch mean, divided by the accumulation steps here.
- **The GSB term** (`gsb_scope="batch"`, the default) is the GSB of the whole batch of the optimizer step, the paper's
  batch (16 videos there, as 1 × 16 accumulation): `-log` of the gate weights averaged over ALL its video tokens, not
  a mean of per-micro-batch GSBs (because of the log, those differ). Before the step's first micro-batch,
  `get_batch_samples` runs a no-grad pre-pass of the video side of the model (the towers, the experts and the gate;
  not the language model, so about the cost of one more encoding of the videos) over the step's micro-batches, and
  sums the gate weights over the processes: that gives the batch's mean gate weights `ḡ` and token count `T`. Each
  micro-batch's backward then carries its exact share of the batch's GSB gradient (`gsb_batch_share`: the gradient of
  `f(ḡ)` is `f'(ḡ) / T` per token), multiplied by the number of processes because DDP averages. The update is then
  that of one step over the whole batch at once, up to float rounding (tested against one process with the whole
  batch in one micro-batch, with accumulation, and with two processes). The pre-pass reads the GSM's weights outside
  the wrapped forward, so it needs them unsharded: under FSDP or DeepSpeed ZeRO-3 the trainer falls back to
  `gsb_scope="micro_batch"` with a warning.
- `gsb_scope="micro_batch"`: each micro-batch's own GSB (over its own video tokens), divided by the accumulation
  steps and not multiplied by the number of processes: the mean of the per-micro-batch GSBs, which depends on how the
  batch is split.

`loss_is_scaled_for_ga = True` tells `Trainer` not to divide again. The logged metrics (every logging step, averaged
over the steps since the last log, through `SFTTrainer`'s metric store so that every `report_to` integration gets
them): `lm_loss` (per micro-batch means), `gsb_loss` (the GSB of the step's batch; with `"micro_batch"` of each
micro-batch), `gsb_alpha`, and `gate/<expert>` (the mean gate weight of each expert over the video tokens). The
`GSBCallback` (added automatically) schedules α and writes the gate-weight table of every process's samples.
"""

import dataclasses

import torch
from transformers.utils import logging
from trl import SFTConfig, SFTTrainer

from modeling_sherlock import EXPERT_INPUT_NAMES, gsb_loss
from modeling_sherlock.modeling_sherlock_gsb import gsb_batch_share

from .callbacks import GSBCallback
from .collator import EVENT_TYPES_KEY


logger = logging.get_logger(__name__)
GSB_SCOPES = ("batch", "micro_batch")


def sherlock_sft_config(activation_checkpointing: bool = False, **kwargs) -> SFTConfig:
    """An `SFTConfig` for Sherlock: the dataset is not prepared by TRL (the collator turns rows into model inputs, and
    TRL's preparation would drop the video columns), unused columns are kept for the collator, nothing is reported
    unless `report_to` says so, activation (gradient) checkpointing is off unless asked for (TRL's default is on;
    transformers 5.24 renamed the setting `activation_checkpointing`, 5.23 knows only `gradient_checkpointing`), and
    bf16 mixed precision is on only on a CUDA device that supports it (TRL would also autocast on a CPU), and the data
    loader pins memory only when there is an accelerator to copy to."""
    dataset_kwargs = {"skip_prepare_dataset": True, **kwargs.pop("dataset_kwargs", {})}
    names = {field.name for field in dataclasses.fields(SFTConfig)}
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    settings = {
        "remove_unused_columns": False,
        "dataset_kwargs": dataset_kwargs,
        "report_to": "none",
        checkpointing: activation_checkpointing,
        "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported() and not kwargs.get("use_cpu", False),
        # pinned memory only helps a copy to an accelerator; without one torch warns on every run
        "dataloader_pin_memory": torch.accelerator.is_available(),
        **kwargs,
    }
    return SFTConfig(**settings)


class SherlockTrainer(SFTTrainer):
    """`SFTTrainer` for `SherlockForConditionalGeneration` (plain or with a PEFT adapter); see the module docstring.

    Args are `SFTTrainer`'s, plus `gsb_scope` (`"batch"`, the default: the GSB of the optimizer step's whole batch;
    `"micro_batch"`: the mean of each micro-batch's GSB). `args` should come from `sherlock_sft_config` (or set
    `remove_unused_columns=False` and `dataset_kwargs={"skip_prepare_dataset": True}` yourself), and `data_collator`
    must produce the model's inputs with `labels` (e.g. `SherlockDataCollator`). A `GSBCallback` is added unless one is
    given.
    """

    loss_is_scaled_for_ga = True

    def __init__(self, *args, callbacks=None, gsb_scope: str = "batch", **kwargs):
        if gsb_scope not in GSB_SCOPES:
            raise ValueError(f"gsb_scope={gsb_scope!r}: choose from {list(GSB_SCOPES)}.")
        callbacks = list(callbacks or [])
        if not any(isinstance(callback, GSBCallback) for callback in callbacks):
            callbacks.append(GSBCallback())
        super().__init__(*args, callbacks=callbacks, **kwargs)
        self.gsb_scope = gsb_scope
        self._gsb_batch = None  # the current step's (mean gate weights, video tokens, micro-batches left)

    def _sherlock(self, model):
        """The `SherlockForConditionalGeneration` under the DDP / PEFT wrappers."""
        model = self.accelerator.unwrap_model(model)
        return model.get_base_model() if hasattr(model, "get_base_model") else model

    def _batch_scope_available(self) -> bool:
        """Whether the GSB of the whole batch can be computed: the pre-pass needs the GSM's weights unsharded."""
        from transformers.integrations import is_deepspeed_zero3_enabled

        if self.gsb_scope != "batch":
            return False
        if self.is_fsdp_enabled or is_deepspeed_zero3_enabled():
            logger.warning_once(
                "SherlockTrainer: under FSDP or DeepSpeed ZeRO-3 the GSB loss is computed per micro-batch "
                '(gsb_scope="micro_batch"): the whole-batch pre-pass needs the unsharded GSM weights.'
            )
            return False
        return True

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        """`Trainer.get_batch_samples` (the micro-batches of one optimizer step), then the GSB pre-pass over them."""
        batch_samples, num_items_in_batch = super().get_batch_samples(epoch_iterator, num_batches, device)
        self._gsb_batch = self._gate_statistics(batch_samples) if self._batch_scope_available() else None
        return batch_samples, num_items_in_batch

    @torch.no_grad()
    def _gate_statistics(self, batch_samples):
        """The mean gate weights, the video tokens and the micro-batches of the step's whole batch, over the processes: the
        video side of the model (towers, experts, gate) run without gradient, in training mode and under the same
        autocast as the training forward. None without a soft gate or with α fixed at 0."""
        sherlock = self._sherlock(self.model)
        scheduled = any(
            isinstance(callback, GSBCallback) and callback.alpha_schedule is not None
            for callback in self.callback_handler.callbacks
        )
        if sherlock.model.expert_gate is None or not (sherlock.config.gsb_loss_coef > 0 or scheduled):
            return None  # no gate, or α fixed at 0 (the w/o SIR ablation): the GSB term has no weight
        self.model.train()  # as `training_step` will run them (it calls `train()` only after this)
        sums = torch.zeros(len(sherlock.config.experts) + 1, dtype=torch.float64, device=self.args.device)
        for batch in batch_samples:
            inputs = self._prepare_inputs({k: v for k, v in batch.items() if k != EVENT_TYPES_KEY})
            if inputs.get("pixel_values_videos") is None:
                continue
            expert_inputs = {name: inputs[name] for name in EXPERT_INPUT_NAMES if inputs.get(name) is not None}
            with self.compute_loss_context_manager(), self.accelerator.autocast():
                video = sherlock.model.get_video_features(
                    pixel_values_videos=inputs["pixel_values_videos"],
                    vision_feature_layer=inputs.get("vision_feature_layer"),
                    **expert_inputs,
                )
            gates = video.gate_weights.detach().double().reshape(-1, video.gate_weights.shape[-1]).to(sums.device)
            sums[:-1] += gates.sum(dim=0)
            sums[-1] += gates.shape[0]
        sums = self.accelerator.reduce(sums, reduction="sum")  # every process's micro-batches
        tokens = float(sums[-1])
        if tokens == 0:
            return None
        return {"mean": (sums[:-1] / tokens).float(), "tokens": tokens, "left": len(batch_samples)}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """`lm_loss` (normalised by the accumulated answer tokens) + α · the GSB term (see the module docstring)."""
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
        gsb_logged = outputs.gsb_loss
        batch = self._gsb_batch if model.training else None
        if batch is not None and batch["left"] > 0 and outputs.gate_weights is not None:
            batch["left"] -= 1
            share = gsb_batch_share(
                outputs.gate_weights, batch["mean"], batch["tokens"], list(config.experts), config.gsb_variant
            )
            loss = loss + config.gsb_loss_coef * self.accelerator.num_processes * share.to(
                lm_loss.device, lm_loss.dtype
            )
            gsb_logged = gsb_loss(batch["mean"][None], list(config.experts), config.gsb_variant)
        elif outputs.gsb_loss is not None:
            loss = loss + config.gsb_loss_coef * outputs.gsb_loss.to(lm_loss.device, lm_loss.dtype) / steps
        self._record(
            outputs, gsb_logged, config, inputs.get("labels"), event_types, num_items_in_batch, model.training
        )
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
    def _record(self, outputs, gsb, config, labels, event_types, num_items_in_batch, training: bool) -> None:
        """Per micro-batch: the mean `lm_loss` over its answer tokens, `gsb` (the GSB term's loss: the batch's or the
        micro-batch's), α and the mean gate weight per expert into the metric store (averaged at each log); each
        sample's gate weights to the `GSBCallback`'s table."""
        metrics = self._metrics["train" if training else "eval"]
        lm_loss = float(outputs.lm_loss.detach().float())
        if num_items_in_batch is not None:  # sum / accumulated tokens -> the mean over this micro-batch's tokens
            tokens = int((labels[..., 1:] != -100).sum()) if labels is not None else 0
            lm_loss = lm_loss * float(num_items_in_batch) / tokens if tokens else float("nan")
        metrics["lm_loss"].append(lm_loss)
        if gsb is not None:
            metrics["gsb_loss"].append(float(gsb.detach().float()))
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
