//! The augmentation settings editor: one row per operation (on/off, solo, its parameters),
//! mixing, fill modes and the warnings about settings that would hurt, shown in the
//! Augmentation window beside the preview.

use crate::augment::crop::{CropConfig, EvalCrop, TrainCrop};
use crate::augment::warnings::Warning;
use crate::augment::{AugmentConfig, FillMode, ImageShape, Mix, Op};

/// Sliders never change a value by showing it (no clamping, no rounding to the shown
/// decimals): a preset's 4/3 or a file's value beyond the slider's range stays as it is.
const KEEP: egui::SliderClamping = egui::SliderClamping::Edits;

/// The warnings about the current settings, if any, each with its reason.
pub(super) fn warnings_ui(ui: &mut egui::Ui, warnings: &[Warning]) {
    if warnings.is_empty() {
        return;
    }
    ui.add_space(6.0);
    for warning in warnings {
        ui.horizontal_wrapped(|ui| {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                egui::RichText::new(format!("{}:", warning.op.label())).strong(),
            );
            ui.label(&warning.message);
        });
    }
}

/// The crop and tile settings for images stored at `stored`; the edited settings when the user
/// changed them (they may need the data reloaded, so the caller applies them as a command).
pub(super) fn crop_ui(
    ui: &mut egui::Ui,
    crop: &CropConfig,
    stored: ImageShape,
) -> Option<CropConfig> {
    let mut edit = *crop;
    ui.horizontal(|ui| {
        let label = ui.label("Training input").on_hover_text(
            "How each training image becomes the network's input. A crop keeps the images at \
             their own resolution and cuts an input-sized window from them every step, so \
             fine detail reaches the network and each epoch sees other parts of the image.",
        );
        egui::ComboBox::from_id_salt("train_crop")
            .selected_text(edit.train.label())
            .show_ui(ui, |ui| {
                for choice in TrainCrop::ALL {
                    ui.selectable_value(&mut edit.train, choice, choice.label());
                }
            })
            .response
            .labelled_by(label.id);
    });
    ui.horizontal(|ui| {
        let label = ui.label("Validation input").on_hover_text(
            "How each validation image becomes input: the whole image resized, the centre \
             window, or tiles covering the whole image whose logits are averaged (so \
             validation sees everything).",
        );
        egui::ComboBox::from_id_salt("eval_crop")
            .selected_text(edit.eval.label())
            .show_ui(ui, |ui| {
                for choice in EvalCrop::ALL {
                    ui.selectable_value(&mut edit.eval, choice, choice.label());
                }
            })
            .response
            .labelled_by(label.id);
    });
    let cropping = edit.train != TrainCrop::None || edit.eval != EvalCrop::Resize;
    if cropping {
        let mut side = edit
            .input_size
            .unwrap_or_else(|| ((stored.width.min(stored.height) / 2).min(224) as u32).max(4));
        ui.horizontal(|ui| {
            ui.add(
                egui::DragValue::new(&mut side)
                    .range(4..=1024)
                    .prefix("input ")
                    .suffix(" px"),
            )
            .on_hover_text("Side of the square input the network sees");
            ui.add(
                egui::DragValue::new(&mut edit.scale)
                    .range(0.01..=16.0)
                    .speed(0.01)
                    .prefix("scale ×"),
            )
            .on_hover_text(
                "Scale of the image before a window is cut: 1 takes native pixels, 0.5 shrinks \
                 the image by half first (a window then covers twice the width)",
            );
        });
        edit.input_size = Some(side);
        if edit.train == TrainCrop::Resized {
            ui.horizontal(|ui| {
                ui.label("area");
                ui.add(
                    egui::DragValue::new(&mut edit.area[0])
                        .range(0.01..=1.0)
                        .speed(0.01),
                );
                ui.add(
                    egui::DragValue::new(&mut edit.area[1])
                        .range(0.01..=1.0)
                        .speed(0.01),
                );
                ui.label("ratio");
                ui.add(
                    egui::DragValue::new(&mut edit.ratio[0])
                        .range(0.05..=20.0)
                        .speed(0.01),
                );
                ui.add(
                    egui::DragValue::new(&mut edit.ratio[1])
                        .range(0.05..=20.0)
                        .speed(0.01),
                );
            });
        }
        let views = edit.views(stored);
        let input = edit.input_shape(stored);
        ui.label(
            egui::RichText::new(format!(
                "stored {}×{}, input {}×{}; validation: {} input{} per image",
                stored.width,
                stored.height,
                input.width,
                input.height,
                views,
                if views == 1 { "" } else { "s" }
            ))
            .small()
            .weak(),
        );
    }
    (edit != *crop && edit.validate().is_ok()).then_some(edit)
}

/// Every operation: its switch, probability, solo toggle and (when on) its parameters.
/// One row per operation: on/off, solo (preview only this one) and its parameters.
pub(super) fn settings_ui(ui: &mut egui::Ui, augment: &mut AugmentConfig, solo: &mut Option<Op>) {
    for op in Op::ALL {
        ui.horizontal(|ui| {
            let (enabled, p) = augment.switch_mut(op);
            ui.checkbox(enabled, op.label()).on_hover_text(op_tip(op));
            ui.add_enabled(
                *enabled,
                egui::Slider::new(p, 0.0..=1.0)
                    .clamping(KEEP)
                    .fixed_decimals(2)
                    .text(format!("p {}", short(op))),
            )
            .on_hover_text(if op.is_batch_level() {
                "Probability that a batch is mixed"
            } else {
                "Probability that an image gets this operation"
            });
            let on = *solo == Some(op);
            if ui
                .selectable_label(on, "solo")
                .on_hover_text("Preview this operation alone, on every draw")
                .clicked()
            {
                *solo = if on { None } else { Some(op) };
            }
        });
        if augment.switch(op).0 {
            ui.indent(op.label(), |ui| params_ui(ui, augment, op));
        }
    }
}

/// A short tag for slider labels, so each is unique and findable.
fn short(op: Op) -> &'static str {
    match op {
        Op::ResizedCrop => "crop",
        Op::PadCrop => "shift",
        Op::HFlip => "hflip",
        Op::VFlip => "vflip",
        Op::Affine => "affine",
        Op::ColorJitter => "jitter",
        Op::Grayscale => "gray",
        Op::Blur => "blur",
        Op::Noise => "noise",
        Op::Erasing => "erase",
        Op::Mixup => "mixup",
        Op::Cutmix => "cutmix",
    }
}

fn op_tip(op: Op) -> &'static str {
    match op {
        Op::ResizedCrop => {
            "Crops a random part (area and aspect ratio in the ranges) and stretches it back: the object appears at other sizes and places."
        }
        Op::PadCrop => {
            "Pads each side and crops back at a random offset: a shift of a few pixels, the classic for CIFAR."
        }
        Op::HFlip => {
            "Mirrors left to right. Right for most photos and clothes; wrong for digits and text."
        }
        Op::VFlip => "Mirrors top to bottom. Rarely right: most objects have an up.",
        Op::Affine => {
            "Rotates, shifts, scales and shears about the centre (bilinear); pixels from outside take the fill."
        }
        Op::ColorJitter => "Random brightness, contrast, saturation and hue, in a random order.",
        Op::Grayscale => "Removes colour, so the model cannot rely on it.",
        Op::Blur => "Gaussian blur: the model must cope with soft edges.",
        Op::Noise => "Adds Gaussian pixel noise.",
        Op::Erasing => {
            "Overwrites a random rectangle (cutout): the model must use more than one part of the object."
        }
        Op::Mixup => {
            "Blends each image with another of the batch, and their labels in the same proportion."
        }
        Op::Cutmix => "Pastes a rectangle from another image of the batch; labels mix by area.",
    }
}

/// A [min, max] pair of sliders that keep min ≤ max.
fn range_ui(
    ui: &mut egui::Ui,
    name: &str,
    value: &mut [f32; 2],
    range: std::ops::RangeInclusive<f32>,
    logarithmic: bool,
    tip: &str,
) {
    let before = *value;
    ui.horizontal(|ui| {
        ui.add(
            egui::Slider::new(&mut value[0], range.clone())
                .clamping(KEEP)
                .logarithmic(logarithmic)
                .max_decimals(2)
                .text(format!("{name} min")),
        )
        .on_hover_text(tip);
    });
    ui.horizontal(|ui| {
        ui.add(
            egui::Slider::new(&mut value[1], range)
                .clamping(KEEP)
                .logarithmic(logarithmic)
                .max_decimals(2)
                .text(format!("{name} max")),
        )
        .on_hover_text(tip);
    });
    if value[0] > value[1] {
        if value[0] != before[0] {
            value[1] = value[0];
        } else {
            value[0] = value[1];
        }
    }
}

fn slider(
    ui: &mut egui::Ui,
    value: &mut f32,
    range: std::ops::RangeInclusive<f32>,
    text: &str,
    tip: &str,
) {
    ui.add(
        egui::Slider::new(value, range)
            .clamping(KEEP)
            .max_decimals(3)
            .text(text),
    )
    .on_hover_text(tip);
}

fn fill_ui(ui: &mut egui::Ui, id: &str, fill: &mut FillMode, value: &mut u8) {
    ui.horizontal(|ui| {
        ui.label("fill");
        egui::ComboBox::from_id_salt(id)
            .selected_text(match fill {
                FillMode::Constant => "constant",
                FillMode::Edge => "edge",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(fill, FillMode::Constant, "constant");
                ui.selectable_value(fill, FillMode::Edge, "edge");
            })
            .response
            .on_hover_text("What fills pixels brought in from outside: a grey level, or the nearest edge pixel repeated");
        if *fill == FillMode::Constant {
            ui.add(egui::Slider::new(value, 0..=255).clamping(KEEP).text("level"));
        }
    });
}

fn mix_ui(ui: &mut egui::Ui, mix: &mut Mix, name: &str) {
    ui.add(
        egui::Slider::new(&mut mix.alpha, 0.05..=4.0)
            .clamping(KEEP)
            .logarithmic(true)
            .max_decimals(2)
            .text(format!("{name} α")),
    )
    .on_hover_text(
        "λ ~ Beta(α, α). Small α keeps most images nearly pure; α = 1 mixes uniformly. With \
         fewer than two rows the preview has no partner to mix with.",
    );
}

fn params_ui(ui: &mut egui::Ui, c: &mut AugmentConfig, op: Op) {
    match op {
        Op::ResizedCrop => {
            range_ui(
                ui,
                "crop area",
                &mut c.resized_crop.scale,
                0.05..=1.0,
                false,
                "Area of the crop as a fraction of the image",
            );
            range_ui(
                ui,
                "crop ratio",
                &mut c.resized_crop.ratio,
                0.2..=5.0,
                true,
                "Aspect ratio (width / height) of the crop, drawn log-uniformly",
            );
        }
        Op::PadCrop => {
            ui.add(
                egui::Slider::new(&mut c.pad_crop.padding, 0..=16)
                    .clamping(KEEP)
                    .text("padding px"),
            )
            .on_hover_text("Largest shift in pixels, in each direction");
            fill_ui(
                ui,
                "pad fill",
                &mut c.pad_crop.fill,
                &mut c.pad_crop.fill_value,
            );
        }
        Op::HFlip | Op::VFlip | Op::Grayscale => {}
        Op::Affine => {
            let a = &mut c.affine;
            slider(
                ui,
                &mut a.degrees,
                0.0..=180.0,
                "rotation ±°",
                "Rotation drawn from [-d, d] degrees",
            );
            slider(
                ui,
                &mut a.translate[0],
                0.0..=0.5,
                "shift x (of width)",
                "Largest horizontal shift, as a fraction of the width",
            );
            slider(
                ui,
                &mut a.translate[1],
                0.0..=0.5,
                "shift y (of height)",
                "Largest vertical shift, as a fraction of the height",
            );
            range_ui(
                ui,
                "scale",
                &mut a.scale,
                0.5..=1.5,
                false,
                "Scale factor drawn from [min, max]",
            );
            slider(
                ui,
                &mut a.shear[0],
                0.0..=45.0,
                "shear x ±°",
                "Largest shear along x, in degrees",
            );
            slider(
                ui,
                &mut a.shear[1],
                0.0..=45.0,
                "shear y ±°",
                "Largest shear along y, in degrees",
            );
            fill_ui(ui, "affine fill", &mut a.fill, &mut a.fill_value);
        }
        Op::ColorJitter => {
            let j = &mut c.color_jitter;
            slider(
                ui,
                &mut j.brightness,
                0.0..=1.0,
                "brightness ±",
                "Brightness factor drawn from [1 - b, 1 + b]",
            );
            slider(
                ui,
                &mut j.contrast,
                0.0..=1.0,
                "contrast ±",
                "Contrast factor drawn from [1 - c, 1 + c]",
            );
            slider(
                ui,
                &mut j.saturation,
                0.0..=1.0,
                "saturation ±",
                "Saturation factor drawn from [1 - s, 1 + s] (colour images)",
            );
            slider(
                ui,
                &mut j.hue,
                0.0..=0.5,
                "hue ±",
                "Hue shift drawn from [-h, h] turns of the colour circle (colour images)",
            );
        }
        Op::Blur => range_ui(
            ui,
            "blur σ",
            &mut c.blur.sigma,
            0.1..=5.0,
            true,
            "Standard deviation in pixels",
        ),
        Op::Noise => slider(
            ui,
            &mut c.noise.sigma,
            0.0..=0.5,
            "noise σ",
            "Standard deviation as a fraction of the pixel range",
        ),
        Op::Erasing => {
            let e = &mut c.erasing;
            range_ui(
                ui,
                "erase area",
                &mut e.scale,
                0.0..=0.5,
                false,
                "Area of the rectangle as a fraction of the image",
            );
            range_ui(
                ui,
                "erase ratio",
                &mut e.ratio,
                0.1..=10.0,
                true,
                "Aspect ratio (height / width), drawn log-uniformly",
            );
            ui.horizontal(|ui| {
                ui.checkbox(&mut e.random, "random grey levels");
                if !e.random {
                    ui.add(
                        egui::Slider::new(&mut e.value, 0..=255)
                            .clamping(KEEP)
                            .text("erase level"),
                    );
                }
            });
        }
        Op::Mixup => mix_ui(ui, &mut c.mixup, "mixup"),
        Op::Cutmix => mix_ui(ui, &mut c.cutmix, "cutmix"),
    }
}
