"""The elements of an M-VAE event besides its type and span: subject, object and scene (`build_mvae`).

- **Subject / object** (`mvae_frames.extract_subject_object`): the frame of the event type read over the segment's
  description, the reason and the result (see `mvae_frames`).
- **Scene** (`extract_scene`): from the sub-class where it names one (`CUVA_SUBCLASS_TO_SCENE`: Street, School, Shop,
  Bank, Forest, Factory, Residential -> Residence, Boat, Wild), else the first place named in the description, then
  the reason, then the result, else "Other".
- **LLM extraction** (`LlmElementExtractor`, the paper's step): any transformers causal LM is asked for subject /
  object / scene of each event (greedy decoding); a field is taken only when its normaliser maps it into the
  vocabulary (and a subject is not "none"), otherwise the deterministic value stays. The sub-class scene still wins
  (`extract_elements`).
"""

import os
import re
from pathlib import Path

from dataset_scripts.mvae_frames import DEFAULT_OBJECT, DEFAULT_SUBJECT, SOURCES, extract_subject_object
from processing.vocabulary_sherlock import (
    CUVA_SUBCLASS_TO_SCENE,
    ENTITIES,
    SCENES,
    UNNAMED_PLACES,
    find_scenes,
    normalize_entity,
    normalize_scene,
)


DEFAULT_SCENE = "Other"


def extract_scene(
    type_code: str | None, description: str | None, reason: str | None = None, result: str | None = None
) -> tuple[str, str]:
    """(scene, source) of one event: the sub-class's scene ("subclass"); else the first place named in the segment's
    description, else the reason, else the result (`find_scenes`; a phrase of `UNNAMED_PLACES` such as "in public
    places" or "the other car" names no place, and gives `Other` only when no text names one); else "Other"
    ("default")."""
    if type_code in CUVA_SUBCLASS_TO_SCENE:
        return CUVA_SUBCLASS_TO_SCENE[type_code], "subclass"
    texts = [(source, *find_scenes(text)) for source, text in zip(SOURCES, (description, reason, result))]
    for source, words, mentions in texts:
        named = [scene for scene, start, end in mentions if " ".join(words[start:end]) not in UNNAMED_PLACES]
        if named:
            return named[0], source
    for source, _, mentions in texts:
        if mentions:
            return "Other", source
    return DEFAULT_SCENE, "default"


# ------------------------------------------------------------------------------------------------------ LLM extraction

LLM_PROMPT = (
    "Extract the subject, the object and the scene of this abnormal event from a surveillance video.\n"
    "Event: {description}\n"
    "Reason: {reason}\n"
    "Result: {result}\n"
    "Subject and object are among: {entities}. Scene is one of: {scenes}.\n"
    'Answer in one line as "subject: <who acts>; object: <what is acted upon, or none>; scene: <where>".\n'
    "Answer:"
)
"""The extraction prompt. The paper drafted the elements with ChatGPT from CUVA's description, reason and result and
kept those among its candidate entities; its exact wording is not published, so this prompt gives the same inputs and
Sherlock's closed vocabularies as the candidates."""
_LLM_FIELD = re.compile(r"\b(subject|object|scene)\s*[:=]\s*([^;\n|]+)", re.IGNORECASE)


def parse_llm_reply(reply: str) -> dict[str, str | None]:
    """{"subject", "object", "scene"} of an LLM reply, each normalised into the vocabulary or None.

    >>> parse_llm_reply("subject: two men; object: a black SUV; scene: on the highway")
    {'subject': 'man', 'object': 'car', 'scene': 'Road'}
    >>> parse_llm_reply("subject: a spaceship; object: none")
    {'subject': None, 'object': 'none', 'scene': None}
    """
    values = {}
    for match in _LLM_FIELD.finditer(reply or ""):
        values.setdefault(match.group(1).lower(), match.group(2).strip())
    subject = normalize_entity(values["subject"]) if "subject" in values else None
    return {
        "subject": subject if subject != "none" else None,
        "object": normalize_entity(values["object"]) if "object" in values else None,
        "scene": normalize_scene(values["scene"]) if "scene" in values else None,
    }


class LlmElementExtractor:
    """The paper's LLM step: a transformers causal LM asked for subject / object / scene (greedy, cached per text)."""

    def __init__(self, model_name_or_path: str, max_new_tokens: int = 32):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
        self.model = AutoModelForCausalLM.from_pretrained(model_name_or_path).eval()
        self.max_new_tokens = max_new_tokens
        path = str(model_name_or_path)
        self.name = Path(path).name if os.path.isdir(path) else path  # no local path in the card
        self.cache: dict[tuple[str, str, str], dict] = {}

    def prompt(self, description: str, reason: str, result: str = "") -> str:
        text = LLM_PROMPT.format(
            description=description.strip(),
            reason=(reason or "").strip()[:400],
            result=(result or "").strip()[:400],
            entities=", ".join(entity for entity in ENTITIES if entity != "none"),
            scenes=", ".join(SCENES),
        )
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": text}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text

    def generate(self, description: str, reason: str, result: str = "") -> str:
        inputs = self.tokenizer(self.prompt(description, reason, result), return_tensors="pt")
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with self.torch.no_grad():
            output = self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad
            )
        return self.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)

    def __call__(self, description: str, reason: str, result: str = "") -> dict[str, str | None]:
        key = (description or "", reason or "", result or "")
        if key not in self.cache:
            self.cache[key] = parse_llm_reply(self.generate(*key))
        return self.cache[key]


def extract_elements(
    event_type: str | None,
    type_code: str | None,
    description: str | None,
    reason: str | None = None,
    result: str | None = None,
    *,
    llm=None,
) -> tuple[dict[str, str], dict[str, str]]:
    """({"subject", "object", "scene"}, where each came from) of one event.

    The frames give subject and object (`mvae_frames.extract_subject_object`: sources "description", "reason",
    "result", "event_type", "subclass", "default"), `extract_scene` the scene; with `llm`, each field of its answer
    that lies in the vocabulary replaces the deterministic one (source "llm"), except a "none" subject and the scene
    of a sub-class that names one.

    Args:
        event_type: the event's type (`EVENT_TYPES`), which picks the frame.
        type_code: the event's `X1` code ("7-1"), whose sub-class may name the object or the scene.
        description: the segment's description; reason, result: the row's `X2 reason` and `X2 result`.
        llm: an `LlmElementExtractor` (or any callable `(description, reason, result) -> {"subject", "object",
            "scene"}`).
    """
    subject, obj, subject_source, object_source = extract_subject_object(
        event_type, type_code, description, reason, result
    )
    scene, scene_source = extract_scene(type_code, description, reason, result)
    elements = {"subject": subject, "object": obj, "scene": scene}
    sources = {"subject": subject_source, "object": object_source, "scene": scene_source}
    if llm is not None:
        answer = llm(description, reason or "", result or "")
        allowed = {
            "subject": set(ENTITIES) - {"none"},
            "object": set(ENTITIES),
            "scene": set(SCENES) if scene_source != "subclass" else set(),
        }
        for name, values in allowed.items():
            if answer.get(name) in values:
                elements[name], sources[name] = answer[name], "llm"
    return elements, sources


__all__ = [
    "DEFAULT_OBJECT",
    "DEFAULT_SCENE",
    "DEFAULT_SUBJECT",
    "LLM_PROMPT",
    "LlmElementExtractor",
    "extract_elements",
    "extract_scene",
    "extract_subject_object",
    "parse_llm_reply",
]
