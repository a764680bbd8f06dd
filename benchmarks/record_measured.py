"""Copy the benchmarks' latest numbers into ``results/recipes.json``, which ``seqlab recipes`` shows.

``seqlab run RECIPE --record`` stores one run; the benchmarks measure recipes more carefully
(``language_modeling.py`` records full-length runs with their load, ``text_classification.py``
several seeds or folds).  This script makes ``recipes.json`` agree with their result files:

* a language-model recipe: its row of ``results/language_modeling.json``;
* a text-classification recipe: the mean over its runs in ``results/text_classification.json``
  (with the standard deviation and the number of runs).

    python benchmarks/record_measured.py            # rewrite the entries of those recipes
    python benchmarks/record_measured.py --dry-run  # print them only
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's seqlab


def entries(results: Path) -> dict[str, dict]:
    """recipe name -> the recipes.json entry the result files give it."""
    out: dict[str, dict] = {}
    lm = results / "language_modeling.json"
    if lm.is_file():
        for name, row in json.loads(lm.read_text(encoding="utf-8")).get("recipes", {}).items():
            out[name] = {
                "value": row["value"], "metric": row["metric"], "train_time_s": row.get("train_time_s"),
                "settings": f"{row.get('settings')}; {row.get('threads')} thread(s); "
                            f"{row.get('epochs_logged')} of {row.get('epochs_configured')} epochs"
                            + ("; CUT by max_time_s (not what the recipe reaches)" if row.get("stopped_by_time_limit")
                               else "")
                            + f"; load before {row.get('load_before')}; measured {row.get('date')}",
                "source": "benchmarks/results/language_modeling.md",
            }
    tc = results / "text_classification.json"
    if tc.is_file():
        runs = json.loads(tc.read_text(encoding="utf-8"))["runs"]
        for name in dict.fromkeys(r["recipe"] for r in runs):
            values = [r["headline"] for r in runs if r["recipe"] == name and r["headline"] is not None]
            if not values:
                continue
            walls = [r["wall_s"] for r in runs if r["recipe"] == name and not r.get("error")]
            out[name] = {
                "value": statistics.fmean(values), "metric": "accuracy",
                "std": statistics.stdev(values) if len(values) > 1 else None, "runs": len(values),
                "train_time_s": round(statistics.fmean(walls), 1) if walls else None,
                "settings": f"mean over {len(values)} run(s) (seeds/folds); wall s per run incl. evaluation",
                "source": "benchmarks/results/text_classification.md",
            }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=HERE / "results", help="folder of the result files")
    parser.add_argument("--dry-run", action="store_true", help="print the entries, write nothing")
    args = parser.parse_args(argv)
    from seqlab.recipes.registry import record_result

    found = entries(args.results)
    for name, entry in sorted(found.items()):
        print(f"{name}: {entry['value']:.4g} {entry['metric']}")
        if not args.dry_run:
            record_result(name, entry, args.results / "recipes.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
