"""The turn engine alone: utterance + cart + catalog index -> actions and the new cart.

The phrasings here were written apart from the development dialogues (other verbs,
idioms and openings for the same operations) and the engine was not tuned on them:
they check that it reads operations, not sentences.
"""

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src.voice.catalog.index import CatalogIndex
from src.voice.sessions.cart import Cart
from src.voice.sessions.turns import HeardTurn, read_turn
from tests.conftest import DATA


def _index(name: str) -> CatalogIndex:
    catalog: dict[str, Any] = json.loads((DATA / f"{name}_catalog.json").read_text())
    return CatalogIndex.build(
        [(i["sku"], i["name"], i.get("aliases", [])) for i in catalog["items"]],
        [
            (m["code"], m["name"], m.get("aliases", []), m.get("group"))
            for m in catalog["modifiers"]
        ],
    )


CAFE = _index("cafe")
FASTFOOD = _index("fastfood")


def _play(index: CatalogIndex, *turns: str) -> tuple[Cart, list[Any]]:
    cart = Cart()
    outcomes = []
    for n, text in enumerate(turns):
        outcome = read_turn(text, cart, index, turn_id=f"t{n}")
        cart = outcome.cart
        outcomes.append(outcome)
    return cart, outcomes


def _lines(cart: Cart) -> list[tuple[str, int, tuple[str, ...]]]:
    return sorted((ln.sku, ln.quantity, tuple(sorted(ln.modifiers))) for ln in cart.lines)


START = "two lattes and a blueberry muffin"


@pytest.mark.parametrize(
    ("turn", "expected"),
    [
        # remove
        ("get rid of the muffin", [("LATTE", 2, ())]),
        ("lose the blueberry muffin please", [("LATTE", 2, ())]),
        ("could you delete the muffin", [("LATTE", 2, ())]),
        ("I changed my mind, no muffin", [("LATTE", 2, ())]),
        ("minus one latte", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 1, ())]),
        ("drop one of the lattes", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 1, ())]),
        ("one fewer latte", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 1, ())]),
        # quantity
        ("bump the lattes up to four", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 4, ())]),
        ("make it two muffins", [("BLUEBERRY_MUFFIN", 2, ()), ("LATTE", 2, ())]),
        ("add another muffin", [("BLUEBERRY_MUFFIN", 2, ()), ("LATTE", 2, ())]),
        ("I'll take one more latte", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 3, ())]),
        ("three lattes, not two", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 3, ())]),
        # modifiers
        ("could the lattes be large", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 2, ("LARGE",))]),
        ("put oat milk in the lattes", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 2, ("OAT_MILK",))]),
        ("can you warm up the muffin", [("BLUEBERRY_MUFFIN", 1, ("WARMED",)), ("LATTE", 2, ())]),
        # replace
        ("switch the muffin to a scone", [("LATTE", 2, ()), ("SCONE", 1, ())]),
        (
            "replace the lattes with cappuccinos",
            [("BLUEBERRY_MUFFIN", 1, ()), ("CAPPUCCINO", 2, ())],
        ),
        ("instead of the muffin I'll have a brownie", [("BROWNIE", 1, ()), ("LATTE", 2, ())]),
        # clear, undo
        ("scrap the whole order", []),
        ("let's start from scratch", []),
        ("take that back", []),
    ],
)
def test_operations_said_other_ways(turn: str, expected: list[Any]) -> None:
    cart, _ = _play(CAFE, START, turn)
    assert _lines(cart) == expected


@pytest.mark.parametrize(
    "turn",
    ["that'll be all", "I'm all set, thanks", "that should do it", "nope, that's everything"],
)
def test_done_said_other_ways(turn: str) -> None:
    cart, outcomes = _play(CAFE, START, turn)
    assert outcomes[-1].done
    assert _lines(cart) == [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 2, ())]


def test_the_contract_examples() -> None:
    cart, outcomes = _play(
        CAFE,
        "a latte and a croissant",
        "make that three and add a blueberry muffin",
        "make it large",
        "change the croissant to a scone",
        "no whipped cream on the muffin",
    )
    # "that" is the croissant (added last), "it" the muffin (added last).
    assert _lines(cart) == [
        ("BLUEBERRY_MUFFIN", 1, ("LARGE",)),
        ("LATTE", 1, ()),
        ("SCONE", 3, ()),
    ]
    ops = [[a.op for a in outcome.actions] for outcome in outcomes]
    assert ops[1] == ["set_quantity", "add"]
    assert ops[3] == ["replace"]


def test_a_phrase_that_is_a_modifier_adds_it_and_the_longest_name_wins() -> None:
    cart, _ = _play(FASTFOOD, "a cheeseburger and onion rings", "no pickles on the cheeseburger")
    assert ("CHEESEBURGER", 1, ("NO_PICKLES",)) in _lines(cart)
    cart, _ = _play(FASTFOOD, "a cheeseburger and onion rings", "no onion rings")
    assert _lines(cart) == [("CHEESEBURGER", 1, ())]


def test_replace_keeps_quantity_and_modifiers_unless_named() -> None:
    cart, _ = _play(CAFE, "two large lattes with oat milk", "change the lattes to mochas")
    assert _lines(cart) == [("MOCHA", 2, ("LARGE", "OAT_MILK"))]
    cart, _ = _play(CAFE, "two large lattes", "change the lattes to three cappuccinos")
    assert _lines(cart) == [("CAPPUCCINO", 3, ("LARGE",))]


def test_undo_takes_back_a_whole_turn_and_a_second_goes_further() -> None:
    cart, outcomes = _play(
        CAFE, "a latte", "remove the latte and add two scones", "undo", "undo that"
    )
    assert [a.op for a in outcomes[2].actions] == ["undo"]
    assert _lines(cart) == []
    cart, _ = _play(CAFE, "a latte", "two scones", "undo")
    assert _lines(cart) == [("LATTE", 1, ())]


def test_adding_the_same_item_merges_other_modifiers_make_a_line() -> None:
    cart, outcomes = _play(CAFE, "a latte", "another latte with soy milk", "and a latte")
    assert _lines(cart) == [("LATTE", 1, ("SOY_MILK",)), ("LATTE", 2, ())]
    assert outcomes[2].actions[0].line_id == "l1"


def test_it_means_the_line_last_added_or_changed() -> None:
    cart, _ = _play(CAFE, "a latte and a scone", "make the latte large", "make it three")
    assert _lines(cart) == [("LATTE", 3, ("LARGE",)), ("SCONE", 1, ())]


def test_unavailable_items_are_never_added() -> None:
    cart = Cart()
    outcome = read_turn(
        "a latte and a blueberry muffin",
        cart,
        CAFE,
        turn_id="t0",
        unavailable=frozenset({"BLUEBERRY_MUFFIN"}),
    )
    assert _lines(outcome.cart) == [("LATTE", 1, ())]
    assert outcome.unavailable == ("Blueberry Muffin",)
    assert outcome.needs_review


@pytest.mark.parametrize("text", ["", "   ", "?!", "a" * 2000, "the the the", "undo"])
def test_any_text_reads_without_error_and_changes_nothing_it_does_not_understand(text: str) -> None:
    outcome = read_turn(text, Cart(), CAFE, turn_id="t0")
    assert outcome.cart.lines == ()


def test_readback_reads_the_cart_as_a_sentence() -> None:
    from src.voice.sessions.readback import SpokenLine, readback

    lines = [
        SpokenLine(2, "Latte", [("large", "size"), ("oat milk", "milk")]),
        SpokenLine(1, "BLT Sandwich", []),
        SpokenLine(3, "Glazed Donut", [("no sugar", "sugar")]),
        SpokenLine(1, "Espresso", []),
    ]
    assert readback(lines, "21.40", ["Blueberry Muffin"]) == (
        "Sorry, the blueberry muffin is sold out. Two large lattes with oat milk, a BLT "
        "sandwich, three glazed donuts, no sugar and an espresso. That's 21.40."
    )
    assert readback([], "0.00") == "Your order is empty."


_VOCABULARY = sorted(
    {w for key in CAFE.phrases for w in key}
    | {"no", "not", "the", "it", "that", "make", "change", "to", "instead", "of", "remove"}
    | {"take", "off", "more", "less", "one", "two", "undo", "all", "and", ",", "with", "onions"}
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(_VOCABULARY), max_size=12), min_size=1, max_size=5))
def test_word_soup_never_raises_and_keeps_the_cart_valid(turns: list[list[str]]) -> None:
    cart = Cart()
    for n, words in enumerate(turns):
        outcome = read_turn(" ".join(words), cart, CAFE, turn_id=f"t{n}")
        cart = outcome.cart
        for line in cart.lines:
            assert line.sku in CAFE.items and 0 < line.quantity <= 999
            assert all(m in CAFE.modifiers for m in line.modifiers)
        assert len({line.line_id for line in cart.lines}) == len(cart.lines)


@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        ("okay, make that free", [("LATTE", 3, ())]),
        ("Make it for, please", [("LATTE", 4, ())]),
        ("free more lattes", [("LATTE", 5, ())]),
        ("Sorry, and do that.", []),
        ("Start it over.", []),
    ],
)
def test_what_a_recogniser_writes_for_a_command(heard: str, expected: list[Any]) -> None:
    cart = read_turn("two lattes", Cart(), CAFE, turn_id="t0").cart
    outcome = read_turn(heard, cart, CAFE, turn_id="t1", spoken=True)
    assert _lines(outcome.cart) == expected


def test_the_reading_that_reads_best_against_the_cart_is_taken() -> None:
    from src.voice.sessions.turns import choose_turn_reading

    cart = read_turn("two lattes", Cart(), CAFE, turn_id="t0").cart
    text, outcome = choose_turn_reading(
        ["make that tree pleas sir", "make that three please"], cart, CAFE, turn_id="t1"
    )
    assert text == "make that three please"
    assert _lines(outcome.cart) == [("LATTE", 3, ())]


# A second set, written later and apart from the first; first run 32/41 (see
# docs/BENCHMARKS.md). "it"/"those" follow the contract: the line touched last.
@pytest.mark.parametrize(
    ("turn", "expected"),
    [
        ("actually I don't need the muffin", [("LATTE", 2, ())]),
        ("no muffin after all", [("LATTE", 2, ())]),
        ("hold the muffin", [("LATTE", 2, ())]),
        ("can you take away the muffin", [("LATTE", 2, ())]),
        ("I'll skip the lattes", [("BLUEBERRY_MUFFIN", 1, ())]),
        ("just one latte please", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 1, ())]),
        ("can I have three lattes instead", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 3, ())]),
        ("let's do four lattes", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 4, ())]),
        ("up the lattes to three", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 3, ())]),
        ("throw in two more muffins", [("BLUEBERRY_MUFFIN", 3, ()), ("LATTE", 2, ())]),
        ("take one latte away", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 1, ())]),
        ("large for the lattes please", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 2, ("LARGE",))]),
        ("I'd rather have a scone than the muffin", [("LATTE", 2, ()), ("SCONE", 1, ())]),
        ("replace the muffin with a cinnamon roll", [("CINNAMON_ROLL", 1, ()), ("LATTE", 2, ())]),
        ("make those cappuccinos instead", [("CAPPUCCINO", 1, ()), ("LATTE", 2, ())]),
        ("cancel my whole order", []),
        ("wait, undo that", []),
    ],
)
def test_operations_said_yet_other_ways(turn: str, expected: list[Any]) -> None:
    cart, _ = _play(CAFE, START, turn)
    assert _lines(cart) == expected


def test_a_number_heard_as_do_after_not() -> None:
    cart = read_turn("three lattes", Cart(), CAFE, turn_id="t0").cart
    outcome = read_turn("Sorry, two lattes, not do.", cart, CAFE, turn_id="t1", spoken=True)
    assert _lines(outcome.cart) == [("LATTE", 2, ())]


FASTFOOD_START = "a bacon cheeseburger, two orders of fries and a sprite"


# A third set, over another catalog; first run 23/25 (the two misses: "actually I want
# three fries", now a correction of the number, and "spring rolls", which is two items).
@pytest.mark.parametrize(
    ("turn", "expected"),
    [
        ("lose one of the fries", {"FRIES": 1}),
        ("swap the sprite for a diet coke", {"DIET_COKE": 1, "SPRITE": 0}),
        ("drop the sprite and add a lemonade", {"LEMONADE": 1, "SPRITE": 0}),
        ("give me another burger", {"BACON_CHEESEBURGER": 2}),
        ("change the fries to curly fries", {"CURLY_FRIES": 2, "FRIES": 0}),
        ("actually I want three fries", {"FRIES": 3}),
        ("remove the burger and the sprite", {"BACON_CHEESEBURGER": 0, "SPRITE": 0}),
    ],
)
def test_fast_food_turns(turn: str, expected: dict[str, int]) -> None:
    cart, _ = _play(FASTFOOD, FASTFOOD_START, turn)
    counts = {"BACON_CHEESEBURGER": 1, "FRIES": 2, "SPRITE": 1, **expected}
    assert _lines(cart) == sorted((sku, n, ()) for sku, n in counts.items() if n)


def test_a_name_that_fits_two_items_is_asked_about_not_guessed() -> None:
    vietcafe = _index("vietcafe")
    cart, outcomes = _play(vietcafe, "a beef pho", "and two spring rolls, that is all")
    assert _lines(cart) == [("PHO_BO", 1, ())]
    assert outcomes[-1].done and outcomes[-1].needs_review
    assert outcomes[-1].unmatched


@pytest.mark.parametrize(
    "turn", ["all done", "I'm all done, thanks", "good to go", "that completes my order"]
)
def test_more_ways_to_finish(turn: str) -> None:
    assert _play(CAFE, START, turn)[1][-1].done


@pytest.mark.parametrize("turn", ["never mind the muffin", "I changed my mind about the muffin"])
def test_never_mind_an_item_removes_it(turn: str) -> None:
    cart, _ = _play(CAFE, START, turn)
    assert _lines(cart) == [("LATTE", 2, ())]


# A fourth set of harder idioms; first run 18/24.
@pytest.mark.parametrize(
    ("turn", "expected"),
    [
        ("bring the lattes down to one", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 1, ())]),
        ("knock off one latte", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 1, ())]),
        ("double the lattes", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 4, ())]),
        ("substitute a scone for the muffin", [("LATTE", 2, ()), ("SCONE", 1, ())]),
        ("swap out the muffin for a scone", [("LATTE", 2, ()), ("SCONE", 1, ())]),
        ("take back the muffin", [("LATTE", 2, ())]),
        ("bring me another latte", [("BLUEBERRY_MUFFIN", 1, ()), ("LATTE", 3, ())]),
        ("scrap that", []),
    ],
)
def test_harder_idioms(turn: str, expected: list[Any]) -> None:
    cart, _ = _play(CAFE, START, turn)
    assert _lines(cart) == expected


def test_a_spoken_turn_gets_counts_for_its_uncounted_items() -> None:
    # The first reading leaves "blurgh" unread; the second is the turn's best.
    readings = ["um add blurgh", "add well lattes please"]
    challenge = HeardTurn(Cart(), CAFE, frozenset()).recounts(readings)
    assert challenge.source == "add well lattes please"
    assert challenge.respoken[0] == "add twelve lattes please"
    outcome = read_turn(challenge.respoken[0], Cart(), CAFE, turn_id="t0", spoken=True)
    assert [(line.sku, line.quantity) for line in outcome.cart.lines] == [("LATTE", 12)]
    # An item said with nothing before it may have lost its count altogether.
    bare = HeardTurn(Cart(), CAFE, frozenset()).recounts(["add lattes and a scone"])
    assert bare.added[1] == "add three lattes and a scone"
    # A turn whose items all have a count gets none.
    counted = HeardTurn(Cart(), CAFE, frozenset()).recounts(["add two lattes"])
    assert (counted.respoken, counted.added) == ((), ())


def test_a_spoken_turn_is_heard_again_until_a_reading_reads_cleanly() -> None:
    turn = HeardTurn(Cart(), CAFE, frozenset())
    assert not turn.accepts(["um add blurgh"])
    assert not turn.accepts([])
    # A slower listen's reading joins the first; the turn now reads cleanly.
    assert turn.accepts(["um add blurgh", "add two lattes"])
    # Against the cart: "that's all" ends the turn, which does something.
    assert HeardTurn(Cart(), CAFE, frozenset()).accepts(["that's all"])
