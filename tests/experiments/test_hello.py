"""The notes' h-e-l-o example: given "h", the trained char RNN writes "hello"."""

import pytest
import torch

from seqlab.experiments.hello import main, train_hello


@pytest.fixture(scope="module")
def hello():
    return train_hello()


def test_hello_model_generates_hello(hello):
    result = hello
    assert result.vocab.tokens == ["h", "e", "l", "o"]
    assert result.text == "hello"
    assert result.losses[-1] < 0.05 < result.losses[0]


def test_the_second_l_needs_the_state(hello):
    """The same input "l" is followed by "l" and then by "o": only the recurrent state can tell them apart."""
    result = hello
    model, vocab = result.model, result.vocab
    l_id = vocab.token_to_id("l")
    with torch.no_grad():
        logits, _ = model(torch.tensor([vocab.encode(list("hell"))]))
        after_first_l, after_second_l = logits[0, 2].argmax().item(), logits[0, 3].argmax().item()
        alone, _ = model(torch.tensor([[l_id]]))  # "l" with a zero state
    assert vocab.id_to_token(after_first_l) == "l"
    assert vocab.id_to_token(after_second_l) == "o"
    assert not torch.allclose(logits[0, 2], logits[0, 3])
    assert alone.shape == (1, 1, 4)


def test_main_returns_zero_and_saves_a_run(tmp_path, capsys):
    assert main(["--save-run", str(tmp_path / "hello")]) == 0
    assert "'hello'" in capsys.readouterr().out
    assert (tmp_path / "hello" / "checkpoints" / "best.safetensors").is_file()
