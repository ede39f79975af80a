//! Axis ticks and number formatting: [`fmt_sig`] for every number shown, round linear tick
//! steps, and log-axis labels as powers of ten with superscripts.

use super::figure::Axis;

/// `v` with `sig` significant digits, plain or scientific, without trailing zeros.
pub fn fmt_sig(v: f64, sig: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".into();
    }
    let e = v.abs().log10().floor() as i32;
    if !(-3..5).contains(&e) {
        let s = format!("{:.*e}", sig.saturating_sub(1), v);
        // 1.50e-5 → 1.5e-5
        if let Some((m, ex)) = s.split_once('e') {
            let m = if m.contains('.') {
                m.trim_end_matches('0').trim_end_matches('.')
            } else {
                m
            };
            return format!("{m}e{ex}");
        }
        return s;
    }
    let decimals = (sig as i32 - 1 - e).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Label of the tick m·10ᵏ on a log axis: a plain number near 1, else m·10ᵏ.
fn log_tick_label(m: f64, k: i64) -> String {
    if (-2..4).contains(&k) {
        fmt_sig(m * 10f64.powi(k as i32), 2)
    } else {
        format!("{m}·10{}", superscript(k as i32))
    }
}

fn superscript(n: i32) -> String {
    n.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            '9' => '⁹',
            c => c,
        })
        .collect()
}

/// Tick positions (display units) and labels of an axis.
pub(super) fn ticks(axis: &Axis) -> Vec<(f64, String)> {
    let (lo, hi) = axis.disp_range();
    if axis.log {
        let span = hi - lo;
        if span >= 1.0 - 1e-9 {
            let (k0, k1) = ((lo - 1e-9).ceil() as i64, (hi + 1e-9).floor() as i64);
            let count = (k1 - k0 + 1).max(1);
            let stride = ((count + 7) / 8).max(1);
            let mut t: Vec<(f64, String)> = (k0..=k1)
                .filter(|k| (k - k0) % stride == 0)
                .map(|k| (k as f64, format!("10{}", superscript(k as i32))))
                .collect();
            if span < 3.5 {
                // Few decades: also 2× and 5×, and plain numbers near 1 for all.
                for (d, label) in t.iter_mut() {
                    *label = log_tick_label(1.0, d.round() as i64);
                }
                for k in (k0 - 1)..=k1 {
                    for m in [2.0f64, 5.0] {
                        let d = k as f64 + m.log10();
                        if d >= lo && d <= hi {
                            t.push((d, log_tick_label(m, k)));
                        }
                    }
                }
                t.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            t
        } else {
            // Less than a decade: linear ticks on the values.
            linear_ticks(10f64.powf(lo), 10f64.powf(hi), 5)
                .into_iter()
                .filter(|(v, _)| *v > 0.0)
                .map(|(v, s)| (v.log10(), s))
                .collect()
        }
    } else {
        linear_ticks(lo, hi, 7)
    }
}

fn linear_ticks(lo: f64, hi: f64, target: usize) -> Vec<(f64, String)> {
    let raw = (hi - lo) / target as f64;
    if raw <= 0.0 || !raw.is_finite() {
        return vec![(lo, fmt_sig(lo, 3))];
    }
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    // Significant digits enough to tell neighbours apart.
    let top = lo.abs().max(hi.abs()).max(step);
    let sig = ((top.log10().floor() - step.log10().floor()) as i64 + 2).clamp(1, 8) as usize;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
            (v, fmt_sig(v, sig))
        })
        .collect()
}
