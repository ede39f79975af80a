//! Plain-text tables for a terminal.

use weightscope::columns::{col, Column, Group};
use weightscope::diagnose::warning::{Warning, ALPHA_OVER_TRAINED, ALPHA_UNDER_TRAINED};
use weightscope::summary::SUMMARY_METRICS;
use weightscope::{Description, Report, Status};

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

/// The registry columns of the terminal table, in its order (the layer name, N×M and the
/// status are composed from several columns).
const TABLE_COLUMNS: [&str; 11] = [
    "layer_id",
    "layer_type",
    "rf",
    "alpha",
    "alpha_weighted",
    "D",
    "xmin",
    "num_pl_spikes",
    "lambda_max",
    "stable_rank",
    "entropy",
];

/// The per-layer table of `analyze`.
pub fn layer_table(report: &Report) -> String {
    let mut columns: Vec<&Column> = TABLE_COLUMNS.iter().map(|n| col(n)).collect();
    if report.layers.iter().any(|r| Group::MpFit.present(r)) {
        columns.extend([col("mp_softrank"), col("num_spikes")]);
    }
    if report.layers.iter().any(|r| Group::Farms.present(r)) {
        columns.push(col("farms_alpha"));
    }
    if report.layers.iter().any(|r| Group::Phase.present(r)) {
        columns.push(col("phase"));
    }
    let mut header = vec!["layer"];
    header.extend(columns.iter().map(|c| c.header()));
    // N×M after the type.
    header.insert(3, "N×M");
    header.push("status");
    let rows: Vec<Vec<String>> = report
        .layers
        .iter()
        .map(|r| {
            let name = match r.slice_id {
                Some(s) => format!("{}[{s}]", visible(&r.name)),
                None => visible(&r.name),
            };
            let status = match r.status {
                Status::Success if r.warning.is_none() => "ok".to_string(),
                Status::Success => r.warning.as_str().to_string(),
                Status::Failed => "fit failed".to_string(),
                Status::Error => format!("error: {}", visible(&r.message)),
            };
            let mut row = vec![name];
            row.extend(columns.iter().map(|c| c.value(r).to_table(c.decimals)));
            row.insert(3, format!("{}×{}", r.n, r.m));
            row.push(status);
            row
        })
        .collect();
    render(&header, &rows)
}

/// `text` with its control characters escaped (`\n`, `\t`, `\u{1b}`): a tensor name is
/// whatever the file says, and a newline or an ANSI escape sequence in it would break the
/// table's rows or take over the terminal. CSV and JSON keep names exact (they quote and
/// escape them themselves).
pub fn visible(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
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
    for m in SUMMARY_METRICS {
        let v = (m.get)(s);
        if m.optional && v.is_none() {
            continue;
        }
        out.push_str(&format!("  {:<20} {}\n", m.label, f(v, 4)));
    }
    if !s.phases.is_empty() {
        let parts: Vec<String> = s.phases.iter().map(|(p, n)| format!("{n} {p}")).collect();
        out.push_str(&format!("  phases: {}\n", parts.join(", ")));
    }
    let (over, under) = Warning::counts(&report.layers);
    out.push_str(&format!(
        "  warnings: {over} over-trained (α < {ALPHA_OVER_TRAINED}), {under} under-trained (α > {ALPHA_UNDER_TRAINED})\n"
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
                Some(s) => format!("{}[{s}]", visible(&p.longname)),
                None => visible(&p.longname),
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

#[cfg(test)]
mod tests {
    use super::visible;

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(visible("layers.0.weight"), "layers.0.weight");
        assert_eq!(visible("a\nb"), "a\\nb");
        assert_eq!(visible("x\u{1b}[31mred"), "x\\u{1b}[31mred");
        assert_eq!(visible("tab\there\r"), "tab\\there\\r");
        assert_eq!(visible("ünïcode→ok"), "ünïcode→ok");
    }
}
