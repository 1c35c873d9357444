"""``python -m bench COMMAND``: generate data, run benchmarks, or the CI smoke run.

    python -m bench generate --scale small --database vialog_bench_small
    python -m bench trace    --database vialog_bench_small
    python -m bench draw     --database vialog_bench_small --seconds 30
    python -m bench draw-interleaved --database vialog_bench_small   # 1 client, app and bare asked in turn
    python -m bench draw-split --database vialog_bench_small   # where a draw's milliseconds go
    python -m bench statement-layers --database vialog_bench_small   # one statement through each layer
    python -m bench scan     --database vialog_bench_small
    python -m bench export   --database vialog_bench_small
    python -m bench kits     --database vialog_bench_small
    python -m bench all      --database vialog_bench_small
    python -m bench smoke    # CI: tiny scale in its own database, every benchmark briefly, then dropped

Each benchmark prints its figures, the baseline measured in the same run and their ratio,
and appends a JSON line to the results file: ``--results PATH``, by default
``$XDG_STATE_HOME/vialog/bench-results.jsonl`` (``~/.local/state/...``), outside the checkout so that
a read-only checkout runs the bench too. docs/performance.md is written from these lines; the lines
behind its tables are kept in bench/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from bench import db
from bench.generate import SCALES, generate

def default_results() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "vialog" / "bench-results.jsonl"


def record(name: str, database: str, figures: dict, results: Path | None = None) -> None:
    load = os.getloadavg()
    line = {"bench": name, "database": database, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load": [round(x, 2) for x in load], **figures}
    print(json.dumps(line, default=str))
    results = results or default_results()
    results.parent.mkdir(parents=True, exist_ok=True)
    with results.open("a") as out:
        out.write(json.dumps(line, default=str) + "\n")
    print(f"(appended to {results})", file=sys.stderr)


def cmd_generate(args: argparse.Namespace) -> int:
    scale = SCALES[args.scale]
    if args.clinics or args.days:
        from dataclasses import replace
        scale = replace(scale, clinics=args.clinics or scale.clinics, days=args.days or scale.days)
    started = time.monotonic()
    db.create(args.database)
    totals = generate(db.conninfo(args.database), scale, seed=args.seed, workers=args.workers)
    print(f"generated {args.scale} {scale} into {args.database}: {totals}")
    if not args.no_check:
        t = time.monotonic()
        ok, report = db.check_and_verify(args.database)
        print(report)
        print(f"check + verify: {'OK' if ok else 'FAILED'} in {time.monotonic() - t:.0f} s")
        totals["check_verify_s"] = round(time.monotonic() - t, 1)
        if not ok:
            return 1
    totals["total_s"] = round(time.monotonic() - started, 1)
    record("generate", args.database, {"scale": args.scale, "params": scale.__dict__, **totals}, args.results)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from bench import benchmarks

    names = benchmarks.ORDER if args.command == "all" else [args.command]
    failed = False
    for name in names:
        figures = benchmarks.run(name, args)
        record(name, args.database, figures, args.results)
        failed = failed or figures.get("errors", 0) > 0
    return 1 if failed else 0


def cmd_smoke(args: argparse.Namespace) -> int:
    """CI: a tiny history, check + verify on it, every benchmark for a moment; exit 1 only on a crash or a bad ledger."""
    from bench import benchmarks

    name = f"vialog_bench_smoke_{os.getpid()}"
    try:
        db.create(name)
        totals = generate(db.conninfo(name), SCALES["tiny"], seed=args.seed, workers=1)
        print(f"smoke: generated {totals}")
        ok, report = db.check_and_verify(name)
        print(report)
        if not ok:
            print("smoke: the generated history fails check/verify")
            return 1
        args.database, args.smoke, args.seconds, args.lots, args.chain_export = name, True, 2.0, 20, True
        args.threads, args.draws, args.compare = 2, 100, None
        for bench_name in benchmarks.ORDER:
            figures = benchmarks.run(bench_name, args)
            print(json.dumps({"bench": bench_name, **figures}, default=str))
        ok, report = db.check_and_verify(name)
        print(report)
        return 0 if ok else 1
    finally:
        db.drop(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="build a history into a fresh database")
    gen.add_argument("--scale", choices=sorted(SCALES), default="small")
    gen.add_argument("--clinics", type=int, help="override the scale's number of clinics")
    gen.add_argument("--days", type=int, help="override the scale's number of days")
    gen.add_argument("--no-check", action="store_true", help="skip vialog check + verify afterwards")
    gen.set_defaults(func=cmd_generate)
    for name in ("trace", "draw", "draw-interleaved", "draw-split", "statement-layers", "scan", "export", "kits", "all"):
        p = sub.add_parser(name)
        p.add_argument("--seconds", type=float, default=30.0, help="draw: seconds per client count")
        p.add_argument("--lots", type=int, default=200, help="trace: random lots")
        p.add_argument("--chain-export", action="store_true", help="export: also one year of the whole chain")
        p.add_argument("--threads", type=int, default=2,
                       help="draw: threads per gunicorn worker (gthread workers); 1 = sync workers")
        p.add_argument("--draws", type=int, default=2000, help="draw-interleaved: measured draws per server")
        p.add_argument("--compare", type=Path, default=None,
                       help="draw-interleaved: another checkout whose Vialog is asked in turn too (before/after)")
        p.set_defaults(func=cmd_bench, smoke=False)
    smoke = sub.add_parser("smoke", help="CI: tiny scale, every benchmark briefly, own database")
    smoke.set_defaults(func=cmd_smoke)
    for p in (gen, smoke, *(sub.choices[n] for n in ("trace", "draw", "draw-interleaved", "draw-split",
                                                     "statement-layers", "scan", "export", "kits", "all"))):
        p.add_argument("--database", default="vialog_bench_small")
        p.add_argument("--seed", type=int, default=2026)
        p.add_argument("--workers", type=int, default=2, help="generate: worker processes")
        p.add_argument("--results", type=Path, default=None,
                       help=f"append the results here (default {default_results()})")
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
