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
    let mut pixmap = Pixmap::new(w, h).ok_or(ChartError::Size(w, h))?;
    pixmap.fill(Color::WHITE);
    let font = FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT)
        .map_err(|e| ChartError::Encode(e.to_string()))?;
    let mut canvas = Canvas {
        pixmap,
        font,
        scale: (w as f32 / 1200.0).min(h as f32 / 800.0).max(0.4),
    };
    canvas.draw(epochs, options);
    let pixmap = canvas.pixmap;
    // The background is opaque, so premultiplied and straight alpha are the same bytes.
    image::RgbaImage::from_raw(w, h, pixmap.take()).ok_or(ChartError::Size(w, h))
}

/// Renders the curves and encodes them as PNG.
pub fn render_png(epochs: &[EpochMetrics], options: &ChartOptions) -> Result<Vec<u8>, ChartError> {
    let image = render(epochs, options)?;
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgba8(image)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| ChartError::Encode(e.to_string()))?;
    Ok(bytes)
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
            let cx = (area.left + area.right) / 2.0;
            self.text(
                "epoch",
                cx,
                area.bottom + 42.0 * s,
                15.0 * s,
                INK,
                Align::Center,
            );
        }
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
