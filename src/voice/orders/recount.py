"""Readings that say a number where the recogniser wrote words that sound like one.

A small recogniser often writes a spoken count as other words: "and well lemonade"
for "and twelve lemonades", "do chicken parmesan sub" for "two chicken parmesan
subs", "a cup of blueberry muffins" for "a couple of blueberry muffins". Such a
reading parses cleanly, so nothing else questions it. For each item a reading orders
with no number said, the words just before it are replaced by the number words that
sound most like them, and the item put in the plural. They are only suggestions: the
recogniser scores each against the audio, and one it finds about as likely as what it
wrote takes its place (speech.engine.SpeechModel.transcribe, `challenge`).
"""

from src.voice.catalog.index import CatalogIndex, sayable_likeness
from src.voice.catalog.text import english_plural
from src.voice.orders.parser import uncounted_items

# Suggestions per utterance, and per item: the recogniser scores each against the
# audio (about 25 ms each on two cores).
RECOUNTS = 4
RECOUNTS_PER_ITEM = 3
# How a count above one is said, as words a recogniser might garble.
COUNTS = (
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "a couple of", "a pair of", "a dozen", "half a dozen",
)  # fmt: skip


def recounted(text: str, index: CatalogIndex, limit: int = RECOUNTS) -> tuple[str, ...]:
    """`text` with the words before one of its uncounted items said as a count."""
    suggestions: list[str] = []
    for item in uncounted_items(text, index):
        name = text[item.name_start : item.name_end]
        # The likest counts of each window, nearest window first, taken in turn: a
        # longer window sounds more like a long count ("add well" like "twelve") but
        # must not crowd out the nearest ("well").
        likest = [_likest_counts(text[start : item.phrase_start]) for start in item.word_starts]
        in_turn = [
            (start, counts[rank])
            for rank in range(len(COUNTS))
            for start, counts in zip(item.word_starts, likest, strict=True)
        ]
        for start, count in in_turn[:RECOUNTS_PER_ITEM]:
            suggestions.append(
                text[:start]
                + count
                + " "
                + text[item.phrase_start : item.name_start]
                + english_plural(name)
                + text[item.name_end :]
            )
    return tuple(dict.fromkeys(s for s in suggestions if s != text))[:limit]


def _likest_counts(heard: str) -> list[str]:
    """The counts, likest to `heard` first."""
    return sorted(COUNTS, key=lambda count: -sayable_likeness(heard, count))
