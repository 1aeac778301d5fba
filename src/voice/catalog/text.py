"""Text normalisation shared by the catalog index and the parser (pure functions)."""

import re
import unicodedata
from dataclasses import dataclass

_TOKEN = re.compile(r"[#\w][\w'’#]*|&|[,.;!?]")
_APOSTROPHES = str.maketrans({"’": "", "'": ""})
# Letters NFKD does not decompose.
_FOLD = str.maketrans({"đ": "d", "Đ": "d", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe"})
PUNCTUATION = frozenset(",.;!?")


def accented(text: str) -> str:
    """Lowercase with diacritics kept, words single-spaced ("Bánh  Bơ" -> "bánh bơ")."""
    words = [match.group().lower() for match in _TOKEN.finditer(text)]
    return " ".join(w for w in words if w not in PUNCTUATION)


def fold(text: str) -> str:
    """Lowercase and strip diacritics: "Cà Phê Sữa Đá" -> "ca phe sua da"."""
    text = text.translate(_FOLD).lower()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def canon(word: str) -> str:
    """A singular, spelling-tolerant key for a folded word ("lattes" -> "latte").

    Applied to catalog names and to what customers say alike, so a rough rule is
    enough as long as it is the same on both sides.
    """
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes", "oes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us")):
        return word[:-1]
    # Past participles name the same thing as their stem ("iced tea" / "ice tea",
    # "warmed" / "warm"), which is also what speech recognisers tend to write.
    if len(word) > 3 and word.endswith("ced"):
        return word[:-1]
    if len(word) > 5 and word.endswith("ed") and not word.endswith("eed"):
        return word[:-2]
    return word


@dataclass(frozen=True, slots=True)
class Token:
    """One word or punctuation mark with its place in the original text."""

    text: str  # folded
    key: str  # canonical form used for lookups
    start: int
    end: int
    typed: str = ""  # lowercase as typed, diacritics kept (tells "bò" from "bơ")

    @property
    def is_punct(self) -> bool:
        return self.text in PUNCTUATION

    @property
    def is_plural(self) -> bool:
        return self.key != self.text and self.text.endswith("s")


def english_plural(name: str) -> str:
    """An English name in the plural: "Latte" -> "Lattes", "Sandwich" -> "Sandwiches",
    "Smoothie" -> "Smoothies", "Berry" -> "Berries"; a name ending in "s" as it is."""
    lowered = name.lower()
    if lowered.endswith("s"):
        return name
    if lowered.endswith(("ch", "sh", "x", "z")):
        return name + "es"
    if lowered.endswith("y") and lowered[-2:-1] not in tuple("aeiou"):
        return name[:-1] + "ies"
    return name + "s"


# English number words and their values (the parser reads counts with them too).
NUMBER_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
NUMBER_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_AS_DIGITS = {word: str(value) for word, value in {**NUMBER_UNITS, **NUMBER_TENS}.items()}
_AS_WORD = {digits: word for word, digits in _AS_DIGITS.items()}
_NUMBER = re.compile(r"(?<![#\w])(?:\d+|" + "|".join(_AS_DIGITS) + r")\b", re.IGNORECASE)


def numbers_respelt(text: str) -> str | None:
    """`text` with each number in it written the other way ("sixteen inch" -> "16 inch",
    "7 Up" -> "seven Up"): a catalog that names one form is asked for in both. None when
    it has no number that has another form."""

    def other(found: re.Match[str]) -> str:
        word = found.group()
        return _AS_DIGITS.get(word.lower()) or _AS_WORD.get(word, word)

    respelt = _NUMBER.sub(other, text)
    return respelt if respelt != text else None


def tokenize(text: str) -> list[Token]:
    """Split into folded word and punctuation tokens, keeping character offsets."""
    tokens: list[Token] = []
    for match in _TOKEN.finditer(text):
        word = fold(match.group()).translate(_APOSTROPHES)
        if word == "&":
            word = "and"
        start, end = match.span()
        tokens.append(Token(word, canon(word), start, end, match.group().lower()))
    return tokens
