//! The details table as CSV: the registry's columns for the options the run used, one row
//! per layer.

use crate::{Error, Result};
use weightscope::columns::details_columns;
use weightscope::Report;

/// The details table as CSV bytes.
pub fn to_csv(report: &Report) -> Result<Vec<u8>> {
    let columns = details_columns(&report.layers);
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let err = |e: ::csv::Error| Error::encode("CSV", e);
    w.write_record(columns.iter().map(|c| c.name))
        .map_err(err)?;
    for r in &report.layers {
        w.write_record(columns.iter().map(|c| c.value(r).to_csv()))
            .map_err(err)?;
    }
    w.into_inner().map_err(|e| Error::encode("CSV", e))
}
