//! Hand-written CPU kernels for the layers that dominate training time, plugged into Burn
//! through its backend-extension mechanism.
//!
//! On the CPU backend (flex) Burn's own convolution computes the input gradient as a transposed
//! convolution and the weight gradient as a convolution over the batch with swapped axes, with
//! copies around both; a profile of the deeper CNN spends most of its time there. [`conv2d`]
//! routes a [`Conv2d`] layer on a flex tensor through [`conv`] instead, forward and backward,
//! with a hand-written backward step registered with Burn's autodiff graph. On a CPU with AVX2
//! and FMA (or AVX-512, chosen at run time: see [`direct::simd`]), layers take [`direct`]
//! (register-tiled products read straight from a padded image, stored as phase planes for a
//! stride above 1) and, for 3×3 stride-1 kernels with at least 16 channels, [`winograd`]
//! (F(2×2, 3×3): 16 multiplications per 2×2 tile instead of 36; F(4×4, 3×3), 36 per 4×4 tile
//! instead of 144, from 24 outputs a side) for the forward pass, the input
//! gradient and the weight gradient; a strided layer's input gradient is split by the input pixels' phases into
//! stride-1 convolutions on the direct kernels. Where one side has at most four channels (a
//! generator's last layer, a first layer's input gradient), the direct kernels put grid
//! positions in the lanes instead of 16 channels, most of which would be padding. The rest (a
//! first layer's forward pass, strided 1×1 layers) take patch matrices. A ×2 nearest
//! upsampling followed by a 3×3 "same" layer (the generator's stages) is one operation
//! ([`upsample2_conv2d`]) whose Winograd tiles read the image at its own size: the upsampled
//! copy is never stored, and 9 of the 16 transformed points remain, in every pass (see
//! [`winograd`]). On any other device (wgpu) and for layouts these kernels do
//! not cover (groups, dilation, non-f32 values) the layer runs through Burn as before.
//!
//! Element-wise work next to a layer is fused into it rather than left to Burn's element-wise
//! operations, which run on the one thread that drives training: a ReLU or leaky ReLU after a
//! convolution ([`Activation`]) is applied as its output is written and its gradient as the
//! output gradient is read; a ReLU after batch normalisation likewise ([`batch_norm_relu`]);
//! ×2 nearest upsampling ([`upsample2`]) is one parallel pass each way, and so is the sum and
//! ReLU that end a residual block ([`add_relu`], in place where the buffers allow). The fused
//! activations, the upsampling and the residual sum give, bit for bit, what Burn's own
//! operations give on the same input.
//!
//! The environment variable `CNN_WORKBENCH_KERNELS` picks a path for the whole process, so
//! benchmarks can measure each from one build: `burn` (Burn's own ops), `patches` (no direct or
//! Winograd kernels), `direct` (no Winograd). `CNN_WORKBENCH_SIMD=avx2` holds the direct and
//! Winograd kernels at AVX2 on an AVX-512 CPU.

pub mod conv;
#[cfg(target_arch = "x86_64")]
pub mod direct;
pub mod norm;
pub mod pool;
pub mod residual;
pub mod upsample;
#[cfg(target_arch = "x86_64")]
pub mod winograd;

use std::borrow::Cow;
use std::sync::OnceLock;

use pulp::WithSimd;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Backend, Dispatch, DispatchTensor, DispatchTensorKind, ExtensionType, Flex, backend_extension,
};
use burn::nn::BatchNorm;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use burn::tensor::{DType, Shape, TensorData};

pub use conv::{Activation, ConvGeometry};
pub use norm::NormGeometry;
pub use pool::PoolGeometry;
pub use upsample::UpsampleGeometry;

/// The tensor's values in row-major order, copying only when it is a strided view.
fn values(tensor: &FlexTensor) -> Cow<'_, [f32]> {
    match tensor.as_slice::<f32>() {
        Some(slice) => Cow::Borrowed(slice),
        None => Cow::Owned(tensor.to_contiguous().storage::<f32>().to_vec()),
    }
}

/// A contiguous CPU tensor of `shape` holding `values`.
fn tensor(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, Shape::from(shape.to_vec())))
}

/// Values per parallel task of an element-wise pass: large enough to be worth handing out,
/// small enough to spread.
const PARALLEL_CHUNK: usize = 1 << 14;

/// `values_of`'s values changed by `f`: in its own buffer where that is contiguous and not
/// shared (no buffer allocated: a fresh one costs more in page faults than an element-wise
/// pass), in a copy otherwise.
fn in_place(mut values_of: FlexTensor, f: impl FnOnce(&mut [f32])) -> FlexTensor {
    let len = values_of.layout().num_elements();
    if let Some((start, end)) = values_of.layout().contiguous_offsets()
        && end - start == len
        && let Some(storage) = values_of.try_storage_mut::<f32>()
    {
        f(&mut storage[start..end]);
        return values_of;
    }
    let mut copy = values(&values_of).into_owned();
    f(&mut copy);
    tensor(copy, values_of.layout().shape())
}

/// Values from which [`zeros`] shares the zeroing out among the thread pool.
const PARALLEL_ZEROS: usize = 1 << 16;

/// `len` zeros for a layer's output or gradient, which its kernels then overwrite. Written by
/// the thread pool for large buffers: `vec![0.0; len]` zeroes memory the allocator hands back
/// on the calling thread alone, 7 % of ResNet-small's samples with the second core idle.
fn zeros(len: usize) -> Vec<f32> {
    if len < PARALLEL_ZEROS {
        return vec![0.0; len];
    }
    let mut values = Vec::with_capacity(len);
    rayon::iter::ParallelExtend::par_extend(&mut values, rayon::iter::repeat_n(0.0f32, len));
    values
}

/// `value` where `mask` is positive, else 0: the ReLU gradient's gate, written with bit
/// operations so that it compiles to no branch even where the compiler cannot vectorise the loop
/// around it (a branch on the sign of activations mispredicts half the time).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn where_positive(value: f32, mask: f32) -> f32 {
    f32::from_bits(value.to_bits() & u32::from(mask > 0.0).wrapping_neg())
}

/// The sum of `values` in eight interleaved partial sums, so the compiler can keep them in
/// vector registers (a plain `sum()` adds one value after another and waits on each add).
fn sum(values: &[f32]) -> f32 {
    masked_sum(values, None)
}

/// The sum of the `values` whose `mask` entry is positive (all of them without a mask), in
/// eight interleaved partial sums like [`sum`].
fn masked_sum(values: &[f32], mask: Option<&[f32]>) -> f32 {
    const LANES: usize = 8;
    let mut lanes = [0.0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    match mask {
        None => {
            for chunk in chunks {
                for (lane, v) in lanes.iter_mut().zip(chunk) {
                    *lane += v;
                }
            }
            lanes[0] += tail.iter().sum::<f32>();
        }
        Some(mask) => {
            let mask = &mask[..values.len()];
            for (chunk, m) in chunks.zip(mask.chunks_exact(LANES)) {
                for ((lane, v), m) in lanes.iter_mut().zip(chunk).zip(m) {
                    *lane += if *m > 0.0 { *v } else { 0.0 };
                }
            }
            let m = &mask[values.len() - tail.len()..];
            lanes[0] += tail
                .iter()
                .zip(m)
                .map(|(v, m)| if *m > 0.0 { *v } else { 0.0 })
                .sum::<f32>();
        }
    }
    lanes.iter().sum()
}

/// Runs `op` compiled for AVX2 + FMA where the CPU has them (at the baseline elsewhere), so the
/// plain loops inside it vectorise 8 lanes wide. Rust never contracts a multiply and an add into
/// one FMA on its own, so `op` computes the same values at either level.
fn vectorized<Op: WithSimd>(op: Op) -> Op::Output {
    #[cfg(target_arch = "x86_64")]
    if let Some(level) = direct::simd() {
        return pulp::Simd::vectorize(level.avx2(), op);
    }
    pulp::Simd::vectorize(pulp::Scalar::new(), op)
}

/// Whether the hand-written kernels are in use (they are unless `CNN_WORKBENCH_KERNELS=burn`).
pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        std::env::var("CNN_WORKBENCH_KERNELS").map_or(true, |v| !v.eq_ignore_ascii_case("burn"))
    })
}

/// Whether convolutions take the direct (patch-free) kernels where the CPU has AVX2 and FMA; `CNN_WORKBENCH_KERNELS=patches` keeps them on the patch-matrix path.
pub fn direct_enabled() -> bool {
    static DIRECT: OnceLock<bool> = OnceLock::new();
    *DIRECT.get_or_init(|| {
        std::env::var("CNN_WORKBENCH_KERNELS").map_or(true, |v| !v.eq_ignore_ascii_case("patches"))
    })
}

/// Whether 3×3 stride-1 convolutions on the direct path use Winograd's tiles for the
/// forward pass and both gradients; `CNN_WORKBENCH_KERNELS=direct` keeps them direct.
pub fn winograd_enabled() -> bool {
    static WINOGRAD: OnceLock<bool> = OnceLock::new();
    *WINOGRAD.get_or_init(|| {
        std::env::var("CNN_WORKBENCH_KERNELS").map_or(true, |v| !v.eq_ignore_ascii_case("direct"))
    })
}

/// What batch normalisation in training mode gives: the output and the batch statistics.
#[derive(ExtensionType)]
pub struct NormTrain<B: Backend> {
    /// The normalised, scaled and shifted input.
    pub output: FloatTensor<B>,
    /// The batch mean per channel.
    pub mean: FloatTensor<B>,
    /// The biased batch variance per channel.
    pub variance: FloatTensor<B>,
}

/// The operations these kernels add to a backend.
#[backend_extension(Autodiff, Flex)]
pub trait CpuKernels: Backend {
    /// A convolution with the given geometry (no groups, no dilation); `bias` has one value per
    /// output channel.
    fn patch_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self>;

    /// The convolution `geometry` of the ×2 nearest-neighbour upsampling `up` of `x`, as one
    /// operation (the upsampled image is not stored).
    fn patch_upsample_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        up: UpsampleGeometry,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self>;

    /// `relu(a + b)` for `a` and `b` of one shape (checked by the caller).
    fn patch_add_relu(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self>;

    /// A max pooling with the given geometry (no dilation, floor rounding).
    fn patch_max_pool2d(x: FloatTensor<Self>, geometry: PoolGeometry) -> FloatTensor<Self>;

    /// ×2 nearest-neighbour upsampling.
    fn patch_upsample2(x: FloatTensor<Self>, geometry: UpsampleGeometry) -> FloatTensor<Self>;

    /// Batch normalisation with the batch's own statistics (training mode).
    fn patch_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        geometry: NormGeometry,
    ) -> NormTrain<Self>;
}

impl CpuKernels for Flex {
    fn patch_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        geometry: ConvGeometry,
    ) -> FlexTensor {
        conv::forward(&geometry, &x, &weight, &bias)
    }

    fn patch_upsample_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        up: UpsampleGeometry,
        geometry: ConvGeometry,
    ) -> FlexTensor {
        conv::forward_upsampled(&up, &geometry, &x, &weight, &bias)
    }

    fn patch_add_relu(a: FlexTensor, b: FlexTensor) -> FlexTensor {
        add_relu_flex(a, &b)
    }

    fn patch_max_pool2d(x: FlexTensor, geometry: PoolGeometry) -> FlexTensor {
        pool::forward(&geometry, &x).0
    }

    fn patch_upsample2(x: FlexTensor, geometry: UpsampleGeometry) -> FlexTensor {
        upsample::forward(&geometry, &x)
    }

    fn patch_batch_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        geometry: NormGeometry,
    ) -> NormTrain<Self> {
        let (output, mean, variance, _) = norm::forward(&geometry, &x, &gamma, &beta);
        NormTrain {
            output,
            mean,
            variance,
        }
    }
}

#[derive(Debug)]
struct NormBackward;

impl Backward<Flex, 3> for NormBackward {
    type State = (NodeId, FlexTensor, norm::Saved, NormGeometry);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_state, gamma, saved, geometry) = ops.state;
        let x: FlexTensor = checkpointer.retrieve_node_output(x_state);
        let wanted = norm::Wanted {
            x: node_x.is_some(),
            gamma: node_gamma.is_some(),
            beta: node_beta.is_some(),
        };
        let (dx, dgamma, dbeta) = norm::backward(&geometry, &x, &gamma, &saved, &grad, wanted);
        for (node, grad) in [(node_x, dx), (node_gamma, dgamma), (node_beta, dbeta)] {
            if let (Some(node), Some(grad)) = (node, grad) {
                grads.register::<Flex>(node.id, grad);
            }
        }
    }
}

/// The backward step of an operation with one input, whose gradient `gradient` computes from
/// the operation's saved state and its output's gradient.
#[derive(Debug)]
struct OneInputBackward<S> {
    gradient: fn(&S, &FlexTensor) -> FlexTensor,
}

impl<S: Clone + Send + std::fmt::Debug + 'static> Backward<Flex, 1> for OneInputBackward<S> {
    type State = S;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, (self.gradient)(&ops.state, &grad));
        }
    }
}

/// [`residual::forward`], or Burn's own sum and ReLU should the shapes differ (the caller
/// checks that they do not).
fn add_relu_flex(a: FlexTensor, b: &FlexTensor) -> FlexTensor {
    if a.layout().shape() == b.layout().shape() {
        return residual::forward(a, b);
    }
    use burn::backend::ops::{ActivationOps, FloatTensorOps};
    Flex::relu(Flex::float_add(a, b.clone()))
}

/// The backward step of [`CpuKernels::patch_add_relu`]: the output's gradient gated by the saved
/// output, to both inputs.
#[derive(Debug)]
struct AddReluBackward;

impl Backward<Flex, 2> for AddReluBackward {
    type State = FlexTensor;

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_a, node_b] = ops.parents;
        let grad = residual::backward(&ops.state, grads.consume::<Flex>(&ops.node));
        match (node_a, node_b) {
            (Some(a), Some(b)) => {
                grads.register::<Flex>(a.id, grad.clone());
                grads.register::<Flex>(b.id, grad);
            }
            (Some(node), None) | (None, Some(node)) => grads.register::<Flex>(node.id, grad),
            (None, None) => {}
        }
    }
}

/// Max pooling's backward step: each output gradient back to where its maximum came from.
const MAX_POOL_BACKWARD: OneInputBackward<(pool::Argmax, PoolGeometry)> = OneInputBackward {
    gradient: |(argmax, geometry), grad| pool::backward(geometry, argmax, grad),
};

/// Upsampling's backward step: each input's gradient the sum of its block's.
const UPSAMPLE_BACKWARD: OneInputBackward<UpsampleGeometry> = OneInputBackward {
    gradient: upsample::backward,
};

/// The forward pass of a convolution, of the upsampling `up` of `x` where given.
fn convolve_flex(
    up: Option<&UpsampleGeometry>,
    geometry: &ConvGeometry,
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
) -> FlexTensor {
    match up {
        Some(up) => conv::forward_upsampled(up, geometry, x, weight, bias),
        None => conv::forward(geometry, x, weight, bias),
    }
}

/// The backward step of a convolution ([`CpuKernels::patch_conv2d`]), or of an upsampling and
/// a convolution ([`CpuKernels::patch_upsample_conv2d`]) where the state holds the upsampling.
#[derive(Debug)]
struct PatchConvBackward;

impl Backward<Flex, 3> for PatchConvBackward {
    type State = (
        NodeId,
        NodeId,
        Option<UpsampleGeometry>,
        ConvGeometry,
        Option<FlexTensor>,
    );

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_state, weight_state, up, geometry, output) = ops.state;
        let x: FlexTensor = checkpointer.retrieve_node_output(x_state);
        let weight: FlexTensor = checkpointer.retrieve_node_output(weight_state);
        let wanted = conv::Wanted {
            x: node_x.is_some(),
            weight: node_weight.is_some(),
            bias: node_bias.is_some(),
        };
        let (g, output) = (&geometry, output.as_ref());
        let (dx, dweight, dbias) = match &up {
            Some(up) => conv::backward_upsampled(up, g, &x, &weight, output, grad, wanted),
            None => conv::backward(g, &x, &weight, output, grad, wanted),
        };
        for (node, grad) in [(node_x, dx), (node_weight, dweight), (node_bias, dbias)] {
            if let (Some(node), Some(grad)) = (node, grad) {
                grads.register::<Flex>(node.id, grad);
            }
        }
    }
}

/// A convolution (of the upsampling `up` of `x` where given) on the CPU backend with
/// autodiff: the forward pass, and where a gradient is wanted, [`PatchConvBackward`]
/// registered with the inputs and weights it needs (and the output, behind an activation).
fn tracked_conv<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    weight: FloatTensor<Autodiff<Flex, C>>,
    bias: FloatTensor<Autodiff<Flex, C>>,
    up: Option<UpsampleGeometry>,
    geometry: ConvGeometry,
) -> FloatTensor<Autodiff<Flex, C>> {
    let forward = |x: &FlexTensor, weight: &FlexTensor, bias: &FlexTensor| {
        convolve_flex(up.as_ref(), &geometry, x, weight, bias)
    };
    match PatchConvBackward
        .prepare::<C>([x.node(), weight.node(), bias.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x);
            let weight_state = prep.checkpoint(&weight);
            let out = forward(x.primitive(), weight.primitive(), bias.primitive());
            let saved_output = (geometry.activation != Activation::Identity).then(|| out.clone());
            prep.finish((x_state, weight_state, up, geometry, saved_output), out)
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(forward(x.primitive(), weight.primitive(), bias.primitive()))
        }
    }
}

impl<C: CheckpointStrategy> CpuKernels for Autodiff<Flex, C> {
    fn patch_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self> {
        tracked_conv::<C>(x, weight, bias, None, geometry)
    }

    fn patch_upsample_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        up: UpsampleGeometry,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self> {
        tracked_conv::<C>(x, weight, bias, Some(up), geometry)
    }

    fn patch_add_relu(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        let (a, a_node) = a.into_parts();
        let (b, b_node) = b.into_parts();
        match AddReluBackward
            .prepare::<C>([a_node, b_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = add_relu_flex(a, &b);
                prep.finish(out.clone(), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(add_relu_flex(a, &b)),
        }
    }

    fn patch_max_pool2d(x: FloatTensor<Self>, geometry: PoolGeometry) -> FloatTensor<Self> {
        match MAX_POOL_BACKWARD
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (out, argmax) = pool::forward(&geometry, x.primitive());
                prep.finish((argmax, geometry), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(pool::forward(&geometry, x.primitive()).0),
        }
    }

    fn patch_upsample2(x: FloatTensor<Self>, geometry: UpsampleGeometry) -> FloatTensor<Self> {
        match UPSAMPLE_BACKWARD
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                prep.finish(geometry, upsample::forward(&geometry, x.primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(upsample::forward(&geometry, x.primitive())),
        }
    }

    fn patch_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        geometry: NormGeometry,
    ) -> NormTrain<Self> {
        let (output, mean, variance) = match NormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let (output, mean, variance, saved) = norm::forward(
                    &geometry,
                    x.primitive(),
                    gamma.primitive(),
                    beta.primitive(),
                );
                let state = (x_state, gamma.primitive().clone(), saved, geometry);
                (prep.finish(state, output), mean, variance)
            }
            OpsKind::UnTracked(prep) => {
                let (output, mean, variance, _) = norm::forward(
                    &geometry,
                    x.primitive(),
                    gamma.primitive(),
                    beta.primitive(),
                );
                (prep.finish(output), mean, variance)
            }
        };
        NormTrain {
            output,
            mean: FloatTensor::<Self>::new(mean),
            variance: FloatTensor::<Self>::new(variance),
        }
    }
}

/// Whether a tensor lives on the CPU backend, with or without autodiff.
fn on_flex(tensor: &DispatchTensor) -> bool {
    match &tensor.kind {
        DispatchTensorKind::Flex(_) => true,
        DispatchTensorKind::Autodiff(inner) => matches!(**inner, DispatchTensorKind::Flex(_)),
        _ => false,
    }
}

/// The zeros `[top, bottom, left, right]` a padding setting adds around an `[h, w]` image:
/// "same" pads so that the output has `ceil(size / stride)` pixels, the extra one at the end.
fn padding(
    config: &PaddingConfig2d,
    [h, w]: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
) -> [usize; 4] {
    let same = |size: usize, kernel: usize, stride: usize| {
        let out = size.div_ceil(stride.max(1));
        let total = (out.saturating_sub(1) * stride + kernel).saturating_sub(size);
        (total / 2, total - total / 2)
    };
    match config {
        PaddingConfig2d::Valid => [0; 4],
        PaddingConfig2d::Same => {
            let (top, bottom) = same(h, kernel[0], stride[0]);
            let (left, right) = same(w, kernel[1], stride[1]);
            [top, bottom, left, right]
        }
        PaddingConfig2d::Explicit(top, left, bottom, right) => [*top, *bottom, *left, *right],
    }
}

/// `conv.forward(x)`, through the hand-written kernels when `x` is on the CPU backend and the
/// layer is one they cover.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    convolve(conv, x, Activation::Identity)
}

/// `relu(conv.forward(x))`, the ReLU fused into the convolution when the kernels run it.
pub fn conv2d_relu(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    convolve(conv, x, Activation::Relu)
}

/// `activation` applied with Burn's own operations.
fn activate(y: Tensor<4>, activation: Activation) -> Tensor<4> {
    match activation {
        Activation::Identity => y,
        Activation::Relu => burn::tensor::activation::relu(y),
        Activation::LeakyRelu(slope) => burn::tensor::activation::leaky_relu(y, f64::from(slope)),
    }
}

fn convolve(conv: &Conv2d, x: Tensor<4>, activation: Activation) -> Tensor<4> {
    if conv.groups != 1 || conv.dilation != [1, 1] {
        return activate(conv.forward(x), activation);
    }
    let [_, _, h, w] = x.dims();
    let pads = padding(&conv.padding, [h, w], conv.kernel_size, conv.stride);
    conv2d_weighted(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(burn::module::Param::val),
        conv.stride,
        pads,
        activation,
    )
}

/// A convolution with a weight computed elsewhere (e.g. a spectrally normalised one):
/// `x` `[batch, cin, h, w]` with `weight` `[cout, cin, kh, kw]`, `bias`, `stride` and zero
/// `padding` `[top, bottom, left, right]`, then `activation`; through the hand-written
/// kernels on the CPU backend, through Burn elsewhere. Gradients reach the weight tensor and
/// whatever it was computed from.
pub fn conv2d_weighted(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: [usize; 2],
    pads: [usize; 4],
    activation: Activation,
) -> Tensor<4> {
    let through_burn = |x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>| {
        let [top, bottom, left, right] = pads;
        let options = burn::tensor::ops::ConvOptions::new_with_padding(
            stride,
            [(top, bottom), (left, right)],
            [1, 1],
            1,
        );
        activate(
            burn::tensor::module::conv2d(x, weight, bias, options),
            activation,
        )
    };
    if !enabled() || x.dtype() != DType::F32 || weight.dtype() != DType::F32 {
        return through_burn(x, weight, bias);
    }
    let Some(mut geometry) = ConvGeometry::new(&x.dims(), &weight.dims(), stride, pads) else {
        return through_burn(x, weight, bias);
    };
    // The fused leaky ReLU tells the sides apart by the output's sign.
    if matches!(activation, Activation::LeakyRelu(slope) if !(slope > 0.0 && slope < 1.0)) {
        return through_burn(x, weight, bias);
    }
    geometry.activation = activation;
    let x = x.into_dispatch();
    if !on_flex(&x) {
        return through_burn(Tensor::from_dispatch(x), weight, bias);
    }
    let bias = match bias {
        Some(bias) => bias,
        None => Tensor::zeros([geometry.cout], &weight.device()),
    };
    Tensor::from_dispatch(Dispatch::patch_conv2d(
        x,
        weight.into_dispatch(),
        bias.into_dispatch(),
        geometry,
    ))
}

/// `pool.forward(x)`, through the hand-written kernels when `x` is on the CPU backend and the
/// layer is one they cover.
pub fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    if !enabled() || pool.dilation != [1, 1] || pool.ceil_mode || x.dtype() != DType::F32 {
        return pool.forward(x);
    }
    let padding = match pool.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [top, left]
        }
        _ => return pool.forward(x),
    };
    let Some(geometry) = PoolGeometry::new(&x.dims(), pool.kernel_size, pool.stride, padding)
    else {
        return pool.forward(x);
    };
    let x = x.into_dispatch();
    if !on_flex(&x) {
        return pool.forward(Tensor::from_dispatch(x));
    }
    Tensor::from_dispatch(Dispatch::patch_max_pool2d(x, geometry))
}

/// ×2 nearest-neighbour upsampling of `x` `[batch, channels, h, w]` to
/// `[batch, channels, 2h, 2w]`, through the hand-written kernels on the CPU backend and through
/// Burn's reshape and expand elsewhere.
pub fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let through_burn = |x: Tensor<4>| {
        let [b, c, h, w] = x.dims();
        x.reshape([b, c, h, 1, w, 1])
            .expand([b, c, h, 2, w, 2])
            .reshape([b, c, 2 * h, 2 * w])
    };
    let geometry = UpsampleGeometry::new(&x.dims());
    let Some(geometry) = geometry.filter(|_| enabled() && x.dtype() == DType::F32) else {
        return through_burn(x);
    };
    let x = x.into_dispatch();
    if !on_flex(&x) {
        return through_burn(Tensor::from_dispatch(x));
    }
    Tensor::from_dispatch(Dispatch::patch_upsample2(x, geometry))
}

/// `conv.forward(upsample2(x))`: ×2 nearest-neighbour upsampling, then the layer. On the CPU
/// backend the two are one operation whose 3×3 "same" layers read `x` at its own size (9
/// multiplications per 2×2 output tile on Winograd's tiles, and no upsampled copy, forward or
/// backward); elsewhere, and for layers the kernels do not cover, the two steps as they are.
pub fn upsample2_conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let two_steps = |x: Tensor<4>| conv2d(conv, upsample2(x));
    let (Some(up), true) = (UpsampleGeometry::new(&x.dims()), enabled()) else {
        return two_steps(x);
    };
    if conv.groups != 1 || conv.dilation != [1, 1] || x.dtype() != DType::F32 {
        return two_steps(x);
    }
    let weight = conv.weight.val();
    let [b, c, h, w] = up.output_shape();
    let pads = padding(&conv.padding, [h, w], conv.kernel_size, conv.stride);
    let Some(geometry) = ConvGeometry::new(&[b, c, h, w], &weight.dims(), conv.stride, pads) else {
        return two_steps(x);
    };
    if weight.dtype() != DType::F32 {
        return two_steps(x);
    }
    let x = x.into_dispatch();
    if !on_flex(&x) {
        return two_steps(Tensor::from_dispatch(x));
    }
    let bias = match conv.bias.as_ref() {
        Some(bias) => bias.val(),
        None => Tensor::zeros([geometry.cout], &weight.device()),
    };
    Tensor::from_dispatch(Dispatch::patch_upsample_conv2d(
        x,
        weight.into_dispatch(),
        bias.into_dispatch(),
        up,
        geometry,
    ))
}

/// `relu(a + b)`, the end of a residual block: on the CPU backend one operation whose passes run
/// on the thread pool (see [`residual`]); Burn's sum and ReLU elsewhere and for tensors of
/// different shapes (broadcasting) or other element types.
pub fn add_relu(a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    let two_steps = |a: Tensor<4>, b: Tensor<4>| burn::tensor::activation::relu(a + b);
    if !enabled() || a.dims() != b.dims() || a.dtype() != DType::F32 || b.dtype() != DType::F32 {
        return two_steps(a, b);
    }
    let (a, b) = (a.into_dispatch(), b.into_dispatch());
    if !on_flex(&a) || !on_flex(&b) {
        return two_steps(Tensor::from_dispatch(a), Tensor::from_dispatch(b));
    }
    Tensor::from_dispatch(Dispatch::patch_add_relu(a, b))
}

/// `bn.forward(x)`, through the hand-written kernels when `x` is on the CPU backend in training
/// mode: the output normalised with the batch's statistics, and the running statistics moved
/// towards them by the layer's momentum, exactly as Burn's layer does.
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    normalize(bn, x, false)
}

/// `relu(bn.forward(x))`, the ReLU fused into the normalisation when the kernels run it.
pub fn batch_norm_relu(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    normalize(bn, x, true)
}

fn normalize(bn: &BatchNorm, x: Tensor<4>, relu: bool) -> Tensor<4> {
    let through_burn = |x: Tensor<4>| {
        let y = bn.forward(x);
        if relu {
            burn::tensor::activation::relu(y)
        } else {
            y
        }
    };
    let training = x.device().is_autodiff() && bn.training.is_enabled();
    let Some(geometry) = NormGeometry::new(&x.dims(), bn.epsilon, relu) else {
        return through_burn(x);
    };
    if !enabled() || !training || x.dtype() != DType::F32 || bn.gamma.val().dtype() != DType::F32 {
        return through_burn(x);
    }
    let x = x.into_dispatch();
    if !on_flex(&x) {
        return through_burn(Tensor::from_dispatch(x));
    }
    let result = Dispatch::patch_batch_norm_train(
        x,
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        geometry,
    );
    let (mean, variance): (Tensor<1>, Tensor<1>) = (
        Tensor::from_dispatch(result.mean),
        Tensor::from_dispatch(result.variance),
    );
    let device = mean.device();
    let momentum = bn.momentum;
    let running_mean = bn
        .running_mean
        .value_sync()
        .to_device(&device)
        .mul_scalar(1.0 - momentum)
        .add(mean.detach().mul_scalar(momentum));
    let running_var = bn
        .running_var
        .value_sync()
        .to_device(&device)
        .mul_scalar(1.0 - momentum)
        .add(variance.detach().mul_scalar(momentum));
    bn.running_mean.update(running_mean.detach());
    bn.running_var.update(running_var.detach());
    Tensor::from_dispatch(result.output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::BatchNormConfig;
    use burn::nn::conv::Conv2dConfig;
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::Distribution;

    /// 1 where a ReLU's output is positive, else 0: a constant, outside the autodiff graph.
    fn relu_mask(out: Tensor<4>, device: &Device) -> Tensor<4> {
        slope_mask(out, 0.0, device)
    }

    /// 1 where a (leaky) ReLU's output is positive, `slope` elsewhere: a constant, outside the
    /// autodiff graph.
    fn slope_mask(out: Tensor<4>, slope: f32, device: &Device) -> Tensor<4> {
        let out = out.into_data();
        let mask: Vec<f32> = out
            .iter::<f32>()
            .map(|v| if v > 0.0 { 1.0 } else { slope })
            .collect();
        Tensor::<4>::from_data(TensorData::new(mask, out.shape().clone()), device)
    }

    /// Gradients of `sum(conv(x) * probe)` through Burn's convolution and through the kernels.
    fn compare(
        cin: usize,
        cout: usize,
        size: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: &PaddingConfig2d,
        bias: bool,
    ) {
        for activation in [
            Activation::Identity,
            Activation::Relu,
            Activation::LeakyRelu(0.2),
        ] {
            compare_layer(
                cin,
                cout,
                size,
                kernel,
                stride,
                padding.clone(),
                bias,
                activation,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn compare_layer(
        cin: usize,
        cout: usize,
        size: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: PaddingConfig2d,
        bias: bool,
        activation: Activation,
    ) {
        let device = Device::flex().autodiff();
        let conv: Conv2d = Conv2dConfig::new([cin, cout], kernel)
            .with_stride(stride)
            .with_padding(padding)
            .with_bias(bias)
            .init(&device);
        let x = Tensor::<4>::random(
            [3, cin, size[0], size[1]],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let reference = conv.forward(x.clone().require_grad());
        let probe = Tensor::<4>::random(reference.dims(), Distribution::Normal(0.0, 1.0), &device);

        // Where a pre-activation lies within rounding of zero, the two paths may fairly disagree
        // on which side of the (leaky) ReLU it falls, and a whole weight's gradient moves with
        // it. So the reference applies the kernels' own mask (taken as a constant): every value
        // and gradient is then compared, and a kernel that skipped or misplaced its activation
        // still fails on the output or the gradients.
        let kernel_mask = match activation {
            Activation::Identity => None,
            Activation::Relu => Some(relu_mask(conv2d_relu(&conv, x.clone()), &device)),
            Activation::LeakyRelu(slope) => Some(slope_mask(
                convolve(&conv, x.clone(), activation),
                slope,
                &device,
            )),
        };
        let run = |through_kernels: bool| {
            let x = x.clone().require_grad();
            let out = match (through_kernels, &kernel_mask) {
                (true, _) => convolve(&conv, x.clone(), activation),
                (false, None) => conv.forward(x.clone()),
                (false, Some(mask)) => conv.forward(x.clone()) * mask.clone(),
            };
            let grads = (out.clone() * probe.clone()).sum().backward();
            let dx = x.grad(&grads).map(|g| g.into_data());
            let dw = conv.weight.val().grad(&grads).map(|g| g.into_data());
            let db = conv
                .bias
                .as_ref()
                .and_then(|b| b.val().grad(&grads))
                .map(|g| g.into_data());
            (out.into_data(), dx, dw, db)
        };
        let (out_a, dx_a, dw_a, db_a) = run(false);
        let (out_b, dx_b, dw_b, db_b) = run(true);
        let close = assert_close;
        close(&out_a, &out_b, "output");
        close(&dx_a.expect("x grad"), &dx_b.expect("x grad"), "x grad");
        close(
            &dw_a.expect("weight grad"),
            &dw_b.expect("weight grad"),
            "weight grad",
        );
        assert_eq!(db_a.is_some(), db_b.is_some());
        if let (Some(a), Some(b)) = (db_a, db_b) {
            close(&a, &b, "bias grad");
        }
    }

    /// Two tensors of one shape whose values agree within 10⁻⁴ of the first one's largest
    /// magnitude (at least 1).
    fn assert_close(a: &TensorData, b: &TensorData, what: &str) {
        assert_eq!(a.shape(), b.shape(), "{what} shape");
        let a = a.try_to_vec::<f32>().unwrap_or_default();
        let b = b.try_to_vec::<f32>().unwrap_or_default();
        assert!(!a.is_empty());
        let scale = a.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * scale, "{what}[{i}]: {x} vs {y}");
        }
    }

    #[test]
    fn convolution_kernels_match_burn_forward_and_backward() {
        use PaddingConfig2d::{Explicit, Same, Valid};
        // (input channels, output channels, image, kernel, stride, padding, bias)
        let cases = [
            (1, 4, [7, 6], [3, 3], [1, 1], Explicit(1, 1, 1, 1), true),
            (3, 5, [8, 8], [3, 3], [2, 2], Explicit(1, 1, 1, 1), false),
            (2, 3, [9, 7], [5, 5], [1, 1], Valid, true),
            (4, 2, [6, 6], [1, 1], [2, 2], Valid, false),
            (3, 4, [11, 10], [7, 7], [2, 2], Explicit(3, 3, 3, 3), true),
            (2, 2, [5, 8], [2, 3], [1, 2], Explicit(0, 2, 1, 0), true),
            (2, 3, [7, 7], [3, 3], [2, 2], Same, true),
            // Every side above 5: the blocked matrix product, as real layers use it.
            (8, 16, [12, 12], [3, 3], [1, 1], Explicit(1, 1, 1, 1), true),
            (6, 12, [13, 11], [3, 3], [2, 2], Explicit(1, 1, 1, 1), false),
            (16, 8, [8, 8], [1, 1], [2, 2], Valid, false),
            // Output rows as wide as input rows: the shifted-copy gather, taps reaching 2 past
            // the edge, and a lopsided padding.
            (3, 6, [9, 8], [5, 5], [1, 1], Explicit(2, 2, 2, 2), true),
            (2, 7, [6, 7], [2, 3], [1, 1], Explicit(0, 1, 1, 1), true),
            (6, 7, [3, 3], [3, 3], [1, 1], Explicit(1, 1, 1, 1), true),
            // Images smaller than the kernel: some taps see only padding.
            (2, 6, [1, 1], [3, 3], [1, 1], Explicit(1, 1, 1, 1), true),
            (3, 7, [2, 1], [5, 5], [1, 1], Explicit(2, 2, 2, 2), true),
            // Stride 1: the direct kernels (the forward pass from 8 input channels). 3×3 with 32
            // or more channels on both sides takes Winograd's tiles (without padding, the input
            // gradient's are padded by 2); 3×3 with fewer, 5×5 and 2×3 stay direct; images
            // smaller than the kernel too.
            (32, 32, [8, 7], [3, 3], [1, 1], Valid, true),
            (33, 40, [7, 9], [3, 3], [1, 1], Explicit(1, 1, 1, 1), false),
            (9, 8, [8, 7], [3, 3], [1, 1], Valid, true),
            (8, 17, [7, 9], [3, 3], [1, 1], Explicit(1, 1, 1, 1), false),
            (8, 7, [3, 3], [3, 3], [1, 1], Explicit(1, 1, 1, 1), true),
            (8, 9, [9, 8], [5, 5], [1, 1], Explicit(2, 2, 2, 2), true),
            (8, 5, [6, 7], [2, 3], [1, 1], Explicit(0, 1, 1, 1), true),
            (10, 6, [1, 1], [3, 3], [1, 1], Explicit(1, 1, 1, 1), true),
            (12, 3, [2, 1], [5, 5], [1, 1], Explicit(2, 2, 2, 2), false),
            // Layer-sized: 16 and 32 channels over 24×24 and 40×40 images. From 24 outputs a
            // side, 3×3 layers take F(4×4, 3×3)'s tiles: "same" at 28×28 (the deeper CNN's
            // first block), "valid" with odd sides (rows and columns of partial tiles).
            (16, 8, [24, 24], [3, 3], [1, 1], Explicit(1, 1, 1, 1), true),
            (32, 8, [40, 40], [3, 3], [2, 2], Explicit(1, 1, 1, 1), false),
            (16, 16, [28, 28], [3, 3], [1, 1], Explicit(1, 1, 1, 1), true),
            (16, 17, [27, 26], [3, 3], [1, 1], Valid, false),
            // Strided input gradients in phases: the discriminator's 4×4 stride-2 layers, odd
            // sizes, a stride of 3, a kernel as wide as the padding, one smaller than the
            // stride (pixels no tap reaches), ResNet's 3×3 stride 2 after a ReLU.
            (8, 16, [14, 14], [4, 4], [2, 2], Explicit(1, 1, 1, 1), true),
            (9, 5, [13, 11], [4, 4], [2, 2], Explicit(1, 1, 1, 1), false),
            (4, 6, [10, 11], [3, 3], [3, 3], Explicit(1, 1, 1, 1), true),
            (3, 4, [9, 9], [5, 5], [2, 2], Explicit(2, 2, 2, 2), true),
            (5, 3, [7, 8], [2, 2], [3, 3], Valid, true),
            // A few channels on one side: a generator's last layer (one channel out, every
            // pass on the few-row kernels), a first layer's input gradient, a strided layer's
            // input gradient in phases to two channels.
            (32, 1, [28, 28], [3, 3], [1, 1], Explicit(1, 1, 1, 1), true),
            (1, 32, [28, 28], [3, 3], [1, 1], Explicit(1, 1, 1, 1), true),
            (8, 3, [13, 11], [3, 3], [1, 1], Explicit(1, 1, 1, 1), false),
            (2, 16, [14, 14], [4, 4], [2, 2], Explicit(1, 1, 1, 1), true),
        ];
        for (cin, cout, size, kernel, stride, padding, bias) in cases {
            compare(cin, cout, size, kernel, stride, &padding, bias);
        }
    }

    /// Burn's max pooling and the kernels' on the same input: the same output and the same
    /// input gradient.
    fn compare_pool(
        size: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        x: Option<Vec<f32>>,
    ) {
        let device = Device::flex().autodiff();
        let pool = MaxPool2dConfig::new(kernel)
            .with_strides(stride)
            .with_padding(PaddingConfig2d::Explicit(
                padding[0], padding[1], padding[0], padding[1],
            ))
            .init();
        let x = match x {
            Some(values) => {
                Tensor::<4>::from_data(TensorData::new(values, [1, 1, size[0], size[1]]), &device)
            }
            None => Tensor::<4>::random(
                [2, 3, size[0], size[1]],
                Distribution::Normal(0.0, 1.0),
                &device,
            ),
        };
        let run = |through_kernels: bool| {
            let x = x.clone().require_grad();
            let out = if through_kernels {
                max_pool2d(&pool, x.clone())
            } else {
                pool.forward(x.clone())
            };
            let probe = Tensor::<4>::ones(out.dims(), &device).cumsum(3);
            let grads = (out.clone() * probe).sum().backward();
            (out.into_data(), x.grad(&grads).map(|g| g.into_data()))
        };
        let (out_a, dx_a) = run(false);
        let (out_b, dx_b) = run(true);
        assert_eq!(out_a, out_b, "pooled values");
        assert_eq!(dx_a, dx_b, "input gradient");
    }

    #[test]
    fn max_pooling_matches_burn_forward_and_backward() {
        compare_pool([8, 8], [2, 2], [2, 2], [0, 0], None);
        compare_pool([9, 7], [2, 2], [2, 2], [0, 0], None);
        compare_pool([9, 9], [3, 3], [2, 2], [1, 1], None);
        compare_pool([7, 8], [3, 2], [1, 2], [0, 0], None);
        // Rows of 8 outputs and more: the vector path and its tail.
        compare_pool([6, 28], [2, 2], [2, 2], [0, 0], None);
        compare_pool([5, 35], [2, 2], [2, 2], [0, 0], None);
        // Ties go to the first position in reading order, as in Burn.
        compare_pool(
            [2, 4],
            [2, 2],
            [2, 2],
            [0, 0],
            Some(vec![1.0, 1.0, 0.0, 2.0, 1.0, 1.0, 2.0, 2.0]),
        );
    }

    /// Upsampling then convolving as one operation against Burn's reshape, expand and
    /// convolution: output, input gradient (at the input's size), weight and bias gradients.
    /// 3×3 "same" layers with 16 or more channels read the half-size image on Winograd's 9
    /// points, square and oblong, one pixel, with and without bias; the rest (fewer channels, a
    /// 5×5 kernel, a stride, no padding) upsample first and take the ordinary paths.
    #[test]
    fn upsampled_convolution_matches_burn_forward_and_backward() {
        use PaddingConfig2d::{Explicit, Same, Valid};
        let device = Device::flex().autodiff();
        // (input channels, output channels, half-size image, kernel, stride, padding, bias)
        let cases = [
            (16, 16, [7, 7], [3, 3], [1, 1], Explicit(1, 1, 1, 1), true),
            (20, 33, [4, 9], [3, 3], [1, 1], Same, false),
            (16, 17, [1, 1], [3, 3], [1, 1], Explicit(1, 1, 1, 1), true),
            (32, 16, [14, 14], [3, 3], [1, 1], Explicit(1, 1, 1, 1), true),
            (3, 5, [5, 6], [3, 3], [1, 1], Explicit(1, 1, 1, 1), true),
            (16, 16, [5, 5], [5, 5], [1, 1], Explicit(2, 2, 2, 2), true),
            (16, 18, [6, 6], [3, 3], [2, 2], Explicit(1, 1, 1, 1), true),
            (16, 16, [6, 5], [3, 3], [1, 1], Valid, false),
        ];
        for (cin, cout, [h, w], kernel, stride, padding, bias) in cases {
            let conv: Conv2d = Conv2dConfig::new([cin, cout], kernel)
                .with_stride(stride)
                .with_padding(padding)
                .with_bias(bias)
                .init(&device);
            let x = Tensor::<4>::random([2, cin, h, w], Distribution::Normal(0.0, 1.0), &device);
            let expected_dims = conv.forward(upsample2(x.clone())).dims();
            let probe = Tensor::<4>::random(expected_dims, Distribution::Normal(0.0, 1.0), &device);
            let run = |fused: bool| {
                let x = x.clone().require_grad();
                let out = if fused {
                    upsample2_conv2d(&conv, x.clone())
                } else {
                    let up = x
                        .clone()
                        .reshape([2, cin, h, 1, w, 1])
                        .expand([2, cin, h, 2, w, 2])
                        .reshape([2, cin, 2 * h, 2 * w]);
                    conv.forward(up)
                };
                let grads = (out.clone() * probe.clone()).sum().backward();
                let dx = x.grad(&grads).map(|g| g.into_data());
                let dw = conv.weight.val().grad(&grads).map(|g| g.into_data());
                let db = conv.bias.as_ref().and_then(|b| b.val().grad(&grads));
                (out.into_data(), dx, dw, db.map(|g| g.into_data()))
            };
            let (burn, ours) = (run(false), run(true));
            let case = format!("{cin} → {cout} at {h}×{w}, {kernel:?} / {stride:?}");
            let close = |a: &TensorData, b: &TensorData, what: &str| {
                assert_close(a, b, &format!("{case}: {what}"));
            };
            close(&burn.0, &ours.0, "output");
            close(&burn.1.unwrap(), &ours.1.unwrap(), "x grad");
            close(&burn.2.unwrap(), &ours.2.unwrap(), "weight grad");
            assert_eq!(burn.3.is_some(), ours.3.is_some(), "{case}: bias grad");
            if let (Some(a), Some(b)) = (&burn.3, &ours.3) {
                close(a, b, "bias grad");
            }
        }
    }

    /// The fused end of a residual block against Burn's sum and ReLU, bit for bit: output and
    /// both inputs' gradients, one task's worth of values and several, with `a` used again
    /// after the sum (so not overwritten in place) and not, and with both inputs one tensor.
    #[test]
    fn add_relu_matches_burns_sum_and_relu_exactly() {
        let device = Device::flex().autodiff();
        for shape in [[2, 3, 4, 5], [3, 70, 16, 16]] {
            let normal = || Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            // Some sums exactly zero: `b` is `-a` there.
            let a = normal();
            let b = normal().mask_where(normal().greater_elem(1.0), a.clone().neg());
            let probe = normal();
            for reuse_a in [false, true] {
                let run = |fused: bool| {
                    let (a, b) = (a.clone().require_grad(), b.clone().require_grad());
                    let out = if fused {
                        add_relu(a.clone(), b.clone())
                    } else {
                        burn::tensor::activation::relu(a.clone() + b.clone())
                    };
                    let loss = (out.clone() * probe.clone()).sum();
                    let loss = if reuse_a {
                        loss + a.clone().sum()
                    } else {
                        loss
                    };
                    let grads = loss.backward();
                    let grad = |t: &Tensor<4>| t.grad(&grads).unwrap().into_data();
                    let vec = |d: TensorData| d.try_to_vec::<f32>().unwrap();
                    (vec(out.into_data()), vec(grad(&a)), vec(grad(&b)))
                };
                let (burn, ours) = (run(false), run(true));
                assert_eq!(ours.0, burn.0, "output of {shape:?}");
                assert_eq!(ours.1, burn.1, "a's gradient of {shape:?}");
                assert_eq!(ours.2, burn.2, "b's gradient of {shape:?}");
            }
            // One tensor on both sides: its gradient is the gated one twice.
            let x = a.clone().require_grad();
            let grads = (add_relu(x.clone(), x.clone()) * probe.clone())
                .sum()
                .backward();
            let ours = x.grad(&grads).unwrap().into_data();
            let x = a.clone().require_grad();
            let out = burn::tensor::activation::relu(x.clone() + x.clone());
            let grads = (out * probe.clone()).sum().backward();
            let burn = x.grad(&grads).unwrap().into_data();
            assert_eq!(ours, burn, "shared input of {shape:?}");
        }
    }

    #[test]
    fn upsampling_matches_burns_reshape_and_expand_exactly() {
        let device = Device::flex().autodiff();
        // Planes of several sizes, one task's worth and more (16,384 values a task).
        for shape in [[2, 3, 4, 5], [1, 1, 1, 1], [3, 70, 16, 16], [2, 1, 7, 130]] {
            let [b, c, h, w] = shape;
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let probe = Tensor::<4>::random(
                [b, c, 2 * h, 2 * w],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let run = |through_kernels: bool| {
                let x = x.clone().require_grad();
                let y = if through_kernels {
                    upsample2(x.clone())
                } else {
                    x.clone()
                        .reshape([b, c, h, 1, w, 1])
                        .expand([b, c, h, 2, w, 2])
                        .reshape([b, c, 2 * h, 2 * w])
                };
                let grads = (y.clone() * probe.clone()).sum().backward();
                let dx = x.grad(&grads).unwrap().into_data();
                (
                    y.into_data().try_to_vec::<f32>().unwrap(),
                    dx.try_to_vec::<f32>().unwrap(),
                )
            };
            let (burn, ours) = (run(false), run(true));
            assert_eq!(ours.0, burn.0, "output of {shape:?}");
            assert_eq!(ours.1, burn.1, "gradient of {shape:?}");
        }
        // Each value fills its 2×2 block; each gradient is its block's sum.
        let x = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 2.0], [1, 1, 1, 2]), &device)
            .require_grad();
        let y = upsample2(x.clone());
        let expected = vec![1.0f32, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0];
        assert_eq!(y.clone().into_data().try_to_vec::<f32>().unwrap(), expected);
        let weights = Tensor::<4>::from_data(
            TensorData::new(
                vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
                [1, 1, 2, 4],
            ),
            &device,
        );
        let grads = (y * weights).sum().backward();
        let dx = x.grad(&grads).unwrap().into_data();
        assert_eq!(dx.try_to_vec::<f32>().unwrap(), vec![14.0, 22.0]);
    }

    #[test]
    fn batch_norm_matches_burn_output_gradients_and_running_statistics() {
        // Planes of 18 values (eight lanes and one at a time) and of 77 (the gradient sums'
        // 32 lanes, then 8, then 5 one at a time).
        for shape in [[4, 5, 3, 6], [3, 5, 7, 11]] {
            compare_norm(shape, false);
            compare_norm(shape, true);
        }
    }

    fn compare_norm(shape: [usize; 4], relu: bool) {
        let device = Device::flex().autodiff();
        let gamma = Tensor::<1>::random([5], Distribution::Normal(1.0, 0.5), &device);
        let beta = Tensor::<1>::random([5], Distribution::Normal(0.0, 0.5), &device);
        // Two separate layers (running statistics are shared between clones), with the same
        // non-trivial scale and shift, so their gradients and effects are tested too.
        let make = || {
            let mut bn: BatchNorm = BatchNormConfig::new(5).init(&device);
            bn.gamma = Param::from_tensor(gamma.clone());
            bn.beta = Param::from_tensor(beta.clone());
            bn
        };
        let x = Tensor::<4>::random(shape, Distribution::Normal(2.0, 3.0), &device);
        let probe = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        // The kernels' own ReLU mask as the reference's, as in `compare_layer`.
        let kernel_mask = relu.then(|| relu_mask(batch_norm_relu(&make(), x.clone()), &device));
        let run = |through_kernels: bool| {
            let bn = make();
            let x = x.clone().require_grad();
            let out = match (through_kernels, &kernel_mask) {
                (true, None) => batch_norm(&bn, x.clone()),
                (true, Some(_)) => batch_norm_relu(&bn, x.clone()),
                (false, None) => bn.forward(x.clone()),
                (false, Some(mask)) => bn.forward(x.clone()) * mask.clone(),
            };
            let grads = (out.clone() * probe.clone()).sum().backward();
            [
                out.into_data(),
                x.grad(&grads).expect("x grad").into_data(),
                bn.gamma.val().grad(&grads).expect("gamma grad").into_data(),
                bn.beta.val().grad(&grads).expect("beta grad").into_data(),
                bn.running_mean.value_sync().into_data(),
                bn.running_var.value_sync().into_data(),
            ]
        };
        let burn = run(false);
        let ours = run(true);
        let names = [
            "output",
            "x grad",
            "gamma grad",
            "beta grad",
            "running mean",
            "running var",
        ];
        for ((a, b), name) in burn.iter().zip(&ours).zip(names) {
            a.assert_approx_eq::<f32>(b, burn::tensor::Tolerance::absolute(1e-4));
            assert_eq!(a.shape(), b.shape(), "{name}");
        }
        // The running statistics really moved (the comparison above is not of two defaults).
        let moved = ours[4].clone().try_to_vec::<f32>().unwrap_or_default();
        assert!(
            moved.iter().all(|m| *m > 0.05),
            "running mean moved towards 2: {moved:?}"
        );
    }

    #[test]
    fn layers_the_kernels_do_not_cover_still_run_through_burn() {
        let device = Device::flex();
        let conv: Conv2d = Conv2dConfig::new([4, 4], [3, 3])
            .with_groups(2)
            .init(&device);
        let x = Tensor::<4>::ones([1, 4, 5, 5], &device);
        assert_eq!(
            conv2d(&conv, x.clone()).into_data(),
            conv.forward(x).into_data()
        );
    }

    /// Every kernel test again under each path `CNN_WORKBENCH_KERNELS` picks (`burn`, `patches`,
    /// `direct`) and with the direct and Winograd kernels held at AVX2 (`CNN_WORKBENCH_SIMD=avx2`,
    /// which matters on an AVX-512 CPU), each in a child process since the choice is made once
    /// per process. Without this, a machine tests only the path its CPU takes: with AVX2 the
    /// patch-matrix and Burn paths would go untested, and elsewhere only those would run.
    #[test]
    fn kernel_tests_pass_on_every_path() {
        let choices = [
            ("CNN_WORKBENCH_KERNELS", "burn"),
            ("CNN_WORKBENCH_KERNELS", "patches"),
            ("CNN_WORKBENCH_KERNELS", "direct"),
            ("CNN_WORKBENCH_SIMD", "avx2"),
        ];
        if choices
            .iter()
            .any(|(var, _)| std::env::var_os(var).is_some())
        {
            return; // a child, or a run already pinned to one path
        }
        let exe = std::env::current_exe().unwrap();
        for (var, path) in choices {
            let out = std::process::Command::new(&exe)
                .args([
                    "model::kernels::",
                    "--skip",
                    "kernel_tests_pass_on_every_path",
                ])
                .env(var, path)
                .output()
                .unwrap();
            let log = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "kernel tests failed with {var}={path}:\n{log}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let passed = log
                .lines()
                .find_map(|l| l.strip_prefix("test result: ok. "))
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse::<usize>().ok());
            assert!(
                passed.is_some_and(|n| n >= 5),
                "{var}={path} ran too few kernel tests:\n{log}"
            );
        }
    }
}
