"""TextCNN (Kim 2014): golden max-over-time values, padding invariance, modes, max-norm."""

import pytest
import torch

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.models.text_cnn import TextCNN


def _golden_model(bias: float = 0.0) -> TextCNN:
    # E = 2, one filter of width 2: value of window (a, b) = a[0] + 2·b[1] + bias.
    m = TextCNN(vocab_size=4, num_classes=2, embedding_dim=2, filter_widths=(2,), num_filters=1, dropout=0.0)
    with torch.no_grad():
        m.embedding.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        m.convs[0].weight.copy_(torch.tensor([[[1.0, 0.0], [0.0, 2.0]]]))  # (out, E, width)
        m.convs[0].bias.fill_(bias)
    return m.eval()


def test_max_over_time_matches_hand_computation():
    m = _golden_model()
    # "1 2 3" with Kim's zero padding: windows (0,e1)=0, (e1,e2)=1+2=3, (e2,e3)=0+2=2, (e3,0)=1 -> max 3
    feats = m.features(torch.tensor([[1, 2, 3]]))
    assert feats.tolist() == [[3.0]]


def test_windows_entirely_over_padding_are_excluded():
    m = _golden_model(bias=-0.5)
    # "1 <pad> <pad>": windows (0,e1)=relu(-0.5)=0, (e1,0)=relu(1-0.5)=0.5; pad-only windows excluded
    feats = m.features(torch.tensor([[1, 0, 0]]))
    assert feats.tolist() == [[0.5]]
    # ReLU of the bias alone on an all-pad window would be 0 < 0.5 anyway; use a negative-window check:
    m2 = _golden_model(bias=1.0)
    with torch.no_grad():
        m2.convs[0].weight.mul_(-1)  # window values now 1 - (a0 + 2 b1)
    # "3": windows (0,e3)=1-2=-1 -> 0, (e3,0)=1-1=0 -> 0; a pad-only window would give relu(1)=1
    assert m2.features(torch.tensor([[3, 0, 0, 0]])).tolist() == [[0.0]]


def test_extra_padding_does_not_change_outputs():
    torch.manual_seed(0)
    m = TextCNN(vocab_size=30, num_classes=3, embedding_dim=8, num_filters=5).eval()
    ids = torch.randint(1, 30, (4, 6))
    ids[1, 3:] = 0
    padded = torch.cat([ids, torch.zeros(4, 5, dtype=torch.long)], dim=1)
    assert torch.allclose(m(ids), m(padded), atol=1e-6)


def test_output_shapes_and_empty_sentence():
    m = TextCNN(vocab_size=10, num_classes=5, embedding_dim=4, num_filters=3).eval()
    out = m(torch.tensor([[1, 2, 3, 4], [0, 0, 0, 0]]))
    assert out.shape == (2, 5)
    assert torch.isfinite(out).all()  # an empty (all-pad) sentence pools to zeros, not -inf
    assert m.features(torch.tensor([[0, 0]])).abs().sum() == 0


def test_max_norm_constraint_rescales_only_long_rows():
    m = TextCNN(vocab_size=10, num_classes=2, embedding_dim=4, num_filters=3, max_norm=3.0)
    with torch.no_grad():
        m.output.weight.copy_(torch.tensor([[3.0, 4.0, 0, 0, 0, 0, 0, 0, 0], [0.3, 0.4, 0, 0, 0, 0, 0, 0, 0]]))
    m.apply_constraints()
    assert torch.allclose(m.output.weight[0, :2], torch.tensor([1.8, 2.4]))  # norm 5 -> 3
    assert torch.allclose(m.output.weight[1, :2], torch.tensor([0.3, 0.4]))  # norm 0.5 untouched


def test_max_norm_holds_after_every_training_step():
    torch.manual_seed(0)
    m = TextCNN(vocab_size=20, num_classes=2, embedding_dim=6, num_filters=4, max_norm=0.5)
    opt = torch.optim.SGD(m.parameters(), lr=5.0)
    for _ in range(5):
        ids = torch.randint(1, 20, (8, 7))
        loss = torch.nn.functional.cross_entropy(m(ids), torch.randint(0, 2, (8,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        m.apply_constraints()
        assert (m.output.weight.norm(dim=1) <= 0.5 + 1e-5).all()


def test_embedding_modes():
    vectors = torch.randn(12, 4)
    static = TextCNN(12, 2, embedding_dim=4, num_filters=2, mode="static", pretrained=vectors)
    assert not static.embedding.weight.requires_grad
    assert torch.equal(static.embedding.weight[1:], vectors[1:])
    assert static.embedding.weight[0].abs().sum() == 0  # padding row zeroed
    nonstatic = TextCNN(12, 2, embedding_dim=4, num_filters=2, mode="non-static", pretrained=vectors)
    assert nonstatic.embedding.weight.requires_grad
    multi = TextCNN(12, 2, embedding_dim=4, num_filters=2, mode="multichannel", pretrained=vectors)
    assert multi.embedding.weight.requires_grad and not multi.static_embedding.weight.requires_grad
    assert multi.convs[0].in_channels == 8  # two channels of E = 4
    loss = multi(torch.randint(1, 12, (3, 5))).sum()
    loss.backward()
    assert multi.embedding.weight.grad is not None and multi.static_embedding.weight.grad is None


def test_errors():
    with pytest.raises(ConfigurationError, match="valid modes"):
        TextCNN(10, 2, mode="dynamic")
    with pytest.raises(ConfigurationError, match="pretrained"):
        TextCNN(10, 2, mode="static")
    with pytest.raises(ShapeError, match=r"\(10, 300\)"):
        TextCNN(10, 2, mode="static", pretrained=torch.zeros(9, 300))
    m = TextCNN(10, 2, embedding_dim=4, num_filters=2)
    with pytest.raises(ShapeError, match="batch, time"):
        m(torch.tensor([1, 2, 3]))
    with pytest.raises(ShapeError, match="integer"):
        m(torch.zeros(2, 3))


# Checkpoint names of every mode, as written before TextCNN was assembled from seqlab.nn parts
# (issue 12: old run directories must load). A change here breaks old checkpoints.
_OLD_KEYS = ["embedding.weight", "convs.0.weight", "convs.0.bias", "convs.1.weight", "convs.1.bias",
             "output.weight", "output.bias"]


@pytest.mark.parametrize("mode", ["rand", "static", "non-static", "multichannel"])
def test_state_dict_keeps_the_checkpoint_names_and_loads_them(mode):
    vectors = torch.randn(12, 4)
    kw = dict(embedding_dim=4, filter_widths=(2, 3), num_filters=2, mode=mode,
              pretrained=None if mode == "rand" else vectors)
    model = TextCNN(12, 2, **kw).eval()
    state = model.state_dict()
    expected = list(_OLD_KEYS)
    if mode == "multichannel":
        expected.insert(1, "static_embedding.weight")
    assert list(state) == expected
    # same order of parameters as the checkpointed optimizer states
    assert [p.shape for p in model.parameters()] == [state[k].shape for k in expected]
    other = TextCNN(12, 2, **kw).eval()
    other.load_state_dict({k: v + 1.0 for k, v in state.items()})  # strict: every old name found
    ids = torch.randint(1, 12, (3, 5))
    assert not torch.equal(other(ids), model(ids))
    model.load_state_dict(other.state_dict())
    torch.testing.assert_close(other(ids), model(ids), rtol=0, atol=0)
    if mode == "multichannel":
        assert torch.equal(other.static_embedding.weight[1:], vectors[1:] + 1.0)
