"""Checkpoint files: round trip, atomic writes, and every way a file can be bad."""

from __future__ import annotations

import os
import pickle
import struct

import pytest
import torch
from _train_helpers import loader, mlp, xor_like_data
from safetensors.torch import save_file

from seqlab.errors import CheckpointError
from seqlab.train import Trainer, load_checkpoint, load_model_weights, read_checkpoint_metadata, save_checkpoint
from seqlab.train.checkpoint import decode_state, encode_state


@pytest.fixture
def trained(tmp_path):
    trainer = Trainer(mlp(), loss="cross_entropy", optimizer="adam", metrics=["accuracy"], seed=0,
                      run_dir=tmp_path / "run", verbose=0, device="cpu")  # compared with CPU tensors below
    trainer.fit(loader(xor_like_data(64)), epochs=1)
    return trainer, tmp_path / "run" / "checkpoints" / "last.safetensors"


def test_encode_decode_keeps_int_keys_tuples_and_tensors():
    state = {"a": {0: torch.arange(3), 1: (1.5, "x", None)}, "b": [torch.ones(2, 2), {"__odd": True}],
             "inf": float("inf")}
    skeleton, tensors = encode_state(state)
    back = decode_state(skeleton, tensors)
    assert set(back["a"]) == {0, 1} and back["a"][1] == (1.5, "x", None)
    assert torch.equal(back["a"][0], torch.arange(3)) and torch.equal(back["b"][0], torch.ones(2, 2))
    assert back["b"][1] == {"__odd": True} and back["inf"] == float("inf")


def test_tied_weights_are_stored_once_and_reload(tmp_path):
    emb = torch.nn.Embedding(5, 3)
    model = torch.nn.ModuleDict({"emb": emb, "out": torch.nn.Linear(3, 5, bias=False)})
    model["out"].weight = emb.weight  # weight tying
    path = save_checkpoint(tmp_path / "c.safetensors", {"model": model.state_dict()})
    state, _ = load_checkpoint(path)
    assert torch.equal(state["model"]["emb.weight"], emb.weight.detach())
    assert torch.equal(state["model"]["out.weight"], emb.weight.detach())


def test_round_trip_restores_model_and_optimizer(trained, tmp_path):
    trainer, path = trained
    meta = read_checkpoint_metadata(path)
    assert meta["epoch"] == 1 and meta["global_step"] == 4 and "loss" in meta["metrics"]
    fresh = Trainer(mlp(seed=5), loss="cross_entropy", optimizer="adam", metrics=["accuracy"], verbose=0,
                    device="cpu")
    fresh.load_checkpoint(path)
    for a, b in zip(trainer.model.parameters(), fresh.model.parameters()):
        assert torch.equal(a, b)
    sa, sb = trainer.optimizer.state_dict(), fresh.optimizer.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for i in sa["state"]:
        for k in sa["state"][i]:
            assert torch.equal(sa["state"][i][k], sb["state"][i][k])
    assert fresh.global_step == 4 and fresh.epoch == 1
    model = mlp(seed=9)
    load_model_weights(model, path)
    assert torch.equal(model[0].weight, trainer.model[0].weight)


def test_atomic_write_leaves_no_temp_files(trained):
    _, path = trained
    assert sorted(p.name for p in path.parent.iterdir()) == ["best.safetensors", "last.safetensors"]


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("keep", [4, 100, -7])
def test_truncated_file(trained, tmp_path, keep):
    _, path = trained
    data = path.read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[:keep])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors: truncated"):
        load_checkpoint(bad)
    if keep == -7:
        with pytest.raises(CheckpointError, match=f"expected {len(data)} bytes, found {len(data) - 7}"):
            load_checkpoint(bad)


def test_flipped_byte_fails_the_checksum(trained, tmp_path):
    _, path = trained
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    bad = tmp_path / "flip.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt: the tensor data does not match its checksum"):
        load_checkpoint(bad)


def test_foreign_safetensors_file(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not a seqlab checkpoint: a safetensors file without seqlab metadata"):
        load_checkpoint(path)


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.bin"
    path.write_bytes(struct.pack("<Q", 20) + b"this is not json !!!" + b"\0" * 10)
    with pytest.raises(CheckpointError, match="header is not safetensors JSON"):
        load_checkpoint(path)
    path.write_bytes(b"hello world, plain text file")
    with pytest.raises(CheckpointError, match="not a seqlab checkpoint"):
        load_checkpoint(path)


class _Payload:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    for name, writer in [("evil.pkl", lambda f: pickle.dump(_Payload(str(marker)), f)),
                         ("evil.pt", lambda f: torch.save({"x": _Payload(str(marker))}, f))]:
        path = tmp_path / name
        with open(path, "wb") as f:
            writer(f)
        with pytest.raises(CheckpointError, match="looks like a pickle / torch.save file; seqlab never unpickles"):
            load_checkpoint(path)
        with pytest.raises(CheckpointError):
            read_checkpoint_metadata(path)
    assert not marker.exists()


def test_shape_mismatch_and_missing_keys_are_listed(trained):
    _, path = trained
    wider = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Dropout(0.0), torch.nn.Linear(32, 2))
    with pytest.raises(CheckpointError, match=r"shape mismatch .*0\.weight: checkpoint \(16, 8\) vs model \(32, 8\)"):
        load_model_weights(wider, path)
    shorter = torch.nn.Sequential(torch.nn.Linear(8, 16))
    with pytest.raises(CheckpointError, match=r"unexpected keys \['3\.bias', '3\.weight'\]"):
        load_model_weights(shorter, path)
    longer = torch.nn.Sequential(*mlp(), torch.nn.Linear(2, 2))
    with pytest.raises(CheckpointError, match=r"missing keys \['4\.bias', '4\.weight'\]"):
        load_model_weights(longer, path)


def test_newer_format_version_is_refused(tmp_path):
    import json

    path = save_checkpoint(tmp_path / "c.safetensors", {"x": torch.ones(1)})
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    info = json.loads(header["__metadata__"]["seqlab"])
    info["version"] = 99
    header["__metadata__"]["seqlab"] = json.dumps(info)
    hb = json.dumps(header).encode()
    hb += b" " * (-len(hb) % 8)
    path.write_bytes(struct.pack("<Q", len(hb)) + hb + data[8 + n :])
    with pytest.raises(CheckpointError, match="version 99 is newer"):
        load_checkpoint(path)


def test_resume_without_checkpoint_is_an_error(tmp_path):
    trainer = Trainer(mlp(), loss="cross_entropy", run_dir=tmp_path / "empty", verbose=0)
    with pytest.raises(CheckpointError, match="does not exist; the run wrote no checkpoint yet"):
        trainer.fit(loader(xor_like_data(32)), epochs=1, resume=True)
    assert not os.path.exists(tmp_path / "empty" / "checkpoints" / "last.safetensors")
