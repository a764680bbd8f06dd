"""Language-modelling results of issue 6 (item 6) and the notes' Exercise 2 baselines table.

Two kinds of rows, kept in ``results/language_modeling.json`` and rendered to
``results/language_modeling.md`` after every command (a command adds or replaces its own
rows and leaves the others alone, so slow runs can be done one at a time):

* **recipes** — ``seqlab run RECIPE`` end to end (``char-shakespeare``, ``char-shakespeare-long``,
  ``lstm-ptb-tied``, ``ptb-small``, ``ptb-medium``), each beside its published anchor and the
  issue's target, with wall time, the epochs it completed and whether ``train.max_time_s``
  cut it short (a recipe cut short is reported as such, never extrapolated).
* **baselines** — the notes' Exercise 2 on one dataset: an interpolated Kneser–Ney n-gram
  model (``seqlab.models.ngram``), Bengio et al. (2003) fixed-window LMs with a 2-token and a
  large window, a bag-of-words context model (``seqlab.experiments.window_baselines``) and
  an RNN / LSTM / GRU LM (``seqlab.models.language_model``) — the neural ones trained by the
  same loop (Adam, batch, BPTT window, clipping) for the same number of seconds, all scored on
  the whole validation / test streams (one stream, state carried) in nats and perplexity.

Usage::

    python benchmarks/language_modeling.py recipe char-shakespeare            # run it (its own max_time_s)
    python benchmarks/language_modeling.py recipe ptb-medium --max-time-s 600 # cut short on purpose
    python benchmarks/language_modeling.py recipe lstm-ptb-tied --import-run runs/lstm-ptb-tied-...  # a finished run
    python benchmarks/language_modeling.py baselines --dataset ptb --seconds 60 --kn-order 5
    python benchmarks/language_modeling.py report                             # re-render the markdown

Every command runs torch with one thread (the machine is shared; ``--threads`` changes it) and
records the load average before and after, so the numbers can be judged.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # _timing
sys.path.insert(1, str(HERE.parent))  # the checkout's seqlab, not an installed copy

RESULTS_JSON = HERE / "results" / "language_modeling.json"
RESULTS_MD = HERE / "results" / "language_modeling.md"

#: recipe -> (published anchor, issue-6 target, budget in seconds the target allows)
TARGETS: dict[str, dict[str, Any]] = {
    "char-shakespeare": {
        "anchor": "1.88 nats val (nanoGPT CPU recipe, ~3 min); 1.47 (nanoGPT GPU recipe)",
        "target": "<= 1.60 nats val within 300 s", "goal": 1.60, "budget_s": 300},
    "char-shakespeare-long": {
        "anchor": "1.47 nats val (nanoGPT GPU recipe)",
        "target": "<= 1.45 nats val within 3600 s", "goal": 1.45, "budget_s": 3600},
    "lstm-ptb-tied": {
        "anchor": "114.5 test ppl (Zaremba et al. 2014, small, 13 epochs)",
        "target": "<= 110 test ppl within 1800 s", "goal": 110.0, "budget_s": 1800},
    "ptb-small": {
        "anchor": "114.5 test ppl (Zaremba et al. 2014, small)", "target": "faithful reproduction",
        "goal": 114.5, "budget_s": None},
    "ptb-medium": {
        "anchor": "82.7 test ppl (Zaremba et al. 2014, medium)", "target": "faithful reproduction",
        "goal": 82.7, "budget_s": None},
}

#: published Exercise-2 numbers on PTB, test perplexity (Mikolov et al. 2011, "Empirical
#: evaluation and combination of advanced language modeling techniques", Interspeech;
#: Zaremba et al. 2014 for the LSTM). Their models differ in size from the rows measured here.
PUBLISHED_BASELINES: dict[str, dict[str, str]] = {
    "ptb": {"kn": "141.2 (Mikolov 2011: KN5)", "window2": "-", "window7": "140.2 (Mikolov 2011: a feed-forward NNLM)", "bow8": "-",
            "rnn": "124.7 (Mikolov 2011: RNNLM)", "lstm": "114.5 (Zaremba small, 2x200, 13 ep)", "gru": "-"},
}


# --------------------------------------------------------------------------- state


def _load_state() -> dict[str, Any]:
    if RESULTS_JSON.is_file():
        return json.loads(RESULTS_JSON.read_text(encoding="utf-8"))
    return {"recipes": {}, "baselines": {}}


def _save_state(state: dict[str, Any]) -> None:
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    RESULTS_MD.write_text(render(state), encoding="utf-8")


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- recipes


def _model_summary(cfg: dict[str, Any]) -> str:
    m, d, t = cfg["model"], cfg["data"], cfg["train"]
    tied = ", tied" if m.get("tie_weights") else ""
    sched = t.get("lr_schedule") or "constant"
    return (f"{m['num_layers']}x{m['hidden_size']} {m['rnn_type']} (E {m['embedding_dim']}{tied}, dropout {m['dropout']}); "
            f"B {d['batch_size']}, bptt {d['bptt']}; {t['optimizer']} lr {t['lr']} {sched}, clip {t['grad_clip_norm']}, "
            f"{t['epochs']} epochs, max_time_s {t['max_time_s']}")


def _curve(run_dir: Path) -> list[dict[str, Any]]:
    """Per-epoch rows of ``metrics.jsonl`` (the last one may be a partial epoch cut by the time limit)."""
    curve = []
    log = run_dir / "metrics.jsonl"
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                curve.append({k: r[k] for k in ("epoch", "step", "loss", "val_loss", "val_perplexity", "lr") if k in r})
    return curve


def recipe_row(run_dir: Path, *, load_before: str = "?", load_after: str = "?", wall_s: Optional[float] = None) -> dict[str, Any]:
    """One results row from a finished run directory (``results.json``, ``config.json``, ``metrics.jsonl``)."""
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    cfg = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    curve = _curve(run_dir)
    metrics = results["metrics"]
    epochs_cfg = cfg["train"]["epochs"]
    # Complete = every planned epoch logged and the last one as long as the first (the time
    # limit is checked after every update, so a cut epoch is logged with fewer updates).
    steps_per_epoch = curve[0].get("step") if curve else None
    complete = len(curve) >= epochs_cfg and (steps_per_epoch is None or curve[-1].get("step", 0) >= epochs_cfg * steps_per_epoch)
    return {
        "recipe": results["recipe"], "metric": results["metric"], "value": results["headline"],
        "val_loss": metrics.get("val_loss"), "val_perplexity": metrics.get("val_perplexity"),
        "test_loss": metrics.get("test_loss"), "test_perplexity": metrics.get("test_perplexity"),
        "train_time_s": metrics.get("train_time_s"), "wall_s": wall_s, "epochs_logged": len(curve),
        "epochs_configured": epochs_cfg, "stopped_by_time_limit": not complete,
        "settings": _model_summary(cfg), "data_limit": cfg["data"]["limit"], "eval_limit": cfg["data"]["eval_limit"],
        "threads": cfg["train"]["num_threads"], "max_time_s": cfg["train"]["max_time_s"], "curve": curve, "run_dir": str(run_dir),
        "load_before": load_before, "load_after": load_after, "date": _now(),
    }


def cmd_recipe(args: argparse.Namespace) -> int:
    from seqlab.config import apply_overrides
    from seqlab.recipes.registry import load_recipe
    from seqlab.recipes.runner import run_recipe

    if args.import_run:
        row = recipe_row(Path(args.import_run), load_before=args.load or "?", load_after=_load())
    else:
        overrides = [f"train.num_threads={args.threads}"] + list(args.overrides)
        if args.max_time_s is not None:
            overrides.append(f"train.max_time_s={args.max_time_s}")
        config = apply_overrides(load_recipe(args.name), overrides)
        before = _load()
        start = time.perf_counter()
        result = run_recipe(config, runs_root=args.runs_root, verbose=args.verbose,
                            command_line=["benchmarks/language_modeling.py", "recipe", args.name, *overrides])
        row = recipe_row(result.run_dir, load_before=before, load_after=_load(), wall_s=round(time.perf_counter() - start, 1))
        row["overrides"] = overrides
    state = _load_state()
    key = args.key or row["recipe"]
    state["recipes"][key] = row
    _save_state(state)
    print(f"{key}: {row['metric']} = {row['value']:.4f} in {row['train_time_s']} s "
          f"({row['epochs_logged']} epochs logged; cut by time limit: {row['stopped_by_time_limit']}) -> {RESULTS_MD}")
    return 0


# --------------------------------------------------------------------------- baselines


def _register_recurrent_baselines(embedding_dim: int, hidden_size: int) -> None:
    """Add rnn / lstm / gru to the Exercise-2 registry, sized like the window models."""
    from seqlab.experiments import window_baselines
    from seqlab.models.language_model import rnn_language_model

    for name in ("rnn", "lstm", "gru"):
        window_baselines.BASELINES[name] = (
            rnn_language_model, {"rnn_type": name, "embedding_dim": embedding_dim, "hidden_size": hidden_size})


def _kneser_ney_row(dataset: str, order: int, eval_limit: Optional[int]) -> dict[str, Any]:
    from seqlab.data import load
    from seqlab.errors import ConfigurationError
    from seqlab.models.ngram import KneserNeyLM

    train = load(dataset, split="train")
    vocab = train.build_vocabulary(unk_token="<unk>")
    start = time.perf_counter()
    model = KneserNeyLM(order, len(vocab)).fit(train.encode(vocab).tolist())
    row: dict[str, Any] = {"train_seconds": round(time.perf_counter() - start, 1), "parameters": None,
                           "settings": f"interpolated Kneser-Ney, order {order}, discounts n1/(n1+2 n2)"}
    for split in ("valid", "test"):
        try:
            ids = load(dataset, split=split).encode(vocab)[:eval_limit].tolist()
        except ConfigurationError:  # a dataset without that split (Tiny Shakespeare has no test split)
            continue
        # predict ids[1:] from what precedes them, exactly the targets of a stream window
        nats = model.cross_entropy(ids[1:], context=ids[:1])
        row.update({f"{split}_nats": round(nats, 4), f"{split}_perplexity": round(math.exp(nats), 2),
                    f"{split}_bits_per_char": round(nats / math.log(2), 4)})
    return row


def _save_baseline(dataset: str, name: Optional[str] = None, row: Optional[dict[str, Any]] = None, **table_keys: Any) -> None:
    """Re-read the state (another command may have written it meanwhile), update one table, save."""
    state = _load_state()
    table = state["baselines"].setdefault(dataset, {"rows": {}})
    if name is not None:
        table["rows"][name] = row
    table.update(table_keys)
    _save_state(state)


def cmd_baselines(args: argparse.Namespace) -> int:
    from seqlab.experiments.window_baselines import run_baselines

    settings = (f"neural rows: Adam lr {args.lr}, batch {args.batch_size} streams, bptt {args.bptt}, clip 1.0, "
                f"{args.seconds:.0f} s of training each, 1 seed, {args.threads} thread; recurrent rows 1 layer, "
                f"E {args.embedding_dim}, H {args.hidden_size}; window2/window7/bow8 as in "
                f"seqlab.experiments.window_baselines; evaluation: the whole "
                f"{'first %d tokens of the ' % args.eval_limit if args.eval_limit else ''}"
                f"valid/test streams as one stream, state carried")
    start = time.perf_counter()
    if "kn" in args.models:
        before = _load()
        row = _kneser_ney_row(args.dataset, args.kn_order, args.eval_limit)
        row.update(load_before=before, load_after=_load(), date=_now())
        print(f"{args.dataset} kn{args.kn_order}: {row}", flush=True)
        _save_baseline(args.dataset, "kn", row)
    _register_recurrent_baselines(args.embedding_dim, args.hidden_size)
    for name in (m for m in args.models if m != "kn"):  # one at a time: each row is saved as soon as it exists
        before = _load()
        results = run_baselines(args.dataset, names=(name,), seconds_each=args.seconds, batch_size=args.batch_size,
                                bptt=args.bptt, lr=args.lr, limit=args.limit, eval_limit=args.eval_limit,
                                log=lambda s: print(s, flush=True))
        row = results[name]
        row.update(load_before=before, load_after=_load(), date=_now())
        _save_baseline(args.dataset, name, row, settings=settings)
    _save_baseline(args.dataset, settings=settings, wall_s=round(time.perf_counter() - start, 1))
    return 0


# --------------------------------------------------------------------------- markdown


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _verdict(target: dict[str, Any], row: dict[str, Any]) -> str:
    """Whether a row meets its issue-6 target, or why it cannot say."""
    budget, goal, max_time = target.get("budget_s"), target.get("goal"), row.get("max_time_s")
    if row["stopped_by_time_limit"] and (budget is None or (max_time is not None and max_time < budget)):
        return f"not run to completion ({_fmt(max_time, 0)} s given)"
    if goal is None:
        return "-"
    met = row["value"] <= goal
    return ("yes" if met else "no") + (f" (within {budget} s)" if budget else "")


def render(state: dict[str, Any]) -> str:
    """The markdown results file."""
    from _timing import machine_info

    info = machine_info()
    threads = sorted({str(r.get("threads")) for r in state.get("recipes", {}).values()})
    info["torch threads"] = (f"{threads[0]} in every recipe run below" if len(threads) == 1 else
                             "per recipe run: " + ", ".join(f"{name} {r.get('threads')}"
                                                            for name, r in state.get("recipes", {}).items())
                             ) + " (train.num_threads, --threads); 1 for the baselines"
    lines = [
        "# Language modelling results (issue 6, item 6) and the Exercise 2 baselines",
        "",
        "Produced by `benchmarks/language_modeling.py` (see its docstring for the commands).",
        "Machine facts below are from the last time the file was rendered; every row carries the",
        "load average (1 / 5 / 15 min) measured before and after it ran. **The 2-core CPU was shared**",
        "with other engineers' work during all of these runs, so wall-clock-limited numbers are",
        "pessimistic: a quiet machine processes more tokens in the same `max_time_s`.",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += ["", "## Recipes", "",
              "| recipe | measured | metric | target (issue 6) | target met? | published anchor | train s (with validation) | epochs logged / set (last may be partial) | cut by max_time_s | load before → after | date |",
              "|---|---:|---|---|---|---|---:|---|---|---|---|"]
    order = list(TARGETS) + [k for k in state["recipes"] if k not in TARGETS]
    for key in order:
        t = TARGETS.get(key.split("@")[0], {})
        r = state["recipes"].get(key)
        if r is None:
            lines.append(f"| {key} | not run | - | {t.get('target', '-')} | not run | {t.get('anchor', '-')} | - | - | - | - | - |")
            continue
        digits = 3 if "loss" in r["metric"] else 1
        lines.append(
            f"| {key} | {_fmt(r['value'], digits)} | {r['metric']} | {t.get('target', '-')} | {_verdict(t, r)} | {t.get('anchor', '-')} | "
            f"{_fmt(r['train_time_s'], 0)} | {r['epochs_logged']} / {r['epochs_configured']} | "
            f"{'yes' if r['stopped_by_time_limit'] else 'no'} | {r['load_before']} → {r['load_after']} | {r['date']} |")
    lines += ["", "### Settings and learning curves", ""]
    for key in order:
        r = state["recipes"].get(key)
        if r is None:
            continue
        lines.append(f"**{key}** — {r['settings']}; threads {r['threads']}; data.limit {r['data_limit']}, "
                     f"data.eval_limit {r['eval_limit']}" + (f"; overrides `{' '.join(r['overrides'])}`" if r.get("overrides") else ""))
        lines.append("")
        if r.get("val_loss") is not None:
            extra = f", test loss {_fmt(r.get('test_loss'))} / ppl {_fmt(r.get('test_perplexity'), 1)}" if r.get("test_loss") else ""
            lines.append(f"final (best weights): val loss {_fmt(r['val_loss'])} nats / ppl {_fmt(r['val_perplexity'], 1)}{extra}")
            lines.append("")
        if r["curve"]:
            lines.append("| epoch | updates | train loss | val loss | val ppl | lr at end |")
            lines.append("|---:|---:|---:|---:|---:|---:|")
            for c in r["curve"]:
                lines.append(f"| {c.get('epoch', '-')} | {c.get('step', '-')} | {_fmt(c.get('loss'))} | {_fmt(c.get('val_loss'))} | "
                             f"{_fmt(c.get('val_perplexity'), 1)} | {_fmt(c.get('lr'), 6)} |")
            lines.append("")
    lines += ["## Exercise 2 baselines (same data, same metric)", ""]
    if not state["baselines"]:
        lines += ["Not run yet.", ""]
    names = ["kn", "window2", "window7", "bow8", "rnn", "lstm", "gru"]
    labels = {"kn": "Kneser-Ney n-gram", "window2": "fixed window, 2 tokens (Bengio 2003)",
              "window7": "fixed window, 7 tokens + direct (Bengio 2003)", "bow8": "bag of words, 8 tokens",
              "rnn": "RNN (tanh)", "lstm": "LSTM", "gru": "GRU"}
    for dataset, table in state["baselines"].items():
        pub = PUBLISHED_BASELINES.get(dataset, {})
        lines += [f"### {dataset}", "", table.get("settings", ""), "",
                  "| model | params | train s | valid nats | valid ppl | test nats | test ppl | published test ppl | load before → after |",
                  "|---|---:|---:|---:|---:|---:|---:|---|---|"]
        for name in names:
            r = table["rows"].get(name)
            label = labels[name] + (f" ({r['settings']})" if r and r.get("settings") else "")
            if r is None:
                lines.append(f"| {label} | not run | - | - | - | - | - | {pub.get(name, '-')} | - |")
                continue
            params = f"{int(r['parameters']):,}" if r.get("parameters") else "counts"
            lines.append(f"| {label} | {params} | {_fmt(r['train_seconds'], 0)} | {_fmt(r.get('valid_nats'))} | "
                         f"{_fmt(r.get('valid_perplexity'), 1)} | {_fmt(r.get('test_nats'))} | {_fmt(r.get('test_perplexity'), 1)} | "
                         f"{pub.get(name, '-')} | {r['load_before']} → {r['load_after']} |")
        lines.append("")
    notes = state.get("notes")
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def cmd_report(args: argparse.Namespace) -> int:  # noqa: ARG001
    state = _load_state()
    for key, row in state["recipes"].items():  # rows re-read from run directories still present
        if (Path(row["run_dir"]) / "results.json").is_file():
            fresh = recipe_row(Path(row["run_dir"]), load_before=row["load_before"], load_after=row["load_after"],
                               wall_s=row.get("wall_s"))
            fresh.update({k: row[k] for k in ("date", "overrides") if k in row})
            state["recipes"][key] = fresh
    _save_state(state)
    print(RESULTS_MD)
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("recipe", help="run a recipe (or import a finished run) and record its row")
    p.add_argument("name", help="recipe name, e.g. char-shakespeare")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides")
    p.add_argument("--max-time-s", type=float, default=None, help="override train.max_time_s (the row says it was cut)")
    p.add_argument("--import-run", default=None, help="record this finished run directory instead of running")
    p.add_argument("--load", default=None, help="with --import-run: the load average seen when it started")
    p.add_argument("--key", default=None, help="row name (default: the recipe name)")
    p.add_argument("--runs-root", default="runs")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--verbose", type=int, default=1)
    p.set_defaults(func=cmd_recipe)
    b = sub.add_parser("baselines", help="the Exercise 2 table on one dataset")
    b.add_argument("--dataset", default="ptb")
    b.add_argument("--models", nargs="+", default=["kn", "window2", "window7", "bow8", "rnn", "lstm", "gru"],
                   choices=["kn", "window2", "window7", "bow8", "rnn", "lstm", "gru"])
    b.add_argument("--seconds", type=float, default=60.0, help="training time of each neural model")
    b.add_argument("--kn-order", type=int, default=5)
    b.add_argument("--embedding-dim", type=int, default=64, help="E of the rnn/lstm/gru rows")
    b.add_argument("--hidden-size", type=int, default=256, help="H of the rnn/lstm/gru rows")
    b.add_argument("--batch-size", type=int, default=32)
    b.add_argument("--bptt", type=int, default=64)
    b.add_argument("--lr", type=float, default=2e-3)
    b.add_argument("--limit", type=int, default=None, help="first N training tokens (neural rows)")
    b.add_argument("--eval-limit", type=int, default=None, help="first N valid/test tokens")
    b.add_argument("--threads", type=int, default=1)
    b.set_defaults(func=cmd_baselines)
    r = sub.add_parser("report", help="re-render the markdown from the JSON")
    r.set_defaults(func=cmd_report)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(getattr(args, "threads", 1))  # also what machine_info reports
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
