#!/usr/bin/env python3
"""Generate the Keras reader fixtures in tests/fixtures/keras/ with real Keras 3.

Run from the repository root in an environment with keras (3.x), h5py, numpy, torch and
safetensors (Keras needs a backend: the torch one is used; TensorFlow is not needed):

    python3 -m venv --system-site-packages /tmp/kerasenv
    /tmp/kerasenv/bin/pip install keras h5py numpy torch safetensors
    KERAS_BACKEND=torch /tmp/kerasenv/bin/python tools/make_keras_fixtures.py

Small seeded models (every weight set from numpy's default_rng, so biases and running
statistics are not zeros) are saved in each format Keras writes:

  <model>.keras              Keras 3 archive (config.json + model.weights.h5)      [real]
  <model>.weights.h5         Keras 3 model.save_weights()                          [real]
  <model>.h5                 legacy HDF5 full model, model.save("x.h5")            [real]
  mlp.legacy-weights.h5      legacy weights-only HDF5 (Keras' own
                             legacy_h5_format.save_weights_to_hdf5_group)         [real]
  <model>.tf2.h5             tf.keras 2.x full-model layout, "dense/kernel:0"       [synthetic]
  mlp.gzip.weights.h5        Keras 3 layout, chunked + gzip + shuffle, a
                             big-endian bias (Keras never compresses)              [synthetic]
  mlp.deflated.keras         mlp.keras re-zipped with deflate (Keras stores)       [synthetic]

and next to them <model>.reference.safetensors: every weight of the model (the variables
Keras saves, `model.weights`) under the name the reader must give it, in its stored dtype.
manifest.json lists each file, its reference, the reader's expected format name and the
expected tensor names in order. Corrupt files for the error paths are under corrupt/.
It also writes the fuzz target's seed corpus, fuzz/seeds/keras/: one tiny model in each of
the same formats.
The synthetic files are written with h5py following Keras 2's `save_weights_to_hdf5_group`
(tf.keras 2.x cannot be installed next to Keras 3); see tests/fixtures/keras/README.md.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import io  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import shutil  # noqa: E402
import zipfile  # noqa: E402

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

OUT = pathlib.Path("tests/fixtures/keras")
SEEDS = pathlib.Path("fuzz/seeds/keras")
EINSUM = ("EinsumDense", "MultiHeadAttention", "GroupedQueryAttention")


def seeded(model, seed):
    """Set every weight to seeded random values of its dtype (variances positive)."""
    rng = np.random.default_rng(seed)
    values = []
    for v in model.weights:
        x = rng.standard_normal(tuple(v.shape)).astype(np.float32) * 0.5
        if "variance" in v.path:
            x = np.abs(x) + 0.1
        values.append(x)
    model.set_weights(values)


def mlp():
    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(16, activation="relu", name="hidden"),
            keras.layers.Dense(10, name="logits"),
        ],
        name="mlp",
    )
    seeded(m, 1)
    # One training step, so that the files hold optimizer state the reader must skip.
    m.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(2)
    m.fit(rng.standard_normal((8, 20)), rng.standard_normal((8, 10)), epochs=1, verbose=0)
    return m


def cnn():
    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(8, 3, name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, name="fc"),
        ],
        name="cnn",
    )
    seeded(m, 3)
    return m


def seq():
    """Functional model: Embedding, Conv1D, MultiHeadAttention, LSTM, a nested Sequential."""
    keras.utils.set_random_seed(0)
    tokens = keras.Input((7,), dtype="int32")
    e = keras.layers.Embedding(50, 8, name="embed")(tokens)
    c = keras.layers.Conv1D(6, 3, name="conv1d_layer")(e)
    a = keras.layers.MultiHeadAttention(2, 4, name="mha")(e, e)
    r = keras.layers.LSTM(6, name="lstm")(a)
    h = keras.layers.Concatenate()([keras.layers.GlobalMaxPooling1D()(c), r])
    head = keras.Sequential([keras.layers.Dense(5, use_bias=False, name="head_dense")], name="head")
    m = keras.Model(tokens, head(h), name="seq")
    seeded(m, 4)
    return m


def half():
    """bfloat16 and float16 layers (Keras stores bfloat16 as 2-byte opaque data)."""
    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(10, dtype="bfloat16", name="dense_bf16"),
            keras.layers.Dense(9, dtype="float16", name="dense_f16"),
        ],
        name="half",
    )
    rng = np.random.default_rng(5)
    m.set_weights([rng.standard_normal(tuple(v.shape)).astype(np.float32) for v in m.weights])
    return m


@keras.saving.register_keras_serializable(package="weightscope_fixtures")
class ScaledDense(keras.layers.Layer):
    """A custom layer: its own 1-D variable, and a Dense sub-layer as an attribute."""

    def __init__(self, units, **kw):
        super().__init__(**kw)
        self.units = units
        self.proj = keras.layers.Dense(units, name="proj")

    def build(self, shape):
        self.scale = self.add_weight(shape=(self.units,), name="scale")

    def call(self, x):
        return self.proj(x) * self.scale

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="weightscope_fixtures")
class Subclassed(keras.Model):
    """A subclassed model: layers in an attribute list, a model-level variable."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.blocks = [ScaledDense(12, name="b0"), ScaledDense(12, name="b1")]
        self.out_layer = keras.layers.Dense(4, name="out")

    def build(self, shape):
        self.temp = self.add_weight(shape=(3, 3), name="temp")
        super().build(shape)

    def call(self, x):
        for b in self.blocks:
            x = b(x)
        return self.out_layer(x)


def sub():
    keras.utils.set_random_seed(0)
    m = Subclassed(name="sub")
    m(np.zeros((1, 10), np.float32))
    seeded(m, 7)
    return m


# Variables of classes the reader does not know are named by position (`vars.<i>`, a 2-D to
# 4-D first one `weight`): the names it must give the subclassed model's custom variables.
BY_POSITION = {"sub/temp": "sub.weight", "sub/b0/scale": "b0.vars.0", "sub/b1/scale": "b1.vars.0"}


def expected_name(model, v):
    """The name the reader must give variable `v`: its Keras path below the model, dotted,
    with kernels and embeddings renamed `weight` (not einsum kernels that are not 2-D)."""
    if v.path in BY_POSITION:
        return BY_POSITION[v.path]
    comps = v.path.split("/")
    if comps[0] == model.name:
        comps = comps[1:]
    top = model.get_layer(comps[0]).__class__.__name__
    last = comps[-1]
    if last == "kernel" and not (top in EINSUM and len(v.shape) != 2):
        last = "weight"
    elif last == "embeddings":
        last = "weight"
    return ".".join(comps[:-1] + [last])


def to_torch(v):
    x = keras.ops.convert_to_numpy(v.value) if hasattr(v, "value") else np.asarray(v)
    if str(v.dtype) == "bfloat16":
        # numpy has no bfloat16: go through the bits.
        return torch.from_numpy(x.view(np.uint16).astype(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(x))


def reference(model, path):
    tensors = {expected_name(model, v): to_torch(v).contiguous() for v in model.weights}
    save_file(tensors, path)
    return [expected_name(model, v) for v in model.weights]


def tf2_layout(model, path):
    """A tf.keras 2.x `model.save("x.h5")` file: weight names "<layer>/<var>:0", datasets at
    model_weights/<layer>/<weight name>, and an optimizer_weights group (to be skipped)."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.15.0"
        f.attrs["backend"] = b"tensorflow"
        layers = [
            {"class_name": layer.__class__.__name__, "config": {"name": layer.name}}
            for layer in model.layers
        ]
        config = {"class_name": "Sequential", "config": {"name": model.name, "layers": layers}}
        f.attrs["model_config"] = json.dumps(config).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([layer.name.encode() for layer in model.layers])
        g.attrs["backend"] = b"tensorflow"
        g.attrs["keras_version"] = b"2.15.0"
        for layer in model.layers:
            lg = g.create_group(layer.name)
            names = [f"{layer.name}/{v.path.split('/')[-1]}:0" for v in layer.weights]
            # Keras 2 saves an empty list as an empty float array.
            lg.attrs["weight_names"] = np.array([n.encode() for n in names]) if names else np.array([])
            for n, v in zip(names, layer.weights):
                lg.create_dataset(n, data=keras.ops.convert_to_numpy(v.value))
        opt = f.create_group("optimizer_weights")
        first = model.layers[0]
        name = f"Adam/{first.name}/kernel/m:0"
        opt.attrs["weight_names"] = np.array([name.encode()])
        opt.create_dataset(name, data=np.ones(tuple(first.weights[0].shape), np.float32))


def gzip_variant(src, dst):
    """Copy a Keras 3 .weights.h5 with 2-D+ datasets chunked, gzip + shuffle compressed, and
    1-D datasets stored big-endian."""
    with h5py.File(src, "r") as fin, h5py.File(dst, "w") as fout:

        def copy(name, obj):
            if isinstance(obj, h5py.Group):
                g = fout.require_group(name)
                for k, a in obj.attrs.items():
                    g.attrs[k] = a
            else:
                data = obj[()]
                if data.ndim >= 2:
                    chunks = tuple(max(1, s // 2) for s in data.shape)
                    fout.create_dataset(
                        name, data=data, chunks=chunks, compression="gzip", shuffle=True
                    )
                else:
                    fout.create_dataset(name, data=data.astype(data.dtype.newbyteorder(">")))

        for k, a in fin.attrs.items():
            fout.attrs[k] = a
        fin.visititems(copy)


def corrupt(keras_file, h5_file):
    d = OUT / "corrupt"
    d.mkdir()
    data = h5_file.read_bytes()
    (d / "truncated.h5").write_bytes(data[: len(data) // 2])
    (d / "garbage.h5").write_bytes(b"this is not an HDF5 file\n" * 4)
    archive = keras_file.read_bytes()
    (d / "truncated.keras").write_bytes(archive[: len(archive) // 2])
    with zipfile.ZipFile(keras_file) as zin, zipfile.ZipFile(d / "no-weights.keras", "w") as zout:
        for name in ("config.json", "metadata.json"):
            zout.writestr(name, zin.read(name))
    with zipfile.ZipFile(keras_file) as zin, zipfile.ZipFile(d / "bad-weights.keras", "w") as zout:
        for name in ("config.json", "metadata.json"):
            zout.writestr(name, zin.read(name))
        weights = zin.read("model.weights.h5")
        # The signature and superblock survive; everything after is zeroed.
        zout.writestr("model.weights.h5", weights[:64] + bytes(len(weights) - 64))


def seeds():
    """Tiny files (a 3→2 Dense and a BatchNormalization) in every format, for fuzzing."""
    if SEEDS.exists():
        shutil.rmtree(SEEDS)
    SEEDS.mkdir(parents=True)
    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, name="d"), keras.layers.BatchNormalization()],
        name="tiny",
    )
    seeded(m, 6)
    m.save(SEEDS / "tiny.keras")
    m.save_weights(SEEDS / "tiny.weights.h5")
    m.save(SEEDS / "tiny.h5")
    with h5py.File(SEEDS / "tiny.legacy-weights.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, m)
    tf2_layout(m, SEEDS / "tiny.tf2.h5")
    gzip_variant(SEEDS / "tiny.weights.h5", SEEDS / "tiny.gzip.weights.h5")
    with zipfile.ZipFile(SEEDS / "tiny.keras") as zin, zipfile.ZipFile(
        SEEDS / "tiny.deflated.keras", "w", compression=zipfile.ZIP_DEFLATED
    ) as zout:
        for entry in zin.namelist():
            zout.writestr(entry, zin.read(entry))
    total = sum(p.stat().st_size for p in SEEDS.iterdir())
    print(f"wrote {len(list(SEEDS.iterdir()))} seeds, {total} bytes, to {SEEDS}")


def main():
    seeds()
    # Everything here is generated but the README.
    if OUT.exists():
        for p in OUT.iterdir():
            if p.name != "README.md":
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {
        "generator": "tools/make_keras_fixtures.py",
        "keras": keras.__version__,
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
        "backend": keras.backend.backend(),
        "files": [],
    }

    def add(file, model_name, fmt, names, ordered):
        manifest["files"].append(
            {
                "file": file,
                "reference": f"{model_name}.reference.safetensors",
                "format": fmt,
                "ordered": ordered,
                "names": names,
            }
        )

    for build in (mlp, cnn, seq, half, sub):
        m = build()
        name = m.name
        names = reference(m, OUT / f"{name}.reference.safetensors")
        # Sequential models keep model.weights order in every format; the functional one
        # differs inside MultiHeadAttention (its children in attribute-name order).
        simple = name not in ("seq", "sub")
        m.save(OUT / f"{name}.keras")
        add(f"{name}.keras", name, "keras", names, simple)
        m.save_weights(OUT / f"{name}.weights.h5")
        # No config: layers in name order.
        add(f"{name}.weights.h5", name, "keras (weights.h5)", names, False)
        if name not in ("half", "sub"):
            m.save(OUT / f"{name}.h5")
            add(f"{name}.h5", name, "keras (legacy h5)", names, simple)
        if name == "mlp":
            with h5py.File(OUT / "mlp.legacy-weights.h5", "w") as f:
                legacy_h5_format.save_weights_to_hdf5_group(f, m)
            add("mlp.legacy-weights.h5", name, "keras (legacy h5 weights)", names, True)
            gzip_variant(OUT / "mlp.weights.h5", OUT / "mlp.gzip.weights.h5")
            add("mlp.gzip.weights.h5", name, "keras (weights.h5)", names, False)
            with zipfile.ZipFile(OUT / "mlp.keras") as zin, zipfile.ZipFile(
                OUT / "mlp.deflated.keras", "w", compression=zipfile.ZIP_DEFLATED
            ) as zout:
                for entry in zin.namelist():
                    zout.writestr(entry, zin.read(entry))
            add("mlp.deflated.keras", name, "keras", names, True)
        if name in ("mlp", "cnn"):
            tf2_layout(m, OUT / f"{name}.tf2.h5")
            add(f"{name}.tf2.h5", name, "keras (legacy h5)", names, True)
    corrupt(OUT / "mlp.keras", OUT / "mlp.h5")
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {len(list(OUT.rglob('*')))} files, {total} bytes, to {OUT}")
    # Self-check: every archive's weights are an HDF5 file with the layout documented.
    with zipfile.ZipFile(OUT / "mlp.keras") as z:
        with h5py.File(io.BytesIO(z.read("model.weights.h5"))) as f:
            assert f["layers/dense/vars"].attrs["name"] == "hidden"
            assert "optimizer" in f


if __name__ == "__main__":
    main()
