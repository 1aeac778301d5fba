"""Recommendation scoring: pure functions over counts (no I/O).

The estimate for a candidate item j, given the basket B, the hour h and the customer:

    together(j) = mean over i in B of  (pairs(i, j) + a * p(j)) / (baskets(i) + a)
    hour(j)     = ((at_hour(j, h) + b * p(j)) / (baskets_at(h) + b)) / p(j)
    base(j)     = together(j) if B else p(j),  times hour(j) ** HOUR_WEIGHT
    score(j)    = (1 - w) * base(j) / max(base) + w * favourite(j)

`p(j)` is j's share of all baskets. Pair confidence is shrunk toward the prior p(j)
with `a` pseudo-baskets, so an item seen together once in three baskets does not
outrank the bakery's bread. The hour term is a lift: what sells more at this hour
than usual moves up. `favourite(j)` is the customer's recency-decayed frequency of j
relative to their most frequent item.
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

TOGETHER = "frequently_bought_together"
FAVORITE = "customer_favorite"
POPULAR = "popular"

PAIR_SMOOTHING = 5.0  # a: pseudo-baskets pulling pair confidence to the prior
HOUR_SMOOTHING = 20.0  # b: pseudo-baskets pulling the hour share to the prior
HOUR_WEIGHT = 0.5
FAVORITE_WEIGHT = 0.6  # w, when the customer has history: their habits lead
FAVORITE_HALF_LIFE_DAYS = 30.0


@dataclass(frozen=True, slots=True)
class Counts:
    """What the recommender knows about one client, read for one request."""

    baskets: int
    item_baskets: Mapping[str, int]
    # pairs[i][j]: baskets holding both i and j, for i in the request's basket.
    pairs: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    hour_baskets: int = 0
    hour_item_baskets: Mapping[str, int] = field(default_factory=dict)
    # The customer's decayed weight per item (see decayed_weight).
    favorites: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Recommendation:
    sku: str
    score: float
    reason: str


def decayed_weight(weight: float, age_days: float) -> float:
    """`weight` as of now, after `age_days` of exponential decay."""
    return weight * math.pow(0.5, max(age_days, 0.0) / FAVORITE_HALF_LIFE_DAYS)


def recommend(
    counts: Counts,
    *,
    basket: Iterable[str],
    available: Iterable[str],
    limit: int,
) -> list[Recommendation]:
    """The `limit` best items not in `basket`, among the `available` SKUs, best first.

    Ties break on the SKU so answers are stable.
    """
    in_basket = set(basket)
    candidates = [sku for sku in available if sku not in in_basket]
    if not candidates or limit <= 0:
        return []
    total = max(counts.baskets, 0)
    # Add-one prior so unseen items have a small, equal share instead of zero.
    prior = {
        sku: (counts.item_baskets.get(sku, 0) + 1) / (total + len(candidates)) for sku in candidates
    }
    evidence = [i for i in in_basket if counts.item_baskets.get(i, 0) > 0]
    base: dict[str, float] = {}
    together_lift: dict[str, float] = {}
    for sku in candidates:
        p = prior[sku]
        if evidence:
            confidences = [
                (counts.pairs.get(i, {}).get(sku, 0) + PAIR_SMOOTHING * p)
                / (counts.item_baskets[i] + PAIR_SMOOTHING)
                for i in evidence
            ]
            estimate = sum(confidences) / len(confidences)
            together_lift[sku] = estimate / p
        else:
            estimate = p
        if counts.hour_baskets > 0:
            at_hour = (counts.hour_item_baskets.get(sku, 0) + HOUR_SMOOTHING * p) / (
                counts.hour_baskets + HOUR_SMOOTHING
            )
            estimate *= math.pow(at_hour / p, HOUR_WEIGHT)
        base[sku] = estimate
    top = max(base.values())
    favorite_top = max((counts.favorites.get(sku, 0.0) for sku in candidates), default=0.0)
    weight = FAVORITE_WEIGHT if favorite_top > 0 else 0.0
    scored: list[Recommendation] = []
    for sku in candidates:
        favorite = counts.favorites.get(sku, 0.0) / favorite_top if favorite_top else 0.0
        score = (1 - weight) * (base[sku] / top if top > 0 else 0.0) + weight * favorite
        reason = _reason(
            together_lift.get(sku, 0.0), favorite, weight, base[sku] / top if top else 0.0
        )
        scored.append(Recommendation(sku, round(min(max(score, 0.0), 1.0), 4), reason))
    scored.sort(key=lambda r: (-r.score, r.sku))
    return scored[:limit]


def _reason(lift: float, favorite: float, weight: float, base: float) -> str:
    # The component that contributed most names the reason.
    if weight and weight * favorite >= (1 - weight) * base:
        return FAVORITE
    if lift > 1.0:
        return TOGETHER
    return POPULAR
