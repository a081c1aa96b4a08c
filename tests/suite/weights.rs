//! Pretrained weights: torchvision-layout files load and reproduce PyTorch's logits, saved
//! weights come back bit for bit, files that do not fit are refused with their tensors listed,
//! heads and input channels adapt, and frozen parameters stay put while the head trains.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use burn::optim::GradientsParams;
use burn::prelude::*;
use burn_store::pytorch_reader::FileFormat;
use burn_store::{ModuleStore, SafetensorsStore, bridge};
use cnn_workbench::experiment::OptimizerConfig;
use cnn_workbench::model::weights::{self, WeightsError};
use cnn_workbench::model::{
    ChannelAdapt, CnnConfig, Freeze, InputShape, Model, ModelConfig, ResNet18Config,
    ResNet34Config, ResNet50Config, ResNetSmallConfig, TransferConfig,
};

use crate::common;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/resnet")
        .join(name)
}

/// The fixture's input `[2, 3, 40, 40]` and PyTorch's logits `[2, 5]`.
fn reference() -> (Vec<f32>, Vec<f32>) {
    reference_of("resnet18_w4")
}

/// Input and PyTorch's logits stored beside the weights `stem`.safetensors.
fn reference_of(stem: &str) -> (Vec<f32>, Vec<f32>) {
    let mut store = SafetensorsStore::from_file(fixture(&format!("{stem}_io.safetensors")));
    let tensors = store.get_all_tensors().unwrap();
    let read = |name: &str| {
        bridge::to_data(&tensors[name])
            .unwrap()
            .try_to_vec::<f32>()
            .unwrap()
    };
    (read("input"), read("logits"))
}

const FIXTURE_INPUT: InputShape = InputShape {
    channels: 3,
    height: 40,
    width: 40,
    classes: 5,
};

fn narrow_resnet18() -> ModelConfig {
    ModelConfig::ResNet18(ResNet18Config { width: 4 })
}

/// The width-4 ResNet-34 and ResNet-50 of the fixtures, by file stem.
fn narrow_deep_resnets() -> [(&'static str, ModelConfig); 2] {
    [
        (
            "resnet34_w4",
            ModelConfig::ResNet34(ResNet34Config { width: 4 }),
        ),
        (
            "resnet50_w4",
            ModelConfig::ResNet50(ResNet50Config { width: 4 }),
        ),
    ]
}

fn load(file: &str, transfer: &TransferConfig, input: InputShape) -> Result<Model, String> {
    load_as(&narrow_resnet18(), file, transfer, input)
}

fn load_as(
    model: &ModelConfig,
    file: &str,
    transfer: &TransferConfig,
    input: InputShape,
) -> Result<Model, String> {
    TransferConfig {
        weights: Some(fixture(file)),
        ..transfer.clone()
    }
    .build(model, input, &Device::flex(), 1)
    .map_err(|e| e.to_string())
}

fn logits(model: &Model, values: Vec<f32>, shape: [usize; 4]) -> Vec<f32> {
    let device = Device::flex();
    let x = Tensor::<4>::from_data(TensorData::new(values, shape), &device);
    model
        .valid()
        .forward(x)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

fn assert_close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "logit {i}: {x} vs {y}");
    }
}

#[test]
fn torchvision_layout_files_reproduce_pytorch_logits() {
    let (input, expected) = reference();
    let keep_head = TransferConfig {
        replace_head: false,
        ..TransferConfig::default()
    };
    for file in ["resnet18_w4.safetensors", "resnet18_w4.pth"] {
        let model = load(file, &keep_head, FIXTURE_INPUT).unwrap();
        let got = logits(&model, input.clone(), [2, 3, 40, 40]);
        assert_close(&got, &expected, 1e-4);
    }
}

/// ResNet-34 (basic blocks) and ResNet-50 (bottleneck blocks, conv3/bn3) built from
/// torchvision's own classes load by name and give PyTorch's eval-mode logits; every tensor,
/// BatchNorm running statistics included, comes back as the file holds it.
#[test]
fn torchvision_resnet34_and_resnet50_reproduce_pytorch_logits() {
    let keep_head = TransferConfig {
        replace_head: false,
        ..TransferConfig::default()
    };
    for (stem, config) in narrow_deep_resnets() {
        let file = format!("{stem}.safetensors");
        let info = weights::inspect(&fixture(&file)).unwrap();
        let label = config.label();
        assert!(
            label.starts_with(info.architecture.as_deref().unwrap()),
            "{label}: {info:?}"
        );
        let model = load_as(&config, &file, &keep_head, FIXTURE_INPUT).unwrap();
        let (input, expected) = reference_of(stem);
        let got = logits(&model, input, [2, 3, 40, 40]);
        let diff = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        println!("{stem}: largest logit difference from PyTorch {diff:e}");
        assert_close(&got, &expected, 1e-4);
        let mut loaded = weights::tensor_values(model.net()).unwrap();
        let mut stored = weights::read_values(&fixture(&file)).unwrap();
        assert!(
            stored.iter().any(|t| t.name == "layer1.0.bn3.running_var")
                == matches!(config, ModelConfig::ResNet50(_)),
            "{stem}"
        );
        loaded.sort_by(|a, b| a.name.cmp(&b.name));
        stored.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(loaded.len(), stored.len(), "{stem}");
        assert!(
            loaded == stored,
            "{stem}: the loaded tensors differ from the file's"
        );
    }
}

/// A ResNet-50 file holds every name of a ResNet-34 (and a ResNet-34 file every name of a
/// ResNet-18), so names alone would half-fit: the depths and block kinds they show refuse the
/// file as another architecture, naming the model to choose.
#[test]
fn resnets_of_another_depth_are_refused_as_another_architecture() {
    let narrow18 = ("resnet18_w4", narrow_resnet18());
    let [narrow34, narrow50] = narrow_deep_resnets();
    let all = [narrow18, narrow34, narrow50];
    for (file_stem, file_config) in &all {
        let file = format!("{file_stem}.safetensors");
        let holds = file_config.label().trim_end_matches(" (torchvision)");
        for (_, model) in all.iter().filter(|(stem, _)| stem != file_stem) {
            for replace_head in [false, true] {
                let transfer = TransferConfig {
                    replace_head,
                    ..TransferConfig::default()
                };
                let err = load_as(model, &file, &transfer, FIXTURE_INPUT).unwrap_err();
                let wanted = format!("holds {holds}, not {}: ", model.label());
                assert!(err.contains(&wanted), "{wanted} | {err}");
                assert!(
                    err.contains(&format!(
                        "choose the model {} for this file",
                        file_config.short_name()
                    )),
                    "{err}"
                );
                assert!(
                    err.contains("missing from the file")
                        || err.contains("in the file but not in the model"),
                    "the tensors that differ are listed: {err}"
                );
            }
        }
    }
}

/// PyTorch's legacy format (before 1.6), written by make_legacy_fixture.py as a training
/// checkpoint: the state dict nested under `state_dict`, every name prefixed with DataParallel's
/// `module.`, the classifier stored as float64, optimizer state beside it.
#[test]
fn legacy_pytorch_checkpoints_load_like_the_zip_format() {
    let format = |name: &str| {
        burn_store::pytorch_reader::PytorchReader::new(fixture(name))
            .unwrap()
            .metadata()
            .format_type
            .clone()
    };
    assert_eq!(format("resnet18_w4_legacy.pth"), FileFormat::Legacy);
    assert_eq!(format("resnet18_w4.pth"), FileFormat::Zip);
    let legacy = weights::read_values(&fixture("resnet18_w4_legacy.pth")).unwrap();
    let zip = weights::read_values(&fixture("resnet18_w4.pth")).unwrap();
    let safetensors = weights::read_values(&fixture("resnet18_w4.safetensors")).unwrap();
    assert_eq!(
        legacy.len(),
        102,
        "num_batches_tracked and the optimizer are left out"
    );
    assert_eq!(legacy, zip);
    assert_eq!(legacy, safetensors);
    let info = weights::inspect(&fixture("resnet18_w4_legacy.pth")).unwrap();
    assert_eq!(info.architecture.as_deref(), Some("ResNet-18"));
    assert_eq!((info.input_channels, info.classes), (Some(3), Some(5)));

    let (input, expected) = reference();
    let keep_head = TransferConfig {
        replace_head: false,
        ..TransferConfig::default()
    };
    let model = load("resnet18_w4_legacy.pth", &keep_head, FIXTURE_INPUT).unwrap();
    assert_close(&logits(&model, input, [2, 3, 40, 40]), &expected, 1e-4);
}

#[test]
fn pth_and_safetensors_hold_the_same_tensors_running_statistics_included() {
    let keep_head = TransferConfig {
        replace_head: false,
        ..TransferConfig::default()
    };
    let a = load("resnet18_w4.safetensors", &keep_head, FIXTURE_INPUT).unwrap();
    let b = load("resnet18_w4.pth", &keep_head, FIXTURE_INPUT).unwrap();
    let a = weights::tensor_values(a.net()).unwrap();
    let b = weights::tensor_values(b.net()).unwrap();
    assert_eq!(a, b);
    let mean = a
        .iter()
        .find(|t| t.name == "layer2.0.downsample.1.running_mean")
        .unwrap();
    assert!(
        mean.values.iter().any(|&v| v != 0.0),
        "running statistics were loaded"
    );
}

#[test]
fn saving_and_loading_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let input = InputShape {
        channels: 1,
        height: 28,
        width: 28,
        classes: 10,
    };
    for config in [
        ModelConfig::ResNetSmall(ResNetSmallConfig {
            blocks_per_stage: 1,
            width: 8,
        }),
        ModelConfig::Cnn(CnnConfig::default()),
        ModelConfig::default(),
    ] {
        let path = dir
            .path()
            .join(format!("{}.safetensors", config.short_name()));
        let original = config.init(input, &device, 7).unwrap();
        weights::save(original.net(), &config, &path).unwrap();
        assert_eq!(weights::read_model_config(&path), Some(config.clone()));
        let loaded = TransferConfig {
            weights: Some(path),
            replace_head: false,
            ..TransferConfig::default()
        }
        .build(&config, input, &device, 99)
        .unwrap();
        let a = weights::tensor_values(original.net()).unwrap();
        let b = weights::tensor_values(loaded.net()).unwrap();
        let bits = |t: &[weights::TensorValues]| -> Vec<(String, Vec<u32>)> {
            t.iter()
                .map(|t| {
                    (
                        t.name.clone(),
                        t.values.iter().map(|x| x.to_bits()).collect(),
                    )
                })
                .collect()
        };
        assert_eq!(bits(&a), bits(&b), "{}", config.short_name());
    }
}

#[test]
fn a_file_that_does_not_fit_lists_the_tensors() {
    let keep_head = TransferConfig {
        replace_head: false,
        ..TransferConfig::default()
    };
    // Twice as wide: every convolution has the wrong shape.
    let wide = ModelConfig::ResNet18(ResNet18Config { width: 8 });
    let err = TransferConfig {
        weights: Some(fixture("resnet18_w4.safetensors")),
        ..keep_head.clone()
    }
    .build(&wide, FIXTURE_INPUT, &Device::flex(), 1)
    .unwrap_err()
    .to_string();
    assert!(err.contains("with the wrong shape"), "{err}");
    assert!(
        err.contains("conv1.weight (file [4, 3, 7, 7], model [8, 3, 7, 7])"),
        "{err}"
    );
    assert!(err.contains("more"), "only the first few are listed: {err}");
    // Another number of classes with the file's head kept: only the head is listed.
    let ten = InputShape {
        classes: 10,
        ..FIXTURE_INPUT
    };
    let err = load("resnet18_w4.pth", &keep_head, ten).unwrap_err();
    assert!(
        err.contains("fc.weight (file [5, 32], model [10, 32])")
            && err.contains("fc.bias (file [5], model [10])"),
        "{err}"
    );
    // A different architecture: missing and unexpected tensors, by name with shapes.
    let lenet = ModelConfig::LeNet5(Default::default());
    let err = TransferConfig {
        weights: Some(fixture("resnet18_w4.safetensors")),
        ..TransferConfig::default()
    }
    .build(&lenet, FIXTURE_INPUT, &Device::flex(), 1)
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("holds ResNet-18, not LeNet-5")
            && err.contains("choose the model resnet18 for this file"),
        "{err}"
    );
    assert!(
        err.contains(
            "missing from the file: conv1.bias [6], conv2.bias [16], conv2.weight [16, 6, 5, 5]"
        ),
        "{err}"
    );
    assert!(
        err.contains("in the file but not in the model: bn1.bias [4]"),
        "{err}"
    );
}

#[test]
fn unsupported_architectures_and_bad_files_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let resnet50 = dir.path().join("resnet50.safetensors");
    common::write_safetensors(
        &resnet50,
        &[
            ("conv1.weight", vec![64, 3, 7, 7]),
            ("layer1.0.conv1.weight", vec![64, 64, 1, 1]),
            ("layer1.0.conv3.weight", vec![256, 64, 1, 1]),
            ("fc.weight", vec![1000, 2048]),
        ],
    );
    let err = TransferConfig {
        weights: Some(resnet50),
        ..TransferConfig::default()
    }
    .build(&narrow_resnet18(), FIXTURE_INPUT, &Device::flex(), 1)
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("bottleneck") && err.contains("does not support"),
        "{err}"
    );

    let garbage = dir.path().join("garbage.pth");
    std::fs::write(&garbage, b"PK\x03\x04 this is not a checkpoint").unwrap();
    let err = weights::inspect(&garbage).unwrap_err();
    assert!(matches!(err, WeightsError::Read { .. }), "{err}");
    let unknown = dir.path().join("weights.onnx");
    std::fs::write(&unknown, b"x").unwrap();
    let err = weights::inspect(&unknown).unwrap_err();
    assert!(
        err.to_string().contains("unknown weight file type"),
        "{err}"
    );
}

/// Tensors named as EfficientNet-PyTorch names them (an EfficientNet-B0/Lite0 in outline): the
/// stem takes 3 channels, the head convolution 320.
fn write_efficientnet(path: &Path) {
    let bn = |prefix: &str, c: usize| {
        ["weight", "bias", "running_mean", "running_var"]
            .map(|p| (format!("{prefix}.{p}"), vec![c]))
    };
    let mut tensors = vec![("_conv_stem.weight".to_owned(), vec![32, 3, 3, 3])];
    tensors.extend(bn("_bn0", 32));
    tensors.push(("_blocks.0._depthwise_conv.weight".into(), vec![32, 1, 3, 3]));
    tensors.extend(bn("_blocks.0._bn1", 32));
    tensors.push(("_blocks.0._project_conv.weight".into(), vec![16, 32, 1, 1]));
    tensors.extend(bn("_blocks.0._bn2", 16));
    tensors.push(("_conv_head.weight".into(), vec![1280, 320, 1, 1]));
    tensors.extend(bn("_bn1", 1280));
    tensors.push(("_fc.weight".into(), vec![10, 1280]));
    tensors.push(("_fc.bias".into(), vec![10]));
    let named: Vec<(&str, Vec<usize>)> = tensors
        .iter()
        .map(|(n, s)| (n.as_str(), s.clone()))
        .collect();
    common::write_safetensors(path, &named);
}

#[test]
fn weights_of_another_architecture_are_refused_by_name_before_channels() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("efficientnet_lite0.safetensors");
    write_efficientnet(&file);
    let info = weights::inspect(&file).unwrap();
    assert!(
        info.architecture
            .as_deref()
            .unwrap()
            .starts_with("an EfficientNet"),
        "{info:?}"
    );
    assert_eq!(info.input_channels, Some(3), "the stem's, not the head's");
    let gray = InputShape {
        channels: 1,
        height: 28,
        width: 28,
        classes: 10,
    };
    // With the backbone's channels from the file (repeated gray) and with 320, the head
    // convolution's (which the data could never be adapted to): the names decide first.
    for backbone_channels in [info.input_channels, Some(320)] {
        let err = TransferConfig {
            weights: Some(file.clone()),
            backbone_channels,
            ..TransferConfig::default()
        }
        .build(&narrow_resnet18(), gray, &Device::flex(), 1)
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(
                "holds an EfficientNet (EfficientNet-PyTorch layout: _conv_stem, _blocks), not \
                 ResNet-18 (torchvision): 0 of the model's 100 tensor names are in the file; \
                 CNN Workbench does not support that architecture."
            ),
            "{message}"
        );
        // (conv1 as built for the data: 3 channels repeated from gray, or the gray 1.)
        assert!(
            message.contains(
                "100 missing from the file: bn1.bias [4], bn1.running_mean [4], \
                 bn1.running_var [4], bn1.weight [4], conv1.weight [4, "
            ) && message.contains(", 7, 7] and 95 more;"),
            "{message}"
        );
        assert!(
            message.contains(
                "22 in the file but not in the model: _blocks.0._bn1.bias [32], \
                 _blocks.0._bn1.running_mean [32]"
            ),
            "{message}"
        );
        assert!(!message.contains("channels"), "no channel count: {message}");
        println!("{message}");
    }
    // The same check on its own, before any channel reasoning: the file's names decide.
    let transfer = TransferConfig {
        weights: Some(file),
        backbone_channels: Some(320),
        ..TransferConfig::default()
    };
    let err = transfer
        .check_weights(&narrow_resnet18(), gray)
        .unwrap_err();
    assert!(err.to_string().contains("holds an EfficientNet"), "{err}");
    let fits = TransferConfig {
        weights: Some(fixture("resnet18_w4_legacy.pth")),
        ..transfer
    };
    fits.check_weights(&narrow_resnet18(), gray).unwrap();
}

#[test]
fn inspect_reads_the_shape_of_a_file() {
    let info = weights::inspect(&fixture("resnet18_w4.pth")).unwrap();
    assert_eq!(info.architecture.as_deref(), Some("ResNet-18"));
    assert_eq!(info.input_channels, Some(3));
    assert_eq!(info.classes, Some(5));
    assert_eq!(info.model, None);
}

#[test]
fn a_new_head_and_grayscale_input_fit_an_rgb_backbone() {
    let gray = InputShape {
        channels: 1,
        height: 28,
        width: 28,
        classes: 5,
    };
    let base = TransferConfig {
        backbone_channels: Some(3),
        resize: Some(40),
        replace_head: false,
        ..TransferConfig::default()
    };
    let repeat = load("resnet18_w4.safetensors", &base, gray).unwrap();
    let summed = load(
        "resnet18_w4.safetensors",
        &TransferConfig {
            channel_adapt: ChannelAdapt::SumFirstConv,
            ..base.clone()
        },
        gray,
    )
    .unwrap();
    let values: Vec<f32> = (0..2 * 28 * 28).map(|i| (i as f32 * 0.37).cos()).collect();
    let a = logits(&repeat, values.clone(), [2, 1, 28, 28]);
    let b = logits(&summed, values.clone(), [2, 1, 28, 28]);
    // Repeating the gray channel and summing the kernels over channels are the same function.
    assert_close(&a, &b, 1e-4);
    let conv1 = |m: &Model| {
        weights::tensor_values(m.net())
            .unwrap()
            .into_iter()
            .find(|t| t.name == "conv1.weight")
            .unwrap()
            .shape
    };
    assert_eq!(conv1(&repeat), [4, 3, 7, 7]);
    assert_eq!(conv1(&summed), [4, 1, 7, 7]);
    // A fresh head for 10 classes on the same backbone.
    let ten = InputShape {
        classes: 10,
        ..gray
    };
    let new_head = TransferConfig {
        replace_head: true,
        ..base
    };
    let model = load("resnet18_w4.pth", &new_head, ten).unwrap();
    assert_eq!(logits(&model, values, [2, 1, 28, 28]).len(), 2 * 10);
    let fc = weights::tensor_values(model.net())
        .unwrap()
        .into_iter()
        .find(|t| t.name == "fc.weight")
        .unwrap();
    assert_eq!(fc.shape, [10, 32]);
}

/// `steps` plain SGD steps of `model` on fixed batches.
fn train_steps(model: Model, transfer: &TransferConfig, steps: usize) -> Model {
    let device = Device::flex().autodiff();
    let mut optimizer = OptimizerConfig::Sgd {
        momentum: 0.0,
        nesterov: false,
    }
    .init(0.0, None);
    let mut model = model;
    let loss_fn = burn::nn::loss::CrossEntropyLossConfig::new().init(&device);
    for step in 0..steps {
        let values: Vec<f32> = (0..8 * 28 * 28)
            .map(|i| ((i * (step + 3)) as f32 * 0.013).sin())
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(values, [8, 1, 28, 28]), &device);
        let labels: Vec<i64> = (0..8).map(|i| (i + step as i64) % 10).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [8]), &device);
        let loss = loss_fn.forward(model.forward(x), y);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = transfer.learning_rate(&model, 0.1);
        model = optimizer.step(lr, model, grads);
    }
    model
}

fn changed(before: &Model, after: &Model) -> Vec<String> {
    let a = weights::tensor_values(before.net()).unwrap();
    let b = weights::tensor_values(after.net()).unwrap();
    a.into_iter()
        .zip(b)
        .filter(|(x, y)| x.values != y.values)
        .map(|(x, _)| x.name)
        .collect()
}

#[test]
fn frozen_parameters_do_not_change_while_the_head_trains() {
    let config = ModelConfig::ResNetSmall(ResNetSmallConfig {
        blocks_per_stage: 1,
        width: 4,
    });
    let input = InputShape {
        channels: 1,
        height: 28,
        width: 28,
        classes: 10,
    };
    let device = Device::flex().autodiff();
    for (freeze, trains) in [
        (Freeze::Backbone, vec!["fc."]),
        (Freeze::AllButLast { blocks: 1 }, vec!["fc.", "layer3."]),
    ] {
        let transfer = TransferConfig {
            freeze,
            ..TransferConfig::default()
        };
        let model = transfer.build(&config, input, &device, 3).unwrap();
        let after = train_steps(model.clone(), &transfer, 3);
        let changed = changed(&model, &after);
        assert!(changed.contains(&"fc.weight".to_owned()), "{changed:?}");
        for name in &changed {
            assert!(
                trains.iter().any(|p| name.starts_with(p)),
                "{name} changed although frozen ({freeze:?})"
            );
        }
        if trains.contains(&"layer3.") {
            assert!(
                changed.iter().any(|n| n.starts_with("layer3.0.conv")),
                "{changed:?}"
            );
        }
    }
}

#[test]
fn the_backbone_can_learn_more_slowly_than_the_head() {
    let config = ModelConfig::default();
    let input = InputShape {
        channels: 1,
        height: 28,
        width: 28,
        classes: 10,
    };
    let device = Device::flex().autodiff();
    let delta = |factor: f64| {
        let transfer = TransferConfig {
            backbone_lr_factor: factor,
            ..TransferConfig::default()
        };
        let model = transfer.build(&config, input, &device, 5).unwrap();
        let after = train_steps(model.clone(), &transfer, 1);
        let a = weights::tensor_values(model.net()).unwrap();
        let b = weights::tensor_values(after.net()).unwrap();
        a.into_iter()
            .zip(b)
            .map(|(x, y)| {
                let d: f32 = x
                    .values
                    .iter()
                    .zip(&y.values)
                    .map(|(p, q)| (p - q).abs())
                    .sum();
                (x.name, d)
            })
            .collect::<Vec<_>>()
    };
    let full = delta(1.0);
    let slow = delta(0.1);
    for ((name, d_full), (_, d_slow)) in full.iter().zip(&slow) {
        let ratio = d_slow / d_full;
        let expected = if name.starts_with("fc.") { 1.0 } else { 0.1 };
        assert!(
            (ratio - expected).abs() < 1e-3,
            "{name}: step ratio {ratio}, expected {expected}"
        );
    }
}

/// The full-size torchvision ResNet-18 written by `make_fixture.py --full DIR` (45 MB, not in
/// the repository): `CNN_WORKBENCH_R18_DIR=DIR cargo test --release --test weights -- --ignored`.
#[test]
#[ignore = "needs the 45 MB file from make_fixture.py --full"]
fn full_size_torchvision_resnet18_state_dict() {
    let dir = PathBuf::from(std::env::var("CNN_WORKBENCH_R18_DIR").unwrap());
    let mut store = SafetensorsStore::from_file(dir.join("r18_io.safetensors"));
    let tensors = store.get_all_tensors().unwrap();
    let read = |name: &str| {
        bridge::to_data(&tensors[name])
            .unwrap()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let (input, expected) = (read("input"), read("logits"));
    let rgb = InputShape {
        channels: 3,
        height: 224,
        width: 224,
        classes: 1000,
    };
    let model = TransferConfig {
        weights: Some(dir.join("r18.pth")),
        replace_head: false,
        ..TransferConfig::default()
    }
    .build(
        &ModelConfig::ResNet18(ResNet18Config::default()),
        rgb,
        &Device::flex(),
        1,
    )
    .unwrap();
    assert_eq!(model.param_count(), 11_689_512);
    let got = logits(&model, input, [1, 3, 224, 224]);
    assert_close(&got, &expected, 1e-4);
}
