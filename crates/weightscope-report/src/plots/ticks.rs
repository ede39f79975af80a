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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_sig_keeps_significant_digits_and_drops_trailing_zeros() {
        assert_eq!(fmt_sig(1.23456, 3), "1.23");
        assert_eq!(fmt_sig(0.012345, 2), "0.012");
        assert_eq!(fmt_sig(2.5, 4), "2.5");
        assert_eq!(fmt_sig(-0.5, 2), "-0.5");
        assert_eq!(fmt_sig(0.0, 3), "0");
        // Plain numbers keep their integer digits even past `sig`.
        assert_eq!(fmt_sig(1234.5678, 3), "1235");
        assert_eq!(fmt_sig(99999.0, 2), "99999");
    }

    #[test]
    fn fmt_sig_rounds() {
        assert_eq!(fmt_sig(9.996, 3), "10");
        assert_eq!(fmt_sig(0.12345, 2), "0.12");
        assert_eq!(fmt_sig(2.675, 1), "3");
    }

    #[test]
    fn fmt_sig_is_scientific_outside_1e_minus_3_to_1e5() {
        assert_eq!(fmt_sig(123456.0, 3), "1.23e5");
        assert_eq!(fmt_sig(100000.0, 3), "1e5");
        assert_eq!(fmt_sig(0.00015, 2), "1.5e-4");
        assert_eq!(fmt_sig(-2.0e-7, 3), "-2e-7");
    }

    #[test]
    fn fmt_sig_of_non_finite_values() {
        assert_eq!(fmt_sig(f64::NAN, 3), "NaN");
        assert_eq!(fmt_sig(f64::INFINITY, 3), "inf");
        assert_eq!(fmt_sig(f64::NEG_INFINITY, 3), "-inf");
    }

    #[test]
    fn superscripts() {
        assert_eq!(superscript(0), "⁰");
        assert_eq!(superscript(-12), "⁻¹²");
        assert_eq!(superscript(3456789), "³⁴⁵⁶⁷⁸⁹");
    }

    #[test]
    fn log_tick_labels_are_plain_near_one_else_powers_of_ten() {
        assert_eq!(log_tick_label(1.0, 0), "1");
        assert_eq!(log_tick_label(5.0, -2), "0.05");
        assert_eq!(log_tick_label(2.0, 3), "2000");
        assert_eq!(log_tick_label(2.0, 5), "2·10⁵");
        assert_eq!(log_tick_label(1.0, -3), "1·10⁻³");
    }

    #[test]
    fn linear_ticks_on_zero_to_one() {
        let t = linear_ticks(0.0, 1.0, 7);
        let labels: Vec<&str> = t.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
    }

    /// The ticks lie in the range, cover it (no gap of a step or more at either end), are
    /// evenly spaced by a round step (1, 2, 2.5 or 5 times a power of ten) and have
    /// distinct labels.
    #[test]
    fn linear_ticks_cover_the_range_with_round_steps() {
        for (lo, hi) in [
            (0.0, 1.0),
            (-3.7, 12.2),
            (1e-6, 3e-6),
            (1234.0, 1240.0),
            (0.5, 800.0),
            (-250.0, -10.0),
        ] {
            let t = linear_ticks(lo, hi, 7);
            assert!(t.len() >= 3 && t.len() <= 15, "{lo}..{hi}: {t:?}");
            let step = t[1].0 - t[0].0;
            let tol = 1e-6 * step;
            let mantissa = step / 10f64.powf(step.log10().floor());
            assert!(
                [1.0, 2.0, 2.5, 5.0, 10.0]
                    .iter()
                    .any(|m| (mantissa - m).abs() < 1e-6),
                "{lo}..{hi}: step {step}"
            );
            for w in t.windows(2) {
                assert!((w[1].0 - w[0].0 - step).abs() < tol, "{lo}..{hi}: {t:?}");
                assert_ne!(w[0].1, w[1].1, "{lo}..{hi}: {t:?}");
            }
            let (first, last) = (t[0].0, t[t.len() - 1].0);
            assert!(first >= lo - tol && last <= hi + tol, "{lo}..{hi}: {t:?}");
            assert!(first - lo < step && hi - last < step, "{lo}..{hi}: {t:?}");
        }
    }

    #[test]
    fn log_ticks_over_two_decades_add_2_and_5() {
        let t = ticks(&Axis::log("", 1.0, 100.0));
        let labels: Vec<&str> = t.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["1", "2", "5", "10", "20", "50", "100"]);
        for (d, label) in &t {
            let v: f64 = label.parse().unwrap();
            assert!((d - v.log10()).abs() < 1e-12, "{d} {label}");
        }
    }

    #[test]
    fn log_ticks_over_many_decades_are_powers_of_ten_thinned() {
        let t = ticks(&Axis::log("", 1e-6, 1e6));
        let labels: Vec<&str> = t.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["10⁻⁶", "10⁻⁴", "10⁻²", "10⁰", "10²", "10⁴", "10⁶"]);
        assert!(t.iter().all(|(d, _)| *d == d.round()));
    }

    #[test]
    fn log_ticks_within_a_decade_are_linear_values() {
        let t = ticks(&Axis::log("", 2.0, 8.0));
        assert!(t.len() >= 3, "{t:?}");
        for (d, label) in &t {
            let v: f64 = label.parse().unwrap();
            assert!((2.0..=8.0).contains(&v), "{t:?}");
            assert!((d - v.log10()).abs() < 1e-9, "{t:?}");
        }
    }

    #[test]
    fn linear_axis_ticks_are_linear_ticks() {
        let a = Axis::linear("", -1.0, 1.0);
        assert_eq!(ticks(&a), linear_ticks(-1.0, 1.0, 7));
    }
}
