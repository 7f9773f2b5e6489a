"""Tests of the vocabularies (processing/vocabulary_sherlock.py): canonical lists, synonyms, normalisers."""

import ast
import doctest
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processing import vocabulary_sherlock
from processing.vocabulary_sherlock import (
    AGENT_ENTITIES,
    ANIMAL_ENTITIES,
    BUILDING_PARTS,
    CUVA_CLASS_NAMES,
    CUVA_CLASS_TO_EVENT_TYPE,
    CUVA_SUBCLASS_TO_OBJECT,
    CUVA_SUBCLASS_TO_SCENE,
    ENTITIES,
    ENTITY_SYNONYMS,
    EVENT_TYPE_SYNONYMS,
    EVENT_TYPES,
    GOODS_ENTITIES,
    HAZARD_ENTITIES,
    PERSON_ENTITIES,
    SCENE_SYNONYMS,
    SCENES,
    STRUCTURE_ENTITIES,
    UNNAMED_PLACES,
    VEHICLE_ENTITIES,
    clean_text,
    find_entities,
    find_scenes,
    normalize_entity,
    normalize_event_type,
    normalize_scene,
)


VOCABULARIES = {
    "event_type": (EVENT_TYPES, EVENT_TYPE_SYNONYMS, normalize_event_type),
    "scene": (SCENES, SCENE_SYNONYMS, normalize_scene),
    "entity": (ENTITIES, ENTITY_SYNONYMS, normalize_entity),
}
PROCESSING = Path(__file__).resolve().parents[1] / "processing"


def test_canonical_lists_match_the_design():
    assert EVENT_TYPES == (
        "Fighting", "Animals", "Water", "Vandalism", "Accidents", "Robbery", "Theft", "Pedestrian", "Fire",
        "Violations", "Forbidden",
    )  # fmt: skip
    assert SCENES == (
        "School", "Shop", "Underwater", "Street", "Road", "Boat", "Wild", "Forest", "Residence", "Bank",
        "Commercial", "Factory", "Lawn", "Other",
    )  # fmt: skip
    assert ENTITIES == tuple(
        "people, man, woman, child, police, thief, robber, crowd, driver, pedestrian, cyclist, worker, car, truck, "
        "bus, motorcycle, bicycle, vehicle, train, boat, dog, cat, animal, wild animal, fire, smoke, water, building, "
        "house, shop, bank, window, door, facility, sculpture, property, money, bag, phone, firework, paper, "
        "cigarette, road, tree, none".split(", ")
    )


def test_cuva_classes_map_to_event_types_in_order():
    assert sorted(CUVA_CLASS_TO_EVENT_TYPE) == list(range(1, 12))
    assert [CUVA_CLASS_TO_EVENT_TYPE[number] for number in range(1, 12)] == list(EVENT_TYPES)
    assert CUVA_CLASS_TO_EVENT_TYPE[11] == "Forbidden"  # CUVA 11 "Burning"
    # every CUVA class name is a synonym of its own event type
    for number, name in CUVA_CLASS_NAMES.items():
        assert normalize_event_type(name) == CUVA_CLASS_TO_EVENT_TYPE[number], name


@pytest.mark.parametrize(
    "code, name, scene",
    [
        ("1-1", "Street", "Street"),
        ("1-3", "School", "School"),
        ("2-2", "Wild", "Wild"),
        ("3-2", "Boat", "Boat"),
        ("6-1", "Shop", "Shop"),
        ("6-2", "Bank", "Bank"),
        ("7-1", "Residential", "Residence"),
        ("9-2", "Forest", "Forest"),
        ("9-3", "Factory", "Factory"),
        ("9-4", "Residential", "Residence"),
    ],
)
def test_cuva_subclass_scenes_agree_with_the_scene_normaliser(code, name, scene):
    assert CUVA_SUBCLASS_TO_SCENE[code] == scene
    assert normalize_scene(name) == scene


def test_cuva_subclasses_without_a_scene_are_not_mapped():
    assert set(CUVA_SUBCLASS_TO_SCENE) == {"1-1", "1-3", "2-2", "3-2", "6-1", "6-2", "7-1", "9-2", "9-3", "9-4"}


@pytest.mark.parametrize("kind", sorted(VOCABULARIES))
def test_synonym_tables_cover_exactly_the_canonicals_and_are_lower_case(kind):
    canonicals, synonyms, _ = VOCABULARIES[kind]
    assert list(synonyms) == list(canonicals)
    for canonical, words in synonyms.items():
        assert words, canonical
        assert all(word == word.lower() and word.strip() == word for word in words), canonical
        assert len(set(words)) == len(words), f"duplicate synonym under {canonical}"


@pytest.mark.parametrize("kind", sorted(VOCABULARIES))
def test_no_synonym_belongs_to_two_canonicals(kind):
    canonicals, synonyms, _ = VOCABULARIES[kind]
    owner = {}
    for canonical in canonicals:
        for word in (canonical.lower(), *synonyms[canonical]):
            assert owner.setdefault(word, canonical) == canonical, f"{word!r}: {owner[word]} and {canonical}"


@pytest.mark.parametrize("kind", sorted(VOCABULARIES))
def test_every_canonical_and_synonym_normalises_to_its_canonical(kind):
    canonicals, synonyms, normalize = VOCABULARIES[kind]
    for canonical in canonicals:
        assert normalize(canonical) == canonical
        assert normalize(canonical.upper()) == canonical
        assert normalize(f"  the {canonical.lower()}!  ") == canonical
        for word in synonyms[canonical]:
            assert normalize(word) == canonical, (word, normalize(word), canonical)
            assert normalize(word.title()) == canonical, word


@pytest.mark.parametrize(
    "text, expected",
    [
        # synonyms, verb forms and casing
        ("Stealing", "Theft"),
        ("steals", "Theft"),
        ("SHOPLIFTING", "Theft"),
        ("a brawl", "Fighting"),
        ("fights", "Fighting"),
        ("assault", "Fighting"),
        ("mugging", "Robbery"),
        ("rob", "Robbery"),
        ("bag snatching", "Robbery"),
        ("car accident", "Accidents"),
        ("Traffic Accidents", "Accidents"),
        ("collision", "Accidents"),
        ("drowning", "Water"),
        ("flood", "Water"),
        ("falling into water", "Water"),
        ("animal attack", "Animals"),
        ("a dog attacks a child", "Animals"),
        ("attack", "Fighting"),
        ("jaywalking", "Pedestrian"),
        ("a woman falls down", "Pedestrian"),
        ("running a red light", "Violations"),
        ("speeding", "Violations"),
        ("damage property", "Vandalism"),
        ("graffiti", "Vandalism"),
        # the fire / burning decision (CUVA 11 "Burning" is Forbidden)
        ("fire", "Fire"),
        ("arson", "Fire"),
        ("a burning house", "Fire"),
        ("the building is on fire", "Fire"),
        ("burning", "Forbidden"),
        ("people burning paper", "Forbidden"),
        ("smoking", "Forbidden"),
        ("setting off fireworks", "Forbidden"),
        ("firecrackers", "Forbidden"),
        # unknown
        ("dancing", None),
        ("abnormal event", None),
        ("", None),
        ("   ", None),
        ("?!.", None),
    ],
)
def test_normalize_event_type(text, expected):
    assert normalize_event_type(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("residential", "Residence"),
        ("Residential Area", "Residence"),
        ("at home", "Residence"),
        ("store", "Shop"),
        ("in a supermarket", "Shop"),
        ("shopping mall", "Commercial"),
        ("mall", "Commercial"),
        ("coffee shop", "Commercial"),
        ("highway", "Road"),
        ("intersection", "Road"),
        ("on the street", "Street"),
        ("streets", "Street"),
        ("roadside", "Street"),
        ("sea", "Underwater"),
        ("river", "Underwater"),
        ("ship", "Boat"),
        ("park", "Lawn"),
        ("grass", "Lawn"),
        ("jungle", "Forest"),
        ("zoo", "Wild"),
        ("ATM", "Bank"),
        ("construction site", "Factory"),
        ("school yard", "School"),
        ("subway station", "Other"),
        ("unknown", "Other"),
        ("the moon", None),
        ("", None),
    ],
)
def test_normalize_scene(text, expected):
    assert normalize_scene(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        # plurals, including irregular ones
        ("cars", "car"),
        ("buses", "bus"),
        ("thieves", "thief"),
        ("women", "woman"),
        ("Men", "man"),
        ("children", "child"),
        ("policemen", "police"),
        ("police officers", "police"),
        ("facilities", "facility"),
        ("fireworks", "firework"),
        ("wolves", "wild animal"),
        ("wild animals", "wild animal"),
        ("pedestrians", "pedestrian"),
        ("robbers", "robber"),
        # common variants
        ("person", "people"),
        ("persons", "people"),
        ("someone", "people"),
        ("passersby", "people"),
        ("a group of people", "crowd"),
        ("gang", "crowd"),
        ("boy", "child"),
        ("a black SUV", "car"),
        ("motorbike", "motorcycle"),
        ("e-bike", "motorcycle"),
        ("bike", "bicycle"),
        ("motorcyclist", "cyclist"),
        ("the woman's", "woman"),  # possessive dropped
        ("the man’s", "man"),
        ("fire hydrant", "facility"),
        ("fire", "fire"),
        ("cash register", "money"),
        ("paper money", "paper"),
        ("glass door", "door"),
        # articles and numbers
        ("the fire", "fire"),
        ("Two Men", "man"),
        ("some dogs", "dog"),
        # none
        ("none", "none"),
        ("nothing", "none"),
        ("No object", "none"),
        ("N/A", "none"),
        ("nobody", "none"),
        # unknown
        ("spaceship", None),
        ("", None),
        ("...", None),
    ],
)
def test_normalize_entity(text, expected):
    assert normalize_entity(text) == expected


def test_longest_contained_synonym_wins_then_the_earliest():
    assert normalize_entity("a police car stops") == "car"  # "police car" (10) beats "police" (6)
    assert normalize_entity("man and dog") == "man"  # equal length: the earliest
    assert normalize_entity("dog and man") == "dog"
    assert normalize_entity("a firework near the fire") == "firework"  # whole words: "fire" is not in "firework"


@pytest.mark.parametrize("normalize", [normalize_event_type, normalize_scene, normalize_entity])
@pytest.mark.parametrize("value", [None, 3, 2.5, b"fire", ["fire"], {"fire": 1}])
def test_normalisers_return_none_for_non_strings(normalize, value):
    assert normalize(value) is None


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.text(max_size=80))
def test_normalisers_never_raise_and_return_canonicals(text):
    assert normalize_event_type(text) in (None, *EVENT_TYPES)
    assert normalize_scene(text) in (None, *SCENES)
    assert normalize_entity(text) in (None, *ENTITIES)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.sampled_from(ENTITIES), st.sampled_from(["", "the ", "a ", "THE ", "two "]), st.sampled_from(["", ".", "!"]))
def test_entity_normaliser_is_stable_under_articles_case_and_punctuation(entity, prefix, suffix):
    assert normalize_entity(f"{prefix}{entity}{suffix}") == entity


def test_entity_roles_partition_the_vocabulary():
    assert AGENT_ENTITIES < set(ENTITIES) and "none" not in AGENT_ENTITIES and "road" not in AGENT_ENTITIES
    assert BUILDING_PARTS < STRUCTURE_ENTITIES
    persons = {"people", "man", "woman", "child", "police", "thief", "robber", "crowd", "driver", "pedestrian"}
    vehicles_animals_hazards = {"car", "truck", "bus", "motorcycle", "dog", "wild animal", "fire", "water", "firework"}
    assert persons | vehicles_animals_hazards <= AGENT_ENTITIES
    objects = {"building", "house", "shop", "bank", "window", "door", "facility", "money", "bag", "phone", "paper"}
    assert not objects & AGENT_ENTITIES  # things acted upon, never subjects
    kinds = [PERSON_ENTITIES, VEHICLE_ENTITIES, ANIMAL_ENTITIES, HAZARD_ENTITIES, STRUCTURE_ENTITIES, GOODS_ENTITIES]
    assert sum(len(kind) for kind in kinds) == len(set().union(*kinds))  # no entity of two kinds
    assert set().union(*kinds[:4]) == AGENT_ENTITIES and set().union(*kinds) < set(ENTITIES)
    assert set(ENTITIES) - set().union(*kinds) == {"road", "none", "paper", "cigarette"}


def test_subclass_objects_are_entities_of_known_subclasses():
    category = Path(__file__).resolve().parents[1] / "dataset_scripts" / "data" / "cuva" / "Category.txt"
    subclasses = {line.split()[0] for line in category.read_text().splitlines() if re.match(r"\d+-\d+ ", line)}
    assert len(subclasses) > 30 and "1-6" not in subclasses
    assert set(CUVA_SUBCLASS_TO_OBJECT) <= subclasses and set(CUVA_SUBCLASS_TO_OBJECT.values()) <= set(ENTITIES)
    assert CUVA_SUBCLASS_TO_OBJECT["9-2"] == "tree"  # a forest fire burns trees


def test_unnamed_places_are_other_and_find_scenes_lists_every_place():
    other = {clean_text(s) for s in ("other", *SCENE_SYNONYMS["Other"])}
    assert {clean_text(p) for p in UNNAMED_PLACES} <= other | {clean_text(p) + "s" for p in other}
    assert all(normalize_scene(place) == "Other" for place in UNNAMED_PLACES)
    words, found = find_scenes("The other car hit a bus near the school and the airport")
    assert [(scene, " ".join(words[a:b])) for scene, a, b in found] == [
        ("Other", "other"), ("School", "school"), ("Other", "airport"),
    ]  # fmt: skip
    assert find_scenes(None) == ([], [])


def test_clean_text_is_the_form_of_every_lookup():
    assert clean_text("The Woman’s  E-Bike & Phone!") == "the woman e bike and phone"
    assert clean_text("ＳＵＶ") == "suv"  # NFKC folds full-width letters
    assert clean_text(" ?! ") == ""


def test_find_entities_reads_the_entity_normalisers_table():
    for canonical in ENTITIES:
        for word in (canonical, *ENTITY_SYNONYMS[canonical]):
            words, mentions = find_entities(word)
            assert words == clean_text(word).split()
            assert mentions == [(canonical, 0, len(words))], word  # a synonym is one whole mention of its canonical
    assert find_entities("policemen chased two thieves")[1] == [("police", 0, 1), ("thief", 3, 4)]  # plurals


def test_find_entities_lists_every_mention_in_order_longest_first():
    words, mentions = find_entities("A police car hit the bank's ATM; nobody was hurt, the fire truck came.")
    assert words[:5] == ["a", "police", "car", "hit", "the"] and words[5:7] == ["bank", "atm"]
    found = [(entity, " ".join(words[start:end])) for entity, start, end in mentions]
    assert found == [
        ("car", "police car"),  # the longest synonym at a word wins over "police"
        ("bank", "bank"),
        ("facility", "atm"),
        ("none", "nobody"),  # kept: callers decide what "none" means
        ("truck", "fire truck"),
    ]
    assert find_entities("firework near the fireplace")[1] == [("firework", 0, 1)]  # whole words only
    assert find_entities(None) == ([], []) and find_entities("") == ([], [])


def test_module_doctests_pass():
    result = doctest.testmod(vocabulary_sherlock, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10
    assert result.failed == 0


@pytest.mark.parametrize(
    "name, packages",
    [("vocabulary_sherlock.py", set()), ("events_sherlock.py", {"numpy", "torch", "transformers"})],
)
def test_remote_code_modules_import_only_allowed_packages(name, packages):
    allowed = set(sys.stdlib_module_names) | packages  # the vocabulary is pure standard library
    tree = ast.parse((PROCESSING / name).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] in allowed, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                assert node.level == 1 and node.module and "." not in node.module, node.module
            else:
                assert node.module.split(".")[0] in allowed, node.module
    assert tree.body[-1].targets[0].id == "__all__"
