//! The end of a residual block, `relu(a + b)`, on the CPU backend's tensors: one parallel pass
//! forward and one backward.
//!
//! Written with Burn's tensor operations the sum and the ReLU are two element-wise passes on the
//! one thread that drives training, and the ReLU's backward step (which tests the saved sum)
//! another, while the second core waits; every block of a ResNet ends in one. Here both
//! directions run on the thread pool, in place where the buffer is not shared: the sum
//! overwrites `a` (the block's last batch normalisation, used nowhere else) and the gate
//! overwrites the incoming gradient, which both inputs then share. The values are Burn's:
//! `a + b`, then zero where that is not above zero (NaN stays NaN), and the gradient passed
//! where the output is not zero or less.

use burn::backend::flex::FlexTensor;
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

use super::{PARALLEL_CHUNK, in_place, values, vectorized};

/// `relu(a + b)` for `a` and `b` of one shape.
pub fn forward(a: FlexTensor, b: &FlexTensor) -> FlexTensor {
    debug_assert_eq!(a.layout().shape(), b.layout().shape());
    let b = values(b);
    in_place(a, |out| {
        out.par_chunks_mut(PARALLEL_CHUNK)
            .zip(b.par_chunks(PARALLEL_CHUNK))
            .for_each(|(out, b)| vectorized(AddRelu { out, b }));
    })
}

/// The gradient of [`forward`]'s inputs (both the same) from its `output` and the output's
/// gradient `grad`.
pub fn backward(output: &FlexTensor, grad: FlexTensor) -> FlexTensor {
    let output = values(output);
    in_place(grad, |dy| {
        dy.par_chunks_mut(PARALLEL_CHUNK)
            .zip(output.par_chunks(PARALLEL_CHUNK))
            .for_each(|(dy, y)| vectorized(Gate { dy, y }));
    })
}

/// `out[i] ← relu(out[i] + b[i])`, compiled for AVX2 where the CPU has it.
struct AddRelu<'a> {
    out: &'a mut [f32],
    b: &'a [f32],
}

impl WithSimd for AddRelu<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        for (o, b) in self.out.iter_mut().zip(self.b) {
            let sum = *o + b;
            *o = if sum <= 0.0 { 0.0 } else { sum };
        }
    }
}

/// `dy[i] ← 0` where `y[i] ≤ 0`, compiled for AVX2 where the CPU has it.
struct Gate<'a> {
    dy: &'a mut [f32],
    y: &'a [f32],
}

impl WithSimd for Gate<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        for (d, y) in self.dy.iter_mut().zip(self.y) {
            *d = if *y <= 0.0 { 0.0 } else { *d };
        }
    }
}
