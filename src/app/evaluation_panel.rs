//! The Evaluation panel: confusion matrix (counts or row-normalised, cells clickable),
//! per-class precision/recall/F1 and the validation images the model got most wrong.
//! Updated at the end of every epoch while training runs, and kept for the finished run.

use std::collections::HashMap;

use super::dataset_panel::{full_color_image, to_color_image};
use crate::augment::ImageShape;
use crate::augment::crop::CropConfig;
use crate::data::{Dataset, Part};
use crate::experiment::evaluation::{Evaluation, Prediction};

/// Images shown at once in the gallery.
const GALLERY: usize = 48;
/// Thumbnails uploaded per frame at most, so an epoch's new gallery never stalls one frame.
const UPLOADS_PER_FRAME: usize = 8;
/// Largest side of the whole-image view, in points.
const FULL_IMAGE_MAX_PX: f32 = 480.0;

/// Panel state: display choices and the thumbnails already uploaded.
#[derive(Default)]
pub struct EvaluationView {
    normalised: bool,
    selected: Option<(u16, u16)>,
    thumbnails: HashMap<(Part, u32), egui::TextureHandle>,
    /// The sample shown whole below the gallery (clicked), with its texture.
    opened: Option<(Prediction, egui::TextureHandle)>,
}

impl EvaluationView {
    /// Draws the panel for `evaluation` of `data`'s validation samples.
    pub fn evaluation_ui(
        &mut self,
        ui: &mut egui::Ui,
        evaluation: Option<&Evaluation>,
        data: Option<&Dataset>,
        names: &[String],
        crop: &CropConfig,
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
        self.full_image_ui(ui, data, names, crop);
    }

    /// The clicked sample at full size (as far as the panel allows), with the windows that
    /// validation cut from it outlined: the centre crop or every tile.
    fn full_image_ui(
        &mut self,
        ui: &mut egui::Ui,
        data: &Dataset,
        names: &[String],
        crop: &CropConfig,
    ) {
        let Some((prediction, texture)) = &self.opened else {
            return;
        };
        let name = |c: u16| names.get(usize::from(c)).cloned().unwrap_or_default();
        ui.add_space(6.0);
        let mut close = false;
        ui.horizontal(|ui| {
            ui.strong(format!(
                "#{}: true {}, predicted {} ({:.0} %)",
                prediction.index,
                name(prediction.truth),
                name(prediction.predicted),
                prediction.confidence * 100.0
            ));
            close = ui.small_button("close").clicked();
        });
        let stored = ImageShape::of(data);
        let side = ui.available_width().clamp(64.0, FULL_IMAGE_MAX_PX);
        let scale = side / stored.width.max(stored.height) as f32;
        let size = egui::vec2(stored.width as f32 * scale, stored.height as f32 * scale);
        let response = ui.add(egui::Image::new((texture.id(), size)));
        let rects = crop.eval_rects(stored);
        if crop.is_active() {
            let painter = ui.painter_at(response.rect);
            let colour = ui.visuals().selection.stroke.color;
            for r in &rects {
                let min = response.rect.min + egui::vec2(r.left as f32, r.top as f32) * scale;
                let max = min + egui::vec2(r.width as f32, r.height as f32) * scale;
                painter.rect_stroke(
                    egui::Rect::from_min_max(min, max),
                    0.0,
                    egui::Stroke::new(1.0, colour),
                    egui::StrokeKind::Inside,
                );
            }
            let what = if rects.len() == 1 {
                "the window validation saw".to_owned()
            } else {
                format!("the {} tiles whose mean logits scored it", rects.len())
            };
            ui.label(
                egui::RichText::new(format!(
                    "{}×{} stored; outlined: {what}",
                    stored.width, stored.height
                ))
                .small()
                .weak(),
            );
        }
        if close {
            self.opened = None;
        }
    }

    /// The confusion matrix as a heat map that fits the panel's width: cells shrink with the
    /// number of classes (numbers are written while they fit), hovering names a cell, clicking
    /// one shows its images below.
    fn confusion_ui(&mut self, ui: &mut egui::Ui, evaluation: &Evaluation, names: &[String]) {
        let classes = evaluation.confusion.len();
        if classes == 0 {
            return;
        }
        let layout = MatrixLayout::fit(ui.available_width(), classes);
        // Past a hundred or so classes the smallest cells are wider than the panel: scroll.
        egui::ScrollArea::horizontal()
            .id_salt("confusion")
            .show(ui, |ui| self.matrix_ui(ui, evaluation, names, layout));
    }

    fn matrix_ui(
        &mut self,
        ui: &mut egui::Ui,
        evaluation: &Evaluation,
        names: &[String],
        layout: MatrixLayout,
    ) {
        let classes = evaluation.confusion.len();
        let normalised = evaluation.row_normalised();
        let size = egui::vec2(layout.width(classes), layout.width(classes));
        let (rect, response) = ui.allocate_exact_size(size, egui::Sense::click());
        response
            .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Grid, true, "Confusion matrix"));
        let painter = ui.painter_at(rect);
        let font = egui::FontId::proportional(layout.font_px);
        let ink = ui.visuals().text_color();
        let cell_at = |t: usize, p: usize| {
            egui::Rect::from_min_size(
                rect.min
                    + egui::vec2(
                        layout.label_px + p as f32 * layout.cell_px,
                        layout.label_px + t as f32 * layout.cell_px,
                    ),
                egui::vec2(layout.cell_px - 1.0, layout.cell_px - 1.0),
            )
        };
        if layout.labels {
            for c in 0..classes {
                let head = cell_at(0, c);
                painter.text(
                    egui::pos2(head.center().x, rect.min.y + layout.label_px / 2.0),
                    egui::Align2::CENTER_CENTER,
                    short_name(names, c, 3),
                    font.clone(),
                    ink,
                );
                let row = cell_at(c, 0);
                painter.text(
                    egui::pos2(rect.min.x + 1.0, row.center().y),
                    egui::Align2::LEFT_CENTER,
                    short_name(names, c, 4),
                    font.clone(),
                    ink,
                );
            }
        }
        for (t, row) in evaluation.confusion.iter().enumerate() {
            for (p, &count) in row.iter().enumerate() {
                let share = normalised[t][p];
                let strength = (share.sqrt() * 220.0) as u8;
                let fill = if t == p {
                    egui::Color32::from_rgb(30, strength / 2 + 30, 30)
                } else {
                    egui::Color32::from_rgb(strength / 2 + 30, 30, 30)
                };
                let cell = cell_at(t, p);
                painter.rect_filled(cell, 1.0, fill);
                if self.selected == Some((t as u16, p as u16)) {
                    painter.rect_stroke(
                        cell,
                        1.0,
                        egui::Stroke::new(2.0, ui.visuals().selection.stroke.color),
                        egui::StrokeKind::Inside,
                    );
                }
                if layout.numbers {
                    let text = if self.normalised {
                        format!("{:.0}", share * 100.0)
                    } else {
                        count.to_string()
                    };
                    painter.text(
                        cell.center(),
                        egui::Align2::CENTER_CENTER,
                        text,
                        font.clone(),
                        egui::Color32::WHITE,
                    );
                }
            }
        }
        let hovered = response
            .hover_pos()
            .and_then(|pos| layout.cell_of(pos - rect.min, classes));
        let name = |c: usize| names.get(c).cloned().unwrap_or_else(|| c.to_string());
        if let Some((t, p)) = hovered {
            let count = evaluation.confusion[t][p];
            let share = normalised[t][p] * 100.0;
            response.clone().on_hover_text(format!(
                "true {} → predicted {}: {count} ({share:.1} % of {})",
                name(t),
                name(p),
                name(t)
            ));
        }
        if response.clicked()
            && let Some((t, p)) = hovered
        {
            let key = (t as u16, p as u16);
            self.selected = if self.selected == Some(key) {
                None
            } else {
                Some(key)
            };
        }
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
        // An image on disk is decoded for its thumbnail: one a frame keeps the window responsive.
        let per_frame = if data.on_disk() { 1 } else { UPLOADS_PER_FRAME };
        ui.horizontal_wrapped(|ui| {
            for prediction in shown {
                let key = (prediction.part, prediction.index);
                if !self.thumbnails.contains_key(&key) {
                    if uploads == per_frame {
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
                        &data.image(prediction.part, prediction.index as usize),
                    );
                    ui.ctx().load_texture(
                        format!("val-{key:?}"),
                        image,
                        egui::TextureOptions::NEAREST,
                    )
                });
                ui.vertical(|ui| {
                    let clicked = ui
                        .add(
                            egui::Image::new((texture.id(), egui::vec2(48.0, 48.0)))
                                .sense(egui::Sense::click()),
                        )
                        .on_hover_text(format!(
                            "#{}: true {}, predicted {} ({:.0} %), loss {:.3}. Click to see it whole.",
                            prediction.index,
                            name(prediction.truth),
                            name(prediction.predicted),
                            prediction.confidence * 100.0,
                            prediction.loss
                        ))
                        .clicked();
                    if clicked {
                        let full = full_color_image(
                            data,
                            &data.image(prediction.part, prediction.index as usize),
                        );
                        let texture = ui.ctx().load_texture(
                            format!("val-full-{key:?}"),
                            full,
                            egui::TextureOptions::LINEAR,
                        );
                        self.opened = Some((*prediction, texture));
                    }
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

/// Class `c`'s name cut to `letters` letters (its number when it has none).
fn short_name(names: &[String], c: usize, letters: usize) -> String {
    names.get(c).map_or_else(
        || c.to_string(),
        |n| {
            n.trim_start_matches("class ")
                .chars()
                .take(letters)
                .collect()
        },
    )
}

/// How the confusion matrix fits a width: the size of its cells and labels, and what is written.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MatrixLayout {
    /// Side of one cell, gap included.
    cell_px: f32,
    /// Width of the row labels (and height of the column labels); 0 without labels.
    label_px: f32,
    /// Text size.
    font_px: f32,
    /// Whether the counts are written in the cells.
    numbers: bool,
    /// Whether class names label the rows and columns.
    labels: bool,
}

impl MatrixLayout {
    /// Cells between 4 and 30 px that make the matrix (labels included) no wider than
    /// `width_px`.
    fn fit(width_px: f32, classes: usize) -> Self {
        let n = classes.max(1) as f32;
        let label_px = if classes <= 30 { 34.0 } else { 0.0 };
        let cell_px = ((width_px - label_px) / n).floor().clamp(4.0, 30.0);
        let font_px = (cell_px * 0.42).clamp(7.0, 11.0);
        Self {
            cell_px,
            label_px,
            font_px,
            numbers: cell_px >= 20.0,
            labels: label_px > 0.0,
        }
    }

    /// Width (and height) of the whole matrix.
    fn width(&self, classes: usize) -> f32 {
        self.label_px + self.cell_px * classes as f32
    }

    /// The (true, predicted) cell under `offset` from the matrix's corner.
    fn cell_of(&self, offset: egui::Vec2, classes: usize) -> Option<(usize, usize)> {
        let x = (offset.x - self.label_px) / self.cell_px;
        let y = (offset.y - self.label_px) / self.cell_px;
        let inside = |v: f32| v >= 0.0 && (v as usize) < classes;
        (inside(x) && inside(y)).then_some((y as usize, x as usize))
    }
}

/// A class name cut to a few letters for captions.
fn abbreviation(name: &str) -> String {
    name.chars().take(7).collect()
}

#[cfg(test)]
mod tests {
    use super::MatrixLayout;

    #[test]
    fn the_matrix_fits_the_width_it_is_given() {
        for (width, classes) in [
            (300.0, 10),
            (362.0, 10),
            (460.0, 10),
            (300.0, 100),
            (900.0, 2),
        ] {
            let layout = MatrixLayout::fit(width, classes);
            assert!(
                layout.width(classes) <= width || layout.cell_px == 4.0,
                "{classes} classes in {width} px: {layout:?}"
            );
            assert!(layout.cell_px <= 30.0);
        }
        // Ten classes in the narrowest panel still show their counts.
        assert!(MatrixLayout::fit(300.0, 10).numbers);
        assert!(!MatrixLayout::fit(300.0, 100).numbers);
    }

    #[test]
    fn hovering_finds_the_cell_under_the_pointer() {
        let layout = MatrixLayout::fit(374.0, 10);
        let cell = layout.cell_px;
        let at = |t: f32, p: f32| {
            egui::vec2(
                layout.label_px + (p + 0.5) * cell,
                layout.label_px + (t + 0.5) * cell,
            )
        };
        assert_eq!(layout.cell_of(at(0.0, 0.0), 10), Some((0, 0)));
        assert_eq!(layout.cell_of(at(3.0, 9.0), 10), Some((3, 9)));
        assert_eq!(layout.cell_of(at(10.0, 0.0), 10), None);
        assert_eq!(layout.cell_of(egui::vec2(1.0, 1.0), 10), None, "the labels");
    }
}
