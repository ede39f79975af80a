//! Pixel geometry for curves: clipping to the plot and dropping points that do not move the
//! drawn line by a pixel.

/// Liang–Barsky clipping of a polyline to a rectangle, in display units: the visible pieces.
pub(super) fn clip_polyline(
    pts: &[(f64, f64)],
    x: (f64, f64),
    y: (f64, f64),
) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    let clip = |p: (f64, f64), q: (f64, f64)| -> Option<((f64, f64), (f64, f64))> {
        let (dx, dy) = (q.0 - p.0, q.1 - p.1);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        for (pp, qq) in [
            (-dx, p.0 - x.0),
            (dx, x.1 - p.0),
            (-dy, p.1 - y.0),
            (dy, y.1 - p.1),
        ] {
            if pp == 0.0 {
                if qq < 0.0 {
                    return None;
                }
            } else {
                let r = qq / pp;
                if pp < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
        (t0 <= t1).then_some((
            (p.0 + t0 * dx, p.1 + t0 * dy),
            (p.0 + t1 * dx, p.1 + t1 * dy),
        ))
    };
    if pts.len() == 1 {
        let p = pts[0];
        if p.0 >= x.0 && p.0 <= x.1 && p.1 >= y.0 && p.1 <= y.1 {
            out.push(vec![p]);
        }
        return out;
    }
    for w in pts.windows(2) {
        match clip(w[0], w[1]) {
            Some((a, b)) => {
                if cur.last() != Some(&a) {
                    if cur.len() > 1 {
                        out.push(std::mem::take(&mut cur));
                    }
                    cur.clear();
                    cur.push(a);
                }
                cur.push(b);
            }
            None => {
                if cur.len() > 1 {
                    out.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
        }
    }
    if cur.len() > 1 {
        out.push(cur);
    }
    out
}

/// Ramer–Douglas–Peucker: drop points within `tol` pixels of the line through their
/// neighbours that are kept (the drawn curve moves by less than a pixel).
pub(super) fn simplify(p: &[(i32, i32)], tol: f64) -> Vec<(i32, i32)> {
    if p.len() < 3 {
        return p.to_vec();
    }
    let mut keep = vec![false; p.len()];
    keep[0] = true;
    keep[p.len() - 1] = true;
    let mut stack = vec![(0usize, p.len() - 1)];
    while let Some((a, b)) = stack.pop() {
        if b <= a + 1 {
            continue;
        }
        let (ax, ay) = (p[a].0 as f64, p[a].1 as f64);
        let (dx, dy) = (p[b].0 as f64 - ax, p[b].1 as f64 - ay);
        let len = (dx * dx + dy * dy).sqrt();
        let (mut far, mut dmax) = (a, -1.0f64);
        for (i, q) in p.iter().enumerate().take(b).skip(a + 1) {
            let (qx, qy) = (q.0 as f64 - ax, q.1 as f64 - ay);
            let d = if len == 0.0 {
                (qx * qx + qy * qy).sqrt()
            } else {
                (qx * dy - qy * dx).abs() / len
            };
            if d > dmax {
                dmax = d;
                far = i;
            }
        }
        if dmax > tol {
            keep[far] = true;
            stack.push((a, far));
            stack.push((far, b));
        }
    }
    p.iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(q, _)| *q)
        .collect()
}
