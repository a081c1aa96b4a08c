//! The Dataset panel: which data, how validation is held out, and what the images look like.

use super::AppCommand;
use crate::data::{self, Dataset, DatasetConfig, DatasetSource, Validation, noise::NoiseConfig};
use crate::experiment::ExperimentConfig;

/// Thumbnails shown per class.
const SAMPLES_PER_CLASS: usize = 2;

/// Cached things the panel derives from the dataset (textures, split sizes).
#[derive(Default)]
pub struct DatasetView {
    thumbnails: Vec<(egui::TextureHandle, String)>,
    split_sizes: Option<SplitSizes>,
}

/// Training and validation counts for one (dataset settings, seed), or why there are none.
type SplitSizes = (DatasetConfig, u64, Result<(usize, usize), String>);

impl DatasetView {
    /// Forgets everything derived from the previous dataset.
    pub fn invalidate(&mut self) {
        self.thumbnails.clear();
        self.split_sizes = None;
    }

    /// Draws the panel; returns a command when the user picks another dataset.
    pub fn dataset_ui(
        &mut self,
        ui: &mut egui::Ui,
        config: &mut ExperimentConfig,
        data: Option<&Dataset>,
        loading: bool,
        editable: bool,
    ) -> Option<AppCommand> {
        let mut command = None;
        ui.add_enabled_ui(editable, |ui| {
            let current = config.dataset.source.clone();
            let mut choices = vec![DatasetSource::Embedded];
            if let Some(full) = DatasetSource::system_fashion_mnist() {
                choices.push(full);
            }
            choices.push(DatasetSource::Noise(NoiseConfig::default()));
            let label = ui.label("Source");
            egui::ComboBox::from_id_salt("dataset_source")
                .selected_text(current.label())
                .width(230.0)
                .show_ui(ui, |ui| {
                    for choice in choices {
                        let selected = choice.short_name() == current.short_name();
                        if ui.selectable_label(selected, choice.label()).clicked() && !selected {
                            command = Some(AppCommand::SelectDataset(choice));
                        }
                    }
                })
                .response
                .labelled_by(label.id)
                .on_hover_text(
                    "The built-in Fashion-MNIST subset is real clothing photos; random noise has \
                     nothing to learn, so anything the model gets right on it is memorised.",
                );
            validation_ui(ui, config, data);
        });

        if loading {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Loading…");
            });
            return command;
        }
        let Some(data) = data else { return command };
        self.summary_ui(ui, config, data);
        self.samples_ui(ui, data);
        command
    }

    fn summary_ui(&mut self, ui: &mut egui::Ui, config: &ExperimentConfig, data: &Dataset) {
        if self
            .split_sizes
            .as_ref()
            .is_none_or(|(d, s, _)| (d, *s) != (&config.dataset, config.seed))
        {
            let sizes = data::split(data, &config.dataset, config.seed)
                .map(|s| (s.train.len(), s.val.len()))
                .map_err(|e| e.to_string());
            self.split_sizes = Some((config.dataset.clone(), config.seed, sizes));
        }
        let colour = if data.channels == 1 {
            "grayscale"
        } else {
            "RGB"
        };
        ui.label(format!(
            "{} images · {}×{} {colour} · {} classes",
            data.train.len() + data.test.as_ref().map_or(0, data::ImageSet::len),
            data.width,
            data.height,
            data.num_classes()
        ));
        match self.split_sizes.as_ref().map(|(_, _, sizes)| sizes) {
            Some(Ok((train, val))) => {
                ui.label(format!("Training on {train} · validating on {val}"));
            }
            Some(Err(message)) => {
                ui.colored_label(ui.visuals().error_fg_color, message);
            }
            None => {}
        }
    }

    fn samples_ui(&mut self, ui: &mut egui::Ui, data: &Dataset) {
        if self.thumbnails.is_empty() {
            self.thumbnails = make_thumbnails(ui.ctx(), data);
        }
        ui.add_space(4.0);
        let size = egui::vec2(40.0, 40.0);
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing = egui::vec2(2.0, 2.0);
            for (texture, label) in &self.thumbnails {
                ui.add(
                    egui::Image::new((texture.id(), size))
                        .texture_options(egui::TextureOptions::NEAREST),
                )
                .on_hover_text(label);
            }
        });
    }
}

fn validation_ui(ui: &mut egui::Ui, config: &mut ExperimentConfig, data: Option<&Dataset>) {
    let has_test = data.is_none_or(|d| d.test.is_some());
    let validation = &mut config.dataset.validation;
    let mut holdout = matches!(validation, Validation::Holdout { .. });
    ui.horizontal(|ui| {
        ui.label("Validation:");
        ui.radio_value(&mut holdout, true, "hold out")
            .on_hover_text(
                "Set aside part of the training images; the model never trains on them.",
            );
        ui.add_enabled(
            has_test,
            egui::RadioButton::new(!holdout, "source's test split"),
        )
        .on_hover_text("Validate on the separate test images that come with the dataset.")
        .clicked()
        .then(|| holdout = false);
    });
    match (holdout, *validation) {
        (true, Validation::SourceTest) => *validation = Validation::default(),
        (false, Validation::Holdout { .. }) => *validation = Validation::SourceTest,
        _ => {}
    }
    if let Validation::Holdout { fraction } = validation {
        let mut percent = *fraction * 100.0;
        ui.add(
            egui::Slider::new(&mut percent, 5.0..=50.0)
                .suffix(" %")
                .text("held out"),
        )
        .on_hover_text(
            "More validation data gives a steadier validation curve; less leaves more to train on.",
        );
        *fraction = percent / 100.0;
    }
}

/// The first few training images of each class, as textures.
fn make_thumbnails(ctx: &egui::Context, data: &Dataset) -> Vec<(egui::TextureHandle, String)> {
    let mut shown = vec![0usize; data.num_classes()];
    let mut out = Vec::new();
    for (i, &label) in data.train.labels.iter().enumerate() {
        let class = usize::from(label);
        if shown[class] >= SAMPLES_PER_CLASS {
            continue;
        }
        shown[class] += 1;
        let image = to_color_image(data, data.image(data::Part::Train, i));
        let texture = ctx.load_texture(format!("sample-{i}"), image, egui::TextureOptions::NEAREST);
        out.push((texture, format!("#{i}: {}", data.class_names[class])));
        if out.len() >= SAMPLES_PER_CLASS * data.num_classes().min(10) {
            break;
        }
    }
    out
}

/// Converts one CHW `u8` image to an egui image.
pub fn to_color_image(data: &Dataset, pixels: &[u8]) -> egui::ColorImage {
    let plane = data.width * data.height;
    let rgba: Vec<egui::Color32> = (0..plane)
        .map(|p| {
            if data.channels == 1 {
                let v = pixels[p];
                egui::Color32::from_gray(v)
            } else {
                egui::Color32::from_rgb(pixels[p], pixels[plane + p], pixels[2 * plane + p])
            }
        })
        .collect();
    egui::ColorImage::new([data.width, data.height], rgba)
}
