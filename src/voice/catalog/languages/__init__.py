"""Language packs: the words of ordering in one language, as data.

The parser's structure (quantity, classifier, item, modifiers, joiners, corrections,
removals) is the same in every language; a pack says which words play each part.
English's words live in the parser itself; every other language is a JSON file here
(`vi.json`), so a third language is a data file and its tests, not parser code.
Words are written as customers type them; they are folded (lowercase, no diacritics)
as the parser folds what it reads, because input often arrives without tone marks.
"""

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from src.voice.catalog.text import canon, fold

HERE = Path(__file__).parent
DEFAULT_LANGUAGES = ("en",)


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(fold(word) for word in text.split())


@dataclass(frozen=True)
class LanguagePack:
    """The ordering words of one or more languages (folded)."""

    # Number words: units (1-9 and the like), tens words that multiply what comes
    # before them and add what follows ("hai mươi lăm" = 25, "mười hai" = 12), and
    # units said only after a ten ("lăm" = 5).
    units: dict[str, int] = field(default_factory=dict)
    tens: frozenset[str] = frozenset()
    units_after_ten: dict[str, int] = field(default_factory=dict)
    # Counting words between a number and the dish ("hai ly trà đá"): never items.
    classifiers: frozenset[str] = frozenset()
    # Greetings, vocatives, particles, ordering verbs: no order content.
    fillers: frozenset[str] = frozenset()
    # Words and phrases that join two dishes, a correction, a removal.
    separators: tuple[tuple[str, ...], ...] = ()
    corrections: tuple[tuple[str, ...], ...] = ()
    removals: tuple[tuple[str, ...], ...] = ()
    # Short forms typed in chat, to the words they stand for ("ko" -> "không").
    short_forms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Removes the line of the dish that follows ("bỏ cà phê"), only when one follows.
    removal_words: frozenset[str] = frozenset()
    # Modifier words to the English a catalog may name them in ("lớn" -> "large"):
    # tried when the catalog has no phrase of its own there.
    translations: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)
    # Spellings typists confuse (x/s, tr/ch at a word's start, ng/n at its end): a
    # name typed with one is still found ("bạc sỉu" for "bạc xỉu").
    initial_confusions: tuple[tuple[str, str], ...] = ()
    final_confusions: tuple[tuple[str, str], ...] = ()
    # Words told apart only by their diacritics from a word that means something else
    # once folded ("à", an interjection, is not the article "a"): replaced as typed.
    before_folding: dict[str, str] = field(default_factory=dict)
    # Letters only this language writes: a catalog named with them speaks it.
    letters: frozenset[str] = frozenset()

    def number_at(self, words: list[str], i: int) -> tuple[int, int] | None:
        """(value, words consumed) of a number said in this pack's words at `i`."""
        first = words[i]
        n = len(words)
        value: int | None = None
        used = 0
        if first in self.units:
            value, used = self.units[first], 1
        if i + used < n and words[i + used] in self.tens:
            # [unit] ten [unit]: "mười" 10, "hai mươi" 20, "mười lăm" 15, "hai chục" 20.
            tens_value = 10 * (value if value is not None else 1)
            used += 1
            rest = words[i + used] if i + used < n else None
            if rest is not None and (unit := self._unit_after_ten(rest)) is not None:
                return tens_value + unit, used + 1
            return tens_value, used
        return (value, used) if value is not None else None

    def _unit_after_ten(self, word: str) -> int | None:
        if word in self.units_after_ten:
            return self.units_after_ten[word]
        value = self.units.get(word)
        return value if value is not None and 0 < value < 10 else None

    def translation_at(self, words: list[str], i: int) -> tuple[tuple[str, ...], int] | None:
        """(the English words, words consumed) of a translated phrase at `i`, longest
        first."""
        for length in (3, 2, 1):
            found = self.translations.get(tuple(words[i : i + length]))
            if found is not None and i + length <= len(words):
                return found, length
        return None

    def plain_spelling(self, word: str) -> str:
        """`word` with the confusable spellings made one ("xiu" and "siu" -> "siu")."""
        for written, meant in self.initial_confusions:
            if word.startswith(written):
                word = meant + word[len(written) :]
                break
        for written, meant in self.final_confusions:
            if word.endswith(written):
                word = word[: -len(written)] + meant
                break
        return word

    def expand(self, word: str) -> tuple[str, ...] | None:
        """The words a short form stands for, if `word` is one."""
        return self.short_forms.get(word)


def _phrases(texts: list[str], before_folding: dict[str, str]) -> tuple[tuple[str, ...], ...]:
    """Each phrase folded, and also as typed with diacritics, where a word replaced
    before folding ("à" -> "ah") reads differently."""
    found: list[tuple[str, ...]] = []
    for text in texts:
        for variant in (_phrase(text), tuple(
            before_folding.get(word, fold(word)) for word in text.split()
        )):  # fmt: skip
            if variant not in found:
                found.append(variant)
    return tuple(found)


@lru_cache(maxsize=16)
def _load(code: str) -> LanguagePack:
    data = json.loads((HERE / f"{code}.json").read_text(encoding="utf-8"))
    before = {word: fold(value) for word, value in data.get("before_folding", {}).items()}
    return LanguagePack(
        units={fold(word): value for word, value in data.get("units", {}).items()},
        tens=frozenset(fold(word) for word in data.get("tens", [])),
        units_after_ten={fold(w): v for w, v in data.get("units_after_ten", {}).items()},
        classifiers=frozenset(fold(word) for word in data.get("classifiers", [])),
        fillers=frozenset(
            variant
            for word in data.get("fillers", [])
            for variant in (fold(word), canon(fold(word)))
        ),
        separators=_phrases(data.get("separators", []), before),
        corrections=_phrases(data.get("corrections", []), before),
        removals=_phrases(data.get("removals", []), before),
        short_forms={fold(k): _phrase(v) for k, v in data.get("short_forms", {}).items()},
        removal_words=frozenset(fold(word) for word in data.get("removal_words", [])),
        initial_confusions=tuple(
            (fold(a), fold(b)) for a, b in data.get("confusions", {}).get("initial", [])
        ),
        final_confusions=tuple(
            (fold(a), fold(b)) for a, b in data.get("confusions", {}).get("final", [])
        ),
        translations={_phrase(k): _phrase(v) for k, v in data.get("translations", {}).items()},
        before_folding=before,
        letters=frozenset(data.get("letters", "")),
    )


def available_languages() -> tuple[str, ...]:
    """The languages a catalog may declare: English and every pack here."""
    return ("en", *sorted(path.stem for path in HERE.glob("*.json")))


def inferred_languages(names: list[str]) -> tuple[str, ...]:
    """A catalog's languages when it does not say: English, and each language whose
    own letters its names use (Vietnamese: ơ, ư, ă, đ, ...)."""
    found = ["en"]
    text = "".join(names).lower()
    for code in available_languages()[1:]:
        letters = _load(code).letters
        if letters and any(ch in letters for ch in text):
            found.append(code)
    return tuple(found)


@lru_cache(maxsize=32)
def pack_for(languages: tuple[str, ...]) -> LanguagePack:
    """The packs of `languages` merged (English's words are the parser's own)."""
    packs = [_load(code) for code in languages if code != "en"]
    return LanguagePack(
        units={k: v for p in packs for k, v in p.units.items()},
        tens=frozenset(w for p in packs for w in p.tens),
        units_after_ten={k: v for p in packs for k, v in p.units_after_ten.items()},
        classifiers=frozenset(w for p in packs for w in p.classifiers),
        fillers=frozenset(w for p in packs for w in p.fillers),
        separators=tuple(s for p in packs for s in p.separators),
        corrections=tuple(s for p in packs for s in p.corrections),
        removals=tuple(s for p in packs for s in p.removals),
        short_forms={k: v for p in packs for k, v in p.short_forms.items()},
        removal_words=frozenset(w for p in packs for w in p.removal_words),
        initial_confusions=tuple(c for p in packs for c in p.initial_confusions),
        final_confusions=tuple(c for p in packs for c in p.final_confusions),
        translations={k: v for p in packs for k, v in p.translations.items()},
        before_folding={k: v for p in packs for k, v in p.before_folding.items()},
    )
