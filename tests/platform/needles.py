"""Long documents with a needle at the end, and translation pairs, written for omnivec's tests.

``needle_documents(n)`` builds ~1,200-word documents of real English prose (docstrings of the
Python standard library, sliced differently for each document) and puts one distinctive
sentence at the very end; ``NEEDLES`` pairs each such sentence with a paraphrased question
that shares few of its words. The question must find its document first.
"""

from __future__ import annotations

import inspect
import random
import re

#: (sentence put at the end of a document, paraphrased question about it)
NEEDLES: list[tuple[str, str]] = [
    (
        "The lighthouse keeper Oskar painted the tower's door bright orange in 1987.",
        "What colour did the lighthouse attendant make the entrance of his tower?",
    ),
    (
        "Marta's grey parrot can whistle the first bars of a Chopin waltz.",
        "Which bird is able to perform classical piano music by whistling?",
    ),
    (
        "The bakery on Elm Street sells its sourdough loaves only on Thursdays.",
        "On what weekday can you buy naturally leavened bread at the shop on Elm Street?",
    ),
    (
        "Our volcano expedition measured lava flowing at nine kilometres per hour.",
        "How fast was the molten rock moving during the trip to the erupting mountain?",
    ),
    (
        "The chess club banned the Sicilian Defence after a scandal in the final.",
        "Which opening did the board game society prohibit following a controversy?",
    ),
    (
        "A blue whale's heart weighs about as much as a small car.",
        "How heavy is the cardiac organ of the largest marine mammal?",
    ),
    (
        "The orchestra's tuba player rides a unicycle to every rehearsal.",
        "How does the brass musician with the biggest horn travel to practice?",
    ),
    (
        "Grandmother's secret plum jam recipe uses a pinch of black pepper.",
        "What spice goes into granny's hidden fruit preserve?",
    ),
    (
        "The submarine Nautilus II reached a depth of 4,200 metres near the Azores.",
        "How deep did the underwater vessel dive close to the Portuguese islands?",
    ),
    (
        "The museum's stolen emerald necklace was found inside a hollow cello.",
        "Where was the missing green gemstone jewellery recovered?",
    ),
    (
        "Every spring the village holds a race in which farmers carry pumpkins uphill.",
        "Which yearly contest makes growers haul large squash up a slope?",
    ),
    (
        "The astronaut grew radishes in a shoebox aboard the space station.",
        "Which vegetable did the spacefarer cultivate in orbit, and in what container?",
    ),
    (
        "Our football team lost the cup final because the goalkeeper slipped on a banana peel.",
        "Why did the soccer squad fail to win the championship match?",
    ),
    (
        "The Antarctic research base keeps its emergency chocolate in a locked freezer.",
        "Where are the reserve sweets stored at the South Pole science station?",
    ),
    (
        "The novelist wrote her entire trilogy with a fountain pen on hotel napkins.",
        "On what did the author draft her three-book series?",
    ),
    (
        "The city's oldest tram was converted into a tiny library with forty books.",
        "What did the town do with its most ancient streetcar?",
    ),
    (
        "Farmers in the valley discovered that goats refuse to eat lavender.",
        "Which fragrant purple plant do the valley's livestock avoid?",
    ),
    (
        "The bridge engineer hid a time capsule inside the third pillar.",
        "Where in the crossing did the builder conceal a box for future generations?",
    ),
    (
        "A rare albino hedgehog was spotted in the cemetery last Tuesday.",
        "Where did someone see the white spiny animal recently?",
    ),
    (
        "The pilot landed the cargo plane on a frozen lake when both engines failed.",
        "Where did the aviator bring down the freight aircraft after losing power?",
    ),
    (
        "The school's robotics team built a machine that folds laundry in ninety seconds.",
        "What household chore can the students' robot do quickly?",
    ),
    (
        "Our dentist plays the bagpipes in a band every Friday night.",
        "Which instrument does the tooth doctor perform on at weekends?",
    ),
    (
        "The castle's ghost is said to appear only when it snows in April.",
        "Under what weather does the spirit of the fortress show itself?",
    ),
    (
        "Scientists trained honeybees to detect landmines by smell.",
        "Which insects learned to sniff out buried explosives?",
    ),
    (
        "The cheese maker ages his goat cheese in a cave beneath the monastery.",
        "Where does the dairy craftsman mature his product?",
    ),
    (
        "The marathon winner ran the last kilometre barefoot after losing a shoe.",
        "How did the champion finish the long-distance race?",
    ),
    (
        "The architect designed a skyscraper shaped like a twisted pretzel.",
        "Which snack does the tall building's form resemble?",
    ),
    (
        "The village well was poisoned by copper leaking from an abandoned mine.",
        "What contaminated the community's water source?",
    ),
    (
        "The circus elephant learned to paint watercolours of sunsets.",
        "What pictures does the big animal from the travelling show create?",
    ),
    (
        "Our neighbour's tortoise escaped and was found two streets away after a month.",
        "How far did the slow reptile get when it ran off?",
    ),
    (
        "The violinist's instrument was made in 1712 from maple felled by lightning.",
        "What wood was used for the fiddle, and how was the tree brought down?",
    ),
    (
        "The ferry to the island stops running when the wind exceeds force eight.",
        "When does the boat service to the isle halt?",
    ),
    (
        "A meteorite the size of a walnut smashed through the greenhouse roof.",
        "What broke the glass ceiling of the plant nursery?",
    ),
    (
        "The king's coronation banquet served roasted peacock stuffed with figs.",
        "What bird was on the menu at the royal crowning feast?",
    ),
    (
        "The mountain hut offers free soup to climbers who arrive before sunrise.",
        "Who gets a complimentary meal at the alpine shelter?",
    ),
    (
        "The train to Lisbon was delayed six hours by a herd of cows on the tracks.",
        "Why was the railway journey to Portugal's capital so late?",
    ),
    (
        "The hospital installed solar panels that cover the whole car park.",
        "What did the clinic put over its parking area?",
    ),
    (
        "The poet buried her unpublished sonnets under the cherry tree in her garden.",
        "Where did the writer hide her unreleased poems?",
    ),
    (
        "The tailor sews a tiny silver button inside every suit he makes.",
        "What secret mark does the clothes maker add to his jackets?",
    ),
    (
        "Divers found a Roman amphora still sealed and full of olive oil.",
        "What ancient container did the underwater explorers recover intact?",
    ),
]


def _prose() -> list[str]:
    """Sentences from the docstrings of standard-library modules: real English, offline."""
    import collections
    import csv
    import email
    import http.client
    import json
    import logging
    import pathlib
    import subprocess
    import threading
    import unittest
    import urllib.request
    import zipfile

    sentences: list[str] = []
    for mod in (
        collections,
        csv,
        email,
        http.client,
        json,
        logging,
        pathlib,
        subprocess,
        threading,
        unittest,
        urllib.request,
        zipfile,
    ):
        for _, obj in inspect.getmembers(mod):
            doc = inspect.getdoc(obj) if callable(obj) or inspect.isclass(obj) else None
            if not doc:
                continue
            for part in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
                if 6 <= len(part.split()) <= 40 and part[:1].isupper() and ">>>" not in part:
                    sentences.append(part)
    return sorted(set(sentences))


def needle_documents(
    n: int | None = None, words: int = 1_200, seed: int = 0
) -> list[tuple[str, str]]:
    """``(document, question)`` pairs: ~``words`` words of prose ending in a needle."""
    pool = _prose()
    rng = random.Random(seed)
    pairs = NEEDLES if n is None else NEEDLES[:n]
    out = []
    for needle, question in pairs:
        body: list[str] = []
        count = 0
        while count < words:
            s = pool[rng.randrange(len(pool))]
            body.append(s)
            count += len(s.split())
        out.append((" ".join(body) + " " + needle, question))
    return out


def hit_at_1(col: object, docs: list[tuple[str, str]]) -> float:
    """Fraction of questions whose own document comes first in ``col`` (ids ``d<i>``)."""
    hits = col.search([q for _, q in docs], k=1)  # type: ignore[attr-defined]
    return sum(1 for i, row in enumerate(hits) if row and row[0].id == f"d{i}") / len(docs)
