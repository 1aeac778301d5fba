"""`scripts/bench [http|sessions|scale|parser|speech|openai|live|recommend|eval ...] [--quick] [--data CSV] [--eval DIR]`.

Runs the chosen benchmarks (all by default) and writes their sections of
docs/BENCHMARKS.md. `--quick` is a smoke run for CI: small sizes, nothing written.
"""

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.bench import (
    eval_bench,
    http_bench,
    live_bench,
    openai_bench,
    parser_bench,
    recommend_bench,
    scale_bench,
    session_bench,
    speech_bench,
)
from tests.bench.report import write_section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument(
        "parts",
        nargs="*",
        choices=[
            "http",
            "sessions",
            "scale",
            "parser",
            "speech",
            "openai",
            "live",
            "recommend",
            "eval",
            [],
        ],
    )
    parser.add_argument("--quick", action="store_true", help="small smoke run; writes nothing")
    parser.add_argument("--data", type=Path, default=recommend_bench.DEFAULT_DATA)
    parser.add_argument("--eval", type=Path, default=speech_bench.DEFAULT_EVAL)
    args = parser.parse_args(argv)
    runs: dict[str, Callable[[], str]] = {
        "parser": lambda: parser_bench.run(quick=args.quick),
        "recommend": lambda: recommend_bench.run(args.data, quick=args.quick),
        "speech": lambda: speech_bench.run(args.eval, quick=args.quick),
        "openai": lambda: openai_bench.run(quick=args.quick, eval_dir=args.eval),
        "live": lambda: live_bench.run(quick=args.quick, eval_dir=args.eval),
        "http": lambda: http_bench.run(quick=args.quick),
        "sessions": lambda: session_bench.run(quick=args.quick),
        "scale": lambda: scale_bench.run(quick=args.quick),
        "eval": lambda: eval_bench.run(args.eval, quick=args.quick),
    }
    for name in args.parts or list(runs):
        started = time.monotonic()
        section = runs[name]()
        print(section, f"\n({name}: {time.monotonic() - started:.0f} s)\n", flush=True)
        if not args.quick:
            write_section(name, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
