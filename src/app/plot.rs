//! The live plots: training and validation loss on the same epoch axis, accuracy below.
//!
//! Epoch metrics sit at x = epoch (the end of that epoch); per-step training losses sit at
//! fractional epochs, so each epoch's point lands where its steps end.

use egui::Color32;
use egui_plot::{
    Corner, FilledArea, HoverPosition, Legend, Line, LineStyle, Plot, PlotPoints, PlotUi, Points,
    VLine,
};

use super::AppCommand;
use super::state::RunView;
use crate::experiment::TrainConfig;
use crate::experiment::curves::{self, Smoothing};
use crate::train::lr_finder::LrFinding;

/// Colour of everything measured on training data.
pub const TRAIN_COLOR: Color32 = Color32::from_rgb(66, 133, 244);
/// Colour of everything measured on validation data.
pub const VAL_COLOR: Color32 = Color32::from_rgb(234, 120, 30);
/// The most per-step points drawn; longer series are thinned to min/max per bucket.
const MAX_STEP_POINTS: usize = 4000;

/// How the curves are drawn: chosen above the plot, kept between runs.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PlotOptions {
    /// Smoothing applied identically to every epoch curve (raw points stay visible).
    pub smoothing: Smoothing,
    /// Logarithmic loss axis.
    pub log_y: bool,
    /// Rising validation epochs (with falling training loss) that mark the overfitting onset.
    pub onset_k: usize,
    /// Line widths are multiplied by this (presenter mode draws thick lines).
    pub line_scale: f32,
}

impl Default for PlotOptions {
    fn default() -> Self {
        Self {
            smoothing: Smoothing::None,
            log_y: false,
            onset_k: 3,
            line_scale: 1.0,
        }
    }
}

/// Draws the plot options row, with the PNG export button (enabled by `can_export`).
pub fn options_ui(
    ui: &mut egui::Ui,
    options: &mut PlotOptions,
    can_export: bool,
) -> Option<AppCommand> {
    let mut command = None;
    ui.horizontal_wrapped(|ui| {
        let label = match options.smoothing {
            Smoothing::None => "no smoothing",
            Smoothing::Ema { .. } => "EMA",
            Smoothing::Window { .. } => "moving window",
        };
        egui::ComboBox::from_id_salt("smoothing")
            .selected_text(label)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut options.smoothing, Smoothing::None, "no smoothing");
                ui.selectable_value(&mut options.smoothing, Smoothing::Ema { alpha: 0.6 }, "EMA");
                ui.selectable_value(&mut options.smoothing, Smoothing::Window { window: 3 }, "moving window");
            })
            .response
            .on_hover_text("Smooths training and validation curves by the same rule; the raw points stay visible.");
        match &mut options.smoothing {
            Smoothing::None => {}
            Smoothing::Ema { alpha } => {
                ui.add(egui::Slider::new(alpha, 0.0..=0.95).text("weight of the past"));
            }
            Smoothing::Window { window } => {
                ui.add(egui::DragValue::new(window).range(1..=50).prefix("window "));
            }
        }
        ui.checkbox(&mut options.log_y, "log loss axis");
        ui.add(egui::DragValue::new(&mut options.onset_k).range(1..=20).prefix("onset after "))
            .on_hover_text("Overfitting onset: the first epoch after which validation loss rises \
                            this many epochs in a row while training loss keeps falling.");
        ui.label("rising epochs");
        if ui
            .add_enabled(can_export, egui::Button::new("Plot PNG…").small())
            .on_hover_text("Save the curves with the best epoch, onset and gap as a picture")
            .clicked()
        {
            command = Some(AppCommand::ExportPlot);
        }
    });
    command
}

/// Another run drawn over the current one: its name, epochs and colour.
pub struct Overlay<'a> {
    /// The run's name.
    pub name: &'a str,
    /// Its epochs.
    pub history: &'a [crate::train::message::EpochMetrics],
    /// Its colour (training solid, validation dashed).
    pub color: Color32,
}

/// Draws the loss plot, the accuracy plot and the learning rate, sharing the x axis.
pub fn plots_ui(
    ui: &mut egui::Ui,
    run: &RunView,
    train: &TrainConfig,
    options: &PlotOptions,
    overlays: &[Overlay<'_>],
) {
    let rule = &train.early_stopping;
    let link = ui.make_persistent_id("epoch_axis");
    let scale = options.line_scale.clamp(0.5, 4.0);
    let total_height = ui.available_height();
    let loss_height = (total_height * 0.56).max(120.0);
    let acc_height = (total_height * 0.27).max(80.0);
    let best = rule.best(&run.epochs).map(|m| (m.epoch, m.val_loss));
    let onset = curves::overfitting_onset(&run.epochs, options.onset_k);
    // Where early stopping stops (or, when it is off, would have stopped): the same rule.
    let ghost = rule.stop_epoch(&run.epochs);
    let y = |v: f64| {
        if options.log_y {
            v.max(1e-12).log10()
        } else {
            v
        }
    };

    ui.horizontal_wrapped(|ui| {
        ui.strong("Loss");
        if let Some((epoch, loss)) = best {
            ui.label(format!("· best validation loss {loss:.4} at epoch {epoch}"));
        }
        if let Some(epoch) = onset {
            ui.label(format!("· overfitting from epoch {epoch}"));
        }
        if let Some(last) = run.epochs.last() {
            ui.label(format!(
                "· last epoch: train {:.4}, validation {:.4} (gap {:+.4})",
                last.train_loss,
                last.val_loss,
                last.val_loss - last.train_loss
            ));
        }
        if let Some(restored) = &run.restored {
            ui.label(format!(
                "· best weights (epoch {}) restored",
                restored.epoch
            ));
        }
    });
    let max_epoch = run.info.as_ref().map_or(1.0, |i| i.epochs as f64);
    let mut plot = Plot::new("loss_plot")
        .height(loss_height - 24.0)
        .legend(Legend::default().text_style(egui::TextStyle::Small))
        .link_axis(link, [true, false])
        .link_cursor(link, [true, false])
        .include_x(0.0)
        .include_x(max_epoch)
        .x_axis_label("epoch")
        .label_formatter(|pos| epoch_summary(pos, run, options.log_y));
    if options.log_y {
        plot = plot.y_axis_formatter(|mark, _| format!("{:.3}", 10f64.powf(mark.value)));
    } else {
        plot = plot.include_y(0.0);
    }
    if run.steps.is_empty() && run.epochs.is_empty() {
        // Before the first point: the range a first loss will fall in, not egui_plot's
        // default of -0.5..0.5 around nothing.
        let classes = run.info.as_ref().map_or(0, |i| i.class_names.len());
        let (low, high) = empty_loss_range(classes);
        plot = plot.include_y(y(low)).include_y(y(high));
    }
    plot.show(ui, |plot| {
        let steps: Vec<[f64; 2]> = decimate_min_max(&run.steps, MAX_STEP_POINTS)
            .into_iter()
            .map(|[x, v]| [x, y(v)])
            .collect();
        plot.line(
            Line::new("train loss (per step)", PlotPoints::from(steps))
                .color(TRAIN_COLOR.gamma_multiply(0.3))
                .width(1.0 * scale),
        );
        let xs: Vec<f64> = run.epochs.iter().map(|m| m.epoch as f64).collect();
        let train: Vec<f64> = run.epochs.iter().map(|m| y(m.train_loss)).collect();
        let val: Vec<f64> = run.epochs.iter().map(|m| y(m.val_loss)).collect();
        if xs.len() >= 2 {
            let lo: Vec<f64> = train.iter().zip(&val).map(|(a, b)| a.min(*b)).collect();
            let hi: Vec<f64> = train.iter().zip(&val).map(|(a, b)| a.max(*b)).collect();
            plot.add(
                FilledArea::new("generalisation gap", &xs, &lo, &hi)
                    .fill_color(Color32::from_rgba_unmultiplied(234, 120, 30, 40)),
            );
        }
        epoch_curve(
            plot,
            "train loss",
            &xs,
            &train,
            TRAIN_COLOR,
            options.smoothing,
            scale,
        );
        epoch_curve(
            plot,
            "validation loss",
            &xs,
            &val,
            VAL_COLOR,
            options.smoothing,
            scale,
        );
        for overlay in overlays {
            overlay_curves(
                plot,
                overlay,
                |m| (y(m.train_loss), y(m.val_loss)),
                "loss",
                scale,
            );
        }
        if let Some((epoch, _)) = best {
            plot.vline(
                VLine::new("best epoch", epoch as f64)
                    .color(Color32::from_rgb(60, 170, 90))
                    .style(LineStyle::dashed_loose()),
            );
        }
        if let Some(epoch) = onset {
            plot.vline(
                VLine::new(
                    format!("overfitting onset ({} rising epochs)", options.onset_k),
                    epoch as f64,
                )
                .color(Color32::from_rgb(220, 60, 60))
                .width(1.5 * scale),
            );
        }
        if let Some(epoch) = ghost {
            let name = if rule.enabled {
                format!("early stop (patience {})", rule.patience)
            } else {
                format!("early stop would stop here (patience {})", rule.patience)
            };
            plot.vline(
                VLine::new(name, epoch as f64)
                    .color(Color32::from_gray(150))
                    .style(LineStyle::dotted_loose()),
            );
        }
        for change in &run.changes {
            plot.vline(
                VLine::new(change.description.clone(), change.at_epoch)
                    .color(Color32::from_rgb(200, 80, 200))
                    .width(1.5 * scale),
            );
        }
    });

    ui.strong("Accuracy");
    Plot::new("accuracy_plot")
        .height(acc_height - 24.0)
        .link_axis(link, [true, false])
        .link_cursor(link, [true, false])
        .include_x(0.0)
        .include_x(max_epoch)
        .include_y(0.0)
        .include_y(1.0)
        .legend(
            Legend::default()
                .position(Corner::RightBottom)
                .text_style(egui::TextStyle::Small),
        )
        .x_axis_label("epoch")
        .y_axis_formatter(|mark, _| format!("{:.0} %", mark.value * 100.0))
        .label_formatter(|pos| epoch_summary(pos, run, false))
        .show(ui, |plot| {
            let xs: Vec<f64> = run.epochs.iter().map(|m| m.epoch as f64).collect();
            let train: Vec<f64> = run.epochs.iter().map(|m| m.train_acc).collect();
            let val: Vec<f64> = run.epochs.iter().map(|m| m.val_acc).collect();
            epoch_curve(
                plot,
                "train accuracy",
                &xs,
                &train,
                TRAIN_COLOR,
                options.smoothing,
                scale,
            );
            epoch_curve(
                plot,
                "validation accuracy",
                &xs,
                &val,
                VAL_COLOR,
                options.smoothing,
                scale,
            );
            for overlay in overlays {
                overlay_curves(
                    plot,
                    overlay,
                    |m| (m.train_acc, m.val_acc),
                    "accuracy",
                    scale,
                );
            }
        });

    ui.strong("Learning rate");
    // Before the first step the axis reaches the base learning rate, the schedule's peak.
    let lr_top = if run.lrs.is_empty() { train.lr } else { 0.0 };
    Plot::new("lr_plot")
        .height((ui.available_height() - 4.0).max(50.0))
        .link_axis(link, [true, false])
        .link_cursor(link, [true, false])
        .include_x(0.0)
        .include_x(max_epoch)
        .include_y(0.0)
        .include_y(lr_top)
        .show_x(false)
        .y_axis_formatter(|mark, _| format!("{:.0e}", mark.value))
        .label_formatter(|pos| {
            let HoverPosition::NearDataPoint { position, .. } = pos else {
                return None;
            };
            Some(format!("epoch {:.2}\nlr {:.2e}", position.x, position.y))
        })
        .show(ui, |plot| {
            let lrs = decimate_min_max(&run.lrs, MAX_STEP_POINTS);
            plot.line(
                Line::new("learning rate", PlotPoints::from(lrs))
                    .color(Color32::from_rgb(200, 80, 200)),
            );
        });
}

/// The learning-rate finder's curve (loss against learning rate, log x) with its suggestion
/// and a button to use it.
pub fn lr_finder_ui(ui: &mut egui::Ui, finding: &LrFinding) -> Option<AppCommand> {
    let mut command = None;
    match finding.suggestion {
        Some(lr) => {
            ui.horizontal(|ui| {
                ui.label(format!(
                    "Suggested learning rate: {lr:.1e} (where the loss falls fastest)"
                ));
                if ui.button(format!("Use {lr:.1e}")).clicked() {
                    command = Some(AppCommand::UseLr(lr));
                }
            });
        }
        None => {
            ui.label("The loss did not fall at any learning rate tried: check the data and model.");
        }
    }
    let points: Vec<[f64; 2]> = finding
        .points
        .iter()
        .map(|p| [p[0].log10(), p[1]])
        .collect();
    Plot::new("lr_finder_plot")
        .height(260.0)
        .x_axis_label("learning rate (log scale)")
        .y_axis_label("smoothed training loss")
        .x_axis_formatter(|mark, _| format!("{:.0e}", 10f64.powf(mark.value)))
        .label_formatter(|pos| {
            let HoverPosition::NearDataPoint { position, .. } = pos else {
                return None;
            };
            Some(format!(
                "lr {:.2e}\nloss {:.4}",
                10f64.powf(position.x),
                position.y
            ))
        })
        .show(ui, |plot| {
            plot.line(
                Line::new("loss", PlotPoints::from(points))
                    .color(TRAIN_COLOR)
                    .width(2.0),
            );
            if let Some(lr) = finding.suggestion {
                plot.vline(
                    VLine::new("suggestion", lr.log10()).color(Color32::from_rgb(60, 170, 90)),
                );
            }
        });
    command
}

/// One per-epoch curve: raw values as markers and a line; with smoothing, the raw line is thin
/// and the smoothed one (same rule for every curve) is drawn over it.
fn epoch_curve(
    plot: &mut PlotUi<'_>,
    name: &str,
    xs: &[f64],
    values: &[f64],
    color: Color32,
    smoothing: Smoothing,
    scale: f32,
) {
    let raw: Vec<[f64; 2]> = xs.iter().zip(values).map(|(&x, &v)| [x, v]).collect();
    let smoothed = smoothing != Smoothing::None;
    plot.line(
        Line::new(name, PlotPoints::from(raw.clone()))
            .color(if smoothed {
                color.gamma_multiply(0.5)
            } else {
                color
            })
            .width((if smoothed { 1.0 } else { 2.5 }) * scale),
    );
    plot.points(
        Points::new(name, PlotPoints::from(raw))
            .color(color)
            .radius(3.0 * scale),
    );
    if smoothed {
        let line: Vec<[f64; 2]> = xs
            .iter()
            .zip(smoothing.apply(values))
            .map(|(&x, v)| [x, v])
            .collect();
        plot.line(
            Line::new(format!("{name} (smoothed)"), PlotPoints::from(line))
                .color(color)
                .width(2.5 * scale),
        );
    }
}

/// The loss axis of a run with no points yet: from a hundredth of chance level (so a log axis
/// has room below) to a little above chance level, the cross-entropy of a uniform guess,
/// ln(classes), which a fresh model's first losses sit near.
pub fn empty_loss_range(classes: usize) -> (f64, f64) {
    let chance = (classes.max(2) as f64).ln();
    (chance / 100.0, chance * 1.2)
}

/// An overlaid run's training (solid) and validation (dashed) curves.
fn overlay_curves(
    plot: &mut PlotUi<'_>,
    overlay: &Overlay<'_>,
    values: impl Fn(&crate::train::message::EpochMetrics) -> (f64, f64),
    what: &str,
    scale: f32,
) {
    let (train, val): (Vec<[f64; 2]>, Vec<[f64; 2]>) = overlay
        .history
        .iter()
        .map(|m| {
            let (t, v) = values(m);
            ([m.epoch as f64, t], [m.epoch as f64, v])
        })
        .unzip();
    plot.line(
        Line::new(
            format!("{} train {what}", overlay.name),
            PlotPoints::from(train),
        )
        .color(overlay.color)
        .width(1.5 * scale),
    );
    plot.line(
        Line::new(
            format!("{} validation {what}", overlay.name),
            PlotPoints::from(val),
        )
        .color(overlay.color)
        .width(1.5 * scale)
        .style(LineStyle::dashed_dense()),
    );
}

/// Hover text: everything known about the epoch nearest the pointer.
fn epoch_summary(position: &HoverPosition<'_>, run: &RunView, log_y: bool) -> Option<String> {
    let (HoverPosition::NearDataPoint { position, .. } | HoverPosition::Elsewhere { position }) =
        position;
    let epoch = position.x.round();
    let Some(m) = run.epochs.iter().find(|m| m.epoch as f64 == epoch) else {
        let value = if log_y {
            10f64.powf(position.y)
        } else {
            position.y
        };
        return Some(format!("epoch {:.2}\n{value:.4}", position.x));
    };
    Some(format!(
        "epoch {}\ntrain loss {:.4}\nvalidation loss {:.4}\ntrain accuracy {:.1} %\n\
         validation accuracy {:.1} %\nlearning rate {:.2e}",
        m.epoch,
        m.train_loss,
        m.val_loss,
        m.train_acc * 100.0,
        m.val_acc * 100.0,
        m.lr
    ))
}

/// Thins a series to at most `max_points` by keeping, per bucket of consecutive points, the
/// lowest and the highest (in their original order), so spikes stay visible.
pub fn decimate_min_max(points: &[[f64; 2]], max_points: usize) -> Vec<[f64; 2]> {
    if points.len() <= max_points || max_points < 2 {
        return points.to_vec();
    }
    let buckets = max_points / 2;
    let size = points.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(buckets * 2);
    for chunk in points.chunks(size) {
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in chunk.iter().enumerate() {
            if p[1] < chunk[lo][1] {
                lo = i;
            }
            if p[1] > chunk[hi][1] {
                hi = i;
            }
        }
        let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        out.push(chunk[a]);
        if b != a {
            out.push(chunk[b]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_keeps_extremes_per_bucket() {
        let points: Vec<[f64; 2]> = (0..10_000)
            .map(|i| [i as f64, if i == 5_000 { 99.0 } else { (i % 7) as f64 }])
            .collect();
        let out = decimate_min_max(&points, 100);
        assert!(out.len() <= 100);
        assert!(out.iter().any(|p| p[1] == 99.0), "the spike survives");
        assert!(out.windows(2).all(|w| w[0][0] < w[1][0]), "x stays ordered");
        assert_eq!(decimate_min_max(&points[..50], 100).len(), 50);
    }

    #[test]
    fn an_empty_loss_axis_spans_chance_level() {
        let (low, high) = empty_loss_range(10);
        let chance = 10f64.ln();
        assert!(low > 0.0 && low < chance / 10.0, "{low}");
        assert!(high > chance && high < chance * 1.5, "{high}");
        // Unknown class counts still give a positive range (two classes at least).
        let (low, high) = empty_loss_range(0);
        assert!(0.0 < low && low < high);
    }
}
