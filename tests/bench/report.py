"""docs/BENCHMARKS.md: one section per benchmark, replaced in place, each with the
machine and commit it was measured on (sections are rerun at different times, and the
shared machine behind this workspace is not always the same kind)."""

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"
SHARED = ROOT.parent / "shared"

_HEADER = """# Benchmarks

Written by `scripts/bench` (the parts: `scripts/bench http|sessions|parser|speech|openai|recommend|eval`;
`--quick` for a smoke run that writes nothing). Each section says when and how it was
measured. Ratios compare runs made in the same invocation, interleaved, on this shared
and noisy machine; absolute numbers move from run to run, ratios much less. Each
section ends with the machine and commit it was measured on: compare absolute figures
only between sections measured on the same machine.
"""


def machine() -> str:
    """One line of machine facts."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return (
        f"Machine: {os.cpu_count()} cores ({cpu}){memory}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; commit {commit or '?'}."
    )


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section `name` of docs/BENCHMARKS.md."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else ""
    if not text.startswith("# Benchmarks") or "<!-- bench:" not in text:
        text = _HEADER
    block = f"<!-- bench:{name} -->\n{body.strip()}\n\n{machine()}\n<!-- /bench:{name} -->"
    pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS.parent.mkdir(exist_ok=True)
    BENCHMARKS.write_text(text)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def shown(path: Path) -> str:
    """A path as a reader of docs/BENCHMARKS.md would type it (relative to the repo)."""
    return os.path.relpath(path, ROOT)
