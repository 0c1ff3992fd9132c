"""tsdescribe CLI: describe a series from a CSV column, a JSON array, one number per line, or stdin.

    tsdescribe describe data.csv --column price
    tsdescribe describe data.csv --column price --time-column date
    seq 1 50 | tsdescribe describe - --json
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from dataclasses import asdict

from clients.client import Client, TsdescribeError


def parse_numbers(text: str, column: str | None = None) -> list[float | None]:
    """Numbers from a JSON array, a CSV (with --column, by name or index), or one number per line."""
    stripped = text.strip()
    if stripped.startswith("["):
        return [None if v is None else float(v) for v in json.loads(stripped)]
    if column is not None or ("," in stripped.splitlines()[0] if stripped else False):
        rows = list(csv.reader(io.StringIO(stripped)))
        header, body = rows[0], rows[1:]
        if column is None:
            raise ValueError(f"CSV input: choose a column with --column (one of: {', '.join(header)})")
        index = int(column) if column.isdigit() else header.index(column) if column in header else None
        if index is None:
            raise ValueError(f"no column {column!r}; columns are: {', '.join(header)}")
        return [_number(row[index]) for row in body if len(row) > index]
    return [_number(line) for line in stripped.splitlines() if line.strip()]


def parse_times(text: str, column: str) -> list[str | float]:
    """A CSV column of timestamps (by name or index): ISO 8601 strings as they are, epoch seconds as numbers."""
    rows = list(csv.reader(io.StringIO(text.strip())))
    header, body = rows[0], rows[1:]
    index = int(column) if column.isdigit() else header.index(column) if column in header else None
    if index is None:
        raise ValueError(f"no time column {column!r}; columns are: {', '.join(header)}")
    cells = [row[index].strip() for row in body if len(row) > index]
    try:
        return [float(cell) for cell in cells]
    except ValueError:
        return cells


def _number(cell: str) -> float | None:
    cell = cell.strip()
    return None if cell in ("", "null", "NA", "nan", "NaN") else float(cell)


def render_table(result) -> str:
    lines = [f"{name:<8} {sentence}" for name, sentence in result.description.items()]
    if result.checks:
        lines.append("")
        for name, check in result.checks.items():
            mark = "agrees" if check.agrees else f"CONTRADICTS (computed: {check.computed})"
            when = ", ".join(f"{k} {v}" for k, v in (check.times or {}).items())
            lines.append(f"  {name:<6} stated {check.stated!s:<11} {mark}" + (f"  ({when})" if when else ""))
        lines.append(f"  score  {result.score:.2f}")
    lines.append(f"\nmodel {result.model['name']} (adapter: {result.model['adapter']}), "
                 f"{result.usage['prompt_tokens']}+{result.usage['completion_tokens']} tokens, {result.latency_ms:.0f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tsdescribe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("describe", help="describe one series")
    d.add_argument("source", help="file path, or - for stdin")
    d.add_argument("--column", help="CSV column (name or 0-based index)")
    d.add_argument("--url", default=os.environ.get("TSDESCRIBE_URL", "http://127.0.0.1:8000"))
    d.add_argument("--api-key", default=os.environ.get("TSDESCRIBE_API_KEY"))
    d.add_argument("--repair", action="store_true")
    d.add_argument("--no-check", action="store_true")
    d.add_argument("--interpolate", action="store_true", help="fill empty cells / nulls linearly")
    d.add_argument("--time-column", help="CSV column of timestamps (ISO 8601 or epoch seconds): positions and "
                   "periods are then also given as times")
    d.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    text = sys.stdin.read() if args.source == "-" else open(args.source).read()
    try:
        series = parse_numbers(text, args.column)
        timestamps = parse_times(text, args.time_column) if args.time_column else None
    except (ValueError, json.JSONDecodeError) as error:
        print(f"tsdescribe: cannot read numbers: {error}", file=sys.stderr)
        return 2
    options = {"repair": args.repair, "self_check": not args.no_check,
               "missing": "interpolate" if args.interpolate else None, "timestamps": timestamps}
    try:
        with Client(args.url, api_key=args.api_key) as client:
            result = client.describe(series, **options)
    except TsdescribeError as error:
        print(f"tsdescribe: {error}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(result), indent=2) if args.json else render_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
