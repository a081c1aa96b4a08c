//! The Evaluation panel: confusion matrix (counts or row-normalised, cells clickable),
//! per-class precision/recall/F1 and the validation images the model got most wrong.
//! Updated at the end of every epoch while training runs, and kept for the finished run.

use std::collections::HashMap;

use super::dataset_panel::to_color_image;
use crate::data::{Dataset, Part};
use crate::experiment::evaluation::{Evaluation, Prediction};

/// Images shown at once in the gallery.
const GALLERY: usize = 48;
/// Thumbnails uploaded per frame at most, so an epoch's new gallery never stalls one frame.
const UPLOADS_PER_FRAME: usize = 8;

/// Panel state: display choices and the thumbnails already uploaded.
#[derive(Default)]
pub struct EvaluationView {
    normalised: bool,
    selected: Option<(u16, u16)>,
    thumbnails: HashMap<(Part, u32), egui::TextureHandle>,
}

impl EvaluationView {
    /// Draws the panel for `evaluation` of `data`'s validation samples.
    pub fn evaluation_ui(
        &mut self,
        ui: &mut egui::Ui,
        evaluation: Option<&Evaluation>,
        data: Option<&Dataset>,
        names: &[String],
    ) {
        let (Some(evaluation), Some(data)) = (evaluation, data) else {
            ui.label("The confusion matrix, per-class scores and the worst mistakes appear here after the first epoch.");
            return;
        };
        if self.thumbnails.len() > 2000 {
            self.thumbnails.clear();
        }
        ui.horizontal(|ui| {
            ui.strong(format!("Validation, epoch {}", evaluation.epoch));
            ui.checkbox(&mut self.normalised, "row-normalised")
                .on_hover_text("Each row divided by its total: the share of each true class given to each prediction.");
        });
        self.confusion_ui(ui, evaluation, names);
        ui.add_space(6.0);
        per_class_ui(ui, evaluation, names);
        ui.add_space(6.0);
        self.gallery_ui(ui, evaluation, data, names);
    }

    fn confusion_ui(&mut self, ui: &mut egui::Ui, evaluation: &Evaluation, names: &[String]) {
        let normalised = evaluation.row_normalised();
        let short = |c: usize| {
            names.get(c).map_or_else(
                || c.to_string(),
                |n| n.trim_start_matches("class ").chars().take(4).collect(),
            )
        };
        egui::Grid::new("confusion")
            .spacing([2.0, 2.0])
            .show(ui, |ui| {
                ui.label(egui::RichText::new("true/pred").small());
                for c in 0..evaluation.confusion.len() {
                    ui.label(egui::RichText::new(short(c)).small());
                }
                ui.end_row();
                for (t, row) in evaluation.confusion.iter().enumerate() {
                    ui.label(egui::RichText::new(short(t)).small());
                    for (p, &count) in row.iter().enumerate() {
                        let share = normalised[t][p];
                        let text = if self.normalised {
                            format!("{:.0}", share * 100.0)
                        } else {
                            count.to_string()
                        };
                        let strength = (share.sqrt() * 220.0) as u8;
                        let fill = if t == p {
                            egui::Color32::from_rgb(30, strength / 2 + 30, 30)
                        } else {
                            egui::Color32::from_rgb(strength / 2 + 30, 30, 30)
                        };
                        let key = (t as u16, p as u16);
                        let button = egui::Button::new(
                            egui::RichText::new(text)
                                .small()
                                .color(egui::Color32::WHITE),
                        )
                        .fill(fill)
                        .selected(self.selected == Some(key))
                        .min_size(egui::vec2(24.0, 16.0));
                        let name = |c: usize| names.get(c).cloned().unwrap_or_default();
                        if ui
                            .add(button)
                            .on_hover_text(format!(
                                "true {} → predicted {}: {count}",
                                name(t),
                                name(p)
                            ))
                            .clicked()
                        {
                            self.selected = if self.selected == Some(key) {
                                None
                            } else {
                                Some(key)
                            };
                        }
                    }
                    ui.end_row();
                }
            });
    }

    fn gallery_ui(
        &mut self,
        ui: &mut egui::Ui,
        evaluation: &Evaluation,
        data: &Dataset,
        names: &[String],
    ) {
        let name = |c: u16| names.get(usize::from(c)).cloned().unwrap_or_default();
        let shown: Vec<&Prediction> = match self.selected {
            Some((t, p)) => {
                ui.horizontal(|ui| {
                    ui.strong(format!("True {}, predicted {}", name(t), name(p)));
                    if ui.small_button("show top losses").clicked() {
                        self.selected = None;
                    }
                });
                evaluation
                    .predictions
                    .iter()
                    .filter(|x| x.truth == t && x.predicted == p)
                    .take(GALLERY)
                    .collect()
            }
            None => {
                ui.strong("Top losses (misclassified, worst first)");
                evaluation.mistakes.iter().take(GALLERY).collect()
            }
        };
        if shown.is_empty() {
            ui.label("No images here.");
            return;
        }
        let mut uploads = 0;
        ui.horizontal_wrapped(|ui| {
            for prediction in shown {
                let key = (prediction.part, prediction.index);
                if !self.thumbnails.contains_key(&key) {
                    if uploads == UPLOADS_PER_FRAME {
                        // The rest follow in the next frames.
                        ui.allocate_space(egui::vec2(48.0, 62.0));
                        ui.ctx().request_repaint();
                        continue;
                    }
                    uploads += 1;
                }
                let texture = self.thumbnails.entry(key).or_insert_with(|| {
                    let image = to_color_image(
                        data,
                        data.image(prediction.part, prediction.index as usize),
                    );
                    ui.ctx().load_texture(
                        format!("val-{key:?}"),
                        image,
                        egui::TextureOptions::NEAREST,
                    )
                });
                ui.vertical(|ui| {
                    ui.add(egui::Image::new((texture.id(), egui::vec2(48.0, 48.0))))
                        .on_hover_text(format!(
                            "#{}: true {}, predicted {} ({:.0} %), loss {:.3}",
                            prediction.index,
                            name(prediction.truth),
                            name(prediction.predicted),
                            prediction.confidence * 100.0,
                            prediction.loss
                        ));
                    ui.label(
                        egui::RichText::new(format!(
                            "{:.0}% {}",
                            prediction.confidence * 100.0,
                            abbreviation(&name(prediction.predicted))
                        ))
                        .small(),
                    );
                });
            }
        });
    }
}

fn per_class_ui(ui: &mut egui::Ui, evaluation: &Evaluation, names: &[String]) {
    egui::Grid::new("per_class")
        .striped(true)
        .num_columns(5)
        .show(ui, |ui| {
            for head in ["class", "n", "accuracy", "precision", "F1"] {
                ui.label(egui::RichText::new(head).small().strong());
            }
            ui.end_row();
            for (c, m) in evaluation.per_class.iter().enumerate() {
                ui.label(egui::RichText::new(names.get(c).cloned().unwrap_or_default()).small());
                ui.label(egui::RichText::new(m.support.to_string()).small());
                ui.label(egui::RichText::new(format!("{:.1} %", m.recall * 100.0)).small())
                    .on_hover_text(
                        "Recall: the share of this class's images classified correctly.",
                    );
                ui.label(egui::RichText::new(format!("{:.1} %", m.precision * 100.0)).small());
                ui.label(egui::RichText::new(format!("{:.3}", m.f1)).small());
                ui.end_row();
            }
        });
}

/// A class name cut to a few letters for captions.
fn abbreviation(name: &str) -> String {
    name.chars().take(7).collect()
}
