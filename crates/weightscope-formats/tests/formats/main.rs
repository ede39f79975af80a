//! The integration tests of the checkpoint readers, as one test binary (one link instead of
//! one per format): each module tests one reader against fixtures written by the format's own
//! tools, and `fuzz_seeds` replays the fuzzers' seeds. Helpers they share are in `common`.

mod blocks;
mod common;
mod fuzz_seeds;
mod gguf;
mod inputs;
mod keras;
mod onnx;
mod pytorch;
