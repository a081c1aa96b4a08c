//! Criterion benchmarks of one training step per architecture (forward, cross-entropy, backward,
//! Adam update, loss read back; batch 64 on the CPU backend) and of the augmentation pipeline
//! (the seed's snippet 2: flip + affine, per image and per prepared batch of 64).
//!
//! `cargo bench --bench train_step` (criterion prints samples/s as "thrpt");
//! `cargo bench --bench train_step -- deeper` runs the matching ones only.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot run should stop

use std::hint::black_box;
use std::time::Duration;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use cnn_workbench::augment::batch::{BatchKey, PixelNorm, prepare_batch};
use cnn_workbench::augment::pipeline::{SampleKey, augment_image};
use cnn_workbench::augment::{ImageShape, Preset};
use cnn_workbench::data::{self, DatasetSource, InputFormat, Part};
use cnn_workbench::experiment::OptimizerConfig;
use cnn_workbench::model::{
    CnnConfig, InputShape, LeNet5Config, MlpConfig, ModelConfig, ResNetSmallConfig, SimpleCnnConfig,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BATCH: usize = 64;

fn train_steps(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let gray = InputShape {
        channels: 1,
        height: 28,
        width: 28,
        classes: 10,
    };
    let rgb = InputShape {
        channels: 3,
        height: 32,
        width: 32,
        classes: 10,
    };
    let models = [
        (
            "simple-cnn",
            ModelConfig::SimpleCnn(SimpleCnnConfig::default()),
            gray,
        ),
        ("mlp", ModelConfig::Mlp(MlpConfig::default()), gray),
        ("lenet5", ModelConfig::LeNet5(LeNet5Config::default()), gray),
        ("cnn", ModelConfig::Cnn(CnnConfig::default()), gray),
        ("deeper-cnn", ModelConfig::Cnn(CnnConfig::deeper()), gray),
        (
            "resnet-small-32x32x3",
            ModelConfig::ResNetSmall(ResNetSmallConfig::default()),
            rgb,
        ),
    ];
    let mut group = c.benchmark_group("train_step");
    group
        .throughput(Throughput::Elements(BATCH as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    for (name, config, input) in models {
        let mut model = Some(config.init(input, &device, 1).unwrap());
        let mut optimizer = OptimizerConfig::Adam.init(0.0, None);
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let images = Tensor::<4>::random(
            [BATCH, input.channels, input.height, input.width],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let labels = Tensor::<1, Int>::from_data(
            TensorData::new((0..BATCH as i64).map(|i| i % 10).collect(), [BATCH]),
            &device,
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                let net = model.take().unwrap();
                let logits = net.forward(images.clone());
                let loss = loss_fn.forward(logits, labels.clone());
                let value: f32 = loss.clone().into_scalar();
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                model = Some(optimizer.step(1e-3, net, grads));
                black_box(value)
            });
        });
    }
    group.finish();
}

fn augmentation(c: &mut Criterion) {
    let seed2 = Preset::Seed2.config();
    let fashion = data::load(&DatasetSource::Embedded, InputFormat::default()).unwrap();
    let shape = ImageShape::of(&fashion);
    let images: Vec<Vec<u8>> = (0..512)
        .map(|i| fashion.image(Part::Train, i).to_vec())
        .collect();
    let mut group = c.benchmark_group("augment_seed2_28x28");
    group.throughput(Throughput::Elements(1));
    let mut n = 0u64;
    group.bench_function("image", |b| {
        b.iter(|| {
            n += 1;
            let key = SampleKey {
                seed: 1,
                epoch: n / 512,
                sample: n,
            };
            black_box(augment_image(
                &seed2,
                shape,
                &images[(n % 512) as usize],
                key,
            ))
        });
    });
    group.throughput(Throughput::Elements(BATCH as u64));
    let norm = PixelNorm::new(&data::ChannelNorm {
        mean: vec![73.0],
        std: vec![90.0],
    });
    let positions: Vec<u32> = (0..BATCH as u32).collect();
    let mut epoch = 0u64;
    group.bench_function("batch_of_64_prepared", |b| {
        b.iter(|| {
            epoch += 1;
            let key = BatchKey {
                seed: 1,
                epoch,
                batch: 0,
            };
            black_box(prepare_batch(
                &seed2,
                &cnn_workbench::augment::crop::CropConfig::default(),
                &fashion,
                Part::Train,
                &positions,
                &norm,
                key,
                false,
            ))
        });
    });
    group.finish();
}

criterion_group!(benches, train_steps, augmentation);
criterion_main!(benches);
