"""Counts suggested for items a reading orders with none said (no audio here: which
suggestion the audio bears out is tests/voice/speech/test_recount_audio.py)."""

from src.voice.catalog.index import CatalogIndex
from src.voice.orders.parser import parse_order, uncounted_items
from src.voice.orders.recount import RECOUNTS, recounted
from src.voice.orders.respelling import HeardOrder
from tests.conftest import catalog_index_of

CAFE = catalog_index_of("cafe")
DELI = catalog_index_of("deli")
FASTFOOD = catalog_index_of("fastfood")


def _lines(text: str, index: CatalogIndex) -> list[tuple[str, int]]:
    return [(line.sku, line.quantity) for line in parse_order(text, index, spoken=True).lines]


def test_words_before_an_uncounted_item_are_said_as_the_counts_they_sound_like() -> None:
    heard = "I want three cheeseburger combos, and well lemonade, no ice, thank you"
    suggestions = recounted(heard, FASTFOOD)
    assert suggestions[0] == (
        "I want three cheeseburger combos, and twelve lemonades, no ice, thank you"
    )
    assert _lines(suggestions[0], FASTFOOD) == [("COMBO_CHEESEBURGER", 3), ("LEMONADE", 12)]
    # Only the words before the lemonade change, and the name takes the plural.
    assert all(s.startswith("I want three cheeseburger combos, and ") for s in suggestions)
    assert all(s.endswith(" lemonades, no ice, thank you") for s in suggestions)


def test_a_name_goes_into_the_plural_the_english_way() -> None:
    suggestions = recounted("So I'll have do chicken, Parmesan Sub, that's it", DELI)
    assert "So I'll have two chicken, Parmesan Subs, that's it" in suggestions
    sandwiches = recounted("give me well turkey pesto sandwich", CAFE)
    assert any(s.endswith(" turkey pesto sandwiches") for s in sandwiches), sandwiches


def test_a_plural_after_a_is_recounted_from_the_article_on() -> None:
    suggestions = recounted("could we have a cup of blueberry muffins", CAFE)
    assert suggestions[0] == "could we have a couple of blueberry muffins"
    assert _lines(suggestions[0], CAFE) == [("BLUEBERRY_MUFFIN", 2)]
    assert recounted("could we have a blueberry muffin", CAFE) == ()
    # A name that is itself a plural is one order after "a".
    assert recounted("and a curly fries please", FASTFOOD) == ()


def test_items_with_a_count_said_get_no_suggestion() -> None:
    assert recounted("two lemonades and 3 cheeseburger combos", FASTFOOD) == ()
    assert recounted("a pair of lemonades", FASTFOOD) == ()
    # A correction carries the count: "two lattes, sorry, cappuccinos" is two.
    assert recounted("two lattes, sorry, cappuccinos", CAFE) == ()
    assert _lines("two lattes, sorry, cappuccinos", CAFE) == [("CAPPUCCINO", 2)]


def test_words_across_a_pause_or_read_as_something_are_left_alone() -> None:
    # Nothing but a comma before the lemonade; the cheeseburger opens the reading.
    assert recounted("cheeseburger, lemonade", FASTFOOD) == ()
    # "large" is read (a size): the words before it are the ones recounted.
    items = uncounted_items("can I get large lemonade", FASTFOOD)
    assert len(items) == 1
    heard = "can I get large lemonade"
    assert [heard[start : items[0].phrase_start] for start in items[0].word_starts] == [
        "get ",
        "I get ",
    ]
    assert all(" large lemonades" in s for s in recounted(heard, FASTFOOD))


def test_suggestions_are_few_and_distinct() -> None:
    heard = "well lemonade and do cheeseburger and fore sweet tea and when vanilla shake"
    suggestions = recounted(heard, FASTFOOD)
    assert 0 < len(suggestions) <= RECOUNTS
    assert len(set(suggestions)) == len(suggestions)
    assert heard not in suggestions


def test_the_best_reading_is_the_one_recounted() -> None:
    # The first leaves "a blurgh" unread; the second reads cleanly and is the best.
    readings = ["well lemonade and a blurgh", "and well lemonade"]
    source, suggestions = HeardOrder(FASTFOOD).recounts(readings)
    assert source == "and well lemonade"
    assert suggestions == recounted(source, FASTFOOD)
    assert suggestions
