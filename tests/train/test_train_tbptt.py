"""Truncated BPTT: state carried between windows, detached, reset per epoch."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.train import Trainer, detach_state


class TinyRNNLM(nn.Module):
    """Embedding → tanh RNN → linear; follows ``forward(x, state=None) -> (logits, state)``."""

    def __init__(self, vocab=5, hidden=6):
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(vocab, 4)
        self.rnn = nn.RNN(4, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)
        self.seen: list = []

    def forward(self, x, state=None):  # x (B, T)
        self.seen.append(state)
        h, new_state = self.rnn(self.emb(x), state)  # (B, T, H), (1, B, H)
        return self.out(h), new_state  # (B, T, V)


class Stream(list):
    """Consecutive (inputs, targets) windows of a batchified stream."""

    is_stream = True


def make_stream(n_windows=3, batch=2, bptt=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    seq = torch.randint(0, 5, (batch, n_windows * bptt + 1), generator=g)
    return Stream((seq[:, i : i + bptt], seq[:, i + 1 : i + bptt + 1]) for i in range(0, n_windows * bptt, bptt))


def test_detach_state_handles_nested_structures():
    a = torch.ones(2, requires_grad=True) * 2
    state = {"h": (a, [a * 3]), "n": None, "k": 3}
    out = detach_state(state)
    assert out["h"][0].grad_fn is None and out["h"][1][0].grad_fn is None
    assert isinstance(out["h"], tuple) and isinstance(out["h"][1], list)
    assert out["n"] is None and out["k"] == 3 and torch.equal(out["h"][1][0], a * 3)


def test_state_is_passed_detached_and_reset_every_epoch():
    model = TinyRNNLM()
    trainer = Trainer(model, loss="cross_entropy", optimizer="sgd", lr=0.1, metrics=["perplexity"], verbose=0)
    stream = make_stream(n_windows=3)
    trainer.fit(stream, epochs=2)  # tbptt switched on by Stream.is_stream
    train_seen = model.seen[:6]
    assert train_seen[0] is None and train_seen[3] is None  # reset at each epoch
    for s in train_seen[1:3] + train_seen[4:6]:
        assert isinstance(s, torch.Tensor) and s.grad_fn is None and not s.requires_grad
    model.seen.clear()
    result = trainer.evaluate(stream)
    assert model.seen[0] is None and all(isinstance(s, torch.Tensor) for s in model.seen[1:])
    assert result["perplexity"] == result["perplexity"] and result["perplexity"] > 1
    pred = trainer.predict(stream)
    assert pred.shape == (2, 12, 5)  # windows concatenated along time


def test_gradients_never_cross_a_window_boundary():
    model = TinyRNNLM()
    reference = copy.deepcopy(model)
    stream = make_stream(n_windows=2)
    # lr=0 keeps the weights fixed, so after fit the .grad fields hold the gradient of window 2 alone.
    trainer = Trainer(model, loss="cross_entropy", optimizer="sgd", lr=1e-30, verbose=0)
    trainer.fit(stream, epochs=1)

    (x1, _), (x2, y2) = stream
    _, h1 = reference(x1)
    logits, _ = reference(x2, state=h1.detach())
    F.cross_entropy(logits.reshape(-1, 5), y2.reshape(-1)).backward()
    truncated = {n: p.grad.clone() for n, p in reference.named_parameters()}
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, truncated[n], rtol=1e-6, atol=1e-7)

    reference.zero_grad()
    _, h1 = reference(x1)
    logits, _ = reference(x2, state=h1)  # full BPTT through both windows
    F.cross_entropy(logits.reshape(-1, 5), y2.reshape(-1)).backward()
    assert not torch.allclose(model.rnn.weight_hh_l0.grad, reference.rnn.weight_hh_l0.grad)


def test_language_model_learns_a_repeating_stream():
    seq = torch.tensor([0, 1, 2, 3, 4] * 40).reshape(2, 100)  # deterministic next token
    stream = Stream((seq[:, i : i + 9], seq[:, i + 1 : i + 10]) for i in range(0, 90, 9))
    trainer = Trainer(TinyRNNLM(), loss="cross_entropy", optimizer="adam", lr=0.05,
                      metrics=["perplexity", "accuracy"], verbose=0, seed=0)
    history = trainer.fit(stream, epochs=8)
    assert history.history["perplexity"][-1] < 1.5 < history.history["perplexity"][0]
    assert history.history["accuracy"][-1] > 0.95
