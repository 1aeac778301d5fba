"""The trigram candidate index: in a big list it finds what a full scan finds, scoring
a few dozen strings instead of all of them; a small list is scanned whole."""

import random
import string

from rapidfuzz import process
from rapidfuzz.distance import Indel

from src.voice.catalog.candidates import CANDIDATES_PER_LOOKUP, FULL_SCAN_LIMIT, Candidates


def _typo(text: str, rng: random.Random) -> str:
    """One edit: a letter dropped, doubled or swapped for another."""
    k = rng.randrange(len(text))
    edit = rng.choice(("drop", "double", "swap"))
    if edit == "drop":
        return text[:k] + text[k + 1 :]
    if edit == "double":
        return text[:k] + text[k] + text[k:]
    return text[:k] + rng.choice(string.ascii_lowercase) + text[k + 1 :]


def _names(count: int, rng: random.Random) -> list[str]:
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(600)]
    return [" ".join(rng.choices(words, k=rng.randint(1, 4))) for _ in range(count)]


def _full_scan(query: str, strings: list[str], cutoff: float) -> float | None:
    found = process.extractOne(
        query, strings, scorer=Indel.normalized_similarity, score_cutoff=cutoff
    )
    return None if found is None else found[1]


def test_a_big_list_finds_what_a_full_scan_finds() -> None:
    rng = random.Random(3)
    strings = _names(5000, rng)
    index = Candidates(strings)
    assert index.indexed and index.comparisons_per_lookup == CANDIDATES_PER_LOOKUP
    # Misspelt names: the best match is found, with the full scan's similarity.
    for name in rng.sample(strings, 300):
        query = _typo(name, rng) if len(name) > 3 else name
        found = index.best(query, cutoff=0.75)
        expected = _full_scan(query, strings, 0.75)
        assert (found and found[1]) == expected, (query, found, expected)
        if found is not None:
            assert Indel.normalized_similarity(query, strings[found[0]]) == found[1]
    # Words that are no name: what a full scan would still match, the index matches
    # (nearly always: it scores the 48 closest by trigrams, not all 5,000).
    agree = 0
    queries = _names(300, random.Random(4))
    for query in queries:
        found = index.best(query, cutoff=0.75)
        agree += (found and found[1]) == _full_scan(query, strings, 0.75)
    assert agree >= 0.97 * len(queries)


def test_a_small_list_is_scanned_whole() -> None:
    strings = _names(FULL_SCAN_LIMIT, random.Random(5))
    index = Candidates(strings)
    assert not index.indexed and index.comparisons_per_lookup == FULL_SCAN_LIMIT
    query = _typo(strings[10], random.Random(6))
    found = index.best(query, cutoff=0.5)
    assert found is not None and found[1] == _full_scan(query, strings, 0.5)
    assert Candidates([]).best("latte", cutoff=0.5) is None
