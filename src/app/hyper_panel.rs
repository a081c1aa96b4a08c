//! The Hyperparameters panel: epochs, batch size, learning rate, seed and device.

use crate::experiment::{DeviceKind, ExperimentConfig};

/// Draws the training settings. Disabled while a run is active.
pub fn hyper_ui(ui: &mut egui::Ui, config: &mut ExperimentConfig, editable: bool) {
    ui.add_enabled_ui(editable, |ui| {
        egui::Grid::new("hyper_grid").num_columns(2).spacing([12.0, 6.0]).show(ui, |ui| {
            let train = &mut config.train;
            let label = ui.label("Epochs");
            ui.add(egui::DragValue::new(&mut train.epochs).range(1..=10_000).speed(0.2))
                .labelled_by(label.id)
                .on_hover_text(
                    "Passes over the training data. Too few underfits; too many lets the model \
                     memorise the training set, which shows as a rising validation loss.",
                );
            ui.end_row();

            let label = ui.label("Batch size");
            ui.add(egui::DragValue::new(&mut train.batch_size).range(1..=4096).speed(0.5))
                .labelled_by(label.id)
                .on_hover_text(
                    "Images per optimizer step. Small batches give noisier steps, which can act \
                     as a mild regulariser; large batches train faster per image.",
                );
            ui.end_row();

            let label = ui.label("Learning rate");
            ui.add(
                egui::Slider::new(&mut train.lr, 1e-5..=1.0)
                    .logarithmic(true)
                    .custom_formatter(|v, _| format!("{v:.1e}")),
            )
            .labelled_by(label.id)
            .on_hover_text(
                "Step size of the Adam optimizer. Too high and the loss jumps or diverges; too \
                 low and training crawls and seems to underfit.",
            );
            ui.end_row();

            let label = ui.label("Seed");
            ui.add(egui::DragValue::new(&mut config.seed).speed(1))
                .labelled_by(label.id)
                .on_hover_text(
                    "Fixes weight initialisation, the validation split and batch order: the same \
                     seed and settings give the same curves.",
                );
            ui.end_row();

            ui.label("Device");
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
                .on_hover_text("Where the model trains. Small models on 28×28 images are often fastest on the CPU.");
            ui.end_row();
        });
        ui.label(egui::RichText::new("Optimizer: Adam · loss: cross-entropy").weak());
    });
}
