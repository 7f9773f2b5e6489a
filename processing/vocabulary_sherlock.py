# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The vocabularies of Sherlock: event types, scenes and entities (subjects / objects), with their synonyms.

This module is the one source of truth for every vocabulary of the M-VAE task: the dataset builders, the
answer parser (`events_sherlock.post_process_events`) and the metrics all read it. It ships to the Hub as remote code,
so it imports only the standard library.

Canonical forms:

- event types (11, CUVA classes 1-11, in that order): `EVENT_TYPES`;
- scenes (14, Table 1 of the paper): `SCENES`;
- entities (one shared, lower-case list for subjects and objects): `ENTITIES`; `"none"` is the object of an event
  that has none (e.g. a fall).

Every canonical form has a synonym tuple (lower case) in `EVENT_TYPE_SYNONYMS`, `SCENE_SYNONYMS` and
`ENTITY_SYNONYMS`; `normalize_event_type`, `normalize_scene` and `normalize_entity` map free text onto the canonical
forms. Synonym decisions worth knowing (each is also written beside the entry):

- CUVA class 11 is "Burning" (sub-classes paper, smoking, firework): the forbidden burning of things, not a fire that
  destroys a building. So `"burning"`, `"burn"`, `"smoking"`, `"fireworks"`, `"firecracker"`, `"burning paper"` map to
  **Forbidden**, while `"fire"`, `"arson"`, `"explosion"`, `"wildfire"`, `"on fire"` and the explicit phrases
  `"burning building"`, `"burning house"`, `"burning car"`, `"burning forest"`, `"burning factory"` map to **Fire**
  (the longest contained synonym wins, so "a burning house" is Fire and "people burning paper" is Forbidden).
- "robbery" involves force against a person: "mugging", "snatching" (bag / purse snatching) and "carjacking" /
  "hijacking" are **Robbery**; "stealing", "shoplifting", "burglary", "break-in", "pickpocketing" and "looting" are
  **Theft**.
- "fall", "falling", "slip", "jaywalking" are **Pedestrian** (CUVA 8-2 Jaywalking, 8-3 Falling); "running a red light",
  "speeding", "wrong way", "illegal parking" are **Violations**; "fall into water" is **Water**.
- A bare "attack" is **Fighting**; an attack by an animal ("animal attack", "dog attack", "bite") is **Animals**.
- Scenes: the only water scenes are **Underwater** and **Boat**, so water bodies ("sea", "ocean", "river", "lake",
  "pool", "beach", "shore") are **Underwater** while vessels and harbours ("ship", "ferry", "deck", "port") are
  **Boat**; "roadside", "sidewalk", "alley" are **Street** (where people walk) while "highway", "intersection",
  "crosswalk", "bridge", "tunnel", "parking lot" are **Road** (where vehicles drive); "store", "supermarket",
  "grocery" are **Shop** while "mall", "market", "restaurant", "gas station", "department store" are **Commercial**;
  "park", "grass", "garden", "field" are **Lawn**; "zoo", "savanna", "mountain", "desert" are **Wild**; "jungle",
  "woods" are **Forest**; "home", "house", "apartment", "yard", "domestic" are **Residence**; places that fit none of
  the 14 ("subway", "station", "airport", "hospital", "unknown") are **Other**.
- Entities: generic humans ("person", "someone", "human", "passerby", "victim", "customer") are **people**; "boy",
  "girl", "kid", "student", "teenager" are **child**; "guy", "male" are **man**; "female", "lady" are **woman**;
  "group", "gang", "mob", "group of people" are **crowd**; "motorcyclist", "biker", "rider" are **cyclist** (the one
  canonical rider); "gunman", "mugger", "bandit" are **robber**; "burglar", "shoplifter", "pickpocket", "criminal" are
  **thief**; "clerk", "cashier", "security guard", "firefighter", "owner" are **worker**; "sedan", "suv", "taxi",
  "van" are **car**; "scooter", "moped" and electric two-wheelers ("e-bike", "electric bicycle") are **motorcycle**;
  "tricycle", "ambulance", "tractor" are **vehicle**; "atm", "wall", "fence", "traffic light", "sign" are **facility**;
  "paper money" / "joss paper" (burnt as an offering) are **paper**; "smoking" is **cigarette**; "street",
  "highway", "sidewalk" are **road**; "forest", "grass" are **tree**; "none", "nothing", "no object", "n/a",
  "nobody" are **none**.

Normalisation (all three normalisers): NFKC, lower case, possessive `'s` and punctuation removed; then (1) the whole
text as a synonym, (2) the whole text without leading determiners ("a", "the", "some", "two", ...), (3) the longest
synonym contained in the text as whole words (ties: the earliest one). Plurals are handled by also registering the
plural of every synonym ("cars", "buses", "thieves", "women", "policemen", "facilities"), never by guessing the
singular of the input. Text that contains no synonym gives `None`; the normalisers never raise.

Entity kinds and mentions (used by the M-VAE builder's subject / object extraction, `dataset_scripts/mvae_frames.py`):
`PERSON_ENTITIES`, `VEHICLE_ENTITIES`, `ANIMAL_ENTITIES` and `HAZARD_ENTITIES` make up `AGENT_ENTITIES` (the entities
that can act, i.e. be a subject); `STRUCTURE_ENTITIES` (with its `BUILDING_PARTS`) and `GOODS_ENTITIES` are things acted
upon; `CUVA_SUBCLASS_TO_OBJECT` is the object a CUVA sub-class names. `find_entities` lists the entity mentions of a
free text left to right with the same synonym table as `normalize_entity` (at each word the longest synonym, or
generated plural, that starts there), `find_scenes` the scene mentions likewise; `UNNAMED_PLACES` are the synonyms of
`Other` that name no place ("in public places"); and `clean_text` is the normalisation every lookup applies.
"""

import re
import unicodedata


# --------------------------------------------------------------------------------------------------------------------
# Event types (CUVA classes 1-11)
# --------------------------------------------------------------------------------------------------------------------

EVENT_TYPES = (
    "Fighting",
    "Animals",
    "Water",
    "Vandalism",
    "Accidents",
    "Robbery",
    "Theft",
    "Pedestrian",
    "Fire",
    "Violations",
    "Forbidden",
)

CUVA_CLASS_TO_EVENT_TYPE = {number: event_type for number, event_type in enumerate(EVENT_TYPES, start=1)}
"""CUVA class number (1..11, the `X1` code before the dash) -> canonical event type (class 11 "Burning" -> Forbidden)."""

CUVA_CLASS_NAMES = {
    1: "Fighting",
    2: "Animals Hurting People",
    3: "Water Incidents",
    4: "Vandalism",
    5: "TrafficAccidents",
    6: "Robbery",
    7: "Theft",
    8: "Pedestrian Incidents",
    9: "Fire",
    10: "Traffic Violations",
    11: "Burning",
}
"""The CUVA class names as written in CUVA's `Category.txt` (each is also a synonym of its event type)."""

EVENT_TYPE_SYNONYMS = {
    "Fighting": (
        "fighting", "fight", "fought", "fist fight", "fistfight", "street fight", "school fight", "brawl", "brawling",
        "assault", "assaulted", "assaulting", "beating", "beat", "beat up", "beating up", "beaten", "punch", "punching",
        "punched", "kick", "kicking", "kicked", "slap", "slapping", "attack", "attacking", "attacked",  # bare attack
        "violence", "violent", "domestic violence", "school violence", "bully", "bullying", "riot", "rioting",
        "scuffle", "altercation", "physical altercation", "clash", "conflict", "quarrel", "gunfight", "shootout",
        "shooting", "stabbing", "stab",
    ),
    "Animals": (
        "animals", "animal", "animals hurting people", "animal hurting people", "animal attack", "animal bite",
        "animal incident", "wild animal attack", "pet attack", "dog attack", "dog bite", "shark attack", "bear attack",
        "bite", "biting", "bitten", "mauling", "mauled",
    ),
    "Water": (
        "water", "water incident", "water incidents", "water accident", "drowning", "drowing",  # CUVA 3-1 typo
        "drown", "drowned", "flood", "flooding", "flooded", "capsize", "capsized", "capsizing", "boat capsizing",
        "sinking", "sank", "shipwreck", "fall into water", "falling into water", "fell into water", "swept away",
        "tsunami", "rip current",
    ),
    "Vandalism": (
        "vandalism", "vandal", "vandalize", "vandalizing", "vandalized", "vandalise", "vandalising", "vandalised",
        "damage property", "damaging property", "damaged property", "property damage", "destroy property",
        "destroying property", "destruction of property", "destruction", "destroy", "destroying", "destroyed",
        "damage", "damaging", "damaged", "graffiti", "spray painting", "smash", "smashing", "smashed",
        "breaking windows", "break windows", "smashing windows", "sabotage",
    ),
    "Accidents": (
        "accidents", "accident", "traffic accident", "traffic accidents", "trafficaccidents", "car accident",
        "car crash", "road accident", "vehicle accident", "motor accident", "motor vehicle accident",
        "motorcycle accident", "bike accident", "crash", "crashing", "crashed", "collision", "collide", "colliding",
        "collided", "rear end", "rear end collision", "hit and run", "run over", "ran over", "rollover", "overturned",
    ),
    "Robbery": (
        "robbery", "robberies", "rob", "robbing", "robbed", "armed robbery", "bank robbery", "store robbery",
        "mugging", "mug", "mugged", "holdup", "hold up", "heist", "snatch", "snatching", "snatched",  # by force
        "bag snatching", "purse snatching", "carjacking", "carjack", "hijack", "hijacking", "hijacked",
    ),
    "Theft": (
        "theft", "steal", "stealing", "stole", "stolen", "shoplifting", "shoplift", "shoplifted", "burglary",
        "burglarize", "burgle", "break in", "breaking in", "broke in", "pickpocket", "pickpocketing", "larceny",
        "thieving", "car theft", "bike theft", "theft incident", "looting", "loot", "looted",
    ),
    "Pedestrian": (
        "pedestrian", "pedestrian incident", "pedestrian incidents", "jaywalking", "jaywalk", "jaywalker",
        "fall", "falling", "fell", "fall down", "fell down", "slip", "slipping", "slipped", "trip", "tripped",
        "tripping", "disturbance",  # CUVA 8-3 Falling, 8-4 Disturbance
        "crossing the road illegally", "roadside incident",
    ),
    "Fire": (
        "fire", "building fire", "house fire", "forest fire", "factory fire", "car fire", "vehicle fire", "wildfire",
        "blaze", "flames", "arson", "on fire", "catch fire", "caught fire", "catching fire", "set fire",
        "setting fire", "set on fire", "explosion", "explode", "exploded", "exploding", "burning building",
        "burning house", "burning car", "burning vehicle", "burning forest", "burning factory", "building burning",
        "house burning", "burn down", "burned down", "burnt down",
    ),
    "Violations": (
        "violations", "violation", "traffic violation", "traffic violations", "traffic rule violation",
        "violating traffic rules", "breaking traffic rules", "traffic regulations", "running a red light",
        "run a red light", "ran a red light", "runs a red light", "running red light", "running the red light",
        "red light running", "red light", "speeding", "speed", "illegal parking", "illegally parked", "illegal turn",
        "illegal u turn", "u turn", "wrong way", "wrong way driving", "driving the wrong way", "retrograde",
        "reverse driving", "driving against traffic", "drunk driving", "drink driving", "reckless driving",
        "dangerous driving", "illegal driving", "illegal overtaking", "overtaking", "illegal lane change",
        "lane change",
    ),
    "Forbidden": (
        # CUVA 11 "Burning": forbidden burning of paper, smoking, fireworks (see the module docstring).
        "forbidden", "forbidden burning", "burning", "burn", "illegal burning", "open burning", "burning paper",
        "paper burning", "burn paper", "burning joss paper", "burning trash", "burning garbage", "burning rubbish",
        "burning waste", "smoking", "smoking in public", "illegal smoking", "smoking cigarette", "firework",
        "fireworks", "fire works", "setting off fireworks", "set off fireworks", "lighting fireworks", "firecracker",
        "fire cracker",
    ),
}  # fmt: skip

# --------------------------------------------------------------------------------------------------------------------
# Scenes (Table 1)
# --------------------------------------------------------------------------------------------------------------------

SCENES = (
    "School",
    "Shop",
    "Underwater",
    "Street",
    "Road",
    "Boat",
    "Wild",
    "Forest",
    "Residence",
    "Bank",
    "Commercial",
    "Factory",
    "Lawn",
    "Other",
)

CUVA_SUBCLASS_TO_SCENE = {
    "1-1": "Street",
    "1-3": "School",
    "2-2": "Wild",
    "3-2": "Boat",
    "6-1": "Shop",
    "6-2": "Bank",
    "7-1": "Residence",
    "9-2": "Forest",
    "9-3": "Factory",
    "9-4": "Residence",
}
"""CUVA sub-classes (`X1` codes, Category.txt) whose name is a scene; the others say nothing on the scene."""

CUVA_SUBCLASS_TO_OBJECT = {
    "7-2": "car",
    "9-1": "building",
    "9-2": "tree",
    "9-3": "building",
    "9-4": "house",
}
"""CUVA sub-classes whose name tells what is acted upon (7-2 Vehicle theft: a vehicle; 9-1 Building, 9-2 Forest,
9-3 Factory, 9-4 Residential fires: what burns); an extractor's default when the texts name none. Left out on purpose:
4-1 Facility (the texts name the damaged thing more precisely) and the class-11 sub-classes, whose codes in the CUVA
sheet do not match their names (events coded 11-2 Smoking burn paper, 11-3 Firework ones are smoking)."""

SCENE_SYNONYMS = {
    "School": (
        "school", "campus", "classroom", "schoolyard", "school yard", "university", "college", "kindergarten",
        "playground",
    ),
    "Shop": (
        "shop", "store", "supermarket", "grocery", "grocery store", "convenience store", "jewelry store",
        "jewellery store", "jewelry shop", "boutique", "retail store", "pharmacy", "bakery", "liquor store",
    ),
    "Underwater": (
        # water bodies: the only other water scene is Boat (vessels)
        "underwater", "under water", "water", "in the water", "sea", "ocean", "river", "lake", "pond", "canal",
        "pool", "swimming pool", "beach", "seaside", "shore", "coast", "waterfront",
    ),
    "Street": (
        "street", "city street", "sidewalk", "pavement", "alley", "alleyway", "roadside", "downtown", "city", "town",
        "urban", "urban area", "square", "public square",
    ),
    "Road": (
        "road", "highway", "freeway", "expressway", "motorway", "intersection", "crossroad", "crossroads",
        "junction", "traffic", "lane", "tunnel", "bridge", "overpass", "crosswalk", "zebra crossing", "roundabout",
        "traffic light", "parking lot", "parking garage", "car park", "toll station", "railway crossing",
    ),
    "Boat": (
        "boat", "ship", "vessel", "yacht", "ferry", "deck", "cruise ship", "fishing boat", "on board", "harbor",
        "harbour", "port", "dock", "pier",
    ),
    "Wild": (
        "wild", "wilderness", "wildlife", "savanna", "savannah", "safari", "zoo", "desert", "mountain", "prairie",
        "grassland", "countryside", "nature",
    ),
    "Forest": ("forest", "woods", "woodland", "jungle", "rainforest", "trees"),
    "Residence": (
        "residence", "residential", "residential area", "residential building", "home", "house", "apartment",
        "villa", "yard", "backyard", "front yard", "courtyard", "garage", "driveway", "porch", "balcony",
        "living room", "bedroom", "kitchen", "room", "hallway", "domestic", "neighborhood", "neighbourhood",
        "community", "dormitory", "dorm",
    ),
    "Bank": ("bank", "bank branch", "bank lobby", "bank counter", "vault", "atm", "cash machine"),
    "Commercial": (
        "commercial", "commercial area", "commercial building", "commercial street", "mall", "shopping mall",
        "shopping center", "shopping centre", "shopping", "department store", "plaza", "market", "marketplace",
        "restaurant", "cafe", "coffee shop", "bar", "pub", "nightclub", "club", "hotel", "office", "office building",
        "gas station", "petrol station", "casino", "business", "cinema", "theater", "theatre", "food court",
    ),
    "Factory": (
        "factory", "plant", "power plant", "chemical plant", "warehouse", "workshop", "construction site",
        "industrial", "industrial area", "industrial park", "mill", "mine", "refinery",
    ),
    "Lawn": (
        "lawn", "grass", "grassy area", "park", "garden", "meadow", "field", "football field", "soccer field",
        "sports field", "green space", "green area",
    ),
    "Other": (
        "other", "others", "unknown", "unspecified", "elsewhere", "indoor", "indoors", "outdoor", "outdoors",
        "subway", "subway station", "metro", "station", "train station", "railway", "railway station", "airport",
        "hospital", "elevator", "escalator", "stairs", "stadium", "prison", "church", "temple", "gym",
        "public place", "public area",
    ),
}  # fmt: skip

UNNAMED_PLACES = frozenset(
    ("other", "others", "unknown", "unspecified", "elsewhere", "indoor", "indoors", "outdoor", "outdoors",
     "public place", "public places", "public area", "public areas")
)  # fmt: skip
"""Synonyms of `Other` that name no place ("in public places", "the other car"): an extractor reading a scene from
free text takes one only when the text names no place at all, unlike "prison" or "airport" (places that are
`Other`)."""

# --------------------------------------------------------------------------------------------------------------------
# Entities (subjects and objects)
# --------------------------------------------------------------------------------------------------------------------

ENTITIES = (
    "people",
    "man",
    "woman",
    "child",
    "police",
    "thief",
    "robber",
    "crowd",
    "driver",
    "pedestrian",
    "cyclist",
    "worker",
    "car",
    "truck",
    "bus",
    "motorcycle",
    "bicycle",
    "vehicle",
    "train",
    "boat",
    "dog",
    "cat",
    "animal",
    "wild animal",
    "fire",
    "smoke",
    "water",
    "building",
    "house",
    "shop",
    "bank",
    "window",
    "door",
    "facility",
    "sculpture",
    "property",
    "money",
    "bag",
    "phone",
    "firework",
    "paper",
    "cigarette",
    "road",
    "tree",
    "none",
)

PERSON_ENTITIES = frozenset(
    ("people", "man", "woman", "child", "police", "thief", "robber", "crowd", "driver", "pedestrian", "cyclist", "worker")
)  # fmt: skip
"""Persons (and groups of them)."""

VEHICLE_ENTITIES = frozenset(("car", "truck", "bus", "motorcycle", "bicycle", "vehicle", "train", "boat"))
"""Vehicles, boats and trains."""

ANIMAL_ENTITIES = frozenset(("dog", "cat", "animal", "wild animal"))
"""Animals."""

HAZARD_ENTITIES = frozenset(("fire", "smoke", "water", "firework"))
"""Things that act without anyone acting through them: fire, smoke, water (a flood, a wave) and fireworks."""

AGENT_ENTITIES = PERSON_ENTITIES | VEHICLE_ENTITIES | ANIMAL_ENTITIES | HAZARD_ENTITIES
"""Entities that can act, i.e. be the subject of an event: persons, vehicles, animals, fire, smoke, water and
fireworks. The others (places, objects, property and `"none"`) are only objects."""

STRUCTURE_ENTITIES = frozenset(
    ("building", "house", "shop", "bank", "window", "door", "facility", "sculpture", "tree")
)  # fmt: skip
"""Things that stand in a place and can be hit, damaged or burnt: buildings and their parts, facilities, trees."""

BUILDING_PARTS = frozenset(("window", "door"))
"""The structures that are parts of a building: broken or smashed, but not what burns in a fire (the building is)."""

GOODS_ENTITIES = frozenset(("property", "money", "bag", "phone"))
"""Things taken in a theft or a robbery (besides vehicles); `"property"` is the generic one."""


ENTITY_SYNONYMS = {
    "people": (
        "person", "persons", "someone", "somebody", "human", "human being", "individual", "passerby", "passersby",
        "passer by", "passers by", "bystander", "civilian", "victim", "resident", "citizen", "customer", "tourist",
        "visitor", "soldier", "suspect", "attacker", "everyone", "the public", "prisoner", "inmate",
    ),
    "man": (
        "men", "male", "guy", "gentleman", "boyfriend", "husband", "father", "old man", "young man", "elderly man",
        "bald man", "masked man", "businessman",
    ),
    "woman": (
        "women", "female", "lady", "girlfriend", "wife", "mother", "grandmother", "old woman", "young woman",
        "elderly woman",
    ),
    "child": (
        "children", "kid", "boy", "girl", "baby", "infant", "toddler", "student", "pupil", "schoolboy", "schoolgirl",
        "teenager", "teen", "minor", "youth",  # school-age people
    ),
    "police": (
        "policeman", "policewoman", "police officer", "officer", "cop", "patrol officer", "traffic police",
        "law enforcement", "sheriff", "detective", "swat",
    ),
    "thief": (
        "thieves", "burglar", "shoplifter", "pickpocket", "car thief", "bike thief", "intruder", "looter", "criminal",
    ),
    "robber": ("armed robber", "bandit", "mugger", "gunman", "hijacker", "carjacker", "snatcher"),
    "crowd": (
        "group", "group of people", "mob", "gang", "rioters", "protesters", "demonstrators", "spectators",
        "audience", "onlookers", "fans", "masses",
    ),
    "driver": ("motorist", "car driver", "truck driver", "bus driver", "taxi driver", "chauffeur"),
    "pedestrian": ("walker", "jaywalker"),
    "cyclist": (
        # the one canonical rider of a two-wheeler
        "bicyclist", "biker", "rider", "bike rider", "motorcyclist", "motorcycle rider", "scooter rider",
        "delivery rider", "courier",
    ),
    "worker": (
        "employee", "staff", "staff member", "clerk", "shop clerk", "store clerk", "cashier", "shopkeeper",
        "shop owner", "store owner", "owner", "manager", "salesperson", "salesman", "security guard", "guard",
        "firefighter", "fireman", "construction worker", "waiter", "waitress", "teller", "bank teller",
    ),
    "car": (
        "sedan", "suv", "taxi", "cab", "jeep", "van", "minivan", "automobile", "police car", "patrol car",
        "sports car", "private car", "racing car",
    ),
    "truck": (
        "lorry", "pickup", "pickup truck", "tanker", "trailer", "semi truck", "dump truck", "fire truck",
        "fire engine", "tow truck", "heavy truck", "container truck",
    ),
    "bus": ("minibus", "school bus", "coach", "tour bus", "city bus"),
    "motorcycle": (
        "motorbike", "motor bike", "scooter", "moped", "dirt bike", "electric scooter", "electric motorcycle",
        "electric bike", "electric bicycle", "e bike",  # electric two-wheelers
    ),
    "bicycle": ("bike", "shared bike", "shared bicycle"),
    "vehicle": (
        "motor vehicle", "non motor vehicle", "tricycle", "tractor", "forklift", "ambulance", "excavator", "crane",
    ),
    "train": ("subway", "subway train", "metro", "tram", "railway", "locomotive", "high speed train", "freight train"),
    "boat": (
        "ship", "vessel", "yacht", "ferry", "canoe", "kayak", "raft", "speedboat", "sailboat", "lifeboat",
        "fishing boat", "cargo ship", "cruise ship", "jet ski",
    ),
    "dog": ("puppy", "pitbull", "pit bull", "stray dog", "pet dog"),
    "cat": ("kitten", "kitty"),
    "animal": (
        "pet", "livestock", "cow", "cattle", "bull", "ox", "horse", "donkey", "camel", "pig", "sheep", "goat",
        "deer", "monkey", "bird", "chicken",
    ),
    "wild animal": (
        "wildlife", "wild beast", "beast", "lion", "tiger", "bear", "elephant", "leopard", "jaguar", "cheetah",
        "wolf", "crocodile", "alligator", "snake", "shark", "hippo", "hippopotamus", "rhino", "rhinoceros",
        "buffalo", "bison", "gorilla", "boar", "wild boar",
    ),
    "fire": ("flame", "blaze", "wildfire", "inferno", "explosion"),
    "smoke": ("thick smoke", "fumes"),
    "water": (
        "flood", "floodwater", "flood water", "wave", "sea", "sea water", "seawater", "ocean", "river", "lake",
        "pool", "current", "tide",
    ),
    "building": (
        "skyscraper", "tower", "structure", "apartment building", "office building", "school building", "school",
        "warehouse", "factory", "hospital", "church",
    ),
    "house": ("home", "residence", "apartment", "villa", "cottage", "hut", "cabin", "dwelling", "dormitory", "room"),
    "shop": (
        "store", "supermarket", "grocery", "grocery store", "convenience store", "jewelry store", "jewellery store",
        "boutique", "mall", "shopping mall", "market", "restaurant", "gas station",
    ),
    "bank": ("vault", "bank vault", "bank branch", "bank counter"),
    "window": ("glass", "window glass", "shop window", "windshield", "windscreen"),
    "door": ("gate", "entrance", "doorway", "front door", "glass door", "garage door", "car door", "shutter",
             "rolling shutter"),
    "facility": (
        "facilities", "public facility", "public facilities", "equipment", "infrastructure", "street light",
        "streetlight", "street lamp", "traffic light", "traffic sign", "sign", "signboard", "billboard", "fence",
        "guardrail", "railing", "wall", "bench", "pole", "utility pole", "telephone pole", "trash can",
        "garbage can", "bin", "bus stop", "bus shelter", "vending machine", "atm", "camera", "surveillance camera",
        "cctv", "mailbox", "fire hydrant", "toilet", "seat", "machine", "bridge", "overpass",
    ),
    "sculpture": ("statue", "monument", "memorial", "artwork", "art installation"),
    "property": (
        "goods", "belongings", "item", "items", "merchandise", "valuables", "jewelry", "jewellery", "gold", "stuff",
        "things", "products", "package", "parcel", "box", "tools", "computer", "laptop", "tv", "television",
        "furniture",
    ),
    "money": (
        "cash", "banknote", "banknotes", "bank notes", "coins", "funds", "dollars", "wallet", "cash register",
        "cash box", "cashbox",
    ),
    "bag": ("handbag", "purse", "backpack", "schoolbag", "satchel", "suitcase", "luggage", "shopping bag"),
    "phone": ("cellphone", "cell phone", "mobile phone", "mobile", "smartphone", "iphone", "telephone"),
    "firework": ("firecracker", "fire cracker", "fire works", "sparkler"),
    "paper": (
        "papers", "paper money", "joss paper",  # burnt as an offering (CUVA 11-1 Paper)
        "cardboard", "newspaper", "documents",
    ),
    "cigarette": ("cigar", "e cigarette", "vape", "tobacco", "cigarette butt", "smoking"),
    "road": (
        "street", "highway", "freeway", "lane", "traffic lane", "roadway", "road surface", "intersection",
        "crossroad", "crosswalk", "sidewalk", "pavement",
    ),
    "tree": ("branch", "tree branch", "bush", "bushes", "forest", "woods", "grass", "vegetation"),
    "none": (
        "nothing", "no object", "no target", "n/a", "na", "null", "nil", "no one", "nobody", "not applicable",
        "no", "empty",
    ),
}  # fmt: skip

# --------------------------------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------------------------------

DETERMINERS = frozenset(
    (
        "a", "an", "the", "some", "several", "many", "few", "multiple", "one", "two", "three", "four", "five",
        "his", "her", "their", "its", "this", "that", "these", "those", "another",
    )
)  # fmt: skip
"""Words that the normalisers drop in front of a phrase ("the thieves", "two men")."""
_IRREGULAR_PLURALS = {
    "man": "men",
    "woman": "women",
    "child": "children",
    "person": "people",
    "thief": "thieves",
    "wolf": "wolves",
    "knife": "knives",
    "leaf": "leaves",
    "wife": "wives",
    "life": "lives",
    "shelf": "shelves",
    "ox": "oxen",
    "mouse": "mice",
    "foot": "feet",
    "tooth": "teeth",
    "human": "humans",
}
_INVARIANT_PLURALS = frozenset(
    (
        "police", "people", "sheep", "deer", "fish", "money", "water", "smoke", "cash", "equipment", "wildlife",
        "luggage", "graffiti", "traffic", "livestock", "cattle", "staff", "none", "nothing", "nobody", "no", "na",
        "null", "nil", "swat", "cctv", "atm", "tv", "suv",
    )
)  # fmt: skip
_POSSESSIVE = re.compile(r"['\u2019]s\b")
_NON_WORD = re.compile(r"[\W_]+")


def clean_text(text):
    """The form every vocabulary lookup uses: NFKC, lower case, no possessive 's, `&` as "and", every run of non-word
    characters replaced by one space, stripped.

    >>> clean_text("The Woman's  E-Bike & Phone!")
    'the woman e bike and phone'
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _POSSESSIVE.sub("", text).replace("&", " and ")
    return _NON_WORD.sub(" ", text).strip()


def _pluralize(phrase):
    """Plural of a cleaned phrase (its last word), or None when it has none ("police", "smoking", "glasses")."""
    *head, last = phrase.split(" ")
    if last in _IRREGULAR_PLURALS:
        plural = _IRREGULAR_PLURALS[last]
    elif last in _INVARIANT_PLURALS or len(last) < 2 or not last.isalpha() or last.endswith("ing"):
        return None
    elif last.endswith("man"):
        plural = last[:-3] + "men"
    elif last.endswith(("ss", "us", "x", "z", "ch", "sh")):
        plural = last + "es"
    elif last.endswith("s"):
        return None
    elif last.endswith("y") and last[-2] not in "aeiou":
        plural = last[:-1] + "ies"
    else:
        plural = last + "s"
    return " ".join((*head, plural))


class _Normalizer:
    """Maps free text onto one vocabulary: exact synonym, then without determiners, then longest contained synonym."""

    def __init__(self, canonicals, synonyms):
        explicit = {}
        for canonical in canonicals:
            for synonym in (canonical, *synonyms[canonical]):
                explicit.setdefault(clean_text(synonym), canonical)
        table = {}
        for canonical in canonicals:
            for synonym in (canonical, *synonyms[canonical]):
                plural = _pluralize(clean_text(synonym))
                if plural is not None and plural not in explicit:
                    table.setdefault(plural, canonical)
        table.update(explicit)  # an explicit synonym always wins over a generated plural
        self.table = table
        self.max_words = max(len(key.split(" ")) for key in table)

    def __call__(self, text):
        if not isinstance(text, str):
            return None
        cleaned = clean_text(text)
        if not cleaned:
            return None
        if cleaned in self.table:
            return self.table[cleaned]
        words = cleaned.split(" ")
        while len(words) > 1 and words[0] in DETERMINERS:
            words = words[1:]
        stripped = " ".join(words)
        if stripped in self.table:
            return self.table[stripped]
        words = cleaned.split(" ")
        best, best_key = None, None
        for i in range(len(words)):
            match = self.longest_at(words, i)
            if match is not None:
                key = (len(" ".join(words[i : i + match[1]])), -i)
                if best_key is None or key > best_key:
                    best, best_key = match[0], key
        return best

    def longest_at(self, words, i):
        """(canonical, number of words) of the longest synonym that starts at `words[i]`, or None."""
        for n in range(min(self.max_words, len(words) - i), 0, -1):
            canonical = self.table.get(" ".join(words[i : i + n]))
            if canonical is not None:
                return canonical, n
        return None


_EVENT_TYPE_NORMALIZER = _Normalizer(EVENT_TYPES, EVENT_TYPE_SYNONYMS)
_SCENE_NORMALIZER = _Normalizer(SCENES, SCENE_SYNONYMS)
_ENTITY_NORMALIZER = _Normalizer(ENTITIES, ENTITY_SYNONYMS)


def normalize_event_type(text):
    """Map free text onto one of the 11 canonical event types (`EVENT_TYPES`), or `None`.

    Case-insensitive; punctuation, possessives and leading determiners are ignored; plurals and verb forms of the
    synonyms are known; when the whole text is no synonym, the longest synonym it contains as whole words wins.
    Never raises (a non-string gives `None`).

    Args:
        text (`str`): e.g. a field of an answer quadruple or a CUVA class name.

    Returns:
        `str | None`: the canonical event type, or `None` when nothing matches.

    Example:

    >>> normalize_event_type("Stealing")
    'Theft'
    >>> normalize_event_type("a car crash")
    'Accidents'
    >>> normalize_event_type("Burning")  # CUVA class 11
    'Forbidden'
    >>> normalize_event_type("a burning house")
    'Fire'
    >>> normalize_event_type("dancing") is None
    True
    """
    return _EVENT_TYPE_NORMALIZER(text)


def normalize_scene(text):
    """Map free text onto one of the 14 canonical scenes (`SCENES`), or `None`.

    Same rules as `normalize_event_type` (exact synonym, then without determiners, then longest contained synonym).

    Args:
        text (`str`): e.g. "on the street", "residential area", "supermarket".

    Returns:
        `str | None`: the canonical scene, or `None` when nothing matches.

    Example:

    >>> normalize_scene("residential area")
    'Residence'
    >>> normalize_scene("in a supermarket")
    'Shop'
    >>> normalize_scene("the highway")
    'Road'
    >>> normalize_scene("moon") is None
    True
    """
    return _SCENE_NORMALIZER(text)


def normalize_entity(text):
    """Map free text onto one canonical entity (`ENTITIES`, shared by subjects and objects), or `None`.

    Same rules as `normalize_event_type`; plurals ("thieves", "women", "buses") map to their singular canonical.

    Args:
        text (`str`): e.g. "two men", "the thieves", "a black SUV", "N/A".

    Returns:
        `str | None`: the canonical entity, or `None` when nothing matches.

    Example:

    >>> normalize_entity("Two Men")
    'man'
    >>> normalize_entity("someone")
    'people'
    >>> normalize_entity("a black SUV")
    'car'
    >>> normalize_entity("N/A")
    'none'
    >>> normalize_entity("spaceship") is None
    True
    """
    return _ENTITY_NORMALIZER(text)


def find_entities(text):
    """The entity mentions of a free text, left to right, with the synonym table of `normalize_entity`.

    The text is cleaned (`clean_text`) and split into words; at each word the longest entity synonym (or generated
    plural) that starts there is a mention, and the scan goes on after it. Unlike `normalize_entity`, every mention is
    kept (in text order), so a caller can weigh them by position ("X was robbed by Y").

    Args:
        text (`str`): free text, e.g. a CUVA description.

    Returns:
        `tuple[list[str], list[tuple[str, int, int]]]`: the cleaned words and the mentions as (canonical entity, first
        word index, end word index); `"none"` mentions ("nobody") are included.

    Example:

    >>> find_entities("Two thieves stole the woman's handbag")
    (['two', 'thieves', 'stole', 'the', 'woman', 'handbag'], [('thief', 1, 2), ('woman', 4, 5), ('bag', 5, 6)])
    """
    return _find_mentions(_ENTITY_NORMALIZER, text)


def find_scenes(text):
    """The scene mentions of a free text, left to right, with the synonym table of `normalize_scene` (the scene
    counterpart of `find_entities`).

    Returns:
        `tuple[list[str], list[tuple[str, int, int]]]`: the cleaned words and the mentions as (canonical scene, first
        word index, end word index).

    Example:

    >>> find_scenes("A crash at the intersection by the other shop")
    (['a', 'crash', 'at', 'the', 'intersection', 'by', 'the', 'other', 'shop'], [('Road', 4, 5), ('Other', 7, 8), ('Shop', 8, 9)])
    """
    return _find_mentions(_SCENE_NORMALIZER, text)


def _find_mentions(normalizer, text):
    words = clean_text(text).split() if isinstance(text, str) else []
    mentions, i = [], 0
    while i < len(words):
        match = normalizer.longest_at(words, i)
        if match is None:
            i += 1
            continue
        mentions.append((match[0], i, i + match[1]))
        i += match[1]
    return words, mentions


__all__ = [
    "AGENT_ENTITIES",
    "ANIMAL_ENTITIES",
    "BUILDING_PARTS",
    "CUVA_CLASS_NAMES",
    "CUVA_CLASS_TO_EVENT_TYPE",
    "CUVA_SUBCLASS_TO_OBJECT",
    "CUVA_SUBCLASS_TO_SCENE",
    "DETERMINERS",
    "ENTITIES",
    "ENTITY_SYNONYMS",
    "EVENT_TYPES",
    "EVENT_TYPE_SYNONYMS",
    "GOODS_ENTITIES",
    "HAZARD_ENTITIES",
    "PERSON_ENTITIES",
    "SCENES",
    "SCENE_SYNONYMS",
    "STRUCTURE_ENTITIES",
    "UNNAMED_PLACES",
    "VEHICLE_ENTITIES",
    "clean_text",
    "find_entities",
    "find_scenes",
    "normalize_entity",
    "normalize_event_type",
    "normalize_scene",
]
