"""`readback`: the cart as a sentence the till may speak or show (pure)."""

from collections.abc import Sequence
from dataclasses import dataclass

from src.voice.catalog.text import english_plural

_NUMBER_WORDS = """zero one two three four five six seven eight nine ten eleven twelve
    thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty""".split()  # noqa: SIM905
# Modifiers said before the item ("two large lattes"); the rest follow it.
_BEFORE_ITEM_GROUPS = frozenset({"size"})


@dataclass(frozen=True, slots=True)
class SpokenLine:
    """What a line reads as: its count, item name and modifier names with groups."""

    quantity: int
    name: str
    modifiers: Sequence[tuple[str, str | None]]  # (name, group)


def _count(quantity: int) -> str:
    return _NUMBER_WORDS[quantity] if quantity < len(_NUMBER_WORDS) else str(quantity)


def _spoken_name(name: str) -> str:
    """A menu name as it sits in a sentence: "Blueberry Muffin" -> "blueberry muffin",
    acronyms kept ("BLT Sandwich" -> "BLT sandwich")."""
    return " ".join(w if w[1:] != w[1:].lower() else w.lower() for w in name.split())


def _phrase(line: SpokenLine) -> str:
    before = [name.lower() for name, group in line.modifiers if group in _BEFORE_ITEM_GROUPS]
    after = [name.lower() for name, group in line.modifiers if group not in _BEFORE_ITEM_GROUPS]
    name = _spoken_name(line.name)
    item = name if line.quantity == 1 else english_plural(name)
    words = [_count(line.quantity) if line.quantity > 1 else _article(before, line.name)]
    words += [*before, item]
    text = " ".join(words)
    negative = [m for m in after if m.startswith(("no ", "without ", "not ", "less "))]
    positive = [m for m in after if m not in negative]
    if positive:
        text += " with " + _join(positive)
    if negative:
        text += ", " + ", ".join(negative)
    return text


def _article(before: list[str], name: str) -> str:
    first = (before[0] if before else name).lower()
    return "an" if first[:1] in tuple("aeiou") else "a"


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def readback(lines: Sequence[SpokenLine], total: str, sold_out: Sequence[str] = ()) -> str:
    """ "Two large lattes and a croissant. That's 10.50." plus, for items the last turn
    asked for that are sold out, "Sorry, the blueberry muffin is sold out." """
    sentences: list[str] = []
    if sold_out:
        names = _join([f"the {_spoken_name(name)}" for name in dict.fromkeys(sold_out)])
        verb = "is" if len(set(sold_out)) == 1 else "are"
        sentences.append(f"Sorry, {names} {verb} sold out.")
    if lines:
        said = _join([_phrase(line) for line in lines])
        sentences.append(said[:1].upper() + said[1:] + ".")
        sentences.append(f"That's {total}.")
    else:
        sentences.append("Your order is empty.")
    return " ".join(sentences)
