"""Interpolated Kneser-Ney: hand-computed probabilities and normalisation."""

import math

import pytest

from seqlab.errors import ConfigurationError, DataError
from seqlab.models.ngram import KneserNeyLM

# ids: a=0, b=1, c=2, d=3 (d never occurs)
CORPUS = [0, 1, 0, 1, 0, 2]


def test_bigram_matches_hand_computation():
    lm = KneserNeyLM(order=2, vocab_size=4).fit(CORPUS)
    # bigram counts: ab 2, ba 2, ac 1 -> counts-of-counts n1=1, n2=2: D2 = 1/(1+4) = 0.2
    assert lm.discounts[2] == pytest.approx(0.2)
    # continuation counts N1+(. w): a<-{b} 1, b<-{a} 1, c<-{a} 1 -> n1=3, n2=0: the
    # estimate degenerates (would be 1), so the fixed D1 = 0.75 is used
    assert lm.discounts[1] == pytest.approx(0.75)
    # unigram level: P(w) = max(N1+(.w) - 0.75, 0)/3 + 0.75 * 3/3 * 1/4
    p_seen, p_unseen = 0.25 / 3 + 0.1875, 0.1875
    assert lm.probability(3, []) == pytest.approx(p_unseen)
    assert lm.probability(1, []) == pytest.approx(p_seen)
    # P(b | a) = (2 - 0.2)/3 + 0.2 * 2/3 * P(b)
    assert lm.probability(1, [0]) == pytest.approx(0.6 + 0.2 * 2 / 3 * p_seen)
    # P(c | a) = (1 - 0.2)/3 + 0.2 * 2/3 * P(c)
    assert lm.probability(2, [0]) == pytest.approx(0.8 / 3 + 0.2 * 2 / 3 * p_seen)
    # P(d | a): only the interpolated lower order
    assert lm.probability(3, [0]) == pytest.approx(0.2 * 2 / 3 * p_unseen)
    # unseen history c: back off entirely to the unigram level
    assert lm.probability(0, [2]) == pytest.approx(p_seen)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_distribution_sums_to_one_for_any_history(order):
    corpus = [0, 1, 2, 0, 1, 3, 0, 2, 2, 1, 0, 1, 2, 3, 3, 0] * 3
    lm = KneserNeyLM(order=order, vocab_size=5).fit(corpus)
    for history in ([], [0], [1, 2], [3, 3, 0], [4, 4, 4]):
        total = sum(lm.probability(w, history) for w in range(5))
        assert total == pytest.approx(1.0)
        assert all(lm.probability(w, history) > 0 for w in range(5))


def test_higher_order_fits_a_repetitive_stream_better():
    pattern = [0, 1, 2, 3, 1, 0, 2, 3] * 30
    ppl = [KneserNeyLM(order=k, vocab_size=4).fit(pattern).perplexity(pattern[:64], context=pattern[-4:]) for k in (1, 2, 3)]
    assert ppl[0] > ppl[1] > ppl[2]
    assert ppl[2] < 1.5  # the pattern is nearly deterministic given two words


def test_cross_entropy_is_mean_negative_log_probability():
    lm = KneserNeyLM(order=2, vocab_size=4).fit(CORPUS)
    expected = -(math.log(lm.probability(1, [0])) + math.log(lm.probability(0, [1]))) / 2
    assert lm.cross_entropy([1, 0], context=[0]) == pytest.approx(expected)


def test_errors():
    with pytest.raises(ConfigurationError):
        KneserNeyLM(order=0, vocab_size=3)
    with pytest.raises(ConfigurationError, match="fit"):
        KneserNeyLM(order=2, vocab_size=3).probability(0, [1])
    with pytest.raises(DataError, match="token ids"):
        KneserNeyLM(order=2, vocab_size=3).fit([0, 1, 5])
    with pytest.raises(DataError, match="at least"):
        KneserNeyLM(order=3, vocab_size=3).fit([0, 1])
    with pytest.raises(DataError, match="no tokens"):
        KneserNeyLM(order=2, vocab_size=4).fit(CORPUS).cross_entropy([])
