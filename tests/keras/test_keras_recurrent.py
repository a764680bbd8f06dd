"""seqlab.keras recurrent layers: parity with torch.nn, Keras' masking / go_backwards /
return_state semantics, initializers, dropout paths and errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.keras import layers


def _torch_copy(layer: layers.LSTM | layers.GRU | layers.SimpleRNN) -> nn.Module:
    """A torch.nn module with the layer's weights (the reference)."""
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[layer._kind]
    ref = cls(layer.cell.input_size, layer.units, batch_first=True)
    ref.load_state_dict({k: v for k, v in layer.cell.state_dict().items()})
    return ref


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU, layers.SimpleRNN])
def test_matches_torch_reference_with_copied_weights(cls):
    layer = cls(6, return_sequences=True, return_state=True)
    x = torch.randn(3, 5, 4)
    out = layer(x)
    ref_seq, ref_state = _torch_copy(layer)(x)
    ref_h = ref_state[0] if isinstance(ref_state, tuple) else ref_state
    torch.testing.assert_close(out[0], ref_seq)
    torch.testing.assert_close(out[1], ref_h[0])
    if cls is layers.LSTM:
        torch.testing.assert_close(out[2], ref_state[1][0])
        assert len(out) == 3
    else:
        assert len(out) == 2


def test_last_output_equals_last_step_of_sequence():
    torch.manual_seed(1)
    x = torch.randn(2, 7, 3)
    seq_layer = layers.LSTM(5, return_sequences=True)
    seq = seq_layer(x)
    last_layer = layers.LSTM(5)
    last_layer(x)
    last_layer.load_state_dict(seq_layer.state_dict())
    torch.testing.assert_close(last_layer(x), seq[:, -1])
    assert seq.shape == (2, 7, 5)


def test_keras_initializers():
    torch.manual_seed(0)
    layer = layers.LSTM(16)
    layer(torch.zeros(2, 3, 24))
    H, In = 16, 24
    w_hh = layer.cell.weight_hh_l0.detach()  # (4H, H): Keras' (H, 4H) recurrent kernel, transposed
    torch.testing.assert_close(w_hh.T @ w_hh, torch.eye(H), atol=1e-5, rtol=0)
    b_ih, b_hh = layer.cell.bias_ih_l0.detach(), layer.cell.bias_hh_l0.detach()
    assert torch.all(b_ih[H : 2 * H] == 1.0) and torch.all(b_ih[:H] == 0) and torch.all(b_ih[2 * H :] == 0)
    assert torch.all(b_hh == 0)
    # glorot_uniform on Keras' (I, 4H) kernel: U(-limit, limit), limit = sqrt(6 / (I + 4H))
    w_ih = layer.cell.weight_ih_l0.detach()
    limit = (6.0 / (In + 4 * H)) ** 0.5
    assert w_ih.abs().max() <= limit
    assert abs(w_ih.std().item() - limit / 3**0.5) < 0.1 * limit
    emb = layers.Embedding(1000, 32)
    assert emb.embeddings.abs().max() <= 0.05 and emb.embeddings.abs().max() > 0.049
    gru = layers.GRU(8)
    gru(torch.zeros(1, 2, 3))
    assert torch.all(gru.cell.bias_ih_l0 == 0)  # no unit forget bias on GRUs


def _run(layer, x, mask=None):
    return layer(x, mask=mask) if mask is not None else layer(x)


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU, layers.SimpleRNN])
def test_mask_right_and_left_padding_equal_unpadded_sequence(cls):
    torch.manual_seed(2)
    layer = cls(4)
    full = torch.randn(1, 3, 2)
    reference = layer(full)  # the 3 valid steps alone
    pad = torch.randn(1, 2, 2) * 10  # junk that must not reach the state
    right = torch.cat([full, pad], 1)
    left = torch.cat([pad, full], 1)
    mask_right = torch.tensor([[1, 1, 1, 0, 0]], dtype=torch.bool)
    mask_left = torch.tensor([[0, 0, 1, 1, 1]], dtype=torch.bool)
    torch.testing.assert_close(layer(right, mask=mask_right), reference)
    assert layer.last_path != "loop"  # end padding: seqlab.nn with lengths
    torch.testing.assert_close(layer(left, mask=mask_left), reference)
    assert layer.last_path == "loop"


def test_masked_steps_repeat_previous_output_and_fully_masked_rows_keep_initial_state():
    # Keras 3 (torch and jax backends): a masked step outputs the previous output, zeros before
    # the first valid step; the state is carried unchanged.
    layer = layers.LSTM(3, return_sequences=True, return_state=True)
    x = torch.randn(3, 4, 2)
    mask = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [0, 1, 0, 1]], dtype=torch.bool)
    seq, h, c = layer(x, mask=mask)  # rows 0-1 end-padded: fused path with lengths
    assert layer.last_path == "loop"  # row 2 has holes: the whole batch runs the step loop
    fused_seq, fused_h, _ = layer(x[:2], mask=mask[:2])
    assert layer.last_path != "loop"
    torch.testing.assert_close(fused_seq, seq[:2])
    torch.testing.assert_close(fused_h, h[:2])
    assert torch.equal(seq[0, 2], seq[0, 1]) and torch.equal(seq[0, 3], seq[0, 1])
    assert torch.all(seq[1] == 0) and torch.all(h[1] == 0) and torch.all(c[1] == 0)
    assert torch.all(seq[2, 0] == 0) and torch.equal(seq[2, 2], seq[2, 1])
    torch.testing.assert_close(h[0], seq[0, 1])


def test_embedding_mask_zero_propagates_in_sequential():
    from seqlab.keras import Sequential

    torch.manual_seed(3)
    model = Sequential([layers.Embedding(10, 4, mask_zero=True), layers.LSTM(5)])
    padded = torch.tensor([[3, 4, 5, 0, 0]])
    unpadded = torch.tensor([[3, 4, 5]])
    torch.testing.assert_close(model(padded), model(unpadded))
    no_mask = Sequential([layers.Embedding(10, 4), layers.LSTM(5)])
    no_mask(padded)
    no_mask.load_state_dict(model.state_dict())
    assert not torch.allclose(no_mask(padded), model(unpadded))  # without the mask the pads count


def test_go_backwards_reads_reversed_and_returns_reversed_order():
    torch.manual_seed(4)
    fwd = layers.GRU(3, return_sequences=True)
    x = torch.randn(2, 5, 2)
    fwd(x)
    bwd = layers.GRU(3, return_sequences=True, go_backwards=True)
    bwd(x)
    bwd.load_state_dict(fwd.state_dict())
    torch.testing.assert_close(bwd(x), fwd(x.flip(1)))  # Keras: outputs in reversed time order


def test_go_backwards_with_end_padding_skips_the_padding():
    torch.manual_seed(5)
    layer = layers.LSTM(3, go_backwards=True, return_sequences=True, return_state=True)
    valid = torch.randn(1, 3, 2)
    x = torch.cat([valid, torch.randn(1, 2, 2)], 1)
    mask = torch.tensor([[1, 1, 1, 0, 0]], dtype=torch.bool)
    seq, h, c = layer(x, mask=mask)
    ref_seq, ref_h, ref_c = layer(valid)
    torch.testing.assert_close(h, ref_h)
    # Keras' order: reversing the padded sequence puts the 2 masked steps first (zeros)
    assert torch.all(seq[:, :2] == 0)
    torch.testing.assert_close(seq[:, 2:], ref_seq)


def test_bidirectional_concat_is_forward_then_aligned_backward():
    torch.manual_seed(6)
    bi = layers.Bidirectional(layers.LSTM(3, return_sequences=True))
    x = torch.randn(2, 4, 5)
    out = bi(x)
    assert out.shape == (2, 4, 6)
    torch.testing.assert_close(out[..., :3], bi.forward_layer(x))
    back = nn.LSTM(5, 3, batch_first=True)
    back.load_state_dict(bi.backward_layer.cell.state_dict())
    torch.testing.assert_close(out[..., 3:], back(x.flip(1))[0].flip(1))
    bi_last = layers.Bidirectional(layers.GRU(2), merge_mode="sum")
    assert bi_last(x).shape == (2, 2)
    states = layers.Bidirectional(layers.LSTM(2, return_state=True))(x)
    assert len(states) == 5 and states[0].shape == (2, 4)


def test_initial_state_is_used():
    layer = layers.LSTM(3, return_state=True)
    x = torch.randn(2, 4, 2)
    _, h, c = layer(x)
    out2, _, _ = layer(x, initial_state=[torch.ones(2, 3), torch.ones(2, 3)])
    assert not torch.allclose(out2, h)
    ref = _torch_copy(layer)(x, (torch.ones(1, 2, 3), torch.ones(1, 2, 3)))[1][0][0]
    torch.testing.assert_close(out2, ref)
    with pytest.raises(ShapeError, match="initial_state"):
        layer(x, initial_state=[torch.ones(2, 3)])


def test_dropout_and_recurrent_dropout_only_in_training():
    torch.manual_seed(7)
    layer = layers.LSTM(8, dropout=0.5, recurrent_dropout=0.5, return_sequences=True)
    x = torch.randn(4, 6, 3)
    layer.eval()
    a = layer(x)
    assert layer.last_path != "loop"  # seqlab.nn's layer, not the masked step loop
    reference = _torch_copy(layer)(x)[0]
    torch.testing.assert_close(a, reference)  # inference: no dropout at all
    layer.train()
    b = layer(x)
    assert not torch.allclose(a, b)
    assert layer.last_path not in ("loop", "fused")  # seqlab.nn's recurrent-dropout kernel
    # recurrent dropout in the step loop (mask with a hole) also only in training
    hole = torch.tensor([[1, 0, 1, 1, 1, 1]] * 4, dtype=torch.bool)
    layer.eval()
    e1, e2 = layer(x, mask=hole), layer(x, mask=hole)
    torch.testing.assert_close(e1, e2)
    layer.train()
    assert not torch.allclose(layer(x, mask=hole), e1)


def test_recurrent_errors():
    with pytest.raises(ShapeError, match=r"\(batch, time, features\)"):
        layers.LSTM(3)(torch.zeros(2, 5))
    with pytest.raises(ConfigurationError, match="stateful"):
        layers.LSTM(3, stateful=True)
    with pytest.raises(ConfigurationError, match="'tanh' and 'sigmoid'"):
        layers.LSTM(3, activation="relu")
    with pytest.raises(ConfigurationError, match="reset_after"):
        layers.GRU(3, reset_after=False)
    with pytest.raises(ConfigurationError, match="positive int"):
        layers.GRU(0)
    with pytest.raises(ConfigurationError, match=r"\[0, 1\)"):
        layers.SimpleRNN(3, dropout=1.5)
    with pytest.raises(ConfigurationError, match="'tanh' or 'relu'"):
        layers.SimpleRNN(3, activation="sigmoid")
    with pytest.raises(ConfigurationError, match="wraps a SimpleRNN, LSTM or GRU"):
        layers.Bidirectional(layers.Dense(3))
    with pytest.raises(ConfigurationError, match="merge_mode"):
        layers.Bidirectional(layers.LSTM(3), merge_mode="max")
    with pytest.raises(ShapeError, match="mask must be"):
        layers.LSTM(3)(torch.zeros(2, 5, 1), mask=torch.ones(2, 4, dtype=torch.bool))


def test_bidirectional_with_end_padding_matches_unpadded_sequence():
    torch.manual_seed(8)
    bi = layers.Bidirectional(layers.GRU(3, return_sequences=True))
    valid = torch.randn(1, 3, 2)
    padded = torch.cat([valid, torch.randn(1, 2, 2)], 1)
    mask = torch.tensor([[1, 1, 1, 0, 0]], dtype=torch.bool)
    out = bi(padded, mask=mask)
    torch.testing.assert_close(out[:, :3], bi(valid))
    assert torch.equal(out[:, 3, :3], out[:, 2, :3])  # forward half repeats its last output
    assert torch.all(out[:, 3:, 3:] == 0)  # backward half: zeros before its first valid step
