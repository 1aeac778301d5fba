"""The pure scoring: smoothing, hour lift, favourites, exclusions, ties."""

from src.voice.recommend.recommender import (
    FAVORITE,
    POPULAR,
    TOGETHER,
    Counts,
    decayed_weight,
    recommend,
)

ITEMS = ["BREAD", "COFFEE", "JAM", "TEA", "CAKE"]


def skus(recs: list) -> list[str]:  # type: ignore[type-arg]
    return [r.sku for r in recs]


def test_empty_history_still_answers_with_stable_ties() -> None:
    recs = recommend(Counts(0, {}), basket=[], available=ITEMS, limit=3)
    assert skus(recs) == ["BREAD", "CAKE", "COFFEE"]  # all equal: alphabetical
    assert all(r.reason == POPULAR and 0 <= r.score <= 1 for r in recs)


def test_popularity_is_the_fallback() -> None:
    counts = Counts(100, {"COFFEE": 60, "BREAD": 40, "JAM": 5})
    recs = recommend(counts, basket=[], available=ITEMS, limit=2)
    assert skus(recs) == ["COFFEE", "BREAD"]
    assert recs[0].score == 1.0 and recs[0].reason == POPULAR


def test_strong_pairs_beat_best_sellers_and_say_why() -> None:
    counts = Counts(
        1000,
        {"COFFEE": 600, "BREAD": 400, "JAM": 50, "TEA": 100},
        pairs={"BREAD": {"JAM": 45, "COFFEE": 200}},
    )
    recs = recommend(counts, basket=["BREAD"], available=ITEMS, limit=2)
    assert skus(recs) == ["COFFEE", "JAM"] or skus(recs) == ["JAM", "COFFEE"]
    jam = next(r for r in recs if r.sku == "JAM")
    assert jam.reason == TOGETHER


def test_smoothing_does_not_trust_one_lucky_pair() -> None:
    # CAKE was seen once, with TEA: confidence 1/1 unsmoothed; smoothed it stays modest.
    counts = Counts(
        1000,
        {"TEA": 1, "CAKE": 1, "COFFEE": 600},
        pairs={"TEA": {"CAKE": 1}},
    )
    recs = recommend(counts, basket=["TEA"], available=ITEMS, limit=5)
    assert recs[0].sku == "COFFEE"


def test_the_hour_of_day_moves_items_up() -> None:
    counts = Counts(
        1000,
        {"COFFEE": 500, "CAKE": 450},
        hour_baskets=100,
        hour_item_baskets={"COFFEE": 10, "CAKE": 80},
    )
    assert skus(recommend(counts, basket=[], available=ITEMS, limit=1)) == ["CAKE"]


def test_favourites_come_first_for_a_known_customer() -> None:
    counts = Counts(1000, {"COFFEE": 600, "TEA": 20}, favorites={"TEA": 5.0})
    recs = recommend(counts, basket=[], available=ITEMS, limit=2)
    assert recs[0].sku == "TEA" and recs[0].reason == FAVORITE


def test_basket_items_and_unavailable_items_are_never_offered() -> None:
    counts = Counts(100, {"COFFEE": 90, "GONE": 95, "BREAD": 50})
    recs = recommend(counts, basket=["COFFEE"], available=ITEMS, limit=10)
    assert "COFFEE" not in skus(recs) and "GONE" not in skus(recs)
    assert recommend(counts, basket=ITEMS, available=ITEMS, limit=3) == []


def test_decay_halves_per_half_life() -> None:
    assert decayed_weight(8.0, 30.0) == 4.0
    assert decayed_weight(8.0, -5.0) == 8.0
