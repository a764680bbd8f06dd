"""Parity with Keras 3 itself (skipped when Keras is not installed; it is a benchmark-only
dependency): recurrent layers with masks and go_backwards, attention layers, "same" padding.

Keras' weights are copied into the seqlab layers (kernel (I, G·H) → torch weight (G·H, I);
Keras' GRU gate order z, r, h → torch's r, z, n).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("KERAS_TORCH_DEVICE", "cpu")  # the seqlab layers below run on the CPU too
keras = pytest.importorskip("keras", minversion="3.0")  # a machine may hold an unrelated "keras"

from seqlab.keras import layers as L  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # inside Keras 3.15 + numpy 2


def _np(t):
    return keras.ops.convert_to_numpy(t)


def _copy_recurrent(src, dst, kind: str, H: int) -> None:
    W, U, b = _np(src.cell.kernel), _np(src.cell.recurrent_kernel), _np(src.cell.bias)
    if kind == "GRU":  # Keras z, r, h → torch r, z, n; Keras GRU bias is (2, 3H): input, recurrent
        def perm(m):
            return np.concatenate([m[..., H : 2 * H], m[..., :H], m[..., 2 * H :]], -1)

        W, U, b_ih, b_hh = perm(W), perm(U), perm(b[0]), perm(b[1])
    else:
        b_ih, b_hh = b, np.zeros_like(b)
    with torch.no_grad():
        dst.cell.weight_ih_l0.copy_(torch.from_numpy(W.T.copy()))
        dst.cell.weight_hh_l0.copy_(torch.from_numpy(U.T.copy()))
        dst.cell.bias_ih_l0.copy_(torch.from_numpy(b_ih.copy()))
        dst.cell.bias_hh_l0.copy_(torch.from_numpy(b_hh.copy()))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("mask_rows", [[[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], [[1, 1, 1, 0, 0], [0, 1, 1, 0, 1]]])
def test_recurrent_layers_match_keras(kind, go_backwards, mask_rows):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    mask = np.array(mask_rows, bool)
    ref = getattr(keras.layers, kind)(4, return_sequences=True, return_state=True, go_backwards=go_backwards)
    expected = ref(x, mask=mask)
    layer = getattr(L, kind)(4, return_sequences=True, return_state=True, go_backwards=go_backwards)
    layer(torch.from_numpy(x))
    _copy_recurrent(ref, layer, kind, 4)
    got = layer(torch.from_numpy(x), mask=torch.from_numpy(mask))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.detach().numpy(), _np(e), atol=1e-6)


def test_attention_layers_match_keras():
    rng = np.random.default_rng(1)
    q, v = rng.standard_normal((2, 3, 4)).astype("float32"), rng.standard_normal((2, 5, 4)).astype("float32")
    qm, vm = np.array([[1, 1, 0], [1, 1, 1]], bool), np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    tq, tv, tqm, tvm = map(torch.from_numpy, (q, v, qm, vm))
    for kwargs in ({"use_scale": True}, {"score_mode": "concat"}):
        expected = keras.layers.Attention(**kwargs)([q, v], mask=[qm, vm])
        got = L.Attention(**kwargs)([tq, tv], mask=[tqm, tvm])
        np.testing.assert_allclose(got.detach().numpy(), _np(expected), atol=1e-6)
    ref = keras.layers.AdditiveAttention()
    expected = ref([q, v], mask=[qm, vm])
    layer = L.AdditiveAttention()
    layer([tq, tv])
    with torch.no_grad():
        layer.scale.copy_(torch.from_numpy(_np(ref.scale).copy()))
    np.testing.assert_allclose(layer([tq, tv], mask=[tqm, tvm]).detach().numpy(), _np(expected), atol=1e-6)


def test_same_padding_conv_and_pooling_match_keras():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 7, 3)).astype("float32")
    ref = keras.layers.Conv1D(4, 3, strides=2, padding="same")
    expected = ref(x)
    conv = L.Conv1D(4, 3, strides=2, padding="same")
    conv(torch.from_numpy(x))
    with torch.no_grad():
        conv.conv.weight.copy_(torch.from_numpy(_np(ref.kernel)).permute(2, 1, 0))
        conv.conv.bias.copy_(torch.from_numpy(_np(ref.bias)))
    np.testing.assert_allclose(conv(torch.from_numpy(x)).detach().numpy(), _np(expected), atol=1e-5)
    x2 = rng.standard_normal((2, 7, 5, 3)).astype("float32")
    expected = keras.layers.MaxPooling2D(pool_size=(3, 2), strides=2, padding="same")(x2)
    got = L.MaxPooling2D(pool_size=(3, 2), strides=2, padding="same")(torch.from_numpy(x2))
    np.testing.assert_allclose(got.numpy(), _np(expected))
    # AveragePooling "same" excludes the padding as TensorFlow and Keras' jax backend do (Keras
    # 3.15's torch backend differs at odd padding), so it is checked by hand in test_layers.py.


def test_parameter_counts_match_keras_up_to_the_second_bias():
    from seqlab.keras import Input, Sequential

    ref = keras.Sequential([keras.Input((20,), dtype="int32"), keras.layers.Embedding(1000, 64),
                            keras.layers.LSTM(32), keras.layers.Dense(1)])
    ours = Sequential([Input(shape=(20,), dtype="int32"), L.Embedding(1000, 64), L.LSTM(32), L.Dense(1)])
    assert ref.count_params() == ours.count_params() - 4 * 32
    ref_gru = keras.Sequential([keras.Input((5, 10)), keras.layers.GRU(7)])
    ours_gru = Sequential([Input(shape=(5, 10)), L.GRU(7)])
    assert ref_gru.count_params() == ours_gru.count_params()
