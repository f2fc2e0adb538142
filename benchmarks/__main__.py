"""`make bench`: run the benchmarks, print their tables, refresh docs/benchmarks.md."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from benchmarks import (
    erasure,
    explorer,
    export,
    extraction_quality,
    flag_noise,
    freshness,
    history_import,
    ingest,
    landing_listing,
    pipeline,
    scale,
    soak,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def _publish(section: str, table: str) -> None:
    """Replace the section's block between its markers in docs/benchmarks.md."""
    text = DOC.read_text(encoding="utf-8")
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    block = f"{start}\n{table}\n{end}"
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text,
                  flags=re.DOTALL)
    DOC.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["ingest", "pipeline", "soak", "import", "freshness",
                                                   "explorer", "flags", "quality",
                                                   "export", "erasure", "scale", "listing"],
                        help="run one benchmark")
    parser.add_argument("--soak-minutes", type=float, default=10, help="length of the soak")
    parser.add_argument("--duration", type=int, default=15, help="seconds per ingest server")
    parser.add_argument("--deliveries", type=int, default=1_000_000,
                        help="generated deliveries for the pipeline benchmark")
    parser.add_argument("--peer-payloads", type=int, default=None,
                        help="payloads loaded once with dlt and pandas (default: --deliveries, "
                             "so rates compare at equal N)")
    parser.add_argument("--peer-small", type=int, default=30_000,
                        help="a small prefix loaded three times with each peer (start-up cost)")
    parser.add_argument("--import-lines", type=int, default=1_000_000,
                        help="JSON Lines for the history import benchmark")
    parser.add_argument("--fresh-history", type=int, default=1_000_000,
                        help="deliveries of history for the freshness benchmark")
    parser.add_argument("--fresh-minutes", type=float, default=10,
                        help="minutes of load in the freshness benchmark")
    parser.add_argument("--fresh-rate", type=float, default=100, help="deliveries a second")
    parser.add_argument("--fresh-modes", nargs="+", default=list(freshness.MODES),
                        choices=freshness.MODES, help="how Dagster runs in the freshness "
                                                      "benchmark (default: both)")
    parser.add_argument("--sensor-interval", type=int, default=3,
                        help="OSVI_SENSOR_INTERVAL_SECONDS in the freshness benchmark")
    parser.add_argument("--explorer-deliveries", type=int, default=1_320_000,
                        help="deliveries of history for the explorer benchmark (~1M calls: "
                             "the simulator's retries and second integrations)")
    parser.add_argument("--quality-deliveries", type=int, default=1_000_000,
                        help="deliveries of history for the extraction-quality benchmark")
    parser.add_argument("--export-deliveries", type=int, default=1_320_000,
                        help="deliveries of history for the export benchmark (~1M calls)")
    parser.add_argument("--erasure-deliveries", type=int, default=1_000_000,
                        help="deliveries of landing over 30 days for the erasure benchmark")
    parser.add_argument("--scale-sizes", type=int, nargs="+", default=list(scale.SIZES),
                        help="deliveries of history for the scale benchmark")
    parser.add_argument("--scale-fresh-minutes", type=float, default=10,
                        help="minutes of load per size in the scale benchmark (0: none)")
    parser.add_argument("--export-minutes", type=float, default=3,
                        help="minutes of load while exporting under `osvi up`")
    args = parser.parse_args()
    if args.only in (None, "ingest"):
        results = ingest.run(duration=args.duration)
        table = ingest.markdown(results, args.duration, 32)
        print(table)
        _publish("ingest", table)
    if args.only in (None, "pipeline"):
        found = pipeline.run(args.deliveries, peer_payloads=args.peer_payloads,
                             peer_small=args.peer_small)
        table = pipeline.markdown(found, args.deliveries)
        print(table)
        _publish("pipeline", table)
    if args.only in (None, "import"):
        table = history_import.markdown(history_import.run(args.import_lines),
                                        args.import_lines)
        print(table)
        _publish("import", table)
    if args.only in (None, "freshness"):
        table = freshness.markdown(freshness.run(args.fresh_history, args.fresh_rate,
                                                 args.fresh_minutes, args.sensor_interval,
                                                 modes=tuple(args.fresh_modes)))
        print(table)
        _publish("freshness", table)
    if args.only in (None, "explorer"):
        table = explorer.markdown(explorer.run(args.explorer_deliveries))
        print(table)
        _publish("explorer", table)
    if args.only in (None, "flags"):
        table = flag_noise.markdown(flag_noise.run())
        print(table)
        _publish("flags", table)
    if args.only in (None, "quality"):
        table = extraction_quality.markdown(extraction_quality.run(args.quality_deliveries))
        print(table)
        _publish("quality", table)
    if args.only in (None, "export"):
        table = export.markdown(export.run(args.export_deliveries, args.export_minutes))
        print(table)
        _publish("export", table)
    if args.only in (None, "erasure"):
        table = erasure.markdown(erasure.run(args.erasure_deliveries))
        print(table)
        _publish("erasure", table)
    if args.only in (None, "scale"):
        table = scale.markdown(scale.run(tuple(args.scale_sizes), args.scale_fresh_minutes))
        print(table)
        _publish("scale", table)
    if args.only in (None, "listing"):
        table = landing_listing.markdown(landing_listing.run())
        print(table)
        _publish("listing", table)
    if args.only in (None, "soak"):
        table = soak.markdown(soak.run(args.soak_minutes))
        print(table)
        _publish("soak", table)


if __name__ == "__main__":
    main()
