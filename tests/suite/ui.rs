//! The real app in a headless egui harness: Start trains and plots, Stop ends the run.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use std::time::{Duration, Instant};

use crate::common;

use cnn_workbench::app::WorkbenchApp;
use cnn_workbench::app::state::Phase;
use cnn_workbench::experiment::ExperimentConfig;
use cnn_workbench::train::message::RunStatus;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

/// Steps frames (with real time passing, since training runs on its own thread) until `done`.
fn step_until(
    harness: &mut Harness<'_, WorkbenchApp>,
    what: &str,
    done: impl Fn(&WorkbenchApp) -> bool,
) {
    common::wait_until(what, Duration::from_secs(120), || {
        harness.step();
        done(harness.state())
    });
    harness.step();
}

/// The dataset has loaded and the Dataset panel shows its summary: from here on the layout of
/// the settings column stays put, so clicks land where the widgets are.
fn ready(app: &WorkbenchApp) -> bool {
    app.dataset.is_some() && !app.is_loading() && app.dataset_view.class_names().is_some()
}

/// The real app in a headless harness, drawn and polled each frame as eframe would.
fn harness<'a>(app: WorkbenchApp) -> Harness<'a, WorkbenchApp> {
    common::app_harness(app, [1280.0, 2400.0], false)
}

/// The app on the noise dataset, recording into `runs`, with the dataset loaded.
fn noise_harness<'a>(runs: &std::path::Path) -> Harness<'a, WorkbenchApp> {
    let mut app = WorkbenchApp::new(&egui::Context::default(), None, runs.to_owned());
    app.apply(cnn_workbench::app::AppCommand::SelectDataset(
        ExperimentConfig::noise().dataset.source,
    ));
    let mut harness = harness(app);
    step_until(&mut harness, "the dataset to load", ready);
    harness
}

fn progress_label(harness: &Harness<'_, WorkbenchApp>) -> String {
    harness
        .query_by_label_contains("Epoch ")
        .or_else(|| harness.query_by_label_contains("Ready"))
        .and_then(|node| node.value())
        .unwrap_or_default()
}

#[test]
fn start_plots_epochs_and_stop_ends_the_run() {
    let runs = tempfile::tempdir().unwrap();
    let mut app = WorkbenchApp::new(&egui::Context::default(), None, runs.path().to_owned());
    app.apply(cnn_workbench::app::AppCommand::SelectDataset(
        ExperimentConfig::noise().dataset.source,
    ));
    let mut harness = harness(app);

    step_until(&mut harness, "the dataset to load", ready);
    assert_eq!(
        harness.state().config.train.batch_size,
        10,
        "noise defaults apply"
    );
    assert!(
        harness.query_by_label_contains("Training on 100").is_some(),
        "split summary shown"
    );
    let before = progress_label(&harness);
    assert!(before.contains("Ready"), "{before}");

    harness.get_by_label("Start").click();
    harness.step();
    step_until(&mut harness, "two epochs on the plot", |app| {
        app.run.epochs.len() >= 2
    });
    let app = harness.state();
    assert!(
        app.run.steps.len() >= 20,
        "per-step losses reach the plot data"
    );
    assert!(
        app.run
            .epochs
            .iter()
            .all(|m| m.train_loss.is_finite() && m.val_loss.is_finite())
    );
    let during = progress_label(&harness);
    assert!(
        during.starts_with("Epoch "),
        "progress label changes: {during}"
    );
    assert_ne!(during, before);

    harness.get_by_label("Stop").click();
    harness.step();
    step_until(&mut harness, "the run to end", |app| !app.run.is_active());
    assert_eq!(harness.state().run.phase, Phase::Ended(RunStatus::Stopped));
    let recorded = harness
        .state()
        .run
        .info
        .as_ref()
        .and_then(|i| i.run_dir.clone())
        .unwrap();
    let json = std::fs::read_to_string(recorded.join("run.json")).unwrap();
    assert!(json.contains("\"stopped\""), "{json}");
    assert!(recorded.starts_with(runs.path()));
}

#[test]
fn closing_the_window_mid_epoch_stops_and_joins_the_worker() {
    let runs = tempfile::tempdir().unwrap();
    let mut app = WorkbenchApp::new(&egui::Context::default(), None, runs.path().to_owned());
    app.config.train.epochs = 100;
    let mut harness = harness(app);
    step_until(&mut harness, "the dataset to load", ready);
    harness.get_by_label("Start").click();
    step_until(&mut harness, "training to be under way", |app| {
        app.run.position.1 >= 5
    });
    let mut app = harness.into_state();
    let dir = app
        .run
        .info
        .as_ref()
        .and_then(|i| i.run_dir.clone())
        .unwrap();
    let closing = Instant::now();
    // What eframe calls when the window closes.
    eframe::App::on_exit(&mut app);
    assert!(
        closing.elapsed() < Duration::from_secs(1),
        "took {:?}",
        closing.elapsed()
    );
    let json = std::fs::read_to_string(dir.join("run.json")).unwrap();
    assert!(
        json.contains("\"stopped\""),
        "the run is recorded as stopped: {json}"
    );
}

#[test]
fn plus_n_epochs_continues_a_finished_run_in_the_same_plot() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = noise_harness(runs.path());
    harness.state_mut().config.train.epochs = 3;
    harness.get_by_label("Start").click();
    step_until(&mut harness, "the run to end", |app| {
        matches!(app.run.phase, Phase::Ended(_))
    });
    assert_eq!(harness.state().run.epochs.len(), 3);
    let evaluation = harness
        .state()
        .run
        .evaluation
        .clone()
        .expect("evaluated after each epoch");
    let total: u32 = evaluation.confusion.iter().flatten().sum();
    assert_eq!(
        total, 100,
        "every validation image is in the confusion matrix"
    );
    assert!(
        harness.query_by_label_contains("Top losses").is_some(),
        "the gallery is shown"
    );
    assert!(
        harness
            .query_by_label_contains("Validation, epoch")
            .is_some()
    );
    harness.state_mut().extend_by = 4;
    harness.step();
    harness.get_by_label("+4 epochs").click();
    harness.step();
    step_until(&mut harness, "the continued run to end", |app| {
        matches!(app.run.phase, Phase::Ended(_)) && app.run.epochs.len() == 7
    });
    let app = harness.state();
    assert_eq!(app.run.phase, Phase::Ended(RunStatus::Completed));
    let epochs: Vec<usize> = app.run.epochs.iter().map(|m| m.epoch).collect();
    assert_eq!(epochs, (1..=7).collect::<Vec<_>>(), "one run, one plot");
    assert!(
        app.run.lrs.len() >= 70,
        "the learning rate of every step is plotted"
    );
}

#[test]
fn the_learning_rate_finder_suggests_a_rate_the_user_can_apply() {
    let runs = tempfile::tempdir().unwrap();
    let app = WorkbenchApp::new(&egui::Context::default(), None, runs.path().to_owned());
    let mut harness = harness(app);
    step_until(&mut harness, "the dataset to load", ready);
    harness.get_by_label("Find learning rate").click();
    harness.step();
    step_until(&mut harness, "the finder's answer", |app| {
        app.lr_finding.is_some()
    });
    let suggestion = harness
        .state()
        .lr_finding
        .as_ref()
        .unwrap()
        .suggestion
        .unwrap();
    assert!(
        (1e-5..1e-1).contains(&suggestion),
        "Adam on Fashion-MNIST: {suggestion}"
    );
    harness
        .get_by_label(&format!("Use {suggestion:.1e}"))
        .click();
    harness.step();
    assert_eq!(harness.state().config.train.lr, suggestion);
    assert!(harness.state().lr_finding.is_none(), "the window closes");
}

#[test]
fn scripted_epochs_show_the_best_epoch_and_the_overfitting_onset() {
    use cnn_workbench::train::message::{EpochMetrics, Event, RunInfo};
    let runs = tempfile::tempdir().unwrap();
    let mut app = WorkbenchApp::new(&egui::Context::default(), None, runs.path().to_owned());
    app.run = cnn_workbench::app::state::RunView::starting();
    app.run.apply(Event::Started(RunInfo {
        epochs: 8,
        steps_per_epoch: 10,
        train_samples: 100,
        val_samples: 100,
        num_params: 31_530,
        device: "CPU (flex)".into(),
        run_dir: None,
        class_names: Vec::new(),
        compiling: false,
    }));
    let train = [2.0, 1.6, 1.2, 0.9, 0.7, 0.5, 0.35, 0.2];
    let val = [2.1, 1.8, 1.5, 1.45, 1.5, 1.6, 1.7, 1.9];
    for (i, (&train_loss, &val_loss)) in train.iter().zip(&val).enumerate() {
        app.run.apply(Event::Epoch(EpochMetrics {
            epoch: i + 1,
            train_loss,
            val_loss,
            train_acc: 0.5,
            val_acc: 0.4,
            lr: 1e-3,
            train_secs: 0.1,
            val_secs: 0.01,
        }));
    }
    app.plot_options.onset_k = 3;
    let mut harness = harness(app);
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label_contains("best validation loss 1.4500 at epoch 4")
            .is_some(),
        "best-epoch label"
    );
    assert!(
        harness
            .query_by_label_contains("overfitting from epoch 4")
            .is_some(),
        "onset label"
    );
    harness.state_mut().plot_options.onset_k = 5;
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label_contains("overfitting from epoch")
            .is_none(),
        "no 5 rising epochs, no onset"
    );
}

#[test]
fn the_evaluation_panel_shows_beside_the_plots() {
    let runs = tempfile::tempdir().unwrap();
    let app = WorkbenchApp::new(&egui::Context::default(), None, runs.path().to_owned());
    let mut harness = harness(app);
    harness.run_steps(3);
    let heading = harness.get_by_label("Evaluation");
    let rect = heading.rect();
    assert!(rect.min.x > 900.0, "on the right: {rect:?}");
}

#[test]
fn finished_runs_are_listed_duplicated_and_diffed() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = noise_harness(runs.path());
    harness.state_mut().config.train.epochs = 2;
    harness.get_by_label("Start").click();
    step_until(&mut harness, "the run to be listed", |app| {
        !app.run.is_active() && app.runs.len() == 1
    });
    let run = harness.state().runs[0].clone();
    assert_eq!(
        run.history.len(),
        2,
        "the table reads the run back from disk"
    );
    harness.run_steps(2);
    let button = harness.get_by_label("duplicate");
    button.click();
    harness.run_steps(2);
    assert_eq!(
        harness.state().runs_view.base.as_ref(),
        Some(&run.dir),
        "duplicated"
    );
    harness.state_mut().config.train.lr = 0.01;
    harness.run_steps(2);
    assert!(
        harness.query_by_label_contains("Changes from").is_some(),
        "the duplicated run's differences are shown"
    );
    assert!(harness.query_by_label_contains("train.lr: 0.001").is_some());
}

#[test]
fn picking_a_lesson_loads_its_settings_and_shows_its_explanation() {
    let runs = tempfile::tempdir().unwrap();
    let app = WorkbenchApp::new(&egui::Context::default(), None, runs.path().to_owned());
    let mut harness = harness(app);
    harness.run_steps(2);
    harness.get_by_label("Lesson").click();
    harness.run_steps(2);
    harness
        .get_by_label("6. Learning rate too high, too low")
        .click();
    harness.run_steps(3);
    assert!(
        harness
            .query_by_label_contains("Lesson 6: Learning rate too high, too low")
            .is_some(),
        "the lesson card is shown"
    );
    assert!(harness.query_by_label_contains("Look for:").is_some());
    let config = &harness.state().config;
    assert_eq!(config.train.lr, 1.0);
    assert!(matches!(
        config.train.optimizer,
        cnn_workbench::experiment::OptimizerConfig::Sgd { .. }
    ));

    // Presenter mode: the plot takes the width, the Evaluation panel and the settings go.
    assert!(harness.query_by_label("Evaluation").is_some());
    harness.get_by_label("Presenter").click();
    harness.run_steps(3);
    assert!(harness.state().presenter);
    assert!(harness.query_by_label("Evaluation").is_none());
    assert!(harness.query_by_label("Hyperparameters").is_none());
    assert!(harness.state().plot_options.line_scale > 1.0);
}

#[test]
fn moving_an_augmentation_slider_redraws_the_grid_in_the_same_frame() {
    let runs = tempfile::tempdir().unwrap();
    let mut app = WorkbenchApp::new(&egui::Context::default(), None, runs.path().to_owned());
    app.config.augment = cnn_workbench::augment::Preset::Seed2.config();
    let mut harness = harness(app);
    step_until(&mut harness, "the dataset to load", ready);
    harness.get_by_label("Preview and edit…").click();
    harness.run_steps(2);
    let before = harness
        .state()
        .augment_view
        .grid()
        .cloned()
        .expect("the preview grid is shown");
    assert_eq!((before.rows(), before.columns()), (4, 8));
    let degrees = harness.state().config.augment.affine.degrees;

    let rail = harness
        .get_by_role_and_label(egui::accesskit::Role::Slider, "rotation ±°")
        .rect();
    let (from, to) = (
        rail.left_center() + egui::vec2(2.0, 0.0),
        rail.right_center() - egui::vec2(2.0, 0.0),
    );
    harness.hover_at(from);
    harness.drag_at(from);
    harness.step();
    harness.hover_at(to);
    harness.step();
    {
        // Mid-drag, after one frame: the grid already shows the new setting.
        let app = harness.state();
        let shown = app.augment_view.grid().unwrap();
        assert!(app.config.augment.affine.degrees > degrees + 90.0);
        assert_eq!(shown.request.config, app.config.augment);
    }
    harness.drop_at(to);
    harness.step();

    let app = harness.state();
    let after = app.augment_view.grid().unwrap();
    assert_eq!(
        after.request.config.affine.degrees,
        app.config.augment.affine.degrees
    );
    assert_eq!(after.originals, before.originals, "the same samples");
    assert_ne!(after.cells, before.cells, "the augmented images change");
    assert!(
        harness.query_by_label_contains("cut off").is_some(),
        "a big rotation warns about corners"
    );
}

#[test]
fn solo_shows_one_operation_and_the_last_training_batch_is_shown() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = noise_harness(runs.path());
    {
        let app = harness.state_mut();
        app.config.train.epochs = 1;
        app.config.augment = cnn_workbench::augment::Preset::Strong.config();
        app.augment_view.open = true;
    }
    harness.run_steps(2);
    assert_eq!(
        harness.state().config.augment,
        cnn_workbench::augment::Preset::Strong.config(),
        "showing the settings changes none of them"
    );
    harness
        .get_all_by_label("solo")
        .nth(4)
        .expect("a solo toggle per operation")
        .click();
    harness.run_steps(2);
    let grid = harness.state().augment_view.grid().unwrap().clone();
    let solo = cnn_workbench::augment::Op::Affine;
    assert_eq!(harness.state().augment_view.solo, Some(solo));
    assert!(
        grid.cells
            .iter()
            .all(|c| c.applied.len() == 1 && c.applied[0].op() == solo),
        "only the affine operation, on every draw"
    );

    harness.get_by_label("Start").click();
    step_until(&mut harness, "the run to end", |app| {
        matches!(app.run.phase, Phase::Ended(_))
    });
    assert!(harness.state().run.last_batch.is_some());
    harness.get_by_label("Show the last training batch").click();
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label_contains("Epoch 1: 10 images of its last batch")
            .is_some()
    );
    assert!(harness.query_by_label_contains("Training waited").is_some());
}

#[test]
fn one_click_runs_the_a_b_pair_and_overlays_the_plain_run() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = noise_harness(runs.path());
    {
        let app = harness.state_mut();
        app.config.train.epochs = 2;
        app.config.augment = cnn_workbench::augment::Preset::Seed2.config();
        app.augment_view.open = true;
    }
    harness.run_steps(2);
    harness.get_by_label("A/B run vs none").click();
    harness.step();
    // Both runs listed with both epochs read back (under load the list can show a finished
    // run a few frames before its metrics).
    step_until(&mut harness, "both runs to be listed", |app| {
        !app.run.is_active() && app.runs.len() == 2 && app.runs.iter().all(|r| r.history.len() == 2)
    });
    let app = harness.state();
    assert_eq!(app.run.phase, Phase::Ended(RunStatus::Completed));
    let plain = app
        .runs
        .iter()
        .find(|r| r.config.augment.is_identity())
        .expect("a run without augmentation");
    let augmented = app
        .runs
        .iter()
        .find(|r| r.config.augment == app.config.augment)
        .expect("a run with the chosen augmentation");
    assert_eq!(plain.history.len(), 2);
    assert_eq!(augmented.history.len(), 2);
    assert_eq!(
        app.runs_view.overlaid,
        vec![plain.dir.clone()],
        "the plain run stays on the plot beside the augmented one"
    );
    assert_eq!(
        app.run.info.as_ref().and_then(|i| i.run_dir.as_ref()),
        Some(&augmented.dir),
        "the augmented run is the current one"
    );
}

/// Writes `per_class` small PNG images of two classes (one dark, one light) and one corrupt
/// file under `root`.
fn two_class_folder(root: &std::path::Path, per_class: usize) {
    for (class, level) in [("dark", 40u8), ("light", 210u8)] {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for k in 0..per_class {
            let image = image::RgbImage::from_fn(16, 16, |x, y| {
                let v = level.wrapping_add(((x + y + k as u32) % 7) as u8);
                image::Rgb([v, v / 2, 255 - v])
            });
            image.save(dir.join(format!("{k}.png"))).unwrap();
        }
    }
    std::fs::write(root.join("dark/broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
}

#[test]
fn a_folder_typed_into_the_path_field_loads_and_the_summary_follows() {
    let runs = tempfile::tempdir().unwrap();
    let photos = tempfile::tempdir().unwrap();
    two_class_folder(photos.path(), 6);
    let app = WorkbenchApp::new(&egui::Context::default(), None, runs.path().to_owned());
    let mut harness = harness(app);
    step_until(&mut harness, "the built-in dataset to load", ready);
    assert!(harness.query_by_label_contains("7000 images").is_some());

    let type_path = |harness: &mut Harness<'_, WorkbenchApp>, path: &str| {
        harness.state_mut().dataset_view.path_text.clear();
        harness
            .get_by_role_and_label(egui::accesskit::Role::TextInput, "Path")
            .focus();
        harness.run_steps(1);
        harness
            .get_by_role_and_label(egui::accesskit::Role::TextInput, "Path")
            .type_text(path);
        harness.run_steps(1);
        harness
            .get_by_role_and_label(egui::accesskit::Role::Button, "Load")
            .click();
        harness.run_steps(1);
    };
    type_path(&mut harness, &photos.path().display().to_string());
    step_until(&mut harness, "the folder to load", |app| {
        app.dataset
            .as_ref()
            .is_some_and(|d| d.source.short_name() == "folder")
    });
    step_until(&mut harness, "the split summary", |app| {
        app.dataset_view.class_names().is_some()
    });
    assert_eq!(harness.state().config.dataset.source.short_name(), "folder");
    assert!(
        harness
            .query_by_label_contains("12 images · 16×16 RGB · 2 classes")
            .is_some(),
        "the summary shows the folder"
    );
    assert!(harness.query_by_label_contains("1 file skipped").is_some());
    assert_eq!(
        harness.state().dataset_view.class_names().unwrap(),
        ["dark", "light"]
    );
    assert_eq!(harness.state().dataset_view.recent.len(), 1, "remembered");
    assert!(harness.query_by_label_contains("Held in memory").is_some());

    // Kept on disk instead: the folder is indexed again and the panel says so.
    harness.get_by_label("Images").click();
    harness.run_steps(2);
    harness.get_by_label("on disk").click();
    harness.run_steps(2);
    harness.get_by_label("Apply (reload)").click();
    step_until(&mut harness, "the folder to be indexed on disk", |app| {
        app.dataset.as_ref().is_some_and(|d| d.on_disk())
            && app.dataset_view.class_names().is_some()
    });
    assert!(
        harness
            .query_by_label_contains("On disk, indexed in")
            .is_some()
    );
    assert!(
        harness
            .query_by_label_contains("12 images · 16×16 RGB")
            .is_some()
    );

    // A path that does not exist: a message naming it, and the folder stays loaded.
    type_path(&mut harness, "/no/such/folder-xyz");
    harness.run_steps(2);
    let message = harness.state().dataset_view.load_error.clone().unwrap();
    assert!(message.contains("folder-xyz"), "{message}");
    assert_eq!(
        harness
            .state()
            .dataset
            .as_ref()
            .unwrap()
            .source
            .short_name(),
        "folder"
    );
}

/// A file or folder dropped onto the window, as the windowing layer hands it to egui.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn a_folder_dropped_onto_the_window_loads_as_the_dataset() {
    let runs = tempfile::tempdir().unwrap();
    let photos = tempfile::tempdir().unwrap();
    two_class_folder(photos.path(), 4);
    let app = WorkbenchApp::new(&egui::Context::default(), None, runs.path().to_owned());
    let mut harness = harness(app);
    step_until(&mut harness, "the built-in dataset to load", ready);
    harness
        .input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(photos.path().to_owned())));
    harness.step();
    step_until(&mut harness, "the dropped folder to load", |app| {
        app.dataset
            .as_ref()
            .is_some_and(|d| d.source.short_name() == "folder" && d.train.len() == 8)
    });
    assert_eq!(
        harness.state().dataset_view.path_text,
        photos.path().display().to_string(),
        "the path field shows what was dropped"
    );
}

#[test]
fn closing_the_window_while_finding_a_rate_or_loading_returns_at_once() {
    // The bound is generous because other tests share the cores, yet far below the whole
    // ResNet-18 sweep (about a minute) or the whole load (tens of seconds): closing stops them.
    let soon = Duration::from_secs(5);
    let runs = tempfile::tempdir().unwrap();
    let mut app = WorkbenchApp::new(&egui::Context::default(), None, runs.path().to_owned());
    app.config.model = cnn_workbench::model::ModelConfig::ResNet18(
        cnn_workbench::model::ResNet18Config::default(),
    );
    let mut harness = harness(app);
    step_until(&mut harness, "the dataset to load", ready);
    harness.get_by_label("Find learning rate").click();
    harness.step();
    assert!(
        harness.state().finding_lr,
        "the finder is running ({:?}, {:?})",
        harness.state().error,
        harness.state().lr_finding.as_ref().map(|f| f.points.len())
    );
    let mut app = harness.into_state();
    let closing = Instant::now();
    eframe::App::on_exit(&mut app);
    assert!(
        closing.elapsed() < soon,
        "LR finder: {:?}",
        closing.elapsed()
    );

    // A large synthetic dataset still being drawn when the window closes.
    let mut app = WorkbenchApp::new(&egui::Context::default(), None, runs.path().to_owned());
    app.apply(cnn_workbench::app::AppCommand::SelectDataset(
        cnn_workbench::data::DatasetSource::Shapes(cnn_workbench::data::ShapesConfig {
            train_samples: 200_000,
            size: 64,
            ..Default::default()
        }),
    ));
    assert!(app.is_loading());
    let closing = Instant::now();
    eframe::App::on_exit(&mut app);
    assert!(closing.elapsed() < soon, "loading: {:?}", closing.elapsed());
}

/// The window at `width`×`height` (on the wgpu renderer with `wgpu`) with the built-in data
/// loaded and one scripted, finished epoch with a ten-class evaluation on show: everything a
/// panel draws is there, and nothing depends on time or on a random folder name.
fn scripted_window<'a>(width: f32, height: f32, wgpu: bool) -> Harness<'a, WorkbenchApp> {
    use cnn_workbench::data::Part;
    use cnn_workbench::experiment::evaluation::{Evaluation, Prediction};
    use cnn_workbench::train::message::{EpochMetrics, Event, RunInfo};
    let runs = std::env::temp_dir().join("cnn-workbench-scripted-window");
    let app = WorkbenchApp::new(&egui::Context::default(), None, runs);
    let mut harness = common::app_harness(app, [width, height], wgpu);
    step_until(&mut harness, "the dataset to load", ready);
    let names: Vec<String> = harness
        .state()
        .dataset
        .as_ref()
        .unwrap()
        .class_names
        .clone();
    let predictions: Vec<Prediction> = (0..500u32)
        .map(|i| Prediction {
            part: Part::Test,
            index: i,
            truth: (i % 10) as u16,
            // Four in five right, the rest spread over the other classes.
            predicted: if (i / 10) % 5 == 0 {
                ((i % 10 + 1 + (i / 10) % 9) % 10) as u16
            } else {
                (i % 10) as u16
            },
            confidence: 0.6,
            loss: 1.0 + (i % 13) as f32 / 10.0,
        })
        .collect();
    {
        let app = harness.state_mut();
        app.run = cnn_workbench::app::state::RunView::starting();
        app.run.apply(Event::Started(RunInfo {
            epochs: 10,
            steps_per_epoch: 94,
            train_samples: 6000,
            val_samples: 1000,
            num_params: 31_530,
            device: "CPU (flex)".into(),
            run_dir: None,
            class_names: names,
            compiling: false,
        }));
        app.run.apply(Event::Epoch(EpochMetrics {
            epoch: 1,
            train_loss: 0.9,
            val_loss: 0.8,
            train_acc: 0.7,
            val_acc: 0.72,
            lr: 1e-3,
            train_secs: 1.0,
            val_secs: 0.1,
        }));
        app.run
            .apply(Event::Evaluated(Box::new(Evaluation::from_predictions(
                1,
                10,
                &predictions,
            ))));
        app.run.apply(Event::Finished {
            status: RunStatus::Stopped,
            message: "Run stopped".into(),
            restored: None,
        });
    }
    // Thumbnails upload a few per frame; animations settle.
    harness.run_steps(12);
    harness
}

/// The window at the sizes people use — a 1280×800 laptop and a 1920×1080 monitor — with a
/// finished epoch on show: the run bar, the settings column's first panel, the plots and the
/// whole ten-class confusion matrix lie inside the window, nothing cut off at the right edge.
#[test]
fn every_panel_fits_the_window_at_1280x800_and_1920x1080() {
    for [width, height] in [[1280.0f32, 800.0], [1920.0, 1080.0]] {
        let harness = scripted_window(width, height, false);
        let window = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(width, height));
        for label in [
            "Start",
            "Lessons",
            "Evaluation",
            "Loss",
            "Accuracy",
            "Confusion matrix",
        ] {
            let node = harness
                .get_all_by_label(label)
                .next()
                .unwrap_or_else(|| panic!("{label} is shown at {width}×{height}"));
            let rect = node.rect();
            assert!(
                window.contains_rect(rect),
                "{label} at {width}×{height} lies outside the window: {rect:?}"
            );
        }
        let matrix = harness.get_by_label("Confusion matrix").rect();
        let heading = harness.get_by_label("Evaluation").rect();
        assert!(
            matrix.min.x >= heading.min.x - 1.0 && matrix.width() >= 200.0,
            "the matrix fills the Evaluation column at {width}×{height}: {matrix:?}"
        );
    }
}

/// The same window rendered (wgpu; Mesa's lavapipe where there is no GPU) and compared with
/// `tests/snapshots/window-*.png`: a change to any panel's look shows up as a failed test with
/// a diff image beside the snapshot (`UPDATE_SNAPSHOTS=1` accepts the new look). Skipped, with
/// the reason, where no Vulkan driver exists.
#[test]
fn the_window_looks_as_recorded_at_1280x800_and_1920x1080() {
    if let Err(why) = cnn_workbench::train::gpu::device() {
        println!("skipped: {why}");
        return;
    }
    let mut results = egui_kittest::SnapshotResults::new();
    for (width, height) in [(1280.0f32, 800.0f32), (1920.0, 1080.0)] {
        let mut harness = scripted_window(width, height, true);
        results.add(harness.try_snapshot(format!("window-{width}x{height}")));
    }
    results.unwrap();
}

#[test]
fn choosing_a_random_crop_reloads_the_data_and_the_preview_shows_windows() {
    let runs = tempfile::tempdir().unwrap();
    let app = WorkbenchApp::new(&egui::Context::default(), None, runs.path().to_owned());
    let mut harness = harness(app);
    step_until(&mut harness, "the dataset to load", ready);
    harness.get_by_label("Preview and edit…").click();
    harness.run_steps(2);
    harness.get_by_label("Crops and tiles").click();
    harness.run_steps(2);
    harness.get_by_label("Training input").click();
    harness.run_steps(2);
    harness.get_by_label("random crop").click();
    step_until(&mut harness, "the data to reload at its own size", |app| {
        ready(app)
            && app
                .augment_view
                .grid()
                .is_some_and(|g| g.shape.height == 14)
    });
    let app = harness.state();
    let crop = app.config.crop;
    assert_eq!(crop.train, cnn_workbench::augment::crop::TrainCrop::Random);
    assert_eq!(
        crop.input_size,
        Some(14),
        "half the 28 px images to start with"
    );
    assert!(app.config.storage().native, "stored at its own resolution");
    assert!(
        harness
            .query_by_label_contains("stored 28×28, input 14×14")
            .is_some()
    );
}

/// With a Ray cluster (`CNN_WORKBENCH_RAY`, started by `.ci/run`): Run on → a Ray cluster, Start;
/// the job's epochs plot like a local run's and its folder fills under the runs folder.
#[test]
fn a_run_started_in_the_window_on_a_ray_cluster_plots_its_epochs() {
    let Ok(address) = std::env::var("CNN_WORKBENCH_RAY") else {
        eprintln!("skipped: no Ray cluster (CNN_WORKBENCH_RAY is not set)");
        return;
    };
    let runs = tempfile::tempdir().unwrap();
    let mut harness = noise_harness(runs.path());
    harness.state_mut().config.train.epochs = 4;
    harness.get_by_label("Run on").click();
    harness.run_steps(2);
    harness.get_by_label("a Ray cluster").click();
    harness.run_steps(2);
    let target = &mut harness.state_mut().target;
    assert!(target.on_cluster);
    target.address = address;
    // The program to send: the command-line build (this test's own binary is not it).
    target.program = Some(env!("CARGO_BIN_EXE_cnn-workbench").into());
    harness.get_by_label("Test").click();
    common::wait_until("Ray's version", Duration::from_secs(30), || {
        harness.step();
        harness.query_by_label_contains("Ray 2").is_some()
    });
    harness.get_by_label("Start").click();
    step_until(&mut harness, "the cluster run to end", |app| {
        matches!(app.run.phase, Phase::Ended(_))
    });
    let app = harness.state();
    assert_eq!(
        app.run.phase,
        Phase::Ended(RunStatus::Completed),
        "{:?}",
        app.run.message
    );
    assert!(app.run.remote);
    assert_eq!(app.run.epochs.len(), 4, "every epoch reached the plot");
    let info = app.run.info.as_ref().unwrap();
    assert!(info.device.contains("Ray cluster"), "{}", info.device);
    let dir = info.run_dir.clone().unwrap();
    assert!(dir.starts_with(runs.path()));
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 5, "{metrics}");
    assert!(
        dir.join("report.png").is_file(),
        "the job's files came back"
    );
}

/// A sweep saved in the runs folder: its runs join the Runs table, and its view plots them.
#[test]
fn a_sweep_in_the_runs_folder_lists_its_runs_and_opens_its_view() {
    let runs = tempfile::tempdir().unwrap();
    let base = tempfile::tempdir().unwrap();
    common::train_noise(base.path(), &["--epochs", "2"]);
    common::succeed(
        common::workbench()
            .args(["sweep", "--config"])
            .arg(base.path().join("config.toml"))
            .args([
                "--grid",
                "train.lr=0.001,0.01",
                "--local",
                "2",
                "--quiet",
                "--out",
            ])
            .arg(runs.path().join("lr-sweep")),
    );
    let mut harness = noise_harness(runs.path());
    step_until(&mut harness, "the sweep's runs in the table", |app| {
        app.runs.len() == 2
    });
    harness.get_by_label("view").click();
    harness.run_steps(3);
    assert!(harness.query_by_label_contains("Sweep lr-sweep").is_some());
    assert!(
        harness
            .query_by_label_contains("2 runs over train.lr")
            .is_some()
    );
    let (dir, table) = harness.state().sweep_view.open.as_ref().unwrap();
    assert!(dir.ends_with("lr-sweep"));
    let table = table.as_ref().unwrap();
    assert_eq!(table.rows.len(), 2);
    assert!(table.rows.iter().all(|r| r.best_val_loss.is_some()));
}

/// A run written by another program (a terminal, a sweep) joins the Runs table on its own.
#[test]
fn runs_written_by_another_program_join_the_table_within_seconds() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = noise_harness(runs.path());
    assert!(harness.state().runs.is_empty());
    common::train_noise(&runs.path().join("from-a-terminal"), &["--epochs", "1"]);
    let started = Instant::now();
    step_until(&mut harness, "the new run in the table", |app| {
        app.runs.len() == 1
    });
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// A GAN small enough to train a few epochs in seconds: tiny networks, batches of 16, scored
/// every epoch on a few generated images per class.
fn tiny_gan_settings(app: &mut WorkbenchApp, epochs: usize) {
    let s = &mut app.gan.settings;
    s.epochs = epochs;
    s.batch_size = 16;
    s.arch.z_dim = 16;
    s.arch.width = 16;
    s.tstr_every = 1;
    s.tstr_per_class = 6;
    s.tstr_epochs = 1;
}

/// `gan train` on the noise data (as the window loads it), recorded in `out`, with `extra`
/// options.
fn gan_from_the_command_line(out: &std::path::Path, extra: &[&str]) {
    common::succeed(
        common::workbench()
            .args([
                "gan",
                "train",
                "--dataset",
                "noise",
                "--epochs",
                "1",
                "--batch-size",
                "16",
                "--z-dim",
                "16",
                "--width",
                "16",
                "--tstr-every",
                "0",
                "--quiet",
            ])
            .args(extra)
            .arg("--out")
            .arg(out),
    );
}

#[test]
fn the_generator_window_trains_a_gan_and_shows_its_grid_scores_and_folder() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = noise_harness(runs.path());
    tiny_gan_settings(harness.state_mut(), 2);
    harness.get_by_label("Open Generator").click();
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label_contains("No GAN runs in the runs folder yet")
            .is_some()
    );
    harness.get_by_label("Start GAN").click_accesskit();
    harness.step();
    assert!(harness.state().gan.is_active());
    step_until(&mut harness, "the GAN run to end", |app| {
        matches!(app.gan.phase, Phase::Ended(_))
    });
    let app = harness.state();
    assert_eq!(
        app.gan.phase,
        Phase::Ended(RunStatus::Completed),
        "{:?}",
        app.gan.message
    );
    assert_eq!(app.gan.epochs.len(), 2);
    assert!(
        app.gan.epochs.iter().all(|m| m.tstr_acc.is_some()),
        "scored every epoch"
    );
    assert!(
        app.gan.d_steps.len() >= 2 && app.gan.g_steps.len() == app.gan.d_steps.len(),
        "per-step losses reach the plot data"
    );
    let grid = app.gan.grid.as_ref().expect("a grid after each epoch");
    assert_eq!((grid.rows, grid.cols), (10, 8), "one row per class");
    assert_eq!(
        app.gan.shown_epoch(),
        Some(2),
        "the last epoch's grid is on screen"
    );
    let (epoch, acc) = app.gan.best_tstr().unwrap();
    let dir = app.gan.run_dir().unwrap().to_owned();
    assert!(
        harness
            .query_by_label_contains("Generated, epoch 2")
            .is_some()
    );
    assert!(
        harness
            .query_by_label_contains("of 80 look memorised; median distance ratio")
            .is_some(),
        "the memorisation summary"
    );
    assert!(
        harness
            .query_by_label_contains(&format!("best {:.1} % at epoch {epoch}", acc * 100.0))
            .is_some(),
        "the best train-on-synthetic score"
    );
    assert!(dir.starts_with(runs.path()), "{}", dir.display());
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 3, "{metrics}");
    assert!(dir.join("samples-e2.png").is_file());

    // The nearest training images beside the grid.
    harness
        .get_by_label("Show nearest training images")
        .click_accesskit();
    harness.run_steps(2);
    assert!(harness.query_by_label("Nearest training image").is_some());

    // The run joins the table; "+1 GAN epochs" continues it in the same folder and plots.
    step_until(&mut harness, "the run in the table", |app| {
        app.gan_runs
            .iter()
            .any(|(d, s)| *d == dir && s.status == RunStatus::Completed)
    });
    harness.state_mut().gan.extend_by = 1;
    harness.run_steps(2);
    harness.get_by_label("+1 GAN epochs").click_accesskit();
    harness.step();
    step_until(&mut harness, "the continued GAN run to end", |app| {
        matches!(app.gan.phase, Phase::Ended(_)) && app.gan.epochs.len() == 3
    });
    let app = harness.state();
    assert_eq!(app.gan.phase, Phase::Ended(RunStatus::Completed));
    assert_eq!(app.gan.run_dir(), Some(dir.as_path()));
    assert_eq!(app.gan.shown_epoch(), Some(3));
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 4, "{metrics}");
}

#[test]
fn a_classifier_run_is_refused_while_a_gan_trains_and_the_reverse() {
    use cnn_workbench::app::AppCommand;
    use cnn_workbench::app::generator_panel::GanCommand;
    use egui_kittest::kittest::NodeT;
    let runs = tempfile::tempdir().unwrap();
    let mut harness = noise_harness(runs.path());
    tiny_gan_settings(harness.state_mut(), 1000);
    harness.state_mut().gan.open = true;
    harness.run_steps(2);
    harness.get_by_label("Start GAN").click_accesskit();
    step_until(&mut harness, "the GAN to train", |app| {
        !app.gan.d_steps.is_empty()
    });
    harness.get_by_label("Start").click();
    harness.run_steps(2);
    {
        let app = harness.state();
        assert_eq!(app.run.phase, Phase::Idle, "no classifier run started");
        assert!(app.gan.is_active(), "the GAN trains on");
        let error = app.error.clone().unwrap_or_default();
        assert!(error.contains("A GAN is training"), "{error}");
    }
    assert!(
        harness
            .query_by_label_contains("A GAN is training in the Generator window")
            .is_some(),
        "the status bar says why"
    );
    harness.get_by_label("Stop GAN").click_accesskit();
    step_until(&mut harness, "the GAN to stop", |app| !app.gan.is_active());
    assert_eq!(harness.state().gan.phase, Phase::Ended(RunStatus::Stopped));

    // The reverse: while a classifier trains, no GAN starts.
    harness.state_mut().config.train.epochs = 100;
    harness.get_by_label("Start").click();
    step_until(&mut harness, "the classifier to train", |app| {
        app.run.position.1 >= 1
    });
    assert!(
        harness
            .get_by_label("Start GAN")
            .accesskit_node()
            .is_disabled()
    );
    harness
        .state_mut()
        .apply(AppCommand::Gan(GanCommand::Start));
    harness.run_steps(2);
    {
        let app = harness.state();
        assert_eq!(
            app.gan.phase,
            Phase::Ended(RunStatus::Stopped),
            "no GAN started"
        );
        let message = app.gan.message.clone().unwrap_or_default();
        assert!(message.contains("classifier run"), "{message}");
    }
    harness.get_by_label("Stop").click();
    step_until(&mut harness, "the classifier to stop", |app| {
        !app.run.is_active()
    });
}

#[test]
fn use_in_training_mixes_a_gan_runs_images_and_the_dataset_panel_shows_them() {
    let runs = tempfile::tempdir().unwrap();
    let noise_gan = runs.path().join("gan-noise");
    gan_from_the_command_line(&noise_gan, &[]);
    let two_classes = runs.path().join("gan-two-classes");
    gan_from_the_command_line(&two_classes, &["--classes", "0,1"]);
    let mut harness = noise_harness(runs.path());
    step_until(&mut harness, "the GAN runs in the table", |app| {
        app.gan_runs.len() == 2
    });
    harness.state_mut().gan.open = true;
    harness.state_mut().gan.per_class = 7;
    harness.run_steps(2);
    let order: Vec<_> = harness
        .state()
        .gan_runs
        .iter()
        .map(|(d, _)| d.clone())
        .collect();
    let noise_row = order.iter().position(|d| *d == noise_gan).unwrap();
    harness
        .get_all_by_label("Use in training")
        .nth(noise_row)
        .unwrap()
        .click_accesskit();
    harness.run_steps(2);
    let synthetic = &harness.state().config.synthetic;
    assert_eq!(synthetic.run.as_ref(), Some(&noise_gan));
    assert_eq!(synthetic.per_class, 7);
    assert!(
        harness
            .query_by_label_contains("+ 70 generated training images (7 per class)")
            .is_some(),
        "the Dataset panel says what joins the training samples"
    );
    step_until(
        &mut harness,
        "generated samples in the Dataset panel",
        |app| app.dataset_view.synthetic_samples() == 20,
    );
    assert!(
        harness
            .query_by_label_contains("framed, S: generated by gan-noise")
            .is_some(),
        "the legend names the run"
    );

    // A GAN of two classes cannot serve ten: the panel names the classes it does not make.
    harness.get_by_label("Use in training").click_accesskit();
    harness.run_steps(2);
    assert_eq!(
        harness.state().config.synthetic.run.as_ref(),
        Some(&two_classes)
    );
    assert!(
        harness
            .query_by_label_contains("it makes no class 2, class 3, class 4")
            .is_some(),
        "the missing classes are named"
    );
}
