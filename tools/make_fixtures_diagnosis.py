#!/usr/bin/env python3
"""Generate the diagnosis fixtures in tests/fixtures/diagnosis/.

These fixtures pin down, step by step, the parts of weightwatcher 0.7.7 that go beyond the
default analyze() run (MP fit, detX, eigenvector metrics, fix_fingers) and the
distribution comparisons of powerlaw 2.0.0, so that the Rust re-implementation can be
checked piece by piece.

Run from the repository root in the venv made by tools/setup-oracle.sh:

    tools/setup-oracle.sh .venv-oracle
    .venv-oracle/bin/python tools/make_example.py              # only if examples/ is missing
    .venv-oracle/bin/python tools/make_fixtures_diagnosis.py

Inputs (read only): tests/fixtures/oracle/matrices.safetensors, tests/fixtures/oracle/fits.json,
examples/mnist-cnn/model.safetensors.

Writes (see tests/fixtures/diagnosis/README.md for the schemas):
  matrices.safetensors     2 seeded float32 "finger" test matrices
  ww_mp_fit.json           analyze(mp_fit=True) + the MP-fit internals + the eigenvalues
  ww_detx.json             analyze(detX=True)
  ww_vectors.json          analyze(vectors=True) + per-eigenvector metrics on eigh vectors
  ww_fix_fingers.json      analyze(fix_fingers='clip_xmax'), analyze(fix_fingers='xmin_peak', ...)
  powerlaw_compare.json    powerlaw 2.0.0 / WWFit distribution comparisons at a fixed xmin

The reference packages are used as black-box oracles only. Everything is deterministic:
fixed numpy default_rng seeds, single-threaded BLAS, CPU-only torch (weightwatcher switches
to float16 weights + float32 GPU SVD when CUDA is visible, so CUDA is hidden before anything
is imported). Running the script twice gives byte-identical files.
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
import scipy.linalg  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import save_file as np_save_file  # noqa: E402
from safetensors.torch import load_file as torch_load_file  # noqa: E402
from scipy import optimize  # noqa: E402
from sklearn.neighbors import KernelDensity  # noqa: E402

with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    import powerlaw  # noqa: E402
    import weightwatcher  # noqa: E402
    from weightwatcher import RMT_Util  # noqa: E402
    from weightwatcher.WW_powerlaw import WWFit, pl_fit  # noqa: E402
    from weightwatcher.weightwatcher import WeightWatcher  # noqa: E402

torch.set_num_threads(1)

EVALS_THRESH = 1e-5  # weightwatcher constants.EVALS_THRESH (CPU path)
MP_BW = 0.1          # bandwidth that WeightWatcher.mp_fit passes to fit_density_with_range
ALTERNATIVES = ["truncated_power_law", "exponential", "lognormal", "stretched_exponential",
                "lognormal_positive"]
# KDE densities (1000 grid points each) are stored only for these cases, to keep files small.
KDE_CASES = {("oracle", "gauss_1000x500"), ("oracle", "gauss_400x400"),
             ("oracle", "spiked_400x200"), ("oracle", "tiny_12x10")}
# eigh eigenvector metrics are stored for these oracle matrices (vectors too for the first).
EIGH_CASES = [("tiny_20x15", True), ("gauss_300x100", False)]
# fits.json cases reused in powerlaw_compare.json
COMPARE_FITS_CASES = [
    "gauss_1000x500", "spiked_400x200", "heavy_600x300", "pareto_mu1.5_500x250",
    "pareto_mu2.5_500x250", "conv_64x32x3x3", "rankdef_300x200", "sample_pareto_a2.5_n300",
    "sample_pareto_a4_n2000", "sample_ties_a2.5_n300_round2",
]


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# JSON helpers
# --------------------------------------------------------------------------------------

def jv(v):
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
    if isinstance(v, complex) or isinstance(v, np.complexfloating):
        raise TypeError(f"complex value {v!r}")
    if isinstance(v, str):
        return v
    try:
        import pandas as pd
        if v is pd.NA or v is pd.NaT:
            return None
    except ImportError:
        pass
    raise TypeError(f"unexpected value {v!r} of type {type(v)}")


def jlist(a):
    return [jv(x) for x in np.asarray(a).tolist()]


def write_json(path, obj):
    """Pretty-printed JSON (indent 1), except that lists of more than 8 scalars are written
    on a single line, to keep the files small and diffable. Floats use Python's shortest
    round-trip repr, so float64 values are exact."""
    placeholders = {}

    def walk(o):
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, list):
            if len(o) > 8 and all(x is None or isinstance(x, (int, float, bool)) for x in o):
                key = f"@@LIST{len(placeholders)}@@"
                placeholders[key] = json.dumps(o, allow_nan=False)
                return key
            return [walk(x) for x in o]
        return o

    text = json.dumps(walk(obj), indent=1, allow_nan=False)
    for key, val in placeholders.items():
        text = text.replace(f'"{key}"', val, 1)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text + "\n")


# --------------------------------------------------------------------------------------
# new test matrices ("fingers")
# --------------------------------------------------------------------------------------

def spiked(shape, thetas):
    """N(0,1) noise + sum_k theta_k u_k v_k^T, random unit u_k (rows) and v_k (cols)."""
    def gen(rng):
        n, m = shape
        w = rng.standard_normal(shape)
        for theta in thetas:
            u = rng.standard_normal(n)
            u /= np.linalg.norm(u)
            v = rng.standard_normal(m)
            v /= np.linalg.norm(v)
            w += theta * np.outer(u, v)
        return w
    return gen


_EDGE_500x250 = math.sqrt(500.0) + math.sqrt(250.0)  # MP bulk edge of the singular values

DIAG_CASES = [
    # 3 huge fingers: perturbation singular values 50, 75, 100 x the bulk edge (~38.4),
    # eigenvalues ~3.5e6..1.5e7 vs a bulk edge of ~1.46e3.
    ("finger_huge_500x250", 3001, spiked((500, 250), (50.0 * _EDGE_500x250,
                                                      75.0 * _EDGE_500x250,
                                                      100.0 * _EDGE_500x250))),
    # 2 mild fingers just above the BBP threshold ((N M)^(1/4) ~ 15.6): theta = 28, 32 give
    # eigenvalues ~1.2e3 and 1.5e3 vs a bulk edge of ~0.87e3 -- this one triggers clip_xmax.
    ("finger_mild_300x150", 3001, spiked((300, 150), (28.0, 32.0))),
]


def make_diag_matrices():
    out = {}
    for name, seed, gen in DIAG_CASES:
        rng = np.random.default_rng(seed)
        w = np.ascontiguousarray(gen(rng).astype(np.float32))
        assert np.all(np.isfinite(w)), name
        out[f"{name}.weight"] = w
    return out


# --------------------------------------------------------------------------------------
# running weightwatcher while recording what each layer saw
# --------------------------------------------------------------------------------------

class _Recorder(logging.Handler):
    """Captures, per layer, the eigenvalues weightwatcher fitted (ww_layer.evals at
    apply_powerlaw) and every log message emitted while that layer was processed."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.current = None
        self.layers = {}

    def emit(self, record):
        if self.current is None:
            return
        try:
            msg = record.getMessage()
        except Exception:  # pragma: no cover
            msg = str(record.msg)
        self.layers[self.current]["log"].append((record.levelname, msg))


def run_ww(state_dict, **opts):
    """WeightWatcher(model=state_dict).analyze(**opts), CPU, all output swallowed.

    Returns (records, per_layer) where records = details.to_dict('records') and per_layer maps
    name -> {"evals", "N", "M", "rf", "layer_id", "log": [(level, msg)], "extra": {}}."""
    rec = _Recorder()
    orig_apply_powerlaw = WeightWatcher.apply_powerlaw
    orig_apply_vectors = WeightWatcher.apply_analyze_eigenvectors
    ww_module = sys.modules[WeightWatcher.__module__]
    orig_eig_full = ww_module.eig_full

    def apply_powerlaw(self, ww_layer, params=None):
        rec.current = ww_layer.name
        rec.layers[ww_layer.name] = {
            "evals": np.array(ww_layer.evals, dtype=np.float64, copy=True),
            "N": int(ww_layer.N), "M": int(ww_layer.M), "rf": int(ww_layer.rf),
            "layer_id": int(ww_layer.layer_id), "log": [], "extra": {}}
        return orig_apply_powerlaw(self, ww_layer, params)

    def apply_vectors(self, ww_layer, params=None):
        extra = rec.layers[ww_layer.name]["extra"]
        extra["num_wmats"] = len(ww_layer.Wmats)
        extra["eig_evals"] = []
        return orig_apply_vectors(self, ww_layer, params)

    def eig_full(X, *a, **kw):
        # records the (complex) eigenvalues of scipy.linalg.eig that weightwatcher splits at xmin
        evals, V = orig_eig_full(X, *a, **kw)
        rec.layers[rec.current]["extra"]["eig_evals"].append(np.array(evals, copy=True))
        return evals, V

    wlog = logging.getLogger("weightwatcher")
    old_level, old_prop = wlog.level, wlog.propagate
    wlog.addHandler(rec)
    wlog.setLevel(logging.DEBUG)
    wlog.propagate = False
    WeightWatcher.apply_powerlaw = apply_powerlaw
    WeightWatcher.apply_analyze_eigenvectors = apply_vectors
    ww_module.eig_full = eig_full
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            details = WeightWatcher(model=state_dict).analyze(**opts)
    finally:
        WeightWatcher.apply_powerlaw = orig_apply_powerlaw
        WeightWatcher.apply_analyze_eigenvectors = orig_apply_vectors
        ww_module.eig_full = orig_eig_full
        wlog.removeHandler(rec)
        wlog.setLevel(old_level)
        wlog.propagate = old_prop
    return details.to_dict(orient="records"), rec.layers


def warnings_of(layer):
    """WARNING-or-worse log messages of one layer, de-duplicated, in order."""
    out = []
    for level, msg in layer["log"]:
        if level in ("WARNING", "ERROR", "CRITICAL") and msg not in out:
            out.append(msg)
    return out


BASE_KEYS = ["layer_id", "name", "N", "M", "rf", "Q", "num_evals", "lambda_max"]


def base_row(source, r):
    row = {"source": source}
    for k in BASE_KEYS:
        row[k] = jv(r.get(k))
    return row


# --------------------------------------------------------------------------------------
# 1. MP fit
# --------------------------------------------------------------------------------------

def mp_internals(evals, N, M, with_kde):
    """Re-run WeightWatcher.mp_fit step by step with weightwatcher's own RMT_Util functions."""
    Q = N / M
    Wscale = np.sqrt(evals.shape[0]) / np.sqrt(np.sum(evals))
    to_plot = (Wscale * Wscale) * evals
    lambda_max = np.max(to_plot)
    to_fit = np.sqrt(to_plot) if Q == 1 else to_plot

    # (a) exactly what weightwatcher calls: brute(..., finish=fmin)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s_ww, f_ww = RMT_Util.fit_density_with_range(to_plot, Q, bw=MP_BW)

    # (b) the same brute force grid without the polish
    s0 = RMT_Util.calc_sigma(Q, to_plot)
    ranges = (slice(0.05 * s0, 2.0 * s0, 0.01 * s0),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x_grid, j_grid, grid, jout = optimize.brute(
            RMT_Util.resid_mp, ranges, args=(to_fit, Q, MP_BW, False), full_output=True,
            finish=None)
        # (c) the Nelder-Mead polish brute applies by default
        xopt, fopt, n_iter, n_calls, warnflag = optimize.fmin(
            RMT_Util.resid_mp, x_grid, args=(to_fit, Q, MP_BW, False), full_output=1, disp=False)
    xopt = float(np.asarray(xopt).ravel()[0])
    assert xopt == float(s_ww) and float(fopt) == float(f_ww), (xopt, s_ww, fopt, f_ww)
    assert np.array_equal(grid, np.arange(0.05 * s0, 2.0 * s0, 0.01 * s0))

    sigma = s_ww
    bulk_max = (sigma * (1 + 1 / np.sqrt(Q))) ** 2
    bulk_min = (sigma * (1 - 1 / np.sqrt(Q))) ** 2
    TW = 1 / np.sqrt(Q) * np.power(bulk_max, 2 / 3) * np.power(M, -2 / 3)
    bulk_max_TW = bulk_max + np.sqrt(TW)
    num_spikes = len(to_plot[to_plot > bulk_max_TW])

    # KDE of weightwatcher's resid_mp (sklearn KernelDensity, linear kernel)
    kde = KernelDensity(kernel="linear", bandwidth=MP_BW).fit(to_fit.reshape(-1, 1))
    xde = np.linspace(0, np.max(to_fit) + 0.5, 1000)
    yde = np.exp(kde.score_samples(xde[:, np.newaxis]))
    # closed form, checked here: (1/(n h)) sum_i max(0, 1 - |x - x_i|/h)
    closed = np.maximum(0.0, 1.0 - np.abs(xde[:, None] - to_fit[None, :]) / MP_BW).sum(axis=1) \
        / (len(to_fit) * MP_BW)
    kde_err = float(np.max(np.abs(yde - closed)))
    assert kde_err < 1e-12 * max(1.0, float(np.max(closed))), kde_err
    good = yde > 0.01
    x_peak = xde[good][np.where(yde[good] == np.max(yde[good]))[0][0]] if good.any() else None

    out = {
        "Q": jv(Q),
        "Wscale": jv(Wscale),
        "lambda_max_rescaled": jv(lambda_max),
        "to_fit": "sqrt_rescaled_evals" if Q == 1 else "rescaled_evals",
        "sigma_scale": jv(s0),
        "grid_slice": {"start": jv(0.05 * s0), "stop": jv(2.0 * s0), "step": jv(0.01 * s0)},
        "grid_n": int(len(grid)),
        "grid": jlist(grid),
        "objective_grid_all": jlist(jout),
        "grid_argmin": int(np.argmin(jout)),
        "sigma_grid": jv(x_grid),
        "objective_grid": jv(j_grid),
        "sigma_polished": jv(xopt),
        "objective_polished": jv(fopt),
        "fmin_iterations": int(n_iter),
        "fmin_funcalls": int(n_calls),
        "fmin_warnflag": int(warnflag),
        "bulk_max_rescaled": jv(bulk_max),
        "bulk_min_rescaled": jv(bulk_min),
        "TW": jv(TW),
        "bulk_max_TW_rescaled": jv(bulk_max_TW),
        "num_spikes": int(num_spikes),
        "mp_softrank": jv(bulk_max / lambda_max),
        "bulk_max": jv(bulk_max / (Wscale * Wscale)),
        "bulk_min": jv(bulk_min / (Wscale * Wscale)),
        "kde_num_kept": int(np.sum(good)),
        "kde_x_peak": jv(x_peak),
        "kde_max_abs_err_closed_form": kde_err,
    }
    if with_kde:
        out["kde_grid"] = jlist(xde)
        out["kde_density"] = jlist(yde)
    return out


MP_COLS = ["num_spikes", "sigma_mp", "mp_softrank", "W_scale", "bulk_max", "bulk_min"]


def make_mp(sources):
    cases = []
    evals_by_key = {}
    for source, sd in sources:
        recs, layers = run_ww(sd, mp_fit=True)
        for r in recs:
            lay = layers[r["name"]]
            row = base_row(source, r)
            row["ww"] = {k: jv(r.get(k)) for k in MP_COLS}
            internals = mp_internals(lay["evals"], lay["N"], lay["M"],
                                     (source, r["name"]) in KDE_CASES)
            for a, b in (("num_spikes", "num_spikes"), ("sigma_mp", "sigma_polished"),
                         ("mp_softrank", "mp_softrank"), ("W_scale", "Wscale"),
                         ("bulk_max", "bulk_max"), ("bulk_min", "bulk_min")):
                assert row["ww"][a] == internals[b], (source, r["name"], a, row["ww"][a],
                                                     internals[b])
            row["internals"] = internals
            row["warnings"] = warnings_of(lay)
            row["evals"] = jlist(lay["evals"])
            evals_by_key[(source, r["name"])] = lay["evals"]
            cases.append(row)
            log(f"mp   {source:9s} {r['name']:22s} sigma_mp={row['ww']['sigma_mp']:.6f} "
                f"grid={internals['sigma_grid']:.6f} spikes={row['ww']['num_spikes']}")
    return cases, evals_by_key


# --------------------------------------------------------------------------------------
# 2. detX
# --------------------------------------------------------------------------------------

DETX_COLS = ["detX_num", "detX_val", "detX_val_unrescaled", "num_ERG_spikes", "ERG_gap",
             "num_pl_spikes", "alpha", "xmin"]


def make_detx(sources, evals_by_key):
    rows = []
    for source, sd in sources:
        recs, layers = run_ww(sd, detX=True)
        for r in recs:
            lay = layers[r["name"]]
            ev = lay["evals"]
            assert np.array_equal(ev, evals_by_key[(source, r["name"])])
            row = base_row(source, r)
            for k in DETX_COLS:
                row[k] = jv(r.get(k))
            rescaled, wscale = RMT_Util.rescale_eigenvalues(ev)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                num, idx = RMT_Util.detX_constraint(rescaled, rescale=False)
            assert num == row["detX_num"]
            assert float(rescaled[idx]) == row["detX_val_unrescaled"]
            row["internals"] = {
                "Wscale": jv(wscale),
                "detX_idx": int(idx),
                "log10_prod_tail": jv(np.sum(np.log10(rescaled[idx:]))),
                "log10_prod_tail_plus_one": jv(np.sum(np.log10(rescaled[idx + 1:])))
                if idx + 1 < len(rescaled) else None,
            }
            row["warnings"] = warnings_of(lay)
            rows.append(row)
    return rows


# --------------------------------------------------------------------------------------
# 3. eigenvector metrics
# --------------------------------------------------------------------------------------

VEC_NAMES = ["vec_entropy", "loc_ratio", "part_ratio"]
VEC_COLS = [f"{p}_{n}" for n in VEC_NAMES for p in ("bulk_mean", "bulk_var", "tail_mean",
                                                     "tail_var")]


def vec_metrics(V):
    return (np.array([RMT_Util.discrete_entropy(V[:, c]) for c in range(V.shape[1])]),
            np.array([RMT_Util.localization_ratio(V[:, c]) for c in range(V.shape[1])]),
            np.array([RMT_Util.participation_ratio(V[:, c]) for c in range(V.shape[1])]))


def bulk_tail_masks(bulk, tail, metrics):
    out = {}
    for name, arr in zip(VEC_NAMES, metrics):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[f"bulk_mean_{name}"] = jv(np.mean(arr[bulk]))
            out[f"bulk_var_{name}"] = jv(np.var(arr[bulk]))
            out[f"tail_mean_{name}"] = jv(np.mean(arr[tail]))
            out[f"tail_var_{name}"] = jv(np.var(arr[tail]))
    return out


def make_vectors(sources, oracle_sd):
    rows = []
    by_name = {}
    for source, sd in sources:
        recs, layers = run_ww(sd, vectors=True)
        for r in recs:
            lay = layers[r["name"]]
            row = base_row(source, r)
            for k in ("alpha", "xmin", "num_pl_spikes"):
                row[k] = jv(r.get(k))
            row["num_wmats"] = lay["extra"].get("num_wmats")
            # weightwatcher splits the eig (not svd) eigenvalues at xmin; the eigenvalue equal
            # to xmin can land on either side. n_tail is the split weightwatcher really used.
            eig_ev = np.sort(np.concatenate(lay["extra"]["eig_evals"]))
            n_bulk = int(np.sum(eig_ev < r["xmin"]))
            n_tail = int(np.sum(eig_ev >= r["xmin"]))
            row["split"] = {"n_bulk": n_bulk, "n_tail": n_tail,
                            "n_eig_evals": int(len(eig_ev)),
                            "max_abs_imag_eig_evals": jv(np.max(np.abs(np.imag(eig_ev)))),
                            "n_tail_differs_from_num_pl_spikes": n_tail != r["num_pl_spikes"]}
            for k in VEC_COLS:
                row[k] = jv(r.get(k))
            row["warnings"] = warnings_of(lay)
            rows.append(row)
            by_name[(source, r["name"])] = row

    eigh_cases = []
    for name, keep_vectors in EIGH_CASES:
        W = oracle_sd[f"{name}.weight"].numpy().astype(np.float64)
        X = W.T @ W if W.shape[0] >= W.shape[1] else W @ W.T
        evals, V = np.linalg.eigh(X)
        # deterministic sign: the largest-|.| entry of each eigenvector is positive
        for c in range(V.shape[1]):
            if V[np.argmax(np.abs(V[:, c])), c] < 0:
                V[:, c] = -V[:, c]
        ent, loc, part = vec_metrics(V)
        # weightwatcher's own path: scipy.linalg.eig (general, complex), sorted by eigenvalue
        le, Ve = scipy.linalg.eig(X)
        order = np.argsort(le)
        ent_e, loc_e, part_e = (m[order] for m in vec_metrics(Ve))
        ww_row = by_name[("oracle", name)]
        xmin = ww_row["xmin"]
        n_tail = ww_row["split"]["n_tail"]
        is_tail = np.arange(len(evals)) >= len(evals) - n_tail
        agg = bulk_tail_masks(~is_tail, is_tail, (ent, loc, part))
        case = {
            "name": name,
            "X": "W^T W (W as stored, float32 -> float64, rows >= cols)",
            "n": int(len(evals)),
            "xmin": xmin,
            "evals": jlist(evals),
            "vec_entropy": jlist(ent),
            "loc_ratio": jlist(loc),
            "part_ratio": jlist(part),
            "n_tail_ww": n_tail,
            "n_tail_eigh_evals_ge_xmin": int(np.sum(evals >= xmin)),
            "n_tail_scipy_eig_evals_ge_xmin": int(np.sum(np.real(le) >= xmin)),
            "bulk_tail_from_eigh": agg,
            "max_abs_diff_bulk_tail_vs_ww": jv(max(abs(agg[k] - ww_row[k]) for k in VEC_COLS)),
            "max_abs_diff_vs_scipy_eig": {
                "evals": jv(np.max(np.abs(np.real(le[order]) - evals))),
                "vec_entropy": jv(np.max(np.abs(ent_e - ent))),
                "loc_ratio": jv(np.max(np.abs(loc_e - loc))),
                "part_ratio": jv(np.max(np.abs(part_e - part))),
            },
        }
        if keep_vectors:
            case["eigenvectors"] = [jlist(V[:, c]) for c in range(V.shape[1])]
        eigh_cases.append(case)
    return {"layers": rows, "eigh_cases": eigh_cases}


# --------------------------------------------------------------------------------------
# 4. fix_fingers
# --------------------------------------------------------------------------------------

def clip_sequence(evals, max_fingers=10, finger_thresh=1.0, min_alpha=2.0):
    """WWFit on nz[:-idx] for idx = 2..max_fingers-1 (the loop of RMT_Util.fit_clipped_powerlaw),
    reporting where weightwatcher's loop stops."""
    nz = evals[evals > EVALS_THRESH]
    with contextlib.redirect_stdout(io.StringIO()):
        first = WWFit(nz)
        seq = []
        stop = None
        for idx in range(2, max_fingers):
            try:
                f = WWFit(nz[:-idx])
            except Exception as e:  # noqa: BLE001
                seq.append({"idx": idx, "error": f"{type(e).__name__}: {e}"})
                if stop is None:
                    stop = {"idx": idx, "reason": "exception: the whole fit fails",
                            "num_fingers": None}
                continue
            seq.append({"idx": idx, "alpha": jv(f.alpha), "xmin": jv(f.xmin), "D": jv(f.D)})
            if stop is None and f.alpha + finger_thresh < first.alpha:
                stop = {"idx": idx, "reason": "accepted (alpha dropped by > finger_thresh)",
                        "num_fingers": idx - 1}
            elif stop is None and f.alpha <= min_alpha:
                stop = {"idx": idx, "reason": "alpha <= min_alpha: keep the first fit",
                        "num_fingers": 0}
        if stop is None:
            stop = {"idx": max_fingers - 1, "reason": "loop exhausted: keep the first fit",
                    "num_fingers": 0}
    return {"first_alpha": jv(first.alpha), "first_xmin": jv(first.xmin), "n": int(len(nz)),
            "steps": seq, "stop": stop}


def xmin_peak_emulated(evals):
    """What fix_fingers='xmin_peak' would fit if pl_fit could reach powerlaw 2.0.0:
    powerlaw.Fit(nz, xmin=xmin_range) without the 'distribution' keyword it rejects."""
    nz = evals[evals > EVALS_THRESH]
    h = np.histogram(np.log10(nz), bins=100)
    ih = int(np.argmax(h[0]))
    xmin2 = 10 ** h[1][ih]
    xmin_range = (np.log10(0.95 * xmin2), 1.5 * xmin2)
    out = {"peak_bin": ih, "xmin2": jv(xmin2), "xmin_range": [jv(xmin_range[0]), jv(xmin_range[1])]}
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = powerlaw.Fit(nz, xmin=xmin_range, xmax=None, verbose=False,
                               xmin_distribution="power_law")
            # With fewer than 2 candidate xmins, find_xmin sets xmin/alpha/D/sigma to NaN and
            # returns before xmin_fitting_results exists.
            has_results = hasattr(fit, "xmin_fitting_results")
            out.update({
                "alpha": jv(fit.alpha), "xmin": jv(fit.xmin), "D": jv(fit.D),
                "sigma": jv(fit.sigma), "n_tail": jv(fit.n_tail),
                "noise_flag": bool(fit.noise_flag),
                "num_xmin_candidates": int(len(fit.xmin_fitting_results["xmins"]))
                if has_results else None,
                "error": None,
            })
            try:
                out["power_law_alpha"] = jv(fit.power_law.alpha)
            except Exception as e:  # noqa: BLE001
                out["power_law_alpha"] = None
                out["error"] = f"fit.power_law: {type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001
        out["error"] = f"{type(e).__name__}: {e}"
    return out


FF_COLS = ["alpha", "raw_alpha", "num_fingers", "xmin", "xmax", "D", "sigma", "num_pl_spikes",
           "status", "warning"]
PEAK_COLS = ["alpha", "xmin", "xmax", "D", "sigma", "num_pl_spikes", "status", "warning"]


def make_fix_fingers(sources, evals_by_key):
    out = {"clip_xmax": [], "xmin_peak_powerlaw": [], "xmin_peak_ww": [], "xmin_peak_emulated": []}
    for source, sd in sources:
        recs, layers = run_ww(sd, fix_fingers="clip_xmax")
        for r in recs:
            lay = layers[r["name"]]
            assert np.array_equal(lay["evals"], evals_by_key[(source, r["name"])])
            row = base_row(source, r)
            for k in FF_COLS:
                row[k] = jv(r.get(k))
            row["clip_sequence"] = clip_sequence(lay["evals"])
            if row["clip_sequence"]["stop"]["num_fingers"] is None:
                assert row["status"] == "failed", row
            else:
                assert row["clip_sequence"]["stop"]["num_fingers"] == row["num_fingers"]
                assert row["clip_sequence"]["first_alpha"] == row["raw_alpha"]
            row["warnings"] = warnings_of(lay)
            out["clip_xmax"].append(row)
            log(f"clip {source:9s} {r['name']:22s} raw={row['raw_alpha']} "
                f"alpha={row['alpha']} fingers={row['num_fingers']} {row['status']}")
        for key, opts in (("xmin_peak_powerlaw", dict(fix_fingers="xmin_peak",
                                                       pl_package="powerlaw")),
                          ("xmin_peak_ww", dict(fix_fingers="xmin_peak"))):
            recs, layers = run_ww(sd, **opts)
            for r in recs:
                lay = layers[r["name"]]
                row = base_row(source, r)
                for k in PEAK_COLS:
                    row[k] = jv(r.get(k))
                row["errors"] = warnings_of(lay)
                out[key].append(row)
        for r in recs:
            row = {"source": source, "name": r["name"]}
            row.update(xmin_peak_emulated(evals_by_key[(source, r["name"])]))
            out["xmin_peak_emulated"].append(row)
    return out


# --------------------------------------------------------------------------------------
# 5. powerlaw distribution comparisons
# --------------------------------------------------------------------------------------

def synthetic_compare_samples():
    """(name, generator description, seed, sorted float64 sample)."""
    out = []
    rng = np.random.default_rng(4001)
    out.append(("synth_pareto_a2.2_n2000",
                "1 + numpy pareto(1.2): density ~ x^-2.2 on [1, inf)", 4001,
                np.sort(1.0 + rng.pareto(1.2, size=2000))))
    rng = np.random.default_rng(4002)
    out.append(("synth_lognormal_mu0_s1_n1000", "numpy lognormal(mean=0, sigma=1)", 4002,
                np.sort(rng.lognormal(0.0, 1.0, size=1000))))
    rng = np.random.default_rng(4003)
    out.append(("synth_exponential_l1_n500", "numpy exponential(scale=1) (rate 1, on (0, inf))",
                4003, np.sort(rng.exponential(1.0, size=500))))
    rng = np.random.default_rng(4004)
    # truncated power law x^-1.8 e^(-0.02 x) on [1, inf): Pareto proposal (density ~ x^-1.8),
    # accepted with probability e^(-0.02 (x - 1)); draws in blocks until 1000 are accepted.
    acc = []
    while len(acc) < 1000:
        x = 1.0 + rng.pareto(0.8, size=1000)
        u = rng.random(1000)
        acc.extend(x[u < np.exp(-0.02 * (x - 1.0))].tolist())
    out.append(("synth_tpl_a1.8_l0.02_n1000",
                "x^-1.8 exp(-0.02 x) on [1, inf): 1 + pareto(0.8) accepted w.p. exp(-0.02 (x-1)), "
                "blocks of 1000 proposals, first 1000 accepted", 4004,
                np.sort(np.array(acc[:1000]))))
    return out


def dist_record(dist, data):
    rec = {"parameters": {k: jv(v) for k, v in dist.parameters.items()},
           "initial_parameters": {k: jv(v) for k, v in dist.initial_parameters.items()},
           "loglikelihood": jv(np.sum(dist.loglikelihoods(data))),
           "in_range": bool(dist.in_range()),
           "noise_flag": bool(dist.noise_flag)}
    return rec


def compare_pair(obj, d1, d2):
    res = {}
    for norm in (False, True):
        try:
            R, p = obj.distribution_compare(d1, d2, normalized_ratio=norm)
            res["normalized" if norm else "raw"] = {"R": jv(R), "p": jv(p)}
        except Exception as e:  # noqa: BLE001
            res["normalized" if norm else "raw"] = {"error": f"{type(e).__name__}: {e}"}
    return res


def compare_sample(name, origin, data):
    nz = np.asarray(data, dtype=np.float64)
    nz = nz[nz > EVALS_THRESH]
    out = {"name": name, "origin": origin, "n": int(len(nz))}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ww = pl_fit(data=nz, xmax=None, verbose=False, pl_package="ww")
        xmin = float(ww.xmin)
        out["ww"] = {"alpha": jv(ww.alpha), "xmin": jv(xmin), "D": jv(ww.D),
                     "sigma": jv(ww.sigma), "n_tail": int(len(ww.data)),
                     "loglikelihood_pl": jv(np.sum(np.log(
                         (ww.data ** -ww.alpha) * (ww.alpha - 1) * xmin ** (ww.alpha - 1))))}
        fit = powerlaw.Fit(nz, xmin=xmin, verbose=False)
        pl = fit.power_law
        a0 = 1 + len(fit.data) / np.sum(np.log(fit.data / xmin))
        out["powerlaw_fit"] = {
            "xmin": jv(fit.xmin), "n_tail": jv(fit.n_tail),
            "alpha_analytic": jv(a0), "analytic": bool(1.5 < a0 <= 3),
            "power_law": dist_record(pl, fit.data),
        }
        out["powerlaw_fit"]["power_law"]["D"] = jv(pl.D)
        alts = {}
        for alt in ALTERNATIVES:
            rec = dist_record(getattr(fit, alt), fit.data)
            rec["nested_in_powerlaw_Fit"] = bool(("power_law" in alt) or (alt in "power_law"))
            rec["powerlaw"] = {"pl_vs_alt": compare_pair(fit, "power_law", alt),
                               "alt_vs_pl": compare_pair(fit, alt, "power_law")}
            rec["ww"] = {"nested_pl_vs_alt": bool("power_law" in alt),
                         "nested_alt_vs_pl": bool(alt in "power_law"),
                         "pl_vs_alt": compare_pair(ww, "power_law", alt),
                         "alt_vs_pl": compare_pair(ww, alt, "power_law")}
            alts[alt] = rec
        out["alternatives"] = alts
        for key, obj in (("best_dist_powerlaw", fit), ("best_dist_ww", ww)):
            try:
                out[key] = RMT_Util.best_dist(obj)
            except Exception as e:  # noqa: BLE001
                out[key] = f"error: {type(e).__name__}: {e}"
        # xmax given: powerlaw truncates the data at xmax and uses the truncated normaliser
        xmax = float(np.max(nz))
        fx = powerlaw.Fit(nz, xmin=xmin, xmax=xmax, verbose=False)
        px = fx.power_law
        out["powerlaw_fit_xmax"] = {"xmax": jv(xmax), "alpha": jv(px.alpha),
                                    "analytic": bool(1.5 < a0 <= 3),
                                    "noise_flag": bool(px.noise_flag),
                                    "loglikelihood": jv(np.sum(px.loglikelihoods(fx.data)))}
        # the genuinely truncated MLE: forced numerical fit, alpha range (1, inf)
        pn = powerlaw.Power_Law(data=fx.data, xmin=xmin, xmax=xmax, force_numerical_fit=True,
                                parameter_ranges={"alpha": [1.0, None]}, verbose=0)
        out["xmax_truncated_mle"] = {"alpha": jv(pn.alpha), "noise_flag": bool(pn.noise_flag),
                                     "loglikelihood": jv(np.sum(pn.loglikelihoods(fx.data)))}
    return out


def make_compare(fits_path):
    fits = {c["name"]: c for c in json.load(open(fits_path, encoding="utf-8"))}
    rows = []
    for name in COMPARE_FITS_CASES:
        ev = np.array(fits[name]["evals"], dtype=np.float64)
        t0 = time.time()
        row = compare_sample(name, {"file": "tests/fixtures/oracle/fits.json", "name": name}, ev)
        assert row["ww"]["alpha"] == fits[name]["ww"]["alpha"]
        rows.append(row)
        log(f"cmp  {name:30s} n={row['n']:5d} {time.time() - t0:6.2f}s "
            f"best={row['best_dist_powerlaw']}/{row['best_dist_ww']}")
    for name, desc, seed, x in synthetic_compare_samples():
        t0 = time.time()
        row = compare_sample(name, {"generator": desc, "seed": seed}, x)
        row["data"] = jlist(x)
        rows.append(row)
        log(f"cmp  {name:30s} n={row['n']:5d} {time.time() - t0:6.2f}s "
            f"best={row['best_dist_powerlaw']}/{row['best_dist_ww']}")
    return rows


# --------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = repo_root()
    ap.add_argument("--out-dir", default=os.path.join(root, "tests", "fixtures", "diagnosis"))
    ap.add_argument("--oracle-dir", default=os.path.join(root, "tests", "fixtures", "oracle"))
    ap.add_argument("--example", default=os.path.join(root, "examples", "mnist-cnn",
                                                      "model.safetensors"))
    args = ap.parse_args()
    od = args.out_dir
    os.makedirs(od, exist_ok=True)
    t_start = time.time()

    mats = make_diag_matrices()
    mpath = os.path.join(od, "matrices.safetensors")
    # One metadata entry only: with several, their order in the header varies per run.
    np_save_file(mats, mpath, metadata={
        "generator": "tools/make_fixtures_diagnosis.py (seeded numpy default_rng finger "
                     "matrices, see tests/fixtures/diagnosis/README.md)"})
    log(f"wrote {mpath} ({os.path.getsize(mpath)} bytes)")

    oracle_sd = torch_load_file(os.path.join(args.oracle_dir, "matrices.safetensors"))
    sources = [("oracle", oracle_sd),
               ("example", torch_load_file(args.example)),
               ("diagnosis", torch_load_file(mpath))]

    mp_cases, evals_by_key = make_mp(sources)
    write_json(os.path.join(od, "ww_mp_fit.json"), mp_cases)
    write_json(os.path.join(od, "ww_detx.json"), make_detx(sources, evals_by_key))
    write_json(os.path.join(od, "ww_vectors.json"), make_vectors(sources, oracle_sd))
    write_json(os.path.join(od, "ww_fix_fingers.json"), make_fix_fingers(sources, evals_by_key))
    write_json(os.path.join(od, "powerlaw_compare.json"),
               make_compare(os.path.join(args.oracle_dir, "fits.json")))
    log(f"done in {time.time() - t_start:.1f}s")


if __name__ == "__main__":
    main()
