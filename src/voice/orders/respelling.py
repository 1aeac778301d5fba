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

from rapidfuzz import process
from rapidfuzz.distance import Indel

from src.voice.catalog.index import (
    MIN_SAYABLE_KEY,
    SAYABLE_LIKENESS,
    CatalogIndex,
    sayable_likeness,
    sound_key,
)
from src.voice.orders.parser import CONTAINERS, ParseResult, best_reading, reads_cleanly
from src.voice.orders.recount import COUNTS, recount_challenge
from src.voice.speech.engine import Challenge

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

# What customers say to end an order, which a recogniser garbles into catalog-like
# words as readily as names ("big net salt" for "big, that's all"). For unread words
# that end the reading, the likeliest is suggested besides the catalog's phrases (one
# more to score), so that the audio can tell "that's all" from "no salt".
CLOSINGS = ("that's all", "that's it", "thank you")

# A count said with a container ("four glasses of"), which a recogniser splits at other
# places ("forward lasses of", "Dotto Glasses,"). For unread words, the one that sounds
# most like them is suggested besides the menu's phrases (one more to score).
COUNTED_CONTAINERS = tuple(
    f"{count} {container}{'es' if container.endswith(('s', 'x')) else 's'}"
    for count in COUNTS
    for container in sorted(CONTAINERS)
)
_COUNTED_CONTAINER_SOUNDS = [sound_key(phrase) for phrase in COUNTED_CONTAINERS]
# Suggested when "of" follows the words ("forward lasses of") or they sound this much
# like one ("Dotto Glasses," for "two glasses of"): most unread words sound a little
# like one of so many phrases.
COUNTED_CONTAINER_LIKENESS = 0.75

# A plural heard is likelier a plural name: "quasas" ranks "croissants" before
# "croissant" though their likeness by spelling is the other way round.
PLURAL_AGREEMENT = 0.05

_WORD = re.compile(r"\w[\w']*")


def respellings(
    readings: Sequence[str], index: CatalogIndex, limit: int = RESPELLINGS
) -> tuple[str, tuple[str, ...]]:
    """The best of `readings` as the order parser chooses, and that reading with one
    window of words over what it leaves unread replaced by a catalog phrase that
    sounds like them: up to `limit`, likest first; none when every word is read
    (a `speech.engine.Respeller`)."""
    text, result, _parsed = best_reading(readings, index)
    return text, _respelt(text, result, index, limit)


class HeardOrder:
    """The speech engine's questions about an order's readings, from one parse of
    each set of readings: whether the best reads cleanly (`accepts`, as
    `parser.reads_as_order`), what the catalog suggests for words left unread
    (`respellings`) and counts for items ordered with none said (`recounts`). After
    the last listen they ask about the same readings; one clip, one decode thread.
    """

    def __init__(self, index: CatalogIndex, limit: int = RESPELLINGS) -> None:
        self.index = index
        self.limit = limit
        self._parsed: tuple[tuple[str, ...], str, ParseResult] | None = None

    def accepts(self, readings: Sequence[str]) -> bool:
        """Whether the best reading orders something and leaves no word unread."""
        return reads_cleanly(self._best(readings)[1])

    def respellings(self, readings: Sequence[str]) -> tuple[str, tuple[str, ...]]:
        """As the module's `respellings`."""
        text, result = self._best(readings)
        return text, _respelt(text, result, self.index, self.limit)

    def recounts(self, readings: Sequence[str]) -> Challenge:
        """The best reading and counts for its uncounted items
        (`recount.recount_challenge`): a `speech.engine.Challenger`."""
        text, _result = self._best(readings)
        return recount_challenge(text, self.index)

    def _best(self, readings: Sequence[str]) -> tuple[str, ParseResult]:
        key = tuple(readings)
        if self._parsed is None or self._parsed[0] != key:
            text, result, _parsed = best_reading(key, self.index)
            self._parsed = (key, text, result)
        return self._parsed[1], self._parsed[2]


def _respelt(text: str, result: ParseResult, index: CatalogIndex, limit: int) -> tuple[str, ...]:
    """`text` (parsed as `result`) with one window over its unread words respelt."""
    if not result.unmatched:
        return ()
    words = [(found.start(), found.end()) for found in _WORD.finditer(text)]
    likeness: dict[str, tuple[float, str]] = {}
    closing: tuple[float, str, int] | None = None  # likeness, closing, first word
    # likeness, phrase, words from and to, whether "of" follows them
    counted: tuple[float, str, int, int, bool] | None = None
    windows_left = max(1, COMPARISON_BUDGET // index.sayable_phrases)
    for first, last in _unread_words(text, result.unmatched, words):
        for begin in range(max(0, first - REACH_BACK), last):
            for end in range(max(begin, first) + 1, min(len(words), last + REACH_FORWARD) + 1):
                if end - begin > MAX_WINDOW_WORDS:
                    break
                if windows_left == 0:
                    return _with_extras(text, words, _likeliest(likeness, limit), closing, counted)
                windows_left -= 1
                heard = " ".join(text[start:stop] for start, stop in words[begin:end])
                if end == len(words):
                    closing = _closing_like(heard, begin, closing)
                before_of = end < len(words) and text[slice(*words[end])].lower() == "of"
                counted = _counted_container_like(heard, begin, end, before_of, counted)
                for score, phrase in index.phrases_sounding_like(heard, limit=limit):
                    if phrase.lower() in heard.lower():
                        # Words dropped around a name already heard ("large eggs a"
                        # -> "large"): a shorter reading scores well per token anyway.
                        continue
                    respelt = (
                        text[: words[begin][0]]
                        + _cased_as(heard, phrase)
                        + text[words[end - 1][1] :]
                    )
                    if heard[-1:].lower() == "s" and phrase[-1:].lower() == "s":
                        score += PLURAL_AGREEMENT
                    if respelt != text and score > likeness.get(respelt, (0.0, ""))[0]:
                        likeness[respelt] = (score, phrase.lower())
    return _with_extras(text, words, _likeliest(likeness, limit), closing, counted)


def _counted_container_like(
    heard: str,
    begin: int,
    end: int,
    before_of: bool,
    best: tuple[float, str, int, int, bool] | None,
) -> tuple[float, str, int, int, bool] | None:
    """The likelier of `best` and the counted container that sounds most like `heard`
    (words `begin` to `end`; `before_of`: "of" follows them)."""
    sound = sound_key(heard)
    if len(sound) < MIN_SAYABLE_KEY:
        return best
    # Sound alone shortlists (in C), as `CatalogIndex.phrases_sounding_like` does.
    shortlist = process.extract(
        sound, _COUNTED_CONTAINER_SOUNDS, scorer=Indel.normalized_similarity, limit=12
    )
    for _sound, _score, position in shortlist:
        phrase = COUNTED_CONTAINERS[position]
        likeness = sayable_likeness(heard, phrase)
        floor = SAYABLE_LIKENESS if before_of else COUNTED_CONTAINER_LIKENESS
        if likeness >= floor and (best is None or likeness > best[0]):
            best = (likeness, phrase, begin, end, before_of)
    return best


def _with_extras(
    text: str,
    words: list[tuple[int, int]],
    suggestions: tuple[str, ...],
    closing: tuple[float, str, int] | None,
    counted: tuple[float, str, int, int, bool] | None,
) -> tuple[str, ...]:
    """`suggestions` with the closing and the counted container that sounded likest,
    each in place of the words it sounded like; a container's "of" is added unless it
    follows ("Ford Laces, a family size espresso": "four glasses of a family ...")."""
    extras = _with_closing(text, words, suggestions, closing)
    if counted is None:
        return extras
    _likeness, phrase, begin, end, before_of = counted
    rest = text[words[end - 1][1] :]
    if not before_of:
        phrase += " of"
        rest = rest.lstrip(" ,")
        rest = " " + rest if rest else rest
    return (*extras, text[: words[begin][0]] + phrase + rest)


def _closing_like(
    heard: str, begin: int, best: tuple[float, str, int] | None
) -> tuple[float, str, int] | None:
    """The likelier of `best` and the closing that sounds most like `heard`."""
    if len(sound_key(heard)) < MIN_SAYABLE_KEY:
        return best
    for closing in CLOSINGS:
        likeness = sayable_likeness(heard, closing)
        if likeness >= SAYABLE_LIKENESS and (best is None or likeness > best[0]):
            best = (likeness, closing, begin)
    return best


def _with_closing(
    text: str,
    words: list[tuple[int, int]],
    suggestions: tuple[str, ...],
    closing: tuple[float, str, int] | None,
) -> tuple[str, ...]:
    """`suggestions`, and `text` with its words from the closing's first on replaced
    by the closing, when one sounded like them."""
    if closing is None:
        return suggestions
    _likeness, phrase, begin = closing
    return (*suggestions, text[: words[begin][0]] + phrase)


def _cased_as(heard: str, phrase: str) -> str:
    """`phrase` in the case of the words it replaces: the recogniser judges "four
    chocolate croissants" far likelier than "four Chocolate Croissants" where it
    wrote "four chocolate quasas" (its casing is part of what it heard)."""
    if heard.islower():
        return phrase.lower()
    if all(word[:1].isupper() for word in heard.split()):
        return " ".join(word[:1].upper() + word[1:] for word in phrase.split())
    return phrase


def _likeliest(likeness: dict[str, tuple[float, str]], limit: int) -> tuple[str, ...]:
    """The likeliest respellings, each phrase's best window before any phrase's second:
    a name that sounds like every window ("Hot Chocolate" for "chocolate", "four
    chocolate", "chocolate quasas") must not crowd out the next likeliest names."""
    ranked = sorted(likeness, key=lambda respelt: likeness[respelt][0], reverse=True)
    seen: set[str] = set()
    firsts: list[str] = []
    repeats: list[str] = []
    for respelt in ranked:
        phrase = likeness[respelt][1]
        (repeats if phrase in seen else firsts).append(respelt)
        seen.add(phrase)
    return tuple([*firsts, *repeats][:limit])


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
