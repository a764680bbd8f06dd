"""Sampling text from any language model that speaks the truncated-BPTT protocol.

The model only needs ``forward(ids (B, T), state=None) -> (logits (B, T, V), state)``
(``RNNLanguageModel``, ``FixedWindowLM``, ``BagOfWordsLM``):

1. **Warm-up.** The whole prompt runs through the model in one call; the state after
   its last token and the logits there start the generation (Karpathy's char-rnn
   "priming"; Graves 2013, "Generating Sequences With Recurrent Neural Networks", §2).
2. **Sampling**, one token at a time: the logits are divided by the temperature,
   optionally cut to the ``top_k`` most likely tokens (Fan et al. 2018) and/or to the
   smallest set whose probability reaches ``top_p`` (nucleus sampling, Holtzman et al.
   2020), then one token is drawn with a seeded ``torch.Generator``: same seed, same
   text. ``temperature=0`` is greedy decoding (argmax).
3. The sampled token is fed back with the state (one (1, 1) step per token), and is
   yielded at once, so a caller can print text as it is produced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Optional

import torch
from torch import Tensor, nn

from seqlab.errors import ConfigurationError, DataError, ShapeError

__all__ = ["filter_logits", "sample_next", "generate_ids", "generate", "encode_prompt", "detect_level"]


def _check_options(temperature: float, top_k: Optional[int], top_p: Optional[float]) -> None:
    if not temperature >= 0:
        raise ConfigurationError(f"temperature must be >= 0 (0 = greedy), got {temperature!r}.")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ConfigurationError(f"top_k must be a positive int or None, got {top_k!r}.")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ConfigurationError(f"top_p must be in (0, 1] or None, got {top_p!r}.")


def filter_logits(logits: Tensor, *, top_k: Optional[int] = None, top_p: Optional[float] = None) -> Tensor:
    """Set the logits outside the top-k / the top-p nucleus to −inf.

    Args:
        logits: (B, V), already divided by the temperature.
        top_k: keep the k largest logits of each row (ties at the k-th value are kept).
        top_p: keep the smallest set of most likely tokens whose total probability is
            >= top_p (the most likely token is always kept).

    Returns:
        (B, V) logits with the removed entries at −inf.
    """
    if logits.dim() != 2:
        raise ShapeError(f"logits must be (B, V), got shape {tuple(logits.shape)}.")
    out = logits
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(out, top_k, dim=-1).values[:, -1:]  # (B, 1)
        out = out.masked_fill(out < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(out, dim=-1, descending=True)  # (B, V)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # probability mass strictly before each token
        remove_sorted = before >= top_p  # the first token has before = 0 and is always kept
        remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
        out = out.masked_fill(remove, float("-inf"))
    return out


def sample_next(
    logits: Tensor,
    *,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    """One token per row from next-token logits (B, V) -> ids (B,).

    ``temperature == 0`` returns the argmax (``top_k``/``top_p`` then change nothing).
    """
    _check_options(temperature, top_k, top_p)
    if temperature == 0:
        return logits.argmax(-1)
    scaled = filter_logits(logits.float() / temperature, top_k=top_k, top_p=top_p)  # (B, V)
    probs = torch.softmax(scaled, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)


def generate_ids(
    model: nn.Module,
    prompt_ids: Sequence[int] | Tensor,
    length: int,
    *,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    seed: Optional[int] = None,
    generator: Optional[torch.Generator] = None,
    suppress_ids: Sequence[int] = (),
    state: Any = None,
) -> Iterator[int]:
    """Yield ``length`` sampled token ids, one at a time, after warming up on the prompt.

    Args:
        model: ``forward(ids (1, T), state) -> (logits (1, T, V), state)``; run in
            ``eval()`` mode and without gradients (its mode is restored afterwards).
        prompt_ids: the prompt's token ids (at least one).
        length: number of tokens to generate.
        temperature, top_k, top_p: see :func:`sample_next`.
        seed: seeds a private ``torch.Generator`` (the global RNG is untouched);
            ignored when ``generator`` is given. None draws from a fresh random seed.
        generator: a generator of your own (on the model's device).
        suppress_ids: ids never sampled (e.g. ``<pad>``).
        state: initial recurrent state (None = start of a stream).
    """
    _check_options(temperature, top_k, top_p)
    if length < 0:
        raise ConfigurationError(f"length must be >= 0, got {length}.")
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    prompt = torch.as_tensor(prompt_ids, dtype=torch.long, device=device).reshape(1, -1)  # (1, P)
    if prompt.shape[1] == 0:
        raise ConfigurationError("the prompt is empty; give at least one token to start from.")
    if generator is None:
        generator = torch.Generator(device=device)
        if seed is not None:
            generator.manual_seed(int(seed))
        else:
            generator.seed()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits, state = model(prompt, state)  # (1, P, V): warm the state on the whole prompt
            last = logits[:, -1]  # (1, V)
            suppress = list(suppress_ids)
            for step in range(length):
                if suppress:
                    last = last.clone()
                    last[:, suppress] = float("-inf")
                token = sample_next(last, temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
                yield int(token)
                if step + 1 < length:  # no wasted step after the last token
                    logits, state = model(token.view(1, 1), state)  # (1, 1, V)
                    last = logits[:, -1]
    finally:
        model.train(was_training)


def detect_level(vocab: Any, declared: Optional[str] = None) -> str:
    """``"char"`` or ``"word"``: the declared level, else char when every non-special token is one character."""
    if declared in ("char", "word"):
        return declared
    specials = set(t for t in vocab.special_tokens.values() if t is not None)
    tokens = [t for t in vocab.tokens if t not in specials]
    return "char" if tokens and all(len(t) == 1 for t in tokens) else "word"


def encode_prompt(prompt: str, vocab: Any, *, level: str = "char", lowercase: bool = False, allow_unk: bool = False) -> list[int]:
    """Token ids of a prompt; a clear error naming the tokens the vocabulary lacks.

    Args:
        prompt: the text.
        vocab: a :class:`~seqlab.data.vocab.Vocabulary`.
        level: ``"char"`` (every character a token) or ``"word"`` (whitespace-split).
        lowercase: lower-case first (as the training data was).
        allow_unk: map unknown tokens to ``<unk>`` instead of raising.

    Raises:
        DataError: a token is not in the vocabulary (and ``allow_unk`` is false or the
            vocabulary has no ``<unk>``).
    """
    if level not in ("char", "word"):
        raise ConfigurationError(f"level must be 'char' or 'word', got {level!r}.")
    text = prompt.lower() if lowercase else prompt
    tokens = list(text) if level == "char" else text.split()
    if not tokens:
        raise ConfigurationError("the prompt is empty; give at least one token to start from, e.g. --prompt 'ROMEO:'.")
    missing = sorted({t for t in tokens if t not in vocab})
    if missing and not (allow_unk and vocab.unk_id is not None):
        shown = ", ".join(repr(t) for t in missing[:20]) + (" …" if len(missing) > 20 else "")
        what = ("character" if level == "char" else "word") + ("s" if len(missing) > 1 else "")
        fix = "remove or replace them"
        if vocab.unk_id is not None:
            fix += ", or pass --allow-unk to map them to <unk>"
        raise DataError(
            f"the prompt has {len(missing)} {what} the model's vocabulary ({len(vocab)} tokens) does not contain: "
            f"{shown}; {fix}."
        )
    return [vocab.token_to_id(t) for t in tokens]


def generate(
    model: nn.Module,
    vocab: Any,
    prompt: str,
    length: int,
    *,
    level: str = "char",
    lowercase: bool = False,
    allow_unk: bool = False,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    seed: Optional[int] = None,
    on_text: Optional[Callable[[str], None]] = None,
) -> str:
    """Generate text after ``prompt``; ``on_text`` receives each piece as it is produced.

    Returns the generated continuation (without the prompt). Word-level pieces are
    preceded by a space and ``<eos>`` becomes a newline; ``<pad>`` is never sampled.
    """
    ids = encode_prompt(prompt, vocab, level=level, lowercase=lowercase, allow_unk=allow_unk)
    suppress = [i for i in (vocab.pad_id,) if i is not None]
    pieces = []
    for token_id in generate_ids(model, ids, length, temperature=temperature, top_k=top_k, top_p=top_p,
                                 seed=seed, suppress_ids=suppress):
        token = vocab.id_to_token(token_id)
        if level == "char":
            piece = token
        else:  # PTB / WikiText mark line ends with <eos>: print a newline there
            piece = "\n" if token == "<eos>" else " " + token
        pieces.append(piece)
        if on_text is not None:
            on_text(piece)
    return "".join(pieces)
