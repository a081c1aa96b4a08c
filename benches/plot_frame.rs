//! Frame time of the main window with a long run on the plot: 100,000 per-step losses and 200
//! epochs, drawn as eframe would (layout, then tessellation into meshes). The goal is < 16 ms per
//! frame on the CPU side, so the window stays smooth however long a run gets.
//!
//! `cargo bench --bench plot_frame`

use std::time::{Duration, Instant};

use cnn_workbench::app::WorkbenchApp;
use cnn_workbench::app::state::RunView;
use cnn_workbench::train::message::{EpochMetrics, Event, RunInfo};

const STEPS_PER_EPOCH: usize = 500;
const EPOCHS: usize = 200;

fn main() {
    let runs = std::env::temp_dir().join(format!("cnn-workbench-bench-{}", std::process::id()));
    let ctx = egui::Context::default();
    let mut app = WorkbenchApp::new(&ctx, None, runs.clone());
    app.run = RunView::starting();
    app.run.apply(Event::Started(RunInfo {
        epochs: EPOCHS,
        steps_per_epoch: STEPS_PER_EPOCH,
        train_samples: 32_000,
        val_samples: 8_000,
        num_params: 31_530,
        device: "CPU (flex)".into(),
        run_dir: None,
        class_names: Vec::new(),
        compiling: false,
    }));
    for epoch in 1..=EPOCHS {
        for step in 1..=STEPS_PER_EPOCH {
            let t = (epoch - 1) as f64 + step as f64 / STEPS_PER_EPOCH as f64;
            // A falling loss with batch-to-batch noise, as real per-step losses look.
            let noise = ((step * 7919 + epoch * 104_729) % 1000) as f64 / 1000.0 - 0.5;
            app.run.apply(Event::Step {
                epoch,
                step,
                loss: 2.3 / (1.0 + t * 0.1) + 0.2 * noise,
                lr: 1e-3,
                samples_per_sec: 5000.0,
            });
        }
        let e = epoch as f64;
        app.run.apply(Event::Epoch(EpochMetrics {
            epoch,
            train_loss: 2.3 / (1.0 + e * 0.1),
            val_loss: 1.0 + (e - 40.0).powi(2) / 4000.0,
            train_acc: 1.0 - 0.9 / (1.0 + e * 0.1),
            val_acc: 0.8,
            lr: 1e-3,
            train_secs: 1.0,
            val_secs: 0.1,
        }));
    }
    println!(
        "plot holds {} step points and {} epochs",
        app.run.steps.len(),
        app.run.epochs.len()
    );

    let input = |time: f64| egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1280.0, 800.0),
        )),
        time: Some(time),
        ..egui::RawInput::default()
    };
    let mut frame = |time: f64| {
        let t0 = Instant::now();
        let output = ctx.run_ui(input(time), |ui| {
            app.poll();
            app.draw(ui);
        });
        let layout = t0.elapsed();
        let primitives = ctx.tessellate(output.shapes, output.pixels_per_point);
        let vertices: usize = primitives
            .iter()
            .map(|p| match &p.primitive {
                egui::epaint::Primitive::Mesh(mesh) => mesh.vertices.len(),
                egui::epaint::Primitive::Callback(_) => 0,
            })
            .sum();
        (layout, t0.elapsed(), vertices)
    };
    // Warm-up: fonts, caches.
    for i in 0..5 {
        frame(f64::from(i) / 60.0);
    }
    let mut layout: Vec<Duration> = Vec::new();
    let mut total: Vec<Duration> = Vec::new();
    let mut vertices = 0;
    for i in 0..60 {
        let (l, t, p) = frame(1.0 + f64::from(i) / 60.0);
        layout.push(l);
        total.push(t);
        vertices = p;
    }
    layout.sort();
    total.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "frame (layout + tessellation, {vertices} vertices): median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        ms(total[total.len() / 2]),
        ms(total[total.len() * 95 / 100]),
        ms(total[total.len() - 1])
    );
    println!(
        "layout alone: median {:.2} ms; goal < 16 ms per frame: {}",
        ms(layout[layout.len() / 2]),
        if ms(total[total.len() * 95 / 100]) < 16.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    drop(app);
    std::fs::remove_dir_all(&runs).ok();
}
