//! The live plots: training and validation loss on the same epoch axis, accuracy below.
//!
//! Epoch metrics sit at x = epoch (the end of that epoch); per-step training losses sit at
//! fractional epochs, so each epoch's point lands where its steps end.

use egui::Color32;
use egui_plot::{
    Corner, HoverPosition, Legend, Line, LineStyle, Plot, PlotPoints, PlotUi, Points, VLine,
};

use super::AppCommand;
use super::state::RunView;
use crate::train::EarlyStopping;
use crate::train::lr_finder::LrFinding;
use crate::train::message::EpochMetrics;

/// Colour of everything measured on training data.
pub const TRAIN_COLOR: Color32 = Color32::from_rgb(66, 133, 244);
/// Colour of everything measured on validation data.
pub const VAL_COLOR: Color32 = Color32::from_rgb(234, 120, 30);
/// The most per-step points drawn; longer series are thinned to min/max per bucket.
const MAX_STEP_POINTS: usize = 4000;

/// Draws the loss plot and the accuracy plot, sharing the x axis.
pub fn plots_ui(ui: &mut egui::Ui, run: &RunView, rule: &EarlyStopping) {
    let link = ui.make_persistent_id("epoch_axis");
    let total_height = ui.available_height();
    let loss_height = (total_height * 0.56).max(120.0);
    let acc_height = (total_height * 0.27).max(80.0);
    let best = run.best_epoch();
    // Where early stopping stops (or, when it is off, would have stopped): the same rule.
    let ghost = rule.stop_epoch(&run.epochs);

    ui.horizontal(|ui| {
        ui.strong("Loss");
        if let Some((epoch, loss)) = best {
            ui.label(format!("· best validation loss {loss:.4} at epoch {epoch}"));
        }
        if let Some(last) = run.epochs.last() {
            ui.label(format!(
                "· last epoch: train {:.4}, validation {:.4}",
                last.train_loss, last.val_loss
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
    Plot::new("loss_plot")
        .height(loss_height - 24.0)
        .legend(Legend::default())
        .link_axis(link, [true, false])
        .link_cursor(link, [true, false])
        .include_x(0.0)
        .include_x(max_epoch)
        .include_y(0.0)
        .x_axis_label("epoch")
        .label_formatter(|pos| hover_label(pos, false))
        .show(ui, |plot| {
            let steps = decimate_min_max(&run.steps, MAX_STEP_POINTS);
            plot.line(
                Line::new("train loss (per step)", PlotPoints::from(steps))
                    .color(TRAIN_COLOR.gamma_multiply(0.3))
                    .width(1.0),
            );
            epoch_series(plot, "train loss", run, |m| m.train_loss, TRAIN_COLOR);
            epoch_series(plot, "validation loss", run, |m| m.val_loss, VAL_COLOR);
            if let Some((epoch, _)) = best {
                plot.vline(
                    VLine::new("best epoch", epoch as f64)
                        .color(Color32::from_rgb(60, 170, 90))
                        .style(LineStyle::dashed_loose()),
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
                        .width(1.5),
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
        .legend(Legend::default().position(Corner::RightBottom))
        .x_axis_label("epoch")
        .y_axis_formatter(|mark, _| format!("{:.0} %", mark.value * 100.0))
        .label_formatter(|pos| hover_label(pos, true))
        .show(ui, |plot| {
            epoch_series(plot, "train accuracy", run, |m| m.train_acc, TRAIN_COLOR);
            epoch_series(plot, "validation accuracy", run, |m| m.val_acc, VAL_COLOR);
        });

    ui.strong("Learning rate");
    Plot::new("lr_plot")
        .height((ui.available_height() - 4.0).max(50.0))
        .link_axis(link, [true, false])
        .link_cursor(link, [true, false])
        .include_x(0.0)
        .include_x(max_epoch)
        .include_y(0.0)
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

/// One per-epoch series: a line with a marker at each epoch.
fn epoch_series(
    plot: &mut PlotUi<'_>,
    name: &str,
    run: &RunView,
    value: fn(&EpochMetrics) -> f64,
    color: Color32,
) {
    let points: Vec<[f64; 2]> = run
        .epochs
        .iter()
        .map(|m| [m.epoch as f64, value(m)])
        .collect();
    plot.line(
        Line::new(name, PlotPoints::from(points.clone()))
            .color(color)
            .width(2.5),
    );
    plot.points(
        Points::new(name, PlotPoints::from(points))
            .color(color)
            .radius(3.0),
    );
}

/// Hover text: the series, the epoch and the value (as a percentage on the accuracy plot).
fn hover_label(position: &HoverPosition<'_>, percent: bool) -> Option<String> {
    let HoverPosition::NearDataPoint {
        plot_name,
        position,
        ..
    } = position
    else {
        return None;
    };
    let value = if percent {
        format!("{:.1} %", position.y * 100.0)
    } else {
        format!("{:.4}", position.y)
    };
    Some(format!("{plot_name}\nepoch {:.2}\n{value}", position.x))
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
}
