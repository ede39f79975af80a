#!/usr/bin/env python3
"""Generate the Python-oracle fixtures in tests/fixtures/oracle/.

Run from the repository root, after tools/setup-oracle.sh and tools/make_example.py:

    .venv-oracle/bin/python tools/make_fixtures.py

Writes (see tests/fixtures/oracle/README.md for the schemas):
  matrices.safetensors       seeded float32 test tensors "<case>.weight"
  ww_details.json            weightwatcher 0.7.7 analyze() rows for matrices.safetensors
  ww_summary.json            weightwatcher get_summary() for the same run
  ww_skipped.json            state-dict keys weightwatcher did not analyse, with the reason
  ww_details_example.json    same three for examples/mnist-cnn/model.safetensors
  ww_summary_example.json
  ww_skipped_example.json
  fits.json                  power-law fit cases: eigenvalues + WWFit + powerlaw 2.0.0 results

The reference packages are used as black-box oracles only.
Everything is deterministic: fixed numpy default_rng seeds, single-threaded BLAS,
CPU-only torch (weightwatcher switches to float16 weights + float32 GPU SVD when
CUDA is visible, so CUDA is hidden before anything is imported).
"""

import os

# Must happen before numpy / torch / weightwatcher are imported.
os.environ["CUDA_VISIBLE_DEVICES"] = ""
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import save_file as np_save_file  # noqa: E402
from safetensors.torch import load_file as torch_load_file  # noqa: E402

with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    import powerlaw  # noqa: E402
    import weightwatcher  # noqa: E402
    from weightwatcher.WW_powerlaw import pl_fit  # noqa: E402

torch.set_num_threads(1)

EVALS_THRESH = 1e-5  # weightwatcher constants.EVALS_THRESH (CPU path)


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------------------------------
# 1. test matrices
# --------------------------------------------------------------------------------------

def gauss(shape):
    def gen(rng):
        return rng.standard_normal(shape)
    return gen


def pareto_signed(shape, mu):
    """random sign x classical Pareto(x_m=1): P(|w|>x) = x^-mu, density ~ x^-(1+mu).

    Not rescaled: with 125k entries the largest |w| is ~ 125000^(1/mu) (~2.5e3 for
    mu=1.5), comfortably finite in float32."""
    def gen(rng):
        mag = 1.0 + rng.pareto(mu, size=shape)
        sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
        return sign * mag
    return gen


def spiked(shape, strengths):
    """N(0,1) noise + sum_k theta_k u_k v_k^T with random unit u_k (rows), v_k (cols).

    BBP threshold for singular values is (N*M)^(1/4) ~ 16.8 for 400x200 and the bulk
    edge is sqrt(N)+sqrt(M) ~ 34.1; theta = 120, 90, 60 give 3 well separated spikes."""
    def gen(rng):
        n, m = shape
        w = rng.standard_normal(shape)
        for theta in strengths:
            u = rng.standard_normal(n)
            u /= np.linalg.norm(u)
            v = rng.standard_normal(m)
            v /= np.linalg.norm(v)
            w += theta * np.outer(u, v)
        return w
    return gen


def rankdef(n, r, m):
    """(n x r) @ (r x m) of N(0,1) factors, computed in float64: rank r."""
    def gen(rng):
        return rng.standard_normal((n, r)) @ rng.standard_normal((r, m))
    return gen


def heavy(shape, b):
    """N(0,1) W times diag(d), d_j = (j+1)^-b: eigenvalues ~ N d_j^2, a power-law-like
    spectrum with density exponent ~ 1 + 1/(2b)."""
    def gen(rng):
        n, m = shape
        d = (np.arange(m, dtype=np.float64) + 1.0) ** (-b)
        return rng.standard_normal(shape) * d[None, :]
    return gen


# (case name, seed, generator). Seeds are fixed and distinct.
CASES = [
    ("gauss_1000x500", 1001, gauss((1000, 500))),
    ("gauss_400x400", 1002, gauss((400, 400))),
    ("gauss_300x100", 1003, gauss((300, 100))),
    ("gauss_100x300", 1004, gauss((100, 300))),  # wide: the tool must transpose
    ("pareto_mu1.5_500x250", 1005, pareto_signed((500, 250), 1.5)),
    ("pareto_mu2.5_500x250", 1006, pareto_signed((500, 250), 2.5)),
    ("pareto_mu3.5_500x250", 1007, pareto_signed((500, 250), 3.5)),
    ("pareto_mu5_500x250", 1008, pareto_signed((500, 250), 5.0)),
    ("spiked_400x200", 1009, spiked((400, 200), (120.0, 90.0, 60.0))),
    ("rankdef_300x200", 1010, rankdef(300, 20, 200)),
    ("conv_64x32x3x3", 1011, gauss((64, 32, 3, 3))),  # (out, in, kh, kw)
    ("conv_16x3x5x5", 1012, gauss((16, 3, 5, 5))),
    ("tiny_12x10", 1013, gauss((12, 10))),
    ("tiny_20x15", 1014, gauss((20, 15))),
    ("heavy_600x300", 1015, heavy((600, 300), 0.4)),
]


def make_matrices():
    out = {}
    for name, seed, gen in CASES:
        rng = np.random.default_rng(seed)
        w = np.ascontiguousarray(gen(rng).astype(np.float32))
        assert np.all(np.isfinite(w)), name
        out[f"{name}.weight"] = w
    return out


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def to_json_value(v):
    """numpy/pandas scalars -> plain JSON values; NaN/inf/None -> None."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, str):
        return v
    try:
        import pandas as pd
        if v is pd.NA or v is pd.NaT:
            return None
    except ImportError:
        pass
    raise TypeError(f"unexpected value {v!r} of type {type(v)}")


def write_json(path, obj):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, indent=1, allow_nan=False)
        f.write("\n")


def write_fits_json(path, cases):
    """A JSON list of objects, pretty-printed, but each "evals" array on one line
    (placed last in its object) to keep the file small and diffable."""
    parts = []
    for case in cases:
        c = dict(case)
        ev = c.pop("evals")
        head = json.dumps(c, indent=1, allow_nan=False)
        assert head.endswith("\n}")
        parts.append(head[:-2] + ',\n "evals": ' + json.dumps(ev, allow_nan=False) + "\n}")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("[\n" + ",\n".join(parts) + "\n]\n")


DETAIL_KEYS = [
    "layer_id", "name", "longname", "layer_type", "N", "M", "Q", "rf", "num_evals",
    "sv_max", "sv_min", "rank_loss", "weak_rank_loss", "lambda_max",
    "alpha", "xmin", "xmax", "D", "sigma", "num_pl_spikes", "status", "warning",
    "norm", "log_norm", "spectral_norm", "log_spectral_norm", "alpha_weighted",
    "log_alpha_norm", "stable_rank", "matrix_rank", "entropy",
]


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.messages = []

    def emit(self, record):
        try:
            self.messages.append(record.getMessage())
        except Exception:  # pragma: no cover
            pass


def run_weightwatcher(state_dict):
    """analyze() with default options on a dict of torch tensors.

    Returns (rows, summary, skipped, stdout_text)."""
    wlog = logging.getLogger("weightwatcher")
    old_level, old_prop = wlog.level, wlog.propagate
    cap = _Capture()
    wlog.addHandler(cap)
    wlog.setLevel(logging.DEBUG)
    wlog.propagate = False
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            watcher = weightwatcher.WeightWatcher(model=state_dict)
            details = watcher.analyze()  # DEFAULT options
            summary = watcher.get_summary()
    finally:
        wlog.removeHandler(cap)
        wlog.setLevel(old_level)
        wlog.propagate = old_prop

    rows = []
    for rec in details.to_dict(orient="records"):
        rows.append({k: to_json_value(rec.get(k)) for k in DETAIL_KEYS})

    analysed = {r["longname"] for r in rows}
    # PyStateDictLayer ids: start at 1, one per "<name>.weight" key, in dict order.
    skipped = []
    layer_id = 1
    for key in state_dict:
        if not key.endswith(".weight"):
            owner = key.rsplit(".", 1)[0]
            skipped.append({
                "key": key, "layer_id": None,
                "reason": "not a '.weight' key: weightwatcher's state-dict iterator only yields "
                          "'<name>.weight' entries"
                          + (f" (this is the bias of layer '{owner}', not analysed separately)"
                             if key.endswith(".bias") and f"{owner}.weight" in state_dict else ""),
            })
            continue
        name = key[: -len(".weight")]
        if name not in analysed:
            reason = [m for m in cap.messages
                      if ("not supported" in m or "is skipped" in m)
                      and f"Layer {layer_id} {name}" in m]
            skipped.append({"key": key, "layer_id": layer_id,
                            "reason": reason[0] if reason else "unknown (no log message)"})
        layer_id += 1

    summary = {k: to_json_value(v) for k, v in summary.items()}
    return rows, summary, skipped, buf.getvalue()


# --------------------------------------------------------------------------------------
# eigenvalues as weightwatcher computes them (numpy, float64)
# --------------------------------------------------------------------------------------

def ww_style_evals(w32):
    """Pooled ESD with weightwatcher's default orientation and conv2d_norm.

    2-D: sv of W (float64) squared, sorted ascending (M values).
    4-D (out,in,kh,kw) with out+in >= kh+kw (channels LAST): slices W[:,:,i,j],
    transposed so rows >= cols, times np.sqrt(1/2) (conv2d_norm with conv2d_count=1,
    i.e. evals x 0.5), sv squared, all kh*kw slices pooled and sorted ascending."""
    w = w32.astype(np.float64)
    if w.ndim == 2:
        mats = [w if w.shape[0] >= w.shape[1] else w.T]
        scale = None
    elif w.ndim == 4:
        assert w.shape[0] + w.shape[1] >= w.shape[2] + w.shape[3]
        mats = []
        for i in range(w.shape[2]):
            for j in range(w.shape[3]):
                s = w[:, :, i, j]
                mats.append(s if s.shape[0] >= s.shape[1] else s.T)
        scale = np.sqrt(1 / 2.0)  # == weightwatcher's np.sqrt(conv2d_count/2.0)
    else:
        raise ValueError(w.shape)
    evals = []
    for m in mats:
        if scale is not None:
            m = m * scale
        sv = np.linalg.svd(m, compute_uv=False)
        evals.append(sv * sv)
    return np.sort(np.concatenate(evals))


# --------------------------------------------------------------------------------------
# power-law fits
# --------------------------------------------------------------------------------------

def fit_ww(evals):
    nz = evals[evals > EVALS_THRESH]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):  # small-N path prints "SMALL N PL FIT"
        fit = pl_fit(data=nz, xmax=None, verbose=False, pl_package="ww")
    return {
        "n": int(len(nz)),
        "small_n": bool(len(nz) < 20),
        "alpha": to_json_value(fit.alpha),
        "xmin": to_json_value(fit.xmin),
        "xmax": to_json_value(fit.xmax),
        "D": to_json_value(fit.D),
        "sigma": to_json_value(fit.sigma),
        "num_pl_spikes": int(np.sum(evals >= fit.xmin)),
    }


def analytic_alpha(nz, xmin):
    tail = nz[nz >= xmin]
    return 1.0 + len(tail) / np.sum(np.log(tail / xmin))


def fit_powerlaw(nz, xmax=None):
    """powerlaw 2.0.0 Fit with default options (continuous, likelihood, KS 'D' for xmin).

    powerlaw 2.0.0's Power_Law.fit() keeps the closed-form continuous MLE
        alpha0 = 1 + n / sum(ln(x_i / xmin))   (Clauset eq. 3.1, no (n-1) correction)
    only when 1.5 < alpha0 <= 3 (continuous data, force_numerical_fit=False); note it
    does NOT look at xmax for this rule. Otherwise it minimises the negative
    log-likelihood numerically (scipy.optimize.minimize, Nelder-Mead, tol=1e-4, started
    at max(alpha0, 1)) within Power_Law.DEFAULT_PARAMETER_RANGES alpha in [0, 3].
    A candidate xmin is "valid" only if 0 < alpha < 3 (strict, in_range()) and the fit
    did not flag noise; Fit.find_xmin takes argmin D over valid candidates (all
    candidates, with noise_flag=True, if none is valid). Candidates are the unique data
    values in [min, max) minus the last one.
    "analytic" below = 1.5 < alpha0(xmin chosen) <= 3, i.e. the reported alpha is the
    closed form (the rule is re-evaluated on the final xmin by fit.power_law)."""
    t0 = time.time()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(nz, xmax=xmax, verbose=False)
        pl = fit.power_law
        a0 = analytic_alpha(fit.data if xmax is None else nz[nz <= xmax], fit.xmin)
        res = {
            "alpha": to_json_value(fit.alpha),
            "xmin": to_json_value(fit.xmin),
            "D": to_json_value(fit.D),
            "sigma": to_json_value(pl.standard_err),
            "n_tail": to_json_value(fit.n_tail),
            "alpha_analytic": to_json_value(a0),
            "analytic": bool(1.5 < a0 <= 3),
            "noise_flag": bool(fit.noise_flag),
            "num_xmin_candidates": int(len(fit.xmin_fitting_results["xmins"])),
            "num_valid_xmins": int(np.sum(fit.xmin_fitting_results["valid_fits"])),
            # alpha of the Power_Law refitted at the chosen xmin (should equal alpha)
            "power_law_alpha": to_json_value(pl.alpha),
        }
    return res, time.time() - t0


def synthetic_samples():
    """Pure 1-D samples (float64). Classical Pareto with x_m = 1 and density exponent
    alpha: x = 1 + numpy Lomax(alpha - 1), so p(x) ~ x^-alpha for x >= 1."""
    out = []
    seed = 2001
    for n in (50, 300, 2000):
        for alpha in (1.8, 2.5, 4.0):
            rng = np.random.default_rng(seed)
            x = 1.0 + rng.pareto(alpha - 1.0, size=n)
            out.append((f"sample_pareto_a{alpha:g}_n{n}", np.sort(x)))
            seed += 1
    rng = np.random.default_rng(2101)
    x = np.round(1.0 + rng.pareto(1.5, size=300), 2)
    out.append(("sample_ties_a2.5_n300_round2", np.sort(x)))
    rng = np.random.default_rng(2102)
    x = 1.0 + rng.pareto(1.5, size=15)
    out.append(("sample_small_a2.5_n15", np.sort(x)))
    # fewer than k_min = 8 points: WWFit small-N fallback (whole sample is the tail)
    rng = np.random.default_rng(2103)
    x = 1.0 + rng.pareto(1.5, size=6)
    out.append(("sample_tiny_a2.5_n6", np.sort(x)))
    return out


# --------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=os.path.join(repo_root(), "tests", "fixtures", "oracle"))
    ap.add_argument("--example", default=os.path.join(repo_root(), "examples", "mnist-cnn",
                                                      "model.safetensors"))
    ap.add_argument("--xmax-time-limit", type=float, default=120.0,
                    help="skip powerlaw_xmax for a case whose plain powerlaw fit took longer")
    args = ap.parse_args()
    od = args.out_dir
    os.makedirs(od, exist_ok=True)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    # a. matrices
    mats = make_matrices()
    mpath = os.path.join(od, "matrices.safetensors")
    # A single metadata entry on purpose: safetensors keeps metadata in a Rust HashMap,
    # so with several entries their order in the header (hence the bytes) varies per run.
    np_save_file(mats, mpath, metadata={
        "generator": "tools/make_fixtures.py (seeded numpy default_rng test matrices, "
                     "see tests/fixtures/oracle/README.md)"})
    log(f"wrote {mpath} ({os.path.getsize(mpath)} bytes)")

    # b. weightwatcher on the matrices (state dict in file order)
    sd = torch_load_file(mpath)
    rows, summary, skipped, _ = run_weightwatcher(sd)
    write_json(os.path.join(od, "ww_details.json"), rows)
    write_json(os.path.join(od, "ww_summary.json"), summary)
    write_json(os.path.join(od, "ww_skipped.json"), skipped)
    log(f"ww: {len(rows)} layers analysed, {len(skipped)} skipped")

    # c. weightwatcher on the example model
    sd_ex = torch_load_file(args.example)
    rows_ex, summary_ex, skipped_ex, _ = run_weightwatcher(sd_ex)
    write_json(os.path.join(od, "ww_details_example.json"), rows_ex)
    write_json(os.path.join(od, "ww_summary_example.json"), summary_ex)
    write_json(os.path.join(od, "ww_skipped_example.json"), skipped_ex)
    log(f"ww example: {len(rows_ex)} layers analysed, {len(skipped_ex)} skipped")

    # d. fits
    inputs = []
    for name, _seed, _gen in CASES:
        inputs.append((name, "matrix", ww_style_evals(mats[f"{name}.weight"])))
    for name, x in synthetic_samples():
        inputs.append((name, "sample", x))

    fits = []
    for name, kind, evals in inputs:
        nz = evals[evals > EVALS_THRESH]
        case = {"name": name, "kind": kind, "evals": [float(v) for v in evals]}
        t0 = time.time()
        case["ww"] = fit_ww(evals)
        t_ww = time.time() - t0
        case["powerlaw"], t_pl = fit_powerlaw(nz)
        if t_pl <= args.xmax_time_limit:
            r, t_px = fit_powerlaw(nz, xmax=float(np.max(nz)))
            case["powerlaw_xmax"] = {k: r[k] for k in
                                     ("alpha", "xmin", "D", "sigma", "n_tail", "alpha_analytic",
                                      "analytic", "noise_flag")}
        else:
            case["powerlaw_xmax"] = None
            t_px = 0.0
        fits.append(case)
        log(f"fit {name:32s} n={len(nz):5d} ww {t_ww:6.2f}s powerlaw {t_pl:6.2f}s "
            f"xmax {t_px:6.2f}s  alpha ww={case['ww']['alpha']:.4f} "
            f"pl={case['powerlaw']['alpha']:.4f}")
    write_fits_json(os.path.join(od, "fits.json"), fits)
    log("done")


if __name__ == "__main__":
    main()
