"""SherlockDataCollator: M-VAE rows -> the model's inputs and labels that learn exactly the answer and EOS."""

import math

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from modeling_sherlock import SherlockForConditionalGeneration
from processing import NO_EVENT_ANSWER, SherlockProcessor, VideoDecodeError, post_process_events
from sherlock.tiny_extractors import tiny_extractor_models, tiny_extractor_settings
from sherlock.tiny_models import build_tiny_sherlock
from sherlock.training.collator import ANSWER_SEPARATOR, IGNORE_INDEX, SherlockDataCollator, encode_example

from video_factory import write_video


NUM_FRAMES = 4
ANSWER = "1.0-2.5s: (people, Theft, car, Street)"
LONG_ANSWER = "0.5-1.0s: (man, Fighting, man, Street)\n1.0-2.5s: (people, Theft, car, Street)"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    settings = tiny_extractor_settings(tiny_extractor_models(), threshold=0.0, max_persons=8, max_objects=16)
    settings["objects"]["max_relations"] = 32
    return build_tiny_sherlock(tmp_path_factory.mktemp("collator_model"), extractors=settings, num_frames=NUM_FRAMES)


@pytest.fixture(scope="module")
def processor(folder, tmp_path_factory):
    processor = SherlockProcessor.from_pretrained(folder)
    processor.feature_cache_dir = str(tmp_path_factory.mktemp("feature_cache"))  # as in training: extractors run once
    return processor


@pytest.fixture(scope="module")
def video_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    (root / "clips").mkdir()
    write_video(root / "clips" / "a.mp4", num_frames=24, fps=8.0)  # 3.0 s
    write_video(root / "clips" / "b.mp4", num_frames=20, fps=8.0)  # 2.5 s: another timing line
    return root


def unpadded(batch, index):
    """Input ids and labels of one row of a batch without its padding."""
    length = int(batch["attention_mask"][index].sum())
    return batch["input_ids"][index, :length], batch["labels"][index, :length]


def answer_part(batch, index):
    ids, labels = unpadded(batch, index)
    learnt = labels != IGNORE_INDEX
    return ids, labels, learnt


def test_labels_cover_exactly_the_answer_and_eos(processor, video_root):
    collator = SherlockDataCollator(processor, video_root=video_root)
    batch = collator([{"video": "clips/a.mp4", "answer": ANSWER}])
    ids, labels, learnt = answer_part(batch, 0)
    tokenizer = processor.tokenizer
    # the learnt positions are the tail of the sequence, and their labels are the input ids there
    first = int(learnt.nonzero()[0])
    assert learnt[first:].all() and not learnt[:first].any()
    assert torch.equal(labels[learnt], ids[learnt])
    assert labels[-1] == tokenizer.eos_token_id  # the model learns to stop
    assert tokenizer.decode(labels[learnt]) == ANSWER_SEPARATOR + ANSWER + tokenizer.eos_token
    # the whole sequence is the chat template's user turn and assistant turn
    prompt = tokenizer.decode(ids[:first])
    assert prompt.startswith("USER: <video><video>") and prompt.endswith(" ASSISTANT:")
    assert tokenizer.decode(ids[first:]) == f" {ANSWER}{tokenizer.eos_token}"


def test_prompt_part_and_video_inputs_are_those_of_inference(processor, video_root):
    collator = SherlockDataCollator(processor, video_root=video_root)
    batch = collator([{"video": "clips/a.mp4", "answer": ANSWER}])
    inference = processor(videos=[str(video_root / "clips" / "a.mp4")])
    ids, _, learnt = answer_part(batch, 0)
    assert torch.equal(ids[~learnt], inference["input_ids"][0])
    assert (ids == processor.video_token_id).sum() == NUM_FRAMES * processor.tokens_per_frame
    names = set(inference) - {"input_ids", "attention_mask"}
    assert names and set(batch) == names | {"input_ids", "attention_mask", "labels"}
    for name in names:
        assert batch[name].dtype == inference[name].dtype, name
        assert torch.equal(batch[name], inference[name]), name


def test_instruction_of_the_row_is_the_question(processor, video_root):
    collator = SherlockDataCollator(processor, video_root=video_root)
    question = "Localize the theft in the video."
    batch = collator(
        [
            {"video": "clips/a.mp4", "answer": ANSWER, "instruction": question},
            {"video": "clips/a.mp4", "answer": ANSWER, "instruction": ""},  # empty: the processor's instruction
        ]
    )
    asked, default = (processor.tokenizer.decode(answer_part(batch, i)[0]) for i in range(2))
    assert question in asked and processor.instruction not in asked
    assert processor.instruction in default and question not in default
    clip = processor.load_video(str(video_root / "clips" / "a.mp4"), decode=False)
    expected = processor.build_prompt(clip, question)
    assert asked.replace(processor.video_token * (NUM_FRAMES * processor.tokens_per_frame), "<video>").startswith(
        expected
    )


def test_batch_is_right_padded_and_the_tokenizer_is_left_as_it_was(processor, video_root):
    collator = SherlockDataCollator(processor, video_root=video_root)
    rows = [{"video": "clips/a.mp4", "answer": ANSWER}, {"video": "clips/b.mp4", "answer": LONG_ANSWER}]
    side = processor.tokenizer.padding_side
    batch = collator(rows)
    assert processor.tokenizer.padding_side == side == "left"  # inference pads left; the collator changes nothing
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    assert lengths[0] < lengths[1] == batch["input_ids"].shape[1]
    short = lengths[0]
    assert batch["attention_mask"][0, :short].all() and not batch["attention_mask"][0, short:].any()
    assert (batch["labels"][0, short:] == IGNORE_INDEX).all()
    assert (batch["input_ids"][0, short:] == processor.tokenizer.pad_token_id).all()
    # each row, unpadded, is that row collated alone
    for index, row in enumerate(rows):
        alone = collator([row])
        for got, want in zip(unpadded(batch, index), unpadded(alone, 0)):
            assert torch.equal(got, want)
    tokenizer = processor.tokenizer
    for index, answer in enumerate([ANSWER, LONG_ANSWER]):
        _, labels, learnt = answer_part(batch, index)
        assert tokenizer.decode(labels[learnt]) == f" {answer}{tokenizer.eos_token}"


def test_batch_runs_through_the_model_forward_with_finite_losses(folder, processor, video_root):
    collator = SherlockDataCollator(processor, video_root=video_root)
    rows = [{"video": "clips/a.mp4", "answer": ANSWER}, {"video": "clips/b.mp4", "answer": NO_EVENT_ANSWER}]
    batch = collator(rows)
    model = SherlockForConditionalGeneration.from_pretrained(folder)
    model.train()
    output = model(**batch)
    for name in ("loss", "lm_loss", "gsb_loss"):
        assert math.isfinite(getattr(output, name).item()), name
    torch.testing.assert_close(output.loss, output.lm_loss + model.config.gsb_loss_coef * output.gsb_loss)
    # the language-model loss is the cross-entropy of the answer + EOS tokens only (shifted by one)
    logits = output.logits[:, :-1].float()
    expected = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1), ignore_index=IGNORE_INDEX
    )
    torch.testing.assert_close(output.lm_loss, expected)
    output.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_relative_paths_are_joined_to_the_video_root(processor, video_root):
    rooted = SherlockDataCollator(processor, video_root=video_root)([{"video": "clips/a.mp4", "answer": ANSWER}])
    absolute = SherlockDataCollator(processor)([{"video": str(video_root / "clips" / "a.mp4"), "answer": ANSWER}])
    assert rooted.keys() == absolute.keys()
    assert all(torch.equal(rooted[name], absolute[name]) for name in rooted)
    # an absolute path ignores the root
    other_root = SherlockDataCollator(processor, video_root=video_root / "clips")
    assert torch.equal(
        other_root([{"video": str(video_root / "clips" / "a.mp4"), "answer": ANSWER}])["input_ids"],
        absolute["input_ids"],
    )
    # without the root, the relative path does not exist here: the processor's error names the file
    with pytest.raises(VideoDecodeError, match=r"clips/a\.mp4"):
        SherlockDataCollator(processor)([{"video": "clips/a.mp4", "answer": ANSWER}])


def test_max_length_raises_naming_the_video_and_the_lengths(processor, video_root):
    row = {"video": "clips/a.mp4", "answer": ANSWER}
    length = SherlockDataCollator(processor, video_root=video_root)([row])["input_ids"].shape[1]
    assert SherlockDataCollator(processor, video_root=video_root, max_length=length)([row])["input_ids"].shape[1] == (
        length
    )
    collator = SherlockDataCollator(processor, video_root=video_root, max_length=length - 1)
    with pytest.raises(ValueError, match=rf"a\.mp4 is {length} tokens long, more than `max_length` {length - 1}"):
        collator([row])
    with pytest.raises(ValueError, match=rf"{NUM_FRAMES * processor.tokens_per_frame} of them video tokens"):
        collator([row])
    with pytest.raises(ValueError, match="max_length"):
        SherlockDataCollator(processor, max_length=0)


def test_no_abnormal_event_answer_is_learnt_and_parses_to_no_event(processor, video_root):
    batch = SherlockDataCollator(processor, video_root=video_root)(
        [{"video": "clips/a.mp4", "answer": "No abnormal event."}]
    )
    _, labels, learnt = answer_part(batch, 0)
    text = processor.tokenizer.decode(labels[learnt])
    assert text == f" {NO_EVENT_ANSWER}{processor.tokenizer.eos_token}"
    assert post_process_events(text, duration=3.0) == []


def test_the_answer_is_stripped_and_bad_rows_are_refused(processor, video_root):
    collator = SherlockDataCollator(processor, video_root=video_root)
    padded = collator([{"video": "clips/a.mp4", "answer": f"  {ANSWER}\n"}])
    plain = collator([{"video": "clips/a.mp4", "answer": ANSWER}])
    assert torch.equal(padded["input_ids"], plain["input_ids"]) and torch.equal(padded["labels"], plain["labels"])
    for row, message in [
        ({"video": "clips/a.mp4"}, "non-empty `answer`"),
        ({"video": "clips/a.mp4", "answer": "  "}, "non-empty `answer`"),
        ({"answer": ANSWER}, "needs `video`"),
    ]:
        with pytest.raises(ValueError, match=message):
            collator([row])
    with pytest.raises(ValueError, match="empty batch"):
        collator([])


def test_videos_giving_different_frame_counts_raise_the_processor_error(folder, video_root):
    processor = SherlockProcessor.from_pretrained(folder, fps=2.0)  # 3.0 s -> 6 frames, 2.5 s -> 5 frames
    collator = SherlockDataCollator(processor, video_root=video_root)
    rows = [{"video": "clips/a.mp4", "answer": ANSWER}, {"video": "clips/b.mp4", "answer": ANSWER}]
    with pytest.raises(ValueError, match=r"different frame counts \[5, 6\] \(.*a\.mp4: 6, .*b\.mp4: 5\)"):
        collator(rows)
    assert processor._extractor_set is None  # refused from the probes: no extractor was built, nothing decoded
    # one by one they collate (each with its own frame count)
    assert [collator([row])["pixel_values_videos"].shape[1] for row in rows] == [6, 5]


def merging_tokenizer() -> PreTrainedTokenizerFast:
    """A BPE tokenizer without pre-tokenizer: its merges cross the `ASSISTANT:` / answer boundary (`: N`)."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    trainer = trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>", "</s>"], show_progress=False)
    tokenizer.train_from_iterator(["USER: hi ASSISTANT: No abnormal event."] * 20, trainer)
    tokenizer.decoder = decoders.Fuse()  # tokens are plain substrings: decoding concatenates them
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", eos_token="</s>")


def test_the_answer_is_tokenised_on_its_own_when_the_tokenizer_merges_across_the_boundary(processor):
    tokenizer = merging_tokenizer()
    prompt, answer = "USER: hi ASSISTANT:", " No abnormal event."
    prompt_ids = tokenizer(prompt)["input_ids"]
    whole = tokenizer(prompt + answer)["input_ids"]
    assert whole[: len(prompt_ids)] != prompt_ids  # the case: slicing the whole would mislabel
    input_ids, labels = encode_example(tokenizer, prompt, answer)
    assert input_ids[: len(prompt_ids)] == prompt_ids  # the prompt is conditioned on as at inference
    assert labels[: len(prompt_ids)] == [IGNORE_INDEX] * len(prompt_ids)
    assert labels[len(prompt_ids) :] == input_ids[len(prompt_ids) :]
    assert tokenizer.decode(labels[len(prompt_ids) :]) == answer + tokenizer.eos_token
    # and a tokenizer that keeps the boundary takes the whole tokenisation
    prompt = "USER: <video>\nhello ASSISTANT:"
    input_ids, labels = encode_example(processor.tokenizer, prompt, answer)
    assert input_ids == processor.tokenizer(prompt + answer)["input_ids"] + [processor.tokenizer.eos_token_id]


def sentencepiece_like_tokenizer() -> PreTrainedTokenizerFast:
    """Llama-style: spaces become `▁` and one `▁` is prepended to every text, so `ASSISTANT: No` splits at the boundary
    (the prompt is a prefix) but ` No` tokenised on its own starts with an extra `▁` token."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tokenizer.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    trainer = trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>", "</s>"], show_progress=False)
    tokenizer.train_from_iterator(["USER: hi ASSISTANT: No abnormal event."] * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", eos_token="</s>")


def test_the_whole_tokenisation_is_kept_when_the_prompt_ids_are_its_prefix():
    tokenizer = sentencepiece_like_tokenizer()
    prompt, answer = "USER: hi ASSISTANT:", " No abnormal event."
    prompt_ids = tokenizer(prompt)["input_ids"]
    whole = tokenizer(prompt + answer)["input_ids"]
    alone = tokenizer(answer, add_special_tokens=False)["input_ids"]
    assert whole[: len(prompt_ids)] == prompt_ids and whole[len(prompt_ids) :] != alone  # the case
    input_ids, labels = encode_example(tokenizer, prompt, answer)
    # the answer as the language model reads it after the prompt, not with the stray `▁` of `alone`
    assert input_ids == whole + [tokenizer.eos_token_id]
    assert labels == [IGNORE_INDEX] * len(prompt_ids) + whole[len(prompt_ids) :] + [tokenizer.eos_token_id]


def test_rows_train_through_the_sherlock_trainer_with_the_gate_table(folder, processor, video_root, tmp_path):
    """Dataset rows -> collator -> `SherlockTrainer`: two steps, finite logged losses, the frozen background tower
    bit-identical, the gate-weight table per event type written from the rows' events."""
    import csv
    import math

    import datasets

    from modeling_sherlock import SherlockForConditionalGeneration
    from sherlock.training import SherlockDataCollator, SherlockTrainer, sherlock_sft_config

    rows = [
        {
            "video": "clips/a.mp4",
            "answer": "1.0-2.0s: (man, Fighting, man, Street)",
            "events": [{"event_type": "Fighting"}],
        },
        {"video": "clips/b.mp4", "answer": "No abnormal event.", "events": []},
    ]
    model = SherlockForConditionalGeneration.from_pretrained(folder).train()
    tower = {name: value.clone() for name, value in model.model.spatial_experts.background.tower.state_dict().items()}
    settings = {"output_dir": str(tmp_path / "out"), "per_device_train_batch_size": 1, "max_steps": 2, "use_cpu": True}
    trainer = SherlockTrainer(
        model=model,
        args=sherlock_sft_config(**settings, logging_steps=1, save_strategy="no", disable_tqdm=True),
        train_dataset=datasets.Dataset.from_list(rows),
        data_collator=SherlockDataCollator(processor, video_root=video_root, return_event_types=True),
        processing_class=processor.tokenizer,
    )
    trainer.train()
    logs = [log for log in trainer.state.log_history if "lm_loss" in log]
    assert len(logs) == 2 and all(math.isfinite(log["lm_loss"]) and math.isfinite(log["gsb_loss"]) for log in logs)
    after = model.model.spatial_experts.background.tower.state_dict()
    assert all(torch.equal(after[name], value) for name, value in tower.items())
    with (tmp_path / "out" / "gate_weights.csv").open() as handle:
        assert [row["event_type"] for row in csv.DictReader(handle)] == ["Fighting", "(no event)", "(all videos)"]
