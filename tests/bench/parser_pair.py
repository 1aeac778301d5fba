"""Parser throughput of this tree against another checkout, interleaved (ratios from
one run on a noisy machine): `python -m tests.bench.parser_pair OTHER_TREE [PAIRS]`.

Each run parses the cafe catalog's bench utterances for 2 s in a fresh interpreter of
that tree (with this tree's virtual environment)."""

import statistics
import subprocess
import sys
from pathlib import Path

from tests.bench.report import ROOT

_ONE_RUN = """
import json, sys
sys.path.insert(0, ".")
from tests.bench.parser_bench import _index, _throughput, DATA
index = _index(json.loads((DATA / "cafe_catalog.json").read_text()))
_throughput(index, 0.3)
print(_throughput(index, 2.0))
"""


def _rate(tree: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _ONE_RUN], cwd=tree, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def main() -> None:
    other, pairs = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 8
    theirs, ours = [], []
    for _ in range(pairs):
        theirs.append(_rate(other))
        ours.append(_rate(ROOT))
    print(
        f"other {statistics.mean(theirs):,.0f}/s, this {statistics.mean(ours):,.0f}/s: "
        f"{statistics.mean(ours) / statistics.mean(theirs):.2f}x over {pairs} pairs"
    )


if __name__ == "__main__":
    main()
