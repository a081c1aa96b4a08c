//! `cnn-workbench`: opens the window, or runs a headless command.

use clap::Parser;

fn main() -> std::process::ExitCode {
    cnn_workbench::allocator::settle();
    let cli = cnn_workbench::cli::Cli::parse();
    let result = match cli.command {
        Some(command) => cnn_workbench::cli::run(command),
        None => cli.gui_options().and_then(|options| {
            cnn_workbench::app::run_gui(options)
                .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
