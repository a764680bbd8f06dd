"""Interpolated Kneser–Ney n-gram language model (Kneser & Ney 1995; Chen & Goodman 1998, section 3).

The count-based baseline of the notes' Exercise 2 ("given these n words, predict the
next"), scored on the same token streams and metrics as the recurrent models.

For the highest order n, with absolute discount D_n::

    P(w | h) = max(c(h w) − D_n, 0) / c(h)  +  D_n · N1+(h •) / c(h) · P(w | h⁻)

where h⁻ drops the oldest word of h.  Lower orders replace raw counts by
*continuation* counts — in how many distinct contexts a word sequence appears,
N1+(• g) — which is what makes Kneser–Ney better than plain absolute discounting
("Francisco" is frequent but follows only "San")::

    P(w | g) = max(N1+(• g w) − D_k, 0) / N1+(• g •)  +  D_k · N1+(g •) / N1+(• g •) · P(w | g⁻)

The unigram level is interpolated with the uniform distribution 1/V so that every word
of the vocabulary has non-zero probability.  Unseen histories back off with weight 1.
Discounts are estimated per order as D = n1 / (n1 + 2·n2) from the counts-of-counts
(Ney et al. 1994), or 0.75 where that estimate degenerates.  The corpus is one token stream (sentences separated by ``<eos>``), so
histories cross sentence ends exactly as they do for the recurrent models trained with
truncated BPTT on the same stream.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Sequence

from seqlab.errors import ConfigurationError, DataError


class KneserNeyLM:
    """Interpolated Kneser–Ney language model over integer token ids.

    Args:
        order: n, the n-gram order (2 = bigram).
        vocab_size: V, the number of token ids (probabilities are normalised over 0 … V−1).
    """

    def __init__(self, order: int, vocab_size: int) -> None:
        if order < 1:
            raise ConfigurationError(f"KneserNeyLM: order must be >= 1, got {order}")
        if vocab_size < 1:
            raise ConfigurationError(f"KneserNeyLM: vocab_size must be >= 1, got {vocab_size}")
        self.order = order
        self.vocab_size = vocab_size
        self._fitted = False

    def fit(self, tokens: Sequence[int]) -> "KneserNeyLM":
        """Count n-grams of every order in the token stream ``tokens``."""
        tokens = [int(t) for t in tokens]
        if len(tokens) < self.order:
            raise DataError(f"KneserNeyLM.fit: need at least {self.order} tokens, got {len(tokens)}")
        if min(tokens) < 0 or max(tokens) >= self.vocab_size:
            raise DataError(f"KneserNeyLM.fit: token ids must be in [0, {self.vocab_size}), got {min(tokens)}..{max(tokens)}")
        n = self.order
        # counts[k] maps a k-gram (tuple) to its count: raw counts for k = n,
        # continuation counts N1+(• g) for k < n.
        top = Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        counts: dict[int, Counter] = {n: top}
        for k in range(n - 1, 0, -1):
            counts[k] = Counter(gram[1:] for gram in counts[k + 1])  # one per distinct left extension
        self._counts = counts
        # Per order k: history -> (denominator, number of distinct following words).
        self._context: dict[int, dict[tuple, list[int]]] = {}
        for k, table in counts.items():
            ctx: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
            for gram, c in table.items():
                entry = ctx[gram[:-1]]
                entry[0] += c
                entry[1] += 1
            self._context[k] = dict(ctx)
        self.discounts = {}
        for k, table in counts.items():
            of = Counter(table.values())
            n1, n2 = of.get(1, 0), of.get(2, 0)
            # The estimate degenerates to 0 or 1 when a count-of-count is zero (tiny or
            # repetitive corpora); 0.75 is Chen & Goodman's usual fixed discount.
            self.discounts[k] = n1 / (n1 + 2 * n2) if n1 > 0 and n2 > 0 else 0.75
        self._fitted = True
        return self

    def probability(self, word: int, history: Sequence[int]) -> float:
        """P(word | history); only the last order−1 ids of ``history`` matter."""
        if not self._fitted:
            raise ConfigurationError("KneserNeyLM: call fit(tokens) before asking for probabilities")
        history = tuple(int(t) for t in history[len(history) - (self.order - 1) :]) if self.order > 1 else ()
        return self._prob(int(word), history, self.order if len(history) == self.order - 1 else len(history) + 1)

    def _prob(self, word: int, history: tuple, k: int) -> float:
        if k == 0:
            return 1.0 / self.vocab_size
        history = history[len(history) - (k - 1) :] if k > 1 else ()
        lower = self._prob(word, history[1:], k - 1)
        ctx = self._context[k].get(history)
        if ctx is None:  # unseen history: all mass to the lower order
            return lower
        total, distinct = ctx
        d = self.discounts[k]
        count = self._counts[k].get(history + (word,), 0)
        return max(count - d, 0.0) / total + d * distinct / total * lower

    def cross_entropy(self, tokens: Sequence[int], context: Sequence[int] = ()) -> float:
        """Mean negative log-likelihood in nats of ``tokens[1:]``-style stream prediction.

        Every token of ``tokens`` is predicted from the tokens before it (``context``
        supplies history for the first ones), matching how a recurrent LM is scored on
        a stream: perplexity = exp(cross_entropy).
        """
        stream = [int(t) for t in context] + [int(t) for t in tokens]
        start = len(context)
        if len(stream) - start == 0:
            raise DataError("KneserNeyLM.cross_entropy: no tokens to score")
        total = 0.0
        for i in range(start, len(stream)):
            p = self.probability(stream[i], stream[max(0, i - self.order + 1) : i])
            total -= math.log(p)
        return total / (len(stream) - start)

    def perplexity(self, tokens: Sequence[int], context: Sequence[int] = ()) -> float:
        """exp(cross-entropy) over ``tokens``."""
        return math.exp(self.cross_entropy(tokens, context))
