"""The token dictionary of the lecture notes: tokens <-> integer ids.

* Specials come first, in the fixed order ``<pad>`` (id 0, the project-wide pad id),
  ``<unk>``, ``<bos>``, ``<eos>``; each can be switched off by passing None.
* Then the corpus tokens by **descending frequency, ties broken by first
  occurrence** (so the ids of a corpus are reproducible and the most frequent
  words get the smallest ids, as in the notes' ``{'the': 0, 'of': 1, ...}``).
* ``min_freq`` drops rare tokens; ``max_size`` caps ``len(vocab)`` *including* specials.
* Unknown tokens map to ``<unk>``; a vocabulary without ``<unk>`` raises
  :class:`UnknownTokenError` (a KeyError) naming the token.
* JSON save/load round-trips exactly (token order, specials, frequencies).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from seqlab.errors import DataError, SeqlabError

__all__ = ["Vocabulary", "UnknownTokenError"]

_FORMAT = "seqlab.vocabulary"
_VERSION = 1
_SPECIAL_ROLES = ("pad", "unk", "bos", "eos")


class UnknownTokenError(SeqlabError, KeyError):
    """A token is not in a vocabulary that has no ``<unk>`` to fall back to."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class Vocabulary:
    """Token <-> id mapping.

    Args:
        tokens: the non-special tokens in id order (duplicates and specials are skipped).
        pad_token, unk_token, bos_token, eos_token: special tokens placed first, in this
            order; None leaves one out.
        frequencies: optional token counts kept for inspection and saved with the vocabulary.

    Build one from a corpus with :meth:`build`.
    """

    def __init__(
        self,
        tokens: Iterable[str] = (),
        *,
        pad_token: str | None = "<pad>",
        unk_token: str | None = "<unk>",
        bos_token: str | None = None,
        eos_token: str | None = None,
        frequencies: Mapping[str, int] | None = None,
    ) -> None:
        self._special_tokens = {"pad": pad_token, "unk": unk_token, "bos": bos_token, "eos": eos_token}
        self._itos: list[str] = []
        self._stoi: dict[str, int] = {}
        for role in _SPECIAL_ROLES:
            token = self._special_tokens[role]
            if token is None:
                continue
            if not isinstance(token, str) or not token:
                raise DataError(f"special token {role}_token must be a non-empty string or None, got {token!r}")
            if token in self._stoi:
                raise DataError(f"special token {token!r} is used for two roles; give each role its own token")
            self._add(token)
        for token in tokens:
            if not isinstance(token, str):
                raise DataError(f"vocabulary tokens must be strings, got {type(token).__name__} {token!r}")
            if token not in self._stoi:
                self._add(token)
        self.frequencies: dict[str, int] = dict(frequencies) if frequencies else {}

    def _add(self, token: str) -> None:
        self._stoi[token] = len(self._itos)
        self._itos.append(token)

    # ------------------------------------------------------------------ building

    @classmethod
    def build(
        cls,
        sequences: Iterable[Iterable[str]],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        pad_token: str | None = "<pad>",
        unk_token: str | None = "<unk>",
        bos_token: str | None = None,
        eos_token: str | None = None,
    ) -> Vocabulary:
        """Count tokens over ``sequences`` (each an iterable of tokens) and build a vocabulary.

        Ids: specials first, then tokens by descending count, ties by first occurrence;
        tokens seen fewer than ``min_freq`` times are dropped; at most ``max_size``
        entries in total (specials included).
        """
        if min_freq < 1:
            raise DataError(f"min_freq must be >= 1, got {min_freq}")
        if isinstance(sequences, str):
            raise DataError("Vocabulary.build expects an iterable of token sequences, got one string; wrap it: [tokens]")
        counts: Counter[str] = Counter()
        for seq in sequences:
            if isinstance(seq, str):
                raise DataError(
                    f"Vocabulary.build expects token sequences (lists of str), got the string {seq[:40]!r}; "
                    "tokenize it first, e.g. WordTokenizer()(text)"
                )
            counts.update(seq)
        specials = {t for t in (pad_token, unk_token, bos_token, eos_token) if t is not None}
        n_specials = len(specials)
        if max_size is not None and max_size < n_specials:
            raise DataError(f"max_size={max_size} is smaller than the {n_specials} special tokens")
        # Counter keeps insertion (= first occurrence) order and sorted() is stable,
        # so equal counts stay in first-occurrence order.
        ranked = [t for t, c in sorted(counts.items(), key=lambda kv: -kv[1]) if c >= min_freq and t not in specials]
        if max_size is not None:
            ranked = ranked[: max_size - n_specials]
        return cls(
            ranked,
            pad_token=pad_token,
            unk_token=unk_token,
            bos_token=bos_token,
            eos_token=eos_token,
            frequencies={t: counts[t] for t in ranked},
        )

    # ------------------------------------------------------------------ lookups

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __iter__(self) -> Iterator[str]:
        return iter(self._itos)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self._itos == other._itos and self._special_tokens == other._special_tokens

    def __repr__(self) -> str:
        specials = ", ".join(f"{r}={t!r}" for r, t in self._special_tokens.items() if t is not None)
        return f"Vocabulary(size={len(self)}, {specials})"

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a copy)."""
        return list(self._itos)

    @property
    def special_tokens(self) -> dict[str, str | None]:
        """``{"pad": ..., "unk": ..., "bos": ..., "eos": ...}`` (None where absent)."""
        return dict(self._special_tokens)

    def _special_id(self, role: str) -> int | None:
        token = self._special_tokens[role]
        return None if token is None else self._stoi[token]

    @property
    def pad_id(self) -> int | None:
        return self._special_id("pad")

    @property
    def unk_id(self) -> int | None:
        return self._special_id("unk")

    @property
    def bos_id(self) -> int | None:
        return self._special_id("bos")

    @property
    def eos_id(self) -> int | None:
        return self._special_id("eos")

    @property
    def special_ids(self) -> set[int]:
        return {self._stoi[t] for t in self._special_tokens.values() if t is not None}

    def token_to_id(self, token: str) -> int:
        """The id of ``token``; ``<unk>``'s id when unknown, or UnknownTokenError without ``<unk>``."""
        idx = self._stoi.get(token)
        if idx is not None:
            return idx
        unk = self._special_tokens["unk"]
        if unk is None:
            raise UnknownTokenError(
                f"token {token!r} is not in the vocabulary ({len(self)} tokens) and it has no unk_token to "
                "map it to; build it with unk_token='<unk>' or add the token"
            )
        return self._stoi[unk]

    def id_to_token(self, index: int) -> str:
        """The token with id ``index``; IndexError naming the valid range otherwise."""
        if not 0 <= int(index) < len(self._itos):
            raise IndexError(f"token id {index} is out of range for a vocabulary of {len(self)} tokens (0..{len(self) - 1})")
        return self._itos[int(index)]

    # ------------------------------------------------------------------ encode / decode

    def encode(self, tokens: Sequence[str], *, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Ids of one tokenized text; optionally framed by ``<bos>``/``<eos>``."""
        if isinstance(tokens, str):
            raise TypeError(
                "Vocabulary.encode expects a sequence of tokens, got a str; tokenize first, "
                "e.g. vocab.encode(WordTokenizer()(text))"
            )
        ids = [self.token_to_id(t) for t in tokens]
        if add_bos:
            ids.insert(0, self._required_id("bos"))
        if add_eos:
            ids.append(self._required_id("eos"))
        return ids

    def _required_id(self, role: str) -> int:
        idx = self._special_id(role)
        if idx is None:
            raise DataError(f"this vocabulary has no {role}_token; build it with {role}_token='<{role}>'")
        return idx

    def encode_batch(self, batch: Iterable[Sequence[str]], *, add_bos: bool = False, add_eos: bool = False) -> list[list[int]]:
        """:meth:`encode` of each tokenized text."""
        return [self.encode(tokens, add_bos=add_bos, add_eos=add_eos) for tokens in batch]

    def decode(self, ids: Iterable[int], *, skip_specials: bool = True) -> list[str]:
        """Tokens of ``ids`` (a list or a 1-D tensor); ``<pad>``, ``<bos>``, ``<eos>`` dropped
        when ``skip_specials`` (``<unk>`` is always kept: it stands for a word)."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        skip = {self._stoi[t] for r, t in self._special_tokens.items() if t is not None and r != "unk"} if skip_specials else set()
        return [self.id_to_token(i) for i in ids if i not in skip]

    def decode_batch(self, batch: Iterable[Iterable[int]], *, skip_specials: bool = True) -> list[list[str]]:
        """:meth:`decode` of each row (a list of lists or a 2-D tensor ``(B, T)``)."""
        if hasattr(batch, "tolist"):
            batch = batch.tolist()
        return [self.decode(row, skip_specials=skip_specials) for row in batch]

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict:
        """A JSON-ready dict: format tag, specials, tokens in id order, frequencies."""
        n_special = sum(t is not None for t in self._special_tokens.values())
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "special_tokens": dict(self._special_tokens),
            "tokens": self._itos[n_special:],
            "frequencies": self.frequencies,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Vocabulary:
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT:
            raise DataError(f"not a seqlab vocabulary: expected a JSON object with format={_FORMAT!r}")
        if data.get("version") != _VERSION:
            raise DataError(f"unsupported vocabulary version {data.get('version')!r}; this seqlab reads version {_VERSION}")
        specials = data["special_tokens"]
        unknown = set(specials) - set(_SPECIAL_ROLES)
        if unknown:
            raise DataError(f"unknown special roles {sorted(unknown)}; valid: {list(_SPECIAL_ROLES)}")
        vocab = cls(data["tokens"], **{f"{r}_token": specials.get(r) for r in _SPECIAL_ROLES}, frequencies=data.get("frequencies"))
        if len(vocab) != len(data["tokens"]) + sum(t is not None for t in specials.values()):
            raise DataError("vocabulary file lists a token twice (or a special among the tokens); the file is corrupt")
        return vocab

    def save(self, path: str | os.PathLike) -> None:
        """Write JSON atomically (temporary file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, ensure_ascii=False, indent=0)
                f.write("\n")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} is not valid JSON ({exc}); expected a file written by Vocabulary.save") from None
        return cls.from_dict(data)
