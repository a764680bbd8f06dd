"""gradient_flow: ‖∂L/∂h_t‖ equal to a hand-unrolled autograd computation."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import seqlab.nn as snn
from seqlab.diagnostics.gradient_flow import GradientFlow, gradient_flow, recurrent_modules, save_gradient_flow
from seqlab.errors import ConfigurationError
from seqlab.models.language_model import RNNLanguageModel
from seqlab.nn.cells import gru_step, lstm_step, peephole_lstm_step, rnn_step


def _step(rnn, layer, x_t, state):
    """One step of layer ``layer`` of a seqlab.nn / torch.nn module with the cells' step functions."""
    p = {name[: -len(f"_l{layer}")]: w for name, w in rnn.named_parameters() if name.endswith(f"_l{layer}")}
    if isinstance(rnn, (snn.LSTM, nn.LSTM)):
        h, c = state
        if getattr(rnn, "cell", "standard") == "peephole":
            return peephole_lstm_step(x_t, h, c, p["weight_ih"], p["weight_hh"], p["weight_ch"], p["bias_ih"], p["bias_hh"])
        return lstm_step(x_t, h, c, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
    if isinstance(rnn, (snn.GRU, nn.GRU)):
        return (gru_step(x_t, state[0], p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"]),)
    return (rnn_step(x_t, state[0], p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"]),)


def _hand_norms(embedding, rnn, decoder, ids, targets):
    """Unroll every layer by hand; torch.autograd.grad of the loss w.r.t. each h_t node."""
    B, T = ids.shape
    H = rnn.hidden_size
    lstm = isinstance(rnn, (snn.LSTM, nn.LSTM))
    layer_in = embedding(ids).transpose(0, 1)  # (T, B, E)
    nodes = []
    for k in range(rnn.num_layers):
        state = (torch.zeros(B, H), torch.zeros(B, H)) if lstm else (torch.zeros(B, H),)
        hs = []
        for t in range(T):
            state = _step(rnn, k, layer_in[t], state)
            hs.append(state[0])
        nodes.append(hs)
        layer_in = torch.stack(hs, 0)  # (T, B, H)
    logits = decoder(layer_in.transpose(0, 1))  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    flat = [h for hs in nodes for h in hs]
    grads = torch.autograd.grad(loss, flat)
    norms = torch.stack([g.norm(dim=1).mean() for g in grads]).view(rnn.num_layers, T)
    return norms, loss


@pytest.mark.parametrize("rnn_type,cell,layers", [("rnn", "standard", 2), ("lstm", "standard", 2),
                                                  ("lstm", "peephole", 1), ("gru", "standard", 2)])
def test_equals_hand_unrolled_autograd(rnn_type, cell, layers):
    torch.manual_seed(0)
    model = RNNLanguageModel(7, embedding_dim=5, hidden_size=6, num_layers=layers, rnn_type=rnn_type, cell=cell)
    ids = torch.randint(0, 7, (3, 9))
    flow = gradient_flow(model, (ids[:, :-1], ids[:, 1:]))
    expected, loss = _hand_norms(model.embedding, model.rnn, model.decoder, ids[:, :-1], ids[:, 1:])
    assert flow.layers == [f"rnn.l{k}" for k in range(layers)]
    torch.testing.assert_close(flow.norms, expected.detach(), rtol=1e-4, atol=1e-7)
    assert flow.loss == pytest.approx(loss.item(), rel=1e-5)
    assert (flow.norms > 0).all()
    assert set(flow.cell_norms) == (set(flow.layers) if rnn_type == "lstm" else set())
    for p in model.parameters():
        assert p.grad is None  # measured with autograd.grad, no .grad side effects


def test_torch_nn_lstm_and_restored_forward():
    torch.manual_seed(1)

    class TorchLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(6, 4)
            self.rnn = nn.LSTM(4, 5, num_layers=2, batch_first=True)
            self.decoder = nn.Linear(5, 6)

        def forward(self, ids):
            out, _ = self.rnn(self.embedding(ids))
            return self.decoder(out)

    model = TorchLM()
    ids = torch.randint(0, 6, (2, 7))
    before = model(ids[:, :-1])
    flow = gradient_flow(model, (ids[:, :-1], ids[:, 1:]))
    expected, _ = _hand_norms(model.embedding, model.rnn, model.decoder, ids[:, :-1], ids[:, 1:])
    torch.testing.assert_close(flow.norms, expected.detach(), rtol=1e-4, atol=1e-7)
    assert "forward" not in model.rnn.__dict__  # the class's forward is back
    assert model.training
    torch.testing.assert_close(model(ids[:, :-1]), before)


def test_stepwise_run_reproduces_the_module_bidirectional_with_lengths():
    """The diagnostic forward equals the real one (padding, reverse direction, 2 layers)."""
    torch.manual_seed(2)

    class Clf(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = snn.LSTM(4, 5, 2, batch_first=True, bidirectional=True, cell="coupled")
            self.out = nn.Linear(10, 3)

        def forward(self, ids, lengths=None):
            out, (h, c) = self.rnn(ids, lengths=lengths)
            return self.out(out.sum(1) + h[-1].repeat(1, 2))

    model = Clf().eval()
    x, lens, labels = torch.randn(3, 6, 4), torch.tensor([6, 3, 4]), torch.tensor([0, 1, 2])
    loss = F.cross_entropy(model(x, lengths=lens), labels)
    flow = gradient_flow(model, {"ids": x, "lengths": lens, "labels": labels})
    assert flow.loss == pytest.approx(loss.item(), rel=1e-5)
    assert flow.layers == ["rnn.l0", "rnn.l0.reverse", "rnn.l1", "rnn.l1.reverse"]
    # steps 4, 5 are padding for 2 of 3 sequences, step 5 is real only for sequence 0
    assert flow.norms.shape == (4, 6) and torch.isfinite(flow.norms).all()


def test_vanishing_gradient_is_visible_in_an_untrained_rnn():
    """Loss on the last step only: ‖∂L/∂h_t‖ decays geometrically going back in time."""
    torch.manual_seed(0)
    rnn = snn.RNN(2, 16, batch_first=True)
    head = nn.Linear(16, 1)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = rnn, head

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1]).squeeze(-1)

    x = torch.rand(8, 60, 2)
    flow = gradient_flow(M(), (x, torch.ones(8)))  # float targets -> MSE
    norms = flow.norms[0]
    assert norms[-1] > 1e3 * norms[0]
    assert flow.ratio()[0] < 1e-3


def test_errors_and_plot(tmp_path):
    with pytest.raises(ConfigurationError, match="no RNN/LSTM/GRU"):
        gradient_flow(nn.Linear(3, 2), (torch.randn(2, 3), torch.tensor([0, 1])))
    model = RNNLanguageModel(5, embedding_dim=3, hidden_size=4, rnn_type="gru")
    with pytest.raises(ConfigurationError, match="inputs, targets"):
        gradient_flow(model, torch.zeros(2, 3, dtype=torch.long))
    assert [n for n, _ in recurrent_modules(model)] == ["rnn"]
    flow = gradient_flow(model, (torch.randint(0, 5, (2, 8)), torch.randint(0, 5, (2, 8))))
    path = flow.plot(tmp_path / "plots" / "gradient_flow.png")
    assert path.is_file() and path.stat().st_size > 1000
    d = flow.to_dict()
    assert d["layers"] == ["rnn.l0"] and len(d["norms"][0]) == 8
    assert isinstance(flow, GradientFlow)


def test_save_gradient_flow_with_a_run_on_a_stream_window(tmp_path):
    from seqlab.data.streams import stream_loader

    torch.manual_seed(0)
    model = RNNLanguageModel(6, embedding_dim=3, hidden_size=4, rnn_type="lstm", num_layers=2)
    window = next(iter(stream_loader(torch.randint(0, 6, (100,)), 2, 10)))  # a StreamWindow
    flow = save_gradient_flow(model, window, tmp_path)
    assert (tmp_path / "plots" / "gradient_flow.png").is_file()
    import json

    saved = json.loads((tmp_path / "plots" / "gradient_flow.json").read_text())
    assert saved["layers"] == ["rnn.l0", "rnn.l1"] and len(saved["norms"][1]) == 10
    assert saved["norms"] == flow.norms.tolist()


def test_bidirectional_padded_batch_equals_each_sequence_unrolled_alone():
    """Reverse direction and lengths: the padded batch's norms are the per-sequence hand norms averaged
    over the sequences valid at each step (sum loss, so examples do not scale each other)."""
    torch.manual_seed(3)
    rnn = snn.RNN(3, 4, batch_first=True, bidirectional=True)
    head = nn.Linear(8, 2)

    class Clf(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = rnn, head

        def forward(self, ids, lengths=None):
            return self.head(self.rnn(ids, lengths=lengths)[0].sum(1))  # pads output 0

    def sum_ce(output, targets):
        return F.cross_entropy(output, targets, reduction="sum")

    x, lens, labels = torch.randn(3, 5, 3), torch.tensor([5, 2, 4]), torch.tensor([0, 1, 1])
    flow = gradient_flow(Clf(), {"ids": x, "lengths": lens, "labels": labels}, sum_ce)

    def step(suffix, x_t, h):
        p = {n[: -len(suffix)]: w for n, w in rnn.named_parameters() if n.endswith(suffix)}
        return rnn_step(x_t, h, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])

    per_seq = torch.zeros(2, 5, 3)  # (direction, T, B)
    for b in range(3):
        L = int(lens[b])
        xs = x[b : b + 1, :L]  # (1, L, 3)
        fwd, bwd, h = [], [], torch.zeros(1, 4)
        for t in range(L):
            h = step("_l0", xs[:, t], h)
            fwd.append(h)
        h = torch.zeros(1, 4)
        for t in reversed(range(L)):
            h = step("_l0_reverse", xs[:, t], h)
            bwd.append(h)  # bwd[j] is original step L-1-j
        out = torch.cat([torch.stack(fwd, 1), torch.stack(bwd[::-1], 1)], 2)  # (1, L, 8)
        loss = sum_ce(head(out.sum(1)), labels[b : b + 1])
        grads = torch.autograd.grad(loss, fwd + bwd)
        for t in range(L):
            per_seq[0, t, b] = grads[t].norm()
            per_seq[1, L - 1 - t, b] = grads[L + t].norm()
    valid = torch.arange(5).unsqueeze(1) < lens.unsqueeze(0)  # (T, B)
    expected = per_seq.sum(2) / valid.sum(1)  # mean over valid sequences
    torch.testing.assert_close(flow.norms, expected, rtol=1e-4, atol=1e-6)
