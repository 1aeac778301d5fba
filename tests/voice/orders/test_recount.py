"""Counts suggested for items a reading orders with none said (no audio here: which
suggestion the audio bears out is tests/voice/speech/test_recount_audio.py)."""

from src.voice.catalog.index import CatalogIndex
from src.voice.orders.parser import parse_order, uncounted_items
from src.voice.orders.recount import (
    ADDED_COUNT_ITEMS,
    ADDED_COUNTS,
    RECOUNTS,
    counts_added,
    recounted,
)
from src.voice.orders.respelling import HeardOrder
from tests.conftest import catalog_index_of

CAFE = catalog_index_of("cafe")
DELI = catalog_index_of("deli")
VIETCAFE = catalog_index_of("vietcafe")
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


def test_words_before_a_pause_the_recogniser_heard_before_the_name_are_recounted() -> None:
    # A small recogniser hears "twelve" as the filler "well" and writes a comma after it.
    suggestions = recounted("I'll take well, kids meals, supersize", FASTFOOD)
    assert suggestions[0] == "I'll take twelve kids meals, supersize"
    assert _lines(suggestions[0], FASTFOOD) == [("KIDS_MEAL", 12)]
    # Only that one pause: words before an earlier one are another phrase.
    suggestions = recounted("sure, and well, lemonade", FASTFOOD)
    assert suggestions[0] == "sure, and twelve lemonades"
    assert all(s.startswith("sure, ") for s in suggestions)


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
    challenge = HeardOrder(FASTFOOD).recounts(readings)
    assert challenge.source == "and well lemonade"
    assert challenge.respoken == recounted(challenge.source, FASTFOOD)
    assert challenge.respoken
    # "well" may also have been a filler, with the count unheard after it.
    assert challenge.added == counts_added(challenge.source, FASTFOOD)
    assert challenge.added[0] == "and well two lemonades"


def test_a_bare_item_gets_small_counts_put_before_it() -> None:
    heard = "Let me get Chicken Baguette, and then Fried Egg Baguette, extra egg, that's it"
    added = counts_added(heard, VIETCAFE)
    # The first ADDED_COUNT_ITEMS bare items, each with every count, in the plural.
    assert len(added) == ADDED_COUNT_ITEMS * len(ADDED_COUNTS)
    assert (
        "Let me get three Chicken Baguettes, and then Fried Egg Baguette, extra egg, that's it"
        in added
    )
    assert (
        "Let me get Chicken Baguette, and then three Fried Egg Baguettes, extra egg, that's it"
        in added
    )
    assert _lines(added[-2], VIETCAFE) == [("BANH_MI_GA", 1), ("BANH_MI_OP_LA", 3)]
    # The modifiers said before the name stay with it.
    assert counts_added("large lemonade", FASTFOOD)[0] == "two large lemonades"
    # An item that opens the reading after fillers, or follows a pause, is bare too.
    assert "two cheeseburgers, lemonade" in counts_added("cheeseburger, lemonade", FASTFOOD)
    assert "cheeseburger, two lemonades" in counts_added("cheeseburger, lemonade", FASTFOOD)


def test_items_with_something_said_before_them_get_no_count_added() -> None:
    # A count, an article, a correction, a removal or words that may be a count.
    for heard in (
        "two lemonades",
        "a lemonade",
        "a cheeseburger, sorry, lemonades",
        "a cheeseburger but no fries",
        "a cheeseburger and blurgh lemonade",
    ):
        assert counts_added(heard, FASTFOOD) == (), heard
    # The unread word gets counts said in its place instead.
    assert recounted("a cheeseburger and blurgh lemonade", FASTFOOD)
