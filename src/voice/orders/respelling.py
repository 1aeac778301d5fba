"""Readings the catalog suggests for an order the recogniser garbled.

Where the best reading of spoken audio leaves words unread ("less wheat please",
"two warm butter quasas"), the catalog phrases that sound most like those words,
and like the words just before them, make other readings: "less sweet please",
"two warm butter croissants". They are only suggestions, made without the audio:
the recogniser scores each against the audio and keeps those it finds about as
likely as what it wrote itself (speech.engine.SpeechModel.transcribe, `respell`).
"""

import re
from collections.abc import Iterator, Sequence

from src.voice.catalog.index import CatalogIndex
from src.voice.orders.parser import best_reading

# Suggestions per utterance: the recogniser scores each against the audio (about
# 20 ms each on two cores).
RESPELLINGS = 6
# A window over unread words reaches back this many words (a name whose first words
# were read as another item: "chicken sandwich convost" for "chicken sandwich
# combos") and this many forward, and spans at most MAX_WINDOW_WORDS.
REACH_BACK = 2
REACH_FORWARD = 1
MAX_WINDOW_WORDS = 5
# Windows times the catalog's phrases compared per utterance, at most: a long reading
# of unknown words against a catalog of 20,000 phrases stops here (about 0.25 s)
# instead of holding its decode slot for seconds.
COMPARISON_BUDGET = 2_000_000

_WORD = re.compile(r"\w[\w']*")


def respellings(
    readings: Sequence[str], index: CatalogIndex, limit: int = RESPELLINGS
) -> tuple[str, tuple[str, ...]]:
    """The best of `readings` as the order parser chooses, and that reading with one
    window of words over what it leaves unread replaced by a catalog phrase that
    sounds like them: up to `limit`, likest first; none when every word is read
    (a `speech.engine.Respeller`)."""
    text, result, _parsed = best_reading(readings, index)
    if not result.unmatched:
        return text, ()
    words = [(found.start(), found.end()) for found in _WORD.finditer(text)]
    likeness: dict[str, float] = {}
    windows_left = max(1, COMPARISON_BUDGET // index.sayable_phrases)
    for first, last in _unread_words(text, result.unmatched, words):
        for begin in range(max(0, first - REACH_BACK), last):
            for end in range(max(begin, first) + 1, min(len(words), last + REACH_FORWARD) + 1):
                if end - begin > MAX_WINDOW_WORDS:
                    break
                if windows_left == 0:
                    return text, _likeliest(likeness, limit)
                windows_left -= 1
                heard = " ".join(text[start:stop] for start, stop in words[begin:end])
                for score, phrase in index.phrases_sounding_like(heard, limit=limit):
                    if phrase.lower() in heard.lower():
                        # Words dropped around a name already heard ("large eggs a"
                        # -> "large"): a shorter reading scores well per token anyway.
                        continue
                    respelt = text[: words[begin][0]] + phrase + text[words[end - 1][1] :]
                    if respelt != text and score > likeness.get(respelt, 0.0):
                        likeness[respelt] = score
    return text, _likeliest(likeness, limit)


def _likeliest(likeness: dict[str, float], limit: int) -> tuple[str, ...]:
    ranked = sorted(likeness, key=likeness.__getitem__, reverse=True)
    return tuple(ranked[:limit])


def _unread_words(
    text: str, unread: Sequence[str], words: list[tuple[int, int]]
) -> Iterator[tuple[int, int]]:
    """For each unread span, in order, the positions of its first word and one past
    its last in `words` (the parser's spans are slices of `text`, in order)."""
    position = 0
    for span in unread:
        start = text.find(span, position)
        if start < 0:
            continue
        position = start + len(span)
        inside = [k for k, (begin, end) in enumerate(words) if begin >= start and end <= position]
        if inside:
            yield inside[0], inside[-1] + 1
