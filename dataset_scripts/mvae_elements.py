"""The elements of an M-VAE event besides its type and span: subject, object and scene (`build_mvae`).

- **Subject / object** (deterministic lexicon extraction, `extract_subject_object`): the entity mentions of the text
  are found with the shared entity vocabulary (`vocabulary_sherlock.find_entities`: longest synonym first, whole
  words, plurals); the subject is the first mention of an agent (`vocabulary_sherlock.AGENT_ENTITIES`: a person,
  vehicle, animal, fire, smoke, water or firework) that is not a place after "in / on / at ..."; "X was <verb> by Y"
  makes Y the subject and X the object; the object is the next different entity after the subject (non-locative
  first), else an earlier one. Texts in order: the segment's description, then the reason (`X2 reason`); a subject
  found nowhere is "people" (CUVA's anomalies are mostly human-caused), an object found nowhere is "none".
- **Scene** (`extract_scene`): from the sub-class where it names one (`CUVA_SUBCLASS_TO_SCENE`: Street, School, Shop,
  Bank, Forest, Factory, Residential -> Residence, Boat, Wild), else `normalize_scene` of the segment's description,
  then of the reason, else "Other".
- **LLM extraction** (`LlmElementExtractor`, the paper's step): any transformers causal LM is asked for subject /
  object / scene of each event (greedy decoding); a field is taken only when its normaliser maps it into the
  vocabulary (and a subject is not "none"), otherwise the lexicon value stays. The sub-class scene still wins
  (`extract_elements`).
"""

import os
import re
from pathlib import Path

from processing.vocabulary_sherlock import (
    AGENT_ENTITIES,
    BACKGROUND_ENTITIES,
    CUVA_SUBCLASS_TO_SCENE,
    DETERMINERS,
    ENTITIES,
    SCENES,
    find_entities,
    normalize_entity,
    normalize_scene,
)


DEFAULT_SUBJECT = "people"
DEFAULT_OBJECT = "none"
DEFAULT_SCENE = "Other"
LOCATIVE_PREPOSITIONS = frozenset(("in", "on", "at", "near", "inside", "outside", "along", "beside", "across"))
PASSIVE_AUXILIARIES = frozenset(("was", "were", "is", "are", "be", "been", "being", "got", "gets", "get"))


# ------------------------------------------------------------------------------------------------ lexicon extraction


def entity_mentions(text: str | None) -> list[dict]:
    """[{"entity", "start", "end" (word indices), "locative", "words"}] of a text in order ("none" mentions skipped).

    The mentions are `find_entities`'s; one is locative when the last word before it that is not a determiner is a
    locative preposition ("in the shop"), or when it directly follows a locative mention ("at street intersections":
    a compound shares the preposition).
    """
    words, found = find_entities(text or "")
    mentions = []
    for entity, start, end in found:
        if entity == "none":
            continue
        before = [word for word in words[max(0, start - 3) : start] if word not in DETERMINERS]
        locative = bool(before) and before[-1] in LOCATIVE_PREPOSITIONS
        if mentions and mentions[-1]["end"] == start:
            locative = locative or mentions[-1]["locative"]
        mentions.append({"entity": entity, "start": start, "end": end, "locative": locative, "words": words})
    return mentions


def _is_passive(first: dict, second: dict) -> bool:
    """Passive voice, "<first> was attacked by <second>": an auxiliary between them and "by" right before the second."""
    gap = [word for word in first["words"][first["end"] : second["start"]] if word not in DETERMINERS]
    return bool(gap) and gap[-1] == "by" and any(word in PASSIVE_AUXILIARIES for word in gap[:-1])


def _subject_in(mentions: list[dict]) -> tuple[dict | None, dict | None]:
    """(subject mention, object mention forced by a passive) of one text."""
    agents = [m for m in mentions if m["entity"] in AGENT_ENTITIES and not m["locative"]]
    if not agents:
        return None, None
    subject = agents[0]
    following = [m for m in mentions if m["start"] >= subject["end"] and m["entity"] != subject["entity"]]
    if following and following[0]["entity"] in AGENT_ENTITIES and _is_passive(subject, following[0]):
        return following[0], subject
    return subject, None


def _is_weak(mention: dict) -> bool:
    """A place after "in / on / at ..." or a background entity ("road"): an object only when nothing else is."""
    return mention["locative"] or mention["entity"] in BACKGROUND_ENTITIES


def _object_candidates(texts: list[tuple[str, list[dict]]], subject: str, subject_mention: dict | None):
    """(source, mention) in order of preference: after the subject in its text, then anywhere in the description,
    then the reason; strong mentions before weak ones."""
    ordered = []
    for source, mentions in texts:
        if subject_mention is not None and mentions and mentions[0]["words"] is subject_mention["words"]:
            after = [m for m in mentions if m["start"] >= subject_mention["end"]]
            mentions = after + [m for m in mentions if m["start"] < subject_mention["end"]]
        ordered += [(source, m) for m in mentions if m["entity"] != subject]
    return [item for item in ordered if not _is_weak(item[1])] + [item for item in ordered if _is_weak(item[1])]


def extract_subject_object(description: str | None, reason: str | None = None) -> tuple[str, str, str, str]:
    """(subject, object, where the subject came from, where the object came from) of one event.

    Sources: "description", "reason" or "default" ("people" / "none"). Deterministic; see the module docstring.

    >>> extract_subject_object("Three masked thieves entered the house through the backyard to steal")
    ('thief', 'house', 'description', 'description')
    >>> extract_subject_object("A driver was robbed by a masked man with a gun")
    ('man', 'driver', 'description', 'description')
    """
    texts = [("description", entity_mentions(description)), ("reason", entity_mentions(reason))]
    subject = forced_object = None
    subject_name, subject_source = DEFAULT_SUBJECT, "default"
    for source, mentions in texts:
        subject, forced_object = _subject_in(mentions)
        if subject is not None:
            subject_name, subject_source = subject["entity"], source
            break
    if forced_object is not None:
        return subject_name, forced_object["entity"], subject_source, subject_source
    candidates = _object_candidates(texts, subject_name, subject)
    if candidates:
        source, mention = candidates[0]
        return subject_name, mention["entity"], subject_source, source
    return subject_name, DEFAULT_OBJECT, subject_source, "default"


def extract_scene(type_code: str | None, description: str | None, reason: str | None = None) -> tuple[str, str]:
    """(scene, source): the sub-class scene ("subclass"), else the description's, then the reason's, else "Other"."""
    if type_code in CUVA_SUBCLASS_TO_SCENE:
        return CUVA_SUBCLASS_TO_SCENE[type_code], "subclass"
    for source, text in (("description", description), ("reason", reason)):
        scene = normalize_scene(text) if text else None
        if scene is not None:
            return scene, source
    return DEFAULT_SCENE, "default"


# ------------------------------------------------------------------------------------------------------ LLM extraction

LLM_PROMPT = (
    "Extract the subject, the object and the scene of this abnormal event from a surveillance video.\n"
    "Event: {description}\n"
    "Context: {reason}\n"
    'Answer in one line as "subject: <who acts>; object: <what is acted upon, or none>; scene: <where>".\n'
    "Answer:"
)
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
        self.cache: dict[tuple[str, str], dict] = {}

    def prompt(self, description: str, reason: str) -> str:
        text = LLM_PROMPT.format(description=description.strip(), reason=(reason or "").strip()[:400])
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": text}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text

    def generate(self, description: str, reason: str) -> str:
        inputs = self.tokenizer(self.prompt(description, reason), return_tensors="pt")
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with self.torch.no_grad():
            output = self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad
            )
        return self.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)

    def __call__(self, description: str, reason: str) -> dict[str, str | None]:
        key = (description or "", reason or "")
        if key not in self.cache:
            self.cache[key] = parse_llm_reply(self.generate(*key))
        return self.cache[key]


def extract_elements(
    type_code: str | None, description: str | None, reason: str | None = None, llm=None
) -> tuple[dict[str, str], dict[str, str]]:
    """({"subject", "object", "scene"}, where each came from) of one event.

    The lexicon gives every element (`extract_subject_object`, `extract_scene`; sources "subclass", "description",
    "reason", "default"); with `llm`, each field of its answer that lies in the vocabulary replaces the lexicon's
    (source "llm"), except a "none" subject and the scene of a sub-class that names one.

    Args:
        type_code: the event's `X1` code ("7-1"), for the sub-class scene.
        description: the segment's description; reason: the row's `X2 reason`.
        llm: an `LlmElementExtractor` (or any callable `(description, reason) -> {"subject", "object", "scene"}`).
    """
    subject, obj, subject_source, object_source = extract_subject_object(description, reason)
    scene, scene_source = extract_scene(type_code, description, reason)
    elements = {"subject": subject, "object": obj, "scene": scene}
    sources = {"subject": subject_source, "object": object_source, "scene": scene_source}
    if llm is not None:
        answer = llm(description, reason or "")
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
    "entity_mentions",
    "extract_elements",
    "extract_scene",
    "extract_subject_object",
    "parse_llm_reply",
]
