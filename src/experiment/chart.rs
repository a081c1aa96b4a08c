//! A run's curves rendered to an image, for slides and reports: loss on top, accuracy below, the
//! same markers as the live plot (best epoch, overfitting onset, the early-stopping ghost and the
//! shaded generalisation gap). Drawn with tiny-skia and the interface's own font, so it needs no
//! window and looks the same on every machine.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use tiny_skia::{
    Color, FillRule, LineCap, Paint, PathBuilder, Pixmap, Rect, Stroke, StrokeDash, Transform,
};

use super::curves;
use super::early_stop::EarlyStopping;
use super::metrics::EpochMetrics;

/// Colours shared with the live plot.
const TRAIN: [u8; 3] = [66, 133, 244];
const VAL: [u8; 3] = [234, 120, 30];
const BEST: [u8; 3] = [60, 170, 90];
const ONSET: [u8; 3] = [220, 60, 60];
const GHOST: [u8; 3] = [150, 150, 150];
const INK: [u8; 3] = [40, 40, 40];
const GRID: [u8; 3] = [225, 225, 225];

/// What to draw besides the curves.
#[derive(Debug, Clone)]
pub struct ChartOptions {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Heading drawn above the plots.
    pub title: String,
    /// Rising epochs that make an overfitting onset (see [`curves::overfitting_onset`]).
    pub onset_k: usize,
    /// The early-stopping rule whose stopping point is drawn (whether or not it was enabled).
    pub early_stopping: Option<EarlyStopping>,
    /// The x axis runs to at least this epoch (the planned length of the run).
    pub planned_epochs: usize,
}

impl Default for ChartOptions {
    fn default() -> Self {
        Self {
            width: 1200,
            height: 800,
            title: String::new(),
            onset_k: 3,
            early_stopping: None,
            planned_epochs: 1,
        }
    }
}

/// Errors while rendering or encoding a chart.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The requested size is unusable.
    #[error("a chart of {0}×{1} pixels cannot be drawn: use between 320×240 and 8000×8000")]
    Size(u32, u32),
    /// There is nothing to plot.
    #[error("the run has no finished epoch to plot yet")]
    Empty,
    /// PNG encoding failed.
    #[error("cannot encode the chart as PNG: {0}")]
    Encode(String),
}

/// Renders the curves as an RGBA image.
pub fn render(
    epochs: &[EpochMetrics],
    options: &ChartOptions,
) -> Result<image::RgbaImage, ChartError> {
    let (w, h) = (options.width, options.height);
    if !(320..=8000).contains(&w) || !(240..=8000).contains(&h) {
        return Err(ChartError::Size(w, h));
    }
    if epochs.is_empty() {
        return Err(ChartError::Empty);
    }
    let mut canvas = Canvas::new(w, h)?;
    canvas.draw(epochs, options);
    canvas.finish()
}

/// Renders the curves and encodes them as PNG.
pub fn render_png(epochs: &[EpochMetrics], options: &ChartOptions) -> Result<Vec<u8>, ChartError> {
    let image = render(epochs, options)?;
    encode_png(image)
}

/// An image as PNG bytes.
fn encode_png(image: image::RgbaImage) -> Result<Vec<u8>, ChartError> {
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgba8(image)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| ChartError::Encode(e.to_string()))?;
    Ok(bytes)
}

/// The swept setting's value of one run, for the sweep chart's x axis.
#[derive(Debug, Clone, PartialEq)]
pub enum SweepX {
    /// A number (learning rate, training-set size, …).
    Number(f64),
    /// A name (a model, an optimizer): one column per name, in order of first appearance.
    Name(String),
}

/// What `sweep.png` shows: per run, the best validation loss and the final generalisation gap
/// against the first swept setting.
#[derive(Debug, Clone, Default)]
pub struct SweepPlot {
    /// Heading.
    pub title: String,
    /// The swept setting's name (the x axis).
    pub x_name: String,
    /// One point per run.
    pub x: Vec<SweepX>,
    /// Best validation loss of each run (`None`: it failed before an epoch).
    pub best_val_loss: Vec<Option<f64>>,
    /// Validation minus training loss at each run's last epoch.
    pub final_gap: Vec<Option<f64>>,
    /// A second grouping of the runs (e.g. the model when the x axis is the data size): each
    /// group gets its own colour and line through its means.
    pub group: Vec<String>,
}

/// Colours of the sweep chart's groups.
const GROUPS: [[u8; 3]; 6] = [VAL, TRAIN, BEST, ONSET, [140, 90, 200], [120, 120, 120]];

/// Renders a sweep's runs as a PNG: best validation loss on top, final gap below, against the
/// swept setting (a log axis when its values are positive and span 20× or more).
pub fn render_sweep_png(plot: &SweepPlot, width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
    if !(320..=8000).contains(&width) || !(240..=8000).contains(&height) {
        return Err(ChartError::Size(width, height));
    }
    let has_point = plot.best_val_loss.iter().any(Option::is_some);
    if plot.x.is_empty() || !has_point {
        return Err(ChartError::Empty);
    }
    let mut canvas = Canvas::new(width, height)?;
    canvas.draw_sweep(plot);
    encode_png(canvas.finish()?)
}

/// How the sweep chart places its x values.
enum XScale {
    Linear,
    Log,
    Names(Vec<String>),
}

impl XScale {
    fn of(x: &[SweepX]) -> Self {
        let numbers: Option<Vec<f64>> = x
            .iter()
            .map(|v| match v {
                SweepX::Number(n) if n.is_finite() => Some(*n),
                _ => None,
            })
            .collect();
        match numbers {
            Some(n) => {
                let lo = n.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = n.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if lo > 0.0 && hi / lo >= 20.0 {
                    Self::Log
                } else {
                    Self::Linear
                }
            }
            None => {
                let mut names: Vec<String> = Vec::new();
                for v in x {
                    let name = match v {
                        SweepX::Number(n) => n.to_string(),
                        SweepX::Name(s) => s.clone(),
                    };
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                Self::Names(names)
            }
        }
    }

    /// The plotted coordinate of a value.
    fn at(&self, v: &SweepX) -> f64 {
        match (self, v) {
            (Self::Log, SweepX::Number(n)) => n.log10(),
            (Self::Linear, SweepX::Number(n)) => *n,
            (Self::Names(names), v) => {
                let name = match v {
                    SweepX::Number(n) => n.to_string(),
                    SweepX::Name(s) => s.clone(),
                };
                names.iter().position(|n| *n == name).unwrap_or(0) as f64
            }
            (_, SweepX::Name(_)) => 0.0,
        }
    }
}

impl Canvas<'_> {
    fn draw_sweep(&mut self, plot: &SweepPlot) {
        let s = self.scale;
        let (w, h) = (self.pixmap.width() as f32, self.pixmap.height() as f32);
        self.text(&plot.title, 24.0 * s, 34.0 * s, 22.0 * s, INK, Align::Left);
        let scale = XScale::of(&plot.x);
        let xs: Vec<f64> = plot.x.iter().map(|v| scale.at(v)).collect();
        let x_range = match &scale {
            XScale::Names(names) => (-0.5, names.len() as f64 - 0.5),
            _ => {
                let (lo, hi) = xs
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                        (a.min(v), b.max(v))
                    });
                let pad = ((hi - lo) * 0.06).max(0.05);
                (lo - pad, hi + pad)
            }
        };
        let mut groups: Vec<&str> = Vec::new();
        for g in &plot.group {
            if !groups.contains(&g.as_str()) {
                groups.push(g);
            }
        }
        let (left, right) = (90.0 * s, w - 30.0 * s);
        let panels = [
            (
                "best validation loss",
                &plot.best_val_loss,
                70.0 * s,
                h * 0.5 - 30.0 * s,
            ),
            (
                "final gap (validation − training loss)",
                &plot.final_gap,
                h * 0.5 + 40.0 * s,
                h - 80.0 * s,
            ),
        ];
        for (name, values, top, bottom) in panels {
            let finite: Vec<f64> = values
                .iter()
                .flatten()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            let (lo, hi) = padded_range(&finite, 0.0);
            let (lo, hi) = if finite.iter().any(|v| *v < 0.0) {
                let span = (finite.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                    - finite.iter().copied().fold(f64::INFINITY, f64::min))
                .max(1e-6);
                (
                    finite.iter().copied().fold(f64::INFINITY, f64::min) - 0.05 * span,
                    hi,
                )
            } else {
                (lo, hi)
            };
            let area = Area {
                left,
                top,
                right,
                bottom,
                x: x_range,
                y: (lo, hi),
            };
            self.sweep_axes(&area, name, &scale, &plot.x_name);
            // A line through each group's mean at each x, then every run as a dot.
            let group_of = |i: usize| {
                plot.group
                    .get(i)
                    .and_then(|g| groups.iter().position(|x| x == g))
                    .unwrap_or(0)
            };
            for g in 0..groups.len().max(1) {
                let mut at: Vec<(f64, f64, usize)> = Vec::new();
                for (i, v) in values.iter().enumerate() {
                    let Some(v) = v.filter(|v| v.is_finite()) else {
                        continue;
                    };
                    if group_of(i) != g {
                        continue;
                    }
                    match at.iter_mut().find(|(x, _, _)| *x == xs[i]) {
                        Some(entry) => {
                            entry.1 += v;
                            entry.2 += 1;
                        }
                        None => at.push((xs[i], v, 1)),
                    }
                }
                at.sort_by(|a, b| a.0.total_cmp(&b.0));
                let line: Vec<(f32, f32)> = at
                    .iter()
                    .map(|&(x, sum, n)| area.px(x, sum / n as f64))
                    .collect();
                self.line(&line, GROUPS[g % GROUPS.len()], 2.0 * s, false);
            }
            for (i, v) in values.iter().enumerate() {
                let Some(v) = v.filter(|v| v.is_finite()) else {
                    continue;
                };
                let (x, y) = area.px(xs[i], v);
                if let Some(circle) = PathBuilder::from_circle(x, y, 5.0 * s) {
                    self.pixmap.fill_path(
                        &circle,
                        &paint(GROUPS[group_of(i) % GROUPS.len()], 255),
                        FillRule::Winding,
                        Transform::identity(),
                        None,
                    );
                }
            }
        }
        // The legend: one entry per group.
        let mut x = right;
        for (g, name) in groups.iter().enumerate().rev() {
            let width = self.text(name, x, 34.0 * s, 15.0 * s, INK, Align::Right);
            x -= width + 8.0 * s;
            if let Some(circle) = PathBuilder::from_circle(x, 29.0 * s, 5.0 * s) {
                self.pixmap.fill_path(
                    &circle,
                    &paint(GROUPS[g % GROUPS.len()], 255),
                    FillRule::Winding,
                    Transform::identity(),
                    None,
                );
            }
            x -= 24.0 * s;
        }
    }

    fn sweep_axes(&mut self, area: &Area, name: &str, scale: &XScale, x_name: &str) {
        let s = self.scale;
        let span = area.y.1 - area.y.0;
        self.y_axis(area, name, |v| format_tick(v, span));
        let ticks: Vec<(f64, String)> = match scale {
            XScale::Names(names) => names
                .iter()
                .enumerate()
                .map(|(i, n)| (i as f64, n.clone()))
                .collect(),
            XScale::Log => {
                let (lo, hi) = (area.x.0.floor() as i32, area.x.1.ceil() as i32);
                (lo..=hi)
                    .flat_map(|e| [1.0, 2.0, 5.0].map(|m| (m * 10f64.powi(e)).log10()))
                    .filter(|&x| x >= area.x.0 && x <= area.x.1)
                    .map(|x| {
                        let v = 10f64.powf(x);
                        (x, format!("{}", (v * 1e6).round() / 1e6))
                    })
                    .collect()
            }
            XScale::Linear => {
                let span = area.x.1 - area.x.0;
                nice_ticks(area.x.0, area.x.1, 8)
                    .into_iter()
                    .map(|v| (v, format_tick(v, span)))
                    .collect()
            }
        };
        for (v, label) in ticks {
            let (px, _) = area.px(v, area.y.0);
            self.line(&[(px, area.top), (px, area.bottom)], GRID, 1.0, false);
            self.text(
                &label,
                px,
                area.bottom + 20.0 * s,
                14.0 * s,
                INK,
                Align::Center,
            );
        }
        let log = if matches!(scale, XScale::Log) {
            " (log scale)"
        } else {
            ""
        };
        self.x_title(area, &format!("{x_name}{log}"));
        self.frame(area);
    }
}

/// "Nice" tick positions covering `lo..=hi`: steps of 1, 2 or 5 times a power of ten.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || target == 0 {
        return vec![lo];
    }
    let raw = (hi - lo) / target as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

struct Canvas<'f> {
    pixmap: Pixmap,
    font: FontRef<'f>,
    /// Size of text and strokes relative to a 1200×800 chart.
    scale: f32,
}

/// One plot area: pixel rectangle and the data range it shows.
#[derive(Clone, Copy)]
struct Area {
    left: f32,
    top: f32,
    right: f32,
    bottom: f32,
    x: (f64, f64),
    y: (f64, f64),
}

impl Area {
    fn px(&self, x: f64, y: f64) -> (f32, f32) {
        let fx = ((x - self.x.0) / (self.x.1 - self.x.0)) as f32;
        let fy = ((y - self.y.0) / (self.y.1 - self.y.0)) as f32;
        (
            self.left + fx * (self.right - self.left),
            self.bottom - fy.clamp(-0.05, 1.05) * (self.bottom - self.top),
        )
    }
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Center,
    Right,
}

impl Canvas<'static> {
    /// A white canvas of `w × h` pixels with the interface's font.
    fn new(w: u32, h: u32) -> Result<Self, ChartError> {
        let mut pixmap = Pixmap::new(w, h).ok_or(ChartError::Size(w, h))?;
        pixmap.fill(Color::WHITE);
        let font = FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT)
            .map_err(|e| ChartError::Encode(e.to_string()))?;
        Ok(Self {
            pixmap,
            font,
            scale: (w as f32 / 1200.0).min(h as f32 / 800.0).max(0.4),
        })
    }

    /// The picture drawn. The background is opaque, so premultiplied and straight alpha are
    /// the same bytes.
    fn finish(self) -> Result<image::RgbaImage, ChartError> {
        let (w, h) = (self.pixmap.width(), self.pixmap.height());
        image::RgbaImage::from_raw(w, h, self.pixmap.take()).ok_or(ChartError::Size(w, h))
    }
}

impl Canvas<'_> {
    fn draw(&mut self, epochs: &[EpochMetrics], options: &ChartOptions) {
        let s = self.scale;
        let (w, h) = (self.pixmap.width() as f32, self.pixmap.height() as f32);
        let best = options
            .early_stopping
            .unwrap_or_default()
            .best(epochs)
            .map(|m| (m.epoch, m.val_loss));
        let onset = curves::overfitting_onset(epochs, options.onset_k);
        let ghost = options
            .early_stopping
            .as_ref()
            .and_then(|rule| rule.stop_epoch(epochs));
        let last_epoch = epochs.last().map_or(1, |m| m.epoch);
        let x_max = last_epoch.max(options.planned_epochs).max(2) as f64;
        let x = (0.0, x_max);

        let mut y = 34.0 * s;
        if !options.title.is_empty() {
            self.text(&options.title, 60.0 * s, y, 22.0 * s, INK, Align::Left);
        }
        y += 14.0 * s;
        // Legend.
        let mut lx = 60.0 * s;
        let ly = y + 10.0 * s;
        for (label, color, dash) in [
            ("training", TRAIN, false),
            ("validation", VAL, true),
            ("best epoch", BEST, false),
            ("overfitting onset", ONSET, false),
            ("early stop", GHOST, true),
        ] {
            self.line(&[(lx, ly), (lx + 28.0 * s, ly)], color, 2.5 * s, dash);
            lx += 34.0 * s;
            lx += self.text(label, lx, ly + 5.0 * s, 15.0 * s, INK, Align::Left) + 22.0 * s;
        }
        let plots_top = ly + 22.0 * s;
        let (left, right) = (80.0 * s, w - 30.0 * s);
        let bottom_margin = 50.0 * s;
        let gap_between = 44.0 * s;
        let avail = h - plots_top - bottom_margin - gap_between;
        let loss_h = avail * 0.62;

        // Loss panel.
        let finite = |v: f64| v.is_finite().then_some(v);
        let losses: Vec<f64> = epochs
            .iter()
            .flat_map(|m| [finite(m.train_loss), finite(m.val_loss)])
            .flatten()
            .collect();
        let (lo, hi) = padded_range(&losses, 0.0);
        let loss_area = Area {
            left,
            top: plots_top + 18.0 * s,
            right,
            bottom: plots_top + loss_h,
            x,
            y: (lo, hi),
        };
        self.axes(&loss_area, "loss", |v| format_tick(v, hi - lo), false);
        self.gap_fill(&loss_area, epochs);
        let markers = [
            (best.map(|(e, _)| e), BEST, false),
            (onset, ONSET, false),
            (ghost, GHOST, true),
        ];
        for (epoch, color, dash) in markers {
            if let Some(e) = epoch {
                self.vline(&loss_area, e as f64, color, dash);
            }
        }
        self.series(&loss_area, epochs, |m| m.train_loss, TRAIN, false);
        self.series(&loss_area, epochs, |m| m.val_loss, VAL, true);
        // Marker captions, stacked at the top of the loss area.
        let mut caption_y = loss_area.top + 18.0 * s;
        let captions = [
            best.map(|(e, l)| (e, format!("best epoch {e}: validation loss {l:.4}"), BEST)),
            onset.map(|e| (e, format!("overfitting from epoch {e}"), ONSET)),
            ghost.map(|e| {
                let rule = options.early_stopping.unwrap_or_default();
                let caption = if rule.enabled {
                    format!("early stop (patience {}) at epoch {e}", rule.patience)
                } else {
                    format!(
                        "early stopping (patience {}) would stop at epoch {e}",
                        rule.patience
                    )
                };
                (e, caption, GHOST)
            }),
        ];
        for (epoch, caption, color) in captions.into_iter().flatten() {
            let (px, _) = loss_area.px(epoch as f64, lo);
            let width = self.text_width(&caption, 15.0 * s);
            let (tx, align) = if px + 6.0 * s + width < right {
                (px + 6.0 * s, Align::Left)
            } else {
                (px - 6.0 * s, Align::Right)
            };
            let box_left = match align {
                Align::Right => tx - width,
                _ => tx,
            };
            if let Some(rect) = Rect::from_xywh(
                box_left - 3.0 * s,
                caption_y - 14.0 * s,
                width + 6.0 * s,
                19.0 * s,
            ) {
                self.pixmap.fill_rect(
                    rect,
                    &paint([255, 255, 255], 215),
                    Transform::identity(),
                    None,
                );
            }
            self.text(&caption, tx, caption_y, 15.0 * s, color, align);
            caption_y += 20.0 * s;
        }

        // Accuracy panel.
        let accs: Vec<f64> = epochs
            .iter()
            .flat_map(|m| [finite(m.train_acc), finite(m.val_acc)])
            .flatten()
            .map(|a| a * 100.0)
            .collect();
        let (alo, _) = padded_range(&accs, 0.0);
        let acc_area = Area {
            left,
            top: loss_area.bottom + gap_between + 18.0 * s,
            right,
            bottom: h - bottom_margin,
            x,
            y: ((alo / 10.0).floor() * 10.0, 100.0),
        };
        self.axes(&acc_area, "accuracy (%)", |v| format!("{v:.0}"), true);
        for (epoch, color, dash) in markers {
            if let Some(e) = epoch {
                self.vline(&acc_area, e as f64, color, dash);
            }
        }
        self.series(&acc_area, epochs, |m| m.train_acc * 100.0, TRAIN, false);
        self.series(&acc_area, epochs, |m| m.val_acc * 100.0, VAL, true);
    }

    /// Frame, grid, tick labels, axis name; x labels only when `x_labels`.
    fn axes(&mut self, area: &Area, name: &str, label: impl Fn(f64) -> String, x_labels: bool) {
        let s = self.scale;
        self.y_axis(area, name, label);
        let x_ticks: Vec<f64> = nice_ticks(area.x.0, area.x.1, 10)
            .into_iter()
            .filter(|v| v.fract() == 0.0)
            .collect();
        for v in x_ticks {
            let (px, _) = area.px(v, area.y.0);
            self.line(&[(px, area.top), (px, area.bottom)], GRID, 1.0, false);
            if x_labels {
                self.text(
                    &format!("{v:.0}"),
                    px,
                    area.bottom + 20.0 * s,
                    14.0 * s,
                    INK,
                    Align::Center,
                );
            }
        }
        if x_labels {
            self.x_title(area, "epoch");
        }
        self.frame(area);
    }

    /// A plot area's name above it, and its horizontal grid lines with their labels.
    fn y_axis(&mut self, area: &Area, name: &str, label: impl Fn(f64) -> String) {
        let s = self.scale;
        self.text(
            name,
            area.left,
            area.top - 8.0 * s,
            16.0 * s,
            INK,
            Align::Left,
        );
        for v in nice_ticks(area.y.0, area.y.1, 5) {
            let (_, py) = area.px(area.x.0, v);
            self.line(&[(area.left, py), (area.right, py)], GRID, 1.0, false);
            self.text(
                &label(v),
                area.left - 8.0 * s,
                py + 5.0 * s,
                14.0 * s,
                INK,
                Align::Right,
            );
        }
    }

    /// The x axis's name, centred under a plot area.
    fn x_title(&mut self, area: &Area, title: &str) {
        let s = self.scale;
        let cx = (area.left + area.right) / 2.0;
        self.text(
            title,
            cx,
            area.bottom + 42.0 * s,
            15.0 * s,
            INK,
            Align::Center,
        );
    }

    /// A thin grey frame around a plot area.
    fn frame(&mut self, area: &Area) {
        let frame = [
            (area.left, area.top),
            (area.right, area.top),
            (area.right, area.bottom),
            (area.left, area.bottom),
            (area.left, area.top),
        ];
        self.line(&frame, [185, 185, 185], 1.0, false);
    }

    /// The generalisation gap: the area between the two loss curves, shaded.
    fn gap_fill(&mut self, area: &Area, epochs: &[EpochMetrics]) {
        let points: Vec<&EpochMetrics> = epochs
            .iter()
            .filter(|m| m.train_loss.is_finite() && m.val_loss.is_finite())
            .collect();
        if points.len() < 2 {
            return;
        }
        let mut pb = PathBuilder::new();
        for (i, m) in points.iter().enumerate() {
            let (px, py) = area.px(m.epoch as f64, m.val_loss);
            if i == 0 {
                pb.move_to(px, py);
            } else {
                pb.line_to(px, py);
            }
        }
        for m in points.iter().rev() {
            let (px, py) = area.px(m.epoch as f64, m.train_loss);
            pb.line_to(px, py);
        }
        pb.close();
        if let Some(path) = pb.finish() {
            let paint = paint([VAL[0], VAL[1], VAL[2]], 45);
            self.pixmap.fill_path(
                &path,
                &paint,
                FillRule::EvenOdd,
                Transform::identity(),
                None,
            );
        }
    }

    fn vline(&mut self, area: &Area, x: f64, color: [u8; 3], dash: bool) {
        let (px, _) = area.px(x, area.y.0);
        self.line(
            &[(px, area.top), (px, area.bottom)],
            color,
            2.0 * self.scale,
            dash,
        );
    }

    /// One curve: a line through the finite points (broken at non-finite ones) and a dot per
    /// epoch when there are few enough to tell apart.
    fn series(
        &mut self,
        area: &Area,
        epochs: &[EpochMetrics],
        value: impl Fn(&EpochMetrics) -> f64,
        color: [u8; 3],
        dash: bool,
    ) {
        let s = self.scale;
        let mut run: Vec<(f32, f32)> = Vec::new();
        let mut dots = Vec::new();
        for m in epochs {
            let v = value(m);
            if v.is_finite() {
                let p = area.px(m.epoch as f64, v);
                run.push(p);
                dots.push(p);
            } else {
                self.line(&run, color, 2.5 * s, dash);
                run.clear();
            }
        }
        self.line(&run, color, 2.5 * s, dash);
        if dots.len() <= 80 {
            for (x, y) in dots {
                if let Some(circle) = PathBuilder::from_circle(x, y, 3.5 * s) {
                    self.pixmap.fill_path(
                        &circle,
                        &paint(color, 255),
                        FillRule::Winding,
                        Transform::identity(),
                        None,
                    );
                }
            }
        }
    }

    fn line(&mut self, points: &[(f32, f32)], color: [u8; 3], width: f32, dash: bool) {
        if points.len() < 2 {
            return;
        }
        let mut pb = PathBuilder::new();
        pb.move_to(points[0].0, points[0].1);
        for &(x, y) in &points[1..] {
            pb.line_to(x, y);
        }
        let Some(path) = pb.finish() else { return };
        let stroke = Stroke {
            width,
            line_cap: LineCap::Round,
            dash: if dash {
                StrokeDash::new(vec![8.0 * self.scale, 6.0 * self.scale], 0.0)
            } else {
                None
            },
            ..Stroke::default()
        };
        self.pixmap.stroke_path(
            &path,
            &paint(color, 255),
            &stroke,
            Transform::identity(),
            None,
        );
    }

    fn text_width(&self, text: &str, size: f32) -> f32 {
        let font = self.font.as_scaled(PxScale::from(size));
        let mut width = 0.0;
        let mut previous = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = previous {
                width += font.kern(p, id);
            }
            width += font.h_advance(id);
            previous = Some(id);
        }
        width
    }

    /// Draws `text` with its baseline at `y`; returns its width.
    fn text(&mut self, text: &str, x: f32, y: f32, size: f32, color: [u8; 3], align: Align) -> f32 {
        let width = self.text_width(text, size);
        let mut cx = match align {
            Align::Left => x,
            Align::Center => x - width / 2.0,
            Align::Right => x - width,
        };
        let scale = PxScale::from(size);
        let scaled = self.font.as_scaled(scale);
        let (pw, ph) = (self.pixmap.width() as i32, self.pixmap.height() as i32);
        let mut previous = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = previous {
                cx += scaled.kern(p, id);
            }
            previous = Some(id);
            let glyph = id.with_scale_and_position(scale, point(cx, y));
            cx += scaled.h_advance(id);
            let Some(outline) = self.font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            let pixels = self.pixmap.pixels_mut();
            outline.draw(|gx, gy, coverage| {
                let px = bounds.min.x as i32 + gx as i32;
                let py = bounds.min.y as i32 + gy as i32;
                if px < 0 || py < 0 || px >= pw || py >= ph {
                    return;
                }
                let pixel = &mut pixels[(py * pw + px) as usize];
                let a = coverage.clamp(0.0, 1.0);
                let mix = |old: u8, new: u8| {
                    (f32::from(old) * (1.0 - a) + f32::from(new) * a).round() as u8
                };
                let blended = tiny_skia::PremultipliedColorU8::from_rgba(
                    mix(pixel.red(), color[0]),
                    mix(pixel.green(), color[1]),
                    mix(pixel.blue(), color[2]),
                    255,
                );
                if let Some(b) = blended {
                    *pixel = b;
                }
            });
        }
        width
    }
}

fn paint(color: [u8; 3], alpha: u8) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color_rgba8(color[0], color[1], color[2], alpha);
    paint.anti_alias = true;
    paint
}

/// The range of `values` with 5 % padding; `fallback` centres an empty or flat range.
fn padded_range(values: &[f64], fallback: f64) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !(lo.is_finite() && hi.is_finite()) {
        return (fallback, fallback + 1.0);
    }
    let span = (hi - lo).max(hi.abs() * 0.05).max(1e-6);
    (
        (lo - 0.05 * span).max(if lo >= 0.0 { 0.0 } else { f64::MIN }),
        hi + 0.05 * span,
    )
}

fn format_tick(v: f64, span: f64) -> String {
    let decimals = if span >= 5.0 {
        0
    } else if span >= 0.5 {
        1
    } else if span >= 0.05 {
        2
    } else {
        3
    };
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: usize, train_loss: f64, val_loss: f64) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_loss,
            val_loss,
            train_acc: 1.0 - train_loss / 3.0,
            val_acc: 1.0 - val_loss / 3.0,
            lr: 1e-3,
            train_secs: 1.0,
            val_secs: 0.1,
        }
    }

    #[test]
    fn a_sweep_chart_puts_each_run_at_its_value_in_its_groups_colour() {
        let plot = SweepPlot {
            title: "sweep".into(),
            x_name: "dataset.train_size.count".into(),
            x: [10.0, 100.0, 1000.0, 10.0, 100.0, 1000.0]
                .map(SweepX::Number)
                .to_vec(),
            best_val_loss: [2.0, 1.0, 0.5, 2.2, 1.4, 0.9].map(Some).to_vec(),
            final_gap: [1.5, 0.6, 0.1, 1.9, 1.0, 0.4].map(Some).to_vec(),
            group: ["cnn", "cnn", "cnn", "resnet", "resnet", "resnet"]
                .map(String::from)
                .to_vec(),
        };
        let png = render_sweep_png(&plot, 900, 600).unwrap();
        let image = image::load_from_memory(&png).unwrap().to_rgb8();
        let count = |c: [u8; 3]| {
            image
                .pixels()
                .filter(|p| p.0.iter().zip(c).all(|(a, b)| a.abs_diff(b) < 8))
                .count()
        };
        // Both groups drawn (dots and lines) in their own colours.
        assert!(count(GROUPS[0]) > 200, "{}", count(GROUPS[0]));
        assert!(count(GROUPS[1]) > 200, "{}", count(GROUPS[1]));
        // A log axis for values spanning 100×: the middle value sits mid-way.
        assert!(matches!(XScale::of(&plot.x), XScale::Log));
        assert!(matches!(
            XScale::of(&[SweepX::Name("adam".into()), SweepX::Number(1.0)]),
            XScale::Names(_)
        ));
        let empty = SweepPlot {
            x: vec![SweepX::Number(1.0)],
            best_val_loss: vec![None],
            final_gap: vec![None],
            ..SweepPlot::default()
        };
        assert!(matches!(
            render_sweep_png(&empty, 900, 600),
            Err(ChartError::Empty)
        ));
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            nice_ticks(0.0, 10.0, 5),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        let t = nice_ticks(0.23, 2.41, 5);
        assert_eq!(t.first().copied(), Some(0.5));
        assert!(t.iter().all(|v| (v * 2.0).fract().abs() < 1e-9), "{t:?}");
        assert_eq!(nice_ticks(1.0, 1.0, 5), vec![1.0]);
        assert_eq!(nice_ticks(f64::NAN, 1.0, 5).len(), 1);
    }

    #[test]
    fn chart_draws_both_curves_and_the_markers_in_their_colours() {
        // Validation loss bottoms out at epoch 4 (best), wobbles, and rises from epoch 6 (onset)
        // while training loss falls; patience 3 stops at epoch 7.
        let val = [2.0, 1.6, 1.3, 1.1, 1.15, 1.12, 1.2, 1.3, 1.45, 1.6];
        let epochs: Vec<_> = (1..=10)
            .map(|e| epoch(e, 2.0 / e as f64, val[e - 1]))
            .collect();
        assert_eq!(EarlyStopping::default().best_epoch(&epochs), Some(4));
        assert_eq!(curves::overfitting_onset(&epochs, 3), Some(6));
        let options = ChartOptions {
            title: "noise · simple-cnn".to_owned(),
            early_stopping: Some(EarlyStopping {
                patience: 3,
                ..EarlyStopping::default()
            }),
            planned_epochs: 10,
            ..ChartOptions::default()
        };
        let image = render(&epochs, &options).unwrap();
        assert_eq!(image.dimensions(), (1200, 800));
        let count = |rgb: [u8; 3]| {
            image
                .pixels()
                .filter(|p| p.0[..3].iter().zip(rgb).all(|(&a, b)| a.abs_diff(b) <= 12))
                .count()
        };
        for (name, rgb) in [
            ("training", TRAIN),
            ("validation", VAL),
            ("best", BEST),
            ("onset", ONSET),
            ("early stop", GHOST),
        ] {
            assert!(count(rgb) > 300, "{name}: {} pixels", count(rgb));
        }
        let png = render_png(&epochs, &options).unwrap();
        let decoded = image::load_from_memory(&png).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (1200, 800));
    }

    #[test]
    fn odd_inputs_give_errors_or_pictures_never_panics() {
        assert!(matches!(
            render(&[], &ChartOptions::default()),
            Err(ChartError::Empty)
        ));
        let tiny = ChartOptions {
            width: 10,
            ..ChartOptions::default()
        };
        assert!(matches!(
            render(&[epoch(1, 1.0, 1.0)], &tiny),
            Err(ChartError::Size(10, 800))
        ));
        // A single epoch, a diverged epoch and a flat curve still draw.
        let epochs = [
            epoch(1, 1.0, 1.0),
            epoch(2, f64::NAN, f64::INFINITY),
            epoch(3, 1.0, 1.0),
        ];
        let small = ChartOptions {
            width: 320,
            height: 240,
            ..ChartOptions::default()
        };
        render(&epochs[..1], &small).unwrap();
        render(&epochs, &small).unwrap();
    }
}
