//! MNIST from the gzipped IDX files in `/work/shared/data/mnist/` (see its README), checked
//! against the sha256 sums and class counts listed there.

use crate::idx;
use anyhow::{bail, Result};
use std::path::Path;

/// sha256 of the uncompressed files, from the data README.
const SHA256: [(&str, &str); 4] = [
    (
        "train-images.idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    (
        "train-labels.idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    (
        "t10k-images.idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    (
        "t10k-labels.idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
];
const TRAIN_COUNTS: [usize; 10] = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
const TEST_COUNTS: [usize; 10] = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

/// One split: `n` images of 784 pixels scaled to [0, 1], and their labels.
#[derive(Debug, Clone)]
pub struct Split {
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
    pub n: usize,
}

pub const PIXELS: usize = 28 * 28;

pub struct Mnist {
    pub train: Split,
    pub test: Split,
}

fn load_file(dir: &Path, stem: &str, verify: bool) -> Result<idx::Idx> {
    // Accept the gzipped file (as shipped) or an uncompressed one next to it.
    let gz = dir.join(format!("{stem}.gz"));
    let path = if gz.exists() { gz } else { dir.join(stem) };
    if !path.exists() {
        bail!(
            "MNIST file missing: {} (nor {}); pass --data DIR with the four IDX files",
            dir.join(format!("{stem}.gz")).display(),
            dir.join(stem).display()
        );
    }
    let (data, sha) = idx::read(&path)?;
    if verify {
        let want = SHA256.iter().find(|(s, _)| *s == stem).map(|(_, h)| *h);
        if let Some(want) = want {
            if sha != want {
                bail!(
                    "{}: sha256 of the uncompressed data is {sha}, expected {want} (corrupt \
                     or a different MNIST; --no-verify skips this check)",
                    path.display()
                );
            }
        }
    }
    Ok(data)
}

fn split(dir: &Path, prefix: &str, verify: bool, counts: &[usize; 10]) -> Result<Split> {
    let img_stem = format!("{prefix}-images.idx3-ubyte");
    let lab_stem = format!("{prefix}-labels.idx1-ubyte");
    let img = load_file(dir, &img_stem, verify)?;
    let lab = load_file(dir, &lab_stem, verify)?;
    if img.dims.len() != 3 || img.dims[1] != 28 || img.dims[2] != 28 {
        bail!("{img_stem}: dimensions {:?}, expected N×28×28", img.dims);
    }
    if lab.dims.len() != 1 || lab.dims[0] != img.dims[0] {
        bail!(
            "{lab_stem}: dimensions {:?}, expected [{}] to match the images",
            lab.dims,
            img.dims[0]
        );
    }
    if let Some(&bad) = lab.data.iter().find(|&&l| l > 9) {
        bail!("{lab_stem}: label {bad} out of 0..=9");
    }
    if verify {
        let mut c = [0usize; 10];
        for &l in &lab.data {
            c[l as usize] += 1;
        }
        if &c != counts {
            bail!("{lab_stem}: class counts {c:?}, expected {counts:?}");
        }
    }
    Ok(Split {
        images: img.data.iter().map(|&p| p as f32 / 255.0).collect(),
        labels: lab.data,
        n: img.dims[0],
    })
}

/// Load both splits from `dir`; `verify` checks the README's sha256 sums and class counts.
pub fn load(dir: &Path, verify: bool) -> Result<Mnist> {
    Ok(Mnist {
        train: split(dir, "train", verify, &TRAIN_COUNTS)?,
        test: split(dir, "t10k", verify, &TEST_COUNTS)?,
    })
}

impl Split {
    /// The first `k` examples (the training subset, when one is asked for).
    pub fn head(&self, k: usize) -> Split {
        let k = k.min(self.n);
        Split {
            images: self.images[..k * PIXELS].to_vec(),
            labels: self.labels[..k].to_vec(),
            n: k,
        }
    }
}
