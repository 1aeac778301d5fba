"""Readings the catalog suggests for words a recogniser garbled (no audio here: which
suggestion the audio bears out is tests/voice/speech/test_rehearing.py)."""

from collections.abc import Sequence
from typing import Any

import pytest

from src.voice.catalog.index import CatalogIndex
from src.voice.orders import respelling
from src.voice.orders.parser import parse_order, reads_as_order
from src.voice.orders.respelling import RESPELLINGS, HeardOrder, respellings
from tests.conftest import catalog_index_of

CAFE = catalog_index_of("cafe")
VIET = catalog_index_of("vietcafe")
FASTFOOD = catalog_index_of("fastfood")


def test_a_garbled_modifier_gets_the_menu_phrase_that_sounds_like_it() -> None:
    heard = "I'll have a big coconut coffee, light ice, less wheat please"
    source, suggestions = respellings([heard], VIET)
    assert source == heard
    assert "I'll have a big coconut coffee, light ice, less sweet please" in suggestions
    # Only the words around what was left unread change.
    assert all(s.startswith("I'll have a big coconut coffee, ") for s in suggestions)


def test_a_garbled_name_is_respelt_with_the_words_before_it() -> None:
    _source, suggestions = respellings(
        ["Can I have two chicken sandwich convost thanks?"], FASTFOOD
    )
    assert "Can I have two chicken sandwich combos thanks?" in suggestions
    respelt = parse_order("Can I have two chicken sandwich combos thanks?", FASTFOOD, spoken=True)
    assert [(line.sku, line.quantity) for line in respelt.lines] == [("COMBO_CHICKEN", 2)]


def test_items_are_suggested_in_the_plural_too() -> None:
    _source, suggestions = respellings(["and also two warm butter quasas please, thank you"], CAFE)
    assert any("butter croissant" in s.lower() for s in suggestions)
    _source, suggestions = respellings(["can we get to Iced and a glazed donut"], CAFE)
    assert "can we get to Iced Teas and a glazed donut" in suggestions


def test_suggestions_take_the_case_of_the_words_they_replace() -> None:
    # tiny.en scores "four chocolate croissants" where it wrote "four chocolate quasas"
    # 0.47 below its own reading, "four Chocolate Croissants" 1.39 below: its casing
    # is part of what it heard.
    _source, suggestions = respellings(["and also two warm butter quasas please"], CAFE)
    assert "and also two warm butter croissants please" in suggestions
    assert not any("Croissant" in s for s in suggestions)
    # An alias the catalog writes in lower case, where the recogniser wrote capitals.
    _source, suggestions = respellings(["Two warm Butter Quasas please"], CAFE)
    assert "Two warm Butter Croissants please" in suggestions


def test_one_name_that_sounds_like_every_window_does_not_crowd_out_the_rest() -> None:
    # "hot chocolate" sounds like "chocolate", "four chocolate", "chocolate quasas",
    # ...: each phrase comes once before any phrase comes twice.
    _source, suggestions = respellings(["We'll have four chocolate quasas please"], CAFE)
    assert len(suggestions) == RESPELLINGS
    singular = [s for s in suggestions if "hot chocolate " in s]
    plural = [s for s in suggestions if "hot chocolates" in s]
    assert len(singular) <= 1 and len(plural) <= 1
    assert any("chocolate chip cookies" in s for s in suggestions)


def test_a_plural_heard_ranks_the_plural_name_first() -> None:
    _source, suggestions = respellings(["and also two warm butter quasas please"], CAFE)
    plural = suggestions.index("and also two warm butter croissants please")
    singular = "and also two warm butter croissant please"
    assert singular not in suggestions or suggestions.index(singular) > plural


def test_a_reading_with_every_word_read_gets_no_suggestion() -> None:
    assert respellings(["two large lattes and a scone"], CAFE) == (
        "two large lattes and a scone",
        (),
    )


def test_the_best_reading_is_the_one_respelt() -> None:
    # The second reading leaves fewer words unread, so it is the one the order
    # parser would choose and the one suggestions are made from.
    source, suggestions = respellings(
        ["grumble lattes and a color powder", "two lattes and a color powder"], CAFE
    )
    assert source == "two lattes and a color powder"
    assert suggestions
    assert all(s.startswith("two ") for s in suggestions)


def test_words_are_never_only_dropped_around_a_name_already_heard() -> None:
    heard = "one avocado smoothie, no sugar, large eggs, a beef noodle soup, please"
    _source, suggestions = respellings([heard], VIET)
    assert suggestions, "the unread word gets suggestions"
    heard_words = heard.replace(",", "").split()
    for suggestion in suggestions:
        words = iter(heard_words)
        # Not the words heard with some of them left out.
        assert not all(word in words for word in suggestion.replace(",", "").split())


def test_suggestions_are_few_and_distinct() -> None:
    _source, suggestions = respellings(["could I get a color powder and a muffin"], CAFE)
    assert 0 < len(suggestions) <= RESPELLINGS
    assert len(set(suggestions)) == len(suggestions)


def test_words_that_sound_like_nothing_on_the_menu_get_no_suggestion() -> None:
    assert respellings(["zzz"], CAFE) == ("zzz", ())
    assert CAFE.phrases_sounding_like("zzz", limit=6) == []


def test_phrases_sounding_like_ranks_by_sound_and_spelling() -> None:
    found = CAFE.phrases_sounding_like("iced t", limit=3)
    assert found[0][1] in ("Iced Tea", "Iced Teas")
    assert all(0.5 <= likeness <= 1.0 for likeness, _ in found)
    assert [likeness for likeness, _ in found] == sorted(
        (likeness for likeness, _ in found), reverse=True
    )


def test_a_long_reading_against_a_big_menu_compares_within_a_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = catalog_index_of("cafe")
    looked_up: list[str] = []
    lookup = index.phrases_sounding_like

    def counted(text: str, *, limit: int) -> list[tuple[float, str]]:
        looked_up.append(text)
        return lookup(text, limit=limit)

    monkeypatch.setattr(index, "phrases_sounding_like", counted)
    monkeypatch.setattr(respelling, "COMPARISON_BUDGET", 10 * index.sayable_phrases)
    garbled = " ".join(["grumble quasar flimsy"] * 40)  # 120 words, none on the menu
    _source, suggestions = respellings([garbled], index)
    assert len(looked_up) == 10
    assert len(suggestions) <= RESPELLINGS


def test_the_engines_two_questions_parse_each_set_of_readings_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[tuple[str, ...]] = []
    parse = respelling.best_reading

    def counted(readings: Sequence[str], index: CatalogIndex) -> Any:
        parsed.append(tuple(readings))
        return parse(readings, index)

    monkeypatch.setattr(respelling, "best_reading", counted)
    garbled = ("I'll have a big coconut coffee, light ice, less wheat please",)
    heard = HeardOrder(VIET)
    assert heard.accepts(garbled) is reads_as_order(garbled, VIET) is False
    assert heard.respellings(garbled) == respellings(garbled, VIET)
    assert parsed.count(garbled) == 2  # once for HeardOrder, once for respellings()
    clean = ("two large lattes and a scone",)
    assert HeardOrder(CAFE).accepts(clean) is reads_as_order(clean, CAFE) is True


def test_unread_words_that_end_a_reading_may_be_how_the_order_ended() -> None:
    heard = "I'd like three chocolate shakes, big net salt"
    _source, suggestions = respellings([heard], FASTFOOD)
    # The menu's phrase and the closing both get heard again; the audio decides.
    assert "I'd like three chocolate shakes, big no salt" in suggestions
    assert suggestions[-1] == "I'd like three chocolate shakes, big that's all"
    assert len(suggestions) <= RESPELLINGS + 1
    assert [
        line.modifiers for line in parse_order(suggestions[-1], FASTFOOD, spoken=True).lines
    ] == [("LARGE",)]


def test_a_closing_is_only_suggested_at_the_end() -> None:
    _source, suggestions = respellings(["two sweet teas net salt and a cheeseburger"], FASTFOOD)
    assert suggestions
    assert not any("that's all" in s for s in suggestions)


def test_a_count_said_with_a_container_is_suggested_for_words_before_of() -> None:
    # "four glasses of" heard as "forward lasses of", "a dozen cups" as "a dozen cuts".
    deli = catalog_index_of("deli")
    heard = "can we get forward lasses of San Pellegrino, no ice, 5 Chicken Parm subs please"
    _source, suggestions = respellings([heard], deli)
    respelt = "can we get four glasses of San Pellegrino, no ice, 5 Chicken Parm subs please"
    assert suggestions[-1] == respelt
    assert [
        (line.sku, line.quantity, line.modifiers)
        for line in parse_order(respelt, deli, spoken=True).lines
    ] == [("SAN_PELLEGRINO", 4, ("NO_ICE",)), ("CHICKEN_PARM", 5, ())]
    _source, suggestions = respellings(["I'll have a dozen cuts of vanilla latte"], CAFE)
    assert "I'll have a dozen cups of vanilla latte" in suggestions
    # Words a pause follows get their "of" with the container, when they sound very
    # like one; words that sound a little like one get nothing.
    _source, suggestions = respellings(["two lattes and Dotto Glasses, a lemonade"], CAFE)
    assert "two lattes and two glasses of a lemonade" in suggestions
    _source, suggestions = respellings(["I'd like three chocolate shakes, big net salt"], FASTFOOD)
    assert not any(" of" in s for s in suggestions)
