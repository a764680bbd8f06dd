"""Text classification recipes over seeds and folds: measured accuracy vs the published tables (issue 5).

Runs each recipe (default: every ``kim-cnn-rand-*``, the recurrent SST-2 recipes,
``keras-lecture-sst2`` and their ``*-phrases`` twins) through ``seqlab.recipes.runner.run_recipe``, once per seed and, for
the cross-validated datasets (MR, Subj, CR, MPQA), once per fold, and writes
``benchmarks/results/text_classification.md`` (and ``.json`` beside it): the machine, the date,
the settings, per recipe the test accuracy as mean ± std over its runs (sample standard
deviation), the wall time of each run and the published number with its citation.

    python benchmarks/text_classification.py                                # everything (hours)
    python benchmarks/text_classification.py --recipes kim-cnn-rand-trec --seeds 0,1,2
    python benchmarks/text_classification.py --recipes kim-cnn-rand-mr --folds 0,1,2 --max-time-s 300
    python benchmarks/text_classification.py --recipes lstm-sst2 --set data.limit=500 --set train.epochs=1 \\
        --out /tmp/smoke.md                                                 # a smoke test

Splitting the work between two processes (one thread each on a 2-core machine), then merging:

    python benchmarks/text_classification.py --folds 0,1,2 --interleave --out /tmp/tc/a.md
    python benchmarks/text_classification.py --folds 0,1,2 --interleave --reverse --skip /tmp/tc/a.json \
        --out /tmp/tc/b.md
    python benchmarks/text_classification.py --merge /tmp/tc/a.json /tmp/tc/b.json   # -> results/

Defaults: the 10 folds with seed 0 for a cross-validated recipe (Kim reports the mean over
the 10 folds), seeds 0, 1, 2 for the others (issue 5: at least 3 seeds). ``--seeds`` applies
to every recipe, ``--folds`` to the cross-validated ones. The results file is rewritten after
every run, so an interrupted benchmark keeps what it measured. A results file written while
the machine was busy (1-minute load above half the cores) carries a warning: do not commit
it (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# Run from a checkout: import this checkout's seqlab even when it is not installed.
sys.path.insert(1, str(HERE.parent))

from _timing import machine_info, markdown_table  # noqa: E402

RECURRENT = ["lstm-sst2", "gru-sst2", "bilstm-sst2", "peephole-lstm-sst2", "keras-lecture-sst2"]
# Kim's and Tai et al.'s SST setting: trained on every labelled phrase of the train trees (issue 15)
RECURRENT_PHRASES = ["lstm-sst2-phrases", "bilstm-sst2-phrases", "gru-sst2-phrases", "peephole-lstm-sst2-phrases",
                     "keras-lecture-sst2-phrases", "lstm-sst1-phrases", "bilstm-sst1-phrases"]
KIM_ORDER = ["mr", "sst1", "sst2", "subj", "trec", "cr", "mpqa"]  # Kim 2014, Table 2 column order


def default_recipes() -> list[str]:
    from seqlab.recipes.registry import list_recipes

    shipped = set(list_recipes())
    kim = [f"kim-cnn-rand-{d}" for d in KIM_ORDER if f"kim-cnn-rand-{d}" in shipped]
    # Kim's SST setting (trained on phrases, built from sst/trees/train.txt)
    phrases = [f"kim-cnn-rand-{d}-phrases" for d in ("sst1", "sst2") if f"kim-cnn-rand-{d}-phrases" in shipped]
    return kim + phrases + [r for r in RECURRENT + RECURRENT_PHRASES if r in shipped]


def _ints(text: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise SystemExit(f"expected comma-separated integers, got {text!r}") from None


@dataclass
class Run:
    """One training run of the benchmark."""

    recipe: str
    seed: int
    fold: Optional[int]
    headline: Optional[float] = None
    metrics: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    run_dir: str = ""
    error: str = ""


def run_one(name: str, seed: int, fold: Optional[int], overrides: list[str], runs_root: Path) -> Run:
    """Train and test one recipe configuration; errors are recorded, not raised."""
    import torch

    from seqlab.config import apply_overrides
    from seqlab.errors import SeqlabError
    from seqlab.recipes.registry import load_recipe
    from seqlab.recipes.runner import run_recipe

    items = [f"train.seed={seed}", *([f"data.cv_fold={fold}"] if fold is not None else []), *overrides]
    run = Run(name, seed, fold)
    directory = runs_root / name / (f"seed{seed}" + (f"-fold{fold}" if fold is not None else ""))
    threads = torch.get_num_threads()
    start = time.perf_counter()
    try:
        config = apply_overrides(load_recipe(name), items)
        result = run_recipe(config, run_dir=directory, verbose=0, command_line=sys.argv)
        run.headline, run.metrics, run.run_dir = result.headline, result.metrics, str(result.run_dir)
    except SeqlabError as exc:
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        torch.set_num_threads(threads)
    run.wall_s = round(time.perf_counter() - start, 1)
    return run


def _mean_std(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


def write_report(path: Path, runs: list[Run], settings: dict[str, Any], info: dict[str, str]) -> None:
    """The markdown table (and a JSON twin) of every run so far."""
    from seqlab.recipes.registry import load_recipe

    load1 = float(info["load average (1/5/15 min)"].split("/")[0])
    cores = int(info["usable cores"]) if info["usable cores"].isdigit() else os.cpu_count() or 1
    warning = (f"> **Warning:** the machine was busy (1-min load {load1:.2f} on {cores} cores) when this "
               "file was written: the wall times are inflated and are not timings to quote. The accuracies "
               "stand, except for a run stopped by its recipe's `max_time_s` (fewer epochs than planned in the "
               "epochs column), which trained less than on a quiet machine.\n"
               if load1 > 0.5 * cores else "")
    summary, notes = [], []
    for name in dict.fromkeys(r.recipe for r in runs):
        cfg = load_recipe(name)
        mine = [r for r in runs if r.recipe == name]
        values = [r.headline for r in mine if r.headline is not None]
        walls = [r.wall_s for r in mine if not r.error]
        epochs = [r.metrics.get("epochs") for r in mine if isinstance(r.metrics.get("epochs"), (int, float))]
        ref = cfg.recipe.reference
        delta = f"{statistics.fmean(values) - ref:+.2f}" if values and ref is not None else "—"
        summary.append([name, cfg.data.dataset, cfg.model.kind, str(len(values)) + (f" ({len(mine) - len(values)} failed)"
                        if len(mine) > len(values) else ""), _mean_std(values),
                        "—" if ref is None else f"{ref:.1f}", delta,
                        f"{statistics.fmean(walls):.0f} / {max(walls):.0f}" if walls else "—",
                        f"{statistics.fmean(epochs):.1f}" if epochs else "—"])
        notes.append(f"* `{name}`: {cfg.recipe.citation or 'no published number'}.")
    per_run = [[r.recipe, str(r.seed), "—" if r.fold is None else str(r.fold),
                "—" if r.headline is None else f"{r.headline:.2f}",
                "—" if "val_accuracy" not in r.metrics else f"{100 * r.metrics['val_accuracy']:.2f}",
                str(r.metrics.get("epochs", "—")), f"{r.wall_s:.0f}",
                " ".join(r.error.split()) if r.error else r.run_dir] for r in runs]  # one line per table row
    lines = [
        "# Text classification: measured test accuracy vs the published numbers",
        "",
        f"Command: `python benchmarks/{Path(__file__).name} {' '.join(settings['argv'])}`",
        "",
        warning,
        "Each run is `seqlab run RECIPE train.seed=S [data.cv_fold=K] [overrides]`: train on the train split "
        "(the training folds), pick the epoch with the best dev accuracy, report its test accuracy. "
        "Cross-validated datasets (MR, Subj, CR, MPQA) run one fold per run; \"mean ± std\" is over all runs "
        "of a recipe (folds × seeds), std the sample standard deviation. Wall time is per run: data, "
        "training, evaluation and plots.",
        "",
        "## Machine",
        "",
        markdown_table(["", ""], [[k, v] for k, v in info.items()]),
        "",
        "## Settings",
        "",
        markdown_table(["setting", "value"], [[k, f"`{v}`"] for k, v in settings.items() if k != "argv"]),
        "",
        "## Results",
        "",
        markdown_table(["recipe", "dataset", "model", "runs", "test accuracy % (mean ± std)", "published %",
                        "Δ", "wall s per run (mean / max)", "epochs (mean)"], summary),
        "",
        "Published numbers:",
        "",
        *notes,
        "",
        "## Every run",
        "",
        markdown_table(["recipe", "seed", "fold", "test acc %", "dev acc %", "epochs", "wall s", "run directory"],
                       per_run),
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps(
        {"machine": info, "settings": settings, "runs": [r.__dict__ for r in runs]}, indent=2, default=str) + "\n",
        encoding="utf-8")


def merge(sources: list[Path], out: Path, argv: list[str]) -> int:
    """Combine the runs of several results files (for example two processes that ran one plan
    from both ends) into one report; the machine facts are the first file's, with the highest
    load average seen by any of them."""
    runs: list[Run] = []
    seen: set[tuple] = set()
    infos = []
    for source in sources:
        stored = json.loads(source.read_text(encoding="utf-8"))
        infos.append(stored["machine"])
        for item in stored["runs"]:
            key = (item["recipe"], item["seed"], item["fold"])
            if key not in seen:
                seen.add(key)
                runs.append(Run(**item))
    order = {name: i for i, name in enumerate(default_recipes())}
    runs.sort(key=lambda r: (order.get(r.recipe, len(order)), r.recipe, r.seed, -1 if r.fold is None else r.fold))
    info = dict(infos[0])
    key = "load average (1/5/15 min)"
    info[key] = max((i[key] for i in infos), key=lambda v: float(v.split("/")[0]))
    settings = {"argv": argv, "merged from": ", ".join(str(s) for s in sources), "runs": len(runs)}
    write_report(out, runs, settings, info)
    print(f"{len(runs)} runs from {len(sources)} files -> {out}")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", help="comma-separated recipe names (default: Kim's seven, the recurrent SST-2 "
                                          "recipes and keras-lecture-sst2)")
    parser.add_argument("--seeds", help="comma-separated training seeds (default: 0 for cross-validated recipes, "
                                        "0,1,2 for the others)")
    parser.add_argument("--folds", help="comma-separated folds of the cross-validated recipes (default: all)")
    parser.add_argument("--max-time-s", type=float, help="train.max_time_s of every run (default: the recipe's)")
    parser.add_argument("--set", action="append", default=[], metavar="section.key=value",
                        help="an override for every run (repeatable), e.g. --set data.limit=500")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "text_classification.md",
                        help="the markdown file (a .json twin is written beside it)")
    parser.add_argument("--runs-root", type=Path, help="parent of the run directories (default: runs/bench-<time>)")
    parser.add_argument("--reverse", action="store_true",
                        help="run the plan backwards (a second process can start from the other end; "
                             "combine the two with --merge)")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                        help="write --out from the runs stored in these .json files (no training); a run "
                             "(recipe, seed, fold) found twice is kept once")
    parser.add_argument("--skip", nargs="+", type=Path, default=[], metavar="JSON",
                        help="do not run again the runs (recipe, seed, fold) stored in these .json files")
    parser.add_argument("--interleave", action="store_true",
                        help="run the first seed/fold of every recipe, then the second, ... (so that a benchmark "
                             "stopped early has runs of every recipe)")
    args = parser.parse_args(argv)

    from seqlab.config import apply_overrides
    from seqlab.tasks import task_for
    from seqlab.recipes.registry import load_recipe

    if args.merge:
        return merge(args.merge, args.out, argv if argv is not None else sys.argv[1:])
    names = args.recipes.split(",") if args.recipes else default_recipes()
    overrides = list(args.set) + ([f"train.max_time_s={args.max_time_s}"] if args.max_time_s is not None else [])
    plan: list[tuple[str, int, Optional[int]]] = []
    for name in names:
        config = apply_overrides(load_recipe(name), overrides)  # fail on a bad name or override before any run
        cv = task_for(config).folds(config) is not None
        seeds = _ints(args.seeds) if args.seeds else ([0] if cv else [0, 1, 2])
        folds: list[Optional[int]] = (_ints(args.folds) if args.folds else list(range(config.data.cv_folds))) \
            if cv else [None]
        plan += [(name, seed, fold) for seed in seeds for fold in folds]
    if args.interleave:  # stable: within a round the recipes keep their order
        rank = {}
        keyed = []
        for item in plan:
            rank[item[0]] = rank.get(item[0], -1) + 1
            keyed.append((rank[item[0]], item))
        plan = [item for _, item in sorted(keyed, key=lambda k: k[0])]
    done = {(r["recipe"], r["seed"], r["fold"]) for f in args.skip
            for r in json.loads(f.read_text(encoding="utf-8"))["runs"] if not r.get("error")}
    plan = [item for item in plan if item not in done]
    if args.reverse:
        plan.reverse()
    runs_root = args.runs_root or Path("runs") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    settings = {"argv": sys.argv[1:] if argv is None else argv, "recipes": ",".join(names),
                "seeds": args.seeds or "0 (cross-validated) / 0,1,2 (others)", "folds": args.folds or "all",
                "overrides": " ".join(overrides) or "none", "runs": len(plan), "runs root": str(runs_root)}
    print(f"{len(plan)} runs; results in {args.out}", flush=True)
    runs: list[Run] = []
    for i, (name, seed, fold) in enumerate(plan, 1):
        run = run_one(name, seed, fold, overrides, runs_root)
        runs.append(run)
        shown = run.error or f"test accuracy {run.headline:.2f} %"
        print(f"[{i}/{len(plan)}] {name} seed {seed}" + (f" fold {fold}" if fold is not None else "")
              + f": {shown} ({run.wall_s:.0f} s)", flush=True)
        write_report(args.out, runs, settings, machine_info())
    return 1 if any(r.error for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
