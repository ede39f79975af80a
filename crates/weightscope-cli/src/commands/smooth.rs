//! `weightscope smooth`: weightwatcher's SVD smoothing, written as a new safetensors file.

use super::print;
use crate::cli::{SmoothArgs, SmoothMethodArg};
use anyhow::{bail, Context, Result};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::process::ExitCode;
use weightscope::act::{kept_per_matrix, smooth_tensor, SmoothMethod};
use weightscope::Status;
use weightscope_report as report;

pub fn run(args: SmoothArgs) -> Result<ExitCode> {
    let model = &args.input.model;
    if !model.is_file() || model.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        bail!(
            "{}: smooth reads a single .safetensors file (and writes one)",
            model.display()
        );
    }
    if let (Ok(a), Ok(b)) = (model.canonicalize(), args.output.canonicalize()) {
        if a == b {
            bail!("{}: the output would overwrite the input", model.display());
        }
    }
    let method = match args.method {
        SmoothMethodArg::Detx => SmoothMethod::DetX,
        SmoothMethodArg::Rmt => SmoothMethod::Rmt,
        SmoothMethodArg::AlphaMin => SmoothMethod::AlphaMin,
    };
    let mut opts = args.analysis.options()?;
    method.require(&mut opts);
    let rep = weightscope::analyze(model, &opts)?;

    let bytes = std::fs::read(model).with_context(|| format!("{}", model.display()))?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .with_context(|| format!("{}: not a readable safetensors file", model.display()))?;
    let file = SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{}: not a readable safetensors file", model.display()))?;
    let source = weightscope::formats::open(model)?;

    let mut replaced: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut errors = 0usize;
    let width = rep
        .layers
        .iter()
        .map(|r| r.longname.len())
        .max()
        .unwrap_or(5);
    let width = width.max(5);
    let mut text = format!(
        "{:<width$}  {:>4}  {:>10}  {:>10}\n",
        "layer", "rf", "num_smooth", "kept/matrix"
    );
    for r in &rep.layers {
        if r.status == Status::Error {
            eprintln!("error: {}: {}; left unchanged", r.longname, r.message);
            errors += 1;
            continue;
        }
        let Some(num_smooth) = method.num_smooth(r) else {
            eprintln!(
                "error: {}: no {} estimate of the kept rank; left unchanged",
                r.longname,
                method.name()
            );
            errors += 1;
            continue;
        };
        let smoothed = smooth_one(&file, source.as_ref(), &r.longname, num_smooth);
        match smoothed {
            Ok(Some(data)) => {
                replaced.insert(r.longname.clone(), data);
                writeln!(
                    text,
                    "{:<width$}  {:>4}  {:>10}  {:>10}",
                    r.longname,
                    r.rf,
                    num_smooth,
                    kept_per_matrix(num_smooth, r.rf)
                )?;
            }
            Ok(None) => eprintln!(
                "note: {}: shape {:?} is neither a dense nor a 2-D convolution weight; left unchanged",
                r.longname, r.shape
            ),
            Err(e) => {
                eprintln!("error: {}: {e:#}; left unchanged", r.longname);
                errors += 1;
            }
        }
    }

    // Every tensor in, in the input's order; the smoothed ones with their new data, the
    // others byte for byte.
    let mut views = Vec::new();
    for (name, view) in file.iter() {
        let view = match replaced.get(name) {
            Some(data) => TensorView::new(view.dtype(), view.shape().to_vec(), data)?,
            None => view,
        };
        views.push((name.to_string(), view));
    }
    let out = safetensors::serialize(views, header.metadata().clone())
        .context("serialising the smoothed checkpoint")?;
    report::write_atomic(&args.output, &out)?;
    let printed = print(&text);
    eprintln!(
        "{} of {} layers smoothed ({}) → {}",
        replaced.len(),
        rep.layers.len(),
        method.name(),
        args.output.display()
    );
    printed?;
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The smoothed data of tensor `name` in its own dtype, or None if its shape is not one
/// smoothing applies to.
fn smooth_one(
    file: &SafeTensors<'_>,
    source: &dyn weightscope::formats::TensorSource,
    name: &str,
    num_smooth: usize,
) -> Result<Option<Vec<u8>>> {
    let dtype = file.tensor(name)?.dtype();
    let index = source
        .tensors()
        .iter()
        .position(|t| t.name == name)
        .context("tensor not found")?;
    let shape = source.tensors()[index].shape.clone();
    let values = source.read_f64(index)?;
    let Some(smoothed) = smooth_tensor(&values, &shape, num_smooth)? else {
        return Ok(None);
    };
    Ok(Some(encode(&smoothed, dtype)?))
}

/// Little-endian bytes of `values` rounded to `dtype`, as safetensors stores them.
fn encode(values: &[f64], dtype: Dtype) -> Result<Vec<u8>> {
    Ok(match dtype {
        Dtype::F64 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dtype::F32 => values
            .iter()
            .flat_map(|&v| (v as f32).to_le_bytes())
            .collect(),
        Dtype::F16 => values
            .iter()
            .flat_map(|&v| half::f16::from_f64(v).to_le_bytes())
            .collect(),
        Dtype::BF16 => values
            .iter()
            .flat_map(|&v| half::bf16::from_f64(v).to_le_bytes())
            .collect(),
        other => bail!("cannot write smoothed weights as {other:?}"),
    })
}
