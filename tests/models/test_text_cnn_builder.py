"""TextCNN built from a ``[model]`` section, and its ``forward(ids, lengths)`` calling convention."""

from __future__ import annotations

import pytest
import torch

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.tasks import build_model, model_config
from seqlab.models.text_cnn import TextCNN


def _cnn(**kwargs) -> TextCNN:
    config = model_config(kind="text_cnn", embedding_dim=6, filter_widths=[2, 3], num_filters=4, **kwargs)
    return build_model(config, vocab_size=20, num_classes=3).eval()


def test_builder_maps_every_key():
    m = build_model(model_config(kind="text_cnn", embedding_dim=7, filter_widths=[1, 4], num_filters=5, dropout=0.3,
                                max_norm=2.0), vocab_size=11, num_classes=4, padding_idx=0)
    assert isinstance(m, TextCNN)
    assert m.filter_widths == (1, 4) and [c.kernel_size[0] for c in m.convs] == [1, 4]
    assert [c.out_channels for c in m.convs] == [5, 5] and m.output.weight.shape == (4, 10)
    assert m.embedding.weight.shape == (11, 7) and m.dropout.p == 0.3 and m.max_norm == 2.0 and m.mode == "rand"
    # Kim's random vectors: U[-0.25, 0.25], padding row zero
    assert m.embedding.weight.abs().max() <= 0.25 and m.embedding.weight[0].abs().sum() == 0


def test_lengths_mask_the_tail_like_a_shorter_sentence():
    m = _cnn()
    ids = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 0, 0, 0]])
    full = m(ids)
    # lengths (B,) = the padded batch's lengths: same as the mask inferred from padding id 0
    torch.testing.assert_close(m(ids, torch.tensor([5, 2])), full)
    torch.testing.assert_close(m(ids, mask=ids != 0), full)
    # lengths cut real tokens: equal to the sentence without them
    torch.testing.assert_close(m(ids, torch.tensor([2, 2]))[0], m(torch.tensor([[3, 4]]))[0])
    with pytest.raises(ShapeError, match=r"lengths must have shape \(2,\)"):
        m(ids, torch.tensor([5, 2, 1]))


def test_pretrained_modes():
    vectors = torch.randn(20, 6)
    static = build_model(model_config(kind="text_cnn", embedding_dim=6, embedding_mode="static", vectors="v.txt"),
                         20, 2, pretrained=vectors)
    assert torch.equal(static.embedding.weight[1:], vectors[1:]) and not static.embedding.weight.requires_grad
    multi = build_model(model_config(kind="text_cnn", embedding_dim=6, embedding_mode="multichannel", vectors="v.txt"),
                        20, 2, pretrained=vectors)
    assert multi.convs[0].in_channels == 12 and multi.embedding.weight.requires_grad
    # without vectors (load_run rebuilding a run): zeros, to be overwritten by the checkpoint
    placeholder = build_model(model_config(kind="text_cnn", embedding_dim=6, embedding_mode="non-static",
                                          vectors="v.txt"), 20, 2)
    assert placeholder.embedding.weight.abs().sum() == 0
    with pytest.raises(ShapeError, match=r"expected \(vocab_size, embedding_dim\) = \(20, 6\)"):
        build_model(model_config(kind="text_cnn", embedding_dim=6, embedding_mode="static", vectors="v.txt"),
                    20, 2, pretrained=torch.randn(20, 5))


@pytest.mark.parametrize("kind, key, words", [
    ("text_cnn", "tie_weights", ["unknown key 'tie_weights' in [model] of model.kind='text_cnn'", "num_filters"]),
    ("window_lm", "bidirectional", ["unknown key 'bidirectional' in [model] of model.kind='window_lm'", "window_size"]),
    ("language_model", "unk_init", ["unknown key 'unk_init'", "tie_weights"]),
])
def test_a_key_of_another_kind_is_refused_by_the_config_reader(kind, key, words):
    with pytest.raises(ConfigurationError) as err:
        model_config(kind=kind, **{key: True})
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize("config, words", [
    (model_config(kind="text_cnn"), ["needs num_classes"]),
    (model_config(kind="keras_lstm"), ["seqlab.keras model", "build_keras_model", "model.keras"]),
    (model_config(kind="text_cnn", num_filters=0), ["num_filters must be >= 1"]),
    (model_config(kind="text_cnn", max_norm=0.0), ["max_norm must be > 0 or none"]),
    (model_config(kind="text_cnn", dropout=1.0), ["dropout must be in [0, 1)"]),
])
def test_builder_errors(config, words):
    with pytest.raises(ConfigurationError) as err:
        build_model(config, vocab_size=10, num_classes=None if "num_classes" in words[0] else 2)
    for word in words:
        assert word in str(err.value)


def test_unk_init_zero_makes_unknown_words_contribute_nothing():
    import torch

    from seqlab.errors import ConfigurationError

    torch.manual_seed(0)
    for kind in ("text_cnn", "classifier"):
        size = {"num_filters": 4} if kind == "text_cnn" else {"hidden_size": 5}
        cfg = model_config(kind=kind, unk_init="zero", embedding_dim=8, dropout=0.0, **size)
        model = build_model(cfg, 30, 2, padding_idx=0, unk_idx=1).eval()
        assert model.embedding.weight[1].abs().sum() == 0 and model.embedding.weight[2].abs().sum() > 0
        if kind == "text_cnn":
            # a phrase of unknown words: every window sees zero vectors, so each map pools to
            # ReLU(its bias) and the logits are the output layer on those (computed by hand)
            pooled = torch.cat([torch.relu(conv.bias) for conv in model.convs])
            expected = model.output(pooled)[None]
            torch.testing.assert_close(model(torch.tensor([[1, 1, 1]]), torch.tensor([3])), expected)
    cnn = build_model(model_config(kind="text_cnn", unk_init="zero", embedding_mode="multichannel", embedding_dim=4,
                                  num_filters=2), 10, 2, padding_idx=0, pretrained=torch.randn(10, 4), unk_idx=1)
    assert cnn.static_embedding.weight[1].abs().sum() == 0  # both channels
    # the same RNG stream as unk_init="random": only the <unk> row differs
    torch.manual_seed(3)
    zero = build_model(model_config(kind="text_cnn", unk_init="zero", embedding_dim=8, num_filters=4), 30, 2, unk_idx=1)
    torch.manual_seed(3)
    rand = build_model(model_config(kind="text_cnn", embedding_dim=8, num_filters=4), 30, 2, unk_idx=1)
    assert torch.equal(zero.embedding.weight[2:], rand.embedding.weight[2:])
    assert rand.embedding.weight[1].abs().sum() > 0
    with pytest.raises(ConfigurationError, match="<unk> id"):
        build_model(model_config(kind="text_cnn", unk_init="zero"), 30, 2)
    with pytest.raises(ConfigurationError, match="unknown key 'unk_init' in \\[model\\] of model.kind='language_model'"):
        model_config(kind="language_model", unk_init="zero")
