//! Plots and the HTML report: well-formed SVG and HTML, the expected layers and the fitted
//! values as text, deterministic bytes, and no failure on degenerate layers (one eigenvalue,
//! all equal, zeros, failed fit, no spectrum).

use weightscope::analyze::analyze_layer;
use weightscope::diagnose::phase::Phase;
use weightscope::diagnose::warning::Warning;
use weightscope::layers::{LayerKind, LayerPlan};
use weightscope::summary::summarize;
use weightscope::synth::synth_matrix;
use weightscope::Options;
use weightscope::{LayerResult, Report, Status};
use weightscope_report::html::report_html;
use weightscope_report::plots::{
    self, fmt_sig, layer_figure, model_figure, render, ImageFormat, LayerPlot, ModelPlot, Series,
};

fn plan(id: usize, name: &str, n: usize, m: usize) -> LayerPlan {
    LayerPlan {
        layer_id: id,
        name: name.to_string(),
        longname: format!("{name}.weight"),
        kind: Some(LayerKind::Dense),
        shape: vec![n, m],
        dtype: "F64".into(),
        n,
        m,
        rf: 1,
        num_evals: m,
        slice_id: None,
        skip: None,
        part: None,
        note: None,
        role: None,
        lora: None,
    }
}

fn row_major(w: &faer::Mat<f64>) -> Vec<f64> {
    (0..w.nrows())
        .flat_map(|i| (0..w.ncols()).map(move |j| w[(i, j)]))
        .collect()
}

fn options() -> Options {
    Options {
        keep_esd: true,
        mp_fit: true,
        phase: true,
        randomize: true,
        seed: 3,
        ..Options::default()
    }
}

fn report_of(layers: Vec<LayerResult>, options: Options) -> Report {
    Report {
        weightscope: "test".into(),
        source: "dir/test-model.safetensors".into(),
        format: "safetensors".into(),
        files: vec![],
        options,
        summary: summarize(&layers, 0),
        layers,
        skipped: vec![],
    }
}

/// Three generated layers in different phases, then the degenerate cases.
fn sample_report() -> Report {
    let opts = options();
    let mut layers = Vec::new();
    for (i, (phase, n, m)) in [
        (Phase::HeavyTailed, 300, 150),
        (Phase::BulkSpikes, 400, 200),
        (Phase::RandomLike, 200, 100),
        (Phase::RankCollapse, 120, 60),
    ]
    .into_iter()
    .enumerate()
    {
        let w = synth_matrix(phase, n, m, 10 + i as u64);
        let p = plan(i, &format!("block.{i}.<{}>&", phase.as_str()), n, m);
        layers.push(analyze_layer(&p, row_major(&w), &opts));
    }
    // One eigenvalue.
    let p = plan(10, "one_eigenvalue", 5, 1);
    layers.push(analyze_layer(&p, vec![1.0, 2.0, 3.0, 4.0, 5.0], &opts));
    // All eigenvalues equal: orthonormal columns.
    let p = plan(11, "all_equal", 6, 3);
    let mut d = vec![0.0; 18];
    for j in 0..3 {
        d[j * 3 + j] = 2.0;
    }
    layers.push(analyze_layer(&p, d.clone(), &opts));
    // No spectrum (NaN).
    let p = plan(12, "nan_layer", 4, 2);
    layers.push(analyze_layer(&p, vec![f64::NAN; 8], &opts));
    // A fitted layer whose fit is then removed (failed fit), with spikes kept.
    let mut failed = layers[0].clone();
    failed.name = "failed_fit".into();
    failed.status = Status::Failed;
    failed.alpha = None;
    failed.xmin = None;
    failed.d = None;
    failed.alpha_weighted = None;
    failed.warning = Warning::None;
    layers.push(failed);
    // Every eigenvalue below the fit threshold, and an ESD with zeros only.
    let mut tiny = layers[2].clone();
    tiny.name = "tiny".into();
    tiny.esd = Some(vec![1e-9, 2e-9, 3e-9]);
    tiny.rand_esd = Some(vec![0.0, 0.0, 1e-9]);
    layers.push(tiny);
    let mut zeros = layers[2].clone();
    zeros.name = "zeros".into();
    zeros.esd = Some(vec![0.0; 4]);
    zeros.rand_esd = Some(vec![]);
    layers.push(zeros);
    report_of(layers, opts)
}

fn parse_svg(bytes: &[u8]) -> String {
    let s = String::from_utf8(bytes.to_vec()).expect("SVG is UTF-8");
    let doc =
        roxmltree::Document::parse(&s).unwrap_or_else(|e| panic!("SVG not well-formed: {e}\n{s}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    s
}

fn check_png(bytes: &[u8]) {
    let dec = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut r = dec.read_info().expect("PNG header");
    let mut buf = vec![0; r.output_buffer_size().expect("PNG size")];
    let info = r.next_frame(&mut buf).expect("PNG data");
    assert_eq!((info.width, info.height), (plots::WIDTH, plots::HEIGHT));
    // Not a blank image: some pixels are dark (text, axes).
    assert!(buf.iter().any(|&b| b < 100), "blank PNG");
}

#[test]
fn every_plot_of_every_layer_renders_well_formed_in_both_formats() {
    let report = sample_report();
    for i in 0..report.layers.len() {
        for kind in LayerPlot::ALL {
            let fig = layer_figure(&report, i, kind);
            let svg =
                render(&fig, ImageFormat::Svg).unwrap_or_else(|e| panic!("{i} {kind:?}: {e}"));
            let text = parse_svg(&svg);
            assert!(text.contains("<text"), "{i} {kind:?}: no text");
            let png = render(&fig, ImageFormat::Png).unwrap();
            check_png(&png);
        }
    }
    for kind in ModelPlot::ALL {
        let fig = model_figure(&report, kind);
        parse_svg(&render(&fig, ImageFormat::Svg).unwrap());
        check_png(&render(&fig, ImageFormat::Png).unwrap());
    }
}

#[test]
fn degenerate_layers_get_a_plot_with_a_note() {
    let report = sample_report();
    let by_name = |n: &str| report.layers.iter().position(|r| r.name == n).unwrap();
    let nan = by_name("nan_layer");
    assert_eq!(report.layers[nan].status, Status::Error);
    let f = layer_figure(&report, nan, LayerPlot::Esd);
    assert!(
        f.note.as_deref().unwrap().contains("no spectrum"),
        "{:?}",
        f.note
    );
    for kind in LayerPlot::ALL {
        assert!(!kind.available(&report.layers[nan]));
    }
    let f = layer_figure(&report, by_name("failed_fit"), LayerPlot::EsdLogLog);
    assert_eq!(f.note.as_deref(), Some("no power law fitted"));
    let f = layer_figure(&report, by_name("tiny"), LayerPlot::XminScan);
    assert!(f.note.as_deref().unwrap().contains("no candidate xmin"));
    let f = layer_figure(&report, by_name("all_equal"), LayerPlot::Esd);
    assert_eq!(f.note.as_deref(), Some("all eigenvalues equal"));
    let f = layer_figure(&report, by_name("one_eigenvalue"), LayerPlot::Scree);
    assert!(f
        .series
        .iter()
        .any(|s| matches!(s, Series::Points { points, .. } if points.len() == 1)));
    // Axes are always finite, non-empty, and positive on log scales.
    for i in 0..report.layers.len() {
        for kind in LayerPlot::ALL {
            let f = layer_figure(&report, i, kind);
            for a in [Some(&f.x), Some(&f.y), f.y2.as_ref()]
                .into_iter()
                .flatten()
            {
                assert!(
                    a.lo.is_finite() && a.hi.is_finite() && a.lo < a.hi,
                    "{i} {kind:?} {a:?}"
                );
                assert!(!a.log || a.lo > 0.0, "{i} {kind:?} {a:?}");
            }
        }
    }
    // A report with no layers at all.
    let empty = report_of(vec![], options());
    for kind in ModelPlot::ALL {
        let f = model_figure(&empty, kind);
        assert!(f.note.is_some());
        parse_svg(&render(&f, ImageFormat::Svg).unwrap());
    }
    let html = report_html(&empty).unwrap();
    check_html(&html);
}

#[test]
fn plots_carry_the_fitted_values_as_text() {
    let report = sample_report();
    let i = 0;
    let r = &report.layers[i];
    let (alpha, xmin, d) = (r.alpha.unwrap(), r.xmin.unwrap(), r.d.unwrap());
    let mp = r.mp.unwrap();
    let svg =
        |k| String::from_utf8(plots::layer_plot(&report, i, k, ImageFormat::Svg).unwrap()).unwrap();
    let loglog = svg(LayerPlot::EsdLogLog);
    assert!(loglog.contains(&format!("α = {alpha:.3}")), "{loglog}");
    assert!(loglog.contains(&format!("xmin = {}", fmt_sig(xmin, 4))));
    assert!(loglog.contains(&format!("D = {d:.3}")));
    // The title: layer name (escaped), shape, α, phase.
    assert!(loglog.contains("block.0.&lt;Heavy-Tailed&gt;&amp;"));
    assert!(loglog.contains("300×150"));
    assert!(loglog.contains(r.phase.as_ref().unwrap().phase.as_str()));
    let esd = svg(LayerPlot::Esd);
    assert!(
        esd.contains(&format!("λ⁺ = {}", fmt_sig(mp.bulk_max, 4))),
        "{esd}"
    );
    assert!(esd.contains(&format!("σ = {}", fmt_sig(mp.sigma_mp, 4))));
    let scan = svg(LayerPlot::XminScan);
    assert!(scan.contains(&format!(
        "chosen: xmin = {}, D = {d:.3}, α = {alpha:.3}",
        fmt_sig(xmin, 4)
    )));
    // Spikes of the Bulk+Spikes layer are marked.
    let f = layer_figure(&report, 1, LayerPlot::Esd);
    let spikes = report.layers[1].mp.unwrap().num_spikes;
    assert!(spikes > 0);
    assert!(f
        .series
        .iter()
        .any(|s| matches!(s, Series::Rug { xs, .. } if xs.len() == spikes)));
    // Randomized: both ESDs.
    let f = layer_figure(&report, 1, LayerPlot::Randomized);
    assert_eq!(
        f.series
            .iter()
            .filter(|s| matches!(s, Series::Hist { .. }))
            .count(),
        2
    );
}

#[test]
fn xmin_scan_marks_the_fitted_xmin_at_the_minimum_of_d() {
    let report = sample_report();
    let r = &report.layers[0];
    let f = layer_figure(&report, 0, LayerPlot::XminScan);
    let Series::Line { points, .. } = &f.series[0] else {
        panic!("D curve first")
    };
    let dmin = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    assert_eq!(dmin, r.d.unwrap());
    assert!(points
        .iter()
        .any(|p| p.0 == r.xmin.unwrap() && p.1 == r.d.unwrap()));
}

#[test]
fn depth_plots_have_one_marker_per_layer_coloured_by_phase() {
    let report = sample_report();
    for kind in [
        ModelPlot::Alpha,
        ModelPlot::StableRank,
        ModelPlot::MpSoftrank,
    ] {
        let f = model_figure(&report, kind);
        let with_value = report
            .layers
            .iter()
            .filter(|r| match kind {
                ModelPlot::Alpha => r.alpha.is_some(),
                ModelPlot::StableRank => r.stable_rank.is_some(),
                _ => r.mp.is_some(),
            })
            .count();
        let markers: usize = f
            .series
            .iter()
            .map(|s| match s {
                Series::Points { points, .. } => points.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(markers, with_value, "{kind:?}");
        let texts = f.texts().join("\n");
        assert!(
            texts.contains("Heavy-Tailed") && texts.contains("Bulk+Spikes"),
            "{texts}"
        );
    }
    let h = model_figure(&report, ModelPlot::AlphaHistogram);
    let Series::Hist { bins, .. } = &h.series[0] else {
        panic!()
    };
    let n_alpha = report.layers.iter().filter(|r| r.alpha.is_some()).count();
    assert_eq!(bins.iter().map(|b| b.2).sum::<f64>() as usize, n_alpha);
}

/// Tags balance (void elements aside, script/style bodies skipped); every inline SVG is
/// well-formed XML.
fn check_html(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    const VOID: [&str; 6] = ["meta", "input", "br", "hr", "img", "link"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt..];
        if rest.starts_with("<!") {
            rest = &rest[rest.find('>').unwrap() + 1..];
            continue;
        }
        let gt = rest.find('>').expect("unterminated tag");
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(open, name, "</{name}> closes <{open}>");
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/')
            .collect();
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            continue;
        }
        if name == "script" || name == "style" {
            let end = format!("</{name}>");
            rest = &rest[rest.find(&end).expect("unclosed raw text") + end.len()..];
            continue;
        }
        stack.push(name);
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    // No external resources.
    for bad in ["http://", "https://", "src=", "href=", "@import", "url("] {
        let hits: Vec<_> = html
            .match_indices(bad)
            .map(|(i, _)| &html[i.saturating_sub(40)..i + 40])
            .collect();
        let hits: Vec<_> = hits
            .into_iter()
            .filter(|h| !h.contains("xmlns=\"http://www.w3.org/2000/svg\""))
            .collect();
        assert!(hits.is_empty(), "external reference {bad}: {hits:?}");
    }
    let mut n = 0;
    let mut rest = html;
    while let Some(i) = rest.find("<svg") {
        let end = rest[i..].find("</svg>").unwrap() + i + 6;
        roxmltree::Document::parse(&rest[i..end]).unwrap_or_else(|e| panic!("inline SVG: {e}"));
        rest = &rest[end..];
        n += 1;
    }
    assert!(n >= ModelPlot::ALL.len());
}

#[test]
fn html_report_is_well_formed_with_every_layer_and_its_values() {
    let report = sample_report();
    let html = report_html(&report).unwrap();
    check_html(&html);
    assert_eq!(html.matches("<tr class=\"r\"").count(), report.layers.len());
    let with_esd = report.layers.iter().filter(|r| r.esd.is_some()).count();
    assert_eq!(html.matches("<template id=\"L").count(), with_esd);
    let per_layer: usize = report
        .layers
        .iter()
        .map(|r| LayerPlot::ALL.iter().filter(|k| k.available(r)).count())
        .sum();
    assert_eq!(html.matches("<figure data-plot=").count(), per_layer);
    assert_eq!(html.matches("<figure>").count(), ModelPlot::ALL.len());
    for r in &report.layers {
        assert!(
            html.contains(&format!(
                ">{}</td>",
                weightscope_report::html::escape(&r.name)
            )),
            "{}",
            r.name
        );
        if let Some(a) = r.alpha {
            assert!(html.contains(&format!(">{a:.3}</td>")), "{}", r.name);
            assert!(html.contains(&format!("data-v=\"{a}\"")));
        }
        if let Some(d) = r.d {
            assert!(html.contains(&format!(">{d:.3}</td>")));
        }
        if let Some(p) = &r.phase {
            assert!(html.contains(p.phase.as_str()));
        }
    }
    assert!(html.contains(&format!("{:.3}", report.summary.alpha.unwrap())));
    // The legend cites the paper's equations.
    for eq in ["Eqn. 7", "Eqn. 8", "Eqn. 9", "Eqn. 11", "Table 7"] {
        assert!(html.contains(eq), "{eq}");
    }
}

#[test]
fn output_is_deterministic() {
    let a = sample_report();
    let b = sample_report();
    assert_eq!(report_html(&a).unwrap(), report_html(&b).unwrap());
    for kind in LayerPlot::ALL {
        for f in [ImageFormat::Svg, ImageFormat::Png] {
            assert_eq!(
                plots::layer_plot(&a, 1, kind, f).unwrap(),
                plots::layer_plot(&b, 1, kind, f).unwrap()
            );
        }
    }
    let base = std::env::temp_dir().join(format!("weightscope-plots-{}", std::process::id()));
    let (d1, d2) = (base.join("a"), base.join("b"));
    let f1 = plots::write_plots(&a, &d1, &[ImageFormat::Svg, ImageFormat::Png]).unwrap();
    let f2 = plots::write_plots(&b, &d2, &[ImageFormat::Svg, ImageFormat::Png]).unwrap();
    assert_eq!(f1.len(), f2.len());
    let expected = 2
        * (ModelPlot::ALL.len()
            + a.layers
                .iter()
                .map(|r| LayerPlot::ALL.iter().filter(|k| k.available(r)).count())
                .sum::<usize>());
    assert_eq!(f1.len(), expected);
    for (x, y) in f1.iter().zip(&f2) {
        assert_eq!(x.strip_prefix(&d1).unwrap(), y.strip_prefix(&d2).unwrap());
        assert_eq!(
            std::fs::read(x).unwrap(),
            std::fs::read(y).unwrap(),
            "{}",
            x.display()
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}

fn unbase64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a') as u32 + 26,
            b'0'..=b'9' => (c - b'0') as u32 + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64 {c}"),
        }
    };
    let b: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::new();
    for q in b.chunks(4) {
        let pad = q.iter().filter(|&&c| c == b'=').count();
        let n = q
            .iter()
            .filter(|&&c| c != b'=')
            .fold(0u32, |n, &c| n << 6 | val(c))
            << (6 * pad);
        out.extend(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..3 - pad]);
    }
    out
}

#[test]
fn report_of_600_layers_stays_small() {
    // Many layers: the page lists them all; their plots go compressed, each layer's bounded
    // in size whatever its number of eigenvalues.
    let opts = Options {
        keep_esd: true,
        mp_fit: true,
        phase: true,
        ..Options::default()
    };
    let w = synth_matrix(Phase::HeavyTailed, 64, 32, 1);
    let base = analyze_layer(&plan(0, "l", 64, 32), row_major(&w), &opts);
    let layers: Vec<LayerResult> = (0..600)
        .map(|i| {
            let mut r = base.clone();
            r.layer_id = i;
            r.name = format!("model.layers.{i}.mlp");
            r
        })
        .collect();
    let report = report_of(layers, opts.clone());
    let html = report_html(&report).unwrap();
    check_html(&html);
    assert_eq!(html.matches("<tr class=\"r\"").count(), 600);
    assert_eq!(html.matches("<template id=\"L").count(), 600);
    assert_eq!(html.matches(" data-gz=\"\">").count(), 600);
    let per_layer = html.len() / 600;
    eprintln!("600 layers: {} bytes, {per_layer} per layer", html.len());
    assert!(per_layer < 25_000, "{per_layer} bytes per layer");
    // A compressed template inflates to the layer's figures, well-formed.
    let i = html.find("<template id=\"L599\" data-gz=\"\">").unwrap();
    let body = &html[i..];
    let body = &body[body.find('>').unwrap() + 1..body.find("</template>").unwrap()];
    let mut svgs = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&unbase64(body)[..]),
        &mut svgs,
    )
    .unwrap();
    let n_plots = LayerPlot::ALL
        .iter()
        .filter(|k| k.available(&report.layers[599]))
        .count();
    assert_eq!(svgs.matches("<figure data-plot=").count(), n_plots);
    assert!(svgs.contains("model.layers.599.mlp"));
    let mut rest = svgs.as_str();
    while let Some(i) = rest.find("<svg") {
        let end = rest[i..].find("</svg>").unwrap() + i + 6;
        roxmltree::Document::parse(&rest[i..end]).unwrap();
        rest = &rest[end..];
    }
    // A large layer's plots are no bigger than a small one's but for the curve points.
    let big = synth_matrix(Phase::HeavyTailed, 2000, 1000, 2);
    let r = analyze_layer(&plan(0, "big", 2000, 1000), row_major(&big), &opts);
    let rep = report_of(vec![r], opts);
    for kind in LayerPlot::ALL {
        let n = plots::layer_plot(&rep, 0, kind, ImageFormat::Svg)
            .unwrap()
            .len();
        eprintln!("2000x1000 {kind:?}: {n} bytes");
        assert!(n < 40_000, "{kind:?}: {n} bytes");
    }
}

/// Three checkpoints of three layers, the layers' phases changing with the step.
fn track_series(steps: [Option<u64>; 3]) -> Vec<(std::path::PathBuf, Option<u64>, Report)> {
    let opts = Options {
        randomize: false,
        ..options()
    };
    let phases = [Phase::RandomLike, Phase::BulkSpikes, Phase::HeavyTailed];
    steps
        .iter()
        .enumerate()
        .map(|(k, &step)| {
            let layers = (0..3)
                .map(|i| {
                    let ph = phases[(i + k).min(2)];
                    // M = 100: the smallest layer that gets a phase (MIN_PHASE_M).
                    let w = synth_matrix(ph, 200, 100, 100 + 10 * k as u64 + i as u64);
                    analyze_layer(
                        &plan(i, &format!("block.{i}"), 200, 100),
                        row_major(&w),
                        &opts,
                    )
                })
                .collect();
            let path = std::path::PathBuf::from(format!("ckpt/step_{k}.safetensors"));
            (path, step, report_of(layers, opts.clone()))
        })
        .collect()
}

#[test]
fn track_plots_have_every_layer_and_the_steps() {
    let series = track_series([Some(1000), Some(2000), Some(3000)]);
    let figs = plots::track_figures(&series);
    let stems: Vec<&str> = figs.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        stems,
        [
            "summary",
            "alpha",
            "stable_rank",
            "entropy",
            "mp_softrank",
            "lambda_max"
        ]
    );
    for (stem, fig) in &figs {
        assert!(fig.note.is_none(), "{stem}: {:?}", fig.note);
        assert!((fig.x.lo..=fig.x.hi).contains(&1000.0) && fig.x.hi >= 3000.0);
        let svg = parse_svg(&render(fig, ImageFormat::Svg).unwrap());
        assert!(svg.contains("training step"), "{stem}");
        assert!(svg.contains("2000"), "{stem}: step ticks");
        check_png(&render(fig, ImageFormat::Png).unwrap());
        if stem == "summary" {
            assert!(fig.y2.is_some());
            continue;
        }
        for i in 0..3 {
            assert!(svg.contains(&format!("block.{i}")), "{stem}: block.{i}");
        }
        // One line per layer through the three steps.
        let lines: Vec<&Vec<(f64, f64)>> = fig
            .series
            .iter()
            .filter_map(|s| match s {
                Series::Line { points, .. } => Some(points),
                _ => None,
            })
            .collect();
        assert_eq!(lines.len(), 3, "{stem}");
        for l in lines {
            let xs: Vec<f64> = l.iter().map(|p| p.0).collect();
            assert_eq!(xs, [1000.0, 2000.0, 3000.0], "{stem}");
        }
        // Markers coloured by phase, with a key per phase seen.
        let texts = fig.texts().join("\n");
        assert!(texts.contains("phase: "), "{stem}: {texts}");
        assert!(fig.series.iter().any(
            |s| matches!(s, Series::Points { color, .. } if *color == plots::phase_color(Some(Phase::HeavyTailed)) || *color == plots::phase_color(Some(Phase::BulkSpikes)) || *color == plots::phase_color(Some(Phase::RandomLike)))
        ));
    }
}

#[test]
fn track_plots_without_steps_use_the_checkpoint_index_and_cap_the_layers() {
    let series = track_series([None, Some(5), None]);
    let fig = plots::track_figure(&series, plots::TrackMetric::Alpha);
    assert!(fig.x.label.contains("checkpoint"));
    let svg = parse_svg(&render(&fig, ImageFormat::Svg).unwrap());
    assert!(svg.contains("checkpoint"));

    // Many layers: at most MAX_TRACK_LAYERS lines.
    let opts = Options {
        randomize: false,
        ..options()
    };
    let layers: Vec<LayerResult> = (0..20)
        .map(|i| {
            let w = synth_matrix(Phase::RandomLike, 60, 30, i as u64);
            analyze_layer(&plan(i, &format!("l{i}"), 60, 30), row_major(&w), &opts)
        })
        .collect();
    let r = report_of(layers, opts);
    let series = vec![("a".into(), Some(1), r.clone()), ("b".into(), Some(2), r)];
    let fig = plots::track_figure(&series, plots::TrackMetric::StableRank);
    let n_lines = fig
        .series
        .iter()
        .filter(|s| matches!(s, Series::Line { .. }))
        .count();
    assert_eq!(n_lines, plots::MAX_TRACK_LAYERS);
    assert!(fig.subtitle.contains("12 of 20 layers"), "{}", fig.subtitle);
    parse_svg(&render(&fig, ImageFormat::Svg).unwrap());
    // Empty series: a figure with a note, no panic.
    let figs = plots::track_figures(&[]);
    for (_, f) in figs {
        parse_svg(&render(&f, ImageFormat::Svg).unwrap());
    }
}
