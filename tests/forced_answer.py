"""A `LogitsProcessor` that makes a tiny random Sherlock say a given answer, so that tests go through the real
generate -> score -> parse path with at least one event (a random model only ever says "No abnormal event.")."""

import torch
from transformers import LogitsProcessor, LogitsProcessorList


# A canonical answer line (DESIGN §3) within the 3.0 s test videos.
FORCED_ANSWER = "1.0-3.0s: (people, Fighting, none, Street)"
FORCED_EVENT = {
    "start": 1.0,
    "end": 3.0,
    "subject": "people",
    "event_type": "Fighting",
    "object": "none",
    "scene": "Street",
}


class ForceAnswer(LogitsProcessor):
    """Adds `bonus` to the logit of the next token of `answer` (then of EOS) at every step.

    The bonus makes each forced token the greedy choice without making it certain: the generation's log-probabilities
    stay finite and below 0, so the event scores computed from them lie strictly inside (0, 1).
    """

    def __init__(self, tokenizer, answer: str = FORCED_ANSWER, bonus: float = 10.0):
        self.target = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        self.bonus = bonus
        self.prompt_length = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prompt_length is None:
            self.prompt_length = input_ids.shape[1]
        step = input_ids.shape[1] - self.prompt_length
        if step < len(self.target):
            scores = scores.clone()
            scores[:, self.target[step]] += self.bonus
        return scores


def forced_generation_kwargs(tokenizer, answer: str = FORCED_ANSWER) -> dict:
    """`analyze_video(..., **forced_generation_kwargs(processor.tokenizer))`: generate `answer`, then stop."""
    return {"logits_processor": LogitsProcessorList([ForceAnswer(tokenizer, answer)])}


def save_forced_answer(folder, tokenizer, answer: str = FORCED_ANSWER, bonus: float = 10.0) -> None:
    """Make the saved model in `folder` say `answer` wherever it is loaded (a Space, a Hub download): its
    `generation_config.json` gets a `sequence_bias` that adds `bonus * k` to the k-th token of `answer` (then EOS)
    after the k - 1 before it, so greedy decoding follows the answer without making it certain."""
    from transformers import GenerationConfig

    target = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    config = GenerationConfig.from_pretrained(folder)
    config.sequence_bias = [[target[: k + 1], bonus * (k + 1)] for k in range(len(target))]
    config.save_pretrained(folder)


__all__ = ["FORCED_ANSWER", "FORCED_EVENT", "ForceAnswer", "forced_generation_kwargs", "save_forced_answer"]
