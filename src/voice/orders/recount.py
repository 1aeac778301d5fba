"""Readings that say a number where the recogniser wrote words that sound like one,
or none at all.

A small recogniser often writes a spoken count as other words: "and well lemonade"
for "and twelve lemonades", "do chicken parmesan sub" for "two chicken parmesan
subs", "a cup of blueberry muffins" for "a couple of blueberry muffins". Or it drops
the count and writes the menu's name: "and then Fried Egg Baguette" for "and then
three fried egg baguettes". Such a reading parses cleanly, so nothing else questions
it. For each item a reading orders with no number said, the words just before it are
replaced by the number words that sound most like them (`recounted`), or a small
count is put before a bare one (`counts_added`), and the item put in the plural. They
are only suggestions: the recogniser scores each against the audio, and one it finds
about as likely as what it wrote takes its place (speech.engine.SpeechModel.transcribe,
`challenge`).
"""

from src.voice.catalog.index import CatalogIndex, sayable_likeness
from src.voice.catalog.text import english_plural
from src.voice.orders.parser import UncountedItem, uncounted_items
from src.voice.speech.engine import Challenge

# Suggestions per utterance, and per item: the recogniser scores each against the
# audio (about 25 ms each on two cores).
RECOUNTS = 4
RECOUNTS_PER_ITEM = 3
# How a count above one is said, as words a recogniser might garble.
COUNTS = (
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "a couple of", "a pair of", "a dozen", "half a dozen",
)  # fmt: skip


# Counts put before a bare item, and how many bare items get them: dropped counts
# heard on the generated sets were two, three and four (short words run into the
# next); the recogniser scores each (about 25 ms) only for orders that have such items.
ADDED_COUNTS = ("two", "three", "four")
ADDED_COUNT_ITEMS = 2


def recount_challenge(text: str, index: CatalogIndex) -> Challenge:
    """`text`'s counts to put to the recogniser: its uncounted items' words said as
    counts (`recounted`), and counts put before its bare items (`counts_added`)."""
    items = uncounted_items(text, index)
    return Challenge(text, _recounted(text, items, RECOUNTS), _counts_added(text, items))


def recounted(text: str, index: CatalogIndex, limit: int = RECOUNTS) -> tuple[str, ...]:
    """`text` with the words before one of its uncounted items said as a count."""
    return _recounted(text, uncounted_items(text, index), limit)


def counts_added(text: str, index: CatalogIndex) -> tuple[str, ...]:
    """`text` with a count (ADDED_COUNTS) put before one of its first bare items
    (ADDED_COUNT_ITEMS): items it orders with nothing said before them that could have
    been a number."""
    return _counts_added(text, uncounted_items(text, index))


def _counts_added(text: str, items: list[UncountedItem]) -> tuple[str, ...]:
    bare = [item for item in items if item.bare][:ADDED_COUNT_ITEMS]
    return tuple(
        text[: item.phrase_start] + count + " " + _plural_phrase(text, item)
        for item in bare
        for count in ADDED_COUNTS
    )


def _plural_phrase(text: str, item: UncountedItem) -> str:
    """The rest of `text` from the item's phrase on, its name in the plural."""
    name = text[item.name_start : item.name_end]
    return text[item.phrase_start : item.name_start] + english_plural(name) + text[item.name_end :]


def _recounted(text: str, items: list[UncountedItem], limit: int) -> tuple[str, ...]:
    suggestions: list[str] = []
    for item in items:
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
            suggestions.append(text[:start] + count + " " + _plural_phrase(text, item))
    return tuple(dict.fromkeys(s for s in suggestions if s != text))[:limit]


def _likest_counts(heard: str) -> list[str]:
    """The counts, likest to `heard` first."""
    return sorted(COUNTS, key=lambda count: -sayable_likeness(heard, count))
