"""Language modelling on a token stream, trained with truncated BPTT (the notes' Part II).

Model kinds (``model.kind``), each with its own ``[model]`` keys:

* ``language_model`` — :class:`~seqlab.models.language_model.RNNLanguageModel`: embedding →
  RNN / LSTM (any cell) / GRU → linear, optionally with tied input and output matrices;
* ``window_lm`` — :class:`~seqlab.models.window_lm.FixedWindowLM`, Bengio et al. (2003)'s
  fixed window of the last ``window_size`` tokens;
* ``bow_lm`` — :class:`~seqlab.models.window_lm.BagOfWordsLM`, the mean embedding of the last
  ``window_size`` tokens.

Data: Tiny Shakespeare (characters), PTB and WikiText-2 (words) from ``seqlab.data``, cut
into ``data.batch_size`` parallel streams and windows of ``data.bptt`` steps; the state is
carried from one window to the next and detached between them. A run saves its vocabulary
and the corpus' level (``"char"`` / ``"word"``, which ``seqlab generate`` uses), and writes the
gradient-flow plot of the trained recurrent model on its first validation window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import torch

from seqlab.config import Config, TaskSchema, register_task_schema
from seqlab.errors import ConfigurationError, DataError
from seqlab.models._recurrent import RNN_TYPES
from seqlab.models.language_model import RNNLanguageModel
from seqlab.models.window_lm import BagOfWordsLM, FixedWindowLM
from seqlab.nn.recurrent import IMPLS, LSTM_CELLS
from seqlab.tasks.base import VocabularyTask, LoadedRun, Task, with_data
from seqlab.train.distributed import DistributedContext

__all__ = [
    "check_model",
    "build_language_model",
    "LanguageModelData",
    "RNNLanguageModelConfig",
    "WindowLMConfig",
    "BagOfWordsLMConfig",
    "LanguageModelTask",
    "LANGUAGE_MODELING",
    "GRADIENT_FLOW_NAME",
    "stream_loss",
]

#: ``plots/<name>.png`` / ``.json`` of a language model run.
GRADIENT_FLOW_NAME = "gradient_flow"


@dataclass
class LanguageModelData:
    """``[data]`` of a language-model recipe: which corpus, its vocabulary and its streams.

    Attributes:
        dataset: a token-stream dataset of the ``seqlab.data`` registry (``"tinyshakespeare"``,
            ``"ptb"``, ``"wikitext2"``).
        train_split / eval_split / test_split: split names used for training, model selection
            and the final test number (``test_split = ""`` skips the test evaluation).
        lowercase: lower-case the tokens before building the vocabulary.
        min_freq: tokens seen fewer times in the training split map to ``<unk>``.
        max_vocab_size: keep at most this many tokens (most frequent first); None keeps all.
        batch_size: parallel streams of the training corpus.
        eval_batch_size: parallel streams for evaluation.
        bptt: window length of truncated back-propagation through time.
        limit: use only the first ``limit`` tokens (characters) of the training split; None
            uses everything.
        eval_limit: the same for the evaluation and test splits.
    """

    dataset: str = "tinyshakespeare"
    train_split: str = "train"
    eval_split: str = "valid"
    test_split: str = "test"
    lowercase: bool = True
    min_freq: int = 1
    max_vocab_size: Optional[int] = None
    batch_size: int = 32
    eval_batch_size: int = 256
    bptt: int = 128
    limit: Optional[int] = None
    eval_limit: Optional[int] = None


@dataclass
class RNNLanguageModelConfig:
    """``[model]`` of ``kind = "language_model"``: a recurrent language model.

    Attributes:
        rnn_type: ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``.
        cell: LSTM cell variant (``seqlab.nn``): standard, peephole, coupled, layernorm.
        embedding_dim: E, size of the token embeddings.
        hidden_size: H, size of the recurrent state.
        num_layers: stacked recurrent layers.
        dropout: dropout on non-recurrent connections (Zaremba et al. 2014): after the
            embedding, between layers and before the output layer.
        embedding_dropout: dropout on the embeddings only; None uses ``dropout``.
        tie_weights: share the embedding and output matrices (Press & Wolf 2017); needs
            ``embedding_dim == hidden_size``.
        impl: recurrent implementation passed to ``seqlab.nn`` (``"auto"`` picks the fastest).
    """

    kind: Literal["language_model"] = "language_model"
    rnn_type: Literal[RNN_TYPES] = "lstm"
    cell: Literal[tuple(LSTM_CELLS)] = "standard"
    embedding_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.5
    embedding_dropout: Optional[float] = None
    tie_weights: bool = False
    impl: Literal[IMPLS] = "auto"


@dataclass
class WindowLMConfig:
    """``[model]`` of ``kind = "window_lm"``: Bengio et al. (2003)'s fixed-window model.

    Attributes:
        window_size: context tokens n−1.
        embedding_dim: E, size of the token embeddings.
        hidden_size: size of the tanh layer.
        dropout: dropout before the output layer.
    """

    kind: Literal["window_lm"] = "window_lm"
    window_size: int = 2
    embedding_dim: int = 128
    hidden_size: int = 128
    dropout: float = 0.5


@dataclass
class BagOfWordsLMConfig:
    """``[model]`` of ``kind = "bow_lm"``: the mean embedding of the last ``window_size`` tokens.

    Attributes:
        window_size: context tokens k.
        embedding_dim: E, size of the token embeddings.
    """

    kind: Literal["bow_lm"] = "bow_lm"
    window_size: int = 2
    embedding_dim: int = 128


_LEGACY_DATA_KEYS = frozenset({"tokenizer", "max_length", "bucket", "cv_folds", "cv_fold", "dev_fraction", "split_seed"})
_LEGACY_MODEL_KEYS = frozenset({
    "rnn_type", "cell", "embedding_dim", "hidden_size", "num_layers", "bidirectional", "pooling", "dropout",
    "embedding_dropout", "tie_weights", "impl", "embedding_mode", "filter_widths", "num_filters", "max_norm",
    "vectors", "window_size", "init", "unk_init",
})


def stream_inputs(batch) -> tuple[tuple, dict, torch.Tensor]:
    """Engine ``input_adapter``: a TBPTT ``StreamWindow`` -> ``((inputs (B, T),), {}, targets (B, T))``."""
    inputs, targets = batch
    return (inputs,), {}, targets


def check_model(model: Any) -> None:
    """Range checks of a language-model ``[model]`` section."""
    if hasattr(model, "dropout") and not 0.0 <= model.dropout < 1.0:
        raise ConfigurationError(f"model.dropout must be in [0, 1), got {model.dropout}.")
    if isinstance(model, (WindowLMConfig, BagOfWordsLMConfig)) and model.window_size < 1:
        raise ConfigurationError(f"model.window_size must be >= 1 for {model.kind}, got {model.window_size}.")


def build_language_model(model: Any, vocab_size: int) -> torch.nn.Module:
    """The module of a ``language_model`` / ``window_lm`` / ``bow_lm`` section, freshly initialized."""
    if isinstance(model, WindowLMConfig):
        return FixedWindowLM(vocab_size, context_size=model.window_size, embedding_dim=model.embedding_dim,
                             hidden_size=model.hidden_size, dropout=model.dropout)
    if isinstance(model, BagOfWordsLMConfig):
        return BagOfWordsLM(vocab_size, context_size=model.window_size, embedding_dim=model.embedding_dim)
    return RNNLanguageModel(
        vocab_size, embedding_dim=model.embedding_dim, hidden_size=model.hidden_size, num_layers=model.num_layers,
        rnn_type=model.rnn_type, cell=model.cell, dropout=model.dropout, embedding_dropout=model.embedding_dropout,
        tie_weights=model.tie_weights, impl=model.impl,
    )


@torch.no_grad()
def stream_loss(model, loader, device) -> dict[str, float]:
    """Per-token cross-entropy over a whole stream with the state carried (nats, bits, perplexity)."""
    from seqlab.train.engine import detach_state

    model.eval()
    total, count, state = 0.0, 0, None
    for inputs, targets in loader:
        logits, state = model(inputs.to(device), state)  # (B, T, V)
        state = detach_state(state)
        total += float(torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.to(device).reshape(-1), reduction="sum"))
        count += targets.numel()
    loss = total / count
    return {"loss": loss, "bits_per_token": loss / math.log(2), "perplexity": math.exp(loss), "num_tokens": count}


class LanguageModelTask(VocabularyTask):
    """Language modelling with truncated BPTT (see the module docstring)."""

    tbptt = True

    def __init__(self) -> None:
        self.schema = register_task_schema(TaskSchema(
            name="language_modeling",
            data=LanguageModelData,
            models={"language_model": RNNLanguageModelConfig, "window_lm": WindowLMConfig,
                    "bow_lm": BagOfWordsLMConfig},
            default_kind="language_model",
            legacy_data_keys=_LEGACY_DATA_KEYS,
            legacy_model_keys=_LEGACY_MODEL_KEYS,
        ))

    # ------------------------------------------------------------------ config

    def check_data_and_model(self, config: Config) -> None:
        from seqlab.data.datasets.kim2014 import KIM_TASKS
        from seqlab.data.registry import get_spec

        data, model = config.data, config.model
        get_spec(data.dataset)
        if data.dataset in KIM_TASKS:
            raise ConfigurationError(
                f"model.kind={model.kind!r} is a language model, but data.dataset={data.dataset!r} is a "
                "classification dataset; use tinyshakespeare, ptb or wikitext2, or a classifier recipe."
            )
        if data.bptt < 1:
            raise ConfigurationError(f"data.bptt must be >= 1, got {data.bptt}.")
        check_model(model)

    def metric_names(self, config: Config) -> list[str]:
        return ["perplexity", "bits_per_char"]

    def curve_metric(self, config: Config) -> str:
        return "perplexity"

    # ------------------------------------------------------------------ data

    def load_split(self, config: Config, split: str, *, training: bool = False):
        """``split`` of the corpus (a ``TokenCorpus``), its token list cut to the limit and lowercased."""
        from seqlab import data as sdata

        data = config.data
        limit = data.limit if training else data.eval_limit
        dataset = sdata.load(data.dataset, split)
        if not hasattr(dataset, "tokens"):
            raise ConfigurationError(
                f"model.kind={config.model.kind!r} needs a token-stream dataset (tinyshakespeare, ptb, wikitext2), "
                f"but data.dataset={data.dataset!r} is {type(dataset).__name__}."
            )
        if limit is not None:
            dataset.tokens = dataset.tokens[:limit]
        if data.lowercase:
            dataset.tokens = [t.lower() for t in dataset.tokens]
        return dataset

    def build_artifacts(self, config: Config, train_split):
        # <unk> is kept for characters too: a validation character never seen in train
        # then maps to <unk> instead of failing.
        return train_split.build_vocabulary(min_freq=config.data.min_freq, max_size=config.data.max_vocab_size,
                                            unk_token="<unk>")

    def run_info(self, config: Config, train_split, artifacts) -> dict[str, Any]:
        # "char" or "word" (seqlab generate reads it)
        return {"vocab_size": len(artifacts), "level": getattr(train_split, "level", None)}

    def loader(self, config: Config, split_data, artifacts, *, training: bool,
               distributed: Optional[DistributedContext] = None):
        """``(inputs (B, T), targets (B, T))`` TBPTT windows in order.

        Under torchrun the training stream keeps the rows ``rank::world_size`` of the
        ``data.batch_size`` streams (``data.batch_size`` is global and must be divisible by the
        number of processes); evaluation streams are not sharded (every rank reads all of them;
        the engine's reduced sums give the same mean).
        """
        from seqlab.data import stream_loader

        data = config.data
        batch_size = data.batch_size if training else data.eval_batch_size
        ids = split_data.encode(artifacts)  # (N,)
        if ids.numel() < 2 * batch_size + 1:
            raise DataError(
                f"{data.dataset}/{split_data.split} has {ids.numel()} tokens, too few for {batch_size} streams; "
                "lower data.batch_size / data.eval_batch_size or raise data.limit / data.eval_limit."
            )
        sharded = distributed is not None and distributed.enabled
        shard = (distributed.rank, distributed.world_size) if sharded and training else None
        return stream_loader(ids, batch_size, data.bptt, shard=shard)

    def input_adapter(self, config: Config):
        return stream_inputs

    # ------------------------------------------------------------------ model

    def build_model(self, config: Config, artifacts, info: dict[str, Any], prepared=None):
        return build_language_model(config.model, len(artifacts))

    def extra_plots(self, model, val_loader, run_dir: Path) -> list[Path]:
        """‖∂L/∂h_t‖ of the trained model on the first validation window → ``plots/gradient_flow.png``.

        Skipped for a model without recurrent layers (``window_lm``, ``bow_lm``).
        """
        from seqlab.diagnostics.gradient_flow import recurrent_modules, save_gradient_flow
        from seqlab.train.runs import PLOTS_DIR

        if val_loader is None or not recurrent_modules(model):
            return []
        inputs, targets = next(iter(val_loader))
        device = next(model.parameters()).device
        save_gradient_flow(model, (inputs.to(device), targets.to(device)), run_dir, name=GRADIENT_FLOW_NAME)
        return [run_dir / PLOTS_DIR / f"{GRADIENT_FLOW_NAME}.png"]

    # ------------------------------------------------------------------ using a run

    def load_run(self, run_dir: Path, config: Config, info: dict[str, Any], *, checkpoint: str,
                 device: str | torch.device) -> LoadedRun:
        from seqlab.train.checkpoint import load_model_weights
        from seqlab.train.runs import find_checkpoint

        vocab = self.load_artifacts(run_dir, config, info)
        model = build_language_model(config.model, len(vocab))
        weights = find_checkpoint(run_dir, checkpoint)
        meta = load_model_weights(model, weights)
        model.to(device).eval()
        return LoadedRun(run_dir, config, model, vocab, info, weights, meta)

    def evaluate_run(self, loaded: LoadedRun, split: str, *, limit: Optional[int], device: str) -> dict[str, Any]:
        """Cross-entropy per token in nats, bits per token and perplexity over the whole split,
        with the recurrent state carried through the stream."""
        config = with_data(loaded.config, eval_limit=limit)
        loader = self.loader(config, self.load_split(config, split), loaded.vocab, training=False)
        return stream_loss(loaded.model, loader, device)

    def print_evaluation(self, loaded: LoadedRun, result: dict[str, Any], *, show_errors: int) -> None:
        print(f"{loaded.config.recipe.name} on {result['split']} ({result['num_tokens']:,} tokens, "
              f"{loaded.checkpoint.name}): loss {result['loss']:.4f} nats | {result['bits_per_token']:.4f} bits/token | "
              f"perplexity {result['perplexity']:.2f}")

    def check_predict(self, run_dir: Path, config: Config) -> None:
        raise ConfigurationError(
            f"{run_dir} is a language-model run (recipe {config.recipe.name!r}, model.kind={config.model.kind!r}); "
            f"it has no classes to predict. Sample text from it with `seqlab generate {run_dir} --prompt \"...\"`."
        )

    def check_generate(self, run_dir: Path, config: Config) -> None:
        """A language model generates (``seqlab generate``)."""


LANGUAGE_MODELING = LanguageModelTask()
