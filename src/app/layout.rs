//! The window's layout: run bar on top, status bar below, the settings column on the left, the
//! plots and the Evaluation panel in the middle, and the floating windows. Panels return
//! [`AppCommand`]s, applied once the frame is laid out.

use super::state::Phase;
use super::{
    AppCommand, WorkbenchApp, augment_panel, dataset_panel, generator_panel, hyper_panel, plot,
    run_bar, runs_panel, sweep_view,
};
use crate::data::DatasetSource;

impl WorkbenchApp {
    /// Takes files dropped onto the window: the first path is loaded as a dataset. While files
    /// are dragged over the window, says what dropping them does.
    fn take_dropped_files(&mut self, ctx: &egui::Context) {
        if ctx.input(|i| !i.raw.hovered_files.is_empty()) {
            let screen = ctx.content_rect();
            let painter = ctx.layer_painter(egui::LayerId::new(
                egui::Order::Foreground,
                egui::Id::unique("drop_overlay"),
            ));
            painter.rect_filled(screen, 0.0, egui::Color32::from_black_alpha(170));
            painter.text(
                screen.center(),
                egui::Align2::CENTER_CENTER,
                "Drop a folder (image classes, IDX or CIFAR files) to load it as the dataset",
                egui::FontId::proportional(22.0),
                egui::Color32::WHITE,
            );
        }
        let dropped = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_owned())
                .find(|p| !p.as_os_str().is_empty())
        });
        let Some(path) = dropped else { return };
        if self.run.is_active() {
            self.error = Some("Stop the run before loading another dataset".to_owned());
            return;
        }
        self.dataset_view.path_text = path.display().to_string();
        match DatasetSource::detect(&path) {
            Ok(source) => self.apply(AppCommand::SelectDataset(source)),
            Err(message) => self.dataset_view.load_error = Some(message),
        }
    }

    /// Draws the whole window and applies what the panels asked for.
    pub fn draw(&mut self, ui: &mut egui::Ui) {
        self.take_dropped_files(ui.ctx());
        let mut commands = Vec::new();
        let ab_note = self.ab_note();
        egui::Panel::top("run_bar").show(ui, |ui| {
            commands.extend(run_bar::run_bar_ui(
                ui,
                &self.run,
                self.dataset.is_some() && !self.finding_lr,
                &mut self.extend_by,
                self.presenter,
                &mut self.target,
            ));
        });
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_bar_ui(ui));
        // Presenter mode keeps only the lesson list there: a narrow column leaves the plot room.
        let (settings_id, settings_width) = if self.presenter {
            ("settings_presenter", 260.0)
        } else {
            ("settings", 300.0)
        };
        egui::Panel::left(settings_id)
            .resizable(true)
            .default_size(settings_width)
            .size_range(200.0..=480.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .auto_shrink([false; 2])
                    .show(ui, |ui| {
                        self.settings_ui(ui, ab_note.as_deref(), &mut commands);
                    });
            });
        egui::CentralPanel::default().show(ui, |ui| self.central_ui(ui, &mut commands));
        self.windows_ui(ui.ctx(), &mut commands);
        if self.config.device == crate::experiment::DeviceKind::Gpu {
            self.probe_gpu();
            self.warm_gpu();
        }
        if self.run.compiling_secs().is_some() {
            // The run bar counts the seconds a GPU run waits for its kernels.
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_secs(1));
        }
        for command in commands {
            self.apply(command);
        }
    }

    fn status_bar_ui(&self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if let Some(error) = &self.error {
                ui.colored_label(ui.visuals().error_fg_color, error);
            } else if let Some(message) = &self.run.message {
                let color = match self.run.phase {
                    Phase::Ended(crate::train::message::RunStatus::Failed) => {
                        ui.visuals().error_fg_color
                    }
                    _ => ui.visuals().text_color(),
                };
                ui.colored_label(color, message);
            } else if let Some(dir) = self.run.info.as_ref().and_then(|i| i.run_dir.as_ref()) {
                ui.label(format!("Recording to {}", dir.display()));
            } else {
                ui.label(format!("Runs are saved under {}", self.runs_root.display()));
            }
        });
    }

    /// The settings column: lessons, dataset, augmentation, model, hyperparameters and runs.
    fn settings_ui(
        &mut self,
        ui: &mut egui::Ui,
        ab_note: Option<&str>,
        commands: &mut Vec<AppCommand>,
    ) {
        let editable = !self.run.is_active() && !self.finding_lr;
        let hyper_editable = match self.run.phase {
            _ if self.finding_lr => hyper_panel::Editable::Nothing,
            Phase::Paused => hyper_panel::Editable::LearningRateOnly,
            Phase::Starting | Phase::Running => hyper_panel::Editable::Nothing,
            Phase::Idle | Phase::Ended(_) => hyper_panel::Editable::All,
        };
        let gpu_status = self.gpu_line();
        let gpu_status = gpu_status.as_str();
        egui::CollapsingHeader::new("Lessons")
            .default_open(true)
            .show(ui, |ui| {
                commands.extend(self.lessons.picker_ui(ui, editable));
            });
        if self.presenter {
            // Presenter mode keeps the lesson list and leaves the rest to the plot.
            return;
        }
        egui::CollapsingHeader::new("Dataset")
            .default_open(true)
            .show(ui, |ui| {
                let input = dataset_panel::PanelInput {
                    data: self.dataset.as_ref(),
                    pending: self.pending.as_ref(),
                    editable,
                    gan_runs: &self.gan_runs,
                };
                commands.extend(self.dataset_view.dataset_ui(ui, &mut self.config, &input));
            });
        egui::CollapsingHeader::new("Augmentation")
            .default_open(true)
            .show(ui, |ui| {
                augment_panel::summary_ui(
                    ui,
                    &mut self.augment_view,
                    &mut self.config,
                    self.dataset.as_deref(),
                    editable,
                    ab_note,
                );
            });
        egui::CollapsingHeader::new("Generator (GAN)")
            .id_salt("generator_section")
            .default_open(true)
            .show(ui, |ui| {
                generator_panel::summary_ui(ui, &mut self.gan, &self.config.synthetic);
            });
        egui::CollapsingHeader::new("Model")
            .default_open(true)
            .show(ui, |ui| {
                let finished = match self.run.phase {
                    Phase::Ended(status) if status.can_continue() => {
                        self.run.info.as_ref().and_then(|i| i.run_dir.as_deref())
                    }
                    _ => None,
                };
                commands.extend(self.model_view.model_ui(
                    ui,
                    &mut self.config,
                    self.dataset.as_deref(),
                    editable,
                    finished,
                ));
            });
        egui::CollapsingHeader::new("Hyperparameters")
            .default_open(true)
            .show(ui, |ui| {
                commands.extend(hyper_panel::hyper_ui(
                    ui,
                    &mut self.config,
                    hyper_editable,
                    gpu_status,
                ));
            });
        egui::CollapsingHeader::new("Runs")
            .default_open(true)
            .show(ui, |ui| {
                commands.extend(runs_panel::runs_ui(
                    ui,
                    &self.runs,
                    &mut self.runs_view,
                    &self.config,
                ));
                let sweeps = sweep_view::sweep_dirs(&self.runs, &self.runs_root);
                if !sweeps.is_empty() {
                    ui.add_space(4.0);
                    ui.label(egui::RichText::new("Sweeps").strong());
                    for dir in sweeps {
                        let name = dir
                            .file_name()
                            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                        ui.horizontal(|ui| {
                            if ui
                                .small_button("view")
                                .on_hover_text(
                                    "Best validation loss and gap of each run against the swept \
                                     setting",
                                )
                                .clicked()
                            {
                                self.sweep_view.open(&dir);
                            }
                            ui.label(egui::RichText::new(name).small());
                        });
                    }
                }
            });
    }

    /// The middle: the lesson card, the plots and, beside them, the Evaluation panel.
    fn central_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<AppCommand>) {
        // Plots on the left, the Evaluation panel on the right, each in its own rect (the
        // plots size themselves from their Ui's max rect).
        self.lessons.card_ui(ui);
        let full = ui.available_rect_before_wrap();
        // Presenter mode gives the whole width to the plots.
        let eval_width = if self.presenter {
            0.0
        } else {
            (full.width() * 0.37).clamp(300.0, 460.0)
        };
        let split = full.max.x - eval_width;
        let gutter = if self.presenter { 0.0 } else { 8.0 };
        let plots_rect = egui::Rect::from_min_max(full.min, egui::pos2(split - gutter, full.max.y));
        let eval_rect = egui::Rect::from_min_max(egui::pos2(split, full.min.y), full.max);
        ui.scope_builder(egui::UiBuilder::new().max_rect(plots_rect), |ui| {
            let can_export = !self.run.epochs.is_empty();
            commands.extend(plot::options_ui(ui, &mut self.plot_options, can_export));
            let overlays: Vec<plot::Overlay<'_>> = self
                .runs_view
                .overlaid
                .iter()
                .filter_map(|dir| self.runs.iter().find(|r| &r.dir == dir))
                .zip(runs_panel::OVERLAY_COLORS.iter().cycle())
                .map(|(run, &color)| plot::Overlay {
                    name: &run.name,
                    history: &run.history,
                    color,
                })
                .collect();
            plot::plots_ui(
                ui,
                &self.run,
                &self.config.train,
                &self.plot_options,
                &overlays,
            );
        });
        if self.presenter {
            return;
        }
        ui.painter().vline(
            split - 4.0,
            full.y_range(),
            ui.visuals().widgets.noninteractive.bg_stroke,
        );
        ui.scope_builder(egui::UiBuilder::new().max_rect(eval_rect), |ui| {
            egui::ScrollArea::both()
                .id_salt("evaluation_scroll")
                .auto_shrink([false; 2])
                .show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.heading("Evaluation");
                        let ready = self.run.evaluation.is_some();
                        if ui
                            .add_enabled(ready, egui::Button::new("Confusion CSV…").small())
                            .on_hover_text("Save the confusion matrix as CSV")
                            .clicked()
                        {
                            commands.push(AppCommand::ExportConfusion);
                        }
                        if ui
                            .add_enabled(
                                !self.run.epochs.is_empty(),
                                egui::Button::new("Metrics CSV…").small(),
                            )
                            .on_hover_text("Save the per-epoch metrics as CSV")
                            .clicked()
                        {
                            commands.push(AppCommand::ExportMetrics);
                        }
                    });
                    let names = self.class_names();
                    self.evaluation_view.evaluation_ui(
                        ui,
                        self.run.evaluation.as_ref(),
                        self.dataset.as_deref(),
                        &names,
                        &self.config.crop,
                    );
                });
        });
    }

    /// The floating windows: the learning-rate finder's answer, the augmentation preview and
    /// the Generator.
    fn windows_ui(&mut self, ctx: &egui::Context, commands: &mut Vec<AppCommand>) {
        sweep_view::sweep_window(ctx, &mut self.sweep_view, &mut self.runs_view);
        if let Some(finding) = &self.lr_finding {
            let mut open = true;
            egui::Window::new("Learning-rate finder")
                .open(&mut open)
                .default_width(460.0)
                .show(ctx, |ui| {
                    commands.extend(plot::lr_finder_ui(ui, finding));
                });
            if !open {
                self.lr_finding = None;
            }
        }
        if self.augment_view.open {
            let mut open = true;
            let input = augment_panel::PanelInput {
                data: self.dataset.as_ref(),
                last_batch: self.run.last_batch.as_deref(),
                editable: !self.run.is_active() && !self.finding_lr,
            };
            egui::Window::new("Augmentation")
                .open(&mut open)
                .default_pos([306.0, 60.0])
                .default_size([960.0, 660.0])
                .show(ctx, |ui| {
                    commands.extend(self.augment_view.augment_ui(ui, &mut self.config, &input));
                });
            self.augment_view.open &= open;
        }
        if self.gan.open {
            let mut open = true;
            let input = generator_panel::PanelInput {
                runs: &self.gan_runs,
                synthetic: &self.config.synthetic,
                classifier_busy: self.run.is_active() || self.finding_lr,
                dataset: self.config.dataset.source.label(),
            };
            egui::Window::new("Generator")
                .open(&mut open)
                .default_pos([306.0, 40.0])
                .default_size([1000.0, 720.0])
                .show(ctx, |ui| {
                    commands.extend(self.gan.window_ui(ui, &input).map(AppCommand::Gan));
                });
            self.gan.open &= open;
        }
    }
}
