//! The Model panel: the architecture, its layers and its size compared with the data.

use crate::data::Dataset;
use crate::experiment::ExperimentConfig;
use crate::model::{InputShape, ModelConfig};

/// Draws the model choice and its layer table.
pub fn model_ui(
    ui: &mut egui::Ui,
    config: &mut ExperimentConfig,
    data: Option<&Dataset>,
    editable: bool,
) {
    ui.add_enabled_ui(editable, |ui| {
        let label = ui.label("Architecture");
        egui::ComboBox::from_id_salt("architecture")
            .width(230.0)
            .selected_text(config.model.label())
            .show_ui(ui, |ui| {
                let simple = ModelConfig::default();
                let selected = config.model.short_name() == simple.short_name();
                if ui.selectable_label(selected, simple.label()).clicked() && !selected {
                    config.model = simple;
                }
            })
            .response
            .labelled_by(label.id)
            .on_hover_text("The network that learns to classify the images.");
    });
    let Some(data) = data else { return };
    let input = InputShape::of(data);
    match config.model.layers(input) {
        Ok(layers) => {
            egui::Grid::new("layer_table")
                .num_columns(3)
                .striped(true)
                .show(ui, |ui| {
                    ui.strong("Layer");
                    ui.strong("Output");
                    ui.strong("Params");
                    ui.end_row();
                    for layer in &layers {
                        ui.label(&layer.name);
                        ui.label(
                            layer
                                .output
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("×"),
                        );
                        ui.label(group_digits(layer.params));
                        ui.end_row();
                    }
                });
            let params: usize = layers.iter().map(|l| l.params).sum();
            ui.label(format!("{} trainable parameters", group_digits(params)));
            let per_sample = params as f64 / data.train.len().max(1) as f64;
            let cue = if per_sample >= 10.0 {
                "easily enough capacity to memorise every training image"
            } else if per_sample >= 1.0 {
                "enough capacity to memorise much of the training set: watch the validation curve"
            } else {
                "little room to memorise"
            };
            ui.label(
                egui::RichText::new(format!(
                    "≈ {per_sample:.1} parameters per training image: {cue}"
                ))
                .weak(),
            );
        }
        Err(e) => {
            ui.colored_label(ui.visuals().error_fg_color, e.to_string());
        }
    }
}

/// `31530` → `31,530`.
pub fn group_digits(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
