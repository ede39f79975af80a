//! The column registry: every per-layer output column defined once — its name
//! (weightwatcher's where it has one), the analysis that fills it, how to read it from a
//! [`LayerResult`], how the terminal table shows it, and its meaning with the paper's equation.
//!
//! Every writer reads this list: the terminal table, CSV, the HTML report, `track`, the plots'
//! metric choices, the Python DataFrame and the README's columns table (checked by a test).
//! Adding a column is its computation plus one entry in [`COLUMNS`]. The JSON is the serde
//! form of [`LayerResult`], whose field names are these names (a test checks that too).

use crate::result::LayerResult;

/// Which analysis fills a column: the default columns, or the option that adds a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// Always computed (weightwatcher's default `details` columns, then weightscope's own).
    Details,
    /// `--tail-fits`: the power law's alternatives (paper Table 5).
    TailFits,
    /// `--fix-fingers`: finite-size finger corrections.
    Fingers,
    /// `--detx`: weightwatcher's detX tail.
    DetX,
    /// `--bootstrap B`: goodness-of-fit p-value.
    Bootstrap,
    /// `--esd farms`: α of fixed-aspect-ratio submatrices (Hu et al., ICML 2025).
    Farms,
    /// `--mp-fit`: the Marchenko–Pastur bulk (Eqns. 8–9, 11).
    MpFit,
    /// `--randomize`: the element-shuffled baseline.
    Randomize,
    /// `--vectors`: eigenvector localization (§3.3).
    Vectors,
    /// `--phase`: the 5+1 phases (§5, Table 7).
    Phase,
}

impl Group {
    /// Every group, in the order their columns appear in CSV files.
    pub const ALL: [Group; 10] = [
        Group::Details,
        Group::TailFits,
        Group::Fingers,
        Group::DetX,
        Group::Bootstrap,
        Group::Farms,
        Group::MpFit,
        Group::Randomize,
        Group::Vectors,
        Group::Phase,
    ];

    /// The command-line option that adds the group ("" for the default columns).
    pub fn option(&self) -> &'static str {
        match self {
            Group::Details => "",
            Group::TailFits => "--tail-fits",
            Group::Fingers => "--fix-fingers",
            Group::DetX => "--detx",
            Group::Bootstrap => "--bootstrap",
            Group::Farms => "--esd farms",
            Group::MpFit => "--mp-fit",
            Group::Randomize => "--randomize",
            Group::Vectors => "--vectors",
            Group::Phase => "--phase",
        }
    }

    /// Whether a row carries the group's values.
    pub fn present(&self, r: &LayerResult) -> bool {
        match self {
            Group::Details => true,
            Group::TailFits => r.tail.is_some(),
            Group::Fingers => r.fingers.is_some(),
            Group::DetX => r.detx.is_some(),
            Group::Bootstrap => r.pl_pvalue.is_some(),
            Group::Farms => r.farms.is_some(),
            Group::MpFit => r.mp.is_some(),
            Group::Randomize => r.randomization.is_some(),
            Group::Vectors => r.vectors.is_some(),
            Group::Phase => r.phase.is_some(),
        }
    }

    /// The columns of the group, in order.
    pub fn columns(self) -> impl Iterator<Item = &'static Column> {
        COLUMNS.iter().filter(move |c| c.group == self)
    }
}

/// One cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Int(Option<usize>),
    Float(Option<f64>),
    Text(&'a str),
}

impl Value<'_> {
    /// The CSV form: the shortest decimal that reads back to the same f64 (so files are
    /// deterministic and exact), empty when missing or not finite — as JSON, which has no
    /// NaN or infinity and writes null, so that a row read back from the `--resume` journal
    /// writes the same bytes as the row computed.
    pub fn to_csv(&self) -> String {
        match *self {
            Value::Int(v) => v.map(|x| x.to_string()).unwrap_or_default(),
            Value::Float(v) => v
                .filter(|x| x.is_finite())
                .map(|x| x.to_string())
                .unwrap_or_default(),
            Value::Text(s) => s.to_string(),
        }
    }

    /// The terminal form: floats to `decimals` places, `-` when missing or not finite.
    pub fn to_table(&self, decimals: usize) -> String {
        match *self {
            Value::Int(None) | Value::Float(None) => "-".into(),
            Value::Float(Some(x)) if x.is_finite() => format!("{x:.decimals$}"),
            Value::Float(Some(_)) => "-".into(),
            Value::Text("") => "-".into(),
            v => v.to_csv(),
        }
    }

    /// The value as a float, if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(v) => v.map(|x| x as f64),
            Value::Float(v) => v,
            Value::Text(_) => None,
        }
    }
}

/// The kind of a column's values (for typed outputs such as a DataFrame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    Text,
}

/// One output column.
#[derive(Debug)]
pub struct Column {
    /// The name in CSV, JSON and DataFrames (weightwatcher's where it has one).
    pub name: &'static str,
    /// The analysis that fills it.
    pub group: Group,
    pub kind: Kind,
    /// The header of the terminal table, where it differs from the name.
    pub short: &'static str,
    /// Decimals of the terminal table.
    pub decimals: usize,
    /// One line: what it is, with the paper's equation or section.
    pub meaning: &'static str,
    /// Read the value from a row.
    pub get: for<'a> fn(&'a LayerResult) -> Value<'a>,
    /// For a column computed from the ESD alone: how. [`crate::diagnose::diagnose_esd`]
    /// calls it for every layer and keeps the value in [`LayerResult::computed`], so a new
    /// metric of the spectrum is this function and its entry, nothing else.
    pub compute: Option<fn(&Esd) -> Option<f64>>,
}

/// What a computed column sees of a layer: its ESD and its shape.
#[derive(Debug, Clone, Copy)]
pub struct Esd<'a> {
    /// The eigenvalues of X (ascending; divided by N under `--normalize`).
    pub evals: &'a [f64],
    pub n: usize,
    pub m: usize,
    /// Maps pooled into the ESD.
    pub rf: usize,
}

impl Column {
    /// The value of this column in a row.
    pub fn value<'a>(&self, r: &'a LayerResult) -> Value<'a> {
        match self.compute {
            Some(_) => Value::Float(r.computed.get(self.name).copied()),
            None => (self.get)(r),
        }
    }

    /// The terminal table's header.
    pub fn header(&self) -> &'static str {
        if self.short.is_empty() {
            self.name
        } else {
            self.short
        }
    }
}

/// The column named `name`.
pub fn column(name: &str) -> Option<&'static Column> {
    COLUMNS.iter().find(|c| c.name == name)
}

/// The column named `name`, for writers that name their columns in code (a typo is a bug,
/// caught by every test that writes that output).
pub fn col(name: &str) -> &'static Column {
    column(name).unwrap_or_else(|| panic!("no column named {name} in the registry"))
}

/// The columns of a details table for these rows: the default columns, then each optional
/// group that any row has — so a file's columns depend on the options, never on the schedule.
pub fn details_columns(rows: &[LayerResult]) -> Vec<&'static Column> {
    Group::ALL
        .iter()
        .filter(|g| **g == Group::Details || rows.iter().any(|r| g.present(r)))
        .flat_map(|g| g.columns())
        .collect()
}

/// The README's table of columns, generated from the registry (a test keeps the README in
/// step).
pub fn markdown_table() -> String {
    let mut s = String::from("| column | added by | meaning |\n|---|---|---|\n");
    for c in COLUMNS {
        let by = match c.group.option() {
            "" => "default".to_string(),
            o => format!("`{o}`"),
        };
        s.push_str(&format!("| `{}` | {by} | {} |\n", c.name, c.meaning));
    }
    s
}

/// The entries: `name, group, kind, table header, decimals, meaning, getter;` — or, for a
/// column computed from the ESD, `compute` followed by a function of [`Esd`] in place of the
/// getter.
macro_rules! columns {
    ($( $name:literal, $group:ident, $kind:ident, $short:literal, $dec:literal, $meaning:literal, $how:ident $f:expr; )*) => {
        /// Every per-layer column, in CSV order (weightwatcher's first).
        pub static COLUMNS: &[Column] = &[
            $( Column {
                name: $name,
                group: Group::$group,
                kind: Kind::$kind,
                short: $short,
                decimals: $dec,
                meaning: $meaning,
                get: columns!(@get $how $f),
                compute: columns!(@compute $how $f),
            }, )*
        ];
    };
    (@get get $f:expr) => { $f };
    (@get compute $f:expr) => { |_| Value::Float(None) };
    (@compute get $f:expr) => { None };
    (@compute compute $f:expr) => { Some($f) };
}

use Value::{Float, Int, Text};

columns! {
    "layer_id", Details, Int, "id", 0,
        "index of the tensor in the checkpoint",
        get |r| Int(Some(r.layer_id));
    "name", Details, Text, "", 0,
        "tensor name without `.weight`",
        get |r| Text(&r.name);
    "longname", Details, Text, "", 0,
        "full tensor name",
        get |r| Text(&r.longname);
    "layer_type", Details, Text, "type", 0,
        "`dense`, `conv1d`, `conv2d`, `embedding`, …",
        get |r| Text(&r.layer_type);
    "slice_id", Details, Int, "", 0,
        "which slice of the tensor the row is: a conv map (`--conv-maps`, i·kw + j), an expert, or Q/K/V of a fused projection",
        get |r| Int(r.slice_id);
    "N", Details, Int, "", 0,
        "larger matrix dimension",
        get |r| Int(Some(r.n));
    "M", Details, Int, "", 0,
        "smaller matrix dimension",
        get |r| Int(Some(r.m));
    "Q", Details, Float, "", 3,
        "aspect ratio Q = N/M (Eqn. 8)",
        get |r| Float(Some(r.q));
    "rf", Details, Int, "", 0,
        "receptive field: maps pooled into the ESD (kh·kw for Conv2D, else 1)",
        get |r| Int(Some(r.rf));
    "num_evals", Details, Int, "evals", 0,
        "eigenvalues in the ESD, M·rf (zeros included)",
        get |r| Int(r.num_evals);
    "sv_max", Details, Float, "", 4,
        "largest singular value of W",
        get |r| Float(r.sv_max);
    "sv_min", Details, Float, "", 4,
        "smallest singular value (the true minimum over maps; weightwatcher reports the largest per-map minimum)",
        get |r| Float(r.sv_min);
    "rank_loss", Details, Int, "", 0,
        "Σ over maps of M − hard rank (numpy's tolerance σ > σmax·N·ε)",
        get |r| Int(r.rank_loss);
    "weak_rank_loss", Details, Int, "", 0,
        "#λ below `tolerance` (1e-6)",
        get |r| Int(r.weak_rank_loss);
    "lambda_max", Details, Float, "λmax", 3,
        "λmax = ‖W‖₂², the largest eigenvalue of X = WᵀW",
        get |r| Float(r.lambda_max);
    "alpha", Details, Float, "", 3,
        "power-law exponent of the ESD tail, ρ(λ) ~ λ^−α (§3.2, Table 3; Clauset–Shalizi–Newman fit)",
        get |r| Float(r.alpha);
    "xmin", Details, Float, "", 4,
        "start of the fitted tail (KS-chosen)",
        get |r| Float(r.xmin);
    "xmax", Details, Float, "", 4,
        "end of the fitted tail (λmax, or below it with `--xmax`)",
        get |r| Float(r.xmax);
    "D", Details, Float, "", 3,
        "Kolmogorov–Smirnov distance of the power-law fit",
        get |r| Float(r.d);
    "sigma", Details, Float, "", 3,
        "standard error of α, (α−1)/√n",
        get |r| Float(r.sigma);
    "num_pl_spikes", Details, Int, "spikes", 0,
        "eigenvalues in the tail, #λ ≥ xmin",
        get |r| Int(r.num_pl_spikes);
    "status", Details, Text, "", 0,
        "`success`; `failed` (ESD computed, no power law fits: α columns empty, never averaged, never called over-trained); `error` (unreadable, NaN/Inf, all zeros: see `message`)",
        get |r| Text(r.status.as_str());
    "warning", Details, Text, "", 0,
        "`over-trained` if α < 2, `under-trained` if α > 6 (weightwatcher's thresholds, §5.5)",
        get |r| Text(r.warning.as_str());
    "norm", Details, Float, "", 3,
        "Frobenius norm squared Σλ = ‖W‖_F²",
        get |r| Float(r.norm);
    "log_norm", Details, Float, "", 3,
        "log10 ‖W‖_F²",
        get |r| Float(r.log_norm);
    "spectral_norm", Details, Float, "", 3,
        "λmax = ‖W‖₂²",
        get |r| Float(r.spectral_norm);
    "log_spectral_norm", Details, Float, "", 3,
        "log10 λmax",
        get |r| Float(r.log_spectral_norm);
    "alpha_weighted", Details, Float, "alpha_w", 3,
        "α̂ = α·log10 λmax, whose mean over layers is the model quality metric",
        get |r| Float(r.alpha_weighted);
    "log_alpha_norm", Details, Float, "", 3,
        "log10 Σλ^α (Schatten α-norm), over all eigenvalues",
        get |r| Float(r.log_alpha_norm);
    "stable_rank", Details, Float, "stable_rk", 2,
        "Σλ/λmax = ‖W‖_F²/‖W‖₂² (Eqn. 7)",
        get |r| Float(r.stable_rank);
    "matrix_rank", Details, Int, "", 0,
        "hard rank R(W): #σ > σmax·N·ε (Eqn. 5)",
        get |r| Int(r.matrix_rank);
    "entropy", Details, Float, "", 3,
        "matrix entropy S(W) = −Σ pᵢ ln pᵢ / ln R(W), pᵢ = λᵢ/Σλ (Eqn. 6; 1 for a random matrix)",
        get |r| Float(r.entropy);
    "zero_mass", Details, Float, "", 3,
        "share of eigenvalues below 1e-10·λmax: Rank-collapse evidence (§5.6)",
        get |r| Float(r.zero_mass);
    "alpha_hill", Details, Float, "", 3,
        "Hill estimator of the tail index over the fitted tail",
        get |r| Float(r.alpha_hill);
    "alpha_xmax", Details, Float, "", 3,
        "α with the pdf normalised on [xmin, xmax] (weightwatcher issue #103)",
        get |r| Float(r.alpha_xmax);
    "mu", Details, Float, "", 3,
        "tail exponent μ of the entries implied by α (§3.2, Eqn. 10; empty in the weak class)",
        get |r| Float(r.mu);
    "universality", Details, Text, "", 0,
        "universality class from α: `very-heavy` (μ < 2), `fat` (2 < μ < 4), `weak` (μ > 4) (Table 3)",
        get |r| Text(r.universality.map_or("", |u| u.as_str()));
    "dtype", Details, Text, "", 0,
        "stored element type",
        get |r| Text(&r.dtype);
    "message", Details, Text, "", 0,
        "why the status is not success (names the file and the tensor)",
        get |r| Text(&r.message);

    "best_fit", TailFits, Text, "", 0,
        "the tail's best law by weightwatcher's rule: PL, TPL, EXP, LOG_N, S_EXP (Table 5)",
        get |r| Text(r.tail.as_ref().map_or("", |t| t.best_fit.as_str()));
    "tpl_alpha", TailFits, Float, "", 3,
        "truncated power law λ^−α e^(−λ/λc): α",
        get |r| Float(r.tail.as_ref().map(|t| t.tpl_alpha));
    "tpl_lambda", TailFits, Float, "", 4,
        "truncated power law: the cut-off rate 1/λc",
        get |r| Float(r.tail.as_ref().map(|t| t.tpl_lambda));
    "exp_lambda", TailFits, Float, "", 4,
        "exponential e^(−λx): rate",
        get |r| Float(r.tail.as_ref().map(|t| t.exp_lambda));
    "logn_mu", TailFits, Float, "", 4,
        "lognormal: μ of ln λ",
        get |r| Float(r.tail.as_ref().and_then(|t| t.logn_mu));
    "logn_sigma", TailFits, Float, "", 4,
        "lognormal: σ of ln λ",
        get |r| Float(r.tail.as_ref().and_then(|t| t.logn_sigma));
    "sexp_lambda", TailFits, Float, "", 4,
        "stretched exponential e^(−(λx)^β): rate",
        get |r| Float(r.tail.as_ref().and_then(|t| t.sexp_lambda));
    "sexp_beta", TailFits, Float, "", 4,
        "stretched exponential: β",
        get |r| Float(r.tail.as_ref().and_then(|t| t.sexp_beta));
    "R_tpl", TailFits, Float, "", 3,
        "log-likelihood ratio power law vs truncated power law (R > 0 favours the power law)",
        get |r| Float(r.tail.as_ref().map(|t| t.r_tpl));
    "p_tpl", TailFits, Float, "", 3,
        "p-value of R_tpl (nested: χ² test)",
        get |r| Float(r.tail.as_ref().map(|t| t.p_tpl));
    "R_exp", TailFits, Float, "", 3,
        "log-likelihood ratio power law vs exponential",
        get |r| Float(r.tail.as_ref().map(|t| t.r_exp));
    "p_exp", TailFits, Float, "", 3,
        "Vuong p-value of R_exp",
        get |r| Float(r.tail.as_ref().map(|t| t.p_exp));
    "R_logn", TailFits, Float, "", 3,
        "log-likelihood ratio power law vs lognormal",
        get |r| Float(r.tail.as_ref().map(|t| t.r_logn));
    "p_logn", TailFits, Float, "", 3,
        "Vuong p-value of R_logn",
        get |r| Float(r.tail.as_ref().map(|t| t.p_logn));
    "R_sexp", TailFits, Float, "", 3,
        "log-likelihood ratio power law vs stretched exponential",
        get |r| Float(r.tail.as_ref().map(|t| t.r_sexp));
    "p_sexp", TailFits, Float, "", 3,
        "Vuong p-value of R_sexp",
        get |r| Float(r.tail.as_ref().map(|t| t.p_sexp));

    "num_fingers", Fingers, Int, "", 0,
        "top eigenvalues removed by clip-xmax (0 for xmin-peak)",
        get |r| Int(r.fingers.map(|f| f.num_fingers));
    "raw_alpha", Fingers, Float, "", 3,
        "α before the finger correction",
        get |r| Float(r.fingers.map(|f| f.raw_alpha));
    "xmin_peak", Fingers, Float, "", 4,
        "the log-ESD peak near which xmin was searched (xmin-peak)",
        get |r| Float(r.fingers.and_then(|f| f.xmin_peak));

    "detX_num", DetX, Int, "", 0,
        "eigenvalues in weightwatcher's detX tail (product of mean-one eigenvalues reaches 1)",
        get |r| Int(r.detx.map(|d| d.detx_num));
    "detX_val", DetX, Float, "", 4,
        "smallest eigenvalue of the detX tail, original scale (weightwatcher swaps the two names)",
        get |r| Float(r.detx.map(|d| d.detx_val));
    "detX_val_rescaled", DetX, Float, "", 4,
        "the same on the mean-one scale",
        get |r| Float(r.detx.map(|d| d.detx_val_rescaled));

    "pl_pvalue", Bootstrap, Float, "", 3,
        "goodness-of-fit p-value of the power law from B bootstrap samples (Clauset–Shalizi–Newman §4.1; p ≤ 0.1 rules it out)",
        get |r| Float(r.pl_pvalue);

    "farms_alpha", Farms, Float, "", 3,
        "α of the pooled ESD of fixed-aspect-ratio submatrices (FARMS: windows of `farms_rows` × `farms_cols`, xmin the median unless `--farms-xmin ks`), free of the layer's aspect-ratio bias",
        get |r| Float(r.farms.map(|f| f.farms_alpha));
    "farms_xmin", Farms, Float, "", 4,
        "xmin of the FARMS fit",
        get |r| Float(r.farms.map(|f| f.farms_xmin));
    "farms_D", Farms, Float, "", 3,
        "KS distance of the FARMS fit",
        get |r| Float(r.farms.map(|f| f.farms_d));
    "farms_num_submatrices", Farms, Int, "farms_subs", 0,
        "submatrices pooled into the FARMS ESD (over all maps of a convolution)",
        get |r| Int(r.farms.map(|f| f.farms_num_submatrices));
    "farms_rows", Farms, Int, "", 0,
        "rows of each FARMS submatrix (100, fewer in small layers)",
        get |r| Int(r.farms.map(|f| f.farms_rows));
    "farms_cols", Farms, Int, "", 0,
        "columns of each FARMS submatrix, ⌊rows·Q⌋ (Q = 2 by default)",
        get |r| Int(r.farms.map(|f| f.farms_cols));
    "farms_num_evals", Farms, Int, "", 0,
        "eigenvalues in the pooled FARMS ESD",
        get |r| Int(r.farms.map(|f| f.farms_num_evals));

    "num_spikes", MpFit, Int, "mp_spikes", 0,
        "eigenvalues beyond the MP edge λ⁺ + ΔλM (§3.1, Eqn. 9)",
        get |r| Int(r.mp.map(|m| m.num_spikes));
    "sigma_mp", MpFit, Float, "", 4,
        "σ of the fitted MP bulk on mean-one eigenvalues (≈ 1 for a random matrix; Eqn. 8)",
        get |r| Float(r.mp.map(|m| m.sigma_mp));
    "mp_softrank", MpFit, Float, "mp_soft", 3,
        "MP soft rank λ⁺/λmax (Eqn. 11); 0 when no MP bulk fits",
        get |r| Float(r.mp.map(|m| m.mp_softrank));
    "W_scale", MpFit, Float, "", 4,
        "1/√(mean eigenvalue): the scale that makes the ESD mean one",
        get |r| Float(r.mp.map(|m| 1.0 / m.scale.sqrt()));
    "bulk_max", MpFit, Float, "", 4,
        "λ⁺, the upper edge of the fitted bulk (Eqn. 9)",
        get |r| Float(r.mp.map(|m| m.bulk_max));
    "bulk_min", MpFit, Float, "", 4,
        "λ⁻, the lower edge of the fitted bulk (Eqn. 9)",
        get |r| Float(r.mp.map(|m| m.bulk_min));
    "num_bleeding_out", MpFit, Int, "", 0,
        "spikes in the band just above λ⁺ (up to λ⁺ + max(4ΔλM, 0.25λ⁺)): Bleeding-out (§5.2)",
        get |r| Int(r.mp.map(|m| m.num_bleeding_out));
    "bulk_ks", MpFit, Float, "", 3,
        "KS distance of the bulk from the fitted MP law (the fit's quality)",
        get |r| Float(r.mp.map(|m| m.bulk_ks));
    "tw_margin", MpFit, Float, "", 4,
        "finite-size margin ΔλM = Q^(−1/2)(λ⁺)^(2/3)M^(−2/3) (§3.1)",
        get |r| Float(r.mp.map(|m| m.tw_margin));

    "max_rand_eval", Randomize, Float, "", 3,
        "largest eigenvalue of the element-shuffled W (over all shuffles)",
        get |r| Float(r.randomization.map(|x| x.max_rand_eval));
    "rand_distance", Randomize, Float, "", 4,
        "weightwatcher's Jensen–Shannon distance between the sorted eigenvalue vectors of W and shuffled W",
        get |r| Float(r.randomization.map(|x| x.rand_distance));
    "rand_esd_distance", Randomize, Float, "", 4,
        "Jensen–Shannon distance between the two densities (histograms of log10 λ, 100 shared bins)",
        get |r| Float(r.randomization.map(|x| x.rand_esd_distance));
    "ww_softrank", Randomize, Float, "", 4,
        "max shuffled λ / λmax (first shuffle)",
        get |r| Float(r.randomization.map(|x| x.ww_softrank));
    "ww_maxdist", Randomize, Float, "", 4,
        "λmax − max shuffled λ (first shuffle)",
        get |r| Float(r.randomization.map(|x| x.ww_maxdist));
    "rand_num_spikes", Randomize, Int, "", 0,
        "spikes of the shuffled ESD above its own MP edge: correlation traps",
        get |r| Int(r.randomization.map(|x| x.rand_num_spikes));
    "rand_sigma_mp", Randomize, Float, "", 4,
        "σ of the MP fit of the shuffled ESD (σ_shuf of §6.3)",
        get |r| Float(r.randomization.map(|x| x.rand_sigma_mp));
    "rand_mp_softrank", Randomize, Float, "", 3,
        "MP soft rank of the shuffled ESD (Eqn. 11)",
        get |r| Float(r.randomization.map(|x| x.rand_mp_softrank));
    "rand_bulk_max", Randomize, Float, "", 4,
        "λ⁺ of the shuffled ESD's MP fit",
        get |r| Float(r.randomization.map(|x| x.rand_bulk_max));

    "bulk_mean_vec_entropy", Vectors, Float, "", 4,
        "mean vector entropy of the bulk eigenvectors (§3.3)",
        get |r| Float(r.vectors.map(|v| v.bulk_mean_vec_entropy));
    "bulk_var_vec_entropy", Vectors, Float, "", 4,
        "variance of the bulk eigenvectors' vector entropy",
        get |r| Float(r.vectors.map(|v| v.bulk_var_vec_entropy));
    "bulk_mean_loc_ratio", Vectors, Float, "", 4,
        "mean localization ratio ‖v‖₁/‖v‖∞ of the bulk eigenvectors (§3.3)",
        get |r| Float(r.vectors.map(|v| v.bulk_mean_loc_ratio));
    "bulk_var_loc_ratio", Vectors, Float, "", 4,
        "variance of the bulk localization ratio",
        get |r| Float(r.vectors.map(|v| v.bulk_var_loc_ratio));
    "bulk_mean_part_ratio", Vectors, Float, "", 4,
        "mean participation ratio ‖v‖₂/‖v‖₄ of the bulk eigenvectors (§3.3)",
        get |r| Float(r.vectors.map(|v| v.bulk_mean_part_ratio));
    "bulk_var_part_ratio", Vectors, Float, "", 4,
        "variance of the bulk participation ratio",
        get |r| Float(r.vectors.map(|v| v.bulk_var_part_ratio));
    "tail_mean_vec_entropy", Vectors, Float, "", 4,
        "mean vector entropy of the tail (top `num_pl_spikes`) eigenvectors",
        get |r| Float(r.vectors.map(|v| v.tail_mean_vec_entropy));
    "tail_var_vec_entropy", Vectors, Float, "", 4,
        "variance of the tail eigenvectors' vector entropy",
        get |r| Float(r.vectors.map(|v| v.tail_var_vec_entropy));
    "tail_mean_loc_ratio", Vectors, Float, "", 4,
        "mean localization ratio of the tail eigenvectors",
        get |r| Float(r.vectors.map(|v| v.tail_mean_loc_ratio));
    "tail_var_loc_ratio", Vectors, Float, "", 4,
        "variance of the tail localization ratio",
        get |r| Float(r.vectors.map(|v| v.tail_var_loc_ratio));
    "tail_mean_part_ratio", Vectors, Float, "", 4,
        "mean participation ratio of the tail eigenvectors",
        get |r| Float(r.vectors.map(|v| v.tail_mean_part_ratio));
    "tail_var_part_ratio", Vectors, Float, "", 4,
        "variance of the tail participation ratio",
        get |r| Float(r.vectors.map(|v| v.tail_var_part_ratio));

    "phase", Phase, Text, "", 0,
        "Random-like, Bleeding-out, Bulk+Spikes, Bulk-decay, Heavy-Tailed or Rank-collapse (§5, Table 7); empty where M < 100 (too few eigenvalues per matrix to call one)",
        get |r| Text(r.phase.as_ref().map_or("", |p| p.phase.as_str()));
    "phase_confidence", Phase, Float, "", 2,
        "0.5 where the evidence lies on the boundary with `phase_runner_up`, 1 far from any",
        get |r| Float(r.phase.as_ref().map(|p| p.confidence));
    "phase_runner_up", Phase, Text, "", 0,
        "the next most likely phase when the evidence is near a boundary (confidence < 0.9)",
        get |r| Text(r.phase.as_ref().and_then(|p| p.runner_up).map_or("", |p| p.as_str()));
    "phase_reason", Phase, Text, "", 0,
        "the evidence for the phase, in words",
        get |r| Text(r.phase.as_ref().map_or("", |p| p.reason.as_str()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_groups_contiguous() {
        let mut names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate column names");
        // CSV order is group order: each group's columns are one run, in Group::ALL order.
        let groups: Vec<Group> = COLUMNS.iter().map(|c| c.group).collect();
        let mut runs = groups.clone();
        runs.dedup();
        assert_eq!(runs, Group::ALL.to_vec());
    }

    #[test]
    fn a_computed_column_reads_what_diagnose_kept() {
        let c = Column {
            name: "trace",
            group: Group::Details,
            kind: Kind::Float,
            short: "",
            decimals: 3,
            meaning: "Σλ",
            get: |_| Float(None),
            compute: Some(|e| Some(e.evals.iter().sum())),
        };
        let esd = Esd {
            evals: &[1.0, 2.0, 4.0],
            n: 5,
            m: 3,
            rf: 1,
        };
        let mut row: LayerResult = serde_json::from_str(
            r#"{"layer_id": 0, "name": "a", "longname": "a.weight", "layer_type": "dense",
                "shape": [5, 3], "dtype": "F64", "N": 5, "M": 3, "Q": 1.6666666666666667,
                "rf": 1, "status": "success", "warning": "", "message": ""}"#,
        )
        .unwrap();
        assert_eq!(c.value(&row), Float(None));
        row.computed
            .insert("trace".into(), (c.compute.unwrap())(&esd).unwrap());
        assert_eq!(c.value(&row), Float(Some(7.0)));
        assert_eq!(c.value(&row).to_csv(), "7");
        // Kept values are top-level JSON keys, and read back.
        let json = serde_json::to_string(&row).unwrap();
        assert!(json.ends_with(",\"trace\":7.0}"), "{json}");
        let back: LayerResult = serde_json::from_str(&json).unwrap();
        assert_eq!(back.computed.get("trace"), Some(&7.0));
    }

    #[test]
    fn values_format_as_before() {
        assert_eq!(Float(Some(0.1)).to_csv(), "0.1");
        for x in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            assert_eq!(Float(Some(x)).to_csv(), "");
            assert_eq!(Float(Some(x)).to_table(3), "-");
        }
        assert_eq!(Float(None).to_csv(), "");
        assert_eq!(Int(Some(3)).to_csv(), "3");
        assert_eq!(Float(Some(2.0 / 3.0)).to_table(3), "0.667");
        assert_eq!(Float(None).to_table(3), "-");
    }
}
