"""seqlab.keras models: the notes' Sequential text model and functional video-QA model on
numpy data, summary() counts, trainable=False, save/load, optimizer defaults and errors."""

from __future__ import annotations

import re
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

import seqlab.keras as keras
from seqlab.errors import CheckpointError, ConfigurationError, ShapeError
from seqlab.keras import Input, Model, Sequential, layers, load_model
from seqlab.keras.callbacks import EarlyStopping, ModelCheckpoint
from seqlab.keras.layers import LSTM, Dense, Dropout, Embedding


def _text_data(n=64, T=12, V=50, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, V, size=(n, T))
    y = (x[:, -1] < V // 2).astype("int64")  # learnable from the last token
    return x, y


def _notes_model(max_features=50, emb=16, units=8):
    model = Sequential()
    model.add(Embedding(max_features, output_dim=emb))
    model.add(LSTM(units))
    model.add(Dropout(0.5))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    return model


def test_notes_text_model_compile_fit_evaluate_predict():
    x, y = _text_data()
    model = _notes_model()
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and len(history.history["accuracy"]) == 2
    assert history.model is model
    score = model.evaluate(x, y, batch_size=16, verbose=0)
    assert isinstance(score, list) and len(score) == 2 and 0.0 <= score[1] <= 1.0
    probs = model.predict(x, verbose=0)
    assert isinstance(probs, np.ndarray) and probs.shape == (64, 1)
    assert np.all((probs > 0) & (probs < 1))
    # torch tensors work too, and the engine's evaluate equals a hand-computed BCE
    p = torch.from_numpy(probs).squeeze(1).double().clamp(1e-7, 1 - 1e-7)
    t = torch.from_numpy(y).double()
    bce = -(t * p.log() + (1 - t) * (1 - p).log()).mean().item()
    loss = model.evaluate(torch.from_numpy(x), torch.from_numpy(y), verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(bce, rel=1e-4)


def test_fit_learns_and_validation_options():
    torch.manual_seed(0)
    x, y = _text_data(n=256)
    model = _notes_model()
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(0.01), metrics=["acc"])
    h = model.fit(x, y, batch_size=32, epochs=6, validation_split=0.25, verbose=0)
    assert "val_loss" in h.history and "val_acc" in h.history
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert h.history["val_acc"][-1] > 0.75
    h2 = model.fit(x, y, epochs=1, validation_data=(x[:20], y[:20]), verbose=0)
    assert len(h2.history["val_loss"]) == 1


def _video_qa(frames=(8, 8, 3), vocab=30, answers=4, cnn=None):
    if cnn is None:
        cnn = Sequential([layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(),
                          layers.GlobalAveragePooling2D()])
    video = keras.Input(shape=(None, *frames), name="video")
    frame_features = layers.TimeDistributed(cnn)(video)
    video_vector = layers.LSTM(16)(frame_features)
    question = keras.Input(shape=(None,), dtype="int32", name="question")
    embedded_words = layers.Embedding(vocab, 8)(question)
    question_vector = layers.LSTM(8)(embedded_words)
    x = layers.concatenate([video_vector, question_vector])
    x = layers.Dense(16, activation=torch.relu)(x)  # the notes pass tf.nn.relu
    predictions = layers.Dense(answers, activation="softmax", name="predictions")(x)
    return Model([video, question], predictions), cnn


def test_video_qa_functional_model_builds_and_trains():
    torch.manual_seed(0)
    model, _ = _video_qa()
    assert model.outputs[0].shape == (None, 4)
    rng = np.random.default_rng(0)
    v = rng.random((24, 3, 8, 8, 3), dtype=np.float32)
    q = rng.integers(1, 30, size=(24, 5))
    a = rng.integers(0, 4, size=24)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h = model.fit([v, q], a, batch_size=8, epochs=10, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0] - 0.1
    out = model.predict({"video": v[:2], "question": q[:2]}, verbose=0)
    assert out.shape == (2, 4)
    np.testing.assert_allclose(out.sum(1), 1.0, rtol=1e-5)
    # several videos lengths and question lengths are fine (None axes)
    assert model(torch.rand(1, 5, 8, 8, 3), torch.ones(1, 9, dtype=torch.long)).shape == (1, 4)


def _summary(model) -> str:
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def _count(text: str, label: str) -> int:
    return int(re.search(rf"{label}: ([\d,]+)", text).group(1).replace(",", ""))


def test_summary_parameter_counts_by_hand():
    model = Sequential([Input(shape=(20,), dtype="int32"), Embedding(1000, 64), LSTM(32), Dense(1, activation="sigmoid")])
    text = _summary(model)
    emb = 1000 * 64
    lstm_torch = 4 * (32 * (64 + 32) + 2 * 32)  # torch: two bias vectors
    lstm_keras = 4 * (32 * (64 + 32) + 32)  # Keras: one
    dense = 32 + 1
    assert re.search(r"embedding\S* \(Embedding\)\s+\(None, 20, 64\)\s+64,000", text)
    assert re.search(rf"lstm\S* \(LSTM\)\s+\(None, 32\)\s+{lstm_torch:,}", text)
    assert _count(text, "Total params") == emb + lstm_torch + dense
    assert _count(text, "Trainable params") == emb + lstm_torch + dense
    assert _count(text, "Non-trainable params") == 0
    assert f"Keras would report {emb + lstm_keras + dense:,} total params" in text
    gru = Sequential([Input(shape=(5, 10)), layers.GRU(7)])
    assert _count(_summary(gru), "Total params") == 3 * (7 * (10 + 7) + 2 * 7)  # = Keras (reset_after)
    assert "Keras would report" not in _summary(gru)
    conv = Sequential([Input(shape=(9, 9, 3)), layers.Conv2D(8, 3), layers.Flatten(), Dense(2)])
    assert _count(_summary(conv), "Total params") == (3 * 3 * 3 * 8 + 8) + (7 * 7 * 8 * 2 + 2)


def test_summary_of_unbuilt_and_functional_models():
    model = _notes_model()
    text = _summary(model)
    assert "not built yet" in text and "?" in text
    qa, _ = _video_qa()
    text = _summary(qa)
    assert "video (InputLayer)" in text and "Connected to" in text and "lstm" in text


def test_trainable_false_freezes_submodel_and_plain_torch_module():
    torch.manual_seed(0)
    model, cnn = _video_qa()
    cnn.trainable = False  # set after building, as the notes do before
    frozen = {k: v.clone() for k, v in cnn.state_dict().items()}
    lstm_before = model.get_layer("predictions").linear.weight.clone()
    text = _summary(model)
    cnn_params = 3 * 3 * 3 * 4 + 4
    assert _count(text, "Non-trainable params") == cnn_params
    rng = np.random.default_rng(1)
    v = rng.random((8, 2, 8, 8, 3), dtype=np.float32)
    q = rng.integers(1, 30, size=(8, 4))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit([v, q], rng.integers(0, 4, size=8), epochs=2, batch_size=4, verbose=0)
    for k, val in cnn.state_dict().items():  # .cpu(): fit ran on CUDA where there is one
        assert torch.equal(val.cpu(), frozen[k]), k
    assert not torch.equal(model.get_layer("predictions").linear.weight.cpu(), lstm_before)
    # a plain torch module with .trainable = False (the notes' InceptionV3 pattern)
    net = nn.Sequential(nn.Flatten(), nn.Linear(8 * 8 * 3, 6))
    net.trainable = False
    model2, _ = _video_qa(cnn=net)
    assert _count(_summary(model2), "Non-trainable params") == 8 * 8 * 3 * 6 + 6
    assert all(not p.requires_grad for p in net.parameters())
    net.trainable = True
    assert _count(_summary(model2), "Non-trainable params") == 0


def test_frozen_layers_stay_in_inference_mode_during_fit():
    model = _notes_model()
    model.layers[2].trainable = False  # the Dropout layer
    model.train()
    assert model.training and not model.layers[2].training


def test_save_load_round_trip_identical_predictions(tmp_path):
    torch.manual_seed(0)
    x, y = _text_data()
    model = _notes_model()
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "notes.keras"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded._compiled["loss"] == "binary_crossentropy"
    loaded.fit(x, y, epochs=1, verbose=0)  # re-compiled: trains right away
    qa, _ = _video_qa()
    rng = np.random.default_rng(0)
    v, q = rng.random((3, 2, 8, 8, 3), dtype=np.float32), rng.integers(1, 30, size=(3, 4))
    qa.save(tmp_path / "qa.keras")
    qa2 = load_model(tmp_path / "qa.keras")
    np.testing.assert_array_equal(qa2.predict([v, q], verbose=0), qa.predict([v, q], verbose=0))
    assert [layer.name for layer in qa2.layers] == [layer.name for layer in qa.layers]
    bi = Sequential([Input(shape=(None,), dtype="int32"), Embedding(20, 4, mask_zero=True),
                     layers.Bidirectional(LSTM(3, return_sequences=True)), layers.GlobalMaxPooling1D(),
                     Dense(2, activation="softmax")])
    bi.save(tmp_path / "bi.keras")
    ids = torch.tensor([[1, 2, 3, 0]])
    torch.testing.assert_close(load_model(tmp_path / "bi.keras")(ids), bi(ids))


def test_save_errors_and_corrupt_files(tmp_path):
    net = nn.Sequential(nn.Flatten(), nn.Linear(8 * 8 * 3, 6))
    model, _ = _video_qa(cnn=net)
    with pytest.raises(ConfigurationError, match="save_weights"):
        model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "w.safetensors")
    other, _ = _video_qa(cnn=nn.Sequential(nn.Flatten(), nn.Linear(8 * 8 * 3, 6)))
    other.load_weights(tmp_path / "w.safetensors")
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a seqlab.keras model file"):
        load_model(bad)
    foreign = tmp_path / "foreign.keras"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("config.json", '{"format": "keras"}')
        zf.writestr("model.safetensors", b"")
    with pytest.raises(CheckpointError, match="not a seqlab.keras config"):
        load_model(foreign)
    small = _notes_model(units=4)
    small(np.ones((1, 3), dtype="int64"))
    with pytest.raises(CheckpointError, match="do not fit"):
        small.load_weights(tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.keras")
    with pytest.raises(ConfigurationError, match="not built"):
        _notes_model().save(tmp_path / "unbuilt.keras")


def test_keras_optimizer_defaults():
    model = _notes_model()
    model.fit(*_text_data(n=8), epochs=1, verbose=0)
    opt = model.optimizer
    assert isinstance(opt, torch.optim.RMSprop)
    g = opt.param_groups[0]
    assert (g["lr"], g["alpha"], g["eps"]) == (0.001, 0.9, 1e-7)
    adam = keras.optimizers.get("adam").build([nn.Parameter(torch.zeros(1))])
    assert adam.param_groups[0]["lr"] == 0.001 and adam.param_groups[0]["eps"] == 1e-7
    sgd = keras.optimizers.get("sgd").build([nn.Parameter(torch.zeros(1))])
    assert sgd.param_groups[0]["lr"] == 0.01


def test_callbacks_early_stopping_and_keras_checkpoint(tmp_path):
    x, y = _text_data(n=32)
    model = _notes_model()
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(1e-9))
    h = model.fit(x, y, epochs=20, validation_split=0.25, verbose=0,
                  callbacks=[EarlyStopping(monitor="val_loss", patience=1, min_delta=1.0),
                             ModelCheckpoint(str(tmp_path / "m-{epoch}.keras"))])
    assert len(h.history["loss"]) == 2
    assert (tmp_path / "m-1.keras").exists() and (tmp_path / "m-2.keras").exists()


def test_error_paths():
    x, y = _text_data(n=8)
    model = Sequential([Embedding(50, 4), LSTM(3), Dense(1, activation="sigmoid")])
    with pytest.raises(ConfigurationError, match=r"fit\(\) was called before compile"):
        model.fit(x, y)
    with pytest.raises(ConfigurationError, match=r"evaluate\(\) was called before compile"):
        model.evaluate(x, y)
    with pytest.raises(ConfigurationError, match="unknown loss 'binary_crossentropyy'.*binary_crossentropy"):
        model.compile(loss="binary_crossentropyy", optimizer="rmsprop")
    with pytest.raises(ConfigurationError, match="unknown optimizer 'rmsprob'.*rmsprop"):
        model.compile(loss="mse", optimizer="rmsprob")
    with pytest.raises(ConfigurationError, match="unknown metric 'acuracy'.*accuracy"):
        model.compile(loss="mse", metrics=["acuracy"])
    with pytest.raises(ConfigurationError, match="needs a loss"):
        model.compile(optimizer="adam")
    model.compile(loss="binary_crossentropy")
    with pytest.raises(ShapeError, match="8 samples but y has 7"):
        model.fit(x, y[:7], verbose=0)
    with pytest.raises(ConfigurationError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(ConfigurationError, match="batch_size"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ShapeError, match="expects inputs \\(batch, time, features\\)"):
        Sequential([Dense(3), LSTM(2)])(torch.randn(2, 4))
    qa, _ = _video_qa()
    with pytest.raises(ShapeError, match="expects 2 input"):
        qa(torch.rand(1, 2, 8, 8, 3))
    with pytest.raises(ShapeError, match=r"'video' expects shape \(None, None, 8, 8, 3\)"):
        qa(torch.rand(1, 2, 9, 8, 3), torch.ones(1, 3, dtype=torch.long))
    with pytest.raises(ShapeError, match="input dict lacks"):
        qa({"video": torch.rand(1, 2, 8, 8, 3)})
    with pytest.raises(ConfigurationError, match="needs inputs and outputs"):
        Model()
    a = Input(shape=(3,))
    with pytest.raises(ConfigurationError, match="two different layers are named 'same'"):
        Model(a, Dense(2, name="same")(Dense(2, name="same")(a)))
    b = Input(shape=(3,))
    with pytest.raises(ConfigurationError, match="not among the model's inputs"):
        Model(a, layers.add([Dense(2)(a), Dense(2)(b)]))
    with pytest.raises(ShapeError, match="failed on inputs of shape"):
        layers.Dense(2)(layers.Conv1D(2, 5)(Input(shape=(3, 1))))
    with pytest.raises(ConfigurationError, match="must come first"):
        Sequential([Dense(2), Input(shape=(3,))])
    with pytest.raises(ConfigurationError, match="unknown dtype"):
        Input(shape=(3,), dtype="complex")


def test_import_styles_input_shape_and_predict_without_compile():
    from seqlab.keras.layers import Input as LayersInput

    assert LayersInput is keras.Input and keras.layers.LSTM is LSTM
    model = Sequential([Dense(4, activation="tanh", input_shape=(3,)), Dense(2)])
    assert model.layers[1].output_shape == (None, 2)  # built from input_shape, before any data
    out = model.predict(np.ones((5, 3)), verbose=0)  # float64 numpy is cast to float32
    assert out.shape == (5, 2) and out.dtype == np.float32
    with pytest.raises(ShapeError, match=r"expects shape \(None, 3\)"):
        model.predict(np.ones((5, 4)), verbose=0)
    with pytest.raises(ShapeError, match="takes one input tensor"):
        model(torch.ones(1, 3), torch.ones(1, 3))
    with pytest.raises(ConfigurationError, match="no layers"):
        Sequential()(torch.ones(1, 3))


def test_plain_torch_module_in_functional_graph_needs_wrapper():
    x = Input(shape=(4,))
    with pytest.raises(TypeError, match="TorchModuleWrapper"):
        nn.Linear(4, 2)(x)
    y = layers.TorchModuleWrapper(nn.Linear(4, 2))(x)
    assert y.shape == (None, 2)
    model = Model(x, Dense(1)(y))
    assert model(torch.ones(3, 4)).shape == (3, 1)
    seq = Sequential([nn.Linear(4, 3), nn.ReLU(), Dense(1)])  # torch modules directly in Sequential
    assert seq(torch.ones(2, 4)).shape == (2, 1)


_REGRESSION = np.linspace(0, 1, 36, dtype="float32").reshape(12, 3)


@pytest.mark.parametrize(
    "loss, activation, targets, metric",
    [
        ("categorical_crossentropy", "softmax", np.eye(3, dtype="float32")[np.arange(12) % 3], "accuracy"),
        ("sparse_categorical_crossentropy", "softmax", np.arange(12) % 3, "accuracy"),
        ("mse", None, _REGRESSION, "mae"),
        (keras.losses.SparseCategoricalCrossentropy(from_logits=True), None, np.arange(12) % 3, "accuracy"),
        (lambda y_true, y_pred: ((y_true - y_pred) ** 2).mean(-1), None, _REGRESSION, "mse"),  # Keras order
    ],
)
def test_keras_losses_by_name_object_and_function(loss, activation, targets, metric):
    model = Sequential([Input(shape=(4,)), Dense(3, activation=activation)])
    model.compile(loss=loss, optimizer="sgd", metrics=[metric])
    x = np.random.default_rng(0).standard_normal((12, 4)).astype("float32")
    before = model.evaluate(x, targets, verbose=0, return_dict=True)
    model.fit(x, targets, epochs=5, batch_size=4, verbose=0)
    after = model.evaluate(x, targets, verbose=0, return_dict=True)
    assert after["loss"] < before["loss"]
    assert set(after) == {"loss", metric}


def test_attention_model_with_two_outputs_and_initial_state_round_trip(tmp_path):
    torch.manual_seed(0)
    src = Input(shape=(None,), dtype="int32", name="src")
    tgt = Input(shape=(None,), dtype="int32", name="tgt")
    enc_seq, h, c = LSTM(8, return_sequences=True, return_state=True)(Embedding(20, 8, mask_zero=True)(src))
    dec_seq = LSTM(8, return_sequences=True)(Embedding(20, 8)(tgt), initial_state=[h, c])
    context, weights = layers.Attention()([dec_seq, enc_seq], return_attention_scores=True)
    logits = Dense(20, activation="softmax")(layers.concatenate([dec_seq, context]))
    model = Model({"src": src, "tgt": tgt}, [logits, weights])
    s, t = torch.tensor([[3, 4, 5, 0]]), torch.tensor([[1, 2]])
    out, w = model({"src": s, "tgt": t})
    assert out.shape == (1, 2, 20) and w.shape == (1, 2, 4)
    assert torch.all(w[0, :, 3] < 1e-6)  # the padded source step gets no attention (mask_zero)
    model.save(tmp_path / "att.keras")
    out2, w2 = load_model(tmp_path / "att.keras")({"src": s, "tgt": t})
    torch.testing.assert_close(out2, out)
    torch.testing.assert_close(w2, w)
    preds = model.predict({"src": s.numpy(), "tgt": t.numpy()}, verbose=0)
    assert isinstance(preds, list) and preds[1].shape == (1, 2, 4)
    seq = Sequential([layers.InputLayer(shape=(3,)), Dense(2)])
    assert seq.layers[0].output_shape == (None, 2)
