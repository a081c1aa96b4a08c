//! "Copy as torchvision code": the pipeline as a `transforms.Compose([...])` (torchvision's v2
//! API) that does the same to an image, in the same order, with the same parameter ranges.

use super::{AugmentConfig, FillMode, ImageShape, Op, Preset};
use crate::data::ChannelNorm;

/// A number as Python source: at most four decimals, no trailing zeros.
fn py(v: f32) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

fn pair([a, b]: [f32; 2]) -> String {
    format!("({}, {})", py(a), py(b))
}

/// A grey level as torchvision's float fill (images scaled to 0..1).
fn level(v: u8) -> String {
    py(f32::from(v) / 255.0)
}

/// Wraps a transform that always applies in `RandomApply` when its probability is below 1.
fn with_p(transform: String, p: f32) -> String {
    if p >= 1.0 {
        transform
    } else {
        format!("transforms.RandomApply([{transform}], p={})", py(p))
    }
}

/// The torchvision code for `config` on images of `shape`, normalised with `norm` (if known),
/// for a dataset of `classes` classes.
pub fn torchvision_code(
    config: &AugmentConfig,
    shape: ImageShape,
    norm: Option<&ChannelNorm>,
    classes: usize,
) -> String {
    let size = format!("({}, {})", shape.height, shape.width);
    let mut lines = vec![
        "transforms.ToImage()".to_owned(),
        "transforms.ToDtype(torch.float32, scale=True)".to_owned(),
    ];
    let mut notes = Vec::new();
    for op in Op::ALL {
        if !config.is_active(op) || op.is_batch_level() {
            continue;
        }
        let (_, p) = config.switch(op);
        let line = match op {
            Op::ResizedCrop => {
                let c = &config.resized_crop;
                with_p(
                    format!(
                        "transforms.RandomResizedCrop(size={size}, scale={}, ratio={}, \
                         interpolation=transforms.InterpolationMode.BILINEAR)",
                        pair(c.scale),
                        pair(c.ratio)
                    ),
                    p,
                )
            }
            Op::PadCrop => {
                let c = &config.pad_crop;
                let mode = match c.fill {
                    FillMode::Constant => format!("fill={}", level(c.fill_value)),
                    FillMode::Edge => "padding_mode=\"edge\"".to_owned(),
                };
                with_p(
                    format!(
                        "transforms.RandomCrop(size={size}, padding={}, {mode})",
                        c.padding
                    ),
                    p,
                )
            }
            Op::HFlip => format!("transforms.RandomHorizontalFlip(p={})", py(p)),
            Op::VFlip => format!("transforms.RandomVerticalFlip(p={})", py(p)),
            Op::Affine => {
                let c = &config.affine;
                let mut args = vec![format!("degrees={}", py(c.degrees))];
                if c.translate != [0.0, 0.0] {
                    args.push(format!("translate={}", pair(c.translate)));
                }
                if c.scale != [1.0, 1.0] {
                    args.push(format!("scale={}", pair(c.scale)));
                }
                match c.shear {
                    [0.0, 0.0] => {}
                    [x, 0.0] => args.push(format!("shear={}", py(x))),
                    [x, y] => args.push(format!(
                        "shear=({}, {}, {}, {})",
                        py(-x),
                        py(x),
                        py(-y),
                        py(y)
                    )),
                }
                args.push("interpolation=transforms.InterpolationMode.BILINEAR".to_owned());
                args.push(format!("fill={}", level(c.fill_value)));
                if c.fill == FillMode::Edge {
                    notes.push(
                        "# RandomAffine fills with a constant only; CNN Workbench repeats the \
                         edge pixels instead."
                            .to_owned(),
                    );
                }
                with_p(format!("transforms.RandomAffine({})", args.join(", ")), p)
            }
            Op::ColorJitter => {
                let c = &config.color_jitter;
                let args: Vec<String> = [
                    ("brightness", c.brightness),
                    ("contrast", c.contrast),
                    ("saturation", c.saturation),
                    ("hue", c.hue),
                ]
                .into_iter()
                .filter(|&(_, v)| v > 0.0)
                .map(|(k, v)| format!("{k}={}", py(v)))
                .collect();
                with_p(format!("transforms.ColorJitter({})", args.join(", ")), p)
            }
            Op::Grayscale => format!("transforms.RandomGrayscale(p={})", py(p)),
            Op::Blur => {
                let c = &config.blur;
                let kernel = 2 * (2.0 * c.sigma[1]).ceil() as usize + 1;
                with_p(
                    format!(
                        "transforms.GaussianBlur(kernel_size={kernel}, sigma={})",
                        pair(c.sigma)
                    ),
                    p,
                )
            }
            Op::Noise => with_p(
                format!(
                    "transforms.GaussianNoise(mean=0.0, sigma={}, clip=True)",
                    py(config.noise.sigma)
                ),
                p,
            ),
            Op::Erasing => {
                let c = &config.erasing;
                let value = if c.random {
                    "\"random\"".to_owned()
                } else {
                    level(c.value)
                };
                format!(
                    "transforms.RandomErasing(p={}, scale={}, ratio={}, value={value})",
                    py(p),
                    pair(c.scale),
                    pair(c.ratio)
                )
            }
            Op::Mixup | Op::Cutmix => continue,
        };
        lines.push(line);
    }
    if let Some(norm) = norm {
        let list = |v: &[f32]| {
            v.iter()
                .map(|x| py(x / 255.0))
                .collect::<Vec<_>>()
                .join(", ")
        };
        lines.push(format!(
            "transforms.Normalize(mean=[{}], std=[{}])",
            list(&norm.mean),
            list(&norm.std)
        ));
    }
    let name = config.matching_preset().map_or_else(
        || "custom".to_owned(),
        |p: Preset| format!("\"{}\"", p.label()),
    );
    let colour = if shape.channels == 1 {
        "grayscale"
    } else {
        "RGB"
    };
    let mut code = format!(
        "import torch\nimport torchvision.transforms.v2 as transforms\n\n\
         # CNN Workbench augmentation ({name}) for {}×{} {colour} images.\n",
        shape.width, shape.height
    );
    for note in notes {
        code.push_str(&note);
        code.push('\n');
    }
    code.push_str("train_transform = transforms.Compose([\n");
    for line in lines {
        code.push_str(&format!("    {line},\n"));
    }
    code.push_str("])\n");

    let mixers: Vec<String> = [(Op::Cutmix, &config.cutmix), (Op::Mixup, &config.mixup)]
        .into_iter()
        .filter(|&(op, _)| config.is_active(op))
        .map(|(op, m)| {
            let name = if op == Op::Cutmix { "CutMix" } else { "MixUp" };
            with_p(
                format!(
                    "transforms.{name}(alpha={}, num_classes={classes})",
                    py(m.alpha)
                ),
                m.p,
            )
        })
        .collect();
    if !mixers.is_empty() {
        let mixer = if let [one] = mixers.as_slice() {
            one.clone()
        } else {
            format!("transforms.RandomChoice([{}])", mixers.join(", "))
        };
        code.push_str(&format!(
            "\n# Batch level, in the training loop (targets become soft labels):\n\
             batch_transform = {mixer}\n\
             # images, labels = batch_transform(images, labels)\n"
        ));
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    const MNIST: ImageShape = ImageShape {
        channels: 1,
        height: 28,
        width: 28,
    };

    #[test]
    fn seed_snippet_2_reads_like_the_seed() {
        let norm = ChannelNorm {
            mean: vec![72.94],
            std: vec![90.02],
        };
        let code = torchvision_code(&Preset::Seed2.config(), MNIST, Some(&norm), 10);
        assert!(code.contains("transforms.Compose(["), "{code}");
        assert!(
            code.contains("transforms.RandomHorizontalFlip(p=0.5)"),
            "{code}"
        );
        assert!(
            code.contains(
                "transforms.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), \
                 interpolation=transforms.InterpolationMode.BILINEAR, fill=0)"
            ),
            "{code}"
        );
        assert!(
            code.contains("Normalize(mean=[0.286], std=[0.353])"),
            "{code}"
        );
        assert!(!code.contains("batch_transform"));
    }

    #[test]
    fn every_operation_has_its_transform_and_probabilities_wrap() {
        let mut c = Preset::Strong.config();
        c.mixup.enabled = true;
        c.vflip.enabled = true;
        c.pad_crop.enabled = true;
        c.grayscale.enabled = true;
        c.affine.p = 0.7;
        let code = torchvision_code(&c, MNIST, None, 10);
        for name in [
            "RandomResizedCrop",
            "RandomCrop(size=(28, 28), padding=2",
            "RandomVerticalFlip",
            "RandomApply([transforms.RandomAffine(",
            "shear=8",
            "ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.05)",
            "RandomGrayscale(p=0.1)",
            "GaussianBlur(kernel_size=5, sigma=(0.1, 1))",
            "GaussianNoise(mean=0.0, sigma=0.03, clip=True)",
            "RandomErasing(p=0.5, scale=(0.02, 0.15), ratio=(0.3, 3.3), value=0)",
            "RandomChoice([transforms.RandomApply([transforms.CutMix(alpha=1, num_classes=10)], p=0.5)",
        ] {
            assert!(code.contains(name), "{name} missing from\n{code}");
        }
    }
}
