"""``seqlab run RECIPE [section.key=value ...]``: train and evaluate a recipe."""

from __future__ import annotations

import argparse
import json
import math
import sys

NAME = "run"
HELP = "train and evaluate a recipe (shipped name or TOML file), with key=value overrides"
DESCRIPTION = """\
Train a recipe and evaluate it on its validation and test splits.

RECIPE is a shipped recipe name (see `seqlab recipes`) or the path of a TOML file with
[recipe], [data], [model] and [train] tables. Any key can be overridden on the command
line as section.key=value; an unknown key is an error that lists the valid ones.

Everything lands in a run directory (runs/<recipe>-<timestamp> by default): the resolved
config, the vocabulary, metrics.csv/jsonl, checkpoints/{best,last}.safetensors and
results.json. `seqlab eval RUN_DIR` evaluates it again; `--resume RUN_DIR` continues a run
that was interrupted (Ctrl-C or killed).

At the end the measured number is printed beside the recipe's published reference.

Under torchrun (`torchrun --nproc_per_node=N -m seqlab run RECIPE ...`) the same run trains
with DistributedDataParallel on N processes; rank 0 writes the run directory and prints
the summary (README, "Distributed").
"""

EPILOG = """\
examples:
  seqlab run lstm-sst2
  seqlab run lstm-sst2 train.epochs=3 model.hidden_size=64 model.cell=peephole
  seqlab run lstm-sst2 data.limit=500 train.epochs=1 --quiet --json
  seqlab run my_recipe.toml --run-dir runs/try1
  seqlab run --resume runs/lstm-sst2-20260101-120000
  seqlab run long-range                       # an experiment: sweep of delays, plots (key=value: tasks,
  seqlab run long-range quick=true models=lstm,gru   #   models, epochs, seed, only, threads, quick)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("recipe", nargs="?", metavar="RECIPE",
                        help="shipped recipe name (e.g. lstm-sst2) or path of a TOML file; optional with --resume")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value",
                        help="config overrides, e.g. train.epochs=3 model.hidden_size=64 data.limit=500")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue the run in RUN_DIR from its last checkpoint (same config, same result)")
    parser.add_argument("--run-dir", metavar="DIR", help="write the run here instead of RUNS_ROOT/<recipe>-<timestamp>")
    parser.add_argument("--runs-root", metavar="DIR", default="runs", help="parent of new run directories (default: runs)")
    parser.add_argument("--device", metavar="DEVICE",
                        help="auto, cpu, cuda, cuda:N (overrides train.device)")
    parser.add_argument("--quiet", action="store_true", help="no progress output (the summary is still printed)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (final metrics and run_dir) as the last line of stdout")
    parser.add_argument("--record", action="store_true",
                        help="store the measured number as the recipe's 'last measured' in the results file "
                             "(benchmarks/results/recipes.json, or $SEQLAB_RESULTS_FILE)")


def _clean(value):
    """JSON-safe numbers (NaN/inf become null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run(args: argparse.Namespace) -> int:
    from seqlab.config import apply_overrides
    from seqlab.errors import ConfigurationError
    from seqlab.tasks import format_metric
    from seqlab.recipes.registry import load_recipe, record_result
    from seqlab.recipes.runner import run_recipe
    from seqlab.train.distributed import is_main_process

    # argparse puts a first "key=value" into RECIPE when RECIPE is omitted (with --resume)
    overrides = list(args.overrides)
    recipe = args.recipe
    if recipe is not None and "=" in recipe and not recipe.endswith(".toml"):
        overrides.insert(0, recipe)
        recipe = None
    from seqlab.recipes.experiments import EXPERIMENTS, run_experiment

    if recipe in EXPERIMENTS:  # a sweep of many trainings (seqlab/recipes/experiments.py)
        refused = [flag for flag, given in (("--resume", args.resume), ("--device", args.device),
                                            ("--record", args.record)) if given]
        if refused:
            raise ConfigurationError(f"{' and '.join(refused)} cannot be used with the {recipe} experiment "
                                     "(it runs on the CPU, does not resume and has no single headline number).")
        path = run_experiment(recipe, overrides, run_dir=args.run_dir, runs_root=args.runs_root)
        if args.json:
            print(json.dumps({"recipe": recipe, "run_dir": str(path)}))
        return 0
    if args.resume:
        if overrides or args.run_dir:
            raise ConfigurationError(
                "--resume continues a run with its stored config; overrides and --run-dir cannot be combined "
                "with it. Start a new run to change settings."
            )
        config = None
    else:
        if recipe is None:
            raise ConfigurationError("name a recipe (see `seqlab recipes`) or pass --resume RUN_DIR.")
        config = apply_overrides(load_recipe(recipe), overrides)
    if args.resume and recipe is not None:
        from pathlib import Path

        from seqlab.config import load_config

        stored = load_config(Path(args.resume) / "config.json").recipe.name
        if Path(recipe).stem != stored:
            raise ConfigurationError(f"--resume {args.resume} is a run of {stored!r}, not of {recipe!r}.")

    verbose = 0 if (args.quiet or args.json) else "auto"
    try:
        result = run_recipe(
            config,
            run_dir=args.run_dir,
            runs_root=args.runs_root,
            resume=args.resume,
            verbose=verbose,
            device=args.device,
            command_line=["seqlab", "run", *sys.argv[2:]] if sys.argv[1:2] == ["run"] else None,
        )
    except KeyboardInterrupt as exc:
        # the engine's message names the checkpoint and the command that resumes
        print(f"seqlab run: {exc}" if str(exc) else "seqlab run: interrupted", file=sys.stderr)
        return 130
    if not is_main_process():
        return 0  # under torchrun every rank holds the same result; rank 0 reports it (and records it)
    cfg = result.config
    if not args.json or not args.quiet:
        _print_summary(result, format_metric)
    if args.record and result.headline is not None:
        path = record_result(cfg.recipe.name, {
            "value": result.headline, "metric": cfg.recipe.metric,
            "run_dir": str(result.run_dir), "train_time_s": result.metrics.get("train_time_s"),
        })
        print(f"recorded {format_metric(cfg, result.headline)} for {cfg.recipe.name} in {path}")
    if args.json:
        payload = {k: _clean(v) for k, v in result.metrics.items()}
        payload.update({"recipe": cfg.recipe.name, "metric": cfg.recipe.metric, "headline": _clean(result.headline),
                        "reference": result.reference, "run_dir": str(result.run_dir)})
        print(json.dumps(payload, sort_keys=True))
    return 0


def _print_summary(result, format_metric) -> None:
    cfg = result.config
    keys = [k for k in result.metrics if k.startswith(("val_", "test_"))]
    parts = ", ".join(f"{k} {result.metrics[k]:.4f}" for k in keys)
    print(f"run directory: {result.run_dir}")
    print(f"{cfg.recipe.name}: {result.metrics.get('epochs')} epochs in {result.metrics.get('train_time_s')} s; {parts}")
    ref = "—" if result.reference is None else format_metric(cfg, result.reference)
    cite = f" ({cfg.recipe.citation})" if cfg.recipe.citation else ""
    measured = format_metric(cfg, result.headline)
    std = getattr(result, "headline_std", None)
    if std is not None:  # cross-validated: mean ± sample std over the folds
        measured += f" ± {std:.2f}"
    print(f"{cfg.recipe.metric}: measured {measured} | published {ref}{cite}")
