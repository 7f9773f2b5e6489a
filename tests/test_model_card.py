"""The model card of a Sherlock folder (`sherlock.model_card.render_model_card`): metadata that parses back, the
paper's tables filled from a real `metrics.json`, the sections a published card needs, the untrained-weights warning,
and clear errors for bad inputs."""

import importlib.resources
import json
import shutil
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from sherlock.evaluation.scoring import score, write_metrics
from sherlock.model_card import __all__ as model_card_all
from sherlock.model_card import render_model_card
from sherlock.tiny_models import build_tiny_sherlock


REPO = Path(__file__).resolve().parents[1]
REPO_ID = "org/sherlock-tiny"
DATASET = "org/m-vae"
TAGS = ["sherlock", "video-llava", "video-anomaly", "event-extraction", "temporal-localization", "custom_code"]
BIBTEX = """@inproceedings{ma2025sherlock,
  title={Sherlock: Towards Multi-scene Video Abnormal Event Extraction and Localization via a Global-local Spatial-sensitive LLM},
  author={Ma, Junxiao and Wang, Jingjing and Luo, Jiamin and Yu, Peiying and Zhou, Guodong},
  booktitle={Proceedings of the ACM Web Conference 2025},
  year={2025}
}"""
WARNING = "**This model is not trained"


def event(start, end, subject, event_type, obj, scene, score=None):
    return {
        "start": start,
        "end": end,
        "subject": subject,
        "event_type": event_type,
        "object": obj,
        "scene": scene,
        "score": score,
    }


ROWS = [
    {"video_id": "v1", "duration": 10.0, "events": [event(1.0, 4.0, "people", "Theft", "car", "Street")]},
    {"video_id": "v2", "duration": 8.0, "events": [event(2.0, 6.0, "people", "Fighting", "people", "Road")]},
    {"video_id": "v3", "duration": 12.0, "events": [event(3.0, 9.0, "car", "Traffic Accident", "car", "Road")]},
]
PREDICTIONS = {
    "v1": [event(1.5, 4.0, "people", "Theft", "car", "Street", 0.9)],
    "v2": [event(0.0, 3.0, "dog", "Fighting", "people", "Shop", 0.5)],
    "v3": [event(3.5, 8.0, "car", "Traffic Accident", "car", "Road", 0.7)],
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random Sherlock: no demo stamp, no training record."""
    return build_tiny_sherlock(tmp_path_factory.mktemp("model") / "sherlock-tiny")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """An evaluation run folder whose `metrics.json` the scorer wrote; returns (folder, its metrics as read back)."""
    folder = tmp_path_factory.mktemp("run")
    path = write_metrics(folder / "metrics.json", score(ROWS, PREDICTIONS))
    return folder, json.loads(path.read_text())


def copy_model(tiny, tmp_path, name="copy") -> Path:
    return Path(shutil.copytree(tiny, tmp_path / name))


def pct(value) -> str:
    return f"{100 * value:.2f}"


def roundtrip(card, tmp_path) -> ModelCard:
    """The card as the Hub reads it: saved as README.md and loaded back."""
    path = tmp_path / "README.md"
    card.save(path)
    assert ModelCard(card.content).data.to_dict() == ModelCard.load(path).data.to_dict()
    return ModelCard.load(path)


def section(text: str, title: str) -> str:
    """The body of the `## title` section."""
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_render_model_card_is_public():
    assert "render_model_card" in model_card_all


def test_the_template_is_one_file_reached_through_the_package():
    link = REPO / "sherlock" / "templates" / "model_card.md"
    assert link.is_symlink() and link.resolve() == (REPO / "model_card.md").resolve()
    packaged = importlib.resources.files("sherlock").joinpath("templates/model_card.md").read_text(encoding="utf-8")
    assert packaged == (REPO / "model_card.md").read_text(encoding="utf-8")
    assert "{{ card_data }}" in packaged


def test_a_card_without_metrics_has_the_metadata_sections_and_citation(tiny, tmp_path):
    card = render_model_card(tiny, repo_id=REPO_ID, datasets=[DATASET], base_model="org/video-llava-base")
    loaded = roundtrip(card, tmp_path)
    data = loaded.data
    assert (data.library_name, data.pipeline_tag, data.license) == ("transformers", "video-text-to-text", "apache-2.0")
    assert data.tags == TAGS
    assert data.datasets == [DATASET] and data.base_model == "org/video-llava-base"
    assert not data.eval_results

    text = loaded.text
    assert "No evaluation results were given." in section(text, "Evaluation")
    assert "model-index" not in loaded.content
    usage = section(text, "How to use")
    assert f'AutoModel.from_pretrained("{REPO_ID}", trust_remote_code=True)' in usage
    assert f'AutoProcessor.from_pretrained("{REPO_ID}", trust_remote_code=True)' in usage
    assert f"sherlock analyze video.mp4 --model {REPO_ID}" in usage
    out_of_scope = section(text, "Out-of-scope uses")
    for words in ("Surveillance of people", "Identifying or tracking individuals", "Decisions about people"):
        assert words in out_of_scope
    for words in ("law\n  enforcement", "employment", "access to", "not evidence"):
        assert words in out_of_scope
    limitations = section(text, "Bias, risks and limitations")
    assert "deterministic extraction rules" in limitations and "CUVA" in limitations
    assert "held-out" in limitations and "unevenly represented" in limitations
    citation = section(text, "Citation")
    assert BIBTEX in citation and "[arXiv:2502.18863](https://arxiv.org/abs/2502.18863)" in citation
    configuration = section(text, "Model configuration")
    assert "- **Experts:** action, object_relation, background, global\n" in configuration
    assert "- **Gate:** soft" in configuration
    assert "- **GSB loss:** variant `paper`, coefficient α = 0.4" in configuration
    assert "- **Expert output:** `paper`" in configuration
    assert "- **Language model:** llama, hidden size 64, 2 layers, 4 attention heads, vocabulary 512" in configuration


def test_the_tiny_model_gets_the_warning_at_the_top(tiny, tmp_path):
    text = roundtrip(render_model_card(tiny), tmp_path).text
    assert WARNING in text and "answers are meaningless" in text
    assert text.index(WARNING) < text.index("## How to use")  # at the top
    assert "Not trained" in section(text, "Training")
    assert 'AutoModel.from_pretrained("path/to/sherlock-tiny", trust_remote_code=True)' in text  # no repo id


def test_the_demo_stamp_says_random_weights_and_refuses_trained(tiny, tmp_path):
    folder = copy_model(tiny, tmp_path)
    (folder / "sherlock_demo.json").write_text(json.dumps({"version": 3, "random_weights": True}))
    text = render_model_card(folder).text
    assert "> **This model is not trained: its weights are random, so its answers are meaningless.**" in text
    with pytest.raises(ValueError, match="sherlock_demo.json.*random"):
        render_model_card(folder, trained=True)


def test_the_metrics_of_a_run_fill_the_tables_and_the_eval_results(tiny, run, tmp_path):
    folder, metrics = run
    card = render_model_card(tiny, repo_id=REPO_ID, metrics=folder / "metrics.json", datasets=[DATASET])
    loaded = roundtrip(card, tmp_path)

    results = {result.metric_config: result for result in loaded.data.eval_results}
    assert loaded.data.model_name == "sherlock-tiny"
    quadruple, map03 = results["extraction.quadruple"], results["localization.map@0.3"]
    assert quadruple.metric_value == round(100 * metrics["extraction"]["quadruple"], 2)
    assert map03.metric_value == round(100 * metrics["localization"]["map@0.3"], 2)
    assert (quadruple.metric_type, map03.metric_type) == ("f1", "map")
    for result in results.values():
        assert (result.task_type, result.dataset_type, result.dataset_name) == ("video-text-to-text", DATASET, DATASET)
    expected = {f"extraction.single.{k}" for k in metrics["extraction"]["single"]}
    expected |= {f"extraction.pair.{k}" for k in metrics["extraction"]["pair"]}
    expected |= {"extraction.quadruple", "classification.fnr", "classification.f2"}
    expected |= {f"localization.{k}" for k in metrics["localization"]}
    assert set(results) == expected
    assert results["classification.f2"].metric_value == round(100 * metrics["classification"]["f2"], 2)

    evaluation = section(loaded.text, "Evaluation")
    single, pair = metrics["extraction"]["single"], metrics["extraction"]["pair"]
    localization = metrics["localization"]
    row = [
        *(pct(single[k]) for k in ("subject", "event_type", "object", "scene")),
        *(pct(pair[k]) for k in ("subject_type", "object_type", "subject_scene", "object_scene")),
        pct(metrics["extraction"]["quadruple"]),
        *(pct(localization[k]) for k in ("map@0.1", "map@0.2", "map@0.3", "map_mean")),
    ]
    assert "| sherlock-tiny | " + " | ".join(row) + " |" in evaluation
    assert "| **Sub.** | **Type** | **Obj.** | **Sce.** | **Sub-Type** |" in evaluation
    assert "| Single |  |  |  | Pair |" in evaluation and "| Quadruple | mAP@tIoU |" in evaluation
    classification = metrics["classification"]
    scenes = list(classification["per_scene_fnr"])
    assert scenes == ["Road", "Street"]  # sorted keys of metrics.json; v2's predicted "Shop" is no gold scene
    assert "|  | Overall | Road | Street |" in evaluation
    fnrs = [pct(classification["fnr"]), *(pct(classification["per_scene_fnr"][s]) for s in scenes)]
    assert "| FNRs | " + " | ".join(fnrs) + " |" in evaluation
    per_scene_f2 = metrics["details"]["classification"]["per_scene_f2"]
    f2 = [pct(classification["f2"]), *(pct(per_scene_f2[s]) for s in scenes)]
    assert "| F2 | " + " | ".join(f2) + " |" in evaluation
    assert "(3 videos, 3 gold events)" in evaluation and "No evaluation results" not in evaluation
    assert "measure nothing but the pipeline" in evaluation  # numbers of an untrained model

    # the run folder and the dict give the same card
    assert render_model_card(tiny, repo_id=REPO_ID, metrics=folder, datasets=[DATASET]).content == card.content
    assert render_model_card(tiny, repo_id=REPO_ID, metrics=metrics, datasets=[DATASET]).content == card.content


def test_the_tables_use_the_keys_that_exist(tiny, tmp_path):
    metrics = {
        "extraction": {"single": {"event_type": 0.5, "scene": 0.25}, "quadruple": 0.125},
        "localization": {"map@0.3": None, "map@0.5": 0.75},
    }
    card = roundtrip(render_model_card(tiny, metrics=metrics, datasets=DATASET), tmp_path)
    evaluation = section(card.text, "Evaluation")
    assert "|  | Single |  | Quadruple | mAP@tIoU |  |" in evaluation
    assert "|  | **Type** | **Sce.** | **Quad.** | **0.3** | **map@0.5** |" in evaluation
    assert "| sherlock-tiny | 50.00 | 25.00 | 12.50 | - | 75.00 |" in evaluation
    assert "Pair" not in evaluation and "FNRs" not in evaluation  # absent from the metrics: no column, no table
    values = {r.metric_config: r.metric_value for r in card.data.eval_results}
    assert values == {
        "extraction.single.event_type": 50.0,
        "extraction.single.scene": 25.0,
        "extraction.quadruple": 12.5,
        "localization.map@0.5": 75.0,
    }  # a null metric (NaN in the run) has no result

    only_fnr = {"classification": {"fnr": 0.2, "per_scene_fnr": {"Road": 0.4}}}
    evaluation = section(render_model_card(tiny, metrics=only_fnr, datasets=DATASET).text, "Evaluation")
    assert "|  | Overall | Road |\n|---|---:|---:|\n| FNRs | 20.00 | 40.00 |\n\n" in evaluation
    assert "| F2 |" not in evaluation and "Single" not in evaluation and "Extraction F1" not in evaluation


def test_bad_metrics_give_an_error_naming_the_file(tiny, tmp_path):
    missing = tmp_path / "nowhere" / "metrics.json"
    with pytest.raises(FileNotFoundError, match="metrics file .*nowhere/metrics.json"):
        render_model_card(tiny, metrics=missing, datasets=[DATASET])
    empty_run = tmp_path / "empty_run"
    empty_run.mkdir()
    with pytest.raises(FileNotFoundError, match="metrics file .*empty_run/metrics.json does not exist"):
        render_model_card(tiny, metrics=empty_run, datasets=[DATASET])  # a run folder without its metrics.json
    broken = tmp_path / "broken.json"
    broken.write_text('{"extraction": {"quadruple": 0.5')
    with pytest.raises(ValueError, match="broken.json is not valid JSON"):
        render_model_card(tiny, metrics=broken, datasets=[DATASET])
    listed = tmp_path / "list.json"
    listed.write_text("[0.5]")
    with pytest.raises(ValueError, match="list.json holds list"):
        render_model_card(tiny, metrics=listed, datasets=[DATASET])
    other = tmp_path / "other.json"
    other.write_text('{"accuracy": 0.9}')
    with pytest.raises(ValueError, match="other.json has none of the metrics"):
        render_model_card(tiny, metrics=other, datasets=[DATASET])
    with pytest.raises(ValueError, match="`extraction.quadruple` is not a number"):
        render_model_card(tiny, metrics={"extraction": {"quadruple": "high"}}, datasets=[DATASET])
    with pytest.raises(ValueError, match="need `datasets`"):
        render_model_card(tiny, metrics={"extraction": {"quadruple": 0.5}})


def test_a_training_record_replaces_the_warning_with_the_training_details(tiny, tmp_path):
    folder = copy_model(tiny, tmp_path, "trained")
    local_base = str(tmp_path / "runs" / "stage1")
    record = {  # the keys of `sherlock.training.export.write_record`
        "format_version": 1,
        "stage": 2,
        "pretuned": True,
        "base_model": local_base,
        "base_record": {"stage": 1, "dataset": "org/pretune", "base_model": "org/video-llava-base"},
        "dataset": str(tmp_path / "data" / "m-vae"),
        "dataset_config": None,
        "split": "train",
        "rows": 749,
        "sources": None,
        "ablations": [],
        "config": {"experts": ["action", "object_relation", "background", "global"], "gate": "soft"},
        "lora": {"r": 16, "alpha": 64, "dropout": 0.05},
        "export": ["adapter/", "model (merged)", "processor"],
        "arguments": {"learning_rate": 2e-05, "lr_scheduler_type": "cosine", "num_train_epochs": 1.0, "max_steps": -1,
                      "per_device_train_batch_size": 1, "gradient_accumulation_steps": 16, "gsb_loss_coef": 0.4,
                      "output_dir": str(folder)},
        "epochs": [{"epoch": 1, "loss": 1.25, "lm_loss": 1.0, "gsb_loss": 0.625,
                    "gate": {"action": 0.17, "object_relation": 0.16, "background": 0.17, "global": 0.5},
                    "seconds": 3.5}],
        "train_loss": 1.25,
        "global_step": 47,
        "seconds": 120.4,
        "finished": "2026-01-01T00:00:00Z",
        "versions": {"torch": "2.13.0", "transformers": "5.24.0", "trl": "1.16.0", "peft": "0.21.0"},
    }  # fmt: skip
    (folder / "sherlock_training.json").write_text(json.dumps(record))
    card = roundtrip(render_model_card(folder, repo_id=REPO_ID, datasets=[DATASET]), tmp_path)
    text = card.text
    assert WARNING not in text and "meaningless" not in text and "- **Weights:** trained" in text
    training = section(text, "Training")
    assert "### Stage 1: spatial pre-tuning" in training and "- **Dataset:** org/pretune" in training
    assert "### Stage 2: M-VAE instruction tuning" in training
    assert "- **LoRA:** rank 16, alpha 64, dropout 0.05 on the language model" in training
    assert "learning rate 2e-05, schedule cosine, epochs 1, batch per device 1, gradient accumulation 16" in training
    assert "- **Dataset:** a local folder (`m-vae`)" in training and "- **Rows:** 749" in training
    assert "- **Mean gate weights (last epoch):** action 0.170, object_relation 0.160" in training
    assert str(tmp_path) not in card.content  # local paths never reach a public card

    # given records win over the folder's; a record of a run that did not make useful weights: trained=False
    toy = render_model_card(folder, training=[{"stage": 2, "dataset": "org/synthetic", "lora": None}], trained=False)
    assert WARNING in toy.text and "- **Weights trained:** every weight but the background tower" in toy.text
    assert "org/synthetic" in toy.text and "LoRA:" not in toy.text


def test_the_configuration_names_the_ablations(tiny, tmp_path):
    folder = copy_model(tiny, tmp_path, "ablation")
    config = json.loads((folder / "config.json").read_text())
    config.update(experts=["action", "background", "global"], gate="uniform", gsb_variant="uniform")
    config.update(expert_output="residual", action_pose_embedding=False)
    (folder / "config.json").write_text(json.dumps(config))
    configuration = section(render_model_card(folder).text, "Model configuration")
    assert "- **Action expert's skeleton embedding:** off" in configuration
    assert "Gate LayerNorm" not in configuration  # no soft gate
    assert "- **Experts:** action, background, global (ablation: w/o ORE, w/o EG)" in configuration
    assert "- **GSB loss:** variant `uniform`" in configuration and "`residual` (video features plus" in configuration


def test_the_configuration_names_the_gate_norm_and_the_skeleton_embedding(tiny, tmp_path):
    folder = copy_model(tiny, tmp_path, "switches")
    configuration = section(render_model_card(folder).text, "Model configuration")
    assert "- **Gate LayerNorm:** `mixture` (after the mixture, as in the paper)" in configuration
    assert "- **Action expert's skeleton embedding:** on" in configuration
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "gate_norm": "experts"}))
    configuration = section(render_model_card(folder).text, "Model configuration")
    assert "- **Gate LayerNorm:** `experts` (one per expert, before the gate; not in the paper)" in configuration


def test_a_folder_without_a_sherlock_config_is_refused(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        render_model_card(tmp_path / "nothing")
    empty = tmp_path / "adapter-only"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="adapter-only has no config.json"):
        render_model_card(empty)
    other = copy_model(tiny, tmp_path, "llava")
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "model_type": "video_llava"}))
    with pytest.raises(ValueError, match="llava/config.json is not a Sherlock config"):
        render_model_card(other)
