"""Vietnamese orders through the Vietnamese language pack: numbers, classifiers,
particles, short forms, corrections, removals, sizes said in Vietnamese, with and
without diacritics, composed or decomposed. Sentences written for these tests (not
taken from the evaluation sets), over the two Vietnamese menus in tests/data."""

import json
import unicodedata
from pathlib import Path

import pytest

from src.voice.catalog.index import CatalogIndex
from src.voice.catalog.languages import inferred_languages, pack_for
from src.voice.orders.parser import parse_order

DATA = Path(__file__).parents[2] / "data"


def _index(name: str) -> CatalogIndex:
    catalog = json.loads((DATA / f"{name}_catalog.json").read_text())
    names = [i["name"] for i in catalog["items"]] + [
        a for i in catalog["items"] for a in i["aliases"]
    ]
    return CatalogIndex.build(
        [(i["sku"], i["name"], i["aliases"]) for i in catalog["items"]],
        [(m["code"], m["name"], m["aliases"], m.get("group")) for m in catalog["modifiers"]],
        languages=inferred_languages(names),
    )


SHOP = _index("quanpho")
CAFE_VN = _index("vietcafe")


def lines(text: str, index: CatalogIndex = SHOP) -> set[tuple[str, int, tuple[str, ...]]]:
    return {
        (line.sku, line.quantity, tuple(sorted(line.modifiers)))
        for line in parse_order(text, index).lines
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # numbers: words, digits, teens and tens, "chục", none at all
        ("cho em mười lăm cái bánh xèo", {("BANH_XEO", 15, ())}),
        ("hai mươi ly trà đá", {("TRA_DA", 20, ())}),
        ("mười hai chai coca", {("COCA", 12, ())}),
        ("hai chục cuốn gỏi cuốn", {("GOI_CUON", 20, ())}),
        ("một chục chả giò", {("CHA_GIO", 10, ())}),
        ("cho anh tô phở gà", {("PHO_GA", 1, ())}),
        ("bon ly nuoc cam", {("NUOC_CAM", 4, ())}),
        # classifiers of the north and the south; size on the classifier or after
        ("một bát to phở gà", {("PHO_GA", 1, ("LARGE",))}),
        ("ly nhỏ nước mía", {("NUOC_MIA", 1, ("SMALL",))}),
        ("2 suất cơm gà, 1 đĩa bánh cuốn", {("COM_GA", 2, ()), ("BANH_CUON", 1, ())}),
        ("hai tô bún bò lớn", {("BUN_BO_HUE", 2, ("LARGE",))}),
        ("3 trái dừa tươi với", {("DUA_TUOI", 3, ())}),
        # particles, vocatives and thanks order nothing and are not unmatched
        ("anh ơi lấy giùm em 2 ổ bánh mì thịt nha, cảm ơn anh", {("BANH_MI_THIT", 2, ())}),
        # modifiers after the dish, for every unit
        (
            "hai tô phở bò tái không hành, nhiều nước",
            {("PHO_BO_TAI", 2, ("EXTRA_BROTH", "NO_ONION"))},
        ),
        # the same dish split: different modifiers per part
        (
            "3 tô phở gà, 1 tô không hành, 2 tô nhiều thịt",
            {("PHO_GA", 1, ("NO_ONION",)), ("PHO_GA", 2, ("EXTRA_MEAT",))},
        ),
        # corrections: the last word wins
        ("hai ly trà đá, à không, ba ly", {("TRA_DA", 3, ())}),
        ("một tô phở gà, à nhầm, phở bò tái", {("PHO_BO_TAI", 1, ())}),
        ("1 ly trà chanh ít đường, à không, không đường", {("TRA_CHANH", 1, ("NO_SUGAR",))}),
        # removals
        ("2 ly trà đá và 1 coca, thôi khỏi coca", {("TRA_DA", 2, ())}),
        ("một ly nước mía với hai ly trà đá, à thôi, bỏ ly nước mía", {("TRA_DA", 2, ())}),
        # chat short forms and English
        ("cho e 2 ly nc mia k da nha", {("NUOC_MIA", 2, ("NO_ICE",))}),
        ("2 ly iced tea ít đá", {("ICED_TEA", 2, ("LESS_ICE",))}),
        # tone marks tell bò from bơ when they are there
        ("một ly sinh tố bơ và một tô phở bò tái", {("SINH_TO_BO", 1, ()), ("PHO_BO_TAI", 1, ())}),
        ("mot ly sinh to bo, mot to pho bo tai", {("SINH_TO_BO", 1, ()), ("PHO_BO_TAI", 1, ())}),
        # "năm" is five before a dish, part of a name in "Nam Vang"
        ("năm tô hủ tiếu nam vang", {("HU_TIEU", 5, ())}),
        ("cho em 1 tô hủ tiếu Nam Vang, thêm 1 ly trà đá", {("HU_TIEU", 1, ()), ("TRA_DA", 1, ())}),
    ],
)
def test_vietnamese_orders(text: str, expected: set[tuple[str, int, tuple[str, ...]]]) -> None:
    index = CAFE_VN if "iced tea" in text else SHOP
    assert lines(text, index) == expected


def test_decomposed_unicode_reads_as_composed() -> None:
    text = "cho em hai ly cà phê sữa đá ít đường"
    assert (
        lines(unicodedata.normalize("NFD", text))
        == lines(text)
        == {("CA_PHE_SUA_DA", 2, ("LESS_SUGAR",))}
    )


def test_off_menu_dishes_are_unmatched_and_order_nothing() -> None:
    result = parse_order("cho em 1 tô phở gà với 2 ly sinh tố xoài", SHOP)
    assert {line.sku for line in result.lines} == {"PHO_GA"}
    assert result.unmatched


def test_languages_are_inferred_from_the_names_and_english_stays_as_it_was() -> None:
    assert SHOP.languages == ("en", "vi")
    assert inferred_languages(["Latte", "Crêpe", "Blueberry Muffin"]) == ("en",)
    # English number words and Vietnamese ones side by side: a mixed order.
    assert lines("two ly trà đá and một coca") == {("TRA_DA", 2, ()), ("COCA", 1, ())}
    assert pack_for(("en",)).units == {}


def test_a_recognisers_english_homophone_is_not_taken_for_a_classifier() -> None:
    """With Vietnamese on, "to" before a dish is still a heard "two" in spoken English
    (a guess, so a reading that says "two" wins), while "tô" after a number is a bowl."""
    from src.voice.orders.parser import choose_reading

    readings = ["I'll take to iced milk coffee", "I'll take two iced milk coffees"]
    _text, result = choose_reading(readings, CAFE_VN)
    assert [(line.sku, line.quantity) for line in result.lines] == [("CA_PHE_SUA_DA", 2)]
    spoken = parse_order("một tô phở bò", CAFE_VN, spoken=True)
    assert [(line.sku, line.quantity) for line in spoken.lines] == [("PHO_BO", 1)]


def test_tone_marks_tell_homographs_apart_and_their_absence_is_flagged() -> None:
    """Two dishes spelt alike but for their marks: the marks typed choose; typed without
    them, the first is taken with a confidence below review (not a silent guess)."""
    cakes = CatalogIndex.build(
        [
            ("BANH_BO", "Bánh bò", ["banh bo"]),
            ("BANH_BUTTER", "Bánh bơ", ["banh bo", "butter cake"]),
        ],
        [],
        languages=("en", "vi"),
    )

    def read(text: str) -> list[tuple[str, int, float]]:
        return [(x.sku, x.quantity, x.confidence) for x in parse_order(text, cakes).lines]

    assert read("hai cái bánh bơ") == [("BANH_BUTTER", 2, 0.99)]
    assert read("2 cái bánh bò") == [("BANH_BO", 2, 0.99)]
    [(sku, quantity, confidence)] = read("2 cai banh bo")
    assert (sku, quantity) == ("BANH_BO", 2) and confidence < 0.85


@pytest.mark.parametrize(
    ("text", "sku"),
    [
        ("2 ly bạc sỉu", "BAC_XIU"),  # s for x
        ("2 ly xinh tố bơ", "AVOCADO_SMOOTHIE"),  # x for s
        ("2 phần chả giò", "FRIED_SPRING_ROLLS"),
    ],
)
def test_spellings_vietnamese_typists_confuse_still_find_the_dish(text: str, sku: str) -> None:
    [line] = parse_order(text, CAFE_VN).lines
    assert (line.sku, line.quantity) == (sku, 2)


def test_n_for_ng_and_english_catalogs_keep_exact_spelling() -> None:
    [line] = parse_order("3 cuốn gỏi cuống", SHOP).lines
    assert (line.sku, line.quantity) == ("GOI_CUON", 3) and line.confidence < 0.99
    english = CatalogIndex.build([("SCONE", "Scone", [])], [], languages=("en",))
    assert english.plain_phrases == {}


def test_to_go_is_not_a_vietnamese_size() -> None:
    # "to" is Vietnamese for big; "to go" is English for takeaway.
    assert lines("two chicken baguettes to go, please", CAFE_VN) == {("BANH_MI_GA", 2, ())}
    assert lines("một tô phở bò to", SHOP) == lines("một tô phở bò lớn", SHOP)
    # Nor is "to" before a number, where a recogniser writes it for "get to" / "two".
    assert lines("let me go to three egg coffees", CAFE_VN) == {("EGG_COFFEE", 3, ())}
