//! The Hyperparameters panel: every training knob, each with a tooltip on what it does to
//! over- and underfitting.

use super::AppCommand;
use crate::experiment::{DeviceKind, ExperimentConfig};
use crate::experiment::{GradClip, Monitor, OptimizerConfig, Schedule};

/// What the panel may change: everything between runs, only the learning rate and schedule
/// while a run is paused, nothing while it trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Editable {
    /// No run in progress.
    All,
    /// A run is paused: the learning rate and schedule can change.
    LearningRateOnly,
    /// A run is training.
    Nothing,
}

/// Draws the training settings; returns a command when the user applies a change to a paused
/// run or asks for the learning-rate finder.
pub fn hyper_ui(
    ui: &mut egui::Ui,
    config: &mut ExperimentConfig,
    editable: Editable,
    gpu_status: &str,
) -> Option<AppCommand> {
    let mut command = None;
    let all = editable == Editable::All;
    let lr_editable = editable != Editable::Nothing;
    egui::Grid::new("hyper_grid").num_columns(2).spacing([12.0, 6.0]).show(ui, |ui| {
        let train = &mut config.train;
        row(ui, all, "Epochs", egui::DragValue::new(&mut train.epochs).range(1..=10_000).speed(0.2),
            "Passes over the training data. Too few underfits; too many lets the model memorise \
             the training set, which shows as a rising validation loss.");
        row(ui, all, "Batch size", egui::DragValue::new(&mut train.batch_size).range(1..=4096).speed(0.5),
            "Images per optimizer step. Small batches give noisier steps, which act as a mild \
             regulariser; large batches train faster per image.");
        row(ui, lr_editable, "Learning rate",
            egui::Slider::new(&mut train.lr, 1e-5..=1.0).logarithmic(true).clamping(egui::SliderClamping::Edits).custom_formatter(|v, _| format!("{v:.1e}")),
            "Step size. Too high and the loss jumps or diverges; too low and training crawls and \
             looks like underfitting.");

        ui.label("Optimizer");
        ui.add_enabled_ui(all, |ui| optimizer_ui(ui, &mut train.optimizer));
        ui.end_row();

        ui.label("Schedule");
        ui.add_enabled_ui(lr_editable, |ui| schedule_ui(ui, &mut train.schedule));
        ui.end_row();

        row(ui, all, "Weight decay",
            egui::DragValue::new(&mut train.weight_decay).range(0.0..=1.0).speed(1e-5).max_decimals(6),
            "Pulls weights towards zero. More decay fights overfitting; too much underfits.");
        ui.label("Gradient clipping");
        ui.add_enabled_ui(all, |ui| clip_ui(ui, &mut train.clip_grad));
        ui.end_row();
        row(ui, all, "Label smoothing",
            egui::Slider::new(&mut train.label_smoothing, 0.0..=0.5).fixed_decimals(2),
            "Trains towards slightly softened targets, so the model cannot become arbitrarily \
             confident: a regulariser against overfitting.");
        let mut no_dropout = 0.0;
        let has_dropout = config.model.dropout_mut().is_some();
        let dropout = config.model.dropout_mut().unwrap_or(&mut no_dropout);
        row(ui, all && has_dropout, "Dropout", egui::Slider::new(dropout, 0.0..=0.9).fixed_decimals(2),
            "Randomly drops features before the classifier while training, so the model cannot \
             rely on any one of them: fights overfitting, too much underfits. (Not every \
             architecture has dropout.)");
        let label = ui.label("Seed");
        ui.add_enabled(all, egui::DragValue::new(&mut config.seed).speed(1))
            .labelled_by(label.id)
            .on_hover_text("Fixes weight initialisation, the validation split and batch order: the \
                            same seed and settings give the same curves.");
        ui.end_row();

        ui.label("Device");
        ui.add_enabled_ui(all, |ui| {
            egui::ComboBox::from_id_salt("device")
                .selected_text(match config.device {
                    DeviceKind::Cpu => "CPU",
                    DeviceKind::Gpu => "GPU (wgpu)",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut config.device, DeviceKind::Cpu, "CPU");
                    ui.selectable_value(&mut config.device, DeviceKind::Gpu, "GPU (wgpu)");
                })
                .response
                .on_hover_text("Where the model trains. Small models on 28×28 images are often \
                                fastest on the CPU.");
        });
        ui.end_row();
    });
    if config.device == DeviceKind::Gpu {
        ui.label(egui::RichText::new(gpu_status).weak());
    }

    ui.add_space(4.0);
    ui.add_enabled_ui(all, |ui| early_stopping_ui(ui, config));
    ui.horizontal(|ui| {
        if ui
            .add_enabled(all, egui::Button::new("Find learning rate"))
            .on_hover_text(
                "Trains briefly while raising the learning rate step by step and \
                            plots the loss against it; pick a rate where the loss falls fastest.",
            )
            .clicked()
        {
            command = Some(AppCommand::FindLr);
        }
        if editable == Editable::LearningRateOnly
            && ui
                .button("Apply to paused run")
                .on_hover_text(
                    "Use this learning rate and schedule from the next step on; \
                                the change is marked on the plot and recorded.",
                )
                .clicked()
        {
            command = Some(AppCommand::ApplyLr);
        }
    });
    command
}

/// A label and a widget in the grid, with the tooltip on the widget.
fn row(ui: &mut egui::Ui, enabled: bool, name: &str, widget: impl egui::Widget, tip: &str) {
    let label = ui.label(name);
    ui.add_enabled(enabled, widget)
        .labelled_by(label.id)
        .on_hover_text(tip);
    ui.end_row();
}

fn optimizer_ui(ui: &mut egui::Ui, optimizer: &mut OptimizerConfig) {
    ui.horizontal(|ui| {
        egui::ComboBox::from_id_salt("optimizer")
            .selected_text(optimizer.name())
            .show_ui(ui, |ui| {
                for name in OptimizerConfig::NAMES {
                    if ui
                        .selectable_label(optimizer.name() == name, name)
                        .clicked()
                        && let Ok(chosen) = OptimizerConfig::from_name(name, 0.9)
                    {
                        *optimizer = chosen;
                    }
                }
            })
            .response
            .on_hover_text(
                "How gradients become weight updates. Adam adapts per weight and is \
                            forgiving; SGD with momentum often generalises slightly better but \
                            needs a tuned learning rate.",
            );
        match optimizer {
            OptimizerConfig::Sgd { momentum, nesterov } => {
                ui.add(
                    egui::DragValue::new(momentum)
                        .range(0.0..=0.99)
                        .speed(0.01)
                        .prefix("momentum "),
                )
                .on_hover_text("Keeps part of the previous update: smoother, faster progress.");
                ui.checkbox(nesterov, "Nesterov");
            }
            OptimizerConfig::RmsProp { momentum } => {
                ui.add(
                    egui::DragValue::new(momentum)
                        .range(0.0..=0.99)
                        .speed(0.01)
                        .prefix("momentum "),
                )
                .on_hover_text("Keeps part of the previous update: smoother, faster progress.");
            }
            OptimizerConfig::Adam | OptimizerConfig::AdamW => {}
        }
    });
}

fn schedule_ui(ui: &mut egui::Ui, schedule: &mut Schedule) {
    ui.vertical(|ui| {
        egui::ComboBox::from_id_salt("schedule")
            .selected_text(schedule.name())
            .show_ui(ui, |ui| {
                for name in Schedule::NAMES {
                    if ui.selectable_label(schedule.name() == name, name).clicked()
                        && let Ok(chosen) = Schedule::from_name(name)
                    {
                        *schedule = chosen;
                    }
                }
            })
            .response
            .on_hover_text(
                "How the learning rate changes over the run (plotted below the \
                            accuracy). Lowering it late lets the model settle; a warm-up avoids \
                            early instability.",
            );
        ui.horizontal(|ui| match schedule {
            Schedule::Constant => {}
            Schedule::Step {
                every_epochs,
                gamma,
            } => {
                ui.add(
                    egui::DragValue::new(every_epochs)
                        .range(1..=1000)
                        .prefix("every "),
                );
                ui.add(
                    egui::DragValue::new(gamma)
                        .range(0.01..=1.0)
                        .speed(0.01)
                        .prefix("× "),
                );
            }
            Schedule::Exponential { gamma } => {
                ui.add(
                    egui::DragValue::new(gamma)
                        .range(0.5..=1.0)
                        .speed(0.005)
                        .prefix("× per epoch "),
                );
            }
            Schedule::Cosine {
                warmup_epochs,
                min_fraction,
            } => {
                ui.add(
                    egui::DragValue::new(warmup_epochs)
                        .range(0..=100)
                        .prefix("warm-up "),
                );
                ui.add(
                    egui::DragValue::new(min_fraction)
                        .range(0.0..=1.0)
                        .speed(0.01)
                        .prefix("floor "),
                );
            }
            Schedule::OneCycle { pct_start, .. } => {
                ui.add(
                    egui::DragValue::new(pct_start)
                        .range(0.05..=0.95)
                        .speed(0.01)
                        .prefix("rise "),
                );
            }
        });
    });
}

fn clip_ui(ui: &mut egui::Ui, clip: &mut Option<GradClip>) {
    ui.horizontal(|ui| {
        let label = match clip {
            None => "off",
            Some(GradClip::Norm { .. }) => "norm",
            Some(GradClip::Value { .. }) => "value",
        };
        egui::ComboBox::from_id_salt("clip")
            .selected_text(label)
            .show_ui(ui, |ui| {
                if ui.selectable_label(clip.is_none(), "off").clicked() {
                    *clip = None;
                }
                if ui
                    .selectable_label(matches!(clip, Some(GradClip::Norm { .. })), "norm")
                    .clicked()
                {
                    *clip = Some(GradClip::Norm { max: 1.0 });
                }
                if ui
                    .selectable_label(matches!(clip, Some(GradClip::Value { .. })), "value")
                    .clicked()
                {
                    *clip = Some(GradClip::Value { max: 1.0 });
                }
            })
            .response
            .on_hover_text(
                "Caps gradients so one bad batch cannot throw the weights far off: \
                            steadies training at high learning rates; it does not fight \
                            overfitting.",
            );
        if let Some(GradClip::Norm { max } | GradClip::Value { max }) = clip {
            ui.add(
                egui::DragValue::new(max)
                    .range(1e-3..=100.0)
                    .speed(0.01)
                    .prefix("max "),
            );
        }
    });
}

fn early_stopping_ui(ui: &mut egui::Ui, config: &mut ExperimentConfig) {
    let rule = &mut config.train.early_stopping;
    ui.checkbox(&mut rule.enabled, "Early stopping")
        .on_hover_text(
            "Stops when validation stops improving and restores the best weights: \
                        the standard cure for training too long. Off, the plot still shows \
                        where it would have stopped.",
        );
    ui.horizontal(|ui| {
        egui::ComboBox::from_id_salt("monitor")
            .selected_text(match rule.monitor {
                Monitor::ValLoss => "val loss",
                Monitor::ValAcc => "val accuracy",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut rule.monitor, Monitor::ValLoss, "val loss");
                ui.selectable_value(&mut rule.monitor, Monitor::ValAcc, "val accuracy");
            })
            .response
            .on_hover_text("The number that has to keep improving.");
        ui.add(
            egui::DragValue::new(&mut rule.patience)
                .range(1..=100)
                .prefix("patience "),
        )
        .on_hover_text(
            "Epochs to wait for an improvement. Short patience stops at the first \
                            bump; long patience lets the model overfit longer.",
        );
        ui.add(
            egui::DragValue::new(&mut rule.min_delta)
                .range(0.0..=1.0)
                .speed(1e-4)
                .prefix("min Δ "),
        )
        .on_hover_text("The smallest change that counts as an improvement.");
    });
}
