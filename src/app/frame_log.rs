//! Frame timing written to a file (`--frame-log FILE`): one line per frame with the CPU time
//! eframe measured for the previous frame (the app's UI, tessellation and rendering, without
//! waiting for vsync) and whether a run was training, plus one line when the first loss reached
//! the plot after Start and one when the first epoch's validation point did. `benches/frame_time.sh` drives the window and summarises the file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

/// An open frame log.
#[derive(Debug)]
pub struct FrameLog {
    out: BufWriter<File>,
    opened: Instant,
    start_pressed: Option<Instant>,
    first_point_seen: bool,
    first_epoch_seen: bool,
    flushed: Instant,
}

impl FrameLog {
    /// Creates (or truncates) `path` and writes the header.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        writeln!(out, "kind,secs,cpu_ms,training,epochs")?;
        Ok(Self {
            out,
            opened: Instant::now(),
            start_pressed: None,
            first_point_seen: false,
            first_epoch_seen: false,
            flushed: Instant::now(),
        })
    }

    /// Records one frame: `cpu_secs` is eframe's figure for the previous frame, `epochs` the
    /// run's finished epochs (to tell the frames that follow an epoch's end).
    pub fn frame(&mut self, cpu_secs: Option<f32>, training: bool, epochs: usize) {
        if let Some(cpu) = cpu_secs {
            let secs = self.opened.elapsed().as_secs_f64();
            let _ = writeln!(
                self.out,
                "frame,{secs:.4},{:.3},{},{epochs}",
                f64::from(cpu) * 1e3,
                u8::from(training)
            );
        }
        // Written out every second: the window may be ended by a signal.
        if self.flushed.elapsed().as_secs() >= 1 {
            self.flush();
        }
    }

    /// Notes that a run was started.
    pub fn started(&mut self) {
        self.start_pressed = Some(Instant::now());
        self.first_point_seen = false;
        self.first_epoch_seen = false;
    }

    /// Notes whether the plot has a point now and whether an epoch has ended; the first time
    /// of each after a start it writes how long that took (`first_point`, `first_epoch`).
    pub fn plotted(&mut self, has_point: bool, has_epoch: bool) {
        let Some(at) = self.start_pressed else { return };
        for (kind, now, seen) in [
            ("first_point", has_point, &mut self.first_point_seen),
            ("first_epoch", has_epoch, &mut self.first_epoch_seen),
        ] {
            if now && !*seen {
                *seen = true;
                let secs = self.opened.elapsed().as_secs_f64();
                let ms = at.elapsed().as_secs_f64() * 1e3;
                let _ = writeln!(self.out, "{kind},{secs:.4},{ms:.3},1,0");
                let _ = self.out.flush();
            }
        }
    }

    /// Writes what is buffered.
    pub fn flush(&mut self) {
        self.flushed = Instant::now();
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn writes_frames_and_the_first_point_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frames.csv");
        let mut log = FrameLog::create(&path).unwrap();
        log.frame(None, false, 0);
        log.frame(Some(0.004), false, 0);
        log.plotted(true, true); // before any start: nothing
        log.started();
        log.plotted(false, false);
        log.frame(Some(0.012), true, 2);
        log.plotted(true, false);
        log.plotted(true, false);
        log.plotted(true, true);
        log.plotted(true, true);
        log.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "kind,secs,cpu_ms,training,epochs");
        assert_eq!(lines.len(), 5, "{text}");
        assert!(
            lines[1].starts_with("frame,") && lines[1].ends_with(",4.000,0,0"),
            "{text}"
        );
        assert!(lines[2].ends_with(",12.000,1,2"), "{text}");
        assert!(lines[3].starts_with("first_point,"), "{text}");
        assert!(lines[4].starts_with("first_epoch,"), "{text}");
    }
}
