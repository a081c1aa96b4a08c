//! The Runs panel: every run on disk, overlays on the plot, "duplicate with one change" and a
//! configuration diff between two runs.

use std::path::PathBuf;

use super::AppCommand;
use crate::experiment::ExperimentConfig;
use crate::experiment::runs::{RunEntry, config_diff};

/// Colours given to overlaid runs, in order.
pub const OVERLAY_COLORS: [egui::Color32; 6] = [
    egui::Color32::from_rgb(120, 200, 120),
    egui::Color32::from_rgb(200, 120, 220),
    egui::Color32::from_rgb(230, 200, 80),
    egui::Color32::from_rgb(90, 200, 220),
    egui::Color32::from_rgb(240, 120, 120),
    egui::Color32::from_rgb(170, 170, 170),
];

/// Which runs are overlaid and which one the current settings were duplicated from.
#[derive(Default)]
pub struct RunsView {
    /// Run directories overlaid on the plot.
    pub overlaid: Vec<PathBuf>,
    /// The run the current configuration was duplicated from.
    pub base: Option<PathBuf>,
}

/// Draws the runs table; returns a command to duplicate a run's settings.
pub fn runs_ui(
    ui: &mut egui::Ui,
    runs: &[RunEntry],
    view: &mut RunsView,
    current: &ExperimentConfig,
) -> Option<AppCommand> {
    let mut command = None;
    if ui
        .small_button("Import bundle…")
        .on_hover_text("Unpack a run exported as a zip bundle into the runs folder and overlay it")
        .clicked()
    {
        command = Some(AppCommand::ImportBundle);
    }
    if runs.is_empty() {
        ui.label("Finished runs appear here, also those of earlier sessions.");
        return command;
    }
    egui::Grid::new("runs_table")
        .striped(true)
        .num_columns(5)
        .show(ui, |ui| {
            for head in ["", "", "status", "best val", "run"] {
                ui.label(egui::RichText::new(head).small().strong());
            }
            ui.end_row();
            for run in runs.iter().take(30) {
                let mut on = view.overlaid.contains(&run.dir);
                if ui
                    .checkbox(&mut on, "")
                    .on_hover_text("Overlay this run on the plot")
                    .changed()
                {
                    if on {
                        view.overlaid.push(run.dir.clone());
                    } else {
                        view.overlaid.retain(|d| d != &run.dir);
                    }
                }
                if ui
                    .small_button("duplicate")
                    .on_hover_text(
                        "Load this run's settings to change one thing and run again (A/B)",
                    )
                    .clicked()
                {
                    command = Some(AppCommand::Duplicate(run.dir.clone()));
                }
                ui.label(egui::RichText::new(run.summary.status.as_str()).small());
                let best = match (run.summary.best_val_loss, run.summary.best_epoch) {
                    (Some(loss), Some(epoch)) => format!("{loss:.3} @{epoch}"),
                    _ => "—".to_owned(),
                };
                ui.label(egui::RichText::new(best).small())
                    .on_hover_text(format!(
                        "{}\n{} · {}",
                        run.dir.display(),
                        run.config.short_name(),
                        run.settings()
                    ));
                ui.horizontal(|ui| {
                    ui.label(egui::RichText::new(run.config.short_name()).small());
                    ui.menu_button("…", |ui| {
                        if ui
                            .button("Export bundle…")
                            .on_hover_text("Save this run's folder (config, metrics, weights, report) as a zip")
                            .clicked()
                        {
                            command = Some(AppCommand::ExportBundle(run.dir.clone()));
                            ui.close();
                        }
                    });
                });
                ui.end_row();
            }
        });
    if let Some(base) = view
        .base
        .as_ref()
        .and_then(|b| runs.iter().find(|r| &r.dir == b))
    {
        ui.add_space(4.0);
        ui.label(egui::RichText::new(format!("Changes from {}:", base.name)).strong());
        diff_ui(ui, &base.config, current);
    }
    if let [a, b] = view.overlaid.as_slice()
        && let (Some(ra), Some(rb)) = (
            runs.iter().find(|r| &r.dir == a),
            runs.iter().find(|r| &r.dir == b),
        )
    {
        ui.add_space(4.0);
        ui.label(egui::RichText::new(format!("Config diff: {} vs {}", ra.name, rb.name)).strong());
        diff_ui(ui, &ra.config, &rb.config);
    }
    command
}

fn diff_ui(ui: &mut egui::Ui, a: &ExperimentConfig, b: &ExperimentConfig) {
    let diff = config_diff(a, b);
    if diff.is_empty() {
        ui.label(egui::RichText::new("no differences").small());
    }
    for (key, x, y) in diff {
        ui.label(
            egui::RichText::new(format!("{key}: {x} → {y}"))
                .small()
                .monospace(),
        );
    }
}
