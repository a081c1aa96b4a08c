//! The Model panel: the architecture and its settings, its size (parameters, multiply-adds,
//! memory for the batch size, a layer table) compared with the data, pretrained weights with
//! freezing, and, after a run, saving it as a backbone or classifying an image with it.

use std::path::{Path, PathBuf};

use super::AppCommand;
use super::model_tasks::{ModelCommand, ModelOutcome};
use crate::data::Dataset;
use crate::experiment::ExperimentConfig;
use crate::experiment::feature_cache;
use crate::experiment::lesson_runs::LessonRun;
use crate::model::cnn::Pooling;
use crate::model::summary::{bytes, group_digits, si};
use crate::model::transfer::MAX_CACHE_VIEWS;
use crate::model::weights::WeightsInfo;
use crate::model::{CacheFeatures, ChannelAdapt, Freeze, InputShape, ModelConfig, ModelSummary};
use crate::train::backbone::ClassScore;

/// What the panel remembers between frames.
#[derive(Default)]
pub struct ModelView {
    /// The chosen weights file and what it holds.
    weights: Option<(PathBuf, Result<WeightsInfo, String>)>,
    /// The last classified image and its classes.
    prediction: Option<(PathBuf, Result<Vec<ClassScore>, String>)>,
    /// Whether a file dialog or task is open.
    busy: bool,
}

impl ModelView {
    /// Marks a task as started.
    pub fn set_busy(&mut self, busy: bool) {
        self.busy = busy;
    }

    /// Takes a finished task's outcome into the view and `config`; returns a message for the
    /// status line.
    pub fn apply(
        &mut self,
        outcome: ModelOutcome,
        config: &mut ExperimentConfig,
    ) -> Option<String> {
        self.busy = false;
        match outcome {
            ModelOutcome::Weights(path, Ok(info)) => {
                if let Some(model) = &info.model {
                    config.model = model.clone();
                } else if let Some(model) = torchvision_model(info.architecture.as_deref())
                    && model.short_name() != config.model.short_name()
                {
                    config.model = model;
                }
                config.transfer.weights = Some(path.clone());
                config.transfer.backbone_channels = info.input_channels;
                let message = format!("Weights: {}", describe(&info));
                self.weights = Some((path, Ok(info)));
                Some(message)
            }
            ModelOutcome::Weights(path, Err(e)) => {
                let message = format!("Cannot use {}: {e}", path.display());
                self.weights = Some((path, Err(e)));
                Some(message)
            }
            ModelOutcome::Predicted(path, scores) => {
                self.prediction = Some((path, scores));
                None
            }
            ModelOutcome::Lesson(lesson, Ok(lesson_config)) => {
                let device = config.device;
                *config = *lesson_config;
                config.device = device;
                if config.transfer.weights.is_none() {
                    self.weights = None;
                }
                Some(format!(
                    "Lesson set up ({}): press Start, then check the lesson's runs in Runs to \
                     overlay them",
                    lesson.label()
                ))
            }
            ModelOutcome::Lesson(_, Err(e)) => Some(format!("Cannot set up the lesson: {e}")),
            ModelOutcome::Message(message) => Some(message),
        }
    }

    /// Draws the panel. `finished_run` is the directory of a run that has ended, which can be
    /// saved as a backbone or asked to classify an image.
    pub fn model_ui(
        &mut self,
        ui: &mut egui::Ui,
        config: &mut ExperimentConfig,
        data: Option<&Dataset>,
        editable: bool,
        finished_run: Option<&Path>,
    ) -> Vec<AppCommand> {
        let mut commands = Vec::new();
        ui.add_enabled_ui(editable, |ui| {
            architecture_ui(ui, &mut config.model);
            egui::CollapsingHeader::new("Settings")
                .id_salt("model_settings")
                .show(ui, |ui| settings_ui(ui, &mut config.model));
        });
        if let Some(data) = data {
            let mut input = InputShape::of(data);
            let cut = config
                .crop
                .input_shape(crate::augment::ImageShape::of(data));
            (input.height, input.width) = (cut.height, cut.width);
            if let Some(classes) = &config.dataset.classes {
                input.classes = classes.len();
            }
            let available = data.train.len();
            let train_images = match config.dataset.train_size {
                crate::data::TrainSize::All => available,
                crate::data::TrainSize::Total { count } => count.min(available),
                crate::data::TrainSize::PerClass { count } => {
                    (count * input.classes).min(available)
                }
            };
            match ModelSummary::new(&config.model, &config.transfer, input) {
                Ok(summary) => summary_ui(ui, &summary, config.train.batch_size, train_images),
                Err(e) => {
                    ui.colored_label(ui.visuals().error_fg_color, e.to_string());
                }
            }
        }
        egui::CollapsingHeader::new("Pretrained weights & freezing")
            .id_salt("transfer")
            .default_open(config.transfer.is_active())
            .show(ui, |ui| {
                ui.add_enabled_ui(editable, |ui| {
                    commands.extend(self.transfer_ui(ui, config, data));
                });
            });
        egui::CollapsingHeader::new("Lessons")
            .id_salt("lessons")
            .show(ui, |ui| {
                ui.label(
                    egui::RichText::new(
                        "Capacity: a small CNN and ResNet-18 on 30 images per class. Transfer: \
                         a backbone pretrained on classes 0–4 fine-tuned on 10 images of each of \
                         classes 5–9, against training from scratch. Set up a run, Start it, \
                         then check the pair in Runs to overlay their curves.",
                    )
                    .weak(),
                );
                ui.add_enabled_ui(editable && !self.busy, |ui| {
                    for lesson in LessonRun::ALL {
                        if ui.button(lesson.label()).clicked() {
                            commands.push(AppCommand::Model(ModelCommand::Lesson(lesson)));
                        }
                    }
                });
            });
        if let Some(dir) = finished_run {
            ui.horizontal(|ui| {
                ui.add_enabled_ui(!self.busy, |ui| {
                    if ui
                        .button("Save as backbone…")
                        .on_hover_text(
                            "Write this run's best weights as a safetensors file that a later \
                             run can start from (Pretrained weights, Choose…).",
                        )
                        .clicked()
                    {
                        commands.push(AppCommand::Model(ModelCommand::SaveBackbone(
                            dir.to_owned(),
                        )));
                    }
                    if ui
                        .button("Classify an image…")
                        .on_hover_text(
                            "Run this run's best weights on a PNG or JPEG, prepared like the \
                             training images.",
                        )
                        .clicked()
                    {
                        commands.push(AppCommand::Model(ModelCommand::Predict(dir.to_owned())));
                    }
                });
            });
            self.prediction_ui(ui);
        }
        if commands.iter().any(|c| matches!(c, AppCommand::Model(_))) {
            self.busy = true;
        }
        commands
    }

    fn prediction_ui(&self, ui: &mut egui::Ui) {
        let Some((path, scores)) = &self.prediction else {
            return;
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match scores {
            Ok(scores) => {
                ui.label(format!("{name}:"));
                egui::Grid::new("prediction").num_columns(2).show(ui, |ui| {
                    for s in scores {
                        ui.label(&s.name);
                        ui.add(
                            egui::ProgressBar::new(s.prob)
                                .desired_width(120.0)
                                .text(format!("{:.1} %", s.prob * 100.0)),
                        );
                        ui.end_row();
                    }
                });
            }
            Err(e) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("{name}: {e}"));
            }
        }
    }

    fn transfer_ui(
        &mut self,
        ui: &mut egui::Ui,
        config: &mut ExperimentConfig,
        data: Option<&Dataset>,
    ) -> Option<AppCommand> {
        let mut command = None;
        let t = &mut config.transfer;
        ui.horizontal(|ui| {
            let label = ui.label("Weights");
            let shown = t
                .weights
                .as_ref()
                .and_then(|p| p.file_name())
                .map_or_else(|| "none (from scratch)".to_owned(), |n| n.to_string_lossy().into_owned());
            ui.label(egui::RichText::new(shown).monospace())
                .labelled_by(label.id);
            if ui
                .add_enabled(!self.busy, egui::Button::new("Choose…"))
                .on_hover_text("A safetensors file or a PyTorch .pt/.pth state dict, e.g. a torchvision ResNet-18 or a backbone saved here.")
                .clicked()
            {
                command = Some(AppCommand::Model(ModelCommand::ChooseWeights));
            }
            if t.weights.is_some() && ui.button("Clear").clicked() {
                t.weights = None;
                t.backbone_channels = None;
                self.weights = None;
            }
        });
        if let Some((path, info)) = &self.weights
            && t.weights.as_ref() == Some(path)
        {
            match info {
                Ok(info) => ui.label(egui::RichText::new(describe(info)).weak()),
                Err(e) => ui.colored_label(ui.visuals().error_fg_color, e),
            };
        }
        let data_channels = data.map(|d| d.channels);
        if let (Some(wanted), Some(have)) = (t.backbone_channels, data_channels)
            && wanted != have
        {
            ui.horizontal(|ui| {
                ui.label(format!("Gray data, {wanted}-channel backbone:"));
                ui.radio_value(
                    &mut t.channel_adapt,
                    ChannelAdapt::Repeat,
                    "repeat channels",
                )
                .on_hover_text("Feed the gray image into every channel of the backbone.");
                ui.radio_value(
                    &mut t.channel_adapt,
                    ChannelAdapt::SumFirstConv,
                    "sum first conv",
                )
                .on_hover_text(
                    "Sum the first convolution's weights over its channels: the same result \
                         on gray images, with less work.",
                );
            });
        }
        ui.horizontal(|ui| {
            let mut resize = t.resize.is_some();
            ui.checkbox(&mut resize, "Resize inputs to")
                .on_hover_text("Backbones pretrained on ImageNet expect 224×224 images.");
            let mut size = t.resize.unwrap_or(224);
            ui.add_enabled(
                resize,
                egui::DragValue::new(&mut size).range(4..=512).suffix(" px"),
            );
            t.resize = resize.then_some(size);
        });
        ui.checkbox(
            &mut t.replace_head,
            "New classifier for the dataset's classes",
        )
        .on_hover_text(
            "Replace the file's last layer by a fresh one with one output per class of this \
                 dataset. Untick only when the file was trained on the same classes.",
        );
        let blocks = config.model.blocks();
        let backbone = blocks.len().saturating_sub(1);
        ui.horizontal(|ui| {
            let label = ui.label("Freeze");
            let t = &mut config.transfer;
            let text = match t.freeze {
                Freeze::Nothing => "nothing".to_owned(),
                Freeze::Backbone => "the whole backbone".to_owned(),
                Freeze::AllButLast { blocks } => format!("all but the last {blocks} blocks"),
            };
            egui::ComboBox::from_id_salt("freeze")
                .selected_text(text)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut t.freeze, Freeze::Nothing, "nothing");
                    ui.selectable_value(&mut t.freeze, Freeze::Backbone, "the whole backbone");
                    let keep = match t.freeze {
                        Freeze::AllButLast { blocks } => blocks,
                        _ => 1,
                    };
                    ui.selectable_value(
                        &mut t.freeze,
                        Freeze::AllButLast { blocks: keep },
                        "all but the last N blocks",
                    );
                })
                .response
                .labelled_by(label.id)
                .on_hover_text(
                    "Frozen layers keep their pretrained weights (and BatchNorm statistics); \
                     fewer trainable parameters overfit a small dataset less.",
                );
            if let Freeze::AllButLast { blocks } = &mut t.freeze {
                ui.add(
                    egui::DragValue::new(blocks)
                        .range(0..=backbone)
                        .prefix("N = "),
                );
            }
        });
        ui.label(
            egui::RichText::new(format!(
                "Blocks, input to classifier: {}",
                blocks.join(", ")
            ))
            .weak()
            .small(),
        );
        ui.horizontal(|ui| {
            let label = ui.label("Backbone learning rate ×");
            ui.add(
                egui::Slider::new(&mut config.transfer.backbone_lr_factor, 0.001..=1.0)
                    .logarithmic(true),
            )
            .labelled_by(label.id)
            .on_hover_text(
                "The classifier learns at the chosen learning rate, everything before it at this \
                 fraction of it: pretrained features change slowly while the new head catches up.",
            );
        });
        ui.horizontal(|ui| {
            let t = &mut config.transfer;
            let mut cache = t.cache_features == CacheFeatures::Auto;
            ui.checkbox(&mut cache, "Cache frozen backbone features")
                .on_hover_text(
                    "With the whole backbone frozen and nothing random before it, each image's \
                     features are the same every epoch: they are computed once and only the \
                     classifier runs afterwards. The results are identical; training is faster.",
                );
            t.cache_features = if cache {
                CacheFeatures::Auto
            } else {
                CacheFeatures::Off
            };
            let label = ui.label("Augmented views");
            ui.add(egui::DragValue::new(&mut t.cache_views).range(0..=MAX_CACHE_VIEWS))
                .labelled_by(label.id)
                .on_hover_text(
                    "With augmentation on: cache the features of this many fixed augmented views \
                     per training image, one picked per image each epoch (0: augmentation turns \
                     caching off). Fewer distinct augmentations are seen; the cache takes this \
                     many times the memory and the views are computed as epochs first use them.",
                );
        });
        ui.label(
            egui::RichText::new(feature_cache::plan(config).line())
                .weak()
                .small(),
        );
        command
    }
}

/// One line about a weights file.
fn describe(info: &WeightsInfo) -> String {
    let what = info
        .model
        .as_ref()
        .map(|m| format!("{} saved here", m.label()))
        .or_else(|| info.architecture.clone())
        .unwrap_or_else(|| "unrecognised architecture".to_owned());
    let mut parts = vec![what, format!("{} tensors", info.tensors)];
    if let Some(c) = info.input_channels {
        parts.push(format!("{c} input channels"));
    }
    if let Some(k) = info.classes {
        parts.push(format!("{k} classes"));
    }
    parts.join(", ")
}

/// The torchvision model a weight file's architecture (as [`WeightsInfo::architecture`] words
/// it) is, at full width, if CNN Workbench has it.
fn torchvision_model(architecture: Option<&str>) -> Option<ModelConfig> {
    let name = match architecture? {
        "ResNet-18" => "resnet18",
        "ResNet-34" => "resnet34",
        "ResNet-50" => "resnet50",
        _ => return None,
    };
    ModelConfig::from_name(name).ok()
}

fn architecture_ui(ui: &mut egui::Ui, model: &mut ModelConfig) {
    let label = ui.label("Architecture");
    egui::ComboBox::from_id_salt("architecture")
        .width(230.0)
        .selected_text(model.label())
        .show_ui(ui, |ui| {
            for candidate in ModelConfig::all() {
                let selected = model.short_name() == candidate.short_name();
                if ui.selectable_label(selected, candidate.label()).clicked() && !selected {
                    *model = candidate;
                }
            }
        })
        .response
        .labelled_by(label.id)
        .on_hover_text(
            "The network that learns to classify the images. Bigger ones can fit more, and \
             memorise more.",
        );
}

fn drag(
    ui: &mut egui::Ui,
    name: &str,
    value: &mut usize,
    range: std::ops::RangeInclusive<usize>,
    tip: &str,
) {
    let label = ui.label(name);
    ui.add(egui::DragValue::new(value).range(range))
        .labelled_by(label.id)
        .on_hover_text(tip);
    ui.end_row();
}

fn settings_ui(ui: &mut egui::Ui, model: &mut ModelConfig) {
    egui::Grid::new("model_settings_grid")
        .num_columns(2)
        .show(ui, |ui| match model {
            ModelConfig::SimpleCnn(c) => {
                drag(ui, "Conv channels", &mut c.conv_channels, 1..=256, "Filters of the one convolution (16 in the seed).");
            }
            ModelConfig::Cnn(c) => {
                let mut blocks = c.channels.len();
                drag(ui, "Conv blocks", &mut blocks, 1..=6, "Convolution, BatchNorm, ReLU and pooling, repeated.");
                let last = c.channels.last().copied().unwrap_or(32);
                c.channels.resize(blocks, last);
                ui.label("Channels");
                ui.horizontal(|ui| {
                    for ch in &mut c.channels {
                        ui.add(egui::DragValue::new(ch).range(1..=512));
                    }
                });
                ui.end_row();
                ui.label("Kernel");
                egui::ComboBox::from_id_salt("kernel")
                    .selected_text(format!("{0}×{0}", c.kernel_size))
                    .show_ui(ui, |ui| {
                        for k in [1, 3, 5, 7] {
                            ui.selectable_value(&mut c.kernel_size, k, format!("{k}×{k}"));
                        }
                    });
                ui.end_row();
                ui.label("Pooling");
                egui::ComboBox::from_id_salt("pooling")
                    .selected_text(c.pooling.label())
                    .show_ui(ui, |ui| {
                        for p in Pooling::ALL {
                            ui.selectable_value(&mut c.pooling, p, p.label());
                        }
                    });
                ui.end_row();
                if c.pooling != Pooling::None {
                    drag(ui, "Pool every", &mut c.pool_every, 1..=4, "Pool after every this many blocks (2: pairs of convolutions between poolings, as in VGG).");
                }
                ui.label("");
                ui.checkbox(&mut c.batch_norm, "BatchNorm");
                ui.end_row();
                ui.label("");
                ui.checkbox(&mut c.global_pool, "Global average pooling")
                    .on_hover_text("Average each channel over the image instead of flattening: far fewer parameters in the head.");
                ui.end_row();
                drag(ui, "Hidden width", &mut c.hidden, 0..=2048, "A fully connected layer before the classifier (0: none).");
            }
            ModelConfig::Mlp(c) => {
                drag(ui, "Hidden layers", &mut c.hidden_layers, 0..=8, "Fully connected layers with ReLU (0: a linear classifier on the pixels).");
                drag(ui, "Width", &mut c.width, 1..=4096, "Units per hidden layer.");
            }
            ModelConfig::LeNet5(c) => {
                drag(ui, "conv1 padding", &mut c.conv1_padding, 0..=4, "2 gives 28×28 images the original 32×32 geometry.");
                ui.label("");
                ui.checkbox(&mut c.relu, "ReLU instead of tanh");
                ui.end_row();
                ui.label("");
                ui.checkbox(&mut c.max_pool, "Max-pooling instead of averaging");
                ui.end_row();
            }
            ModelConfig::ResNet18(c) => {
                drag(ui, "Width", &mut c.width, 1..=64, "Channels of the first stage; 64 is torchvision's ResNet-18 (and the only width its weights fit).");
            }
            ModelConfig::ResNet34(c) => {
                drag(ui, "Width", &mut c.width, 1..=64, "Channels of the first stage; 64 is torchvision's ResNet-34 (and the only width its weights fit).");
            }
            ModelConfig::ResNet50(c) => {
                drag(ui, "Width", &mut c.width, 1..=64, "Inner channels of the first stage's bottleneck blocks (their outputs have four times as many); 64 is torchvision's ResNet-50 (and the only width its weights fit).");
            }
            ModelConfig::ResNetSmall(c) => {
                drag(ui, "Blocks per stage", &mut c.blocks_per_stage, 1..=9, "3 is ResNet-20, 5 ResNet-32, 9 ResNet-56.");
                drag(ui, "Width", &mut c.width, 1..=128, "Channels of the first stage (16 in the paper).");
            }
        });
}

fn summary_ui(ui: &mut egui::Ui, s: &ModelSummary, batch_size: usize, train_samples: usize) {
    let d = s.data;
    let n = s.network;
    if s.adaptation.is_empty() {
        ui.label(format!(
            "Input {}×{}×{}, {} classes",
            d.channels, d.height, d.width, d.classes
        ));
    } else {
        ui.label(format!(
            "Input {}×{}×{}, network sees {}×{}×{}, {} classes",
            d.channels, d.height, d.width, n.channels, n.height, n.width, d.classes
        ));
        for note in &s.adaptation {
            ui.label(egui::RichText::new(format!("• {note}")).weak());
        }
    }
    let params = s.params() as u64;
    let frozen = s.frozen_params() as u64;
    if frozen == 0 {
        ui.label(format!("{} trainable parameters", group_digits(params)));
    } else {
        ui.label(format!(
            "{} parameters: {} trainable, {} frozen (grey in the layer table)",
            group_digits(params),
            group_digits(params - frozen),
            group_digits(frozen)
        ));
    }
    let macs = s.macs() as f64;
    ui.label(format!(
        "{} MACs ({} FLOPs) per sample",
        si(macs),
        si(2.0 * macs)
    ))
    .on_hover_text(
        "Multiply-adds of the convolutions and linear layers in one forward pass; a backward \
         pass costs about twice as much again.",
    );
    let (activations, weights) = s.training_bytes(batch_size);
    ui.label(format!(
        "Memory for batch size {batch_size}: ≈ {} activations + {} weights, gradients and Adam state",
        bytes(activations),
        bytes(weights)
    ))
    .on_hover_text(
        "Activations: every layer output kept for the backward pass, 4 bytes per value. An \
         estimate: the backend's own buffers come on top.",
    );
    // The machine's free memory, read once: runs that cannot fit are refused at Start.
    static AVAILABLE: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    if let Some(available) = *AVAILABLE.get_or_init(crate::model::summary::available_memory)
        && let Some(refusal) = s.memory_refusal(batch_size, available)
    {
        ui.colored_label(ui.visuals().error_fg_color, format!("Too big: {refusal}"));
    }
    ui.label(egui::RichText::new(s.capacity_note(train_samples)).weak());
    egui::CollapsingHeader::new(format!("Layers ({})", s.layers.len()))
        .id_salt("layer_table_header")
        .default_open(s.layers.len() <= 8)
        .show(ui, |ui| layer_table_ui(ui, s));
}

fn layer_table_ui(ui: &mut egui::Ui, s: &ModelSummary) {
    let table_height = if s.layers.len() > 14 {
        260.0
    } else {
        f32::INFINITY
    };
    egui::ScrollArea::vertical()
        .id_salt("layer_table_scroll")
        .max_height(table_height)
        .show(ui, |ui| {
            egui::Grid::new("layer_table")
                .num_columns(3)
                .striped(true)
                .show(ui, |ui| {
                    ui.strong("Layer");
                    ui.strong("Output");
                    ui.strong("Params");
                    ui.end_row();
                    for layer in &s.layers {
                        let name = egui::RichText::new(&layer.name);
                        ui.label(if s.is_frozen(layer) {
                            name.weak().italics()
                        } else {
                            name
                        });
                        ui.label(
                            layer
                                .output
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("×"),
                        );
                        ui.label(group_digits(layer.params as u64));
                        ui.end_row();
                    }
                });
        });
}
