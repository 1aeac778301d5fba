"""`Candidates`: the few strings of a big list worth scoring against a query.

A spelling-tolerant lookup compares the query with every catalog phrase, so its cost
grows with the catalog. Character-trigram postings (each trigram to the strings that
hold it) find the strings that share the most trigrams with the query, relative to
both lengths (Jaccard over trigram sets, which follows the edit similarity closely);
only those are scored exactly. A small list is scanned whole: there the index saves
nothing, and the exact scan can never miss.
"""

import time

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import OSA, Indel

# Below this many strings a lookup scans them all (as cheap as the index, and exact).
FULL_SCAN_LIMIT = 1000
# Strings scored exactly per lookup in a big list.
CANDIDATES_PER_LOOKUP = 48

Positions = npt.NDArray[np.int64]


def trigrams(text: str) -> set[str]:
    """The character trigrams of `text`, padded so that short words have some."""
    padded = f" {text} "
    return {padded[k : k + 3] for k in range(len(padded) - 2)}


class Candidates:
    """A list of strings, looked up by spelling (exactly when small, by trigram
    candidates when big)."""

    def __init__(self, strings: list[str]) -> None:
        self.strings = strings
        self.indexed = len(strings) > FULL_SCAN_LIMIT
        self._postings: dict[str, npt.NDArray[np.int32]] = {}
        self._gram_counts = np.zeros(0, dtype=np.int32)
        self._lengths = np.zeros(0, dtype=np.int32)
        self._sorted_lengths = self._lengths
        if self.indexed:
            self._lengths = np.array([len(text) for text in strings], dtype=np.int32)
            self._sorted_lengths = np.sort(self._lengths)
            postings: dict[str, list[int]] = {}
            counts = []
            for position, text in enumerate(strings):
                if position % 256 == 255:
                    # Built in a worker thread: let the event loop, waiting for the
                    # GIL, have it now and then.
                    time.sleep(0)
                grams = trigrams(text)
                counts.append(len(grams))
                for gram in grams:
                    postings.setdefault(gram, []).append(position)
            for number, (gram, found) in enumerate(postings.items()):
                if number % 512 == 511:
                    time.sleep(0)  # as above
                self._postings[gram] = np.array(found, dtype=np.int32)
            self._gram_counts = np.array(counts, dtype=np.int32)

    @property
    def comparisons_per_lookup(self) -> int:
        """Strings scored exactly by one lookup (what a lookup costs, roughly)."""
        return min(len(self.strings), CANDIDATES_PER_LOOKUP) if self.indexed else len(self.strings)

    def best(self, query: str, *, cutoff: float) -> tuple[int, float] | None:
        """The position and Indel similarity of the string closest in spelling to
        `query`, or None when none reaches `cutoff`."""
        if not self.indexed:
            found = process.extractOne(
                query, self.strings, scorer=Indel.normalized_similarity, score_cutoff=cutoff
            )
            return None if found is None else (found[2], found[1])
        # Indel similarity is at most 2 * shorter / (both lengths): strings too much
        # longer or shorter than the query can never reach the cutoff (an exact filter).
        shortest = len(query) * cutoff / (2 - cutoff)
        longest = len(query) * (2 - cutoff) / max(cutoff, 1e-9)
        low, high = np.searchsorted(self._sorted_lengths, [shortest, longest], side="left")
        if low == high and not (
            high < len(self._sorted_lengths) and self._sorted_lengths[high] <= longest
        ):
            return None
        positions = self._shortlist(query, shortest, longest)
        if positions.size == 0:
            return None
        shortlist = [self.strings[p] for p in positions]
        found = process.extractOne(
            query, shortlist, scorer=Indel.normalized_similarity, score_cutoff=cutoff
        )
        return None if found is None else (int(positions[found[2]]), found[1])

    def within_edits(self, query: str, edits: int) -> list[tuple[str, int]]:
        """The strings at most `edits` edits from `query` (insertions, deletions,
        substitutions, swaps of neighbours), each with its distance."""
        strings = self.strings
        if self.indexed:
            positions = self._shortlist(query, len(query) - edits, len(query) + edits)
            strings = [self.strings[p] for p in positions]
        found = process.extract(query, strings, scorer=OSA.distance, score_cutoff=edits, limit=None)
        return [(text, int(distance)) for text, distance, _ in found]

    def _shortlist(self, query: str, shortest: float, longest: float) -> Positions:
        grams = trigrams(query)
        hits = [self._postings[g] for g in grams if g in self._postings]
        if not hits:
            return np.zeros(0, dtype=np.int64)
        positions, shared = np.unique(np.concatenate(hits), return_counts=True)
        lengths = self._lengths[positions]
        fits = (lengths >= shortest) & (lengths <= longest)
        positions, shared = positions[fits], shared[fits]
        # Jaccard of the trigram sets: shared / (query's + candidate's - shared).
        union = len(grams) + self._gram_counts[positions] - shared
        score = shared / union
        if positions.size > CANDIDATES_PER_LOOKUP:
            top = np.argpartition(-score, CANDIDATES_PER_LOOKUP)[:CANDIDATES_PER_LOOKUP]
            # In list order, as a full scan meets them: ties go the same way.
            positions = np.sort(positions[top])
        result: Positions = positions.astype(np.int64)
        return result
