"""seqlab.keras core, convolution, pooling, merge, attention and wrapper layers against
hand-computed or torch references (channels-last, Keras semantics)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.keras import layers


def test_dense_is_affine_on_last_axis_with_named_activation():
    dense = layers.Dense(3, activation="relu")
    x = torch.randn(2, 4, 5)
    y = dense(x)
    expected = torch.relu(x @ dense.linear.weight.T + dense.linear.bias)
    torch.testing.assert_close(y, expected)
    assert y.shape == (2, 4, 3) and torch.all(dense.linear.bias == 0)
    limit = math.sqrt(6 / (5 + 3))  # glorot_uniform
    assert dense.linear.weight.abs().max() <= limit
    softmax = layers.Dense(4, activation="softmax")(torch.randn(3, 2))
    torch.testing.assert_close(softmax.sum(-1), torch.ones(3))
    custom = layers.Dense(2, activation=torch.tanh)
    assert custom(torch.randn(1, 2)).abs().max() < 1


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ConfigurationError, match="unknown activation 'relux'.*'sigmoid'"):
        layers.Dense(3, activation="relux")
    with pytest.raises(ConfigurationError, match="positive int"):
        layers.Dense(0)
    with pytest.raises(ShapeError, match="rank >= 2"):
        layers.Dense(2)(torch.randn(3))


def test_embedding_lookup_mask_and_errors():
    emb = layers.Embedding(5, 3, mask_zero=True)
    ids = torch.tensor([[1, 2, 0]])
    torch.testing.assert_close(emb(ids)[0, 1], emb.embeddings[2])
    assert emb.compute_mask(ids).tolist() == [[True, True, False]]
    assert layers.Embedding(5, 3).compute_mask(ids) is None
    with pytest.raises(ShapeError, match=r"outside \[0, 5\)"):
        emb(torch.tensor([[7]]))
    with pytest.raises(ShapeError, match="integer token ids"):
        emb(torch.tensor([[0.5]]))


def test_dropout_inverted_scaling_and_inference_identity():
    drop = layers.Dropout(0.5)
    x = torch.ones(1000, 10)
    y = drop(x)
    assert set(y.unique().tolist()) <= {0.0, 2.0}
    drop.eval()
    assert torch.equal(drop(x), x)
    with pytest.raises(ConfigurationError, match=r"\[0, 1\)"):
        layers.Dropout(1.0)


def test_conv1d_valid_same_causal_against_torch():
    x = torch.randn(2, 7, 3)  # (B, L, C)
    conv = layers.Conv1D(4, 3)
    y = conv(x)
    ref = F.conv1d(x.transpose(1, 2), conv.conv.weight, conv.conv.bias).transpose(1, 2)
    torch.testing.assert_close(y, ref)
    assert y.shape == (2, 5, 4)
    same = layers.Conv1D(4, 3, padding="same", strides=2)
    # TensorFlow "same": out = ceil(7 / 2) = 4, total pad = (4-1)*2 + 3 - 7 = 2 -> (1, 1)
    ys = same(x)
    ref = F.conv1d(F.pad(x.transpose(1, 2), (1, 1)), same.conv.weight, same.conv.bias, stride=2).transpose(1, 2)
    torch.testing.assert_close(ys, ref)
    causal = layers.Conv1D(2, 3, padding="causal")
    yc = causal(x)
    assert yc.shape == (2, 7, 2)
    x2 = x.clone()
    x2[:, 5:] = 100.0  # the future must not change earlier outputs
    torch.testing.assert_close(causal(x2)[:, :5], yc[:, :5])


def test_conv2d_pooling_and_global_pooling_channels_last():
    x = torch.randn(2, 8, 6, 3)  # (B, H, W, C)
    conv = layers.Conv2D(5, (3, 3), activation="relu")
    y = conv(x)
    assert y.shape == (2, 6, 4, 5)
    ref = torch.relu(F.conv2d(x.permute(0, 3, 1, 2), conv.conv.weight, conv.conv.bias)).permute(0, 2, 3, 1)
    torch.testing.assert_close(y, ref)
    pooled = layers.MaxPooling2D()(y)
    assert pooled.shape == (2, 3, 2, 5)
    torch.testing.assert_close(pooled[0, 0, 0], y[0, :2, :2].amax(dim=(0, 1)))
    torch.testing.assert_close(layers.GlobalAveragePooling2D()(y), y.mean(dim=(1, 2)))
    torch.testing.assert_close(layers.GlobalMaxPooling2D()(y), y.amax(dim=(1, 2)))
    seq = torch.arange(10.0).view(1, 5, 2)
    assert layers.MaxPooling1D(2)(seq).tolist() == [[[2.0, 3.0], [6.0, 7.0]]]
    assert layers.MaxPooling1D(2, padding="same")(seq).shape == (1, 3, 2)
    torch.testing.assert_close(layers.GlobalMaxPooling1D()(seq), torch.tensor([[8.0, 9.0]]))
    # masked average: only the first two steps count
    mask = torch.tensor([[1, 1, 0, 0, 0]], dtype=torch.bool)
    torch.testing.assert_close(layers.GlobalAveragePooling1D()(seq, mask=mask), torch.tensor([[1.0, 2.0]]))
    assert layers.AveragePooling1D(2, padding="same")(seq)[0, -1].tolist() == [8.0, 9.0]  # pad not averaged
    with pytest.raises(ShapeError, match=r"\(batch, height, width, channels\)"):
        layers.Conv2D(2, 3)(torch.randn(2, 5, 3))
    with pytest.raises(ConfigurationError, match="padding"):
        layers.Conv2D(2, 3, padding="causal")


def test_flatten_reshape_concatenate_and_merge_masks():
    x = torch.randn(2, 3, 4)
    assert layers.Flatten()(x).shape == (2, 12)
    assert layers.Reshape((4, 3))(x).shape == (2, 4, 3)
    with pytest.raises(ShapeError, match="element counts"):
        layers.Reshape((5,))(x)
    a, b = torch.randn(2, 3), torch.randn(2, 5)
    torch.testing.assert_close(layers.Concatenate()([a, b]), torch.cat([a, b], -1))
    torch.testing.assert_close(layers.Add()([a, a]), 2 * a)
    torch.testing.assert_close(layers.Average()([a, 3 * a]), 2 * a)
    with pytest.raises(ShapeError, match="cannot merge"):
        layers.Add()([a, b])
    with pytest.raises(ShapeError, match="list of at least 2"):
        layers.Concatenate()(a)
    m1 = torch.tensor([[1, 1, 0]], dtype=torch.bool)
    m2 = torch.tensor([[1, 0, 1]], dtype=torch.bool)
    assert layers.Concatenate().compute_mask([x, x], [m1, m2]).tolist() == [[True, False, False]]


def test_attention_dot_matches_hand_computation_with_masks():
    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # (1, Tq=2, D=2)
    v = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])  # (1, Tv=3, D=2)
    att = layers.Attention()
    out, w = att([q, v], return_attention_scores=True)
    scores = q @ v.transpose(1, 2)
    torch.testing.assert_close(w, torch.softmax(scores, -1))
    torch.testing.assert_close(out, torch.softmax(scores, -1) @ v)
    v_mask = torch.tensor([[True, True, False]])
    q_mask = torch.tensor([[True, False]])
    out_m, w_m = att([q, v], mask=[q_mask, v_mask], return_attention_scores=True)
    assert w_m[0, :, 2].abs().max() < 1e-6
    torch.testing.assert_close(w_m[0, 0, :2], torch.softmax(scores[0, 0, :2], -1))
    assert torch.all(out_m[0, 1] == 0)  # padded query step
    causal = att([q, v], use_causal_mask=True, return_attention_scores=True)[1]
    assert causal[0, 0, 1:].abs().max() < 1e-6
    scaled = layers.Attention(use_scale=True)
    assert scaled.scale.item() == 1.0 and len(list(scaled.parameters())) == 1


def test_additive_attention_matches_keras_formula():
    torch.manual_seed(0)
    q, k = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    v = torch.randn(2, 5, 6)
    att = layers.AdditiveAttention()
    out = att([q, v, k])
    scale = att.scale
    assert scale.shape == (4,) and scale.abs().max() <= math.sqrt(3 / 4)
    scores = (scale * torch.tanh(q[:, :, None, :] + k[:, None, :, :])).sum(-1)
    torch.testing.assert_close(out, torch.softmax(scores, -1) @ v)
    with pytest.raises(ShapeError, match=r"\[query, value\]"):
        att(q)


def test_time_distributed_over_layer_and_plain_torch_module():
    x = torch.randn(2, 3, 4)
    dense = layers.Dense(5)
    td = layers.TimeDistributed(dense)
    y = td(x)
    torch.testing.assert_close(y[:, 1], dense(x[:, 1]))
    lin = nn.Linear(4, 2)
    y2 = layers.TimeDistributed(lin)(x)
    torch.testing.assert_close(y2, lin(x))
    with pytest.raises(ShapeError, match=r"\(batch, time, \.\.\.\)"):
        td(torch.randn(2, 4))
    with pytest.raises(ConfigurationError, match="torch.nn.Module"):
        layers.TimeDistributed("not a layer")


def test_custom_layer_with_add_weight_in_a_model():
    from seqlab.keras import Sequential

    class Scale(layers.Layer):
        def build(self, input_shape):
            self.gain = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gain")
            self.offset = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False)

        def call(self, inputs, mask=None):
            return inputs * self.gain + self.offset

    model = Sequential([Scale(), layers.Dense(1)])
    x = torch.randn(2, 3)
    model(x)
    torch.testing.assert_close(model.layers[0](x), x)
    assert model.layers[0].gain.requires_grad and not model.layers[0].offset.requires_grad
    assert model.layers[0].name.startswith("scale")


def test_training_argument_overrides_the_mode_for_one_call():
    from seqlab.keras import Sequential

    drop = layers.Dropout(0.5)
    drop.eval()
    x = torch.ones(200, 10)
    assert torch.equal(drop(x, training=False), x)
    assert not torch.equal(drop(x, training=True), x)
    assert not drop.training  # restored
    model = Sequential([layers.Dense(10), layers.Dropout(0.5)])
    model.train()
    a, b = model(x, training=False), model(x, training=False)
    assert torch.equal(a, b) and model.training and model.layers[1].training
