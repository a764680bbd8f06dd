"""Run directories written before the task redesign still load for ``eval``, ``predict`` and ``generate``.

``fixtures/old-runs/`` was made by ``make_old_runs.py`` with the code of commit c9a3da6, together with
what each command printed then (``expected.json``). Today's code must print the same: same
probabilities, same losses, same sampled text.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
from make_old_runs import OLD_RUNS, ask

EXPECTED = json.loads((OLD_RUNS / "expected.json").read_text(encoding="utf-8"))
CASES = [(name, i) for name, questions in EXPECTED.items() for i in range(len(questions))]


@pytest.mark.parametrize("name, index", CASES, ids=[f"{n}-{EXPECTED[n][i]['argv'][0]}" for n, i in CASES])
def test_old_run_dir_answers_as_before(name, index, real_data_dir, tmp_path):
    question = EXPECTED[name][index]
    run_dir = tmp_path / name
    shutil.copytree(OLD_RUNS / name, run_dir)  # eval writes beside the checkpoints: never into the fixture
    code, out = ask([a.replace("{run}", str(run_dir)) for a in question["argv"]])
    assert code == question["code"] == 0
    # the recorded output names the fixture where it was made (a checkout at /work/main): any checkout's copy matches
    recorded = re.sub(r'[^"\s]*/tests/recipes/fixtures/old-runs/' + re.escape(name), lambda _: str(run_dir), question["stdout"])
    assert out == recorded
