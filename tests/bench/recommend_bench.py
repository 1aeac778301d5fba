"""Recommendations on real bakery data, through the API, against popularity.

BreadBasket_DMS.csv (NONE rows dropped) is split by date: the first 80 % of days are
imported as history with their timestamps, the last 20 % are the test. For every test
basket with two or more distinct items one item is hidden (seeded) and the API is asked
with the rest and `at` = the basket's time. Popularity ranks the same history's items by
basket count. Latency is then measured with 100,000 stored orders.
"""

import asyncio
import random
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from src.voice.orders.history_csv import (
    Transaction,
    as_import_orders,
    catalog_for,
    read_transactions,
    sku_for,
)
from tests.bench.inprocess import (
    PG_BENCH,
    Running,
    postgres_available,
    running_app,
    settings_for,
    sqlite_url,
)
from tests.bench.report import SHARED, percentile, today

DEFAULT_DATA = SHARED / "data" / "BreadBasket_DMS.csv"
STORED_FOR_LATENCY = 100_000


def split_by_date(transactions: list[Transaction]) -> tuple[list[Transaction], list[Transaction]]:
    days = sorted({t.created_at.date() for t in transactions})
    cut = days[int(len(days) * 0.8)]
    history = [t for t in transactions if t.created_at.date() < cut]
    return history, [t for t in transactions if t.created_at.date() >= cut]


async def _import(run: Running, transactions: list[Transaction]) -> None:
    orders = [o.model_dump(mode="json") for o in as_import_orders(transactions)]
    for start in range(0, len(orders), 10_000):
        response = await run.http.post(
            "/api/v1/voice/orders/import",
            json={"orders": orders[start : start + 10_000]},
            headers=run.headers,
        )
        assert response.status_code == 201, response.text[:500]


async def _hit_rates(
    run: Running, history: list[Transaction], test: list[Transaction], quick: bool
) -> dict[str, float]:
    popularity = Counter(sku for t in history for sku in {sku_for(n) for n in t.items})
    ranked = [sku for sku, _ in popularity.most_common()]
    rng = random.Random(42)
    hits = Counter()
    cases = [t for t in test if len({sku_for(n) for n in t.items}) >= 2]
    if quick:
        cases = cases[:100]
    for basket in cases:
        skus = sorted({sku_for(n) for n in basket.items})
        hidden = rng.choice(skus)
        rest = [s for s in skus if s != hidden]
        response = await run.http.post(
            "/api/v1/voice/recommend_order",
            json={"items": rest, "limit": 5, "at": basket.created_at.isoformat()},
            headers=run.headers,
        )
        got = [r["sku"] for r in response.json()["data"]["recommendations"]]
        baseline = [s for s in ranked if s not in rest][:5]
        hits["api3"] += hidden in got[:3]
        hits["api5"] += hidden in got
        hits["pop3"] += hidden in baseline[:3]
        hits["pop5"] += hidden in baseline
    n = len(cases)
    return {"cases": n, **{key: hits[key] / n for key in ("api3", "api5", "pop3", "pop5")}}


async def _latency(
    run: Running, history: list[Transaction], test: list[Transaction], quick: bool
) -> dict[str, float]:
    stored = len(history)
    target = 12_000 if quick else STORED_FOR_LATENCY
    shift = 1
    while stored < target:
        # Older copies of the history, a year apart, until the target is stored.
        chunk = [
            Transaction(t.number, t.created_at - timedelta(days=365 * shift), t.items)
            for t in history[: target - stored]
        ]
        await _import(run, chunk)
        stored += len(chunk)
        shift += 1
    rng = random.Random(7)
    baskets = [sorted({sku_for(n) for n in t.items}) for t in test]
    timings = []
    for n in range(100 if quick else 500):
        basket = rng.choice(baskets)
        body = {"items": basket[:-1], "limit": 5, "customer_id": f"c-{n % 50}"}
        started = time.perf_counter()
        response = await run.http.post(
            "/api/v1/voice/recommend_order", json=body, headers=run.headers
        )
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return {"stored": stored, "p50": percentile(timings, 50), "p95": percentile(timings, 95)}


async def _measure(database_url: str, data: Path, quick: bool) -> dict[str, dict[str, float]]:
    transactions = read_transactions(data)
    history, test = split_by_date(transactions)
    async with running_app(settings_for(database_url)) as run:
        catalog = catalog_for(transactions).model_dump(mode="json")
        response = await run.http.put("/api/v1/voice/catalog", json=catalog, headers=run.headers)
        assert response.status_code == 200, response.text[:500]
        started = time.perf_counter()
        await _import(run, history)
        import_seconds = time.perf_counter() - started
        rates = await _hit_rates(run, history, test, quick)
        latency = await _latency(run, history, test, quick)
    return {
        "rates": rates,
        "latency": latency,
        "import": {"orders": len(history), "seconds": import_seconds},
    }


def run(data: Path = DEFAULT_DATA, quick: bool = False) -> str:
    if not data.exists():
        return f"## Recommendations\n\nSkipped: {data} not found (pass --data PATH)."
    with tempfile.TemporaryDirectory() as tmp:
        results = {"SQLite": asyncio.run(_measure(sqlite_url(Path(tmp)), data, quick))}
    if postgres_available():
        results["PostgreSQL"] = asyncio.run(_measure(PG_BENCH, data, quick))
    first = next(iter(results.values()))
    rates = first["rates"]
    rows_latency = [
        f"| {db} | {r['latency']['stored']:,} | {r['latency']['p50']:.1f} ms | "
        f"{r['latency']['p95']:.1f} ms | {r['import']['orders']:,} orders in "
        f"{r['import']['seconds']:.1f} s |"
        for db, r in results.items()
    ]
    return "\n".join(
        [
            f"## Recommendations (BreadBasket) — {today()}",
            "",
            f"Command: `scripts/bench recommend --data {data.name}`{' --quick' if quick else ''}."
            " Split by date (first 80 % of days imported through `POST /voice/orders/import`,",
            "last 20 % tested); one item hidden per test basket with ≥ 2 distinct items",
            "(seed 42); asked through `POST /voice/recommend_order` in-process with `at` = the",
            "basket's time. Popularity = the same history's best sellers minus the basket.",
            "",
            "| test baskets | API hit@3 | popularity hit@3 | ratio | API hit@5 | popularity hit@5 | ratio |",
            "|---|---|---|---|---|---|---|",
            f"| {rates['cases']:.0f} | {rates['api3']:.3f} | {rates['pop3']:.3f} | "
            f"{rates['api3'] / rates['pop3']:.3f}x | {rates['api5']:.3f} | {rates['pop5']:.3f} | "
            f"{rates['api5'] / rates['pop5']:.3f}x |",
            "",
            "Targets: hit@3 ≥ 1.03x and hit@5 ≥ 1.06x popularity. Latency of",
            "`recommend_order` (in-process ASGI client, 500 requests, random test baskets",
            "minus one item, 50 customers), target p95 ≤ 15 ms:",
            "",
            "| database | stored orders | p50 | p95 | history import |",
            "|---|---|---|---|---|",
            *rows_latency,
        ]
    )
