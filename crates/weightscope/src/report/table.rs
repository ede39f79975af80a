//! Plain-text tables for a terminal.

use crate::analyze::{Description, Report, Status};

fn f(v: Option<f64>, prec: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.prec$}"),
        Some(x) => x.to_string(),
        None => "-".into(),
    }
}

/// Left-align column 0 and right-align the others, padded to the widest cell.
fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = width[i] - c.chars().count();
            if i == 0 || i == cells.len() - 1 {
                s.push_str(c);
                if i != cells.len() - 1 {
                    s.push_str(&" ".repeat(pad));
                }
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
            if i + 1 < cells.len() {
                s.push_str("  ");
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r.clone()));
    }
    out
}

/// The per-layer table of `analyze`.
pub fn layer_table(report: &Report) -> String {
    let has_mp = report.layers.iter().any(|r| r.mp.is_some());
    let has_phase = report.layers.iter().any(|r| r.phase.is_some());
    let mut header = vec![
        "layer",
        "id",
        "type",
        "N×M",
        "rf",
        "alpha",
        "alpha_w",
        "D",
        "xmin",
        "spikes",
        "λmax",
        "stable_rk",
        "entropy",
    ];
    if has_mp {
        header.extend(["mp_soft", "mp_spikes"]);
    }
    if has_phase {
        header.push("phase");
    }
    header.push("status");
    let rows: Vec<Vec<String>> = report
        .layers
        .iter()
        .map(|r| {
            let name = match r.slice_id {
                Some(s) => format!("{}[{s}]", r.name),
                None => r.name.clone(),
            };
            let status = match r.status {
                Status::Success if r.warning.is_empty() => "ok".to_string(),
                Status::Success => r.warning.clone(),
                Status::Failed => "fit failed".to_string(),
                Status::Error => format!("error: {}", r.message),
            };
            let mut row = vec![
                name,
                r.layer_id.to_string(),
                r.layer_type.clone(),
                format!("{}×{}", r.n, r.m),
                r.rf.to_string(),
                f(r.alpha, 3),
                f(r.alpha_weighted, 3),
                f(r.d, 3),
                f(r.xmin, 4),
                r.num_pl_spikes.map_or("-".into(), |x| x.to_string()),
                f(r.lambda_max, 3),
                f(r.stable_rank, 2),
                f(r.entropy, 3),
            ];
            if has_mp {
                row.push(f(r.mp.map(|m| m.mp_softrank), 3));
                row.push(r.mp.map_or("-".into(), |m| m.num_spikes.to_string()));
            }
            if has_phase {
                row.push(
                    r.phase
                        .as_ref()
                        .map_or("-".into(), |p| p.phase.as_str().to_string()),
                );
            }
            row.push(status);
            row
        })
        .collect();
    render(&header, &rows)
}

/// The model summary of `analyze`.
pub fn summary_text(report: &Report) -> String {
    let s = &report.summary;
    let mut out = format!(
        "{} ({}): {} layers analysed, {} fit failed, {} errors, {} tensors skipped\n",
        report.source,
        report.format,
        s.layers_analyzed,
        s.layers_failed,
        s.layers_error,
        s.layers_skipped
    );
    let items = [
        ("alpha (mean α)", s.alpha),
        ("alpha_weighted (α̂)", s.alpha_weighted),
        ("log_alpha_norm", s.log_alpha_norm),
        ("log_norm", s.log_norm),
        ("log_spectral_norm", s.log_spectral_norm),
        ("stable_rank", s.stable_rank),
        ("entropy", s.entropy),
        ("mp_softrank", s.mp_softrank),
    ];
    for (k, v) in items {
        if k == "mp_softrank" && v.is_none() {
            continue;
        }
        out.push_str(&format!("  {k:<20} {}\n", f(v, 4)));
    }
    if !s.phases.is_empty() {
        let parts: Vec<String> = s.phases.iter().map(|(p, n)| format!("{n} {p}")).collect();
        out.push_str(&format!("  phases: {}\n", parts.join(", ")));
    }
    let over = report
        .layers
        .iter()
        .filter(|r| r.warning == "over-trained")
        .count();
    let under = report
        .layers
        .iter()
        .filter(|r| r.warning == "under-trained")
        .count();
    out.push_str(&format!(
        "  warnings: {over} over-trained (α < 2), {under} under-trained (α > 6)\n"
    ));
    out
}

/// The table of `describe`.
pub fn describe_table(d: &Description) -> String {
    let header = [
        "tensor", "id", "kind", "shape", "dtype", "N×M", "rf", "evals", "action",
    ];
    let rows: Vec<Vec<String>> = d
        .layers
        .iter()
        .map(|p| {
            let name = match p.slice_id {
                Some(s) => format!("{}[{s}]", p.longname),
                None => p.longname.clone(),
            };
            vec![
                name,
                p.layer_id.to_string(),
                p.kind.map_or("-", |k| k.as_str()).to_string(),
                format!("{:?}", p.shape),
                p.dtype.clone(),
                if p.m > 0 {
                    format!("{}×{}", p.n, p.m)
                } else {
                    "-".into()
                },
                p.rf.to_string(),
                p.num_evals.to_string(),
                match (&p.skip, &p.note) {
                    (None, None) => "analyse".to_string(),
                    (None, Some(n)) => format!("analyse: {n}"),
                    (Some(r), _) => format!("skip: {r}"),
                },
            ]
        })
        .collect();
    let n_an = d.layers.iter().filter(|p| p.skip.is_none()).count();
    format!(
        "{} ({}; {} file(s)): {} layers to analyse, {} skipped\nfiles read: {}\n{}",
        d.source,
        d.format,
        d.files.len(),
        n_an,
        d.layers.len() - n_an,
        d.files.join(", "),
        render(&header, &rows)
    )
}
