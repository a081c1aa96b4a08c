//! The GPU device (wgpu), initialised once per process.

use std::sync::OnceLock;

use burn::prelude::Device;
use burn::tensor::DeviceKind;

/// The default wgpu adapter as a device, with its name, or why there is none. wgpu can be set up
/// only once per process, so the answer is kept.
pub fn device() -> Result<(Device, String), String> {
    static GPU: OnceLock<Result<(Device, String), String>> = OnceLock::new();
    GPU.get_or_init(|| {
        let init = std::panic::catch_unwind(|| {
            Device::wgpu_options()
                .device_kind(DeviceKind::DefaultDevice)
                .init()
        });
        match init {
            Ok(Ok(device)) => {
                let name = device
                    .identity()
                    .map_or_else(|| "wgpu adapter".to_owned(), |id| id.name);
                Ok((device, name))
            }
            Ok(Err(e)) => Err(format!("no GPU is available through wgpu: {e}")),
            Err(panic) => Err(format!(
                "no GPU is available through wgpu: {}",
                super::engine::panic_text(&*panic)
            )),
        }
    })
    .clone()
}
