"""Typed orders made from templates, for measuring the parser on sentences it was
never tuned on.

    python -m tests.eval.generate_orders [--per-catalog N] [--seed S] > orders.jsonl

Cases follow `../shared/eval`'s format (id, catalog, text, tags, expected lines,
`unmatched_nonempty`), over the three shared catalogs and one of our own
(`tests/data/deli_catalog.json`). Each case draws its phenomena at random: number
forms and idioms, names and aliases, plurals and containers, modifiers before and
after the item, after a comma or in "make it ...", split quantities, corrections,
fillers, off-menu items and typos made by one edit operation. `split_of` halves the
cases by a hash of the id: tune on one half, report the other.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).parents[1] / "data"
CATALOGS = ("cafe", "fastfood", "vietcafe", "deli")

NUMBER_WORDS = (  # noqa: SIM905 (a word list reads better as text)
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen twenty"
).split()
SIZES = {"SMALL", "MEDIUM", "LARGE"}
# Modifiers no line takes together (one size, one milk, one sugar level ...).
EXCLUSIVE = (
    SIZES,
    {"OAT_MILK", "SOY_MILK"},
    {"NO_ICE", "LESS_ICE"},
    {"NO_SUGAR", "LESS_SUGAR"},
    {"EXTRA_CHILI", "NO_CHILI", "HOT_PEPPERS"},
)
# Which modifiers go with which categories of item, per catalog.
APPLIES: dict[str, dict[str, set[str]]] = {
    "cafe": {
        "coffee": {
            "SMALL",
            "MEDIUM",
            "LARGE",
            "OAT_MILK",
            "SOY_MILK",
            "EXTRA_SHOT",
            "DECAF",
            "EXTRA_HOT",
            "WHIPPED_CREAM",
            "NO_SUGAR",
        },
        "tea": {"SMALL", "MEDIUM", "LARGE", "OAT_MILK", "SOY_MILK", "NO_SUGAR", "EXTRA_HOT"},
        "other": {"SMALL", "MEDIUM", "LARGE", "NO_ICE", "NO_SUGAR", "WHIPPED_CREAM"},
        "pastry": {"WARMED"},
        "sandwich": {"WARMED"},
    },
    "fastfood": {
        "burger": {"NO_ONIONS", "NO_PICKLES", "EXTRA_CHEESE", "NO_MAYO", "NO_LETTUCE", "NO_TOMATO"},
        "chicken": {"NO_MAYO", "NO_LETTUCE", "NO_TOMATO", "EXTRA_CHEESE", "BBQ_SAUCE", "RANCH"},
        "fish": {"NO_MAYO", "EXTRA_CHEESE", "NO_LETTUCE"},
        "side": {"SMALL", "MEDIUM", "LARGE", "NO_SALT", "RANCH", "BBQ_SAUCE"},
        "drink": {"SMALL", "MEDIUM", "LARGE", "NO_ICE"},
        "dessert": {"SMALL", "LARGE"},
        "combo": {"MEDIUM", "LARGE", "NO_ONIONS", "NO_PICKLES"},
    },
    "vietcafe": {
        "coffee": {"LESS_SUGAR", "NO_SUGAR", "LESS_ICE", "NO_ICE", "LARGE", "CONDENSED_MILK"},
        "tea": {"LESS_SUGAR", "NO_SUGAR", "LESS_ICE", "NO_ICE", "LARGE"},
        "drink": {"LESS_SUGAR", "NO_SUGAR", "LESS_ICE", "NO_ICE", "LARGE"},
        "banh_mi": {"EXTRA_EGG", "EXTRA_MEAT", "NO_CILANTRO", "EXTRA_CHILI", "NO_CHILI"},
        "noodles": {"EXTRA_MEAT", "NO_CILANTRO", "EXTRA_CHILI", "NO_CHILI", "LARGE"},
        "rice": {"EXTRA_EGG", "EXTRA_MEAT"},
        "starter": {"EXTRA_CHILI"},
        "dessert": {"LESS_SUGAR"},
    },
    "deli": {
        "pizza": {
            "SMALL",
            "LARGE",
            "EXTRA_CHEESE",
            "GLUTEN_FREE",
            "THIN_CRUST",
            "NO_OLIVES",
            "MUSHROOMS",
            "HOT_PEPPERS",
        },
        "sub": {"EXTRA_CHEESE", "HOT_PEPPERS", "MUSHROOMS"},
        "salad": {"DRESSING_SIDE", "NO_OLIVES"},
        "side": {"EXTRA_CHEESE"},
        "soup": {"LARGE", "SMALL"},
        "drink": {"NO_ICE", "LARGE"},
        "dessert": set(),
    },
}
CONTAINERS = {
    "coffee": ("cup",),
    "tea": ("cup", "glass"),
    "drink": ("glass", "bottle", "cup"),
    "other": ("glass", "cup"),
    "side": ("order",),
    "noodles": ("bowl",),
    "rice": ("plate",),
    "soup": ("bowl", "cup"),
    "salad": ("bowl",),
}
# Things no catalog here sells, said as customers say them.
OFF_MENU = (
    "pumpkin pie",
    "bubble tea",
    "hot dog",
    "sushi roll",
    "taco",
    "lobster roll",
    "chicken wings",
    "burrito",
    "ramen",
    "pad thai",
    "fish tacos",
    "kombucha",
)
OPENERS = (
    "",
    "",
    "",
    "can I get",
    "I'd like",
    "I'll have",
    "could I get",
    "let me get",
    "give me",
    "we'll have",
    "um, can I get",
    "hi, I'd like",
    "yeah, can I have",
    "I want",
    "can we get",
    "I'll take",
    "could we have",
    "hey, can I get",
    "so I'll have",
    "I need",
)
JOINERS = (
    " and ",
    ", ",
    ", and ",
    " and ",
    " plus ",
    " and also ",
    ", oh and ",
    " and uh ",
    ", and then ",
    ", um, ",
    " and a side of ",
)
CLOSERS = (
    "",
    "",
    "",
    " please",
    ", thanks",
    ", thank you",
    ", that's all",
    ", that's it",
    " please, thank you",
    " for here",
    " to go, please",
)
# First words that make a modifier phrase stand after its item ("no onions").
AFTER_ONLY = {
    "no",
    "without",
    "hold",
    "not",
    "less",
    "light",
    "a",
    "more",
    "add",
    "with",
    "half",
    "dressing",
    "side",
    "it",
    "khong",
    "không",
    "them",
    "thêm",
    "ít",
}
# Last words of modifier phrases that name a thing ("oat milk"): "with ..." reads well.
NOUN_ENDS = {
    "milk",
    "cream",
    "cheese",
    "sauce",
    "ranch",
    "bbq",
    "barbecue",
    "dressing",
    "dip",
    "whip",
    "egg",
    "meat",
    "schmear",
    "shot",
    "mushrooms",
    "peppers",
    "crust",
    "flakes",
    "soy",
    "oat",
}


@dataclass
class Line:
    """One expected order line and the words that say it."""

    sku: str
    quantity: int
    modifiers: set[str] = field(default_factory=set)


@dataclass
class Case:
    """The sentence under construction and what it should order."""

    parts: list[str] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    unmatched: bool = False


class Catalog:
    """A catalog's items and modifiers, with the words a generator may say them by."""

    def __init__(self, name: str, *, spoken: bool = False) -> None:
        raw = json.loads((DATA / f"{name}_catalog.json").read_text(encoding="utf-8"))
        self.name = name
        # Said aloud by an English voice: English names and modifiers only.
        self.spoken = spoken
        self.items: list[dict[str, Any]] = raw["items"]
        self.modifiers = {m["code"]: m for m in raw["modifiers"]}
        self.applies = APPLIES[name]

    def item_surfaces(self, item: dict[str, Any], rng: random.Random) -> tuple[str, bool]:
        """A name or alias of `item` (lower case mostly), and whether it is an alias."""
        aliases = [a for a in item["aliases"] if "#" not in a and "number" not in a]
        if self.spoken and self.name == "vietcafe":
            aliases = []
        if aliases and rng.random() < 0.35:
            return rng.choice(aliases), True
        name = item["name"]
        return (name.lower() if rng.random() < 0.8 else name), False

    def modifier_surface(self, code: str, rng: random.Random) -> str:
        """A name or alias of modifier `code`."""
        modifier = self.modifiers[code]
        options = [modifier["name"], *modifier["aliases"]]
        if self.name == "vietcafe" and (self.spoken or rng.random() < 0.7):
            options = [o for o in options if o.isascii() and not _vietnamese(o)] or options
        return rng.choice(options)

    def modifiers_for(self, item: dict[str, Any], rng: random.Random, most: int) -> set[str]:
        """Up to `most` modifiers that suit `item`, at most one of each exclusive group."""
        allowed = [
            c for c in sorted(self.applies.get(item.get("category", ""), ())) if c in self.modifiers
        ]
        rng.shuffle(allowed)
        chosen: set[str] = set()
        for code in allowed:
            if len(chosen) >= most:
                break
            if any(code in group and chosen & group for group in EXCLUSIVE):
                continue
            chosen.add(code)
        return chosen


def _vietnamese(text: str) -> bool:
    return any(w in text.split() for w in ("it", "khong", "them", "ly", "lon", "da", "ot"))


def plural(phrase: str) -> str:
    """English plural of a phrase's last word (Vietnamese and mass words unchanged)."""
    words = phrase.split()
    last = words[-1]
    lower = last.lower()
    if (
        _vietnamese(phrase)
        or not last.isascii()
        or lower
        in {"fries", "knots", "rolls", "nuggets", "cannoli", "tiramisu", "gelato", "espresso"}
    ):
        if lower == "espresso":
            words[-1] = last + "s"
        return " ".join(words)
    if lower.endswith("s") and not lower.endswith("ss"):
        pass  # already plural: fries, noodles
    elif lower.endswith(("s", "x", "ch", "sh")):
        words[-1] = last + "es"
    elif lower.endswith("y") and lower[-2:-1] not in "aeiou":
        words[-1] = last[:-1] + "ies"
    elif lower == "mi" or lower[-1] in "0123456789":
        pass
    else:
        words[-1] = last + "s"
    return " ".join(words)


def quantity_words(quantity: int, rng: random.Random, starts_with_vowel: bool) -> str:
    """`quantity` said in one of the ways customers say it."""
    if quantity == 1:
        article = "an" if starts_with_vowel else "a"
        return rng.choice([article, "one", "1", article, ""])
    forms = [str(quantity)]
    if quantity < len(NUMBER_WORDS):
        forms += [NUMBER_WORDS[quantity]] * 2
    if quantity == 2:
        forms += ["a couple of", "a couple", "a pair of"]
    if quantity == 12:
        forms += ["a dozen"] * 3
    if quantity == 6:
        forms += ["half a dozen", "a half dozen"]
    return rng.choice(forms)


def typo(word: str, rng: random.Random) -> str:
    """`word` with one edit: a letter dropped, doubled, swapped with the next or replaced."""
    i = rng.randrange(1, len(word) - 1)
    operation = rng.choice(("drop", "double", "swap", "replace"))
    if operation == "drop":
        return word[:i] + word[i + 1 :]
    if operation == "double":
        return word[:i] + word[i] + word[i:]
    if operation == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    near = {"a": "e", "e": "a", "i": "e", "o": "u", "u": "o", "c": "k", "s": "z", "t": "d"}
    return word[:i] + near.get(word[i], word[i]) + word[i + 1 :]


class Generator:
    """Draws cases for one catalog."""

    def __init__(self, catalog: Catalog, rng: random.Random) -> None:
        self.catalog = catalog
        self.rng = rng
        self.vocabulary = {
            w.lower()
            for item in catalog.items
            for phrase in (item["name"], *item["aliases"])
            for w in phrase.split()
        } | {
            w.lower()
            for m in catalog.modifiers.values()
            for phrase in (m["name"], *m["aliases"])
            for w in phrase.split()
        }

    def item_phrase(self, line: Line, item: dict[str, Any], case: Case) -> str:
        """The words of one line: quantity, modifiers around the item's name."""
        rng = self.rng
        surface, alias = self.catalog.item_surfaces(item, rng)
        if alias:
            case.tags.add("alias")
        category = item.get("category", "")
        container = None
        if category in CONTAINERS and rng.random() < 0.15:
            container = rng.choice(CONTAINERS[category])
            case.tags.add("container")
        pre: list[str] = []
        post: list[str] = []
        make: list[str] = []
        for code in sorted(line.modifiers):
            words = self.catalog.modifier_surface(code, rng)
            first, last = words.split()[0].lower(), words.split()[-1].lower()
            after_only = first in AFTER_ONLY or not words.isascii()
            placement = rng.random()
            if code in SIZES and not after_only:
                target = pre if placement < 0.6 else (post if placement < 0.9 else make)
            elif after_only:
                target = post
            elif last in NOUN_ENDS:
                target = pre if placement < 0.35 else post
                if target is post and first not in {"extra", "double"}:
                    words = "with " + words if rng.random() < 0.7 else words
            else:
                target = pre if placement < 0.5 else (post if placement < 0.85 else make)
            target.append(words)
        if pre:
            case.tags.add("modifier_pre")
        if post:
            case.tags.add("modifier_post")
        if make:
            case.tags.add("make_it")
        name = surface
        if container:
            unit = container if line.quantity == 1 else plural(container)
            name = f"{unit} of {' '.join(pre)} {surface}".replace("  ", " ")
            pre = []
        elif line.quantity > 1:
            # Vietnamese names take no plural ending: "2 banh mi ga", not "gas".
            name = (
                plural(surface)
                if surface.lower() == item["name"].lower() or (self.catalog.name != "vietcafe")
                else surface
            )
            case.tags.add("plural")
        head = " ".join([*pre, name])
        qty = quantity_words(line.quantity, rng, head[:1].lower() in "aeiou")
        if qty and not qty[0].isdigit() and qty not in {"a", "an", "one"}:
            case.tags.add("qty_idiom" if " " in qty else "qty_word")
        elif qty[:1].isdigit():
            case.tags.add("qty_digit")
        if rng.random() < 0.08 and qty:
            qty = rng.choice(("uh ", "um ")) + qty
            case.tags.add("hesitation")
        words = " ".join(w for w in (qty, head) if w)
        if post:
            glue = rng.choice((", ", " ", " and ")) if len(post) > 1 else rng.choice((", ", " "))
            joined = post[0] if len(post) == 1 else ", ".join(post[:-1]) + glue + post[-1]
            words += rng.choice((", ", " ")) + joined
        if make:
            words += ", make it " + " ".join(make)
        return words

    def typo_in(self, text: str, case: Case) -> str:
        """`text` with one item word misspelt (one that no catalog phrase uses)."""
        words = text.split(" ")
        spots = [
            i
            for i, w in enumerate(words)
            if len(w) >= 5 and w.isalpha() and w.lower() in self.vocabulary
        ]
        if not spots:
            return text
        i = self.rng.choice(spots)
        for _ in range(5):
            wrong = typo(words[i], self.rng)
            if wrong.lower() not in self.vocabulary and wrong != words[i]:
                words[i] = wrong
                case.tags.add("typo")
                break
        return " ".join(words)

    def split_quantity(self, case: Case) -> str:
        """ "two lattes, one with oat milk and one decaf" and its kin."""
        rng = self.rng
        items = [i for i in self.catalog.items if len(self.catalog.modifiers_for(i, rng, 2)) >= 2]
        item = rng.choice(items)
        first, second = sorted(self.catalog.modifiers_for(item, rng, 2))
        if any({first, second} <= group for group in EXCLUSIVE) or rng.random() < 0.4:
            total = rng.choice((2, 3, 4))
            kinds = [Line(item["sku"], total - 1), Line(item["sku"], 1, {first})]
            said = rng.choice(
                (
                    f"one of them {self._mod_words(first)}",
                    f"one {self._mod_words(first)}",
                    f"make one of them {self._mod_words(first)}",
                )
            )
        else:
            total = 2
            kinds = [Line(item["sku"], 1, {first}), Line(item["sku"], 1, {second})]
            other = rng.choice(("one", "the other", "the other one"))
            said = f"one {self._mod_words(first)} and {other} {self._mod_words(second)}"
        surface, alias = self.catalog.item_surfaces(item, rng)
        qty = quantity_words(total, rng, False)
        case.lines.extend(kinds)
        case.tags.add("split_quantity")
        named = plural(surface) if self.catalog.name != "vietcafe" or not alias else surface
        return f"{qty} {named}, {said}"

    def _mod_words(self, code: str) -> str:
        words = self.catalog.modifier_surface(code, self.rng)
        first, last = words.split()[0].lower(), words.split()[-1].lower()
        if first not in AFTER_ONLY and last in NOUN_ENDS and first not in {"extra", "double"}:
            return "with " + words
        return words

    def case(self) -> Case:
        """One case."""
        rng = self.rng
        case = Case()
        spoken = self.catalog.spoken
        # Spoken orders are a breath long: fewer lines and modifiers.
        count = rng.choices((1, 2, 3, 4), weights=(5, 4, 1, 0) if spoken else (4, 4, 2, 1))[0]
        chosen = rng.sample(self.catalog.items, count)
        phrases: list[str] = []
        for item in chosen:
            quantity = rng.choices((1, 2, 3, 4, 5, 6, 10, 12), weights=(8, 6, 4, 2, 1, 1, 1, 1))[0]
            modifiers = self.catalog.modifiers_for(
                item, rng, rng.choices((0, 1, 2, 3), (6, 4, 1, 0) if spoken else (5, 4, 2, 1))[0]
            )
            line = Line(item["sku"], quantity, modifiers)
            phrase = self.item_phrase(line, item, case)
            if rng.random() < 0.07:  # the customer corrects the quantity
                new = rng.choice([q for q in (1, 2, 3, 4) if q != quantity])
                phrase += rng.choice((", no wait, ", ", sorry, ", ", I mean ", ", no, make that "))
                phrase += NUMBER_WORDS[new] if rng.random() < 0.7 else str(new)
                line.quantity = new
                case.tags.add("correction_qty")
            case.lines.append(line)
            phrases.append(phrase)
        if rng.random() < 0.1:
            phrases.insert(rng.randrange(len(phrases) + 1), self.split_quantity(case))
        if rng.random() < 0.08:
            thing = rng.choice(OFF_MENU)
            phrases.insert(rng.randrange(len(phrases) + 1), f"a {thing}")
            case.unmatched = True
            case.tags.add("unknown_item")
        text = phrases[0]
        for phrase in phrases[1:]:
            text += rng.choice(JOINERS) + phrase
        opener = rng.choice(OPENERS)
        text = f"{opener} {text}".strip() + rng.choice(CLOSERS)
        if rng.random() < 0.15 and not spoken:
            text = self.typo_in(text, case)
        if rng.random() < 0.2:
            text = text[0].upper() + text[1:] + "."
        case.parts = [text]
        return case


def expected_items(lines: list[Line]) -> list[dict[str, Any]]:
    """Lines merged by sku and modifiers, as the scorer compares them."""
    merged: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for line in lines:
        merged[(line.sku, tuple(sorted(line.modifiers)))] += line.quantity
    return [
        {"sku": sku, "quantity": quantity, "modifiers": list(mods)}
        for (sku, mods), quantity in sorted(merged.items())
    ]


def generate(per_catalog: int, seed: int, *, spoken: bool = False) -> list[dict[str, Any]]:
    """`per_catalog` cases for each catalog, the same for the same seed. `spoken`:
    orders to be said aloud (shorter, English words only, no typos)."""
    cases = []
    prefix = "gen-spoken" if spoken else "gen"
    for name in CATALOGS:
        generator = Generator(Catalog(name, spoken=spoken), random.Random(f"{seed}-{name}"))
        for number in range(per_catalog):
            case = generator.case()
            text = case.parts[0]
            cases.append(
                {
                    "id": f"{prefix}-{name}-{number:04d}",
                    "catalog": name,
                    "text": text,
                    "tags": sorted(case.tags),
                    "lang": "en",
                    "typo": "typo" in case.tags,
                    "expected": {
                        "items": expected_items(case.lines),
                        "unmatched_nonempty": case.unmatched,
                    },
                    "audio": {"tts_text": text, "ref_text": text},
                }
            )
    return cases


def split_of(case_id: str) -> str:
    """ "tune" or "held": a fixed half of the cases by a hash of the id."""
    return "held" if hashlib.md5(case_id.encode()).digest()[0] % 2 else "tune"


def main() -> None:
    """Write generated cases as JSON lines to stdout."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-catalog", type=int, default=150)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--spoken", action="store_true", help="orders to be said aloud")
    args = parser.parse_args()
    for case in generate(args.per_catalog, args.seed, spoken=args.spoken):
        sys.stdout.write(json.dumps(case, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
