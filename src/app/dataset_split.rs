//! The Dataset panel's split settings: how the validation set is chosen, which training
//! images are used (subset, label noise) and which classes take part.

use crate::data::{Dataset, TrainSize, Validation};
use crate::experiment::ExperimentConfig;

/// How the validation set is chosen: a held-out fraction, or the source's own test split.
pub(super) fn validation_ui(ui: &mut egui::Ui, config: &mut ExperimentConfig, data: &Dataset) {
    let has_test = data.test.is_some();
    let validation = &mut config.dataset.validation;
    let mut holdout = matches!(validation, Validation::Holdout { .. });
    ui.horizontal(|ui| {
        ui.label("Validation:");
        ui.radio_value(&mut holdout, true, "hold out")
            .on_hover_text(
                "Set aside part of the training images; the model never trains on them.",
            );
        ui.add_enabled(has_test, egui::RadioButton::new(!holdout, "own split"))
            .on_hover_text(
                "Validate on the separate test/val images that come with the dataset \
             (val/ or test/ folder, t10k files, test_batch.bin).",
            )
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

/// Training-subset size and label noise: the two knobs that make overfitting appear.
pub(super) fn subset_ui(ui: &mut egui::Ui, config: &mut ExperimentConfig, data: &Dataset) {
    let size = &mut config.dataset.train_size;
    let available = data.train.len().max(1);
    let text = |s: &TrainSize| match s {
        TrainSize::All => "all".to_owned(),
        TrainSize::Total { .. } => "in total".to_owned(),
        TrainSize::PerClass { .. } => "per class".to_owned(),
    };
    ui.horizontal(|ui| {
        egui::ComboBox::from_label("training images")
            .selected_text(text(size))
            .show_ui(ui, |ui| {
                let per_class = (available / data.num_classes().max(1)).clamp(1, 20);
                for choice in [
                    TrainSize::All,
                    TrainSize::Total {
                        count: available.min(200),
                    },
                    TrainSize::PerClass { count: per_class },
                ] {
                    let selected = std::mem::discriminant(size) == std::mem::discriminant(&choice);
                    if ui.selectable_label(selected, text(&choice)).clicked() && !selected {
                        *size = choice;
                    }
                }
            })
            .response
            .on_hover_text(
                "Train on fewer images to make overfitting appear: the single most effective \
                 knob. Subsets are stratified and drawn with the seed.",
            );
        match size {
            TrainSize::All => {}
            TrainSize::Total { count } | TrainSize::PerClass { count } => {
                ui.add(egui::DragValue::new(count).range(1..=available).speed(1.0));
            }
        }
    });
    let mut percent = config.dataset.label_noise * 100.0;
    ui.add(
        egui::Slider::new(&mut percent, 0.0..=90.0)
            .suffix(" %")
            .text("label noise"),
    )
    .on_hover_text(
        "Replace this share of the training labels with a different class at random (seeded). \
         Validation labels stay clean, so validation shows what memorising wrong labels costs.",
    );
    config.dataset.label_noise = (percent / 100.0).clamp(0.0, 0.9);
    ui.horizontal(|ui| {
        let label = ui.label("split seed");
        ui.add(egui::DragValue::new(&mut config.seed).speed(1))
            .labelled_by(label.id)
            .on_hover_text(
                "The run's seed (also under Hyperparameters): it draws the validation split, the \
                 training subset and the noisy labels. Change it to see another draw.",
            );
    });
}

/// Which classes take part (relabelled 0, 1, … in the order of the dataset's numbering).
pub(super) fn classes_ui(ui: &mut egui::Ui, config: &mut ExperimentConfig, data: &Dataset) {
    let n = data.num_classes();
    let chosen = config
        .dataset
        .classes
        .clone()
        .unwrap_or_else(|| (0..n as u16).collect());
    let title = format!("Classes ({} of {n})", chosen.len());
    egui::CollapsingHeader::new(title)
        .id_salt("dataset_classes")
        .show(ui, |ui| {
            let mut set = vec![false; n];
            for &c in &chosen {
                if let Some(slot) = set.get_mut(usize::from(c)) {
                    *slot = true;
                }
            }
            ui.horizontal(|ui| {
                if ui.small_button("all").clicked() {
                    set.fill(true);
                }
                if ui.small_button("first 2").clicked() {
                    set.fill(false);
                    set.iter_mut().take(2).for_each(|s| *s = true);
                }
            });
            egui::ScrollArea::vertical()
                .id_salt("dataset_class_list")
                .max_height(160.0)
                .show(ui, |ui| {
                    ui.horizontal_wrapped(|ui| {
                        for (c, on) in set.iter_mut().enumerate() {
                            ui.checkbox(on, format!("{c}: {}", data.class_names[c]));
                        }
                    });
                });
            let picked: Vec<u16> = (0..n as u16).filter(|&c| set[usize::from(c)]).collect();
            config.dataset.classes = (picked.len() != n).then_some(picked);
        });
}
