//! The Model panel's slow work: native file dialogs, reading weight files, exporting a run's
//! weights and classifying an image, each on its own named thread so the window keeps drawing.

use std::path::PathBuf;

use super::background::{Background, SpawnError};

use crate::experiment::ExperimentConfig;
use crate::experiment::lesson_runs::{self, LessonRun};
use crate::model::weights::{self, WeightsInfo};
use crate::train::backbone::{self, ClassScore};

/// What the Model panel asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelCommand {
    /// Pick a weights file and read what it holds.
    ChooseWeights,
    /// Save the finished run's best weights as a backbone file.
    SaveBackbone(PathBuf),
    /// Pick an image and classify it with the finished run's best weights.
    Predict(PathBuf),
    /// Set up one run of a built-in lesson.
    Lesson(LessonRun),
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelOutcome {
    /// A weights file was chosen and read.
    Weights(PathBuf, Result<WeightsInfo, String>),
    /// An image was classified.
    Predicted(PathBuf, Result<Vec<ClassScore>, String>),
    /// A lesson's configuration is ready.
    Lesson(LessonRun, Result<Box<ExperimentConfig>, String>),
    /// A message for the status line (saved, cancelled, failed).
    Message(String),
}

/// Starts `command` on the `model-files` thread; `files` is where lesson files are written.
pub fn spawn(
    command: ModelCommand,
    files: PathBuf,
    ctx: &egui::Context,
) -> Result<Background<ModelOutcome>, SpawnError> {
    Background::spawn("model-files", ctx, move || run(command, &files))
}

fn run(command: ModelCommand, files: &std::path::Path) -> ModelOutcome {
    match command {
        ModelCommand::Lesson(lesson) => {
            let config = lesson_runs::write_backbone(files)
                .map(|path| Box::new(lesson.config(&path)))
                .map_err(|e| crate::error::chain(&e));
            ModelOutcome::Lesson(lesson, config)
        }
        ModelCommand::ChooseWeights => {
            let Some(path) = rfd::FileDialog::new()
                .set_title("Pretrained weights")
                .add_filter(
                    "Weights (safetensors, PyTorch)",
                    &["safetensors", "pt", "pth"],
                )
                .pick_file()
            else {
                return ModelOutcome::Message("No weights file chosen".to_owned());
            };
            let info = weights::inspect(&path).map_err(|e| e.to_string());
            ModelOutcome::Weights(path, info)
        }
        ModelCommand::SaveBackbone(run_dir) => {
            let name = run_dir
                .file_name()
                .map(|n| format!("{}-backbone.safetensors", n.to_string_lossy()))
                .unwrap_or_else(|| "backbone.safetensors".to_owned());
            let Some(path) = rfd::FileDialog::new()
                .set_title("Save the run's weights as a backbone")
                .set_file_name(&name)
                .save_file()
            else {
                return ModelOutcome::Message("Save cancelled".to_owned());
            };
            ModelOutcome::Message(match backbone::export(&run_dir, &path, false) {
                Ok(done) => format!(
                    "Saved {} (epoch {}, {} parameters) as {}",
                    done.model,
                    done.epoch,
                    done.params,
                    path.display()
                ),
                Err(e) => format!("Cannot save the backbone: {}", crate::error::chain(&e)),
            })
        }
        ModelCommand::Predict(run_dir) => {
            let Some(path) = rfd::FileDialog::new()
                .set_title("Image to classify")
                .add_filter("Images", &["png", "jpg", "jpeg"])
                .pick_file()
            else {
                return ModelOutcome::Message("No image chosen".to_owned());
            };
            let scores = backbone::predict(&run_dir, &path, 5).map_err(|e| crate::error::chain(&e));
            ModelOutcome::Predicted(path, scores)
        }
    }
}
