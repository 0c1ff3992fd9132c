"""Stage 2 — a PNG line chart per series, for the multimodal teacher.

    python -m training.render --run runs/smollm2 [--limit 200]
"""

from __future__ import annotations

import argparse
import io
import sys

from training.rundir import RunDir, atomic_write


def chart_png(values: list[float], width_px: int = 640, height_px: int = 320) -> bytes:
    """The series as a plain line chart (headless matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width_px / 100, height_px / 100), dpi=100)
    ax.plot(range(len(values)), values, linewidth=1.2, color="#1f77b4")
    ax.set_xlabel("time step")
    ax.set_ylabel("value")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--source", default="series.jsonl")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    run = RunDir(args.run)
    charts = run.path / "charts"
    charts.mkdir(exist_ok=True)
    written = skipped = 0
    for i, record in enumerate(run.read_jsonl(args.source)):
        if args.limit is not None and i >= args.limit:
            break
        target = charts / f"{record['id']}.png"
        if target.exists():
            skipped += 1
            continue
        atomic_write(target, chart_png(record["values"]))  # a killed render leaves no truncated chart
        written += 1
    run.record("render", {"source": args.source, "written": written, "already_there": skipped})
    print(f"charts: {written} written, {skipped} already there, in {charts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
