//! Pretrained weights: reading safetensors and PyTorch `.pt`/`.pth` state dicts into a network,
//! and writing a network's weights as safetensors in PyTorch's names and layouts.
//!
//! Safetensors files are read with burn-store's `SafetensorsStore`, PyTorch files with
//! burn-store's `pytorch-reader`: the zip format of PyTorch 1.6 and later, the legacy format of
//! PyTorch 0.1.10–1.5 (`_use_new_zipfile_serialization=False`) and the older tar format. Neither
//! reader executes anything from a file: pytorch-reader interprets the pickle with its own stack
//! machine, which only understands the calls that rebuild tensors and `OrderedDict`s (plus
//! `set`), keeps any other callable as an opaque value without calling it, and refuses
//! extension-registry opcodes, so a weight file can never run code. Tensor bytes are read
//! lazily, only when a tensor is applied or its values are asked for.
//!
//! Names follow PyTorch (`bn1.weight`, `fc.weight` as `[out, in]`); BatchNorm running
//! statistics load too, `num_batches_tracked` is ignored, a checkpoint's nested `state_dict`
//! and DataParallel's `module.` prefix are unwrapped, and every tensor is converted to f32.
//! Before anything is applied, the file's tensor names are compared with the network's, so a
//! file of another architecture is refused as such, and then their shapes, so a file that does
//! not fit is refused with the offending tensors listed.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use burn::tensor::DType;
use burn_store::burn_pack::{Error as PackError, Tensor as PackTensor};
use burn_store::pytorch_reader::PytorchReader;
use burn_store::{
    BurnToPyTorchAdapter, FloatCastAdapter, ModuleAdapter, ModuleSnapshot, ModuleStore,
    PyTorchToBurnAdapter, SafetensorsStore, bridge,
};

use super::{ModelConfig, Net};

/// How many tensors of each kind an error message names.
const LISTED: usize = 5;

/// A tensor's name and shape, as listed in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Name in PyTorch's convention (e.g. `layer1.0.bn1.running_mean`).
    pub name: String,
    /// Shape in PyTorch's layout.
    pub shape: Vec<usize>,
}

impl std::fmt::Display for TensorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.name, self.shape)
    }
}

/// A tensor whose shape differs between the file and the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// Tensor name.
    pub name: String,
    /// Shape the model needs.
    pub expected: Vec<usize>,
    /// Shape in the file.
    pub found: Vec<usize>,
}

/// Why weights could not be read, written or applied.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be opened or parsed.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The file name does not say which format it is in.
    #[error(
        "{path}: unknown weight file type; use .safetensors, or .pt/.pth for a PyTorch state dict"
    )]
    UnknownFormat {
        /// The file.
        path: String,
    },
    /// The file's tensor names are not the chosen model's: it holds another architecture.
    #[error("{path} holds {}, not {model}: {names}", NameComparison::found(.names))]
    WrongArchitecture {
        /// The file.
        path: String,
        /// The chosen model.
        model: String,
        /// What the file's names suggest it holds, and how they compare with the model's.
        names: Box<NameComparison>,
    },
    /// The file's tensors do not match the model's.
    #[error("{path} does not fit {model}: {}", mismatch_text(.missing, .unexpected, .mismatched))]
    Mismatch {
        /// The file.
        path: String,
        /// The chosen model.
        model: String,
        /// Tensors the model needs that the file lacks.
        missing: Vec<TensorInfo>,
        /// Tensors in the file that the model has no place for.
        unexpected: Vec<TensorInfo>,
        /// Tensors present in both with different shapes.
        mismatched: Vec<ShapeMismatch>,
    },
    /// Adapting the file to the data is not possible.
    #[error("{path}: {message}")]
    Adapt {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The file could not be written.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// How a weight file's tensor names compare with a model's that they do not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameComparison {
    /// What the names suggest (`an EfficientNet (…)`, `an unknown architecture`).
    pub found: String,
    /// Whether CNN Workbench has that architecture.
    pub known: KnownArchitecture,
    /// How many tensor names the model has.
    pub needed: usize,
    /// Tensors the model needs that the file lacks.
    pub missing: Vec<TensorInfo>,
    /// Tensors in the file that the model has no place for.
    pub unexpected: Vec<TensorInfo>,
}

impl NameComparison {
    fn found(&self) -> &str {
        &self.found
    }
}

impl std::fmt::Display for NameComparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hint = match self.known {
            KnownArchitecture::Model(name) => format!("; choose the model {name} for this file"),
            KnownArchitecture::Unsupported => {
                "; CNN Workbench does not support that architecture".into()
            }
            KnownArchitecture::Unknown => String::new(),
        };
        write!(
            f,
            "{} of the model's {} tensor names are in the file{hint}. {}",
            self.needed - self.missing.len(),
            self.needed,
            mismatch_text(&self.missing, &self.unexpected, &[])
        )
    }
}

/// Whether CNN Workbench has the architecture a weight file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownArchitecture {
    /// One of its models, by command-line name (`lenet5`).
    Model(&'static str),
    /// A known architecture it does not have (EfficientNet, VGG, …).
    Unsupported,
    /// Not recognised.
    Unknown,
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    let mut text = items
        .iter()
        .take(LISTED)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > LISTED {
        text.push_str(&format!(" and {} more", items.len() - LISTED));
    }
    text
}

fn mismatch_text(
    missing: &[TensorInfo],
    unexpected: &[TensorInfo],
    mismatched: &[ShapeMismatch],
) -> String {
    let mut parts = Vec::new();
    if !mismatched.is_empty() {
        let shown: Vec<String> = mismatched
            .iter()
            .map(|m| format!("{} (file {:?}, model {:?})", m.name, m.found, m.expected))
            .collect();
        parts.push(format!(
            "{} with the wrong shape: {}",
            mismatched.len(),
            list(&shown)
        ));
    }
    if !missing.is_empty() {
        parts.push(format!(
            "{} missing from the file: {}",
            missing.len(),
            list(missing)
        ));
    }
    if !unexpected.is_empty() {
        parts.push(format!(
            "{} in the file but not in the model: {}",
            unexpected.len(),
            list(unexpected)
        ));
    }
    parts.join("; ")
}

/// How a file is fitted to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadOptions {
    /// Keep the network's fresh classifier instead of the file's (for other classes).
    pub replace_head: bool,
    /// Sum the first convolution's weights over the file's input channels, so a network for
    /// one channel takes an RGB backbone.
    pub sum_input_channels: bool,
}

/// What a weight file holds, read from its tensor names and shapes (no data is read).
#[derive(Debug, Clone, PartialEq)]
pub struct WeightsInfo {
    /// Number of tensors.
    pub tensors: usize,
    /// Total number of values.
    pub values: usize,
    /// The architecture its names suggest, if recognised.
    pub architecture: Option<String>,
    /// Input channels of the first convolution.
    pub input_channels: Option<usize>,
    /// Outputs of the classifier.
    pub classes: Option<usize>,
    /// The model configuration, for files written by this program.
    pub model: Option<ModelConfig>,
}

/// Reads the tensors of a safetensors or PyTorch file, by name, with PyTorch's shapes, as f32.
/// Only names, shapes and types are read here; the values are read when a tensor is used.
fn read_tensors(path: &Path) -> Result<BTreeMap<String, PackTensor>, WeightsError> {
    let shown = path.display().to_string();
    let read_err = |message: String| WeightsError::Read {
        path: shown.clone(),
        message,
    };
    if !path.is_file() {
        return Err(read_err("no such file".into()));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let mut tensors = match ext.as_deref() {
        Some("safetensors") => SafetensorsStore::from_file(path)
            .map_indices_contiguous(false)
            .get_all_tensors()
            .map_err(|e| read_err(e.to_string()))?
            .clone(),
        Some("pt" | "pth" | "bin") => read_pytorch(path).map_err(read_err)?,
        _ => return Err(WeightsError::UnknownFormat { path: shown }),
    };
    // DataParallel prefixes every name with `module.`.
    if !tensors.is_empty() && tensors.keys().all(|k| k.starts_with("module.")) {
        tensors = strip_prefix(tensors, "module.");
    }
    tensors.retain(|name, _| !name.ends_with("num_batches_tracked"));
    if tensors.is_empty() {
        return Err(read_err("the file holds no tensors".into()));
    }
    Ok(tensors
        .into_iter()
        .map(|(name, tensor)| (name, to_f32(tensor)))
        .collect())
}

/// Reads a PyTorch file (`torch.save`: zip, legacy or tar format) with pytorch-reader, which
/// interprets the pickle without calling anything it names (see the module documentation).
/// A checkpoint's state dict nested under `state_dict` (or `model`, …) is unwrapped.
fn read_pytorch(path: &Path) -> Result<BTreeMap<String, PackTensor>, String> {
    let reader = PytorchReader::new(path).map_err(|e| e.to_string())?;
    let tensors: BTreeMap<String, PackTensor> = reader
        .into_tensors()
        .into_iter()
        .map(|(name, tensor)| (name, bridge::from_pytorch(tensor)))
        .collect();
    Ok(match unwrap_checkpoint(&tensors) {
        Some(key) => strip_prefix(tensors, &format!("{key}.")),
        None => tensors,
    })
}

/// The tensors whose names start with `prefix`, renamed without it; the others are dropped.
fn strip_prefix(
    tensors: BTreeMap<String, PackTensor>,
    prefix: &str,
) -> BTreeMap<String, PackTensor> {
    tensors
        .into_iter()
        .filter_map(|(name, mut tensor)| {
            let short = name.strip_prefix(prefix)?.to_owned();
            tensor.name.clone_from(&short);
            Some((short, tensor))
        })
        .collect()
}

/// The tensor as f32 (half, double and integer tensors are converted when read).
fn to_f32(tensor: PackTensor) -> PackTensor {
    if tensor.dtype == DType::F32 {
        return tensor;
    }
    let (name, shape) = (tensor.name.clone(), tensor.shape.clone());
    bridge::deferred(name.clone(), DType::F32, shape, None, move || {
        bridge::to_data(&tensor)?.try_cast_as::<f32>().map_err(|e| {
            PackError::ValidationError(format!("{name} cannot be converted to f32: {e:?}"))
        })
    })
}

/// The key a checkpoint nests its state dict under (`state_dict`, `model`, …), if its tensors
/// sit under one such key.
fn unwrap_checkpoint<T>(tensors: &BTreeMap<String, T>) -> Option<&'static str> {
    ["state_dict", "model_state_dict", "model"]
        .into_iter()
        .find(|key| {
            let prefix = format!("{key}.");
            tensors.keys().any(|k| k.starts_with(&prefix))
                && tensors.keys().filter(|k| k.starts_with(&prefix)).count() * 2 > tensors.len()
        })
}

/// Every tensor of a weight file with its values, as loading sees them (checkpoint and
/// DataParallel prefixes removed, `num_batches_tracked` left out, converted to f32), in name
/// order. Reads every value, so a file whose storages are cut or inconsistent fails here.
pub fn read_values(path: &Path) -> Result<Vec<TensorValues>, WeightsError> {
    let shown = path.display().to_string();
    read_tensors(path)?
        .into_values()
        .map(|tensor| {
            let name = tensor.name.clone();
            let shape = tensor.shape.to_vec();
            values_f32(tensor)
                .map(|values| TensorValues {
                    name: name.clone(),
                    shape,
                    values,
                })
                .map_err(|e| WeightsError::Read {
                    path: shown.clone(),
                    message: format!("{name}: {e}"),
                })
        })
        .collect()
}

/// A tensor's values as f32.
fn values_f32(tensor: PackTensor) -> Result<Vec<f32>, String> {
    bridge::into_data(tensor)
        .map_err(|e| e.to_string())?
        .try_cast_as::<f32>()
        .map_err(|e| format!("{e:?}"))?
        .try_into_vec::<f32>()
        .map_err(|e| format!("{e:?}"))
}

/// What a file's tensor names suggest it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Guess {
    /// In words (`ResNet-18`, `an EfficientNet (torchvision layout)`).
    text: String,
    /// Whether CNN Workbench has it.
    known: KnownArchitecture,
}

/// Whether `name` starts with the dot-separated `parts`, where `#` stands for any index.
fn has_parts(name: &str, parts: &[&str]) -> bool {
    let mut segments = name.split('.');
    parts.iter().all(|&part| {
        segments.next().is_some_and(|segment| {
            if part == "#" {
                !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
            } else {
                segment == part
            }
        })
    })
}

/// Guesses the architecture from tensor names: torchvision's and other common layouts, and
/// this program's own models.
fn guess(names: &[&str]) -> Option<Guess> {
    let has = |n: &str| names.contains(&n);
    let any = |p: &str| names.iter().any(|n| n.contains(p));
    let starts = |p: &str| names.iter().any(|n| n.starts_with(p));
    let parts = |p: &[&str]| names.iter().any(|n| has_parts(n, p));
    let count = |stage: usize, suffix: &str| {
        let prefix = format!("layer{stage}.");
        names
            .iter()
            .filter(|n| n.starts_with(&prefix) && n.ends_with(suffix))
            .count()
    };
    let theirs = |text: &str| {
        Some(Guess {
            text: text.to_owned(),
            known: KnownArchitecture::Unsupported,
        })
    };
    let ours = |text: String, model: &'static str| {
        Some(Guess {
            text,
            known: KnownArchitecture::Model(model),
        })
    };
    if has("conv1.weight") && any("layer1.0.conv3.") {
        let blocks: Vec<usize> = (1..=4).map(|i| count(i, ".conv3.weight")).collect();
        return match blocks.as_slice() {
            [3, 4, 6, 3] => ours("ResNet-50".into(), "resnet50"),
            [3, 4, 23, 3] => theirs("ResNet-101 (a ResNet with bottleneck blocks)"),
            [3, 8, 36, 3] => theirs("ResNet-152 (a ResNet with bottleneck blocks)"),
            _ => theirs(&format!(
                "a ResNet with bottleneck blocks in stages of {blocks:?} blocks"
            )),
        };
    }
    if has("conv1.weight") && any("layer1.0.conv1.") {
        let depths: Vec<usize> = (1..=4).map(|i| count(i, ".conv1.weight")).collect();
        let stages = depths.iter().filter(|&&d| d > 0).count();
        let blocks = depths.first().copied().unwrap_or(0);
        return match (stages, depths.as_slice()) {
            (4, [2, 2, 2, 2]) => ours("ResNet-18".into(), "resnet18"),
            (4, [3, 4, 6, 3]) => ours("ResNet-34".into(), "resnet34"),
            (3, _) => ours(
                format!("ResNet-small ({blocks} blocks per stage)"),
                "resnet-small",
            ),
            _ => theirs(&format!(
                "a ResNet with basic blocks in stages of {depths:?} blocks"
            )),
        };
    }
    if starts("_conv_stem.") || starts("_blocks.") {
        return theirs("an EfficientNet (EfficientNet-PyTorch layout: _conv_stem, _blocks)");
    }
    if starts("conv_stem.") && starts("blocks.") {
        return theirs("an EfficientNet or MobileNet (timm layout: conv_stem, blocks)");
    }
    if starts("features.") && any(".layer_scale") {
        return theirs("a ConvNeXt");
    }
    if parts(&["features", "#", "#", "block"]) {
        return theirs("an EfficientNet (torchvision layout: features.N.M.block)");
    }
    if parts(&["features", "#", "block"]) {
        return theirs("a MobileNetV3 (torchvision layout: features.N.block)");
    }
    if parts(&["features", "#", "conv"]) {
        return theirs("a MobileNetV2 (torchvision layout: features.N.conv)");
    }
    if starts("features.denseblock") {
        return theirs("a DenseNet");
    }
    if starts("features.") && any(".squeeze.") {
        return theirs("a SqueezeNet");
    }
    if starts("Mixed_") || starts("Conv2d_1a_3x3.") {
        return theirs("an Inception v3");
    }
    if starts("inception3a.") {
        return theirs("a GoogLeNet");
    }
    if starts("features.") && starts("classifier.") {
        return theirs("a VGG/AlexNet-style network (features/classifier)");
    }
    if has("conv1.weight") && has("conv2.weight") && has("fc3.weight") {
        return ours("LeNet-5".into(), "lenet5");
    }
    if has("conv.weight") && has("fc.weight") {
        return ours("SimpleCNN".into(), "simple-cnn");
    }
    if parts(&["blocks", "#", "conv"]) {
        return ours("the configurable CNN".into(), "cnn");
    }
    if has("fc.weight") && (starts("layers.0.") || names.len() == 2) {
        return ours("an MLP".into(), "mlp");
    }
    if any("encoder.") || any("attention") || any("embeddings.") || has("class_token") {
        return theirs("a transformer");
    }
    None
}

/// Guesses the architecture from tensor names, in words.
fn guess_architecture(names: &[&str]) -> Option<String> {
    guess(names).map(|g| g.text)
}

/// Names and shapes of a network's tensors in PyTorch's convention, in module order.
fn expected_tensors(net: &Net) -> Vec<TensorInfo> {
    net.collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .into_iter()
        .map(|t| TensorInfo {
            shape: t.shape.to_vec(),
            name: t.name,
        })
        .collect()
}

/// The tensor names of the classifier (`fc.weight`, `fc.bias`, …): every architecture visits
/// its classifier last.
fn head_names(expected: &[TensorInfo]) -> Vec<String> {
    let Some(last) = expected.last() else {
        return Vec::new();
    };
    let prefix = match last.name.rfind('.') {
        Some(i) => &last.name[..=i],
        None => "",
    };
    expected
        .iter()
        .filter(|t| t.name.starts_with(prefix) && !t.name[prefix.len()..].contains('.'))
        .map(|t| t.name.clone())
        .collect()
}

/// Reads what a weight file holds without loading it.
pub fn inspect(path: &Path) -> Result<WeightsInfo, WeightsError> {
    let tensors = read_tensors(path)?;
    let names: Vec<&str> = tensors.keys().map(String::as_str).collect();
    let first_conv = tensors
        .values()
        .filter(|t| t.shape.num_dims() == 4)
        .min_by_key(|t| conv_order(&t.name));
    let classifier = [
        "fc.weight",
        "fc3.weight",
        "_fc.weight",
        "classifier.weight",
        "classifier.1.weight",
        "classifier.3.weight",
        "classifier.6.weight",
        "head.weight",
        "heads.head.weight",
    ]
    .into_iter()
    .find_map(|n| tensors.get(n));
    Ok(WeightsInfo {
        tensors: tensors.len(),
        values: tensors.values().map(|t| t.shape.num_elements()).sum(),
        architecture: guess_architecture(&names),
        input_channels: first_conv.map(|t| t.shape[1]),
        classes: classifier.map(|t| t.shape[0]),
        model: read_model_config(path),
    })
}

/// Orders convolution names so the network's first one comes first: a stem before anything
/// (`_conv_stem`), a head after everything (`_conv_head`), otherwise the least nested first
/// (`conv1` before `layer1.0.conv1`), then by name (`blocks.0` before `blocks.1`).
fn conv_order(name: &str) -> (u8, usize, String) {
    let place = if name.contains("stem") {
        0
    } else if name.contains("head") {
        2
    } else {
        1
    };
    (place, name.matches('.').count(), name.to_owned())
}

/// Loads the weights in `path` into `net`: first checks by tensor names alone that the file
/// holds this architecture, then every name and shape.
pub fn load_into(
    net: Net,
    model_name: &str,
    path: &Path,
    options: LoadOptions,
) -> Result<Net, WeightsError> {
    let shown = path.display().to_string();
    let mut file = read_tensors(path)?;
    let mut expected = expected_tensors(&net);
    if options.replace_head {
        let head = head_names(&expected);
        expected.retain(|t| !head.contains(&t.name));
        file.retain(|name, _| !head.contains(name));
    }
    check_names(&file, &expected, model_name, &shown)?;
    if options.sum_input_channels {
        sum_first_conv(&mut file, &expected, &shown)?;
    }
    check_fit(&file, &expected, model_name, &shown)?;
    let mut net = net;
    let adapter = PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::F32));
    let result = net.apply(
        file.into_values().collect(),
        None,
        Some(Box::new(adapter)),
        true,
    );
    if let Some(error) = result.errors.first() {
        return Err(WeightsError::Read {
            path: shown,
            message: error.to_string(),
        });
    }
    Ok(net)
}

/// Checks by tensor names alone, before any shape or channel count is looked at, that the
/// weights in `path` are for `net`'s architecture (with `replace_head`, the classifier is left
/// out of the comparison, as [`load_into`] leaves it out). Reads the file's names, not its
/// values.
pub fn check_architecture(
    net: &Net,
    model_name: &str,
    path: &Path,
    replace_head: bool,
) -> Result<(), WeightsError> {
    let mut file = read_tensors(path)?;
    let mut expected = expected_tensors(net);
    if replace_head {
        let head = head_names(&expected);
        expected.retain(|t| !head.contains(&t.name));
        file.retain(|name, _| !head.contains(name));
    }
    check_names(&file, &expected, model_name, &path.display().to_string())
}

/// Decides from names alone whether the file holds the model's architecture: it does when at
/// least half of the model's tensor names are in the file, they make up at least half of the
/// file's, and the names do not tell another known architecture (a ResNet-50 holds every name
/// of a ResNet-34, and a ResNet-34 every name of a ResNet-18). Otherwise the file is refused
/// with what its names suggest it holds.
fn check_names(
    file: &BTreeMap<String, PackTensor>,
    expected: &[TensorInfo],
    model_name: &str,
    path: &str,
) -> Result<(), WeightsError> {
    let matched = expected
        .iter()
        .filter(|t| file.contains_key(&t.name))
        .count();
    let names: Vec<&str> = file.keys().map(String::as_str).collect();
    let own: Vec<&str> = expected.iter().map(|t| t.name.as_str()).collect();
    let file_guess = guess(&names);
    let own_guess = guess(&own);
    let other_architecture = match (&file_guess, &own_guess) {
        (Some(theirs), Some(ours)) => {
            theirs.known != ours.known && matches!(ours.known, KnownArchitecture::Model(_))
        }
        _ => false,
    };
    if matched * 2 >= expected.len() && matched * 2 >= file.len() && !other_architecture {
        return Ok(());
    }
    let (found, mut known) = match file_guess {
        Some(g) => (g.text, g.known),
        None => (
            "an unknown architecture".to_owned(),
            KnownArchitecture::Unknown,
        ),
    };
    // Names that look like the chosen model's own after all: no other model to suggest.
    if matches!(known, KnownArchitecture::Model(_)) && own_guess.is_some_and(|g| g.known == known) {
        known = KnownArchitecture::Unknown;
    }
    let mut missing: Vec<TensorInfo> = expected
        .iter()
        .filter(|t| !file.contains_key(&t.name))
        .cloned()
        .collect();
    missing.sort_by(|a, b| a.name.cmp(&b.name));
    let unexpected = file
        .values()
        .filter(|t| !expected.iter().any(|e| e.name == t.name))
        .map(|t| TensorInfo {
            name: t.name.clone(),
            shape: t.shape.to_vec(),
        })
        .collect();
    Err(WeightsError::WrongArchitecture {
        path: path.to_owned(),
        model: model_name.to_owned(),
        names: Box::new(NameComparison {
            found,
            known,
            needed: expected.len(),
            missing,
            unexpected,
        }),
    })
}

/// Compares the shapes of the file's tensors with the model's (their names fit well enough:
/// see [`check_names`]).
fn check_fit(
    file: &BTreeMap<String, PackTensor>,
    expected: &[TensorInfo],
    model_name: &str,
    path: &str,
) -> Result<(), WeightsError> {
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    for t in expected {
        match file.get(&t.name) {
            None => missing.push(t.clone()),
            Some(found) if found.shape.as_slice() != t.shape.as_slice() => {
                mismatched.push(ShapeMismatch {
                    name: t.name.clone(),
                    expected: t.shape.clone(),
                    found: found.shape.to_vec(),
                });
            }
            Some(_) => {}
        }
    }
    let unexpected: Vec<TensorInfo> = file
        .values()
        .filter(|t| !expected.iter().any(|e| e.name == t.name))
        .map(|t| TensorInfo {
            name: t.name.clone(),
            shape: t.shape.to_vec(),
        })
        .collect();
    if missing.is_empty() && unexpected.is_empty() && mismatched.is_empty() {
        return Ok(());
    }
    missing.sort_by(|a, b| a.name.cmp(&b.name));
    Err(WeightsError::Mismatch {
        path: path.to_owned(),
        model: model_name.to_owned(),
        missing,
        unexpected,
        mismatched,
    })
}

/// Replaces the file's first convolution weight `[out, c, k, k]` by its sum over the input
/// channels, `[out, 1, k, k]`: a grayscale image through the summed kernel gives what the same
/// image repeated into every channel gives through the original one.
fn sum_first_conv(
    file: &mut BTreeMap<String, PackTensor>,
    expected: &[TensorInfo],
    path: &str,
) -> Result<(), WeightsError> {
    let adapt_err = |message: String| WeightsError::Adapt {
        path: path.to_owned(),
        message,
    };
    let Some(first) = expected.iter().find(|t| t.shape.len() == 4) else {
        return Err(adapt_err(
            "summing the first convolution's channels needs a model that starts with a \
             convolution"
                .into(),
        ));
    };
    let Some(tensor) = file.remove(&first.name) else {
        return Ok(());
    };
    let shape = tensor.shape.to_vec();
    if shape.len() != 4 || shape[1] == first.shape[1] {
        file.insert(first.name.clone(), tensor);
        return Ok(());
    }
    if first.shape[1] != 1 {
        return Err(adapt_err(format!(
            "{} has {} input channels; only a 1-channel model can take it by summing them",
            first.name, shape[1]
        )));
    }
    let values =
        values_f32(tensor).map_err(|e| adapt_err(format!("cannot read {}: {e}", first.name)))?;
    let (out, c, kh, kw) = (shape[0], shape[1], shape[2], shape[3]);
    let plane = kh * kw;
    let mut summed = vec![0.0_f32; out * plane];
    for o in 0..out {
        for ch in 0..c {
            let src = &values[(o * c + ch) * plane..(o * c + ch + 1) * plane];
            for (dst, v) in summed[o * plane..(o + 1) * plane].iter_mut().zip(src) {
                *dst += v;
            }
        }
    }
    let data = TensorData::new(summed, [out, 1, kh, kw]);
    file.insert(
        first.name.clone(),
        bridge::from_data(data, first.name.clone(), None),
    );
    Ok(())
}

/// Writes the network's weights to `path` as safetensors, in PyTorch's names and layouts, with
/// the model configuration in the metadata (so the file can be loaded back as a backbone).
pub fn save(net: &Net, config: &ModelConfig, path: &Path) -> Result<(), WeightsError> {
    let shown = path.display().to_string();
    let config_json = serde_json::to_string(config).map_err(|e| WeightsError::Write {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    let mut store = SafetensorsStore::from_file(path)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .overwrite(true)
        .metadata(METADATA_MODEL, config_json);
    net.save_into(&mut store).map_err(|e| WeightsError::Write {
        path: shown,
        message: e.to_string(),
    })
}

/// Metadata key under which [`save`] records the model configuration.
pub const METADATA_MODEL: &str = "cnn_workbench.model";

/// The model configuration recorded in a safetensors file written by [`save`].
pub fn read_model_config(path: &Path) -> Option<ModelConfig> {
    use std::io::Read;
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    if ext != "safetensors" {
        return None;
    }
    let mut file = std::fs::File::open(path).ok()?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).ok()?;
    let len = usize::try_from(u64::from_le_bytes(len)).ok()?;
    if len > 100 << 20 {
        return None;
    }
    let mut header = vec![0u8; len];
    file.read_exact(&mut header).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    let text = header.get("__metadata__")?.get(METADATA_MODEL)?.as_str()?;
    serde_json::from_str(text).ok()
}

/// One tensor's values, in PyTorch's convention.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorValues {
    /// Name (e.g. `layer1.0.bn1.running_var`).
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// Every tensor of a network, in PyTorch's names and layouts (for tests and comparisons).
pub fn tensor_values(net: &Net) -> Result<Vec<TensorValues>, String> {
    net.collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .into_iter()
        .map(|t| {
            let name = t.name.clone();
            let shape = t.shape.to_vec();
            let values = values_f32(t).map_err(|e| format!("{name}: {e}"))?;
            Ok(TensorValues {
                name,
                shape,
                values,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        for (i, bytes) in [
            &b""[..],
            b"PK\x03\x04 not really a zip",
            b"\x80\x02 legacy",
            &[0u8; 100],
        ]
        .into_iter()
        .enumerate()
        {
            let path = dir.path().join(format!("{i}.pth"));
            std::fs::write(&path, bytes).unwrap();
            let err = read_values(&path).unwrap_err();
            assert!(matches!(err, WeightsError::Read { .. }), "{err}");
            assert!(err.to_string().contains(&format!("{i}.pth")), "{err}");
        }
    }

    #[test]
    fn callables_in_a_pickle_are_never_called() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("called");
        // {"x": os.system("touch <marker>")} as a protocol-2 pickle: EMPTY_DICT, the key,
        // GLOBAL os.system, the argument, TUPLE1, REDUCE, SETITEM, STOP.
        let command = format!("touch {}", marker.display());
        let mut pickle = b"\x80\x02}X\x01\x00\x00\x00xcos\nsystem\nX".to_vec();
        pickle.extend(u32::try_from(command.len()).unwrap().to_le_bytes());
        pickle.extend(command.as_bytes());
        pickle.extend(b"\x85Rs.");
        let path = dir.path().join("evil.pth");
        std::fs::write(&path, &pickle).unwrap();
        let err = inspect(&path).unwrap_err().to_string();
        assert!(err.contains("holds no tensors"), "{err}");
        assert!(!marker.exists(), "os.system was called");
        // The same call as the whole file.
        std::fs::write(&path, b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.").unwrap();
        assert!(inspect(&path).is_err());
    }

    #[test]
    fn names_tell_architectures_apart() {
        let text = |names: &[&str]| guess_architecture(names).unwrap_or_default();
        assert_eq!(
            text(&[
                "_conv_stem.weight",
                "_blocks.0._depthwise_conv.weight",
                "_fc.weight"
            ]),
            "an EfficientNet (EfficientNet-PyTorch layout: _conv_stem, _blocks)"
        );
        assert!(text(&["conv_stem.weight", "blocks.0.0.conv_dw.weight"]).contains("timm"));
        assert!(
            text(&["features.0.0.weight", "features.1.0.block.0.0.weight"])
                .starts_with("an EfficientNet (torchvision")
        );
        assert!(text(&["features.1.block.0.0.weight"]).starts_with("a MobileNetV3"));
        assert!(text(&["features.1.conv.0.0.weight"]).starts_with("a MobileNetV2"));
        assert!(text(&["features.0.weight", "classifier.0.weight"]).starts_with("a VGG"));
        assert!(text(&["features.denseblock1.denselayer1.conv1.weight"]).contains("DenseNet"));
        assert_eq!(
            text(&["conv.weight", "conv.bias", "fc.weight"]),
            "SimpleCNN"
        );
        assert_eq!(
            text(&["blocks.0.conv.weight", "blocks.1.conv.weight", "fc.weight"]),
            "the configurable CNN"
        );
        let resnet_guess = |blocks: [usize; 4], last: &str| {
            let mut names = vec!["conv1.weight".to_owned()];
            for (stage, n) in blocks.iter().enumerate() {
                for b in 0..*n {
                    names.push(format!("layer{}.{b}.conv1.weight", stage + 1));
                    names.push(format!("layer{}.{b}.{last}.weight", stage + 1));
                }
            }
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            guess(&names)
        };
        let resnet = |blocks, last| {
            resnet_guess(blocks, last)
                .map(|g| g.text)
                .unwrap_or_default()
        };
        let known = |blocks, last| resnet_guess(blocks, last).map(|g| g.known);
        assert_eq!(resnet([2, 2, 2, 2], "conv2"), "ResNet-18");
        assert_eq!(resnet([3, 4, 6, 3], "conv2"), "ResNet-34");
        assert_eq!(resnet([3, 4, 6, 3], "conv3"), "ResNet-50");
        assert!(resnet([3, 4, 23, 3], "conv3").starts_with("ResNet-101"));
        assert_eq!(
            resnet([2, 3, 4, 2], "conv2"),
            "a ResNet with basic blocks in stages of [2, 3, 4, 2] blocks"
        );
        assert_eq!(
            resnet([1, 1, 1, 1], "conv3"),
            "a ResNet with bottleneck blocks in stages of [1, 1, 1, 1] blocks"
        );
        assert_eq!(
            known([2, 2, 2, 2], "conv2"),
            Some(KnownArchitecture::Model("resnet18"))
        );
        assert_eq!(
            known([3, 4, 6, 3], "conv2"),
            Some(KnownArchitecture::Model("resnet34"))
        );
        assert_eq!(
            known([3, 4, 6, 3], "conv3"),
            Some(KnownArchitecture::Model("resnet50"))
        );
        assert_eq!(
            known([3, 4, 23, 3], "conv3"),
            Some(KnownArchitecture::Unsupported)
        );
        assert_eq!(guess_architecture(&["weight", "bias"]), None);
    }

    #[test]
    fn the_first_convolution_is_the_stem() {
        fn first<'a>(names: &[&'a str]) -> Option<&'a str> {
            names.iter().min_by_key(|n| conv_order(n)).copied()
        }
        assert_eq!(
            first(&[
                "_conv_head.weight",
                "_conv_stem.weight",
                "_blocks.0._depthwise_conv.weight"
            ]),
            Some("_conv_stem.weight")
        );
        assert_eq!(
            first(&["layer1.0.conv1.weight", "conv1.weight"]),
            Some("conv1.weight")
        );
        assert_eq!(
            first(&["features.8.0.weight", "features.0.0.weight"]),
            Some("features.0.0.weight")
        );
    }

    #[test]
    fn dotted_patterns_match_indices() {
        assert!(has_parts(
            "features.1.0.block.0.0.weight",
            &["features", "#", "#", "block"]
        ));
        assert!(!has_parts(
            "features.1.block.0.weight",
            &["features", "#", "#", "block"]
        ));
        assert!(!has_parts(
            "features.x.0.block",
            &["features", "#", "#", "block"]
        ));
        assert!(!has_parts("features", &["features", "#"]));
    }
}
