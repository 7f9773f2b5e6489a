# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Subject and object of an M-VAE event from CUVA's texts: who does the abnormal act, and to what (`build_mvae`).

Deterministic and offline. Each event type has a frame (`EVENT_FRAMES`): the words of its act ("collided", "stole",
"bitten"), the kinds of entity that can do it and the kinds it can be done to (the entity kinds of the shared
vocabulary, `processing.vocabulary_sherlock`: persons, vehicles, animals, hazards, structures, goods), and what is
left when the texts name nothing (a theft takes `property`, a fall has no object). The texts are read in order:
the segment's description, then CUVA's reason, then its result, sentence by sentence, with every entity mention
found by `vocabulary_sherlock.find_entities`.

- **Subject**: in the first sentence with an act word, the agent after "by" of a passive act ("was hit by a truck"),
  else the sentence's first mention of the frame's first subject kind that it names (vehicles before persons for a
  collision); else the first mention of a subject kind anywhere; else the first agent of any kind
  (`AGENT_ENTITIES`); else "people". A fire's subject is `fire` (`smoke` when the texts speak only of smoke).
- **Object**: for each act word in order, the patient of a passive act, else the first mention after the act word
  in its sentence of a kind the act can be done to, never the subject's own mention ("the wall of the building" is
  the building); a subject named in the plural is its own kind's object when the frame allows it ("four cars
  collided"); frames that allow it then take a mention of an object kind anywhere; then the sub-class's object
  (`CUVA_SUBCLASS_TO_OBJECT`: a fire in a 9-2 Forest burns trees) and the frame's default.
- A place after "in / on / at ..." is not a subject, and for most frames not an object; "waves of people" is not
  water.

No NLP library: the parsers that would give "who does what to whom" (spaCy, Stanza, NLTK's taggers) need model
files downloaded from outside the package registries, which an offline, byte-for-byte reproducible build cannot rely
on; the frames use only the shared vocabulary and a few closed word lists.

Sub-class 8-4 (Disturbance, a riot) reads as vandalism: its object is what the crowd damages; the other pedestrian
sub-classes (falls, jaywalking) have no object.
"""

import re
from dataclasses import dataclass, field

from processing.vocabulary_sherlock import (
    AGENT_ENTITIES,
    ANIMAL_ENTITIES,
    BUILDING_PARTS,
    CUVA_SUBCLASS_TO_OBJECT,
    DETERMINERS,
    ENTITY_SYNONYMS,
    GOODS_ENTITIES,
    HAZARD_ENTITIES,
    PERSON_ENTITIES,
    STRUCTURE_ENTITIES,
    VEHICLE_ENTITIES,
    clean_text,
    find_entities,
)


DEFAULT_SUBJECT = "people"
DEFAULT_OBJECT = "none"
LOCATIVE_PREPOSITIONS = frozenset(("in", "on", "at", "near", "inside", "outside", "along", "beside", "across"))
PASSIVE_AUXILIARIES = frozenset(("was", "were", "is", "are", "be", "been", "being", "got", "gets", "get"))
NUMBER_WORDS = frozenset(("two", "three", "four", "five", "six", "several", "many", "multiple", "both", "consecutive"))
PLURAL_WORDS = frozenset(("men", "women", "children", "people"))
PART_WORDS = frozenset(("wall", "walls"))  # "the wall of a building": the building is what is acted upon
QUANTITY_WORDS = frozenset(("wave", "waves"))  # "waves of people" are people, not water
SOURCES = ("description", "reason", "result")
_SENTENCE_END = re.compile(r"[.!?;\n]+")
_SYNONYM_FORMS = frozenset(clean_text(s) for entity, synonyms in ENTITY_SYNONYMS.items() for s in (entity, *synonyms))


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


SQUEEZE = _words("squeeze squeezed squeezes squeezing obstruct obstructed obstructing")
COLLIDE = _words(
    "collide collided collides colliding collision collisions crash crashed crashes crashing hit hits hitting struck "
    "strike strikes striking knock knocked knocks knocking bump bumped bumping ram rammed ramming killed"
)
FIGHT = _words(
    "fight fights fought fighting beat beats beating beaten punch punched punches punching kick kicked kicks kicking "
    "hit hits hitting attack attacked attacks attacking assault assaulted slap slapped stab stabbed push pushed shove "
    "shoved knocked brawl scuffle"
)
ANIMAL_ATTACK = _words(
    "bite bites bit bitten biting attack attacked attacks attacking chase chased chases chasing charge charged "
    "charging maul mauled pounce pounced injure injured gore gored trample trampled knock knocked hit ram rammed"
)
ROB = _words(
    "rob robbed robbing robs snatch snatched snatching grab grabbed grabbing take took taken taking steal stole "
    "stolen stealing loot looted looting collect collected"
)
STEAL = _words(
    "steal steals stole stolen stealing take took taken taking snatch snatched grab grabbed pick picked carry carried "
    "carrying loot looted"
)
DAMAGE = _words(
    "smash smashed smashing break broke broken breaking destroy destroyed destroying destroys damage damaged damaging "
    "spray sprayed spraying paint painted painting doodle doodled doodles doodling graffiti write wrote writing "
    "written draw drew drawing kick kicked kicking scratch scratched demolish demolished demolishing overturn "
    "overturned vandalize vandalized vandalizing tear tore torn throw threw hit hits hitting burn burned burnt "
    "burning loot looted looting"
)
FALL = _words("fall falls fell falling fallen slip slipped trip tripped")
WATER_ACCIDENT = COLLIDE | _words("sink sank sunk sinking drown drowned drowning swept capsize capsized overturned")
FORBIDDEN_ACT = _words("burn burns burned burnt burning smoke smokes smoked smoking light lit ignite ignited exploded")


@dataclass(frozen=True)
class EventFrame:
    """How the abnormal act of an event type shows in a text.

    Attributes:
        acts: word forms of the act.
        subjects: entity kinds that can do it, in order of preference.
        objects: entity kinds it can be done to.
        default_object: the object when the texts name none.
        same_kind: a subject named in the plural is also the object ("two cars collided", "men fighting").
        anywhere: without an act's object, take the first mention of an object kind anywhere in the texts.
        locative_objects: a place after "in / on / at" can be the object ("a fire broke out in the factory").
        fixed_subject: the subject whatever the texts say (a fire's is `fire`).
        implied_objects: act words that name their object ("smoking": a cigarette).
        skip_first_words: a mention that starts with one of these is never the object ("fire truck", "fire engines":
            the rescue, not what burns).
    """

    acts: frozenset[str]
    subjects: tuple[frozenset[str], ...]
    objects: frozenset[str]
    default_object: str = DEFAULT_OBJECT
    same_kind: bool = False
    anywhere: bool = False
    locative_objects: bool = False
    fixed_subject: str | None = None
    implied_objects: dict[str, str] = field(default_factory=dict)
    skip_first_words: frozenset[str] = frozenset()


_TAKEN = GOODS_ENTITIES | {"car", "motorcycle", "bicycle"}
_DAMAGED = STRUCTURE_ENTITIES | VEHICLE_ENTITIES | GOODS_ENTITIES
_PERSONS = (PERSON_ENTITIES,)
_VANDALISM = EventFrame(DAMAGE, (PERSON_ENTITIES, VEHICLE_ENTITIES), _DAMAGED, anywhere=True)
EVENT_FRAMES = {
    "Fighting": EventFrame(FIGHT, _PERSONS, PERSON_ENTITIES, default_object="people", same_kind=True),
    "Animals": EventFrame(
        ANIMAL_ATTACK, (ANIMAL_ENTITIES, PERSON_ENTITIES), PERSON_ENTITIES | ANIMAL_ENTITIES | VEHICLE_ENTITIES,
        anywhere=True,
    ),
    "Water": EventFrame(
        WATER_ACCIDENT, (VEHICLE_ENTITIES | HAZARD_ENTITIES | PERSON_ENTITIES,),
        VEHICLE_ENTITIES | STRUCTURE_ENTITIES | PERSON_ENTITIES, same_kind=True,
    ),
    "Vandalism": _VANDALISM,
    "Accidents": EventFrame(
        COLLIDE, (VEHICLE_ENTITIES, PERSON_ENTITIES),
        PERSON_ENTITIES | VEHICLE_ENTITIES | ANIMAL_ENTITIES | STRUCTURE_ENTITIES, same_kind=True, anywhere=True,
    ),
    "Robbery": EventFrame(ROB, _PERSONS, _TAKEN, default_object="property"),
    "Theft": EventFrame(STEAL, _PERSONS, _TAKEN, default_object="property"),
    "Pedestrian": EventFrame(FALL, _PERSONS, frozenset()),
    "Fire": EventFrame(
        frozenset(), (), (STRUCTURE_ENTITIES - BUILDING_PARTS) | VEHICLE_ENTITIES, anywhere=True,
        locative_objects=True, fixed_subject="fire", skip_first_words=frozenset(("fire",)),
    ),
    "Violations": EventFrame(
        COLLIDE | SQUEEZE, (VEHICLE_ENTITIES, PERSON_ENTITIES),
        PERSON_ENTITIES | VEHICLE_ENTITIES | STRUCTURE_ENTITIES,
    ),
    "Forbidden": EventFrame(
        FORBIDDEN_ACT, (PERSON_ENTITIES, frozenset(("firework",))), frozenset(("paper", "cigarette", "firework")),
        anywhere=True, implied_objects=dict.fromkeys(("smoke", "smokes", "smoked", "smoking"), "cigarette"),
    ),
}  # fmt: skip
"""The frame of each event type (`vocabulary_sherlock.EVENT_TYPES`)."""
SUBCLASS_FRAMES = {"8-4": _VANDALISM}
"""Sub-classes read with another type's frame: 8-4 Disturbance (riots) damages things like vandalism."""
GENERIC_FRAME = EventFrame(frozenset(), (AGENT_ENTITIES,), frozenset(AGENT_ENTITIES | _DAMAGED), anywhere=True)


@dataclass
class Mention:
    entity: str
    start: int
    end: int
    locative: bool
    sentence: "Sentence"

    @property
    def surface(self) -> str:
        return " ".join(self.sentence.words[self.start : self.end])

    @property
    def plural(self) -> bool:
        """Named in the plural ("cars", "men", "two thief suspects"): a generated plural form, a plural synonym or a
        number word right before it."""
        last = self.surface.split()[-1]
        before = self.sentence.words[max(0, self.start - 2) : self.start]
        plural_word = last in PLURAL_WORDS or (last.endswith("s") and not last.endswith(("ss", "us", "is")))
        return self.surface not in _SYNONYM_FORMS or plural_word or bool(NUMBER_WORDS.intersection(before))


@dataclass
class Sentence:
    source: str
    words: list[str]
    mentions: list[Mention]
    acts: list[int] = field(default_factory=list)  # word indices of the frame's act words

    def find_acts(self, frame: EventFrame) -> list[int]:
        """Word indices of the frame's act words. A word inside a longer entity mention ("fire" in "fire truck") is
        not one; a word that is itself a mention ("smoke") is one only right after a subject ("women smoke")."""
        acts = []
        for i, word in enumerate(self.words):
            if word not in frame.acts:
                continue
            mention = next((m for m in self.mentions if m.start <= i < m.end), None)
            if mention is None:
                acts.append(i)
            elif mention.end - mention.start == 1:
                previous = next((m for m in self.mentions if m.end == i), None)
                if previous is not None and any(previous.entity in kind for kind in frame.subjects):
                    acts.append(i)
        return acts


def read_sentences(source: str, text: str | None, frame: EventFrame) -> list[Sentence]:
    """The sentences of a text with their entity mentions and the positions of the frame's act words; a mention is
    locative when the last word before it that is not a determiner is a locative preposition ("in the shop"), or when
    it directly follows a locative mention."""
    sentences = []
    for part in _SENTENCE_END.split(text or ""):
        words, found = find_entities(part)
        if not words:
            continue
        sentence = Sentence(source, words, [])
        for entity, start, end in found:
            if entity == "none" or (words[start] in QUANTITY_WORDS and words[end : end + 1] == ["of"]):
                continue
            before = [word for word in words[max(0, start - 3) : start] if word not in DETERMINERS]
            locative = bool(before) and before[-1] in LOCATIVE_PREPOSITIONS
            previous = sentence.mentions[-1] if sentence.mentions else None
            if previous is not None and previous.end == start:
                locative = locative or previous.locative
            sentence.mentions.append(Mention(entity, start, end, locative, sentence))
        sentence.acts = sentence.find_acts(frame)
        sentences.append(sentence)
    return sentences


@dataclass
class Passive:
    """ "<patient> was <act>ed [of <thing>] [by <agent>]": the agent (None without "by"), the patient (the first
    mention before the auxiliary) and the mentions between the act and "by" ("robbed of her bag")."""

    agent: Mention | None
    patient: Mention | None
    between: list[Mention]


def _passive(sentence: Sentence, act: int) -> Passive | None:
    """The passive voice of an act word, or None when it is not passive ("were fighting" is not)."""
    words = sentence.words
    if act == 0 or words[act - 1] not in PASSIVE_AUXILIARIES or words[act].endswith("ing"):
        return None
    clause = _clause_after(sentence, act)
    end = clause[-1].end if clause else act + 1
    by = next((i for i in range(act + 1, min(end, act + 7)) if words[i] == "by"), None)
    agent = next((m for m in clause if m.start > by), None) if by is not None else None
    between = [m for m in clause if by is None or m.end <= by]
    patient = next((m for m in sentence.mentions if m.end <= act - 1 and m is not agent), None)
    return Passive(agent, patient, between)


def _clause_after(sentence: Sentence, act: int) -> list[Mention]:
    """The mentions after an act word up to the next passive auxiliary ("fighting ... were stopped by guards": the
    guards stop the fight, they are not fought)."""
    end = next((i for i in range(act + 1, len(sentence.words)) if sentence.words[i] in PASSIVE_AUXILIARIES), None)
    return [m for m in sentence.mentions if m.start > act and (end is None or m.start < end)]


def _find_subject(frame: EventFrame, sentences: list[Sentence]) -> Mention | None:
    """Text by text (description, reason, result): the agent of a passive act, else the first mention of a subject
    kind (in the frame's order of kinds) in a sentence with an act, else anywhere in that text; then any agent."""
    kinds = frozenset().union(*frame.subjects)
    for source in SOURCES:
        text = [sentence for sentence in sentences if sentence.source == source]
        for sentence in text:
            for act in sentence.acts:
                passive = _passive(sentence, act)
                if passive is not None and passive.agent is not None and passive.agent.entity in kinds:
                    return passive.agent
            for kind in frame.subjects if sentence.acts else ():
                found = [m for m in sentence.mentions if m.entity in kind and not m.locative]
                if found:
                    return found[0]
        for kind in frame.subjects:
            found = [m for sentence in text for m in sentence.mentions if m.entity in kind and not m.locative]
            if found:
                return found[0]
    found = [m for s in sentences for m in s.mentions if m.entity in AGENT_ENTITIES and not m.locative]
    return found[0] if found else None


def _acceptable(frame: EventFrame, mention: Mention, subject: Mention | None) -> bool:
    if mention.entity not in frame.objects or mention is subject:
        return False
    if mention.sentence.words[mention.start] in frame.skip_first_words:
        return False
    if mention.locative and not frame.locative_objects:
        return False
    return subject is None or mention.entity != subject.entity or frame.same_kind


def _whole(frame: EventFrame, mention: Mention, subject: Mention | None) -> Mention:
    """The building of "the wall of the building": a part word followed by "of <entity>" within a few words, when
    that entity can be the object too."""
    if mention.surface not in PART_WORDS:
        return mention
    words = mention.sentence.words
    following = [m for m in mention.sentence.mentions if mention.end < m.start <= mention.end + 6]
    if following and "of" in words[mention.end : following[0].start] and _acceptable(frame, following[0], subject):
        return following[0]
    return mention


def _acts_on_each_other(frame: EventFrame, sentence: Sentence, act: int, subject: Mention | None) -> bool:
    """A subject named in the plural before its act, with no "with / into" after it: "two cars collided", "men were
    fighting" (the object is the subject's kind)."""
    return (
        frame.same_kind
        and subject is not None
        and subject.entity in frame.objects
        and subject.sentence is sentence
        and subject.end <= act
        and subject.plural
        and sentence.words[act + 1 : act + 2] not in (["with"], ["into"])
    )


def _find_object(
    frame: EventFrame, sentences: list[Sentence], subject: Mention | None
) -> Mention | tuple[str, str] | None:
    for sentence in sentences:
        for act in sentence.acts:
            passive = _passive(sentence, act)
            if passive is not None:  # "<patient> was robbed [of <thing>] by ...": what follows "by" is the agent's
                patient, reference = passive.patient, passive.agent or subject
                if patient is not None and patient is not subject and _acceptable(frame, patient, reference):
                    return patient
                between = [m for m in passive.between if _acceptable(frame, m, subject)]
                if between:
                    return _whole(frame, between[0], subject)
                continue
            if _acts_on_each_other(frame, sentence, act, subject):
                return subject
            after = [m for m in _clause_after(sentence, act) if _acceptable(frame, m, subject)]
            if after:
                return _whole(frame, after[0], subject)
            if sentence.words[act] in frame.implied_objects:
                return frame.implied_objects[sentence.words[act]], sentence.source
    if (
        frame.same_kind
        and subject is not None
        and subject.entity in frame.objects
        and subject.plural
        and subject.sentence.acts
    ):
        return subject
    if frame.anywhere:
        found = [m for s in sentences for m in s.mentions if _acceptable(frame, m, subject)]
        if found:
            return _whole(frame, found[0], subject)
    return None


def _fixed_subject(frame: EventFrame, sentences: list[Sentence]) -> str:
    """The frame's fixed subject (`fire`), or `smoke` when the texts speak of smoke and never of fire (the vocabulary's
    fire entity, "flames", "explosion" ...) or of burning."""
    entities = {m.entity for s in sentences for m in s.mentions}
    burning = any(word.startswith("burn") for sentence in sentences for word in sentence.words)
    return "smoke" if "smoke" in entities and "fire" not in entities and not burning else frame.fixed_subject


def extract_subject_object(
    event_type: str | None,
    type_code: str | None,
    description: str | None,
    reason: str | None = None,
    result: str | None = None,
) -> tuple[str, str, str, str]:
    """(subject, object, where the subject came from, where the object came from) of one event.

    Sources: "description", "reason", "result" (the text the value was read from), "event_type" (a fire's `fire`),
    "subclass" (`CUVA_SUBCLASS_TO_OBJECT`) or "default" (the frame's default: "people" / "none" / "property").

    >>> extract_subject_object("Theft", "7-1", "Three masked thieves entered the house and stole a laptop")
    ('thief', 'property', 'description', 'description')
    >>> extract_subject_object("Robbery", "6-3", "A driver was robbed by a masked man", "He took her handbag")
    ('man', 'bag', 'description', 'reason')
    >>> extract_subject_object("Accidents", "5-1", "Four cars collided on the highway")
    ('car', 'car', 'description', 'description')
    """
    frame = SUBCLASS_FRAMES.get(type_code or "", EVENT_FRAMES.get(event_type or "", GENERIC_FRAME))
    sentences = [
        sentence
        for source, text in zip(SOURCES, (description, reason, result))
        for sentence in read_sentences(source, text, frame)
    ]
    subject = None if frame.fixed_subject is not None else _find_subject(frame, sentences)
    if frame.fixed_subject is not None:
        subject_name, subject_source = _fixed_subject(frame, sentences), "event_type"
    elif subject is not None:
        subject_name, subject_source = subject.entity, subject.sentence.source
    else:
        subject_name, subject_source = DEFAULT_SUBJECT, "default"
    found = _find_object(frame, sentences, subject)
    if isinstance(found, Mention):
        return subject_name, found.entity, subject_source, found.sentence.source
    if isinstance(found, tuple):  # named by the act word
        return subject_name, found[0], subject_source, found[1]
    if (type_code or "") in CUVA_SUBCLASS_TO_OBJECT:
        return subject_name, CUVA_SUBCLASS_TO_OBJECT[type_code], subject_source, "subclass"
    return subject_name, frame.default_object, subject_source, "default"


__all__ = [
    "DEFAULT_OBJECT",
    "DEFAULT_SUBJECT",
    "EVENT_FRAMES",
    "EventFrame",
    "extract_subject_object",
    "read_sentences",
]
