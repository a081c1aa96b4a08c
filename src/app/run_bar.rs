//! The top bar: Start / Pause / Resume / Stop and the progress of the run.

use super::AppCommand;
use super::background::Background;
use super::state::{Phase, RunView, format_duration};
use crate::train::message::RunStatus;

/// Where Start trains: this machine, or a Ray cluster's job server.
#[derive(Default)]
pub struct RunTarget {
    /// Start sends the run to the cluster.
    pub on_cluster: bool,
    /// The job server, e.g. `ray://HOST:8265`.
    pub address: String,
    /// The program the jobs run (`None`: this one).
    pub program: Option<std::path::PathBuf>,
    /// A connection test under way.
    check: Option<Background<Result<String, String>>>,
    /// What the last test found: Ray's version, or why not.
    checked: Option<Result<String, String>>,
}

impl RunTarget {
    /// The address to use: the one typed, or the local default.
    pub fn address(&self) -> String {
        let typed = self.address.trim();
        if typed.is_empty() {
            "ray://127.0.0.1:8265".to_owned()
        } else {
            typed.to_owned()
        }
    }

    /// "Run on: this machine / a Ray cluster", the address and its connection test.
    fn ui(&mut self, ui: &mut egui::Ui, editable: bool) {
        if let Some(result) = self.check.as_ref().and_then(Background::poll) {
            self.check = None;
            self.checked = Some(result);
        }
        ui.add_enabled_ui(editable, |ui| {
            let text = |c: bool| if c { "a Ray cluster" } else { "this machine" };
            egui::ComboBox::from_label("Run on")
                .selected_text(text(self.on_cluster))
                .show_ui(ui, |ui| {
                    for choice in [false, true] {
                        ui.selectable_value(&mut self.on_cluster, choice, text(choice));
                    }
                })
                .response
                .on_hover_text(
                    "This machine, or a Ray cluster's job server: the run goes there as a job \
                     and its folder fills here as the epochs arrive. Nothing leaves the \
                     machine unless a cluster is chosen.",
                );
            if !self.on_cluster {
                return;
            }
            let edit = ui.add(
                egui::TextEdit::singleline(&mut self.address)
                    .hint_text("ray://127.0.0.1:8265")
                    .desired_width(150.0),
            );
            if edit.changed() {
                self.checked = None;
            }
            if ui
                .add_enabled(self.check.is_none(), egui::Button::new("Test"))
                .on_hover_text("Ask the job server for its Ray version")
                .clicked()
            {
                let address = self.address();
                let task = Background::spawn("cluster-test", ui.ctx(), move || {
                    crate::train::ray::Cluster::new(&address, None)?.version()
                });
                match task {
                    Ok(task) => self.check = Some(task),
                    Err(e) => self.checked = Some(Err(crate::error::chain(&e))),
                }
            }
            if self.check.is_some() {
                ui.spinner();
            }
            match &self.checked {
                Some(Ok(version)) => {
                    ui.label(format!("Ray {version}"));
                }
                Some(Err(why)) => {
                    ui.colored_label(ui.visuals().error_fg_color, "unreachable")
                        .on_hover_text(why);
                }
                None => {}
            }
        });
    }
}

/// Draws the run controls and progress; returns the button pressed, if any.
pub fn run_bar_ui(
    ui: &mut egui::Ui,
    run: &RunView,
    data_ready: bool,
    extend_by: &mut usize,
    presenter: bool,
    target: &mut RunTarget,
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
                let can_pause = run.phase == Phase::Running && !run.remote;
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
        ui.separator();
        target.ui(ui, !run.is_active());
        if let Phase::Ended(status) = run.phase
            && status.can_continue()
            && run.info.is_some()
            && !run.remote
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
    if let Some(secs) = run.compiling_secs() {
        return format!(
            "Compiling GPU kernels for this model ({}): once per program, later runs start \
             at once",
            format_duration(secs)
        );
    }
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
