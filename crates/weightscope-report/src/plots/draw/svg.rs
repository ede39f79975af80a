//! SVG output: plotters' SVG, made compact without changing what it draws.

/// The value of attribute `name` in a tag, and the tag without it.
fn take_attr<'t>(tag: &'t str, name: &str) -> Option<(&'t str, String)> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)?;
    let start = i + key.len();
    let len = tag[start..].find('"')?;
    let rest = format!("{}{}", &tag[..i], &tag[start + len + 1..]);
    Some((&tag[start..start + len], rest))
}

/// Make plotters' SVG smaller without changing what it draws: consecutive strokes with the
/// same style (dashes, ticks, grid lines) become one `<path>`, consecutive equal markers one
/// `<path>` of arcs, default attributes go, font sizes are rounded, and text sits on one line.
pub(super) fn compact_svg(s: &str) -> String {
    let mut out = String::with_capacity(s.len() / 2);
    // Pending merged path: (attributes, d).
    let mut pending: Option<(String, String)> = None;
    let flush = |out: &mut String, pending: &mut Option<(String, String)>| {
        if let Some((attrs, d)) = pending.take() {
            out.push_str(&format!("<path{attrs} d=\"{d}\"/>\n"));
        }
    };
    let clean = |t: &str| -> String {
        let mut t = t
            .replace(" opacity=\"1\"", "")
            .replace(" stroke-width=\"1\"", "");
        if let Some((v, rest)) = take_attr(&t, "font-size") {
            if let Ok(x) = v.parse::<f64>() {
                let r = (x * 100.0).round() / 100.0;
                t = rest.replacen("<text", &format!("<text font-size=\"{r}\""), 1);
            }
        }
        t
    };
    let mut lines = s.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        // Strokes: polylines and lines.
        let stroke = if t.starts_with("<polyline ") && t.ends_with("/>") {
            take_attr(t, "points").map(|(pts, rest)| {
                let mut d = String::new();
                for (k, p) in pts.split_whitespace().enumerate() {
                    d.push(if k == 0 { 'M' } else { 'L' });
                    d.push_str(&p.replace(',', " "));
                }
                (
                    rest.trim_start_matches("<polyline")
                        .trim_end_matches("/>")
                        .to_string(),
                    d,
                )
            })
        } else if t.starts_with("<line ") && t.ends_with("/>") {
            (|| {
                let (x1, r) = take_attr(t, "x1")?;
                let (y1, r) = take_attr(&r, "y1")?;
                let (x2, r) = take_attr(&r, "x2")?;
                let (y2, r) = take_attr(&r, "y2")?;
                let attrs = r
                    .trim_start_matches("<line")
                    .trim_end_matches("/>")
                    .to_string();
                Some((
                    format!(" fill=\"none\"{attrs}"),
                    format!("M{x1} {y1}L{x2} {y2}"),
                ))
            })()
        } else if t.starts_with("<circle ") && t.ends_with("/>") {
            (|| {
                let (cx, r) = take_attr(t, "cx")?;
                let (cy, r) = take_attr(&r, "cy")?;
                let (rad, r) = take_attr(&r, "r")?;
                let (cx, cy, rad): (i64, i64, i64) =
                    (cx.parse().ok()?, cy.parse().ok()?, rad.parse().ok()?);
                let attrs = r
                    .trim_start_matches("<circle")
                    .trim_end_matches("/>")
                    .to_string();
                Some((
                    format!("{attrs} data-r=\"{rad}\""),
                    format!(
                        "M{} {cy}a{rad} {rad} 0 1 0 {} 0a{rad} {rad} 0 1 0 {} 0",
                        cx - rad,
                        2 * rad,
                        -2 * rad
                    ),
                ))
            })()
        } else {
            None
        };
        if let Some((attrs, d)) = stroke {
            let attrs = clean(&attrs);
            match &mut pending {
                Some((a, dd)) if *a == attrs => dd.push_str(&d),
                _ => {
                    flush(&mut out, &mut pending);
                    pending = Some((attrs, d));
                }
            }
            continue;
        }
        flush(&mut out, &mut pending);
        if t.starts_with("<text") && !t.ends_with("</text>") {
            // <text …>, its content, </text> on three lines.
            let content = lines.next().unwrap_or("");
            let close = lines.peek().map(|l| l.trim()) == Some("</text>");
            if close {
                lines.next();
            }
            out.push_str(&clean(t));
            out.push_str(content.trim());
            out.push_str(if close { "</text>\n" } else { "\n" });
            continue;
        }
        out.push_str(&clean(t));
        out.push('\n');
    }
    flush(&mut out, &mut pending);
    // data-r only kept markers of different radii apart.
    let mut res = String::with_capacity(out.len());
    for line in out.lines() {
        match take_attr(line, "data-r") {
            Some((_, rest)) => res.push_str(&rest),
            None => res.push_str(line),
        }
        res.push('\n');
    }
    res
}
