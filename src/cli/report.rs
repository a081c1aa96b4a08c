//! `report` and `bundle`: a recorded run read back as text and a picture, or packed as a zip.

use std::path::PathBuf;

use super::args::{BundleCommand, ReportArgs};
use crate::experiment::bundle;
use crate::experiment::chart::{self, ChartOptions};
use crate::experiment::report::Report;

/// Prints a run's report and writes its curves as a picture.
pub(super) fn report(args: &ReportArgs) -> anyhow::Result<()> {
    let report = Report::load(&args.dir)?;
    out!("{}", report.text(args.onset_k));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.dir.join("report.png"));
    if report.history.is_empty() {
        outln!("(no picture: the run has no finished epoch)");
        return Ok(());
    }
    let options = ChartOptions {
        width: args.width,
        height: args.height,
        ..report.chart_options(args.onset_k)
    };
    let png = chart::render_png(&report.history, &options)?;
    crate::experiment::record::write_atomic(&out, &png)?;
    outln!("\nCurves written to {}", out.display());
    Ok(())
}

/// `bundle export` and `bundle import`.
pub(super) fn bundle(command: BundleCommand) -> anyhow::Result<()> {
    match command {
        BundleCommand::Export { dir, out } => {
            let out = match out {
                Some(out) => out,
                None => {
                    let name = dir
                        .canonicalize()
                        .ok()
                        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                        .unwrap_or_else(|| "run".to_owned());
                    PathBuf::from(format!("{name}.zip"))
                }
            };
            let files = bundle::export(&dir, &out)?;
            outln!("Wrote {} ({files} files)", out.display());
            Ok(())
        }
        BundleCommand::Import { bundle: file, into } => {
            let root = into.unwrap_or_else(crate::experiment::record::default_runs_root);
            let dir = bundle::import(&file, &root)?;
            outln!("Imported into {}", dir.display());
            Ok(())
        }
    }
}
