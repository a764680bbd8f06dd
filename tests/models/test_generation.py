"""Sampling: seeded determinism, greedy, top-k / top-p, streaming, prompt errors, `seqlab generate`."""


import pytest
import torch
from torch import nn

from seqlab.data.vocab import Vocabulary
from seqlab.errors import ConfigurationError, DataError
from seqlab.models.generation import (
    detect_level,
    encode_prompt,
    filter_logits,
    generate,
    generate_ids,
    sample_next,
)
from seqlab.models.language_model import RNNLanguageModel



@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: one thread is faster than oversubscribing the shared CPU cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

class TableLM(nn.Module):
    """Bigram model with logits we control: next-token logits = table[last token]; state counts calls."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Parameter(table.clone())

    def forward(self, ids, state=None):
        calls = 0 if state is None else state
        return self.table[ids], calls + 1  # (B, T, V)


def _random_table(V=12, seed=0):
    return torch.randn(V, V, generator=torch.Generator().manual_seed(seed)) * 2


def test_same_seed_same_tokens_different_seed_differs():
    model = TableLM(_random_table())
    a = list(generate_ids(model, [0], 60, seed=1))
    b = list(generate_ids(model, [0], 60, seed=1))
    c = list(generate_ids(model, [0], 60, seed=2))
    assert a == b
    assert a != c
    assert len(a) == 60 and all(0 <= t < 12 for t in a)


def test_global_rng_is_untouched():
    model = TableLM(_random_table())
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    list(generate_ids(model, [0], 20, seed=5))
    assert torch.equal(torch.rand(3), expected)


def test_temperature_zero_is_argmax_chain():
    table = _random_table()
    model = TableLM(table)
    out = list(generate_ids(model, [3], 15, temperature=0.0, top_k=1, seed=9))
    expected, tok = [], 3
    for _ in range(15):
        tok = int(table[tok].argmax())
        expected.append(tok)
    assert out == expected


def test_top_k_never_leaves_the_top_k():
    table = _random_table(V=20, seed=3)
    model = TableLM(table)
    prev = 0
    out = list(generate_ids(model, [prev], 400, top_k=3, temperature=1.5, seed=0))
    seen_ranks = set()
    for tok in out:
        order = table[prev].argsort(descending=True).tolist()
        rank = order.index(tok)
        assert rank < 3
        seen_ranks.add(rank)
        prev = tok
    assert seen_ranks == {0, 1, 2}  # and it does sample, not only the argmax


def test_filter_logits_golden_top_k_and_top_p():
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3]])
    logits = probs.log()
    kept = torch.isfinite(filter_logits(logits, top_k=2))
    assert kept.tolist() == [[False, True, False, True]]
    # nucleus 0.7: 0.5 (mass before 0) and 0.3 (before 0.5 < 0.7) stay; 0.15 (before 0.8) goes
    kept = torch.isfinite(filter_logits(logits, top_p=0.7))
    assert kept.tolist() == [[False, True, False, True]]
    kept = torch.isfinite(filter_logits(logits, top_p=0.81))
    assert kept.tolist() == [[False, True, True, True]]
    kept = torch.isfinite(filter_logits(logits, top_p=0.1))  # the most likely token is always kept
    assert kept.tolist() == [[False, True, False, False]]


def test_top_p_sampling_frequencies():
    logits = torch.tensor([[0.05, 0.5, 0.15, 0.3]]).log().repeat(4000, 1)
    g = torch.Generator().manual_seed(0)
    draws = sample_next(logits, top_p=0.7, generator=g)
    counts = torch.bincount(draws, minlength=4).double() / 4000
    assert counts[0] == 0 and counts[2] == 0
    assert counts[1].item() == pytest.approx(0.5 / 0.8, abs=0.03)


def test_option_errors():
    model = TableLM(_random_table())
    for kwargs, match in (({"temperature": -1.0}, "temperature"), ({"top_k": 0}, "top_k"), ({"top_p": 1.5}, "top_p")):
        with pytest.raises(ConfigurationError, match=match):
            list(generate_ids(model, [0], 3, **kwargs))
    with pytest.raises(ConfigurationError, match="empty"):
        list(generate_ids(model, [], 3))


def test_warm_state_on_prompt_and_one_step_per_token():
    """The prompt runs in one call; each generated token is one more (1, 1) step with the state."""
    calls = []

    class Recorder(TableLM):
        def forward(self, ids, state=None):
            calls.append((tuple(ids.shape), state))
            return super().forward(ids, state)

    model = Recorder(_random_table())
    list(generate_ids(model, [1, 2, 3, 4], 3, seed=0))
    assert calls == [((1, 4), None), ((1, 1), 1), ((1, 1), 2)]


def test_rnn_lm_generation_matches_a_manual_greedy_loop_and_restores_mode():
    torch.manual_seed(0)
    model = RNNLanguageModel(9, embedding_dim=6, hidden_size=10, rnn_type="lstm", dropout=0.3)
    model.train()
    out = list(generate_ids(model, [1, 2, 3], 12, temperature=0))
    assert model.training  # restored
    model.eval()
    with torch.no_grad():
        logits, state = model(torch.tensor([[1, 2, 3]]))
        expected = []
        for _ in range(12):
            tok = int(logits[0, -1].argmax())
            expected.append(tok)
            logits, state = model(torch.tensor([[tok]]), state)
    assert out == expected


def _char_vocab(unk=True):
    return Vocabulary(list("abc \n"), unk_token="<unk>" if unk else None)


def test_encode_prompt_errors_name_the_missing_tokens():
    with pytest.raises(DataError, match=r"2 characters .* 'x', 'z'.*--allow-unk"):
        encode_prompt("abxz", _char_vocab())
    with pytest.raises(DataError, match=r"1 character the .*'x'; remove or replace them\.$"):
        encode_prompt("ax", _char_vocab(unk=False), allow_unk=True)  # no <unk> to map to
    vocab = _char_vocab()
    assert encode_prompt("ax", vocab, allow_unk=True) == [vocab.token_to_id("a"), vocab.unk_id]
    assert encode_prompt("ABC", vocab, lowercase=True) == vocab.encode(list("abc"))
    words = Vocabulary(["the", "cat", "<eos>"], unk_token="<unk>")
    assert encode_prompt("the cat", words, level="word") == words.encode(["the", "cat"])
    with pytest.raises(DataError, match="1 word .*'dog'"):
        encode_prompt("the dog", words, level="word")


def test_detect_level():
    assert detect_level(_char_vocab()) == "char"
    assert detect_level(Vocabulary(["the", "a"])) == "word"
    assert detect_level(_char_vocab(), "word") == "word"


def test_generate_streams_text_pieces_and_never_samples_pad():
    vocab = _char_vocab()  # <pad>=0, <unk>=1, then a b c space newline
    table = torch.zeros(len(vocab), len(vocab))
    table[:, vocab.pad_id] = 50.0  # the model "wants" <pad>: it must be suppressed
    model = TableLM(table)
    pieces = []
    text = generate(model, vocab, "ab", 40, seed=0, on_text=pieces.append)
    assert len(pieces) == 40 and "".join(pieces) == text
    assert "<pad>" not in text


# ---------------------------------------------------------------------- seqlab generate


@pytest.fixture(scope="module")
def hello_run(tmp_path_factory):
    from seqlab.experiments.hello import save_hello_run, train_hello

    result = train_hello()
    return save_hello_run(result, tmp_path_factory.mktemp("runs") / "hello")


def test_cli_generate_hello_greedy(hello_run, capsys):
    from seqlab.cli.main import main

    assert main(["generate", str(hello_run), "--prompt", "h", "--length", "4", "--temperature", "0"]) == 0
    assert capsys.readouterr().out == "hello\n"


def test_cli_generate_is_seeded(hello_run, capsys):
    from seqlab.cli.main import main

    args = ["generate", str(hello_run), "--prompt", "he", "--length", "30", "--temperature", "2.0", "--seed", "7"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first
    assert main(args[:-1] + ["8"]) == 0
    assert capsys.readouterr().out != first
    assert len(first) == 2 + 30 + 1 and set(first[:-1]) <= set("helo")


def test_cli_generate_errors(hello_run, tmp_path, capsys):
    from seqlab.cli.main import main

    assert main(["generate", str(hello_run), "--prompt", "hx", "--length", "4"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing printed before the error
    assert "'x'" in captured.err and "vocabulary" in captured.err
    assert main(["generate", str(tmp_path), "--prompt", "h"]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_cli_generate_refuses_a_classifier_run(hello_run, tmp_path, capsys):
    import json
    import shutil

    from seqlab.cli.main import main

    clf = tmp_path / "clf"
    shutil.copytree(hello_run, clf)
    config = json.loads((clf / "config.json").read_text())
    config["model"]["kind"] = "classifier"
    (clf / "config.json").write_text(json.dumps(config))
    info = json.loads((clf / "run.json").read_text())
    info.update(num_classes=2, class_names=["neg", "pos"])
    (clf / "run.json").write_text(json.dumps(info))
    assert main(["generate", str(clf), "--prompt", "h"]) == 2
    err = capsys.readouterr().err
    assert "classifier" in err or "does not fit" in err


def test_word_level_pieces_and_eos_newline():
    vocab = Vocabulary(["the", "cat", "<eos>"], unk_token="<unk>")  # <pad> 0, <unk> 1, the 2, cat 3, <eos> 4
    table = torch.full((5, 5), -50.0)
    table[2, 3] = table[3, 4] = table[4, 2] = 50.0  # the -> cat -> <eos> -> the
    text = generate(TableLM(table), vocab, "the", 4, level="word", temperature=0)
    assert text == " cat\n the cat"
