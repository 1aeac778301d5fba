"""`CatalogIndex`: a catalog prepared for parsing, built once per catalog version."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jellyfish
from rapidfuzz import process
from rapidfuzz.distance import Indel

from src.voice.catalog.candidates import Candidates
from src.voice.catalog.languages import pack_for
from src.voice.catalog.text import accented, english_plural, numbers_respelt, tokenize

ITEM = "item"
MODIFIER = "modifier"
# A phrase with its numbers written the other way scores this much below the phrase.
NUMBER_RESPELT_PENALTY = 0.01

# Names that make a modifier part of a mutually exclusive group, when the catalog
# does not say: a correction ("sorry, large") replaces within the group.
_GROUP_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("size", frozenset({"small", "medium", "large", "regular", "big", "tall", "grande", "venti"})),
    ("sugar", frozenset({"sugar", "sweet", "unsweetened", "sweetened"})),
    ("ice", frozenset({"ice", "iced"})),
    ("chili", frozenset({"chili", "chilli", "spicy", "mild"})),
    ("milk", frozenset({"oat", "soy", "almond", "whole", "skim", "coconut", "dairy"})),
)


def infer_modifier_group(code: str, name: str) -> str | None:
    """Guess the exclusive group of a modifier from its code and name."""
    words = set(code.lower().replace("-", "_").split("_")) | set(name.lower().split())
    if "extra" in words or "condensed" in words:
        return None
    for group, vocabulary in _GROUP_WORDS:
        if words & vocabulary:
            return group
    return None


@dataclass(frozen=True, slots=True)
class Entry:
    """A catalog item or modifier as the parser sees it."""

    kind: str  # ITEM | MODIFIER
    code: str  # sku or modifier code
    name: str
    group: str | None = None


@dataclass(frozen=True, slots=True)
class PhraseMatch:
    entry: Entry
    length: int  # tokens consumed
    score: float  # 1.0 exact name, slightly less for an alias, less again for fuzzy
    phrase: tuple[str, ...] = ()  # the catalog phrase matched, as keys


@dataclass
class CatalogIndex:
    """Phrases (names and aliases, normalised) to catalog entries."""

    phrases: dict[tuple[str, ...], tuple[Entry, float]] = field(default_factory=dict)
    max_length: int = 1
    first_words: frozenset[str] = frozenset()
    vocabulary: frozenset[str] = frozenset()
    # Each word of the names as written and as its key, to its key ("warmed": "warm").
    spellings: dict[str, str] = field(default_factory=dict)
    items: dict[str, Entry] = field(default_factory=dict)
    modifiers: dict[str, Entry] = field(default_factory=dict)
    # Each item's words over its name and aliases: what "the muffin" is matched against.
    item_words: dict[str, frozenset[str]] = field(default_factory=dict)
    # Phrases that fold to one key but name different entries ("bánh bò", "bánh bơ"):
    # each as spelt (accented), its entry and score, for the parser to choose by.
    homographs: dict[tuple[str, ...], list[tuple[str, Entry, float]]] = field(default_factory=dict)
    # The languages the catalog's customers order in (see catalog.languages).
    languages: tuple[str, ...] = ("en",)
    # Phrases with the spellings their languages' typists confuse made one (see
    # LanguagePack.plain_spelling): a second chance for a name typed so.
    plain_phrases: dict[tuple[str, ...], tuple[Entry, float]] = field(default_factory=dict)
    _choices: Candidates = field(default_factory=lambda: Candidates([]))
    _vocabulary: Candidates | None = None
    _choice_keys: list[tuple[str, ...]] = field(default_factory=list)
    # Each phrase as written and its metaphone with the spaces removed (sounds_like()).
    _spoken: dict[tuple[str, ...], str] = field(default_factory=dict)
    # Each phrase as spelt, lowercase with its diacritics (for homographs).
    _typed: dict[tuple[str, ...], str] = field(default_factory=dict)
    _sounds: Candidates | None = None
    # One-word item phrases by their sound key (short_item_by_sound), made on first use.
    _item_sounds: dict[str, list[tuple[str, ...]]] | None = None
    # Each phrase as the catalog writes it ("Iced Tea", "cafe latte").
    _written: dict[tuple[str, ...], str] = field(default_factory=dict)
    # What a recogniser may have meant (phrases_sounding_like): each phrase as written,
    # items also as plurals, beside its sound key and spelling, made on first use.
    _sayable: tuple[list[str], list[str], list[str]] | None = None

    @classmethod
    def build(
        cls,
        items: list[tuple[str, str, list[str]]],
        modifiers: list[tuple[str, str, list[str], str | None]],
        languages: tuple[str, ...] = ("en",),
    ) -> "CatalogIndex":
        """Index `(sku, name, aliases)` items and `(code, name, aliases, group)` modifiers.

        On a phrase claimed twice, an item beats a modifier and a name beats an alias.
        """
        index = cls(languages=languages)
        for code, name, aliases, group in modifiers:
            entry = Entry(MODIFIER, code, name, group or infer_modifier_group(code, name))
            index.modifiers[code] = entry
            for phrase, score in ((name, 0.98), *((alias, 0.96) for alias in aliases)):
                index._add_with_numbers_respelt(phrase, entry, score)
        for position, (sku, name, aliases) in enumerate(items):
            if position % 16 == 15:
                # A big catalog is indexed in a worker thread: let the event loop,
                # waiting for the GIL, have it now and then.
                time.sleep(0)
            entry = Entry(ITEM, sku, name)
            index.items[sku] = entry
            for phrase, score in ((name, 0.99), *((alias, 0.97) for alias in aliases)):
                index._add_with_numbers_respelt(phrase, entry, score)
        words: dict[str, set[str]] = {}
        for key, (entry, _score) in index.phrases.items():
            if entry.kind == ITEM:
                words.setdefault(entry.code, set()).update(key)
        index.item_words = {sku: frozenset(found) for sku, found in words.items()}
        index.max_length = max((len(key) for key in index.phrases), default=1)
        index.first_words = frozenset(key[0] for key in index.phrases)
        index.vocabulary = frozenset(word for key in index.phrases for word in key)
        pack = pack_for(languages)
        if pack.initial_confusions or pack.final_confusions:
            for key, found in index.phrases.items():
                index.plain_phrases.setdefault(
                    tuple(pack.plain_spelling(word) for word in key), found
                )
        index._choice_keys = list(index.phrases)
        index._choices = Candidates([" ".join(key) for key in index._choice_keys])
        return index

    @property
    def comparisons_per_lookup(self) -> int:
        """Phrases one spelling- or sound-tolerant lookup of one window scores."""
        return max(1, self._choices.comparisons_per_lookup)

    def _add_with_numbers_respelt(self, text: str, entry: Entry, score: float) -> None:
        """`_add` the phrase, and again with its numbers in the other form (a little
        lower, so a phrase the catalog itself spells so wins): recognisers write "16
        inch" for the catalog's "sixteen inch", customers type either."""
        self._add(text, entry, score)
        if (respelt := numbers_respelt(text)) is not None:
            self._add(respelt, entry, score - NUMBER_RESPELT_PENALTY)

    def _add(self, text: str, entry: Entry, score: float) -> None:
        words = [token for token in tokenize(text) if not token.is_punct]
        key = tuple(token.key for token in words)
        if not key:
            return
        existing = self.phrases.get(key)
        if existing is not None:
            old_entry, old_score = existing
            if old_entry.kind == entry.kind and old_entry.code != entry.code:
                self._homograph(key, text, entry, score, existing)
            if old_entry.kind == ITEM and entry.kind == MODIFIER:
                return
            if old_entry.kind == entry.kind and old_score >= score:
                return
        self.phrases[key] = (entry, score)
        for token in words:
            self.spellings.setdefault(token.text, token.key)
            self.spellings.setdefault(token.key, token.key)
        self._typed[key] = accented(text)
        self._written[key] = " ".join(text.split())
        # Sound as written ("iced", not the key's "ice"): recognisers hear the "d".
        self._spoken[key] = " ".join(token.text for token in words)

    def _homograph(
        self,
        key: tuple[str, ...],
        text: str,
        entry: Entry,
        score: float,
        existing: tuple[Entry, float],
    ) -> None:
        # Only a spelling with its marks tells claimants apart: "banh bo" names either.
        claimants = self.homographs.setdefault(key, [])
        first, first_score = existing
        for spelling, claimant, claimant_score in (
            (self._typed[key], first, first_score),
            (accented(text), entry, score),
        ):
            if not spelling.isascii() and all(spelling != c[0] for c in claimants):
                claimants.append((spelling, claimant, claimant_score))

    def plain(self, keys: list[str], start: int, spell: Callable[[str], str]) -> PhraseMatch | None:
        """Longest phrase starting at `start` once confusable spellings are made one."""
        if not self.plain_phrases:
            return None
        for length in range(min(self.max_length, len(keys) - start), 0, -1):
            window = tuple(spell(word) for word in keys[start : start + length])
            found = self.plain_phrases.get(window)
            if found is not None:
                return PhraseMatch(found[0], length, found[1])
        return None

    def exact(self, keys: list[str], start: int) -> PhraseMatch | None:
        """Longest phrase starting at `start`."""
        if keys[start] not in self.first_words:
            return None
        for length in range(min(self.max_length, len(keys) - start), 0, -1):
            found = self.phrases.get(tuple(keys[start : start + length]))
            if found is not None:
                return PhraseMatch(found[0], length, found[1])
        return None

    def fuzzy(
        self, keys: list[str], start: int, *, cutoff: float, max_extra: int = 1
    ) -> PhraseMatch | None:
        """Best spelling-tolerant phrase starting at `start`, or None below `cutoff`.

        Windows of 1..max_length+max_extra words are compared with every phrase; a
        longer window wins only when it scores at least as well.
        """
        best: PhraseMatch | None = None
        longest = min(self.max_length + max_extra, len(keys) - start)
        for length in range(1, longest + 1):
            window = " ".join(keys[start : start + length])
            if len(window) < 4:
                continue
            if self._choices.comparisons_per_lookup >= YIELD_FROM_PHRASES:
                time.sleep(0)  # see YIELD_FROM_PHRASES
            found = self._choices.best(window, cutoff=cutoff)
            if found is None:
                continue
            position, similarity = found
            phrase = self._choice_keys[position]
            entry, base = self.phrases[phrase]
            score = base * similarity
            if best is None or score >= best.score:
                best = PhraseMatch(entry, length, score, phrase)
        return best

    def _words(self) -> Candidates:
        """The names' words as written and as keys, a spelling-lookup list made on
        first use."""
        if self._vocabulary is None:
            self._vocabulary = Candidates(sorted(self.spellings))
        return self._vocabulary

    def near_vocabulary(self, word: str, *, cutoff: float) -> bool:
        """Whether `word` is spelt like some word of a catalog name."""
        return self._words().best(word, cutoff=cutoff) is not None

    def respelling(self, word: str, *, edits: int) -> str | None:
        """The key of the one word of the catalog's names within `edits` edits of
        `word` as written or as keyed (a typo of it), or None when there is none or
        several words are as close."""
        closest: dict[str, int] = {}
        for text, distance in self._words().within_edits(word, edits):
            key = self.spellings[text]
            if len(text) >= 4 and distance < closest.get(key, edits + 1):
                closest[key] = distance
        if not closest:
            return None
        ranked = sorted(closest.items(), key=lambda found: found[1])
        if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
            return None  # "coke" or "cone"? The catalog cannot say.
        return ranked[0][0]

    def fuzzy_window(self, keys: list[str], *, cutoff: float) -> PhraseMatch | None:
        """The phrase closest in spelling to exactly these words, or None below `cutoff`."""
        found = self._choices.best(" ".join(keys), cutoff=cutoff)
        if found is None:
            return None
        position, similarity = found
        phrase = self._choice_keys[position]
        entry, base = self.phrases[phrase]
        return PhraseMatch(entry, len(keys), base * similarity, phrase)

    def sounds_like(
        self,
        words: list[str],
        start: int,
        *,
        cutoff: float,
        max_extra: int = 2,
        min_key: int = 0,
    ) -> PhraseMatch | None:
        """Best phrase that sounds like the words from `start`, or None below `cutoff`.

        For what a recogniser wrote by ear: split differently ("ice turmeric canos"
        for "iced americanos") or misheard ("eggs or cheese" for "extra cheese").
        `words` are as written (folded, not singularised, without punctuation:
        recognisers put commas at pauses, "eggs, or cheese"). Sound keys must be
        long enough to mean something, and the spelling must still be recognisably
        close and about as long. `min_key` lowers MIN_SOUND_KEY where the words around
        already make the match likely.
        """
        min_key = min_key or MIN_SOUND_KEY
        if self._sounds is None:  # made on first use: typed orders never need them
            self._sounds = Candidates([sound_key(self._spoken[key]) for key in self._choice_keys])
        sounds = self._sounds.strings
        best: PhraseMatch | None = None
        best_similarity = 0.0
        longest = min(self.max_length + max_extra, len(words) - start)
        for length in range(1, longest + 1):
            if self._sounds.comparisons_per_lookup >= YIELD_FROM_PHRASES:
                time.sleep(0)  # see YIELD_FROM_PHRASES
            window = "".join(words[start : start + length])
            sound = sound_key(window)
            if len(sound) < min_key:
                continue
            found = self._sounds.best(sound, cutoff=cutoff)
            if found is None:
                continue
            position, similarity = found
            if similarity <= best_similarity or len(sounds[position]) < min_key:
                continue
            written = self._spoken[self._choice_keys[position]].replace(" ", "")
            if Indel.normalized_similarity(window, written) < MIN_SOUND_SPELLING or min(
                len(window), len(written)
            ) < MIN_SOUND_LENGTH_RATIO * max(len(window), len(written)):
                continue
            entry, base = self.phrases[self._choice_keys[position]]
            best = PhraseMatch(entry, length, base * similarity * SOUND_PENALTY)
            best_similarity = similarity
        return best

    def short_item_by_sound(self, word: str) -> PhraseMatch | None:
        """The one-word item that `word`, a plural -s aside, sounds exactly like, with a
        spelling still close ("lats" for "lattes"); None if none or several do.

        For a short word after a number or an article, which `sounds_like` leaves
        alone: keys of three letters match too much by themselves, but a number before
        the word and an exact sound that only one item on the menu has make it a fair
        guess.
        """
        stem = word[:-1] if word.endswith("s") and len(word) > 3 else word
        if self._item_sounds is None:
            self._item_sounds = {}
            for key, spoken in self._spoken.items():
                if len(key) == 1 and self.phrases[key][0].kind == ITEM:
                    self._item_sounds.setdefault(sound_key(spoken), []).append(key)
        found: dict[str, PhraseMatch] = {}
        for key in self._item_sounds.get(sound_key(stem), ()):
            entry, base = self.phrases[key]
            if Indel.normalized_similarity(stem, self._spoken[key]) < MIN_SOUND_SPELLING:
                continue
            if entry.code not in found or base > found[entry.code].score:
                found[entry.code] = PhraseMatch(entry, 1, base * SHORT_SOUND_PENALTY, key)
        return next(iter(found.values())) if len(found) == 1 else None

    def phrases_sounding_like(self, text: str, *, limit: int) -> list[tuple[float, str]]:
        """The catalog phrases, as written, that sound most like `text`, best first,
        each with its likeness (0-1), at least SAYABLE_LIKENESS.

        For words a recogniser garbled ("less wheat", "butter quasas"): looser than
        `sounds_like`, since the audio, not this score, decides which phrase was said
        (speech.engine.SpeechModel.rehear). Items come in the plural too ("Iced Teas").
        Likeness is mostly by sound (metaphone keys), partly by spelling.
        """
        written, sounds, spellings = self._sayable_phrases()
        sound = sound_key(text)
        spelling = text.replace(" ", "").lower()
        if len(sound) < MIN_SAYABLE_KEY:
            return []
        # Sound alone shortlists (in C); the few left are scored with spelling too.
        shortlist = process.extract(
            sound,
            sounds,
            scorer=Indel.normalized_similarity,
            # Below this, even a perfect spelling leaves the likeness short.
            score_cutoff=(SAYABLE_LIKENESS - SAYABLE_SPELLING_WEIGHT)
            / (1 - SAYABLE_SPELLING_WEIGHT),
            limit=limit * 4,
        )
        scored = []
        for _sound, sound_likeness, position in shortlist:
            likeness = _sayable_likeness(
                sound_likeness, Indel.normalized_similarity(spelling, spellings[position])
            )
            if likeness >= SAYABLE_LIKENESS:
                scored.append((round(likeness, 4), written[position]))
        scored.sort(key=lambda found: -found[0])
        return scored[:limit]

    @property
    def sayable_phrases(self) -> int:
        """How many phrases one `phrases_sounding_like` lookup compares."""
        return max(1, len(self._sayable_phrases()[0]))

    def _sayable_phrases(self) -> tuple[list[str], list[str], list[str]]:
        if self._sayable is None:
            forms: dict[str, None] = {}
            for key, text in self._written.items():
                forms[text] = None
                if self.phrases[key][0].kind == ITEM and text.isascii():
                    forms[english_plural(text)] = None
            written = list(forms)
            self._sayable = (
                written,
                [sound_key(accented(text)) for text in written],
                [accented(text).replace(" ", "") for text in written],
            )
        return self._sayable


# A lookup in a catalog this big is parsed in a worker thread (orders.service), and
# each window's scan holds the GIL for a few milliseconds: between windows the event
# loop, waiting for it, gets it at once instead of after a switch interval.
YIELD_FROM_PHRASES = 2000
# Sound keys shorter than this ("WTS", "LTS") match far too much.
MIN_SOUND_KEY = 5
# "iceturmericanos" vs "icedamericano" is 0.79; unrelated words of similar sound are
# usually below 0.6.
MIN_SOUND_SPELLING = 0.6
# "extra" is not "extra egg": the heard words must be about as long as the name.
MIN_SOUND_LENGTH_RATIO = 0.75
# A match by sound ranks below one by spelling.
SOUND_PENALTY = 0.95
# A short word matched by sound after a number is a guess to review (short_item_by_sound).
SHORT_SOUND_PENALTY = 0.8
# phrases_sounding_like: the least likeness worth hearing again, the weight of
# spelling in it, and the shortest sound key compared ("but" is too little to go on).
SAYABLE_LIKENESS = 0.5
SAYABLE_SPELLING_WEIGHT = 0.3
MIN_SAYABLE_KEY = 2


def sayable_likeness(heard: str, phrase: str) -> float:
    """How much `heard` sounds like `phrase` (0-1), as `phrases_sounding_like` scores a
    catalog phrase: mostly by sound, partly by spelling."""
    return _sayable_likeness(
        Indel.normalized_similarity(sound_key(heard), sound_key(phrase)),
        Indel.normalized_similarity(
            heard.replace(" ", "").lower(), phrase.replace(" ", "").lower()
        ),
    )


def _sayable_likeness(sound_likeness: float, spelling_likeness: float) -> float:
    """Likeness mostly by sound, partly by spelling."""
    return (
        1 - SAYABLE_SPELLING_WEIGHT
    ) * sound_likeness + SAYABLE_SPELLING_WEIGHT * spelling_likeness


def sound_key(text: str) -> str:
    """Metaphone of the words run together: "ice turmeric canos" -> "ISTRMRKNS".

    Repeated sounds collapse: where one word ends and the next begins with the same
    sound ("turmeric canos") a speaker says it once.
    """
    sound = str(jellyfish.metaphone(text.replace(" ", "")))
    return "".join(ch for k, ch in enumerate(sound) if k == 0 or sound[k - 1] != ch)
