"""The hand-checked sets of M-VAE's event elements (`dataset_scripts/data/mvae_dev/` and the held-out
`dataset_scripts/data/mvae_check/`): each sample is the one its seed draws from the train split (the check set without
the development set's events), the labels are in the vocabulary, the builder's agreement with them cannot silently drop
below what was measured, and the card states it."""

import copy

import pytest

from dataset_scripts.build_mvae import BuildMvaeArguments
from dataset_scripts.mvae_build import build_mvae
from dataset_scripts.mvae_cuva import read_categories
from dataset_scripts.mvae_devset import (
    CHECK_DIR,
    DEV_DIR,
    agreement,
    built_events,
    check_labels,
    draw_dev_sample,
    label_quality,
    load_jsonl,
    main,
)
from sherlock.evaluation.dataset import load_split_rows

from sherlock_tester import cuva_dir


# The agreement of the default build (`python -m dataset_scripts.mvae_devset score --dataset DIR [--dev-dir ...]`);
# raise these when the extraction improves. Before the frames (the first keyword extractor) it was 104 / 90 / 54 / 93
# on the development set and 80 / 70 / 42 / 78 on the check set.
MEASURED = {
    DEV_DIR: {"event_type": 104 / 104, "subject": 95 / 104, "object": 97 / 104, "scene": 98 / 104},
    CHECK_DIR: {"event_type": 80 / 80, "subject": 73 / 80, "object": 65 / 80, "scene": 78 / 80},
}
GOALS = {"event_type": 0.98, "subject": 0.90, "object": 0.80, "scene": 0.90}  # issue 12, on the development set


@pytest.fixture(scope="module")
def built(build):
    return build.output_dir


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    output = tmp_path_factory.mktemp("mvae")
    return build_mvae(BuildMvaeArguments(cuva_dir=str(cuva_dir()), output_dir=str(output)))


def labelled(folder):
    return load_jsonl(folder / "sample.jsonl"), load_jsonl(folder / "labels.jsonl")


def test_the_samples_are_the_ones_their_seeds_draw_from_the_train_split(built):
    categories = read_categories(cuva_dir() / "Category.txt")
    rows = load_split_rows(str(built), "train")
    dev_sample, _ = labelled(DEV_DIR)
    check_sample, _ = labelled(CHECK_DIR)
    assert draw_dev_sample(rows, len(dev_sample), 12, categories) == dev_sample
    dev_keys = {(s["video_id"], s["event_index"]) for s in dev_sample}
    assert draw_dev_sample(rows, len(check_sample), 13, categories, exclude=dev_keys) == check_sample
    check_keys = {(s["video_id"], s["event_index"]) for s in check_sample}
    assert len(dev_keys) == len(dev_sample) >= 100 and len(check_keys) == len(check_sample) >= 80
    assert not dev_keys & check_keys  # the check set is held out from the development set
    train = {row["video_id"] for row in rows}
    assert all(item["video_id"] in train for item in dev_sample + check_sample)  # never a test video


@pytest.mark.parametrize("folder", [DEV_DIR, CHECK_DIR], ids=["development", "check"])
def test_every_label_is_in_the_vocabulary_and_every_event_is_labelled_once(folder):
    sample, labels = labelled(folder)
    check_labels(labels, sample)
    broken = copy.deepcopy(labels)
    broken[0]["object"]["alternatives"] = ["lorry"]
    with pytest.raises(ValueError, match="object 'lorry' not in the vocabulary"):
        check_labels(broken, sample)
    with pytest.raises(ValueError, match="labels do not match the sample"):
        check_labels(labels[1:], sample)


@pytest.mark.parametrize("folder", [DEV_DIR, CHECK_DIR], ids=["development", "check"])
def test_the_builders_agreement_does_not_drop_below_what_was_measured(built, folder):
    _, labels = labelled(folder)
    scores = agreement(labels, built_events(str(built)))
    for slot, measured in MEASURED[folder].items():
        assert scores[slot] >= measured - 1e-9, f"{slot}: {scores[slot]:.3f} < {measured:.3f}"
    if folder == DEV_DIR:
        assert all(scores[slot] >= goal for slot, goal in GOALS.items()), scores


def test_the_card_states_the_agreement_of_both_sets_and_the_defaults(build):
    card = (build.output_dir / "README.md").read_text()
    quality = build.label_quality
    assert set(quality) == {"development", "check"}
    for name, folder in (("development", DEV_DIR), ("check", CHECK_DIR)):
        _, labels = labelled(folder)
        assert quality[name]["matched"] == quality[name]["events"] == len(labels)
        assert quality[name]["agreement"] == agreement(labels, built_events(str(build.output_dir)))
    section = card.split("## Label quality")[1].split("\n## ")[0]
    subject = next(line for line in section.splitlines() if line.startswith("| subject |"))
    dev_subject, check_subject = (
        quality["development"]["agreement"]["subject"],
        quality["check"]["agreement"]["subject"],
    )
    assert f"({100 * dev_subject:.1f} %)" in subject and f"({100 * check_subject:.1f} %)" in subject
    defaults = {key: value for key, value in build.counters.items() if key.startswith("default_")}
    assert len(defaults) >= 3 and sum(defaults.values()) == sum(
        build.counters[f"{f}_from_default"] for f in ("subject", "object", "scene")
    )
    line = next(line for line in card.splitlines() if line.startswith("Defaults used: "))
    events = sum(len(row["events"]) for row in build.rows)
    for key, count in defaults.items():
        slot, value = key.removeprefix("default_").split(":")
        assert f"{slot} {value} {count} ({100 * count / events:.1f} %)" in line


def test_a_build_without_every_labelled_event_says_so(tmp_path):
    result = build_mvae(BuildMvaeArguments(cuva_dir=str(cuva_dir()), output_dir=str(tmp_path), limit=40))
    quality = result.label_quality
    assert all(q["agreement"] is None and q["matched"] < q["events"] for q in quality.values())
    card = (tmp_path / "README.md").read_text()
    assert f"not measured: {quality['check']['matched']} of 80 labelled events in this build" in card


def test_label_quality_needs_the_texts_the_events_were_labelled_from(build):
    categories = read_categories(cuva_dir() / "Category.txt")
    rows = copy.deepcopy(build.rows)
    assert label_quality(rows, categories)["development"]["matched"] == 104
    dev_sample, _ = labelled(DEV_DIR)
    row = next(row for row in rows if row["video_id"] == dev_sample[0]["video_id"])
    row["source"]["result"] += " Then it rained."  # another CUVA copy: the labels were not written for this text
    quality = label_quality(rows, categories)["development"]
    assert quality["matched"] < 104 and quality["agreement"] is None


def test_the_score_command_prints_each_slot(built, capsys):
    assert main(["score", "--dataset", str(built), "--dev-dir", str(CHECK_DIR)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"{slot}: {100 * share:.1f} % of 80" for slot, share in agreement(
        labelled(CHECK_DIR)[1], built_events(str(built))).items()]  # fmt: skip


def test_agreement_counts_main_labels_and_alternatives():
    labels = [
        {"video_id": "1", "event_index": 0, **{s: {"label": "x", "alternatives": ["y"]} for s in ("event_type", "subject", "object", "scene")}},
        {"video_id": "2", "event_index": 0, **{s: {"label": "x", "alternatives": []} for s in ("event_type", "subject", "object", "scene")}},
    ]  # fmt: skip
    built = {("1", 0): dict.fromkeys(("event_type", "subject", "object", "scene"), "y"), ("2", 0): {
        "event_type": "x", "subject": "x", "object": "y", "scene": "x"}}  # fmt: skip
    assert agreement(labels, built) == {"event_type": 1.0, "subject": 1.0, "object": 0.5, "scene": 1.0}
