//! Acting on the diagnosis: turning the per-layer α into per-layer decisions, as published
//! methods do.
//!
//! - [`sparsity`]: AlphaPruning's layer-wise sparsity ratios (Lu et al., "AlphaPruning: Using
//!   Heavy-Tailed Self Regularization Theory for Improved Layer-wise Pruning of Large
//!   Language Models", NeurIPS 2024).
//! - [`reference_alpha`]: the α estimators those methods' code uses (a fixed-position Hill
//!   estimator and a histogram-peak xmin search), which differ from weightwatcher's
//!   Clauset fit of [`crate::fit`]; reproduced so that the ratios (and TempBalance's learning
//!   rates, in the Python package) match the published code given the same eigenvalues.
//! - [`smooth`]: weightwatcher's SVD smoothing, each layer cut to the rank its estimator
//!   counts as signal.

pub mod reference_alpha;
pub mod smooth;
pub mod sparsity;

pub use reference_alpha::{alpha_mid, alpha_peak, ReferenceAlpha, ReferenceFit};
pub use smooth::{kept_per_matrix, smooth_tensor, truncate_rank, SmoothError, SmoothMethod};
pub use sparsity::{block_groups, block_of, sparsity_ratios, SparsityOptions};
