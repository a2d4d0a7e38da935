"""Set two runs of benchmarks/run.py side by side: the scale curve and the targets.

    .venv/bin/python benchmarks/compare.py benchmarks/results/bench_1k-*/results.json \\
        benchmarks/results/bench_20k-*/results.json

Prints, per request: throughput and p95 at both sizes, p95(large)/p95(small) against the 1.25
target, SQL queries per request at both sizes, and each throughput as a ratio to the ceiling of
its own run (target for opening a plan: at least 0.5).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run import _queries_for


def _requests(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: figures
        for data in report["results"].values()
        for name, figures in data["requests"].items()
    }


def _ceiling(report: dict[str, Any], journey: str = "Ceiling") -> float | None:
    ceiling = report["results"].get(journey)
    return ceiling["journey"]["rps"] if ceiling else None


def compare(small: dict[str, Any], large: dict[str, Any]) -> str:
    """The markdown table of the scale curve."""
    a, b = _requests(small), _requests(large)
    ca, cb = _ceiling(small), _ceiling(large)
    la, lb = _ceiling(small, "CeilingLogged"), _ceiling(large, "CeilingLogged")
    fa, fb = small["families"], large["families"]
    lines = [
        f"| request | req/s {fa} | req/s {fb} | ratio to ceiling {fa} / {fb} "
        f"| ratio to ceiling + log {fa} / {fb} | p95 ms {fa} | p95 ms {fb} "
        f"| p95 {fb}/{fa} (target ≤ 1.25) | SQL {fa} / {fb} | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in a:
        if name not in b:
            continue
        x, y = a[name], b[name]
        ratio = f"{y['p95_ms'] / x['p95_ms']:.2f}" if x["p95_ms"] else "-"
        c1, c2, l1, l2 = ca, cb, la, lb
        if "document" in name:  # whole-plan documents against the ceiling of their own size
            c1, c2 = _ceiling(small, "CeilingDocument"), _ceiling(large, "CeilingDocument")
            l1 = _ceiling(small, "CeilingDocumentLogged")
            l2 = _ceiling(large, "CeilingDocumentLogged")
        ceil = f"{x['rps'] / c1:.3f} / {y['rps'] / c2:.3f}" if c1 and c2 else "-"
        logged = f"{x['rps'] / l1:.3f} / {y['rps'] / l2:.3f}" if l1 and l2 else "-"
        sql = (
            f"{_queries_for(name, small['queries_per_request'])} / "
            f"{_queries_for(name, large['queries_per_request'])}"
        )
        errors = f"{x['errors']}/{x['requests']}, {y['errors']}/{y['requests']}"
        lines.append(
            f"| {name} | {x['rps']} | {y['rps']} | {ceil} | {logged} | {x['p95_ms']:.0f} "
            f"| {y['p95_ms']:.0f} | {ratio} | {sql} | {errors} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    small, large = (json.loads(Path(p).read_text()) for p in sys.argv[1:])
    print(compare(small, large))


if __name__ == "__main__":
    main()
