#!/usr/bin/env python3
"""Reference fixtures for weightscope's future Python package (tests/fixtures/python/).

Run in the oracle venv of tools/setup-oracle.sh, from the repository root:

    /root/.cache/weightscope/oracle-venv/bin/python tools/make_python_fixtures.py

For four small torch modules built from torch.manual_seed (a CNN, an LSTM language model,
a transformer encoder, a GPT-2-style model with Conv1D layers) it writes:

  <name>.safetensors  the module's state_dict() in float32 (tied tensors saved as copies),
                      so a test rebuilds the same module class and loads these weights
                      instead of relying on torch's RNG giving the same numbers elsewhere;
  <name>.ww.json      weightwatcher 0.7.7's analysis of the same weights, once per input kind:
                      "module"         WeightWatcher(model=module).analyze()
                      "module_mp_fit"  WeightWatcher(model=module).analyze(mp_fit=True, randomize=False)
                      "state_dict"     WeightWatcher(model=module.state_dict()).analyze()
                      "folder"         WeightWatcher(model=DIR).analyze(), DIR holding only
                                       <name>.safetensors copied as DIR/model.safetensors
                      each with the details columns (in order), the rows (NaN -> null) and
                      get_summary(); plus the module's named_modules() and state_dict() keys.

Also: gpt2_sharded/ (the GPT-2 weights split into three model-0000X-of-00003.safetensors
shards plus model.safetensors.index.json) with its analysis in gpt2_sharded.ww.json, both
with the index and without it (the second shows 0.7.7's layer-id bookkeeping across shards),
and input_kinds.json: what 0.7.7 does with other inputs (a checkpoint dict wrapping the
state dict under "state_dict", a single-file path).

Every run is checked against the layer_id/name conventions documented in
tests/fixtures/python/README.md (predicted here from named_modules() / state-dict keys
alone); the script stops if weightwatcher disagrees.

CUDA is hidden: with a GPU, 0.7.7 converts weights to float16 (RMT_Util.torch_T_to_np).
"""

import glob
import importlib.metadata as md
import json
import math
import os
import shutil
import sys
import tempfile

os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np  # noqa: E402
import torch  # noqa: E402
import weightwatcher  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(1)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "python")


# --------------------------------------------------------------------------------------
# Models. The classes are small on purpose and easy to copy into a test: a test rebuilds
# the class, then load_state_dict(safetensors.torch.load_file("<name>.safetensors")).
# --------------------------------------------------------------------------------------


class SmallCNN(nn.Module):
    """3x8x8 input. ESD sizes: conv 27 and 144 eigenvalues, fc1 64, fc2 10."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3),  # M*rf = 3*9 = 27
            nn.BatchNorm2d(16),  # 'norm' -> skipped, still takes a layer_id
            nn.ReLU(),
            nn.Conv2d(16, 32, 3),  # M*rf = 16*9 = 144
            nn.ReLU(),
        )
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * 4 * 4, 64)  # 512 x 64
        self.drop = nn.Dropout(0.1)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc2(self.drop(torch.relu(self.fc1(self.flatten(self.features(x))))))


class LSTMLM(nn.Module):
    """Embedding + 1-layer LSTM + Linear. The LSTM's weight_ih_l0/weight_hh_l0 are not layers
    for weightwatcher (the nn.LSTM module has no `weight`; the keys do not end in '.weight')."""

    def __init__(self, vocab=100, dim=32, hidden=48):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)  # 100 x 32
        self.lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.decoder = nn.Linear(hidden, vocab)  # 100 x 48

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))
        return self.decoder(out)


class TinyTransformer(nn.Module):
    """Embedding + 2 x nn.TransformerEncoderLayer + Linear head. MultiheadAttention's
    in_proj_weight is not a layer for weightwatcher; its out_proj (a
    NonDynamicallyQuantizableLinear) is."""

    def __init__(self, vocab=50, d=32, heads=4, ff=64, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)  # 50 x 32
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, vocab)  # 50 x 32

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens)))


try:  # the real Hugging Face class if transformers is installed
    from transformers.pytorch_utils import Conv1D

    CONV1D_SOURCE = "transformers.pytorch_utils.Conv1D " + md.version("transformers")
except Exception:  # noqa: BLE001

    class Conv1D(nn.Module):
        """Same parameters, init and forward as transformers.pytorch_utils.Conv1D:
        weight (nx, nf) = (in, out), the transpose of nn.Linear's; y = x @ W + b.
        weightwatcher types a module CONV1D because 'conv1d' is in str(type(module)).lower(),
        so this class and Hugging Face's are treated alike."""

        def __init__(self, nf, nx):
            super().__init__()
            self.nf = nf
            self.weight = nn.Parameter(torch.empty(nx, nf))
            self.bias = nn.Parameter(torch.zeros(nf))
            nn.init.normal_(self.weight, std=0.02)

        def forward(self, x):
            size_out = x.size()[:-1] + (self.nf,)
            x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
            return x.view(size_out)

    CONV1D_SOURCE = "local copy of transformers.pytorch_utils.Conv1D (transformers not installed)"


class GPT2Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.c_attn = Conv1D(3 * d, d)  # weight 32 x 96
        self.c_proj = Conv1D(d, d)  # weight 32 x 32

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, d))


class GPT2MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c_fc = Conv1D(4 * d, d)  # weight 32 x 128
        self.c_proj = Conv1D(d, 4 * d)  # weight 128 x 32

    def forward(self, x):
        return self.c_proj(nn.functional.gelu(self.c_fc(x)))


class GPT2Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = GPT2Attention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = GPT2MLP(d)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TinyGPT2(nn.Module):
    """GPT-2 layout (wte, wpe, h.N.{ln_1,attn.c_attn,attn.c_proj,ln_2,mlp.c_fc,mlp.c_proj},
    ln_f) with lm_head tied to wte, as GPT2LMHeadModel ties them."""

    def __init__(self, vocab=64, ctx=16, d=32, heads=4, n_layer=2):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)  # 64 x 32
        self.wpe = nn.Embedding(ctx, d)  # 16 x 32
        self.h = nn.ModuleList([GPT2Block(d, heads) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied

    def forward(self, tokens):
        pos = torch.arange(tokens.shape[1])
        x = self.wte(tokens) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def build(name):
    torch.manual_seed({"cnn": 1, "lstm": 2, "transformer": 3, "gpt2": 4}[name])
    m = {"cnn": SmallCNN, "lstm": LSTMLM, "transformer": TinyTransformer, "gpt2": TinyGPT2}[name]()
    # Spread the spectra a little beyond torch's init, so power-law fits have a tail:
    # one seeded heavy-tailed (Student-t) perturbation per parameter with >= 2 dims.
    with torch.no_grad():
        for _, p in m.named_parameters():
            if p.dim() >= 2:
                t = torch.distributions.StudentT(3.0).sample(p.shape)  # global seed
                p.add_(0.05 * t * p.std())
    return m.eval()


# --------------------------------------------------------------------------------------
# JSON helpers
# --------------------------------------------------------------------------------------


def jsonable(v):
    """numpy/pandas scalars -> Python; NaN -> None; +-inf -> "inf"/"-inf" (JSON has no inf)."""
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        if math.isnan(f):
            return None
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if v is None or isinstance(v, (int, str)):
        return v
    try:  # pandas NA / NaT
        import pandas as pd

        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def run_ww(model, **kw):
    watcher = weightwatcher.WeightWatcher(model=model)
    df = watcher.analyze(**kw)
    return {
        "call": "WeightWatcher(model=<input>).analyze(" + ", ".join(f"{k}={v!r}" for k, v in kw.items()) + ")",
        "columns": [str(c) for c in df.columns],
        "details": [{str(k): jsonable(v) for k, v in r.items()} for r in df.to_dict(orient="records")],
        "summary": {k: jsonable(v) for k, v in watcher.get_summary().items()},
    }


# --------------------------------------------------------------------------------------
# The conventions documented in README.md, predicted without weightwatcher.
# --------------------------------------------------------------------------------------

MIN_EVALS, MAX_EVALS, MAX_N = 8, 15000, 50000  # 0.7.7 defaults (constants.py)


def ww_type_of_module(mod):
    """PyTorchLayer.layer_type: isinstance or substring of str(type(module)).lower()."""
    s = str(type(mod)).lower()
    if isinstance(mod, nn.Linear) or "linear" in s:
        return "dense"
    if isinstance(mod, nn.Conv1d) or "conv1d" in s:
        return "conv1d"
    if isinstance(mod, nn.Conv2d) or "conv2d" in s:
        return "conv2d"
    if isinstance(mod, nn.Embedding) or "embedding" in s:
        return "embedding"
    if "norm" in s:
        return "norm"
    return "unknown"


def n_evals(shape, wtype):
    if wtype == "conv2d":
        return min(shape[0], shape[1]) * shape[2] * shape[3], max(shape[0], shape[1])
    return min(shape), max(shape)


def predict_module(m):
    """[(layer_id, name, longname)] for WeightWatcher(model=module).analyze() defaults."""
    rows = []
    for i, (longname, mod) in enumerate(m.named_modules()):  # id = index, root '' is 0
        w = getattr(mod, "weight", None)
        t = ww_type_of_module(mod)
        if w is None or t in ("unknown", "norm"):
            continue
        ev, n = n_evals(tuple(w.shape), t)
        if ev < MIN_EVALS or ev > MAX_EVALS or n > MAX_N:
            continue
        rows.append((i, longname.split(".")[-1], longname))
    return rows


def predict_state_dict(keys_shapes, start=1):
    """PyStateDictLayer.get_layer_iterator: every key ending in '.weight', counted from
    `start`; only 2-D (dense) and 4-D (conv2d) tensors become rows; name = longname =
    key without '.weight'."""
    rows, i = [], start
    for k, shape in keys_shapes:
        if not k.endswith(".weight"):
            continue
        t = {2: "dense", 4: "conv2d"}.get(len(shape), "unknown")
        if t != "unknown":
            ev, n = n_evals(shape, t)
            if MIN_EVALS <= ev <= MAX_EVALS and n <= MAX_N:
                rows.append((i, k[: -len(".weight")], k[: -len(".weight")]))
        i += 1
    return rows


def observed(run):
    return [(r["layer_id"], r["name"], r["longname"]) for r in run["details"]]


def check(run, expected, what):
    got = observed(run)
    if got != expected:
        sys.exit(f"{what}: weightwatcher rows {got}\n  differ from the documented convention {expected}")
    for r in run["details"]:
        a = r["alpha"]
        if not (isinstance(a, float) and math.isfinite(a)):
            sys.exit(f"{what}: layer {r['layer_id']} {r['name']} has alpha {a!r}")
    print(f"  {what}: {len(got)} rows, ids {[g[0] for g in got]} as documented")


# --------------------------------------------------------------------------------------


def versions():
    return {
        "python": sys.version.split()[0],
        "weightwatcher": weightwatcher.__version__,
        **{d: md.version(d) for d in ("torch", "numpy", "pandas", "scipy", "powerlaw", "safetensors")},
        "conv1d_class": CONV1D_SOURCE,
    }


def folder_run(tensors_file, tmp, label):
    d = os.path.join(tmp, label)
    os.makedirs(d)
    shutil.copy(tensors_file, os.path.join(d, "model.safetensors"))
    return run_ww(d)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in glob.glob(os.path.join(OUT, "*.json")) + glob.glob(os.path.join(OUT, "*.safetensors")):
        os.remove(f)
    shutil.rmtree(os.path.join(OUT, "gpt2_sharded"), ignore_errors=True)
    tmp = tempfile.mkdtemp(prefix="ww-py-fixtures-")
    vers = versions()
    try:
        for name in ("cnn", "lstm", "transformer", "gpt2"):
            print(name)
            m = build(name)
            sd = m.state_dict()
            st_path = os.path.join(OUT, f"{name}.safetensors")
            save_file({k: v.detach().float().contiguous().clone() for k, v in sd.items()}, st_path)
            # The file gives back the module's exact weights.
            back = load_file(st_path)
            assert list(back) == sorted(sd), "safetensors stores keys sorted"
            m2 = build(name)
            m2.load_state_dict(back)
            assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values()))

            runs = {
                "module": run_ww(m),
                "module_mp_fit": run_ww(m, mp_fit=True, randomize=False),
                "state_dict": run_ww(m.state_dict()),
                "folder": folder_run(st_path, tmp, name),
            }
            keys_shapes = [(k, tuple(v.shape)) for k, v in sd.items()]
            check(runs["module"], predict_module(m), f"{name}/module")
            check(runs["module_mp_fit"], predict_module(m), f"{name}/module_mp_fit")
            check(runs["state_dict"], predict_state_dict(keys_shapes, start=1), f"{name}/state_dict")
            # Folder: keys in safetensors (sorted) order, ids from 0 (see README).
            check(runs["folder"], predict_state_dict(sorted(keys_shapes), start=0), f"{name}/folder")
            # Same numbers whatever the input kind, row for row by longname.
            by_long = {r["longname"]: r for r in runs["module"]["details"]}
            for r in runs["state_dict"]["details"]:
                if r["longname"] in by_long:
                    assert by_long[r["longname"]]["alpha"] == r["alpha"], (name, r["longname"])

            doc = {
                "model": name,
                "class": type(m).__name__,
                "weights": f"{name}.safetensors",
                "versions": vers,
                "named_modules": [
                    {
                        "index": i,
                        "longname": ln,
                        "class": type(mod).__name__,
                        "weight_shape": list(mod.weight.shape)
                        if isinstance(getattr(mod, "weight", None), torch.Tensor)
                        else None,
                    }
                    for i, (ln, mod) in enumerate(m.named_modules())
                ],
                "state_dict_keys": [{"key": k, "shape": list(s)} for k, s in keys_shapes],
                "runs": runs,
            }
            with open(os.path.join(OUT, f"{name}.ww.json"), "w") as f:
                json.dump(doc, f, indent=1, allow_nan=False)
                f.write("\n")

            if name == "gpt2":
                gpt2_sharded(sd, keys_shapes, tmp, vers)
        input_kinds(tmp, vers)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def gpt2_sharded(sd, keys_shapes, tmp, vers):
    """Three shards in the Hugging Face layout: 1 = embeddings and block 0, 2 = block 1,
    3 = ln_f and lm_head; the index's weight_map lists keys in state_dict() order.
    (Three, not two: 0.7.7's id bookkeeping without an index goes wrong from shard 3 on.)"""
    d = os.path.join(OUT, "gpt2_sharded")
    os.makedirs(d)
    keys = [k for k, _ in keys_shapes]
    shards = {
        "model-00001-of-00003.safetensors": [k for k in keys if k.startswith(("wte.", "wpe.", "h.0."))],
        "model-00002-of-00003.safetensors": [k for k in keys if k.startswith("h.1.")],
        "model-00003-of-00003.safetensors": [k for k in keys if k.startswith(("ln_f.", "lm_head."))],
    }
    assert sorted(k for ks in shards.values() for k in ks) == sorted(keys)
    weight_map = {}
    for fname, ks in shards.items():
        save_file({k: sd[k].detach().float().contiguous().clone() for k in ks}, os.path.join(d, fname))
    for k in keys:
        weight_map[k] = next(f for f, ks in shards.items() if k in ks)
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump(
            {"metadata": {"total_size": sum(v.numel() * 4 for v in sd.values())}, "weight_map": weight_map}, f, indent=1
        )
        f.write("\n")
    print("gpt2_sharded")
    with_index = run_ww(d)
    # Layer order = weight_map keys grouped by file (files sorted), ids from 0.
    check(with_index, predict_state_dict([(k, tuple(sd[k].shape)) for k in keys], start=0), "gpt2_sharded/with_index")
    # Without the index: each shard's keys sorted, shard by shard; the start id of shard j is
    # the previous shard's start plus ALL '.weight' keys yielded so far (0.7.7 adds its
    # running total again for every shard), so from shard 3 on the ids skip values.
    d2 = os.path.join(tmp, "gpt2_sharded_no_index")
    shutil.copytree(d, d2)
    os.remove(os.path.join(d2, "model.safetensors.index.json"))
    no_index = run_ww(d2)
    expected, start, yielded = [], 0, 0
    for fname in sorted(shards):
        start += yielded
        ks = sorted((k, tuple(sd[k].shape)) for k in shards[fname])
        n_weight = sum(1 for k, _ in ks if k.endswith(".weight"))
        expected += predict_state_dict(ks, start=start)
        yielded += n_weight
    check(no_index, expected, "gpt2_sharded/no_index")
    doc = {
        "model": "gpt2",
        "folder": "gpt2_sharded",
        "versions": vers,
        "shards": shards,
        "runs": {"with_index": with_index, "no_index": no_index},
        "no_index_folder": "gpt2_sharded without model.safetensors.index.json",
    }
    with open(os.path.join(OUT, "gpt2_sharded.ww.json"), "w") as f:
        json.dump(doc, f, indent=1, allow_nan=False)
        f.write("\n")


def input_kinds(tmp, vers):
    """What 0.7.7 does with other inputs, recorded rather than assumed."""
    out = {"versions": vers}
    sd = load_file(os.path.join(OUT, "cnn.safetensors"))
    base = run_ww(dict(sd))
    # issue #243 handling in WeightWatcher.set_model_: a dict with a 'state_dict' key is unwrapped.
    wrapped = run_ww({"state_dict": dict(sd), "epoch": 3})
    out["checkpoint_dict_with_state_dict_key"] = {
        "input": "{'state_dict': <cnn state dict>, 'epoch': 3}",
        "same_details_as_plain_state_dict": wrapped["details"] == base["details"],
    }
    # start_ids=1 on a module; start_ids=0 on a state dict (0 is falsy, so the dict keeps 1).
    m = build("cnn")
    out["module_start_ids_1"] = {
        "call": "analyze(start_ids=1)",
        "ids": [r["layer_id"] for r in run_ww(m, start_ids=1)["details"]],
        "ids_default": [r["layer_id"] for r in run_ww(m)["details"]],
    }
    out["state_dict_start_ids_0"] = {
        "call": "analyze(start_ids=0)",
        "ids": [r["layer_id"] for r in run_ww(dict(sd), start_ids=0)["details"]],
    }
    # A path to one .safetensors file (not a folder).
    try:
        r = run_ww(os.path.join(OUT, "cnn.safetensors"))
        out["single_file_path"] = {"result": "rows", "n_rows": len(r["details"])}
    except Exception as e:  # noqa: BLE001
        out["single_file_path"] = {"result": "exception", "type": type(e).__name__, "message": str(e)[:300]}
    # A folder whose file is not named model*.safetensors.
    d = os.path.join(tmp, "other_name")
    os.makedirs(d)
    shutil.copy(os.path.join(OUT, "cnn.safetensors"), os.path.join(d, "cnn.safetensors"))
    try:
        r = run_ww(d)
        out["folder_without_model_prefix"] = {"result": "rows", "n_rows": len(r["details"])}
    except Exception as e:  # noqa: BLE001
        out["folder_without_model_prefix"] = {"result": "exception", "type": type(e).__name__, "message": str(e)[:300]}
    with open(os.path.join(OUT, "input_kinds.json"), "w") as f:
        json.dump(out, f, indent=1, allow_nan=False)
        f.write("\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
