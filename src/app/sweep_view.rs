//! The sweep view: a sweep saved in the runs folder, one point per run, best validation loss
//! and final generalisation gap against the first swept setting (the learning curve when that
//! is the training-set size); a click on a point overlays that run on the main plot.

use std::path::{Path, PathBuf};

use egui_plot::{Legend, Plot, PlotPoint, PlotPoints, Points};

use super::runs_panel::{OVERLAY_COLORS, RunsView};
use crate::experiment::runs::RunEntry;
use crate::experiment::sweep::{SweepTable, read_csv};

/// The sweep on show, if any.
#[derive(Default)]
pub struct SweepView {
    /// The sweep's folder and its table (or why it could not be read).
    pub open: Option<(PathBuf, Result<SweepTable, String>)>,
}

impl SweepView {
    /// Opens the sweep in `dir` (its `sweep.csv` is small: read here).
    pub fn open(&mut self, dir: &Path) {
        let path = dir.join("sweep.csv");
        let table = if path.is_file() {
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|text| read_csv(&text))
        } else {
            Err(
                "This sweep is still running: its table (sweep.csv) is written when its last \
                 run ends. Its runs are in the Runs table already."
                    .to_owned(),
            )
        };
        self.open = Some((dir.to_owned(), table));
    }
}

/// The sweep folders among the runs: folders under the runs root that hold runs and a
/// `sweep.csv`.
pub fn sweep_dirs(runs: &[RunEntry], root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = runs
        .iter()
        .filter_map(|r| r.dir.parent())
        .filter(|p| *p != root)
        .map(Path::to_owned)
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Where each run sits on the x axis: the first swept value as a number (its logarithm when the
/// values are positive and span 20× or more), or the position of its name.
fn x_positions(table: &SweepTable) -> (Vec<f64>, bool, Vec<String>) {
    let first: Vec<&str> = table
        .rows
        .iter()
        .map(|r| r.values.first().map_or("", String::as_str))
        .collect();
    let numbers: Option<Vec<f64>> = first.iter().map(|v| v.parse::<f64>().ok()).collect();
    match numbers {
        Some(n) if !n.is_empty() => {
            let lo = n.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = n.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let log = lo > 0.0 && hi / lo >= 20.0;
            let x = n.iter().map(|&v| if log { v.log10() } else { v }).collect();
            (x, log, Vec::new())
        }
        _ => {
            let mut names: Vec<String> = Vec::new();
            for v in &first {
                if !names.iter().any(|n| n == v) {
                    names.push((*v).to_owned());
                }
            }
            let x = first
                .iter()
                .map(|v| names.iter().position(|n| n == v).unwrap_or(0) as f64)
                .collect();
            (x, false, names)
        }
    }
}

/// Draws the sweep window; a clicked point overlays its run.
pub fn sweep_window(ctx: &egui::Context, view: &mut SweepView, runs_view: &mut RunsView) {
    let Some((dir, table)) = &view.open else {
        return;
    };
    let name = dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut open = true;
    egui::Window::new(format!("Sweep {name}"))
        .open(&mut open)
        .default_width(560.0)
        .show(ctx, |ui| match table {
            Err(why) => {
                ui.colored_label(ui.visuals().error_fg_color, why);
            }
            Ok(table) => sweep_ui(ui, dir, table, runs_view),
        });
    if !open {
        view.open = None;
    }
}

fn sweep_ui(ui: &mut egui::Ui, dir: &Path, table: &SweepTable, runs_view: &mut RunsView) {
    let (x, log, names) = x_positions(table);
    let x_name = table.keys.first().cloned().unwrap_or_default();
    let grouped = table.keys.len() >= 2 && table.keys[1] != "seed";
    let group_of = |i: usize| {
        if grouped {
            format!("{} {}", table.keys[1], table.rows[i].values[1])
        } else {
            "runs".to_owned()
        }
    };
    let mut groups: Vec<String> = Vec::new();
    for i in 0..table.rows.len() {
        let g = group_of(i);
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    ui.label(format!(
        "{} runs over {}. Click a point to overlay its run on the plot.",
        table.rows.len(),
        table.keys.join(", ")
    ));
    let axis = format!("{x_name}{}", if log { " (log scale)" } else { "" });
    let label = move |value: f64| {
        if log {
            format!("{}", (10f64.powf(value) * 1e4).round() / 1e4)
        } else if !names.is_empty() {
            let k = value.round();
            if (value - k).abs() < 1e-6 && k >= 0.0 {
                names.get(k as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        } else {
            format!("{value}")
        }
    };
    for (title, pick) in [
        ("best validation loss", 0usize),
        ("final gap (validation − training loss)", 1),
    ] {
        ui.label(egui::RichText::new(title).strong());
        let value = |i: usize| {
            let row = &table.rows[i];
            if pick == 0 {
                row.best_val_loss
            } else {
                row.final_gap
            }
        };
        let label = label.clone();
        let response = Plot::new(format!("sweep-{pick}"))
            .height(170.0)
            .include_y(0.0)
            .legend(Legend::default())
            .x_axis_label(axis.clone())
            .x_axis_formatter(move |mark, _| label(mark.value))
            .allow_drag(false)
            .allow_scroll(false)
            .show(ui, |plot_ui| {
                for (g, group) in groups.iter().enumerate() {
                    let points: Vec<[f64; 2]> = (0..table.rows.len())
                        .filter(|&i| group_of(i) == *group)
                        .filter_map(|i| value(i).map(|v| [x[i], v]))
                        .collect();
                    plot_ui.points(
                        Points::new(group.clone(), PlotPoints::from(points))
                            .radius(5.0)
                            .color(OVERLAY_COLORS[g % OVERLAY_COLORS.len()]),
                    );
                }
                // The run under a click: the nearest point within 12 px.
                if plot_ui.response().clicked()
                    && let Some(at) = plot_ui.pointer_coordinate()
                {
                    let at = plot_ui.screen_from_plot(at);
                    (0..table.rows.len())
                        .filter_map(|i| {
                            let p = plot_ui.screen_from_plot(PlotPoint::new(x[i], value(i)?));
                            Some((i, p.distance(at)))
                        })
                        .filter(|&(_, d)| d <= 12.0)
                        .min_by(|a, b| a.1.total_cmp(&b.1))
                        .map(|(i, _)| i)
                } else {
                    None
                }
            });
        if let Some(i) = response.inner {
            let run = dir.join(&table.rows[i].run);
            if !runs_view.overlaid.contains(&run) {
                runs_view.overlaid.push(run);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::sweep::SweepTableRow;

    fn table(values: &[&str]) -> SweepTable {
        SweepTable {
            keys: vec!["dataset.train_size.count".into()],
            rows: values
                .iter()
                .map(|v| SweepTableRow {
                    values: vec![(*v).into()],
                    run: "run-001".into(),
                    status: "completed".into(),
                    best_val_loss: Some(1.0),
                    final_gap: Some(0.1),
                })
                .collect(),
        }
    }

    #[test]
    fn sizes_spanning_decades_sit_on_a_log_axis_and_names_in_columns() {
        let (x, log, names) = x_positions(&table(&["10", "100", "1000"]));
        assert!(log && names.is_empty());
        assert_eq!(x, [1.0, 2.0, 3.0]);
        let (x, log, _) = x_positions(&table(&["0.1", "0.2"]));
        assert!(!log);
        assert_eq!(x, [0.1, 0.2]);
        let (x, _, names) = x_positions(&table(&["adam", "sgd", "adam"]));
        assert_eq!(names, ["adam", "sgd"]);
        assert_eq!(x, [0.0, 1.0, 0.0]);
    }
}
