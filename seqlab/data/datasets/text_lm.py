"""Language-model corpora: Tiny Shakespeare (characters), PTB and WikiText-2 (words).

Each loads as a :class:`TokenCorpus`: the split as one flat token stream.

* ``tinyshakespeare`` (char-rnn's ``input.txt``, 1,115,394 ASCII characters): character
  tokens; the first 90 % of characters are ``train`` (1,003,854) and the last 10 %
  ``valid`` (111,540), the nanoGPT/minGPT convention (``n = int(0.9 * len(text))``).
* ``ptb`` (Mikolov's version) and ``wikitext2`` (v1, tokenized): each line is split on
  whitespace and followed by one ``<eos>``, as pytorch/examples ``word_language_model``
  does; PTB gives 929,589 / 73,760 / 82,430 tokens and a 10,000-word vocabulary
  (``<unk>`` and ``N`` are already words of the corpus).

Build the vocabulary on ``train`` (``corpus.build_vocabulary()``), turn each split into
ids with ``corpus.encode(vocab)`` and lay it out for truncated BPTT with
:func:`seqlab.data.streams.stream_loader`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from seqlab.data.datasets._text import read_text
from seqlab.data.vocab import Vocabulary

__all__ = ["TokenCorpus", "load_tinyshakespeare", "load_word_corpus", "TRAIN_FRACTION"]

TRAIN_FRACTION = 0.9
EOS = "<eos>"


class TokenCorpus(Dataset):
    """A split of a language-model corpus as one token stream.

    Attributes:
        name, split: what was loaded.  level: ``"word"`` or ``"char"``.
        tokens: ``list[str]``, the whole split in order (words carry one ``<eos>`` per line).
        num_lines: lines in the split (word level), or None.

    ``len(corpus)`` is the number of tokens and ``corpus[i]`` the i-th token.
    """

    def __init__(self, tokens: list[str], *, name: str, split: str, level: str, num_lines: int | None = None) -> None:
        self.tokens = tokens
        self.name = name
        self.split = split
        self.level = level
        self.num_lines = num_lines

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> str:
        return self.tokens[index]

    @property
    def text(self) -> str:
        """The split as text (exact for characters; words joined by spaces)."""
        return "".join(self.tokens) if self.level == "char" else " ".join(self.tokens)

    def build_vocabulary(self, **kwargs) -> Vocabulary:
        """A vocabulary of every token in this split, without ``<pad>``/``<unk>`` specials by
        default (an LM stream needs no padding; PTB/WikiText already contain ``<unk>``).
        Keyword arguments go to :meth:`Vocabulary.build` (e.g. ``unk_token="<unk>"``)."""
        kwargs.setdefault("pad_token", None)
        kwargs.setdefault("unk_token", "<unk>" if self.level == "word" else None)
        return Vocabulary.build([self.tokens], **kwargs)

    def encode(self, vocab: Vocabulary) -> torch.Tensor:
        """Token ids of the stream, ``(N,)`` int64."""
        return torch.tensor(vocab.encode(self.tokens), dtype=torch.long)

    def __repr__(self) -> str:
        return f"TokenCorpus(name={self.name!r}, split={self.split!r}, level={self.level!r}, tokens={len(self):,})"


def load_tinyshakespeare(name: str, split: str, paths: dict[str, Path]) -> TokenCorpus:
    (path,) = paths.values()
    text = read_text(path, "utf-8")
    n_train = int(TRAIN_FRACTION * len(text))
    part = text[:n_train] if split == "train" else text[n_train:]
    return TokenCorpus(list(part), name=name, split=split, level="char")


def load_word_corpus(name: str, split: str, paths: dict[str, Path]) -> TokenCorpus:
    (path,) = paths.values()
    tokens: list[str] = []
    lines = 0
    # Decoded whole (PTB's train file is 5 MB) so that a bad byte is a DataError with its offset;
    # lines end at \n, \r\n or \r, as iterating over a text-mode file splits them (not at the
    # other separators of str.splitlines, which would change the line counts).
    text = read_text(path, "utf-8").replace("\r\n", "\n").replace("\r", "\n")
    for line in text.split("\n")[: -1 if text.endswith("\n") else None] if text else []:
        tokens.extend(line.split())
        tokens.append(EOS)
        lines += 1
    return TokenCorpus(tokens, name=name, split=split, level="word", num_lines=lines)
