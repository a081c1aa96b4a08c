//! Model architectures. Each has a serde config, an analytic layer table (no tensors needed, so
//! the UI can show it), and an `init(&Device)` that builds the Burn module; beside them live
//! the size summary ([`summary`]), pretrained weights ([`weights`]) and transfer settings
//! ([`transfer`]).

pub mod cnn;
pub mod gan;
pub mod kernels;
pub mod lenet5;
pub mod mlp;
pub mod preprocess;
pub mod resnet;
pub mod resnet_small;
pub mod simple_cnn;
pub mod summary;
pub(crate) mod table;
pub mod transfer;
pub mod weights;

use burn::module::{ModuleVisitor, Param, ParamId};
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Split};
pub use cnn::{Cnn, CnnConfig};
pub use lenet5::{LeNet5, LeNet5Config};
pub use mlp::{Mlp, MlpConfig};
pub use resnet::{ResNet, ResNet18Config, ResNet34Config, ResNet50Config};
pub use resnet_small::ResNetSmallConfig;
pub use simple_cnn::{SimpleCnn, SimpleCnnConfig};
pub use summary::ModelSummary;
pub use transfer::{CacheFeatures, ChannelAdapt, Freeze, TransferConfig};

/// What a model is built for: the dataset's image shape and class count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputShape {
    /// Image channels.
    pub channels: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Number of classes.
    pub classes: usize,
}

impl InputShape {
    /// The shape of a dataset's samples.
    pub fn of(data: &Dataset) -> Self {
        Self {
            channels: data.channels,
            height: data.height,
            width: data.width,
            classes: data.num_classes(),
        }
    }

    /// The shape a run's model is built for: the dataset's images and the split's classes (fewer
    /// than the dataset's when only some are selected).
    pub fn for_split(data: &Dataset, split: &Split) -> Self {
        Self {
            classes: split.num_classes(),
            ..Self::of(data)
        }
    }
}

/// A model that cannot be built for the given input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{model} cannot take this data: {message}")]
pub struct ModelError {
    model: &'static str,
    message: String,
}

impl ModelError {
    pub(crate) fn new(model: &'static str, message: impl Into<String>) -> Self {
        Self {
            model,
            message: message.into(),
        }
    }
}

/// One row of a model's layer table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// Layer name as in the parameter names (e.g. `conv`, `layer2.0`).
    pub name: String,
    /// Output shape per sample (C×H×W or features).
    pub output: Vec<usize>,
    /// Parameters (PyTorch's count: weights and biases, not BatchNorm's running statistics).
    pub params: usize,
    /// Multiply-adds per sample of its convolutions and linear layers.
    pub macs: u64,
    /// Values per sample it keeps for the backward pass (its outputs; every intermediate
    /// result for a residual block).
    pub activations: u64,
    /// Index into [`ModelConfig::blocks`]: the unit that freezing works on.
    pub block: usize,
}

/// Checks what every architecture needs: at least 2 classes, 1 channel and 1×1 pixels.
fn check_input(model: &'static str, input: InputShape) -> Result<(), ModelError> {
    if input.classes < 2 || input.channels == 0 || input.height == 0 || input.width == 0 {
        return Err(ModelError::new(
            model,
            format!(
                "needs at least 2 classes, 1 channel and 1×1 pixels, found {} classes, {} \
                 channels and {}×{} pixels",
                input.classes, input.channels, input.height, input.width
            ),
        ));
    }
    Ok(())
}

/// Checks a dropout probability.
fn check_dropout(model: &'static str, dropout: f64) -> Result<(), ModelError> {
    if (0.0..1.0).contains(&dropout) {
        Ok(())
    } else {
        Err(ModelError::new(
            model,
            format!("dropout must be in [0, 1), found {dropout}"),
        ))
    }
}

/// The architecture of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ModelConfig {
    /// The seed's small CNN.
    SimpleCnn(SimpleCnnConfig),
    /// A configurable CNN.
    Cnn(CnnConfig),
    /// A plain multi-layer perceptron.
    Mlp(MlpConfig),
    /// LeCun's LeNet-5.
    #[serde(rename = "lenet5")]
    LeNet5(LeNet5Config),
    /// torchvision's ResNet-18.
    #[serde(rename = "resnet18")]
    ResNet18(ResNet18Config),
    /// torchvision's ResNet-34.
    #[serde(rename = "resnet34")]
    ResNet34(ResNet34Config),
    /// torchvision's ResNet-50 (bottleneck blocks).
    #[serde(rename = "resnet50")]
    ResNet50(ResNet50Config),
    /// A CIFAR-style ResNet for 28–32 px images.
    #[serde(rename = "resnet-small")]
    ResNetSmall(ResNetSmallConfig),
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self::SimpleCnn(SimpleCnnConfig::default())
    }
}

impl ModelConfig {
    /// Command-line names of the architectures, in the order of [`Self::all`].
    pub const NAMES: [&'static str; 8] = [
        "simple-cnn",
        "cnn",
        "mlp",
        "lenet5",
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet-small",
    ];

    /// Every architecture with its default settings.
    pub fn all() -> Vec<Self> {
        vec![
            Self::SimpleCnn(SimpleCnnConfig::default()),
            Self::Cnn(CnnConfig::default()),
            Self::Mlp(MlpConfig::default()),
            Self::LeNet5(LeNet5Config::default()),
            Self::ResNet18(ResNet18Config::default()),
            Self::ResNet34(ResNet34Config::default()),
            Self::ResNet50(ResNet50Config::default()),
            Self::ResNetSmall(ResNetSmallConfig::default()),
        ]
    }

    /// The architecture called `name` on the command line, with default settings.
    pub fn from_name(name: &str) -> Result<Self, crate::error::UnknownName> {
        Self::all()
            .into_iter()
            .find(|m| m.short_name() == name)
            .ok_or_else(|| crate::error::UnknownName {
                kind: "model",
                name: name.to_owned(),
                known: Self::NAMES.to_vec(),
            })
    }

    /// Name for tables, file names and the command line.
    pub fn short_name(&self) -> &'static str {
        match self {
            Self::SimpleCnn(_) => "simple-cnn",
            Self::Cnn(_) => "cnn",
            Self::Mlp(_) => "mlp",
            Self::LeNet5(_) => "lenet5",
            Self::ResNet18(_) => "resnet18",
            Self::ResNet34(_) => "resnet34",
            Self::ResNet50(_) => "resnet50",
            Self::ResNetSmall(_) => "resnet-small",
        }
    }

    /// Name for the Model panel.
    pub fn label(&self) -> &'static str {
        match self {
            Self::SimpleCnn(_) => "SimpleCNN (the seed's model)",
            Self::Cnn(_) => "CNN (configurable)",
            Self::Mlp(_) => "MLP (no convolutions)",
            Self::LeNet5(_) => "LeNet-5",
            Self::ResNet18(_) => "ResNet-18 (torchvision)",
            Self::ResNet34(_) => "ResNet-34 (torchvision)",
            Self::ResNet50(_) => "ResNet-50 (torchvision)",
            Self::ResNetSmall(_) => "ResNet-small (CIFAR-style)",
        }
    }

    /// The layer table for this input, or why the model cannot take it.
    pub fn layers(&self, input: InputShape) -> Result<Vec<LayerInfo>, ModelError> {
        match self {
            Self::SimpleCnn(c) => c.layers(input),
            Self::Cnn(c) => c.layers(input),
            Self::Mlp(c) => c.layers(input),
            Self::LeNet5(c) => c.layers(input),
            Self::ResNet18(c) => c.layers(input),
            Self::ResNet34(c) => c.layers(input),
            Self::ResNet50(c) => c.layers(input),
            Self::ResNetSmall(c) => c.layers(input),
        }
    }

    /// The units that freezing works on, from the input to the classifier (the last one, the
    /// head, is never frozen).
    pub fn blocks(&self) -> Vec<String> {
        let names: Vec<String> = match self {
            Self::SimpleCnn(_) => vec!["conv".into(), "fc".into()],
            Self::Cnn(c) => c.blocks(),
            Self::Mlp(c) => c.blocks(),
            Self::LeNet5(_) => ["conv1", "conv2", "fc1", "fc2", "fc3"]
                .map(String::from)
                .to_vec(),
            Self::ResNet18(_) | Self::ResNet34(_) | Self::ResNet50(_) => {
                ["stem", "layer1", "layer2", "layer3", "layer4", "fc"]
                    .map(String::from)
                    .to_vec()
            }
            Self::ResNetSmall(_) => ["stem", "layer1", "layer2", "layer3", "fc"]
                .map(String::from)
                .to_vec(),
        };
        names
    }

    /// Length of the feature vector the classifier takes, for the architectures whose
    /// backbone and classifier can be run apart (the ResNets; see [`Net::features`]); `None`
    /// for the others or an input the model cannot take.
    pub fn feature_len(&self, input: InputShape) -> Option<usize> {
        if !matches!(
            self,
            Self::ResNet18(_) | Self::ResNet34(_) | Self::ResNet50(_) | Self::ResNetSmall(_)
        ) {
            return None;
        }
        let layers = self.layers(input).ok()?;
        let before_head = layers.len().checked_sub(2)?;
        Some(layers[before_head].output.iter().product())
    }

    /// The dropout probability the Hyperparameters panel and `--dropout` set, where the
    /// architecture has one.
    pub fn dropout_mut(&mut self) -> Option<&mut f64> {
        match self {
            Self::SimpleCnn(c) => Some(&mut c.dropout),
            Self::Cnn(c) => Some(&mut c.dropout),
            Self::Mlp(c) => Some(&mut c.dropout),
            Self::LeNet5(_)
            | Self::ResNet18(_)
            | Self::ResNet34(_)
            | Self::ResNet50(_)
            | Self::ResNetSmall(_) => None,
        }
    }

    /// Builds the model with freshly initialised weights on `device`, drawn from `seed`.
    ///
    /// Burn draws initial weights lazily from a process-wide generator, so two models built at
    /// once (a test suite, the learning-rate finder beside a run) would take each other's
    /// numbers. Seeding, building and materialising the weights happen under one lock, so the
    /// same seed always gives the same weights.
    pub fn init(&self, input: InputShape, device: &Device, seed: u64) -> Result<Model, ModelError> {
        self.layers(input)?;
        let net = seeded(device, seed, || match self {
            Self::SimpleCnn(c) => Net::SimpleCnn(c.init(input, device)),
            Self::Cnn(c) => Net::Cnn(c.init(input, device)),
            Self::Mlp(c) => Net::Mlp(c.init(input, device)),
            Self::LeNet5(c) => Net::LeNet5(c.init(input, device)),
            Self::ResNet18(c) => Net::ResNet(c.init(input, device)),
            Self::ResNet34(c) => Net::ResNet(c.init(input, device)),
            Self::ResNet50(c) => Net::ResNet(c.init(input, device)),
            Self::ResNetSmall(c) => Net::ResNet(c.init(input, device)),
        });
        Ok(Model {
            net,
            input: [input.channels, input.height, input.width],
            repeat_channels: 1,
            resize: None,
        })
    }
}

/// Builds a module with `build` and draws its initial weights from `seed`.
///
/// Burn draws initial weights lazily from a process-wide generator, so two models built at once
/// (a test suite, the learning-rate finder beside a run) would take each other's numbers.
/// Seeding, building and materialising the weights happen under one lock, so the same seed
/// always gives the same weights.
pub fn seeded<M: Module>(device: &Device, seed: u64, build: impl FnOnce() -> M) -> M {
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    device.seed(seed);
    let module = build();
    // Reading every parameter draws its initial value now, in a fixed order.
    module.visit(&mut Materialize);
    module
}

/// Draws the initial value of every lazily initialised parameter.
struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        drop(param.val());
    }
}

/// Counts parameters, skipping running statistics.
#[derive(Default)]
struct CountParams {
    path: Vec<String>,
    total: usize,
}

impl ModuleVisitor for CountParams {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let buffer = matches!(
            self.path.last().map(String::as_str),
            Some("running_mean" | "running_var")
        );
        if !buffer {
            self.total += param.lazy_shape().num_elements();
        }
    }
}

/// The network of any architecture.
// Built once per run and moved a few times per step: a kilobyte copied is nothing beside a
// training step, and boxing would hide the variants from the Module derive.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Net {
    /// The seed's small CNN.
    SimpleCnn(SimpleCnn),
    /// A configurable CNN.
    Cnn(Cnn),
    /// A multi-layer perceptron.
    Mlp(Mlp),
    /// LeNet-5.
    LeNet5(LeNet5),
    /// ResNet-18, -34, -50 or ResNet-small.
    ResNet(ResNet),
}

impl Net {
    /// Logits for images already shaped for the network.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Self::SimpleCnn(m) => m.forward(images),
            Self::Cnn(m) => m.forward(images),
            Self::Mlp(m) => m.forward(images),
            Self::LeNet5(m) => m.forward(images),
            Self::ResNet(m) => m.forward(images),
        }
    }

    /// The features the classifier takes, for the architectures whose classifier is one linear
    /// layer right after a parameter-free reduction (the ResNets); `None` for the others.
    pub fn features(&self, images: Tensor<4>) -> Option<Tensor<2>> {
        match self {
            Self::ResNet(m) => Some(m.features(images)),
            Self::SimpleCnn(_) | Self::Cnn(_) | Self::Mlp(_) | Self::LeNet5(_) => None,
        }
    }

    /// The final classifier layer.
    pub fn head(&self) -> &Linear {
        match self {
            Self::SimpleCnn(m) => m.head(),
            Self::Cnn(m) => m.head(),
            Self::Mlp(m) => m.head(),
            Self::LeNet5(m) => m.head(),
            Self::ResNet(m) => m.head(),
        }
    }

    /// Freezes the first `n` blocks of [`ModelConfig::blocks`] (the head excluded): their
    /// parameters stop receiving gradients and their BatchNorm statistics stop moving.
    pub fn freeze_first(self, n: usize) -> Self {
        match self {
            Self::SimpleCnn(m) => Self::SimpleCnn(m.freeze_first(n)),
            Self::Cnn(m) => Self::Cnn(m.freeze_first(n)),
            Self::Mlp(m) => Self::Mlp(m.freeze_first(n)),
            Self::LeNet5(m) => Self::LeNet5(m.freeze_first(n)),
            Self::ResNet(m) => Self::ResNet(m.freeze_first(n)),
        }
    }
}

/// A built model: the network, and how images are adapted to it (grayscale repeated into RGB,
/// resized to the size the network was trained for).
#[derive(Module, Debug)]
pub struct Model {
    net: Net,
    /// Channels, height and width of the images [`Model::forward`] takes.
    input: [usize; 3],
    /// Each input channel is repeated this many times (1: unchanged).
    repeat_channels: usize,
    /// Images are resized to this height and width (bilinear) before the network.
    resize: Option<[usize; 2]>,
}

impl Model {
    /// Class scores (logits) for a batch of images `[batch, channels, height, width]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.net.forward(self.adapt(images))
    }

    /// The backbone's output for a batch of images (input adaptation included), which
    /// [`Self::head_forward`] turns into the logits of [`Self::forward`]; `None` for
    /// architectures without such a split (see [`Net::features`]).
    pub fn forward_features(&self, images: Tensor<4>) -> Option<Tensor<2>> {
        self.net.features(self.adapt(images))
    }

    /// Logits for features from [`Self::forward_features`]: the classifier alone.
    pub fn head_forward(&self, features: Tensor<2>) -> Tensor<2> {
        self.net.head().forward(features)
    }

    /// The images as the network sees them.
    fn adapt(&self, images: Tensor<4>) -> Tensor<4> {
        let mut x = images;
        if self.repeat_channels > 1 {
            x = x.repeat_dim(1, self.repeat_channels);
        }
        if let Some(size) = self.resize {
            let [_, _, h, w] = x.dims();
            if [h, w] != size {
                x = interpolate(
                    x,
                    InterpolateOptions::new(InterpolateMode::Bilinear)
                        .with_align_corners(false)
                        .with_output_size(size),
                );
            }
        }
        x
    }

    /// The network without the input adaptation.
    pub fn net(&self) -> &Net {
        &self.net
    }

    /// Takes images of `data` channels and size, repeating each channel `times` times and
    /// resizing them to `resize` before the network.
    pub fn with_input_adaptation(
        self,
        data: InputShape,
        times: usize,
        resize: Option<[usize; 2]>,
    ) -> Self {
        Self {
            input: [data.channels, data.height, data.width],
            repeat_channels: times.max(1),
            resize,
            ..self
        }
    }

    /// Channels, height and width of the images the model takes.
    pub fn input(&self) -> [usize; 3] {
        self.input
    }

    /// Replaces the network (after loading weights into it).
    pub(crate) fn with_net(self, net: Net) -> Self {
        Self { net, ..self }
    }

    /// Freezes the first `n` blocks (see [`Net::freeze_first`]).
    pub fn freeze_first(self, n: usize) -> Self {
        Self {
            net: self.net.freeze_first(n),
            ..self
        }
    }

    /// Parameters as PyTorch counts them: weights and biases, without BatchNorm's running
    /// statistics (which Burn's `num_params` includes).
    pub fn param_count(&self) -> usize {
        let mut count = CountParams::default();
        self.net.visit(&mut count);
        count.total
    }

    /// Logits for one prepared image (`[c, h, w]` values), on `device`, without gradients.
    pub fn logits(
        &self,
        values: Vec<f32>,
        shape: [usize; 3],
        device: &Device,
    ) -> Result<Vec<f32>, String> {
        let [c, h, w] = shape;
        let [mc, mh, mw] = self.input;
        if c != mc || (self.resize.is_none() && [h, w] != [mh, mw]) {
            return Err(format!(
                "the model takes {mc}×{mh}×{mw} images, this one is {c}×{h}×{w}"
            ));
        }
        if values.len() != c * h * w {
            return Err(format!(
                "{} values do not make a {c}×{h}×{w} image",
                values.len()
            ));
        }
        let images = Tensor::<4>::from_data(TensorData::new(values, [1, c, h, w]), device);
        self.valid()
            .forward(images)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| format!("cannot read the model's outputs: {e:?}"))
    }

    /// Identifiers of the classifier's parameters (for a separate backbone learning rate).
    pub fn head_param_ids(&self) -> Vec<ParamId> {
        let head = self.net.head();
        let mut ids = vec![head.weight.id];
        ids.extend(head.bias.as_ref().map(|b| b.id));
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRAY28: InputShape = InputShape {
        channels: 1,
        height: 28,
        width: 28,
        classes: 10,
    };
    const RGB224: InputShape = InputShape {
        channels: 3,
        height: 224,
        width: 224,
        classes: 1000,
    };

    fn params(model: &ModelConfig, input: InputShape) -> usize {
        model.layers(input).unwrap().iter().map(|l| l.params).sum()
    }

    #[test]
    fn parameter_counts_match_pytorch() {
        // Each number is PyTorch's `sum(p.numel() for p in model.parameters())`.
        let resnet18 = ModelConfig::ResNet18(ResNet18Config::default());
        assert_eq!(params(&resnet18, RGB224), 11_689_512);
        assert_eq!(
            params(
                &resnet18,
                InputShape {
                    classes: 10,
                    ..RGB224
                }
            ),
            11_181_642
        );
        assert_eq!(params(&resnet18, GRAY28), 11_175_370);
        let resnet34 = ModelConfig::ResNet34(ResNet34Config::default());
        assert_eq!(params(&resnet34, RGB224), 21_797_672);
        assert_eq!(params(&resnet34, GRAY28), 21_283_530);
        let resnet50 = ModelConfig::ResNet50(ResNet50Config::default());
        assert_eq!(params(&resnet50, RGB224), 25_557_032);
        assert_eq!(params(&resnet50, GRAY28), 23_522_250);
        assert_eq!(params(&ModelConfig::default(), GRAY28), 31_530);
        let lenet = ModelConfig::LeNet5(LeNet5Config::default());
        assert_eq!(params(&lenet, GRAY28), 61_706);
        let small = ModelConfig::ResNetSmall(ResNetSmallConfig::default());
        assert_eq!(params(&small, GRAY28), 272_186);
        assert_eq!(
            params(&ModelConfig::Cnn(CnnConfig::default()), GRAY28),
            421_738
        );
        assert_eq!(
            params(&ModelConfig::Mlp(MlpConfig::default()), GRAY28),
            269_322
        );
        // conv 32, conv 32, pool, conv 64, conv 64, pool, linear 128, linear 10.
        let deeper = ModelConfig::Cnn(CnnConfig::deeper());
        assert_eq!(params(&deeper, GRAY28), 467_818);
        let layers = deeper.layers(GRAY28).unwrap();
        let last_conv = layers
            .iter()
            .rev()
            .find(|l| l.name.contains("conv"))
            .unwrap();
        assert_eq!(
            last_conv.output,
            [64, 14, 14],
            "the second pair sees 14×14 maps"
        );
    }

    #[test]
    fn resnet18_multiply_adds_match_pytorch_hooks() {
        // Convolutions and the linear layer of torchvision's resnet18 on 1×3×224×224, counted
        // with forward hooks.
        let resnet18 = ModelConfig::ResNet18(ResNet18Config::default());
        let macs: u64 = resnet18
            .layers(RGB224)
            .unwrap()
            .iter()
            .map(|l| l.macs)
            .sum();
        assert_eq!(macs, 1_814_073_344);
        // The deeper torchvision ResNets, counted the same way.
        for (name, expected) in [("resnet34", 3_663_761_408), ("resnet50", 4_089_184_256)] {
            let model = ModelConfig::from_name(name).unwrap();
            let macs: u64 = model.layers(RGB224).unwrap().iter().map(|l| l.macs).sum();
            assert_eq!(macs, expected, "{name}");
        }
        // The same count for every architecture on 1×28×28 with 10 classes.
        for (name, expected) in [
            ("simple-cnn", 144_256),
            ("mlp", 268_800),
            ("lenet5", 416_520),
            ("cnn", 4_241_152),
            ("resnet-small", 31_021_952),
            ("resnet18", 33_010_944),
            ("resnet34", 69_653_760),
            ("resnet50", 77_951_232),
        ] {
            let model = ModelConfig::from_name(name).unwrap();
            let macs: u64 = model.layers(GRAY28).unwrap().iter().map(|l| l.macs).sum();
            assert_eq!(macs, expected, "{name}");
        }
    }

    #[test]
    fn every_architecture_builds_runs_and_counts_as_its_table_says() {
        let device = Device::flex();
        for input in [
            GRAY28,
            InputShape {
                channels: 3,
                height: 32,
                width: 32,
                classes: 7,
            },
        ] {
            for config in ModelConfig::all() {
                if matches!(
                    config,
                    ModelConfig::ResNet18(_) | ModelConfig::ResNet34(_) | ModelConfig::ResNet50(_)
                ) && input.channels == 3
                {
                    continue;
                }
                let table: usize = params(&config, input);
                let model = config.init(input, &device, 1).unwrap();
                assert_eq!(model.param_count(), table, "{}", config.short_name());
                let x = Tensor::<4>::ones([2, input.channels, input.height, input.width], &device);
                assert_eq!(
                    model.forward(x).dims(),
                    [2, input.classes],
                    "{}",
                    config.short_name()
                );
                let blocks = config.blocks().len();
                let last = config.layers(input).unwrap().last().unwrap().block;
                assert_eq!(
                    last,
                    blocks - 1,
                    "{}: the head is the last block",
                    config.short_name()
                );
            }
        }
    }

    #[test]
    fn a_mismatch_is_a_clear_error() {
        let tiny = InputShape {
            height: 4,
            width: 4,
            ..GRAY28
        };
        let lenet = ModelConfig::LeNet5(LeNet5Config::default());
        let message = lenet.layers(tiny).unwrap_err().to_string();
        assert!(
            message.contains("LeNet-5") && message.contains("does not fit"),
            "{message}"
        );
        let one_class = InputShape {
            classes: 1,
            ..GRAY28
        };
        for config in ModelConfig::all() {
            assert!(config.layers(one_class).is_err(), "{}", config.short_name());
        }
    }

    #[test]
    fn names_round_trip() {
        for config in ModelConfig::all() {
            assert_eq!(
                ModelConfig::from_name(config.short_name()),
                Ok(config.clone())
            );
            let json = serde_json::to_string(&config).unwrap();
            assert!(json.contains(config.short_name()), "{json}");
        }
        assert_eq!(ModelConfig::NAMES.len(), ModelConfig::all().len());
        let unknown = ModelConfig::from_name("resnet-50").unwrap_err().to_string();
        assert!(
            unknown.contains("`resnet-50`") && unknown.contains("resnet18"),
            "{unknown}"
        );
    }

    #[test]
    fn built_deep_resnets_have_torchvision_parameter_counts() {
        let device = Device::flex();
        for (config, expected) in [
            (ModelConfig::ResNet34(ResNet34Config::default()), 21_797_672),
            (ModelConfig::ResNet50(ResNet50Config::default()), 25_557_032),
        ] {
            let model = config.init(RGB224, &device, 1).unwrap();
            assert_eq!(model.param_count(), expected, "{}", config.short_name());
            assert_eq!(params(&config, RGB224), expected, "{}", config.short_name());
        }
    }

    #[test]
    fn resnet50_rows_are_bottleneck_blocks_with_four_times_the_channels() {
        let resnet50 = ModelConfig::ResNet50(ResNet50Config::default());
        let layers = resnet50.layers(RGB224).unwrap();
        let blocks: Vec<&LayerInfo> = layers
            .iter()
            .filter(|l| l.name.starts_with("layer"))
            .collect();
        assert_eq!(blocks.len(), 3 + 4 + 6 + 3);
        let first = blocks[0];
        assert_eq!(first.name, "layer1.0 (bottleneck, downsample)");
        assert_eq!(first.output, [256, 56, 56]);
        // conv1 64·64, conv2 64·64·9, conv3 64·256, bn 2·64 + 2·64 + 2·256, shortcut 64·256 +
        // 2·256 (torchvision's layer1[0]).
        assert_eq!(first.params, 75_008);
        assert_eq!(blocks[1].name, "layer1.1 (bottleneck)");
        assert_eq!(blocks[3].output, [512, 28, 28], "layer2.0 halves the size");
        assert_eq!(blocks.last().unwrap().output, [2048, 7, 7]);
        // Stages are the freezing units: stem, layer1..layer4, fc.
        let stage_of: Vec<usize> = blocks.iter().map(|l| l.block).collect();
        assert_eq!(stage_of[..3], [1, 1, 1]);
        assert_eq!(stage_of[15], 4);
        // Every block keeps more values for the backward pass than its output alone.
        assert!(
            blocks
                .iter()
                .all(|l| l.activations > 3 * l.output.iter().product::<usize>() as u64)
        );
        let resnet34 = ModelConfig::ResNet34(ResNet34Config::default());
        let layers = resnet34.layers(RGB224).unwrap();
        assert_eq!(
            layers
                .iter()
                .filter(|l| l.name.contains("basic block"))
                .count(),
            16
        );
    }

    #[test]
    fn narrow_deep_resnets_freeze_by_stage() {
        // Gradients are tracked, so a frozen parameter is one that no longer requires them.
        let device = Device::flex().autodiff();
        let input = InputShape {
            channels: 3,
            height: 32,
            width: 32,
            classes: 4,
        };
        for config in [
            ModelConfig::ResNet34(ResNet34Config { width: 4 }),
            ModelConfig::ResNet50(ResNet50Config { width: 4 }),
        ] {
            let name = config.short_name();
            assert_eq!(
                config.blocks(),
                ["stem", "layer1", "layer2", "layer3", "layer4", "fc"],
                "{name}"
            );
            let table = params(&config, input);
            let model = config.init(input, &device, 3).unwrap();
            assert_eq!(model.param_count(), table, "{name}");
            let x = Tensor::<4>::ones([2, 3, 32, 32], &device);
            assert_eq!(model.forward(x).dims(), [2, 4], "{name}");
            // Freezing the stem and layer1..layer3 leaves layer4 and fc trainable.
            let frozen = model.freeze_first(4);
            let mut count = CountTrainable::default();
            frozen.net().visit(&mut count);
            let layers = config.layers(input).unwrap();
            let trainable: usize = layers
                .iter()
                .filter(|l| l.block >= 4)
                .map(|l| l.params)
                .sum();
            assert_eq!(count.trainable, trainable, "{name}");
            assert!(count.trainable < table, "{name}");
        }
    }

    /// Counts parameters that still take gradients (running statistics are never trainable).
    #[derive(Default)]
    struct CountTrainable {
        trainable: usize,
    }

    impl ModuleVisitor for CountTrainable {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if param.is_require_grad() {
                self.trainable += param.lazy_shape().num_elements();
            }
        }
    }
}
