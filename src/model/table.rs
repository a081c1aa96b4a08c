//! Analytic layer tables: output shape, parameter count and multiply-adds of every layer,
//! computed from the configuration alone (no tensors), so the Model panel can show them for any
//! input and the numbers can be checked against PyTorch's without building the model.

use super::{InputShape, LayerInfo, ModelError};

/// Output size of a convolution or pooling window along one axis, or `None` if the window does
/// not fit.
pub(crate) fn window_out(size: usize, kernel: usize, stride: usize, pad: usize) -> Option<usize> {
    let padded = size + 2 * pad;
    (padded >= kernel && stride > 0).then(|| (padded - kernel) / stride + 1)
}

/// Builds a layer table row by row while tracking the current activation shape.
pub(crate) struct Table {
    model: &'static str,
    /// Current shape: `[c, h, w]` for feature maps, `[features]` after flattening.
    shape: Vec<usize>,
    /// The freezing block the next rows belong to.
    block: usize,
    rows: Vec<LayerInfo>,
}

impl Table {
    /// Starts at the model's input.
    pub fn new(model: &'static str, input: InputShape) -> Self {
        Self {
            model,
            shape: vec![input.channels, input.height, input.width],
            block: 0,
            rows: Vec::new(),
        }
    }

    /// An error about this model.
    pub fn error(&self, message: impl Into<String>) -> ModelError {
        ModelError::new(self.model, message)
    }

    /// The rows that follow belong to freezing block `block`.
    pub fn set_block(&mut self, block: usize) {
        self.block = block;
    }

    /// Channels of the current feature map (or features after flattening).
    pub fn channels(&self) -> usize {
        self.shape[0]
    }

    /// Height and width of the current feature map (1×1 after flattening).
    pub fn spatial(&self) -> (usize, usize) {
        match self.shape[..] {
            [_, h, w] => (h, w),
            _ => (1, 1),
        }
    }

    fn push(&mut self, name: String, params: usize, macs: u64) {
        let activations = self.shape.iter().product::<usize>() as u64;
        self.push_with(name, params, macs, activations);
    }

    fn push_with(&mut self, name: String, params: usize, macs: u64, activations: u64) {
        self.rows.push(LayerInfo {
            name,
            output: self.shape.clone(),
            params,
            macs,
            activations,
            block: self.block,
        });
    }

    fn feature_map(&self, what: &str) -> Result<(usize, usize, usize), ModelError> {
        match self.shape[..] {
            [c, h, w] => Ok((c, h, w)),
            _ => Err(self.error(format!("{what} needs a feature map, found flat features"))),
        }
    }

    /// A 2-D convolution (square kernel, `groups` = 1).
    pub fn conv(
        &mut self,
        name: impl Into<String>,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
        bias: bool,
    ) -> Result<(), ModelError> {
        let name = name.into();
        let (c, h, w) = self.feature_map(&name)?;
        let (Some(oh), Some(ow)) = (
            window_out(h, kernel, stride, pad),
            window_out(w, kernel, stride, pad),
        ) else {
            return Err(self.error(format!(
                "{name}: a {kernel}×{kernel} convolution does not fit a {h}×{w} feature map; \
                 use larger images or fewer downsampling layers"
            )));
        };
        let params = out_channels * c * kernel * kernel + if bias { out_channels } else { 0 };
        let macs = (out_channels * oh * ow * c * kernel * kernel) as u64;
        self.shape = vec![out_channels, oh, ow];
        self.push(name, params, macs);
        Ok(())
    }

    /// Batch normalisation over the current channels (γ and β are parameters; the running
    /// statistics are buffers, as in PyTorch).
    pub fn batch_norm(&mut self, name: impl Into<String>) {
        let c = self.channels();
        self.push(name.into(), 2 * c, 0);
    }

    /// A layer that keeps the shape and has no parameters (activation, dropout).
    pub fn same(&mut self, name: impl Into<String>) {
        self.push(name.into(), 0, 0);
    }

    /// A pooling window.
    pub fn pool(
        &mut self,
        name: impl Into<String>,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Result<(), ModelError> {
        let name = name.into();
        let (c, h, w) = self.feature_map(&name)?;
        let (Some(oh), Some(ow)) = (
            window_out(h, kernel, stride, pad),
            window_out(w, kernel, stride, pad),
        ) else {
            return Err(self.error(format!(
                "{name}: a {kernel}×{kernel} pooling window does not fit a {h}×{w} feature map; \
                 use larger images or fewer pooling layers"
            )));
        };
        self.shape = vec![c, oh, ow];
        self.push(name, 0, 0);
        Ok(())
    }

    /// Global average pooling to `[c]`.
    pub fn global_pool(&mut self, name: impl Into<String>) -> Result<(), ModelError> {
        let name = name.into();
        let (c, _, _) = self.feature_map(&name)?;
        self.shape = vec![c];
        self.push(name, 0, 0);
        Ok(())
    }

    /// Flattening a feature map into one vector per sample.
    pub fn flatten(&mut self, name: impl Into<String>) {
        let features = self.shape.iter().product();
        self.shape = vec![features];
        self.push(name.into(), 0, 0);
    }

    /// A fully connected layer with bias (flattens a feature map first).
    pub fn linear(&mut self, name: impl Into<String>, out: usize) {
        let inputs: usize = self.shape.iter().product();
        self.shape = vec![out];
        self.push(name.into(), inputs * out + out, (inputs * out) as u64);
    }

    /// A composite row (a residual block) with its own output shape, parameters,
    /// multiply-adds and stored intermediate values.
    pub fn composite(
        &mut self,
        name: impl Into<String>,
        output: Vec<usize>,
        params: usize,
        macs: u64,
        activations: u64,
    ) {
        self.shape = output;
        self.push_with(name.into(), params, macs, activations);
    }

    /// The finished table.
    pub fn finish(self) -> Vec<LayerInfo> {
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_sizes_follow_pytorch() {
        // ResNet's stem on 224×224: conv 7×7 s2 p3 → 112, max-pool 3×3 s2 p1 → 56.
        assert_eq!(window_out(224, 7, 2, 3), Some(112));
        assert_eq!(window_out(112, 3, 2, 1), Some(56));
        assert_eq!(window_out(7, 3, 2, 1), Some(4));
        assert_eq!(window_out(1, 2, 2, 0), None);
    }
}
