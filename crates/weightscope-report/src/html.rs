//! The HTML report: one self-contained file (no network, no external scripts or fonts) with
//! the model summary, the depth plots, a sortable per-layer table whose rows open the layer's
//! plots, and a legend of the phases and metrics.
//!
//! The layer plots are inline SVGs inside `<template>` elements: the browser parses them but
//! neither lays out nor draws them until a row is opened, so a model with hundreds of layers
//! opens at once. When they would take more than [`RAW_PLOTS_LIMIT`] bytes, each layer's
//! plots are stored gzip-compressed (base64) instead, about six times smaller, and inflated
//! by the browser (`DecompressionStream`) when the row is opened. A few lines of inline
//! JavaScript sort, filter and open rows; without it the summary, the depth plots and the
//! table still show.

use crate::plots::{self, ImageFormat, LayerPlot, ModelPlot};
use crate::Result;
use rayon::prelude::*;
use std::fmt::Write;
use weightscope::columns::col;
use weightscope::diagnose::warning::Warning;
use weightscope::{LayerResult, Report, Status};

/// Above this many bytes of layer plots, they are stored compressed.
pub const RAW_PLOTS_LIMIT: usize = 8 << 20;

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                o.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                o.push('=');
            }
        }
    }
    o
}

/// gzip (no timestamp, no name: the same input gives the same bytes).
fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    e.write_all(data).expect("writing to memory");
    e.finish().expect("writing to memory")
}

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A plot as inline SVG.
fn svg_inline(fig: &plots::Figure) -> Result<String> {
    let bytes = plots::render(fig, ImageFormat::Svg)?;
    let s = String::from_utf8(bytes).expect("plotters writes UTF-8 SVG");
    Ok(compact_svg(&s))
}

/// Drop the font family (the page's style sets it) and the line breaks.
pub fn compact_svg(s: &str) -> String {
    s.replace(" font-family=\"sans-serif\"", "")
        .replace('\n', "")
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.filter(|x| x.is_finite()).map(f).unwrap_or_default()
}

/// A numeric cell: the shown text and the exact value to sort on.
fn num_cell(v: Option<f64>, shown: impl Fn(f64) -> String) -> String {
    match v.filter(|x| x.is_finite()) {
        Some(x) => format!("<td class=\"n\" data-v=\"{x}\">{}</td>", escape(&shown(x))),
        None => "<td class=\"n\" data-v=\"\"></td>".to_string(),
    }
}

/// The registry's numeric columns of the layer table, with their headers.
const HTML_COLUMNS: [(&str, &str); 6] = [
    ("alpha", "α"),
    ("alpha_weighted", "α̂"),
    ("D", "D"),
    ("lambda_max", "λmax"),
    ("stable_rank", "stable rank"),
    ("mp_softrank", "MP soft rank"),
];

fn warnings(r: &LayerResult) -> String {
    let mut w = Vec::new();
    if !r.warning.is_none() {
        w.push(r.warning.as_str().to_string());
    }
    match r.status {
        Status::Success => {}
        Status::Failed => w.push("no power-law fit".into()),
        Status::Error => w.push(format!("error: {}", r.message)),
    }
    if let Some(rz) = &r.randomization {
        if rz.rand_num_spikes > 0 {
            w.push(format!("{} correlation trap(s)", rz.rand_num_spikes));
        }
    }
    w.join("; ")
}

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0 auto;max-width:1280px;padding:0 20px 40px;color:#222;line-height:1.4}
h1{font-size:1.5em;margin:18px 0 4px}h2{font-size:1.2em;margin:26px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
code{background:#f3f3f3;padding:0 3px;border-radius:3px}
.meta{color:#555;font-size:.9em;margin:0}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-top:12px}
.card{border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:120px;background:#fafafa}
.card b{display:block;font-size:1.25em}.card span{color:#555;font-size:.85em}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:10px}
figure{margin:0;border:1px solid #e4e4e4;border-radius:4px;background:#fff}
figure svg{width:100%;height:auto;display:block;font-family:"DejaVu Sans",sans-serif}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{padding:3px 7px;border-bottom:1px solid #eee;text-align:left;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
th{position:sticky;top:0;background:#f0f0f0;cursor:pointer;user-select:none}
th[data-dir=asc]::after{content:" \25B2"}th[data-dir=desc]::after{content:" \25BC"}
tr.r{cursor:pointer}tr.r:hover{background:#f4f8ff}tr.r.open{background:#e8f0fe}
tr.det>td{background:#fcfcfc;padding:8px;white-space:normal}
td.w{color:#b22;white-space:normal}
.ph{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:5px;vertical-align:-1px}
.tools{margin:6px 0;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
.tools input{padding:3px 6px;min-width:260px}
dl.leg dt{font-weight:600;margin-top:6px}dl.leg dd{margin:0 0 0 18px}
.small{font-size:.85em;color:#555}
"#;

const SCRIPT: &str = r#"
(function(){
var tb=document.querySelector('#layers tbody');
function inflate(b){var s=atob(b.trim()),u=new Uint8Array(s.length);for(var i=0;i<s.length;i++)u[i]=s.charCodeAt(i);
return new Response(new Blob([u]).stream().pipeThrough(new DecompressionStream('gzip'))).text();}
function det(r){var n=r.nextElementSibling;return n&&n.className==='det'?n:null;}
function toggle(r){var d=det(r);if(d){d.remove();r.classList.remove('open');return;}
var t=document.getElementById('L'+r.dataset.i);d=document.createElement('tr');d.className='det';
var c=document.createElement('td');c.colSpan=r.cells.length;
if(!t){c.textContent='No plots for this layer (no spectrum).';}
else if(t.hasAttribute('data-gz')){c.textContent='inflating plots\u2026';inflate(t.content.textContent).then(function(h){c.innerHTML=h;},function(){c.textContent='This browser cannot inflate the compressed plots (no DecompressionStream): see weightscope plot.';});}
else{c.appendChild(t.content.cloneNode(true));}
d.appendChild(c);r.after(d);r.classList.add('open');}
tb.addEventListener('click',function(e){var r=e.target.closest('tr.r');if(r&&!e.target.closest('a'))toggle(r);});
document.querySelectorAll('#layers th').forEach(function(th,k){th.addEventListener('click',function(){
var asc=th.dataset.dir!=='asc';th.parentNode.querySelectorAll('th').forEach(function(h){delete h.dataset.dir;});
th.dataset.dir=asc?'asc':'desc';var num=th.classList.contains('n');
var rows=Array.prototype.slice.call(tb.querySelectorAll('tr.r'));
function key(r){var c=r.cells[k];if(num){return c.dataset.v===''?NaN:parseFloat(c.dataset.v);}return c.textContent;}
rows.sort(function(a,b){var x=key(a),y=key(b);
if(num){if(isNaN(x))return isNaN(y)?0:1;if(isNaN(y))return -1;return asc?x-y:y-x;}
return asc?x.localeCompare(y):y.localeCompare(x);});
rows.forEach(function(r){var d=det(r);tb.appendChild(r);if(d)tb.appendChild(d);});});});
var f=document.getElementById('filter');
f.addEventListener('input',function(){var q=f.value.toLowerCase();
tb.querySelectorAll('tr.r').forEach(function(r){var hide=q&&r.dataset.name.indexOf(q)<0;r.hidden=hide;var d=det(r);if(d)d.hidden=hide;});});
document.getElementById('closeall').addEventListener('click',function(){
tb.querySelectorAll('tr.det').forEach(function(d){d.remove();});tb.querySelectorAll('tr.open').forEach(function(r){r.classList.remove('open');});});
var m=/^#layer-(\d+)$/.exec(location.hash);if(m){var r=tb.querySelector('tr.r[data-i="'+(m[1]-1)+'"]');if(r){toggle(r);if(location.search.indexOf('noscroll')<0)r.scrollIntoView();}}
})();
"#;

fn legend_html() -> &'static str {
    r#"<section id="legend"><h2>Legend</h2>
<p class="small">Equation, section, table and figure numbers refer to C. H. Martin and M. W. Mahoney,
<i>Implicit Self-Regularization in Deep Neural Networks: Evidence from Random Matrix Theory and
Implications for Learning</i> (2018).</p>
<dl class="leg">
<dt>ESD ρ(λ)</dt><dd>Empirical spectral density: the histogram of the eigenvalues λ of X = WᵀW of a
layer's N×M weight matrix W, N ≥ M (the paper normalises X = WᵀW/N, Eqn. 4; <code>--normalize</code>).
Convolutions pool the ESDs of their kh·kw maps.</dd>
<dt>MP fit, λ⁻, λ⁺, σ</dt><dd>The Marchenko–Pastur density of a random matrix (Eqn. 8) fitted to the
bulk, with edges λ± = σ²(1 ± 1/√Q)², Q = N/M (Eqn. 9). Spikes are eigenvalues beyond λ⁺ + ΔλM, the
finite-size margin of §3.1.</dd>
<dt>α (alpha)</dt><dd>Exponent of the power law ρ(λ) ∼ λ<sup>−α</sup> fitted to the tail λ ≥ xmin (§3.2,
Clauset–Shalizi–Newman: maximum-likelihood α, xmin chosen to minimise D). Well-trained layers have
2 ≤ α ≤ 6; α &lt; 2 is flagged <i>over-trained</i>, α &gt; 6 <i>under-trained</i> (weightwatcher's
thresholds).</dd>
<dt>D</dt><dd>Kolmogorov–Smirnov distance between the tail and the fitted power law (Table 5): smaller is a better fit.</dd>
<dt>α̂ (alpha weighted)</dt><dd>α·log₁₀ λmax, the authors' model-quality metric (weightwatcher's
<code>alpha_weighted</code>, from their later work); its mean over layers compares models.</dd>
<dt>Stable rank R<sub>s</sub></dt><dd>‖W‖²<sub>F</sub>/‖W‖²₂ = Σλ/λmax (Eqn. 7). Hard rank R(W): Eqn. 5; matrix entropy S(W): Eqn. 6.</dd>
<dt>MP soft rank R<sub>mp</sub></dt><dd>λ⁺/λmax (Eqn. 11); 0 when no MP bulk fits the ESD (§5).</dd>
<dt>Log spectral norm</dt><dd>log₁₀ λmax = log₁₀ ‖W‖²₂.</dd>
<dt>Shuffled W</dt><dd>With <code>--randomize</code>: the ESD of W with its elements shuffled, which keeps
their distribution but destroys correlations; spikes that survive are <i>correlation traps</i> (§6.3).</dd>
</dl>
<h3>The 5+1 phases of training (§5, Table 7)</h3>
<dl class="leg">
<dt><span class="ph" style="background:#7f7f7f"></span>Random-like</dt><dd>The ESD is fitted well by MP; λmax ≈ λ⁺ (§5.1).</dd>
<dt><span class="ph" style="background:#17becf"></span>Bleeding-out</dt><dd>Random-like, except some eigenvalue mass just above λ⁺, as spikes start to pull out of the bulk (§5.2).</dd>
<dt><span class="ph" style="background:#2ca02c"></span>Bulk+Spikes</dt><dd>Random-like bulk plus one or more spikes well above λ⁺ (§5.3): a low-rank signal on random noise.</dd>
<dt><span class="ph" style="background:#bcbd22"></span>Bulk-decay</dt><dd>Less random-like: heavy-tailed eigenvalue mass above λ⁺ and some spikes (§5.4).</dd>
<dt><span class="ph" style="background:#1f77b4"></span>Heavy-Tailed</dt><dd>Better described by heavy-tailed than Gaussian random-matrix theory: no good λ⁺, λmax ≫ λ⁺ (§5.5); the strongest self-regularization.</dd>
<dt><span class="ph" style="background:#d62728"></span>Rank-collapse</dt><dd>The "+1" phase: a large mass of eigenvalues at λ = 0; W is very rank-deficient (over-regularization, §5.6).</dd>
</dl>
<p class="small">Phases need <code>--phase</code> (the report turns it on). Each phase has a smaller
stable rank and MP soft rank, and more self-regularization, than the one before.</p>
</section>"#
}

fn hex(c: plots::Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// The report as one self-contained HTML page. Rows need their ESD (`keep_esd`) for their
/// plots; rows without one are listed with no plots.
pub fn report_html(report: &Report) -> Result<String> {
    let s = &report.summary;
    let name = std::path::Path::new(&report.source)
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_else(|| report.source.clone());

    // Plots, rendered in parallel (the output does not depend on the order).
    let model_svgs: Vec<String> = ModelPlot::ALL
        .par_iter()
        .map(|k| svg_inline(&plots::model_figure(report, *k)))
        .collect::<Result<_>>()?;
    let layer_svgs: Vec<Vec<(LayerPlot, String)>> = (0..report.layers.len())
        .into_par_iter()
        .map(|i| {
            let row = &report.layers[i];
            LayerPlot::ALL
                .iter()
                .filter(|k| k.available(row))
                .map(|k| Ok((*k, svg_inline(&plots::layer_figure(report, i, *k))?)))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<_>>()?;

    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"weightscope {}\">\n\
         <title>weightscope report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&report.weightscope),
        escape(&name)
    );

    // Summary.
    let _ = write!(
        h,
        "<header><h1>weightscope report: <code>{}</code></h1>\n<p class=\"meta\">{} · format {} · {} file(s) · weightscope {}</p>\n",
        escape(&name),
        escape(&report.source),
        escape(&report.format),
        report.files.len(),
        escape(&report.weightscope)
    );
    let o = &report.options;
    let mut flags = vec![if o.normalize {
        "X = WᵀW/N".to_string()
    } else {
        "X = WᵀW".to_string()
    }];
    flags.push(format!("power-law method {:?}", o.pl_method).to_lowercase());
    if o.mp_fit || o.phase {
        flags.push(format!("MP method {:?}", o.mp_method).to_lowercase());
    }
    if o.randomize {
        flags.push(format!(
            "randomize ({} shuffle(s), seed {})",
            o.shuffles, o.seed
        ));
    }
    let _ = writeln!(
        h,
        "<p class=\"meta\">options: {}</p>",
        escape(&flags.join(" · "))
    );
    let (over, under) = Warning::counts(&report.layers);
    let card = |h: &mut String, v: String, label: &str| {
        let _ = write!(
            h,
            "<div class=\"card\"><b>{}</b><span>{}</span></div>",
            escape(&v),
            label
        );
    };
    h.push_str("<div class=\"cards\" id=\"summary\">");
    card(&mut h, s.layers_analyzed.to_string(), "layers analysed");
    card(
        &mut h,
        format!(
            "{} / {} / {}",
            s.layers_failed, s.layers_error, s.layers_skipped
        ),
        "no fit / error / skipped",
    );
    card(&mut h, opt(s.alpha, |v| format!("{v:.3}")), "mean α");
    card(
        &mut h,
        opt(s.alpha_weighted, |v| format!("{v:.3}")),
        "mean α̂ (weighted α)",
    );
    card(
        &mut h,
        opt(s.log_spectral_norm, |v| format!("{v:.3}")),
        "mean log₁₀ λmax",
    );
    card(
        &mut h,
        opt(s.stable_rank, |v| format!("{v:.2}")),
        "mean stable rank",
    );
    card(
        &mut h,
        opt(s.entropy, |v| format!("{v:.3}")),
        "mean matrix entropy",
    );
    if s.mp_softrank.is_some() {
        card(
            &mut h,
            opt(s.mp_softrank, |v| format!("{v:.3}")),
            "mean MP soft rank",
        );
    }
    card(&mut h, format!("{over} / {under}"), "over- / under-trained");
    for (p, n) in &s.phases {
        card(&mut h, n.to_string(), &escape(p));
    }
    h.push_str("</div>\n</header>\n");

    // Depth plots.
    h.push_str("<section id=\"depth\"><h2>Layers by depth</h2>\n<div class=\"grid\">\n");
    for svg in &model_svgs {
        let _ = writeln!(h, "<figure>{svg}</figure>");
    }
    h.push_str("</div>\n</section>\n");

    // Table.
    let _ = write!(
        h,
        "<section><h2>Layers ({})</h2>\n<div class=\"tools\"><input id=\"filter\" type=\"search\" \
         placeholder=\"filter by layer name\"><button id=\"closeall\" type=\"button\">close all plots</button>\
         <span class=\"small\">Click a row for its plots, a column header to sort; \
         <code>report.html#layer-N</code> opens row N.</span></div>\n\
         <table id=\"layers\">\n<thead><tr><th class=\"n\">#</th><th class=\"n\">id</th><th>name</th>\
         <th>kind</th><th>shape N×M</th>{}<th>phase</th><th>warnings</th></tr></thead>\n<tbody>\n",
        report.layers.len(),
        HTML_COLUMNS
            .iter()
            .map(|(name, label)| format!(
                "<th class=\"n\" title=\"{}\">{label}</th>",
                escape(col(name).meaning)
            ))
            .collect::<String>()
    );
    for (i, r) in report.layers.iter().enumerate() {
        let shape = if r.rf > 1 {
            format!("{}×{} ×{}", r.n, r.m, r.rf)
        } else {
            format!("{}×{}", r.n, r.m)
        };
        let phase = r.phase.as_ref().map(|p| p.phase);
        let phase_cell = match &r.phase {
            Some(p) => format!(
                "<td title=\"{}\"><span class=\"ph\" style=\"background:{}\"></span>{}</td>",
                escape(&p.reason),
                hex(plots::phase_color(phase)),
                escape(p.phase.as_str())
            ),
            None => "<td></td>".into(),
        };
        let name = match r.slice_id {
            // A conv map, an expert or a part of a fused projection, as in the terminal table.
            Some(sl) => format!("{}[{sl}]", r.name),
            None => r.name.clone(),
        };
        let _ = writeln!(
            h,
            "<tr class=\"r\" data-i=\"{i}\" data-name=\"{}\"><td class=\"n\" data-v=\"{}\">{}</td>\
             <td class=\"n\" data-v=\"{}\">{}</td><td title=\"{}\">{}</td><td>{}</td><td>{}</td>{}{}<td class=\"w\">{}</td></tr>",
            escape(&r.longname.to_lowercase()),
            i + 1,
            i + 1,
            r.layer_id,
            r.layer_id,
            escape(&r.longname),
            escape(&name),
            escape(&r.layer_type),
            shape,
            HTML_COLUMNS
                .iter()
                .map(|(name, _)| {
                    let c = col(name);
                    num_cell(c.value(r).as_f64(), |v| match *name {
                        "lambda_max" => plots::fmt_sig(v, 4),
                        _ => format!("{v:.*}", c.decimals),
                    })
                })
                .collect::<String>(),
            phase_cell,
            escape(&warnings(r))
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");

    h.push_str(legend_html());
    h.push('\n');

    if !report.skipped.is_empty() {
        let _ = writeln!(
            h,
            "<section><h2>Skipped tensors</h2><details><summary>{} tensor(s) not analysed</summary>\
             <table><thead><tr><th>id</th><th>tensor</th><th>shape</th><th>reason</th></tr></thead><tbody>",
            report.skipped.len()
        );
        for k in &report.skipped {
            let shape: Vec<String> = k.shape.iter().map(|d| d.to_string()).collect();
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                k.layer_id,
                escape(&k.longname),
                shape.join("×"),
                escape(&k.reason)
            );
        }
        h.push_str("</tbody></table></details></section>\n");
    }

    // Layer plots, inert until a row is opened.
    let blocks: Vec<String> = layer_svgs
        .iter()
        .map(|svgs| {
            let mut b = String::from("<div class=\"grid\">");
            for (k, svg) in svgs {
                let _ = write!(b, "<figure data-plot=\"{}\">{svg}</figure>", k.file_stem());
            }
            b.push_str("</div>");
            b
        })
        .collect();
    let compress = blocks.iter().map(|b| b.len()).sum::<usize>() > RAW_PLOTS_LIMIT;
    let blocks: Vec<String> = if compress {
        blocks
            .par_iter()
            .map(|b| base64(&gzip(b.as_bytes())))
            .collect()
    } else {
        blocks
    };
    h.push_str("<div id=\"plots\" hidden>\n");
    for (i, (svgs, block)) in layer_svgs.iter().zip(&blocks).enumerate() {
        if svgs.is_empty() {
            continue;
        }
        let gz = if compress { " data-gz=\"\"" } else { "" };
        let _ = writeln!(h, "<template id=\"L{i}\"{gz}>{block}</template>");
    }
    h.push_str("</div>\n");
    let _ = write!(h, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    Ok(h)
}
