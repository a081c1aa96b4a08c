//! Pretrained weights: reading safetensors and PyTorch `.pt`/`.pth` state dicts into a network,
//! and writing a network's weights as safetensors in PyTorch's names and layouts.
//!
//! Safetensors files are read with burn-store, PyTorch files with [`super::pth`], which
//! interprets the pickle without executing anything, so a weight file can never run code. Names follow PyTorch (`bn1.weight`, `fc.weight` as
//! `[out, in]`); BatchNorm running statistics load too, `num_batches_tracked` is ignored.
//! Before anything is applied, the file's tensors are compared with the network's by name and
//! shape, so a file that does not fit is refused with the offending tensors listed.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use burn::tensor::DType;
use burn_store::burn_pack::Tensor as PackTensor;
use burn_store::{
    BurnToPyTorchAdapter, FloatCastAdapter, ModuleAdapter, ModuleSnapshot, ModuleStore,
    PyTorchToBurnAdapter, SafetensorsStore, bridge,
};

use super::{ModelConfig, Net, pth};

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
    /// The file holds an architecture this program does not have.
    #[error(
        "{path} holds {found}, which CNN Workbench does not support (the chosen model is {model})"
    )]
    UnsupportedArchitecture {
        /// The file.
        path: String,
        /// What the tensor names suggest.
        found: String,
        /// The chosen model.
        model: String,
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

/// Reads the tensors of a safetensors or PyTorch file, by name, with PyTorch's shapes.
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
        Some("pt" | "pth" | "bin") => {
            let bytes = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
            let tensors = pth::read(&bytes).map_err(|e| read_err(e.to_string()))?;
            let prefix = unwrap_checkpoint(&tensors).map(|key| format!("{key}."));
            tensors
                .into_iter()
                .filter_map(|(name, t)| {
                    let name = match &prefix {
                        Some(p) => name.strip_prefix(p.as_str())?.to_owned(),
                        None => name,
                    };
                    let data = TensorData::new(t.values, t.shape);
                    Some((name.clone(), bridge::from_data(data, name, None)))
                })
                .collect()
        }
        _ => return Err(WeightsError::UnknownFormat { path: shown }),
    };
    // DataParallel prefixes every name with `module.`.
    if !tensors.is_empty() && tensors.keys().all(|k| k.starts_with("module.")) {
        tensors = tensors
            .into_iter()
            .map(|(k, mut t)| {
                let name = k["module.".len()..].to_owned();
                t.name.clone_from(&name);
                (name, t)
            })
            .collect();
    }
    tensors.retain(|name, _| !name.ends_with("num_batches_tracked"));
    if tensors.is_empty() {
        return Err(read_err("the file holds no tensors".into()));
    }
    Ok(tensors)
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

/// Guesses the architecture from tensor names.
fn guess_architecture(names: &[&str]) -> Option<String> {
    let has = |n: &str| names.contains(&n);
    let any = |p: &str| names.iter().any(|n| n.starts_with(p) || n.contains(p));
    if has("conv1.weight") && any("layer1.0.conv3.") {
        return Some("a ResNet with bottleneck blocks (ResNet-50 or deeper)".into());
    }
    if has("conv1.weight") && any("layer1.0.conv1.") {
        let stages = (1..=4).filter(|i| any(&format!("layer{i}.0."))).count();
        let blocks = names
            .iter()
            .filter(|n| n.starts_with("layer1.") && n.ends_with(".conv1.weight"))
            .count();
        return Some(match (stages, blocks) {
            (4, 2) => "ResNet-18".into(),
            (4, 3) => "ResNet-34".into(),
            (3, _) => format!("ResNet-small ({blocks} blocks per stage)"),
            _ => format!("a ResNet with {stages} stages of {blocks} blocks"),
        });
    }
    if any("features.") && any("classifier.") {
        return Some("a VGG/AlexNet-style network (features/classifier)".into());
    }
    if has("conv1.weight") && has("conv2.weight") && has("fc3.weight") {
        return Some("LeNet-5".into());
    }
    if has("conv.weight") && has("fc.weight") {
        return Some("SimpleCNN".into());
    }
    if any("blocks.0.conv.") {
        return Some("the configurable CNN".into());
    }
    if has("fc.weight") && (any("layers.0.") || names.len() == 2) {
        return Some("an MLP".into());
    }
    if any("encoder.") || any("attention") || any("embeddings.") {
        return Some("a transformer".into());
    }
    None
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
        "classifier.6.weight",
        "head.weight",
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

/// Orders convolution names so the network's first one comes first (`conv1` before
/// `layer1.0.conv1`, `blocks.0` before `blocks.1`).
fn conv_order(name: &str) -> (usize, String) {
    (name.matches('.').count(), name.to_owned())
}

/// Loads the weights in `path` into `net` after checking every name and shape.
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

/// Compares the file's tensors with the model's.
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
    // Hardly anything in common: a different architecture altogether.
    let matched = expected.len() - missing.len();
    if matched * 4 < expected.len() {
        let names: Vec<&str> = file.keys().map(String::as_str).collect();
        if let Some(found) = guess_architecture(&names) {
            let supported = [
                "ResNet-18",
                "ResNet-small",
                "LeNet-5",
                "SimpleCNN",
                "the configurable CNN",
                "an MLP",
            ];
            if !supported.iter().any(|s| found.starts_with(s)) {
                return Err(WeightsError::UnsupportedArchitecture {
                    path: path.to_owned(),
                    found,
                    model: model_name.to_owned(),
                });
            }
        }
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
    let data = bridge::into_data(tensor)
        .map_err(|e| adapt_err(format!("cannot read {}: {e}", first.name)))?
        .convert::<f32>();
    let values = data
        .try_to_vec::<f32>()
        .map_err(|e| adapt_err(format!("cannot read {}: {e:?}", first.name)))?;
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
            let values = bridge::into_data(t)
                .map_err(|e| format!("{name}: {e}"))?
                .convert::<f32>()
                .try_to_vec::<f32>()
                .map_err(|e| format!("{name}: {e:?}"))?;
            Ok(TensorValues {
                name,
                shape,
                values,
            })
        })
        .collect()
}
