"""The training loop: learning, batch formats, determinism, clipping, NaN handling, errors."""

from __future__ import annotations

import json
from typing import NamedTuple

import pytest
import torch
from _train_helpers import loader, mlp, xor_like_data
from torch import nn

from seqlab.errors import ConfigurationError, TrainingError
from seqlab.train import Callback, Trainer, build_lr_schedule, build_optimizer, read_checkpoint_metadata
from seqlab.train.checkpoint import load_checkpoint


def test_learns_a_tiny_task_and_evaluates():
    data = xor_like_data(256)
    trainer = Trainer(mlp(), loss="cross_entropy", optimizer="adam", lr=0.02, metrics=["accuracy"], seed=0, verbose=0)
    before = trainer.evaluate(data, batch_size=64)
    history = trainer.fit(loader(data, 32), epochs=6, val_data=loader(xor_like_data(128, seed=1), 64, False))
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9
    after = trainer.evaluate(data, batch_size=64)
    assert after["loss"] < before["loss"] and after["accuracy"] > 0.9
    assert history.epoch == list(range(6))
    pred = trainer.predict(loader(data, 50, shuffle=False))
    assert pred.shape == (256, 2)
    acc = (pred.argmax(-1) == data.tensors[1]).float().mean().item()
    assert abs(acc - after["accuracy"]) < 1e-9


def test_same_seed_same_weights_and_different_seed_differs():
    def run(seed):
        trainer = Trainer(mlp(dropout=0.5), loss="cross_entropy", seed=seed, verbose=0)
        trainer.fit(loader(xor_like_data(64), 16, shuffle=True), epochs=2)
        return torch.cat([p.flatten() for p in trainer.model.parameters()])

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


class TwoInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 2), nn.Linear(4, 2)

    def forward(self, x, y):
        return self.a(x) + self.b(y)


def test_multi_input_tuple_and_dict_batches_agree():
    g = torch.Generator().manual_seed(0)
    x, y, t = torch.randn(32, 4, generator=g), torch.randn(32, 4, generator=g), torch.randint(0, 2, (32,), generator=g)
    results = []
    for batches in ([((x, y), t)], [({"x": x, "y": y}, t)], [{"x": x, "y": y, "labels": t, "mask": x > 0}]):
        torch.manual_seed(0)
        trainer = Trainer(TwoInput(), loss="cross_entropy", optimizer="sgd", lr=0.1, verbose=0, seed=0)
        trainer.fit(batches, epochs=2)
        results.append(trainer.model.a.weight.detach().clone())
    assert torch.equal(results[0], results[1]) and torch.equal(results[0], results[2])


def test_input_adapter_and_bad_batch_errors():
    x, t = torch.randn(8, 8), torch.randint(0, 2, (8,))
    adapter = lambda batch: ((batch["feats"],), {}, batch["y"])  # noqa: E731
    trainer = Trainer(mlp(), loss="cross_entropy", input_adapter=adapter, verbose=0)
    trainer.fit([{"feats": x, "y": t}], epochs=1)
    plain = Trainer(mlp(), loss="cross_entropy", verbose=0)
    with pytest.raises(ConfigurationError, match="cannot read a batch of type tuple with 3 elements"):
        plain.fit([(x, t, t)], epochs=1)
    with pytest.raises(ConfigurationError, match="no label key"):
        plain.fit([{"ids": x}], epochs=1)
    with pytest.raises(ConfigurationError, match="one-shot iterator"):
        plain.fit(iter([(x, t)]), epochs=1)
    with pytest.raises(ConfigurationError, match="without batch_size"):
        plain.fit(xor_like_data(8), epochs=1)


def test_gradient_clipping_bounds_the_update():
    model = nn.Linear(8, 1)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    x, t = torch.randn(16, 8) * 100, torch.randn(16) * 100
    trainer = Trainer(model, loss="mse", optimizer="sgd", lr=1.0, grad_clip_norm=1e-3, verbose=0, device="cpu")
    trainer.fit([(x, t)], epochs=1)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert (after - before).norm().item() == pytest.approx(1e-3, rel=1e-4)


class NaNAt(nn.Module):
    """A linear classifier whose output becomes NaN from the ``bad_call``-th training call."""

    def __init__(self, bad_call):
        super().__init__()
        self.lin = nn.Linear(8, 2)
        self.calls = 0
        self.bad_call = bad_call

    def forward(self, x):
        out = self.lin(x)
        if self.training:
            self.calls += 1
            if self.calls > self.bad_call:
                out = out * float("nan")
        return out


@pytest.mark.parametrize("check_every", [1, 4])
def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, check_every):
    model = NaNAt(bad_call=5)  # global steps 0..4 are fine, step 5 is NaN
    trainer = Trainer(model, loss="cross_entropy", optimizer="sgd", lr=0.1, run_dir=tmp_path, verbose=0,
                      checkpoint_every_steps=2, seed=0)
    # 1: the CPU path (checked every step before backward); 4: the CUDA/DDP path (a device flag read
    # every N steps and before every checkpoint -- here by the checkpoint after step 5).
    trainer._nan_check_every = check_every
    last = tmp_path / "checkpoints" / "last.safetensors"
    with pytest.raises(TrainingError, match=r"NaN or infinite at epoch 1, batch 1 \(global step 5"):
        trainer.fit(loader(xor_like_data(64), 16), epochs=3)  # 4 batches per epoch
    meta = read_checkpoint_metadata(last)
    assert meta["global_step"] == 4  # written at step 4, never overwritten afterwards
    state, _ = load_checkpoint(last)
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    # On CPU the check runs before backward(), so the NaN step never reached the live weights either.
    assert bool(torch.isfinite(model.lin.weight).all()) == (check_every == 1)


def test_nonfinite_weights_are_never_checkpointed(tmp_path):
    trainer = Trainer(mlp(), loss="cross_entropy", run_dir=tmp_path, verbose=0)
    trainer.fit(loader(xor_like_data(32)), epochs=1)
    last = tmp_path / "checkpoints" / "last.safetensors"
    before = last.read_bytes()
    with torch.no_grad():
        trainer.model[0].weight[0, 0] = float("inf")
    with pytest.raises(TrainingError, match="the last good checkpoint .*last.safetensors was kept"):
        trainer.save_checkpoint(last)
    assert last.read_bytes() == before


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_optimizers_and_schedules_by_name():
    params = [nn.Parameter(torch.zeros(2))]
    for name in ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"):
        assert build_optimizer(name, params).__class__.__name__.lower() == name
    keras_rms = build_optimizer("rmsprop", params, style="keras")
    assert keras_rms.defaults["alpha"] == 0.9 and keras_rms.defaults["eps"] == 1e-7
    assert build_optimizer("SGD", params, lr=0.5, options={"momentum": 0.9}).defaults["momentum"] == 0.9
    with pytest.raises(ConfigurationError, match="unknown optimizer 'adamm'; valid names: sgd, adam"):
        build_optimizer("adamm", params)
    with pytest.raises(ConfigurationError, match=r"unknown option\(s\) \['momentun'\]"):
        build_optimizer("sgd", params, options={"momentun": 0.9})

    opt = build_optimizer("sgd", params, lr=1.0)
    sched = build_lr_schedule({"name": "linear_warmup", "warmup_steps": 2, "decay": "linear"}, opt,
                              epochs=2, steps_per_epoch=3)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        sched.batch_end()
    assert lrs == pytest.approx([0.5, 1.0, 1.0, 0.75, 0.5, 0.25])
    opt = build_optimizer("sgd", params, lr=1.0)
    step = build_lr_schedule({"name": "step", "step_size": 1, "gamma": 0.5}, opt, epochs=3, steps_per_epoch=None)
    step.epoch_end({"loss": 1.0})
    assert opt.param_groups[0]["lr"] == 0.5
    opt = build_optimizer("sgd", params, lr=1.0)
    plateau = build_lr_schedule({"name": "plateau", "patience": 0, "factor": 0.1}, opt, epochs=3, steps_per_epoch=3)
    plateau.epoch_end({"loss": 1.0})
    plateau.epoch_end({"loss": 2.0})  # no val_loss: falls back to loss; no improvement -> reduce
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    with pytest.raises(ConfigurationError, match="unknown lr_schedule 'cosinus'; valid names"):
        build_lr_schedule("cosinus", opt, epochs=1, steps_per_epoch=1)
    with pytest.raises(ConfigurationError, match=r"unknown option\(s\) \['warmup'\]"):
        build_lr_schedule({"name": "linear_warmup", "warmup": 3}, opt, epochs=1, steps_per_epoch=1)


def test_cosine_schedule_in_fit_reaches_min_lr(tmp_path):
    trainer = Trainer(mlp(), loss="cross_entropy", optimizer="sgd", lr=0.1, lr_schedule="cosine", verbose=0,
                      run_dir=tmp_path)
    history = trainer.fit(loader(xor_like_data(32), 16), epochs=2)
    lrs = [json.loads(line)["lr"] for line in open(tmp_path / "metrics.jsonl")]  # the run file keeps the rate
    assert lrs[0] == pytest.approx(0.05) and lrs[-1] == pytest.approx(0.0)
    assert trainer.epoch_lr == pytest.approx(0.0) and "lr" not in history.history


def test_bad_arguments():
    with pytest.raises(ConfigurationError, match="unknown loss 'crossentropy'"):
        Trainer(mlp(), loss="crossentropy")
    with pytest.raises(ConfigurationError, match="unknown metric 'acuracy'"):
        Trainer(mlp(), loss="mse", metrics=["acuracy"])
    if not torch.cuda.is_available():
        with pytest.raises(ConfigurationError, match="CUDA is not available"):
            Trainer(mlp(), loss="mse", device="cuda")
    with pytest.raises(ConfigurationError, match="grad_clip_norm must be a positive"):
        Trainer(mlp(), loss="mse", grad_clip_norm=0)


class Padded(NamedTuple):
    """Same fields as seqlab.data's PaddedBatch."""

    ids: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor
    labels: torch.Tensor


class MeanPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.out = nn.Linear(4, 2)

    def forward(self, ids, lengths):  # (B, T), (B,) -- no mask argument: the engine drops it
        mask = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]  # (B, T)
        pooled = (self.emb(ids) * mask[..., None]).sum(1) / lengths[:, None]  # (B, E)
        return self.out(pooled)


def test_named_tuple_batches_and_dataset_with_batch_size():
    ids = torch.tensor([[1, 2, 0], [3, 0, 0]])
    batch = Padded(ids, torch.tensor([2, 1]), ids > 0, torch.tensor([0, 1]))
    trainer = Trainer(MeanPool(), loss="cross_entropy", metrics=["accuracy"], verbose=0, lr=0.1)
    history = trainer.fit([batch], epochs=30)
    assert history.history["accuracy"][-1] == 1.0
    assert trainer.predict([batch]).shape == (2, 2)
    trainer = Trainer(mlp(), loss="cross_entropy", verbose=0)
    trainer.fit(xor_like_data(40), epochs=1, batch_size=16)
    assert trainer.global_step == 3  # ceil(40 / 16)


def test_set_sampler_epoch_reaches_batch_samplers():
    from torch.utils.data import DataLoader

    from seqlab.train.distributed import set_sampler_epoch

    class EpochBatches:
        epoch = -1

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __iter__(self):
            return iter([[0, 1], [2, 3]])

        def __len__(self):
            return 2

    sampler = EpochBatches()
    dl = DataLoader(xor_like_data(4), batch_sampler=sampler)
    set_sampler_epoch(dl, 3)
    assert sampler.epoch == 3


class _CountSyncs(Callback):
    """Counts tensor-to-Python conversions (device syncs on a GPU) inside each training step."""

    def __init__(self):
        self.calls = []
        self._originals = {}

    def on_batch_begin(self, batch, logs=None):
        for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
            original = getattr(torch.Tensor, name)
            self._originals[name] = original

            def wrapper(t, *a, _name=name, _original=original, **k):
                self.calls.append(_name)
                return _original(t, *a, **k)

            setattr(torch.Tensor, name, wrapper)

    def on_batch_end(self, batch, logs=None):
        for name, original in self._originals.items():
            setattr(torch.Tensor, name, original)


def test_hot_loop_has_no_tensor_to_python_syncs():
    counter = _CountSyncs()
    data = xor_like_data(64)
    trainer = Trainer(mlp(), loss="cross_entropy", optimizer="sgd", metrics=["accuracy", "perplexity"],
                      grad_clip_norm=1.0, lr_schedule="cosine", callbacks=[counter], verbose=0)
    trainer._nan_check_every = 10**9  # the GPU path: no per-step NaN flag read (on CPU it costs nothing)
    trainer.fit(loader(data), epochs=1)
    assert trainer.global_step == 4 and counter.calls == []
    # the counter does see conversions when they happen
    counter.on_batch_begin(0)
    torch.ones(()).item()
    counter.on_batch_end(0)
    assert counter.calls == ["item"]


# ---------------------------------------------------------------- constraints after each step (issue 4)


def _sentences(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randint(1, 20, (8, 6), generator=g), torch.randint(0, 2, (8,), generator=g)) for _ in range(n // 8)]


class Wrapped(nn.Module):
    """A model whose constrained part is a submodule."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, ids):
        return self.inner(ids)


@pytest.mark.parametrize("wrap", [False, True])
def test_apply_constraints_runs_after_every_step(wrap):
    from seqlab.models.text_cnn import TextCNN

    torch.manual_seed(0)
    cnn = TextCNN(vocab_size=20, num_classes=2, embedding_dim=8, filter_widths=(2, 3), num_filters=4, dropout=0.0)
    norms = []

    class RowNorms(Callback):
        def on_batch_end(self, batch, logs=None):
            norms.append(cnn.output.weight.detach().norm(dim=1).max().item())

    # lr 20 with clipping: big steps that push the rows past the bound yet stay finite.
    trainer = Trainer(Wrapped(cnn) if wrap else cnn, loss="cross_entropy", optimizer="sgd", lr=20.0,
                      grad_clip_norm=1.0, callbacks=[RowNorms()], verbose=0)
    trainer.fit(_sentences(), epochs=3)
    assert len(norms) == 12 and max(norms) <= 3.0 + 1e-6
    assert max(norms) > 2.9  # the bound was reached, so the constraint did work
    # The same training without the bound leaves rows far above 3.
    torch.manual_seed(0)
    free = TextCNN(vocab_size=20, num_classes=2, embedding_dim=8, filter_widths=(2, 3), num_filters=4, dropout=0.0,
                   max_norm=None)
    Trainer(free, loss="cross_entropy", optimizer="sgd", lr=20.0, grad_clip_norm=1.0, verbose=0).fit(
        _sentences(), epochs=3)
    assert free.output.weight.norm(dim=1).max().item() > 5.0


def test_a_model_without_constraints_is_trained_exactly_like_a_plain_loop():
    data = [(x, y) for x, y in loader(xor_like_data(64), 16, shuffle=False)]
    model, reference = mlp(seed=3), mlp(seed=3)
    Trainer(model, loss="cross_entropy", optimizer="sgd", lr=0.5, verbose=0, device="cpu").fit(data, epochs=2)
    opt = torch.optim.SGD(reference.parameters(), lr=0.5)
    for _ in range(2):
        for x, y in data:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(reference(x), y).backward()
            opt.step()
    for p, q in zip(model.parameters(), reference.parameters()):
        assert torch.equal(p, q)
