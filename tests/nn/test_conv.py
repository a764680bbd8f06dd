"""Convolutional encoders: hand-computed goldens, parity with plain torch ops, padding invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.nn.attention import SpatialAttention
from seqlab.nn.conv import ConvEncoder1d, ConvEncoder2d, FilterBank

# ----------------------------------------------------------------------------- FilterBank


def _sum_bank(widths=(2,)) -> FilterBank:
    bank = FilterBank(1, 1, widths)
    with torch.no_grad():
        for conv in bank:
            conv.weight.fill_(1.0)  # window value = sum of its words
            conv.bias.zero_()
    return bank


def test_filter_bank_max_over_time_golden():
    bank = _sum_bank((1, 2, 3))
    x = torch.tensor([[1.0, 2.0, 3.0]])[..., None]  # (B=1, T=3, I=1)
    # width 1: max(1, 2, 3) = 3; width 2 (wide): windows 0+1, 1+2, 2+3, 3+0 -> 5; width 3: 1+2+3 = 6
    assert bank(x).tolist() == [[3.0, 5.0, 6.0]]
    assert bank.output_size == 3 and [c.kernel_size[0] for c in bank] == [1, 2, 3]


def test_filter_bank_words_outside_the_mask_count_as_zero_padding():
    bank = _sum_bank((2,))
    x = torch.tensor([[1.0, 2.0, 100.0, 100.0]])[..., None]
    mask = torch.tensor([[True, True, False, False]])
    # windows over real words: 0+1, 1+2, 2+(masked -> 0); all-masked windows excluded -> max 3, not 200
    assert bank(x, mask).tolist() == [[3.0]]
    torch.testing.assert_close(bank(x, mask), bank(x[:, :2]))
    assert bank(x, torch.zeros(1, 4, dtype=torch.bool)).tolist() == [[0.0]]  # empty sentence -> zeros


def test_filter_bank_is_a_list_of_its_convolutions():
    bank = FilterBank(6, 4, (3, 5))
    assert list(bank.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert bank[1].in_channels == 6 and bank[1].out_channels == 4 and bank[1].padding == (4,)
    with pytest.raises(ShapeError, match=r"I=6"):
        bank(torch.randn(2, 5, 7))
    with pytest.raises(ConfigurationError, match="widths"):
        FilterBank(6, 4, (3, 0))


# ----------------------------------------------------------------------------- ConvEncoder1d


def _moving_sum_1d(pool=2) -> ConvEncoder1d:
    enc = ConvEncoder1d(1, [1], kernel_size=3, pool=pool)
    with torch.no_grad():
        enc.convs[0].weight.fill_(1.0)
        enc.convs[0].bias.zero_()
    return enc


def test_conv1d_golden_same_padding_and_pooling():
    enc = _moving_sum_1d(pool=2)
    frames = torch.tensor([[1.0, 2.0, 3.0, 4.0]])[..., None]  # (1, 4, 1)
    out, lengths = enc(frames)
    # same conv: [0+1+2, 1+2+3, 2+3+4, 3+4+0] = [3, 6, 9, 7]; pool 2 -> [6, 9]
    assert out.shape == (1, 2, 1) and out[0, :, 0].tolist() == [6.0, 9.0] and lengths is None
    # frame 4 is padding (garbage 100): it acts as 0, so conv = [3, 6, 5]; pool 2 over valid frames -> [6, 5]
    garbage = frames.clone()
    garbage[0, 3] = 100.0
    out, lengths = enc(garbage, torch.tensor([3]))
    assert out[0, :, 0].tolist() == [6.0, 5.0] and lengths.tolist() == [2]
    # length 1 of 4: conv = [1]; its pool window holds one valid frame; the second output is padding (0)
    out, lengths = enc(garbage, torch.tensor([1]))
    assert out[0, :, 0].tolist() == [1.0, 0.0] and lengths.tolist() == [1]


def test_conv1d_each_sequence_equals_itself_alone_and_extra_padding_changes_nothing():
    torch.manual_seed(0)
    enc = ConvEncoder1d(5, [6, 4], kernel_size=3, pool=[2, 3]).eval()
    lengths = torch.tensor([11, 4, 7])
    frames = torch.randn(3, 11, 5) * 3 + 10  # far from 0: a leak of padding would show
    out, out_lengths = enc(frames, lengths)
    assert out.shape == (3, 2, 4) and out_lengths.tolist() == [2, 1, 2]  # ceil(ceil(L/2)/3)
    assert torch.equal(enc.output_lengths(lengths), out_lengths)
    longer, _ = enc(torch.cat([frames, torch.randn(3, 9, 5)], dim=1), lengths)
    for b, n in enumerate(lengths.tolist()):
        alone, _ = enc(frames[b : b + 1, :n])
        m = int(out_lengths[b])
        torch.testing.assert_close(out[b, :m], alone[0, :m])
        torch.testing.assert_close(longer[b, :m], alone[0, :m])
        assert out[b, m:].abs().sum() == 0


def test_conv1d_matches_plain_torch_ops_with_the_same_weights():
    torch.manual_seed(1)
    enc = ConvEncoder1d(3, [4, 2], kernel_size=5, pool=2).eval()
    x = torch.randn(2, 9, 3)
    h = x.transpose(1, 2)
    for conv in enc.convs:
        h = F.max_pool1d(F.relu(F.conv1d(h, conv.weight, conv.bias, padding=2)), 2, ceil_mode=True)
    torch.testing.assert_close(enc(x)[0], h.transpose(1, 2))


# ----------------------------------------------------------------------------- ConvEncoder2d


def test_conv2d_golden_3x3_sums_relu_and_pool():
    enc = ConvEncoder2d(1, [1], kernel_size=3, pool=2)
    with torch.no_grad():
        enc.blocks[0][0].weight.fill_(1.0)
        enc.blocks[0][0].bias.fill_(-20.0)
    image = np.arange(16.0).reshape(4, 4)
    padded = np.pad(image, 1)
    sums = np.array([[padded[i : i + 3, j : j + 3].sum() for j in range(4)] for i in range(4)]) - 20.0
    relu = np.maximum(sums, 0.0)
    expected = relu.reshape(2, 2, 2, 2).max(axis=(1, 3))  # 2x2 max pool
    # by hand: top-left 3x3 neighbourhood of pixel (1, 1) sums 0+1+2+4+5+6+8+9+10 = 45 -> 25
    assert relu[1, 1] == 25.0 and expected[0, 0] == 25.0
    out = enc(torch.tensor(image, dtype=torch.float32)[None, None])
    assert out.shape == (1, 1, 2, 2)
    np.testing.assert_allclose(out[0, 0].detach().numpy(), expected)


def test_conv2d_matches_an_nn_sequential_with_copied_weights_and_its_grid():
    torch.manual_seed(2)
    enc = ConvEncoder2d(3, [4, 5, 6], kernel_size=3, pool=[2, 1, 2], batch_norm=True).eval()
    reference = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 5, 3, padding=1, bias=False), nn.BatchNorm2d(5), nn.ReLU(),
        nn.Conv2d(5, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
    ).eval()
    reference.load_state_dict(dict(zip(reference.state_dict(), enc.state_dict().values())))
    for m in reference.modules():  # non-trivial running statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    enc.load_state_dict(dict(zip(enc.state_dict(), reference.state_dict().values())))
    images = torch.randn(2, 3, 9, 7)
    out = enc(images)
    assert out.shape == (2, 6, *enc.output_grid(9, 7)) == (2, 6, 2, 1)
    torch.testing.assert_close(out, reference(images))
    # the feature maps are what SpatialAttention reads: one C-vector per grid position
    context, weights = SpatialAttention("mlp", query_size=8, channels=enc.out_channels)(torch.randn(2, 8), out)
    assert context.shape == (2, 6) and weights.shape == (2, 2, 1)


def test_conv_encoder_errors():
    with pytest.raises(ConfigurationError, match="odd"):
        ConvEncoder2d(1, [4], kernel_size=4)
    with pytest.raises(ConfigurationError, match="2 entries but there are 3 blocks"):
        ConvEncoder2d(1, [4, 4, 4], pool=[2, 2])
    with pytest.raises(ConfigurationError, match="channels"):
        ConvEncoder1d(4, [])
    with pytest.raises(ShapeError, match=r"unsqueeze\(1\)"):
        ConvEncoder2d(1, [4])(torch.randn(2, 28, 28))
    with pytest.raises(ShapeError, match="too small"):
        ConvEncoder2d(1, [4, 4], pool=4)(torch.randn(1, 1, 8, 8))
    with pytest.raises(ShapeError, match="F=4"):
        ConvEncoder1d(4, [2])(torch.randn(2, 5, 3))
