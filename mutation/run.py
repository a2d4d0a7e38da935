"""Mutation testing of the rules that matter most, one module at a time, with a time bound.

    ./run mutation policy            # or: consent, chain, history; --minutes N (default 30)
    ./run mutation policy --report   # only print the tally of what has run so far
    ./run mutation policy --retest   # run the survivors again, after adding tests for them

Each module is mutated by mutmut (pinned in pyproject.toml) and tested by its focused subset of
the suite (MODULES below), in a copy of the checkout under var/mutation/<module>/ so the
worktree is never touched. Results persist there: a run that hits its time bound resumes where
it stopped the next time. The tally goes to var/mutation/<module>/summary.json and is printed;
docs/testing.md records the measured rates and explains the survivors.

The test databases are `test_<db>_mut_<module>` on the server in DATABASE_URL (or the embedded
one), reused between mutants (`--reuse-db`) and separate from the ordinary test run's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent

#: module -> (files mutmut mutates, tests that judge them). Keep each subset fast: every mutant
#: of a function runs the tests that reach that function.
MODULES: dict[str, tuple[list[str], list[str]]] = {
    "policy": (
        ["plan_service/policy.py"],
        [
            "tests/test_named_mutations.py",
            "tests/test_policy_explain.py",
            "tests/consent/test_consent.py",
            "tests/consent/test_consent_recipient_rule.py",
            "tests/plans/test_leaks.py",
            "tests/test_idor.py",
            "tests/emergency/test_break_glass.py",
            "tests/clients/test_clients.py",
            "tests/test_prepared.py",
            # The questions asked by the exports, the start page, acting for a child, the second
            # factor and the editing and history pages.
            "tests/fhir_export/test_recipients.py",
            "tests/fhir_export/test_bulk.py",
            "tests/web/test_start_page.py",
            "tests/identity/test_acting_for.py",
            "tests/identity/test_second_factor.py",
            "tests/web/test_edit_pages.py",
            "tests/web/test_history_pages.py",
            "tests/plans/test_history.py",
        ],
    ),
    "consent": (
        ["plan_service/consent/models.py", "plan_service/consent/services.py"],
        ["tests/consent/test_consent.py", "tests/test_named_mutations.py"],
    ),
    "chain": (
        ["plan_service/audit/chain.py"],
        [
            "tests/audit/test_tamper.py",
            "tests/audit/test_retention_and_commands.py",
            "tests/test_named_mutations.py",
        ],
    ),
    "history": (
        # The visibility rules (reader-relative versions) live in visibility.py; history.py
        # answers the history endpoints from them.
        ["plan_service/plans/history.py", "plan_service/plans/visibility.py"],
        [
            "tests/plans/test_history.py",
            "tests/plans/test_leaks.py",
            "tests/plans/test_noninterference_leaks.py",
        ],
    ),
}

PYTEST_ARGS = ["-p", "no:randomly", "-p", "no:cacheprovider", "-n", "0", "--reuse-db", "-x"]
OUTCOMES = ("killed", "timeout", "survived", "no tests", "suspicious", "segfault", "not checked")


def _copy_checkout(dest: Path) -> None:
    """Copy tracked and new (not ignored) files, keeping mtimes so mutmut can resume."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        rel = raw.decode()
        src, dst = ROOT / rel, dest / rel
        if not src.is_file():
            continue
        if dst.exists() and dst.stat().st_mtime == src.stat().st_mtime:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def _refresh_tests(workdir: Path) -> None:
    """mutmut copies the tests into mutants/ once and never again: bring changed ones over, so a
    test added to kill a survivor is the one that judges it."""
    source, target = workdir / "tests", workdir / "mutants" / "tests"
    if not target.is_dir():
        return
    for src in source.rglob("*.py"):
        dst = target / src.relative_to(source)
        if dst.exists() and dst.stat().st_mtime == src.stat().st_mtime:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def _config(files: list[str], tests: list[str]) -> str:
    def listing(values: list[str]) -> str:
        return "".join(f"\n    {v}" for v in values)

    return (
        "[mutmut]\n"
        "source_paths=plan_service\n"
        f"only_mutate={listing(files)}\n"
        f"also_copy={listing(['fhir_export', 'benchmarks', 'manage.py', 'docs', 'README.md'])}\n"
        f"pytest_add_cli_args={listing(PYTEST_ARGS)}\n"
        f"pytest_add_cli_args_test_selection={listing(tests)}\n"
    )


def _database_url(module: str) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        sys.path.insert(0, str(ROOT))
        from plan_service.embedded_db import embedded_database_url

        url = embedded_database_url(ROOT)
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "plan_service"
    return urlunsplit(parts._replace(path=f"/{name}_mut_{module}"))


def _verdicts(workdir: Path) -> dict[str, str]:
    """mutmut's verdict for every mutant of the module ("not checked" until it has run)."""
    out = subprocess.run(  # noqa: S603
        [str(Path(sys.executable).parent / "mutmut"), "results", "--all", "true"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    verdicts = {}
    for line in out.splitlines():
        name, _, verdict = line.strip().rpartition(": ")
        if name:
            verdicts[name] = verdict
    return verdicts


def _sample(workdir: Path, size: int, seed: int) -> list[str]:
    """A uniform random sample of the module's mutants, kept in sample.json so that a resumed
    run tests the same ones. mutmut tries the mutants reached by the fewest tests first, so a
    time-bounded run of the whole module is biased towards its least-tested corners; a random
    sample estimates the kill rate of the whole (with the interval `tally` reports)."""
    stored = workdir / "sample.json"
    if stored.exists():
        kept = json.loads(stored.read_text())
        if kept["size"] == size and kept["seed"] == seed:
            return list(kept["mutants"])
    names = sorted(_verdicts(workdir))
    if not names:
        raise SystemExit(
            "no mutants yet: run once without --sample until it reports 'Running stats' "
            "(mutmut generates the mutants first)"
        )
    chosen = sorted(random.Random(seed).sample(names, min(size, len(names))))  # noqa: S311
    stored.write_text(json.dumps({"size": size, "seed": seed, "mutants": chosen}, indent=1))
    return chosen


def _wilson(detected: int, tried: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a kill rate measured on a sample."""
    rate = detected / tried
    centre = (rate + z * z / (2 * tried)) / (1 + z * z / tried)
    half = z * math.sqrt(rate * (1 - rate) / tried + z * z / (4 * tried * tried))
    half /= 1 + z * z / tried
    return round(centre - half, 4), round(centre + half, 4)


def tally(workdir: Path, only: list[str] | None = None) -> dict[str, object]:
    """Count mutmut's verdicts in `workdir` (of the sampled mutants only, when sampling); the
    kill rate is over every mutant tried."""
    everything = _verdicts(workdir)
    chosen = everything if only is None else {n: everything.get(n, "not checked") for n in only}
    verdicts: Counter[str] = Counter(chosen.values())
    survivors = [f"{n}: {v}" for n, v in chosen.items() if v in ("survived", "no tests")]
    detected = verdicts["killed"] + verdicts["timeout"] + verdicts["segfault"]
    tried = sum(n for v, n in verdicts.items() if v != "not checked")
    result: dict[str, object] = {
        "mutants": len(everything),
        "tried": tried,
        "verdicts": dict(verdicts),
        "kill_rate": round(detected / tried, 4) if tried else None,
        "undetected": survivors,
    }
    if only is not None:
        result["sample"] = len(only)
        result["kill_rate_95ci"] = _wilson(detected, tried) if tried else None
    return result


def _run_mutmut(workdir: Path, env: dict[str, str], names: list[str], minutes: float) -> None:
    """`mutmut run` (every mutant, or the named ones) until it ends or the time bound.

    One mutant at a time: mutmut forks its children from one process whose Django already
    chose the test database, so parallel children would share it and fail each other's tests,
    and those failures would count as kills. (Measured: a retest with two children reported
    equivalent mutants killed in seconds.) For parallel work, run another module, or copy a
    module's folder and give the copy its own DATABASE_URL.
    """
    process = subprocess.Popen(  # noqa: S603
        [
            str(Path(sys.executable).parent / "mutmut"),
            *("run", "--max-children", "1", *names),
        ],
        cwd=workdir,
        env=env,
        start_new_session=True,
    )
    try:
        process.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        print(f"\ntime bound of {minutes} min reached: stopping (the next run resumes)")
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", choices=sorted(MODULES))
    parser.add_argument("--minutes", type=float, default=30.0, help="time bound of this run")
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="test a uniform random sample of N mutants (kept for resumed runs) and report "
        "its kill rate with a 95 %% interval, instead of trying every mutant in mutmut's order",
    )
    parser.add_argument("--seed", type=int, default=2026, help="seed of --sample")
    parser.add_argument("--report", action="store_true", help="only print the tally so far")
    parser.add_argument(
        "--retest",
        nargs="*",
        metavar="MUTANT",
        help="run these mutants (mutmut's names; none: every undetected one) again, after tests "
        "were added to kill them",
    )
    args = parser.parse_args()

    files, tests = MODULES[args.module]
    workdir = ROOT / "var" / "mutation" / args.module
    workdir.mkdir(parents=True, exist_ok=True)
    sample = _sample(workdir, args.sample, args.seed) if args.sample else None
    if not args.report:
        _copy_checkout(workdir)
        _refresh_tests(workdir)
        config = _config(files, tests)
        cfg = workdir / "setup.cfg"
        if not cfg.exists() or cfg.read_text() != config:
            cfg.write_text(config)
        env = {**os.environ, "DATABASE_URL": _database_url(args.module)}
        env.pop("PYTEST_ADDOPTS", None)
        started = time.monotonic()
        again: list[str] = []
        if args.retest is not None:
            undetected = tally(workdir, sample)["undetected"]
            again = args.retest or [line.rpartition(": ")[0] for line in undetected]  # type: ignore[union-attr]
            if not again:
                print("no undetected mutants to run again")
                return 0
        elif sample is not None:
            verdicts = _verdicts(workdir)
            again = [n for n in sample if verdicts.get(n, "not checked") == "not checked"]
        if sample is not None and args.retest is None and not again:
            print("every sampled mutant has been tried")
        else:
            _run_mutmut(workdir, env, again, args.minutes)
        elapsed = time.monotonic() - started
    else:
        elapsed = None
    summary = {"module": args.module, "files": files, "tests": tests, **tally(workdir, sample)}
    if elapsed is not None:
        summary["last_run_seconds"] = round(elapsed)
    (workdir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "undetected"}, indent=1))
    for line in summary["undetected"]:  # type: ignore[union-attr]
        print("  undetected:", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
