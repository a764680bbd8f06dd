"""The per-class report of ``seqlab eval`` against hand-computed values."""

from __future__ import annotations

import pytest

from seqlab.tasks.classification import classification_report


def test_classification_report_by_hand():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    r = classification_report(y_true, y_pred, 3)
    assert r["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert r["accuracy"] == pytest.approx(4 / 6)
    # class 0: P = 2/2, R = 2/3; class 1: P = 1/2, R = 1/2; class 2: P = 1/2, R = 1
    p = r["per_class"]
    assert [c["precision"] for c in p] == pytest.approx([1.0, 0.5, 0.5])
    assert [c["recall"] for c in p] == pytest.approx([2 / 3, 0.5, 1.0])
    assert [c["f1"] for c in p] == pytest.approx([0.8, 0.5, 2 / 3])
    assert [c["support"] for c in p] == [3, 2, 1]
    assert r["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_never_predicted_class_has_zero_precision():
    r = classification_report([0, 1], [0, 0], 2)
    assert r["per_class"][1] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert r["per_class"][0]["precision"] == 0.5
