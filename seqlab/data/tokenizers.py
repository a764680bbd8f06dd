"""Tokenizers: text -> list of tokens (word, character) and subword BPE.

Word rules (:class:`WordTokenizer`), applied in this order:

1. Unicode NFC normalisation (so ``e`` + combining accent and ``é`` are one token);
2. lower-casing when ``lowercase=True`` (the default; Kim 2014's data is already lower-cased);
3. split on whitespace (ASCII whitespace only for the plain split, ``split_punctuation=False``:
   a U+00A0 NO-BREAK SPACE stays inside its token, as SST's ``8\u00a01\/2``);
4. when ``split_punctuation=True`` (default) each whitespace chunk is cut into maximal
   runs of word characters (Unicode letters, digits, ``_``) and single other characters:
   ``"Don't stop!"`` -> ``["don", "'", "t", "stop", "!"]``.  With ``split_punctuation=False``
   it is a plain whitespace split, which is right for corpora that are already tokenized
   (Kim's suite, PTB, WikiText: ``WordTokenizer.whitespace()``).

Kim's cleaning (:class:`KimTokenizer`, ``data.tokenizer="kim"``): the rules Kim (2014)
applied to every dataset before training (``clean_str`` of his released code), written out:

1. every character outside ``A-Z a-z 0-9 ( ) , ! ? ' `` ` becomes a space, so ``.``, ``-``,
   ``:``, ``"`` and accented letters disappear (``"jean-claud"`` -> ``jean claud``);
2. the clitics ``'s 've n't 're 'd 'll`` are split from their word (``"he's"`` -> ``he 's``);
3. ``, ! ( ) ?`` become tokens of their own; whitespace runs collapse; lower-cased unless
   ``lowercase=False`` (Kim kept TREC's case).

Character rules (:class:`CharTokenizer`): every character (after optional lower-casing) is
a token, spaces and newlines included, so ``detokenize`` is exact.

Subwords (:class:`BPETokenizer`): byte-pair encoding (Sennrich et al. 2016, "Neural Machine
Translation of Rare Words with Subword Units") trained with the Hugging Face ``tokenizers``
library, with a SentencePiece-style ``▁`` word-boundary marker so decoding restores spaces.
Specials ``<pad>``=0, ``<unk>``=1, ``<bos>``=2, ``<eos>``=3.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

from seqlab.errors import DataError

__all__ = ["WordTokenizer", "KimTokenizer", "CharTokenizer", "BPETokenizer"]

_WORD_OR_SYMBOL = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_ASCII_SPACES = " \t\n\r\f\v"
_ASCII_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")
_KIM_DROPPED = re.compile(r"[^A-Za-z0-9(),!?'`]")
_KIM_CLITIC = re.compile(r"('s|'ve|n't|'re|'d|'ll)")
_KIM_OWN_TOKEN = re.compile(r"([,!()?])")


class WordTokenizer:
    """Word tokenizer with documented case and punctuation rules (see the module docstring)."""

    def __init__(self, *, lowercase: bool = True, split_punctuation: bool = True) -> None:
        self.lowercase = lowercase
        self.split_punctuation = split_punctuation

    @classmethod
    def whitespace(cls) -> WordTokenizer:
        """Plain whitespace split, case kept: for already-tokenized corpora."""
        return cls(lowercase=False, split_punctuation=False)

    def __call__(self, text: str) -> list[str]:
        return self.tokenize(text)

    def tokenize(self, text: str) -> list[str]:
        """Tokens of ``text``; an empty or blank text gives ``[]``."""
        text = unicodedata.normalize("NFC", text)
        if self.lowercase:
            text = text.lower()
        if self.split_punctuation:
            return _WORD_OR_SYMBOL.findall(text)
        # ASCII whitespace only: pre-tokenized corpora keep other spaces inside a token (SST has
        # three words holding U+00A0, "8\u00a01\/2"; str.split() would cut them; issue 15)
        return _ASCII_WHITESPACE.split(text.strip(_ASCII_SPACES)) if text.strip(_ASCII_SPACES) else []

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Tokens joined by single spaces (the original spacing is not recoverable)."""
        return " ".join(tokens)

    def __repr__(self) -> str:
        return f"WordTokenizer(lowercase={self.lowercase}, split_punctuation={self.split_punctuation})"


class KimTokenizer:
    """Kim (2014)'s text cleaning, then a whitespace split (rules in the module docstring)."""

    def __init__(self, *, lowercase: bool = True) -> None:
        self.lowercase = lowercase

    def __call__(self, text: str) -> list[str]:
        return self.tokenize(text)

    def tokenize(self, text: str) -> list[str]:
        """Tokens of ``text``; a text with nothing Kim keeps gives ``[]``."""
        text = _KIM_DROPPED.sub(" ", text)
        text = _KIM_CLITIC.sub(r" \1", text)
        text = _KIM_OWN_TOKEN.sub(r" \1 ", text)
        if self.lowercase:
            text = text.lower()
        return text.split()

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Tokens joined by single spaces (the cleaning is lossy)."""
        return " ".join(tokens)

    def __repr__(self) -> str:
        return f"KimTokenizer(lowercase={self.lowercase})"


class CharTokenizer:
    """Character tokenizer: ``"Hi!"`` -> ``["H", "i", "!"]``; detokenize is exact."""

    def __init__(self, *, lowercase: bool = False) -> None:
        self.lowercase = lowercase

    def __call__(self, text: str) -> list[str]:
        return self.tokenize(text)

    def tokenize(self, text: str) -> list[str]:
        return list(text.lower() if self.lowercase else text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return "".join(tokens)

    def __repr__(self) -> str:
        return f"CharTokenizer(lowercase={self.lowercase})"


def _hf_tokenizers():
    """The Hugging Face ``tokenizers`` package, with an actionable error when it is absent."""
    try:
        import tokenizers
    except ImportError:
        raise DataError("BPETokenizer needs the 'tokenizers' package: pip install tokenizers") from None
    return tokenizers


class BPETokenizer:
    """Subword byte-pair encoding on the ``tokenizers`` library.

    Train with :meth:`train`, persist with :meth:`save` / :meth:`load` (one JSON file).
    ``encode`` returns ids, ``decode`` restores the text (spaces included).
    """

    PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
    SPECIALS = (PAD, UNK, BOS, EOS)

    def __init__(self, tokenizer) -> None:  # a tokenizers.Tokenizer
        self._tok = tokenizer
        for special in self.SPECIALS:
            if tokenizer.token_to_id(special) is None:
                raise DataError(f"BPE tokenizer lacks the special token {special!r}; train it with BPETokenizer.train")

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        *,
        vocab_size: int = 8000,
        min_frequency: int = 2,
        lowercase: bool = False,
    ) -> BPETokenizer:
        """Learn merges from ``texts`` until ``vocab_size`` entries (specials included)."""
        hf = _hf_tokenizers()
        from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

        tok = hf.Tokenizer(models.BPE(unk_token=cls.UNK))
        norms = [normalizers.NFC()] + ([normalizers.Lowercase()] if lowercase else [])
        tok.normalizer = normalizers.Sequence(norms)
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(cls.SPECIALS),  # ids 0..3 in this order: <pad> = 0
            show_progress=False,
        )
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        self._tok.save(str(tmp))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> BPETokenizer:
        hf = _hf_tokenizers()
        try:
            return cls(hf.Tokenizer.from_file(str(path)))
        except Exception as exc:  # the library raises a bare Exception on bad files
            if isinstance(exc, DataError):
                raise
            raise DataError(f"cannot read BPE tokenizer {path}: {exc}; expected a file written by BPETokenizer.save") from None

    def __len__(self) -> int:
        return self._tok.get_vocab_size()

    @property
    def vocab_size(self) -> int:
        return len(self)

    pad_id = property(lambda self: self._tok.token_to_id(self.PAD))
    unk_id = property(lambda self: self._tok.token_to_id(self.UNK))
    bos_id = property(lambda self: self._tok.token_to_id(self.BOS))
    eos_id = property(lambda self: self._tok.token_to_id(self.EOS))

    def token_to_id(self, token: str) -> int:
        idx = self._tok.token_to_id(token)
        return self.unk_id if idx is None else idx

    def id_to_token(self, index: int) -> str:
        token = self._tok.id_to_token(int(index))
        if token is None:
            raise IndexError(f"token id {index} is out of range for a BPE vocabulary of {len(self)}")
        return token

    def tokenize(self, text: str) -> list[str]:
        """Subword pieces of ``text`` (``▁`` marks the start of a word)."""
        return self._tok.encode(text).tokens

    def encode(self, text: str, *, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        ids = self._tok.encode(text).ids
        return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

    def encode_batch(self, texts: Sequence[str], *, add_bos: bool = False, add_eos: bool = False) -> list[list[int]]:
        out = self._tok.encode_batch(list(texts))
        pre, post = ([self.bos_id] if add_bos else []), ([self.eos_id] if add_eos else [])
        return [pre + e.ids + post for e in out]

    def decode(self, ids: Iterable[int], *, skip_specials: bool = True) -> str:
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return self._tok.decode(list(ids), skip_special_tokens=skip_specials)

    def decode_batch(self, batch: Iterable[Iterable[int]], *, skip_specials: bool = True) -> list[str]:
        if hasattr(batch, "tolist"):
            batch = batch.tolist()
        return [self.decode(row, skip_specials=skip_specials) for row in batch]
