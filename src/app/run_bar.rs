//! The top bar: Start / Pause / Resume / Stop and the progress of the run.

use super::AppCommand;
use super::state::{Phase, RunView, format_duration};
use crate::train::message::RunStatus;

/// Draws the run controls and progress; returns the button pressed, if any.
pub fn run_bar_ui(
    ui: &mut egui::Ui,
    run: &RunView,
    data_ready: bool,
    extend_by: &mut usize,
    presenter: bool,
) -> Option<AppCommand> {
    let mut command = None;
    ui.horizontal(|ui| {
        ui.heading("CNN Workbench");
        ui.separator();
        let can_start = !run.is_active() && data_ready;
        if ui
            .add_enabled(can_start, egui::Button::new("Start"))
            .on_hover_text("Train the chosen model on the chosen dataset (Space)")
            .on_disabled_hover_text(if data_ready {
                "A run is in progress"
            } else {
                "The dataset is still loading"
            })
            .clicked()
        {
            command = Some(AppCommand::Start);
        }
        match run.phase {
            Phase::Paused => {
                if ui
                    .button("Resume")
                    .on_hover_text("Continue training (Space)")
                    .clicked()
                {
                    command = Some(AppCommand::Resume);
                }
            }
            _ => {
                let can_pause = run.phase == Phase::Running;
                if ui
                    .add_enabled(can_pause, egui::Button::new("Pause"))
                    .on_hover_text("Pause between two batches; nothing is lost (Space)")
                    .clicked()
                {
                    command = Some(AppCommand::Pause);
                }
            }
        }
        if ui
            .add_enabled(run.is_active(), egui::Button::new("Stop"))
            .on_hover_text("End the run after the current batch; the run is kept (Esc)")
            .clicked()
        {
            command = Some(AppCommand::Stop);
        }
        if let Phase::Ended(status) = run.phase
            && status.can_continue()
            && run.info.is_some()
        {
            ui.separator();
            if ui
                .button(format!("+{extend_by} epochs"))
                .on_hover_text(
                    "Continue this run from its last weights and optimizer state, in the same \
                     plot and run record",
                )
                .clicked()
            {
                command = Some(AppCommand::Extend(*extend_by));
            }
            ui.add(egui::DragValue::new(extend_by).range(1..=1000))
                .on_hover_text("How many epochs to add");
        }
        ui.separator();
        ui.add(
            egui::ProgressBar::new(run.fraction_done())
                .desired_width(if presenter { 120.0 } else { 220.0 })
                .text(format!("{:.0} %", run.fraction_done() * 100.0)),
        );
        // Leave room for the buttons on the right; a long line is cut with "…" (full on hover).
        let reserve = if presenter { 140.0 } else { 330.0 };
        let width = (ui.available_width() - reserve).max(60.0);
        ui.scope(|ui| {
            ui.set_max_width(width);
            ui.add(egui::Label::new(progress_text(run)).truncate());
        });
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui
                .selectable_label(presenter, "Presenter")
                .on_hover_text(
                    "Large type and thick lines for a projector, the plot first; \
                     + and - zoom, N picks the next lesson, S stops",
                )
                .clicked()
            {
                command = Some(AppCommand::TogglePresenter);
            }
            if presenter {
                return;
            }
            if ui
                .add_enabled(!run.is_active(), egui::Button::new("Open config…"))
                .on_hover_text("Load an experiment saved as TOML (or a run's config.toml)")
                .clicked()
            {
                command = Some(AppCommand::OpenConfig);
            }
            if ui
                .button("Save config…")
                .on_hover_text(
                    "Save this experiment as TOML; `cnn-workbench train --config FILE` runs it",
                )
                .clicked()
            {
                command = Some(AppCommand::SaveConfig);
            }
        });
    });
    command
}

/// One line saying where the run is: epoch, step, throughput and time left.
pub fn progress_text(run: &RunView) -> String {
    let Some(info) = &run.info else {
        return match run.phase {
            Phase::Starting => "Preparing data and model…".to_owned(),
            Phase::Ended(status) => format!("Run {status}"),
            _ => "Ready: press Start".to_owned(),
        };
    };
    let (epoch, step) = run.position;
    let mut text = format!(
        "Epoch {}/{} · step {}/{} · {:.0} samples/s",
        epoch.max(1),
        info.epochs,
        step,
        info.steps_per_epoch,
        run.samples_per_sec
    );
    match run.phase {
        Phase::Running => {
            if let Some(eta) = run.eta_secs() {
                text.push_str(&format!(" · ETA {}", format_duration(eta)));
            }
        }
        Phase::Paused => text.push_str(" · paused"),
        Phase::Ended(RunStatus::Completed) => {
            text = format!("Completed {} epochs", run.epochs.len());
        }
        Phase::Ended(status) => {
            text = format!(
                "Run {status} after {} of {} epochs",
                run.epochs.len(),
                info.epochs
            );
        }
        Phase::Idle | Phase::Starting => {}
    }
    text
}
