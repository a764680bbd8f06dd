"""Exercise 2 baselines: fixed-window (Bengio et al. 2003) and bag-of-words LMs."""

import math

import pytest
import torch

from seqlab.data.streams import stream_loader
from seqlab.errors import ConfigurationError, ShapeError
from seqlab.models.window_lm import BagOfWordsLM, FixedWindowLM, bag_of_words_lm, context_windows, fixed_window_lm



@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: one thread is faster than oversubscribing the shared CPU cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

def test_context_windows_golden():
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    windows, state = context_windows(ids, None, 2, pad_id=9)
    assert windows.tolist() == [[[9, 1], [1, 2], [2, 3]], [[9, 4], [4, 5], [5, 6]]]
    assert state.tolist() == [[2, 3], [5, 6]]
    nxt, state2 = context_windows(torch.tensor([[7], [8]]), state, 2, pad_id=9)
    assert nxt.tolist() == [[[3, 7]], [[6, 8]]]
    assert state2.tolist() == [[3, 7], [6, 8]]


@pytest.mark.parametrize("make", [lambda V: FixedWindowLM(V, context_size=2, embedding_dim=4, hidden_size=8),
                                  lambda V: FixedWindowLM(V, context_size=7, embedding_dim=4, hidden_size=8, direct=True),
                                  lambda V: BagOfWordsLM(V, context_size=5, embedding_dim=4)])
def test_shapes_and_state(make):
    model = make(11)
    logits, state = model(torch.randint(0, 11, (3, 6)))
    assert logits.shape == (3, 6, 11)
    assert state.shape == (3, model.context_size) and state.dtype == torch.long
    with pytest.raises(ShapeError, match=r"\(B, T\)"):
        model(torch.zeros(6, dtype=torch.long))
    with pytest.raises(ShapeError, match="previous window"):
        model(torch.zeros(3, 2, dtype=torch.long), torch.zeros(2, model.context_size, dtype=torch.long))


def _stream_cross_entropy(model, ids, batch_size, bptt):
    total, count, state = 0.0, 0, None
    model.eval()
    with torch.no_grad():
        for window in stream_loader(ids, batch_size, bptt):
            logits, state = model(window.inputs, state)
            total += torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), window.targets.reshape(-1), reduction="sum"
            ).item()
            count += window.targets.numel()
    return total / count


@pytest.mark.parametrize("model", [FixedWindowLM(13, context_size=7, embedding_dim=5, hidden_size=9, direct=True),
                                   BagOfWordsLM(13, context_size=6, embedding_dim=5)])
def test_stream_evaluation_is_the_same_in_one_or_many_windows(model):
    torch.manual_seed(0)
    ids = torch.randint(0, 13, (301,))
    one = _stream_cross_entropy(model, ids, batch_size=3, bptt=100)  # 1 window per row
    many = _stream_cross_entropy(model, ids, batch_size=3, bptt=7)  # 15 windows, contexts cross boundaries
    assert one == pytest.approx(many, rel=1e-5)
    # and a context that is dropped at window boundaries would change the number
    fresh = sum(_stream_cross_entropy(model, ids[i : i + 22], 1, 21) for i in range(0, 294, 21)) / 14
    assert abs(fresh - many) > 1e-4


def test_engine_scores_window_lm_like_an_rnn():
    """The engine's TBPTT evaluation (perplexity, bits per char) gives one number for any bptt."""
    from seqlab.train import Trainer

    torch.manual_seed(0)
    ids = torch.randint(0, 10, (241,))
    model = FixedWindowLM(10, context_size=3, embedding_dim=4, hidden_size=8)
    trainer = Trainer(model, loss="cross_entropy", metrics=["perplexity", "bits_per_char"], device="cpu", verbose=0,
                      input_adapter=lambda w: ((w.inputs,), {}, w.targets))  # as the LM recipes do
    a = trainer.evaluate(stream_loader(ids, 4, 60))  # one window of 59 steps per row
    b = trainer.evaluate(stream_loader(ids, 4, 9))  # 7 windows, the last one 5 steps
    reference = _stream_cross_entropy(model, ids, 4, 60)  # token-weighted nats
    # perplexity / bits per char are token-weighted: identical for any window size
    assert a["perplexity"] == pytest.approx(b["perplexity"], rel=1e-6)
    assert math.log(a["perplexity"]) == pytest.approx(reference, rel=1e-6)
    assert a["bits_per_char"] == pytest.approx(reference / math.log(2), rel=1e-6)
    assert b["bits_per_char"] == pytest.approx(reference / math.log(2), rel=1e-6)


def test_bag_of_words_is_order_blind_and_fixed_window_is_not():
    torch.manual_seed(0)
    bow = BagOfWordsLM(9, context_size=3, embedding_dim=4)
    win = FixedWindowLM(9, context_size=3, embedding_dim=4, hidden_size=8)
    a, b = torch.tensor([[1, 2, 3]]), torch.tensor([[3, 1, 2]])
    state = torch.tensor([[4, 4, 4]])
    # the last position's context is the 3 ids of the window in both cases
    torch.testing.assert_close(bow(a, state)[0][:, -1], bow(b, state)[0][:, -1])
    assert not torch.allclose(win(a, state)[0][:, -1], win(b, state)[0][:, -1])


def _train_on_pattern(model, pattern, vocab_size=5, epochs=15):
    torch.manual_seed(0)
    ids = torch.tensor(pattern * 60)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    windows = list(stream_loader(ids, 4, 20))
    for _ in range(epochs):
        state = None
        for w in windows:
            logits, state = model(w.inputs, state)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab_size), w.targets.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return _stream_cross_entropy(model, ids, 4, 20)


# "a b a c a b a c ...": the next token is fixed by the ORDER of the last two tokens:
# (a b)->a, (b a)->c, (a c)->a, (c a)->b. As unordered sets every context is ambiguous
# ({a,b} -> a or c, {a,c} -> a or b, each half the time), so an order-blind model's
# best cross-entropy is log 2 = 0.693 nats; uniform is log 5 = 1.609.
ORDER_PATTERN = [0, 1, 0, 2]


def test_fixed_window_learns_an_order_dependent_corpus():
    torch.manual_seed(0)
    final = _train_on_pattern(fixed_window_lm(5, context_size=2, embedding_dim=8, hidden_size=32), ORDER_PATTERN)
    assert final < 0.05 * math.log(5)


def test_bag_of_words_reaches_its_order_blind_optimum_and_no_lower():
    torch.manual_seed(0)
    final = _train_on_pattern(bag_of_words_lm(5, context_size=2, embedding_dim=16), ORDER_PATTERN)
    assert final == pytest.approx(math.log(2), abs=0.08)  # learned the sets, cannot learn the order
    # with an order-free corpus ("a b c a b c ...": each set {a,b}, {b,c}, {c,a} has one successor) it is exact
    final = _train_on_pattern(bag_of_words_lm(5, context_size=2, embedding_dim=16), [0, 1, 2])
    assert final < 0.05 * math.log(5)


def test_configuration_errors():
    with pytest.raises(ConfigurationError, match="context_size"):
        FixedWindowLM(10, context_size=0)
    with pytest.raises(ConfigurationError, match="mean, sum"):
        BagOfWordsLM(10, reduction="max")
