"""The order parser scored in process on JSON-lines cases, by split.

    python -m tests.eval.score_parser CASES.jsonl [--split tune|held|all] [--show N]
        [--catalogs DIR] [--spoken] [--audio DIR [--no-rehearing]]

Cases are in `../shared/eval`'s format (`tests.eval.generate_orders` makes them).
Lines are merged by sku and modifiers as `score_orders.py` merges them; a case is
exact when the lines match. Also: line F1, whether `unmatched` was right, and the
AUROC of line confidence (how well it tells right lines from wrong ones).

With `--audio`, each case that has a clip `DIR/<id>.flac` is heard by the bundled
model as the order route hears it (hot words, second listen, rehearing what the
catalog suggests; `--no-rehearing` leaves that out), and the reading it chooses is
scored; cases without a clip are skipped. `--save-readings FILE` also writes what
each clip was heard as (JSON lines: id, readings best first, the recogniser's
confidence in each); `--readings FILE` scores such a file instead of hearing, so a
parser change is measured in seconds on exactly the same readings.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from src.voice.catalog.index import CatalogIndex
from src.voice.catalog.languages import inferred_languages
from src.voice.orders.parser import ParseResult, choose_reading, parse_order
from tests.eval.generate_orders import DATA, split_of

LineKey = tuple[str, int, tuple[str, ...]]


def catalog_index(path: Path) -> CatalogIndex:
    """The index the service builds for the catalog at `path` (languages inferred)."""
    catalog = json.loads(path.read_text(encoding="utf-8"))
    names = [p for i in catalog["items"] for p in (i["name"], *i.get("aliases", ()))]
    languages = tuple(catalog.get("languages") or inferred_languages(names))
    return CatalogIndex.build(
        [(i["sku"], i["name"], i.get("aliases", [])) for i in catalog["items"]],
        [
            (m["code"], m["name"], m.get("aliases", []), m.get("group"))
            for m in catalog["modifiers"]
        ],
        languages,
    )


class Listener:
    """The bundled speech model, hearing clips as the order route does."""

    def __init__(self, rehearing: bool) -> None:
        from src.voice.speech.engine import (
            DecodeOptions,
            ModelOptions,
            SpeechModel,
            bundled_model_path,
            load_model,
        )

        self.model = SpeechModel(load_model(ModelOptions(bundled_model_path())), DecodeOptions())
        self.rehearing = rehearing

    def hear(self, clip: Path, catalog: dict[str, Any], index: CatalogIndex) -> Heard:
        """The clip's readings (best first) and confidences, as the order route gets them."""
        from src.voice.catalog.service import speech_phrases
        from src.voice.orders.respelling import HeardOrder
        from src.voice.speech.engine import AudioInput

        phrases = speech_phrases(
            [i["name"] for i in catalog["items"]], [m["name"] for m in catalog["modifiers"]]
        )
        order = HeardOrder(index)  # as the order route asks
        heard = self.model.transcribe(
            AudioInput(clip.read_bytes()),
            self.model.hotwords_for(phrases),
            order.accepts,
            order.respellings if self.rehearing else None,
            order.recounts if self.rehearing else None,
        )
        readings = [heard.text, *heard.alternatives] if heard.text else []
        return Heard(readings, list(heard.confidences))


@dataclass
class Heard:
    """What one clip was heard as: readings, best first, and the recogniser's
    confidence in each (`Transcript.confidences`)."""

    readings: list[str]
    confidences: list[float]

    def order(self, index: CatalogIndex) -> ParseResult:
        """The order the route reads from these readings."""
        return choose_reading(self.readings, index, self.confidences)[1]


def load_readings(path: Path) -> dict[str, Heard]:
    """Readings saved with `--save-readings`, by case id."""
    heard = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(raw)
        heard[row["id"]] = Heard(row["readings"], row["confidences"])
    return heard


def merged(lines: Iterable[tuple[str, int, Iterable[str]]]) -> Counter[LineKey]:
    """Lines with the same sku and modifiers added up, one count per line."""
    quantities: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for sku, quantity, modifiers in lines:
        quantities[(sku, tuple(sorted(modifiers)))] += quantity
    return Counter({(sku, q, mods): 1 for (sku, mods), q in quantities.items()})


def auroc(pairs: list[tuple[float, bool]]) -> float | None:
    """Probability that a right line is more confident than a wrong one (ties half)."""
    right = [c for c, ok in pairs if ok]
    wrong = [c for c, ok in pairs if not ok]
    if not right or not wrong:
        return None
    wins = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
    return wins / (len(right) * len(wrong))


@dataclass
class Score:
    """Running totals over cases."""

    cases: int = 0
    exact: int = 0
    unmatched_ok: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    confidence: list[tuple[float, bool]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, case: dict[str, Any], result: ParseResult) -> None:
        """Count one case and what the parser made of it."""
        got = merged((line.sku, line.quantity, line.modifiers) for line in result.lines)
        want = merged((i["sku"], i["quantity"], i["modifiers"]) for i in case["expected"]["items"])
        tp = sum((got & want).values())
        self.cases += 1
        self.tp += tp
        self.fp += sum(got.values()) - tp
        self.fn += sum(want.values()) - tp
        self.exact += got == want
        self.unmatched_ok += bool(result.unmatched) == case["expected"]["unmatched_nonempty"]
        totals: Counter[tuple[str, tuple[str, ...]]] = Counter()
        for line in result.lines:
            totals[(line.sku, tuple(sorted(line.modifiers)))] += line.quantity
        for line in result.lines:
            key = (line.sku, tuple(sorted(line.modifiers)))
            self.confidence.append((line.confidence, (key[0], totals[key], key[1]) in want))
        if got != want:
            self.failures.append(
                f"{case['id']}: {case['text']!r}\n  want {sorted(want)}\n  got  {sorted(got)}"
                f"  unmatched={list(result.unmatched)}"
            )

    def summary(self) -> str:
        """One line of figures."""
        precision = self.tp / max(self.tp + self.fp, 1)
        recall = self.tp / max(self.tp + self.fn, 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        area = auroc(self.confidence)
        return (
            f"cases {self.cases}  exact {self.exact / max(self.cases, 1):.3f}  line F1 {f1:.3f}"
            f"  unmatched right {self.unmatched_ok / max(self.cases, 1):.3f}"
            f"  confidence AUROC {'-' if area is None else f'{area:.3f}'}"
        )


def main() -> None:
    """Score the cases and print figures (and failures with --show)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", type=Path)
    parser.add_argument("--split", choices=("tune", "held", "all"), default="all")
    parser.add_argument("--show", type=int, default=0)
    parser.add_argument("--catalogs", type=Path, help="folder with <catalog>.json")
    parser.add_argument("--spoken", action="store_true", help="parse as a recogniser's text")
    parser.add_argument("--audio", type=Path, help="folder with <id>.flac: hear them instead")
    parser.add_argument("--no-rehearing", action="store_true", help="with --audio")
    parser.add_argument("--save-readings", type=Path, help="with --audio: write them here")
    parser.add_argument("--readings", type=Path, help="score readings saved before")
    args = parser.parse_args()
    listener = Listener(not args.no_rehearing) if args.audio else None
    saved = load_readings(args.readings) if args.readings else None
    saving = args.save_readings.open("w", encoding="utf-8") if args.save_readings else None
    catalogs: dict[str, dict[str, Any]] = {}
    indexes: dict[str, CatalogIndex] = {}
    scores: dict[str, Score] = {}
    for raw in args.cases.read_text(encoding="utf-8").splitlines():
        case = json.loads(raw)
        split = split_of(case["id"])
        if args.split not in ("all", split):
            continue
        name = case["catalog"]
        if name not in indexes:
            path = (
                (args.catalogs / f"{name}.json")
                if args.catalogs
                else (DATA / f"{name}_catalog.json")
            )
            indexes[name] = catalog_index(path)
            catalogs[name] = json.loads(path.read_text(encoding="utf-8"))
        if saved is not None:
            if case["id"] not in saved:
                continue
            result = saved[case["id"]].order(indexes[name])
        elif listener is not None:
            clip = args.audio / f"{case['id']}.flac"
            if not clip.exists():
                continue
            heard = listener.hear(clip, catalogs[name], indexes[name])
            if saving is not None:
                saving.write(json.dumps({"id": case["id"], **asdict(heard)}) + "\n")
            result = heard.order(indexes[name])
        else:
            result = parse_order(case["text"], indexes[name], spoken=args.spoken)
        for key in (split, name, "all"):
            scores.setdefault(key, Score()).add(case, result)
    if saving is not None:
        saving.close()
    for key, score in scores.items():
        print(f"{key:10} {score.summary()}")
    for failure in scores["all"].failures[: args.show]:
        print(failure)


if __name__ == "__main__":
    main()
