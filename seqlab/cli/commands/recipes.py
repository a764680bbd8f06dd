"""``seqlab recipes``: the shipped recipes, their published numbers and the last measured ones."""

from __future__ import annotations

import argparse
import json

NAME = "recipes"
HELP = "list the shipped recipes with published and last measured numbers"
DESCRIPTION = """\
List the recipes shipped with seqlab: name, task, dataset, the published reference number
(with its citation) and the last measured number, read from the results file
(benchmarks/results/recipes.json, or $SEQLAB_RESULTS_FILE; `seqlab run RECIPE --record`
updates it). "—" means not measured yet.

Run one with `seqlab run NAME`; `--show NAME` prints its full TOML.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--show", metavar="NAME", help="print the TOML file of one recipe and exit")
    parser.add_argument("--json", action="store_true", help="print the table as one JSON list instead")


def _rows() -> list[dict]:
    from seqlab.tasks import format_metric
    from seqlab.recipes.registry import list_recipes, load_recipe, measured_results

    measured = measured_results()
    rows = []
    for name in list_recipes():
        cfg = load_recipe(name)
        entry = measured.get(name) or {}
        value = entry.get("value")
        rows.append({
            "name": name,
            "task": cfg.recipe.task,
            "dataset": cfg.data.dataset,
            "metric": cfg.recipe.metric,
            "reference": cfg.recipe.reference,
            "reference_text": format_metric(cfg, cfg.recipe.reference),
            "citation": cfg.recipe.citation,
            "measured": value,
            "measured_text": format_metric(cfg, value) if isinstance(value, (int, float)) else "—",
            "description": cfg.recipe.description,
        })
    from seqlab.recipes.experiments import EXPERIMENTS

    for name, experiment in EXPERIMENTS.items():
        rows.append({"name": name, "task": "experiment", "dataset": "generated", "metric": "plots",
                     "reference": None, "reference_text": "—", "citation": experiment.citation,
                     "measured": None, "measured_text": "—", "description": experiment.description})
    return rows


def run(args: argparse.Namespace) -> int:
    from seqlab.recipes.registry import recipe_path

    if args.show:
        from seqlab.recipes.experiments import EXPERIMENTS

        if args.show in EXPERIMENTS:  # no TOML: say what it is and how to run it
            e = EXPERIMENTS[args.show]
            print(f"{args.show}: an experiment recipe ({e.module}); {e.description}.\n"
                  f"run it with `seqlab run {args.show} [key=value ...]`; keys: {', '.join(sorted(e.keys))}")
            return 0
        print(recipe_path(args.show).read_text(encoding="utf-8"), end="")
        return 0
    rows = _rows()
    if args.json:
        print(json.dumps(rows))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="seqlab recipes", show_lines=False)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("task")
    table.add_column("dataset")
    table.add_column("metric")
    table.add_column("published", justify="right", no_wrap=True)
    table.add_column("citation")
    table.add_column("last measured", justify="right", no_wrap=True)
    for r in rows:
        table.add_row(r["name"], r["task"], r["dataset"], r["metric"], r["reference_text"], r["citation"],
                      r["measured_text"])
    Console(width=max(Console().width, 140)).print(table)
    return 0
