//! The column registry is the one definition of every column: the JSON of a row uses its
//! names, every group of optional columns is filled by its option, and the README's columns
//! table is the registry's.

use std::path::Path;
use weightscope::columns::{details_columns, markdown_table, Group, COLUMNS};
use weightscope::{analyze, Options};

fn example_with_everything() -> weightscope::Report {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mnist-cnn/model.safetensors");
    let mut opts = Options {
        mp_fit: true,
        phase: true,
        randomize: true,
        vectors: true,
        tail_fits: true,
        detx: true,
        bootstrap: 2,
        fix_fingers: Some(weightscope::FixFingers::XminPeak),
        farms: Some(Default::default()),
        ..Options::default()
    };
    // One row per conv map, so rows have a slice_id.
    opts.layers.conv_maps = true;
    analyze(&path, &opts).unwrap()
}

/// Every key of a serialised row, flattened one level (groups are nested objects).
fn json_keys(v: &serde_json::Value, out: &mut Vec<String>) {
    for (k, x) in v.as_object().unwrap() {
        match x {
            serde_json::Value::Object(_) if k != "evidence" => json_keys(x, out),
            _ => out.push(k.clone()),
        }
    }
}

#[test]
fn every_column_is_in_the_json_and_every_option_fills_its_group() {
    let report = example_with_everything();
    // A row with every group (fc_layers.0: the conv maps have M < 100, so no phase), and a
    // conv-map row for `slice_id`.
    let full = report
        .layers
        .iter()
        .find(|r| Group::ALL.iter().all(|g| g.present(r)))
        .expect("a row with every group");
    let map = report
        .layers
        .iter()
        .find(|r| r.slice_id.is_some())
        .expect("a conv-map row");
    let mut keys = Vec::new();
    json_keys(&serde_json::to_value(full).unwrap(), &mut keys);
    json_keys(&serde_json::to_value(map).unwrap(), &mut keys);
    // Columns computed from a stored field under another name (W_scale = 1/√scale, the
    // phase's `reason`) are checked through their source field.
    fn source(name: &str) -> &str {
        match name {
            "W_scale" => "scale",
            "phase_reason" => "reason",
            n => n,
        }
    }
    for c in COLUMNS {
        assert!(
            keys.iter().any(|k| k == source(c.name)),
            "column {} is not a JSON key of a row: {keys:?}",
            c.name
        );
    }
    let names: Vec<&str> = details_columns(&report.layers)
        .iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names.len(), COLUMNS.len());
    assert_eq!(
        details_columns(&analyze_default().layers).len(),
        Group::Details.columns().count()
    );
}

fn analyze_default() -> weightscope::Report {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mnist-cnn/model.safetensors");
    analyze(&path, &Options::default()).unwrap()
}

/// The README's columns table sits between these markers; `WEIGHTSCOPE_BLESS=1 cargo test`
/// rewrites it from the registry.
const BEGIN: &str = "<!-- columns: generated from crates/weightscope/src/columns.rs -->\n";
const END: &str = "<!-- end of columns -->\n";

#[test]
fn the_readme_columns_table_is_the_registrys() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme.find(BEGIN).expect("README has the columns marker") + BEGIN.len();
    let end = start
        + readme[start..]
            .find(END)
            .expect("README has the end marker");
    let table = markdown_table();
    if std::env::var_os("WEIGHTSCOPE_BLESS").is_some() {
        std::fs::write(
            &path,
            format!("{}{table}{}", &readme[..start], &readme[end..]),
        )
        .unwrap();
        return;
    }
    assert!(
        readme[start..end] == table,
        "README.md's columns table is out of date: run WEIGHTSCOPE_BLESS=1 cargo test -p weightscope --test integration columns"
    );
}

#[test]
fn phase_keeps_the_mp_fit_it_classified_by() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mnist-cnn/model.safetensors");
    let opts = Options {
        phase: true,
        ..Options::default()
    };
    let report = analyze(&path, &opts).unwrap();
    for r in &report.layers {
        // No phase below MIN_PHASE_M eigenvalues per matrix (conv_layers.0 has M = 1,
        // fc_layers.2 M = 10), the MP fit all the same.
        let want = r.m >= weightscope::diagnose::phase::MIN_PHASE_M;
        assert_eq!(r.phase.is_some(), want, "{} (M = {})", r.name, r.m);
        assert!(r.mp.is_some(), "{}", r.name);
    }
    assert_eq!(
        report.layers.iter().filter(|r| r.phase.is_some()).count(),
        1
    );
    let names: Vec<&str> = details_columns(&report.layers)
        .iter()
        .map(|c| c.name)
        .collect();
    assert!(names.contains(&"mp_softrank") && names.contains(&"phase"));
}
