"""The CUDA path: every test here runs only where ``torch.cuda.is_available()``.

CI has no GPU, so this module is skipped there; it is run by hand on a GPU machine
(``python -m pytest -q tests/cuda``; results in ``benchmarks/results/cuda_check.md``).
The oracle is always the CPU: the same module, same weights, same input, in float64
where cuDNN allows it, so a difference is a CUDA-path defect, not rounding.

What runs where on CUDA: ``impl="auto"`` takes cuDNN (``last_impl == "fused"``) for the
standard LSTM/GRU/RNN; the variants (peephole, coupled, layernorm) and ``impl="generic"``
take the ATen generic path (``"generic:aten"``); the C kernels are CPU-only.
"""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from torch import nn

import seqlab.nn as snn

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

T, B, I, H = 7, 4, 5, 6


@pytest.fixture(autouse=True)
def _no_tf32():
    """float32 comparisons need true float32 matmuls (TF32 keeps 10 mantissa bits)."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
CUDA = torch.device("cuda")
F64 = torch.float64
FAMILIES = {"lstm": snn.LSTM, "gru": snn.GRU, "rnn": snn.RNN}


def _grads(module: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().cpu() for n, p in module.named_parameters()}


def _run(module: nn.Module, x: torch.Tensor, **kwargs) -> tuple[torch.Tensor, list[torch.Tensor], dict]:
    """Forward, a loss touching the output and every final state, backward."""
    module.zero_grad(set_to_none=True)
    x = x.detach().requires_grad_(True)
    out, state = module(x, **kwargs)
    states = list(state) if isinstance(state, tuple) else [state]
    loss = (out ** 2).sum() + sum((s * s).sum() for s in states)
    loss.backward()
    return out.detach().cpu(), [s.detach().cpu() for s in states] + [x.grad.cpu()], _grads(module)


def _assert_same(a, b, atol):
    out_a, states_a, grads_a = a
    out_b, states_b, grads_b = b
    torch.testing.assert_close(out_a, out_b, atol=atol, rtol=atol)
    for s, t in zip(states_a, states_b):
        torch.testing.assert_close(s, t, atol=atol, rtol=atol)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], atol=atol, rtol=atol, msg=name)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("impl", ["fused", "generic"])
@pytest.mark.parametrize("bidirectional,num_layers", [(False, 1), (True, 2)])
def test_cuda_matches_cpu_in_float64(family, impl, bidirectional, num_layers):
    torch.manual_seed(0)
    cpu = FAMILIES[family](I, H, num_layers=num_layers, bidirectional=bidirectional, impl=impl, dtype=F64)
    gpu = FAMILIES[family](I, H, num_layers=num_layers, bidirectional=bidirectional, impl=impl, dtype=F64,
                           device=CUDA)
    gpu.load_state_dict(cpu.state_dict())
    x = torch.randn(T, B, I, dtype=F64)
    _assert_same(_run(gpu, x.to(CUDA)), _run(cpu, x), atol=1e-9)
    assert gpu.last_impl == ("fused" if impl == "fused" else "generic:aten")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_cuda_generic_matches_cudnn_in_float32(family):
    torch.manual_seed(0)
    fused = FAMILIES[family](I, H, num_layers=2, bidirectional=True, impl="fused", device=CUDA)
    generic = FAMILIES[family](I, H, num_layers=2, bidirectional=True, impl="generic", device=CUDA)
    generic.load_state_dict(fused.state_dict())
    x = torch.randn(T, B, I, device=CUDA)
    # float32 sums in different orders (cuDNN vs ATen): the float64 test above is the oracle
    _assert_same(_run(generic, x), _run(fused, x), atol=1e-4)
    assert fused.last_impl == "fused" and generic.last_impl == "generic:aten"


@pytest.mark.parametrize("cell", ["standard", "peephole", "coupled", "layernorm"])
def test_lstm_variants_on_cuda_match_cpu_with_lengths(cell):
    torch.manual_seed(1)
    kw = dict(num_layers=2, bidirectional=True, batch_first=True, cell=cell, dtype=F64)
    cpu = snn.LSTM(I, H, **kw)
    gpu = snn.LSTM(I, H, **kw, device=CUDA)
    with torch.no_grad():
        for p in cpu.parameters():
            p.add_(0.1 * torch.randn_like(p))  # LN gains start at exactly 1: move them
    gpu.load_state_dict(cpu.state_dict())
    x = torch.randn(B, T, I, dtype=F64)
    lengths = torch.tensor([7, 3, 5, 1])
    want = _run(cpu, x, lengths=lengths)
    got = _run(gpu, x.to(CUDA), lengths=lengths.to(CUDA))
    _assert_same(got, want, atol=1e-9)
    expected = "fused" if cell == "standard" else "generic:aten"
    assert gpu.last_impl == expected


@pytest.mark.parametrize("family", list(FAMILIES))
def test_packed_sequence_on_cuda_matches_cpu(family):
    torch.manual_seed(2)
    cpu = FAMILIES[family](I, H, bidirectional=True, dtype=F64)
    gpu = FAMILIES[family](I, H, bidirectional=True, dtype=F64, device=CUDA)
    gpu.load_state_dict(cpu.state_dict())
    seqs = [torch.randn(n, I, dtype=F64) for n in (6, 4, 2)]
    packed = nn.utils.rnn.pack_sequence(seqs)
    out_cpu, _ = cpu(packed)
    out_gpu, _ = gpu(nn.utils.rnn.pack_sequence([s.to(CUDA) for s in seqs]))
    assert isinstance(out_gpu, nn.utils.rnn.PackedSequence)
    torch.testing.assert_close(out_gpu.data.cpu(), out_cpu.data, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("make", [
    lambda: snn.LSTM(I, H, num_layers=2, device=CUDA),  # built on the device
    lambda: snn.GRU(I, H).cuda(),  # moved there
    lambda: snn.RNN(I, H, bidirectional=True).to(CUDA),
    lambda: snn.LSTM(I, H).cuda().double(),  # moved, then converted
], ids=["lstm-device-arg", "gru-cuda", "rnn-to", "lstm-double"])
def test_weights_are_one_cudnn_buffer_so_no_copy_per_call(make):
    """Without flatten_parameters() cuDNN copies the weights on every call and warns."""
    import warnings

    layer = make()
    dtype = layer.weight_ih_l0.dtype
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*single contiguous chunk of memory")
        out, _ = layer(torch.randn(T, B, I, device=CUDA, dtype=dtype))
    out.sum().backward()
    assert layer.last_impl == "fused"
    ptrs = sorted(p.data_ptr() for p in layer.parameters())
    storage = {p.untyped_storage().data_ptr() for p in layer.parameters()}
    assert len(storage) == 1 and len(ptrs) == len(set(ptrs))  # views into one buffer


@pytest.mark.parametrize("score", ["mlp", "bilinear", "dot", "scaled_dot"])
def test_attention_on_cuda_matches_cpu(score):
    torch.manual_seed(3)
    cpu = snn.Attention(score, query_size=H, key_size=H).to(F64)
    gpu = snn.Attention(score, query_size=H, key_size=H).to(F64).to(CUDA)
    gpu.load_state_dict(cpu.state_dict())
    q, k = torch.randn(B, H, dtype=F64), torch.randn(B, T, H, dtype=F64)
    mask = torch.arange(T)[None, :] < torch.tensor([7, 3, 5, 1])[:, None]  # (B, S)
    ctx_c, w_c = cpu(q, k, mask=mask)
    ctx_g, w_g = gpu(q.to(CUDA), k.to(CUDA), mask=mask.to(CUDA))
    torch.testing.assert_close(ctx_g.cpu(), ctx_c, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(w_g.cpu(), w_c, atol=1e-10, rtol=1e-10)
    assert float(w_g[1, 3:].detach().abs().sum()) == 0.0  # masked keys get no weight


def _stream(n: int = 3000, vocab: int = 12, seed: int = 0) -> torch.Tensor:
    """A learnable stream: mostly next = (prev * 5 + 1) % vocab, 10% noise."""
    g = torch.Generator().manual_seed(seed)
    ids = [0]
    for _ in range(n - 1):
        nxt = (ids[-1] * 5 + 1) % vocab
        ids.append(int(torch.randint(vocab, (1,), generator=g)) if torch.rand(1, generator=g) < 0.1 else nxt)
    return torch.tensor(ids)


def test_tbptt_language_model_trains_on_cuda_and_checkpoint_loads_on_cpu(tmp_path):
    from seqlab.data.streams import stream_loader
    from seqlab.models.language_model import rnn_language_model
    from seqlab.train import Trainer
    from seqlab.train.checkpoint import load_model_weights

    ids = _stream()
    train, val = stream_loader(ids[:2400], 8, 20), stream_loader(ids[2400:], 4, 20)
    torch.manual_seed(0)
    model = rnn_language_model(12, embedding_dim=16, hidden_size=32, num_layers=2, cell="layernorm")
    trainer = Trainer(model, loss="cross_entropy", optimizer="adam", lr=1e-2, metrics=["perplexity"],
                      device="cuda", run_dir=tmp_path, verbose=0, seed=0)
    assert trainer.device.type == "cuda"
    before = trainer.evaluate(val)["loss"]
    history = trainer.fit(train, epochs=4, val_data=val)
    after = history.history["val_loss"][-1]
    assert after < 0.6 * before  # the chain is mostly deterministic: loss falls far
    assert all(p.device.type == "cuda" for p in trainer.model.parameters())
    # The checkpoint written from CUDA loads on a CPU model and gives the same validation loss.
    cpu_model = rnn_language_model(12, embedding_dim=16, hidden_size=32, num_layers=2, cell="layernorm")
    load_model_weights(cpu_model, tmp_path / "checkpoints" / "last.safetensors")
    cpu_trainer = Trainer(cpu_model, loss="cross_entropy", device="cpu", verbose=0)
    assert cpu_trainer.evaluate(val)["loss"] == pytest.approx(trainer.evaluate(val)["loss"], rel=1e-4)


def test_keras_sequential_fits_on_cuda_by_default():
    from seqlab import keras
    from seqlab.keras import layers

    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 50, (512, 12), generator=g)
    y = (x[:, 0] > 25).float()  # the first token decides the label: the last one read backwards
    model = keras.Sequential([layers.Embedding(50, 16), layers.LSTM(16, go_backwards=True),
                              layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(learning_rate=0.01),
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=6, verbose=0)  # CPU: 0.59, 0.97, then 1.0
    assert next(model.parameters()).device.type == "cuda"
    assert history.history["accuracy"][-1] > 0.9
    assert model.predict(x[:5], verbose=0).shape == (5, 1)


def test_text_cnn_on_cuda_matches_cpu():
    from seqlab.models.text_cnn import TextCNN

    torch.manual_seed(4)
    cpu = TextCNN(30, 3, embedding_dim=8, num_filters=4).to(F64).eval()
    gpu = TextCNN(30, 3, embedding_dim=8, num_filters=4).to(F64).to(CUDA).eval()
    gpu.load_state_dict(cpu.state_dict())
    ids = torch.randint(1, 30, (5, 9))
    torch.testing.assert_close(gpu(ids.to(CUDA)).cpu(), cpu(ids), atol=1e-10, rtol=1e-10)


def test_cli_run_and_predict_on_cuda(tmp_path, real_data_dir, capsys):
    from seqlab.cli.main import main

    code = main(["run", "lstm-sst2", "data.limit=400", "data.eval_limit=100", "train.epochs=1", "--device", "cuda",
                 "--run-dir", str(tmp_path / "run"), "--quiet", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0.0 <= result["test_accuracy"] <= 1.0 and result["recipe"] == "lstm-sst2"
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["train"]["device"] == "cuda"
    assert main(["predict", str(tmp_path / "run"), "a gripping, funny film", "--json"]) == 0


@pytest.mark.parametrize("family,cell", list(itertools.product(["lstm"], ["standard", "peephole"])) + [("gru", None)])
def test_mixed_precision_autocast_runs(family, cell):
    """bf16 autocast: the layer runs and its output stays close to float32."""
    torch.manual_seed(5)
    kw = {"cell": cell} if cell else {}
    layer = FAMILIES[family](32, 32, **kw, device=CUDA)
    x = torch.randn(20, 8, 32, device=CUDA)
    want, _ = layer(x)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        got, _ = layer(x)
    torch.testing.assert_close(got.float(), want, atol=5e-2, rtol=5e-2)
