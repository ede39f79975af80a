"""LoRA (PEFT) fixtures: a seeded adapter file and weightwatcher 0.7.7's analysis of it with
peft=True (each lora_A/lora_B pair analysed as B·A from its top-r singular values).

    .venv-oracle/bin/python tools/make_lora_fixtures.py      (from the repository root)

Writes tests/fixtures/lora/adapter_model.safetensors and tests/fixtures/lora/ww_peft.json.
"""
import json
import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
import numpy as np  # noqa: E402
import torch  # noqa: E402
import weightwatcher  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

torch.set_num_threads(1)
OUT = "tests/fixtures/lora"
rng = np.random.default_rng(20261123)
sd = {}
# PEFT names and layouts: lora_A (r, in), lora_B (out, r); ranks ≥ 8 (weightscope's --min-evals).
shapes = [("q_proj", 96, 64, 8), ("v_proj", 64, 96, 8), ("fc1", 160, 64, 16), ("fc2", 64, 160, 12)]
for i, (name, out, inp, r) in enumerate(shapes):
    pre = f"base_model.model.layers.{i}.{name}"
    a = rng.standard_normal((r, inp)) / np.sqrt(inp)
    # B with a heavy-tailed column scale, so the r eigenvalues are spread.
    b = rng.standard_t(3, size=(out, r)) * 0.05
    sd[f"{pre}.lora_A.weight"] = torch.tensor(a, dtype=torch.float32)
    sd[f"{pre}.lora_B.weight"] = torch.tensor(b, dtype=torch.float32)
os.makedirs(OUT, exist_ok=True)
save_file(sd, f"{OUT}/adapter_model.safetensors")

watcher = weightwatcher.WeightWatcher(model={k: v.double() for k, v in sd.items()})
df = watcher.analyze(peft=True)
rows = []
for _, row in df.iterrows():
    if "lora_BA" not in row["longname"]:
        continue
    rows.append({k: (float(row[k]) if isinstance(row[k], (int, float, np.floating, np.integer)) else str(row[k]))
                 for k in ["longname", "N", "M", "num_evals", "alpha", "xmin", "D", "lambda_max", "stable_rank",
                           "entropy", "norm", "log_spectral_norm", "alpha_weighted"] if k in row})
json.dump({"weightwatcher": weightwatcher.__version__, "rows": rows}, open(f"{OUT}/ww_peft.json", "w"), indent=1)
print(json.dumps(rows, indent=1))
