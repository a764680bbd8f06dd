"""``seqlab datasets``: list every registered dataset and where its files are.

    seqlab datasets                     # table: name, task, status, found at, size, license, citation
    seqlab datasets --verify            # also check the sha256 / git blob id of every local file
    seqlab datasets --download mnist    # fetch the missing files of a dataset into the cache
    seqlab datasets --json              # the same facts as JSON
"""

from __future__ import annotations

import argparse
import json
import sys

from seqlab.errors import DataError

NAME = "datasets"
HELP = "list datasets with status (present/partial/missing), size, license and citation; verify or download"
DESCRIPTION = (
    "List every dataset seqlab knows, whether its files are present in the data directories "
    "(--data-dir, then $SEQLAB_DATA_DIR, then the cache $SEQLAB_CACHE_DIR/data or ~/.cache/seqlab/data), "
    "with size, license and citation.  --verify checks every local file's sha256 (or git blob id); "
    "--download NAME fetches the missing files of NAME into the cache (not with SEQLAB_OFFLINE=1)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None, help="directory searched before $SEQLAB_DATA_DIR and the cache")
    parser.add_argument("--verify", action="store_true", help="check the full sha256 of every local file (slower)")
    parser.add_argument("--download", metavar="NAME", action="append", default=[],
                        help="download the missing files of dataset NAME into the cache (repeatable)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)  # pragma: no cover


def _verify(spec, status) -> list[str]:
    from seqlab.data.download import check_file

    problems = []
    for rel, path in status.found.items():
        try:
            check_file(path, spec.file(rel), full=True)
        except DataError as exc:
            problems.append(str(exc))
    return problems


def run(args: argparse.Namespace) -> int:
    from seqlab.data.download import ensure_files
    from seqlab.data.registry import REGISTRY, dataset_status, get_spec

    for name in args.download:
        spec = get_spec(name)
        status = dataset_status(name, args.data_dir)
        if status.missing:
            ensure_files(name, [spec.file(p) for p in status.missing], data_dir=args.data_dir, download=True)
            print(f"{name}: downloaded {len(status.missing)} file(s)", file=sys.stderr)
        else:
            print(f"{name}: all {len(spec.files)} file(s) already present", file=sys.stderr)

    rows = []
    failed = False
    for spec in REGISTRY.values():
        status = dataset_status(spec.name, args.data_dir)
        row = {
            "name": spec.name,
            "title": spec.title,
            "task": spec.task,
            "status": status.status,
            "found_at": [str(p) for p in status.locations],
            "files_present": len(status.found),
            "files_total": len(spec.files),
            "missing": status.missing,
            "bytes_present": status.bytes_present,
            "bytes_total": spec.size,
            "splits": list(spec.splits),
            "license": spec.license,
            "citation": spec.citation,
            "source": spec.source,
            "note": spec.note,
        }
        if args.verify:
            problems = _verify(spec, status)
            row["verified"] = not problems
            row["problems"] = problems
            failed |= bool(problems)
        rows.append(row)

    if args.json:
        print(json.dumps(rows, indent=2))
        return 1 if failed else 0

    from rich.console import Console
    from rich.table import Table

    table = Table(title="seqlab datasets", show_lines=False)
    for col in ("name", "task", "status", "found at", "size", "license", "citation"):
        table.add_column(col, overflow="fold")
    if args.verify:
        table.add_column("sha256")
    colour = {"present": "green", "partial": "yellow", "missing": "red"}
    for row in rows:
        status = f"[{colour[row['status']]}]{row['status']}[/] ({row['files_present']}/{row['files_total']})"
        cells = [row["name"], row["task"], status, "\n".join(row["found_at"]) or "-",
                 _size(row["bytes_present"]), row["license"], row["citation"]]
        if args.verify:
            cells.append("[green]ok[/]" if row["verified"] else f"[red]{len(row['problems'])} bad[/]")
        table.add_row(*cells)
    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(width=170)
    console.print(table)
    for row in rows:
        if row["status"] != "present":
            console.print(f"[yellow]{row['name']}[/]: {len(row['missing'])} file(s) missing"
                          + (f" ({row['note']})" if row["note"] else "")
                          + f"; fetch with `seqlab datasets --download {row['name']}`")
        for problem in row.get("problems", []):
            console.print(f"[red]{row['name']}[/]: {problem}")
    return 1 if failed else 0
