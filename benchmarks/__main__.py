"""`python -m benchmarks`: run every benchmark, print the table, write docs/performance.md.

`--size smoke` runs each benchmark for a second or two on tiny data (CI uses it to keep them working);
`--size full` is the real measurement (tens of minutes: it builds a million cases and ten million
subsidy records). `--only` picks benchmarks by name.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

from benchmarks.report import Row, Section, document, table, write

# Name → module; each module has `run(size: str) -> Section`, where size is "smoke" or "full".
BENCHMARKS = {
    "inbound": "benchmarks.inbound",
    "drain": "benchmarks.drain",
    "duplicates": "benchmarks.duplicates",
    "subsidies": "benchmarks.subsidies",
    "memory": "benchmarks.memory",
}
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("smoke", "full"), default="full")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"run only these ({', '.join(BENCHMARKS)})")
    parser.add_argument("--output", type=Path, default=None,
                        help="where to write the markdown (default docs/performance.md for a full run, "
                             "nowhere for smoke)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    names = args.only or list(BENCHMARKS)
    started = time.perf_counter()
    sections: list[Section] = []
    failed: list[str] = []
    for name in names:
        print(f"== {name} ({args.size})", file=sys.stderr, flush=True)
        begun = time.perf_counter()
        try:
            section = importlib.import_module(BENCHMARKS[name]).run(args.size)
        except Exception as exc:  # one broken benchmark must not lose the others' figures
            traceback.print_exc(file=sys.stderr)
            failed.append(name)
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            section = Section(name, [Row(name, "the benchmark itself", f"failed: {type(exc).__name__}",
                                         met=False, notes=reason)])
        sections.append(section)
        print(table(section.rows), flush=True)
        print(f"   {name}: {time.perf_counter() - begun:.1f} s", file=sys.stderr, flush=True)
    output = args.output or (DEFAULT_OUTPUT if args.size == "full" and not args.only else None)
    if output is not None:
        write(output, document(sections, size=args.size, seconds=time.perf_counter() - started))
        print(f"written {output}", file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)} (see the tracebacks above)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
