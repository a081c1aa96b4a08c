//! A run folder carried in a text stream: each file as one JSON line with its bytes in base64,
//! so a job whose only channel back is its log (a Ray job) can return its weights, plots and
//! records whole. `train --progress jsonl --emit-files` writes these lines after the run ends;
//! the cluster client writes the files back into the local run folder.

use std::path::Path;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * k)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The bytes of standard base64 (padding optional), or why not.
pub fn decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.trim_end_matches('=').bytes() {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .ok_or_else(|| format!("'{}' is not a base64 character", char::from(c)))?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

/// The JSON line of one file of a run folder.
pub fn file_event(name: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({"event": "file", "name": name, "base64": encode(bytes)})
}

/// The file events of every plain file of a run folder, by name.
pub fn folder_events(dir: &Path) -> std::io::Result<Vec<serde_json::Value>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    names
        .iter()
        .map(|name| Ok(file_event(name, &std::fs::read(dir.join(name))?)))
        .collect()
}

/// Writes a file event into `dir`: only a plain file name is accepted (no path), so a stream
/// cannot write outside the folder.
pub fn write_file_event(dir: &Path, event: &serde_json::Value) -> Result<String, String> {
    let name = event["name"]
        .as_str()
        .ok_or("a file event without a name")?;
    let plain = Path::new(name)
        .file_name()
        .is_some_and(|n| n.to_str() == Some(name));
    if !plain || name.starts_with('.') {
        return Err(format!(
            "refused the file name '{name}' (not a plain file name)"
        ));
    }
    let bytes = decode(
        event["base64"]
            .as_str()
            .ok_or("a file event without content")?,
    )?;
    let path = dir.join(name);
    let partial = dir.join(format!(".{name}.partial"));
    std::fs::write(&partial, &bytes)
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_length_and_matches_the_standard() {
        assert_eq!(encode(b"Man"), "TWFu");
        assert_eq!(encode(b"Ma"), "TWE=");
        assert_eq!(encode(b"M"), "TQ==");
        assert_eq!(encode(b""), "");
        for n in 0..300 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + n) as u8).collect();
            assert_eq!(decode(&encode(&bytes)).unwrap(), bytes, "length {n}");
        }
        assert!(decode("TW*u").unwrap_err().contains('*'));
    }

    #[test]
    fn a_folder_travels_as_events_and_names_cannot_escape() {
        let from = tempfile::tempdir().unwrap();
        std::fs::write(from.path().join("metrics.csv"), "epoch\n1\n").unwrap();
        std::fs::write(from.path().join("best-e1.bpk"), [0u8, 255, 7]).unwrap();
        std::fs::create_dir(from.path().join("sub")).unwrap();
        let events = folder_events(from.path()).unwrap();
        assert_eq!(events.len(), 2, "plain files only");
        let to = tempfile::tempdir().unwrap();
        for event in &events {
            write_file_event(to.path(), event).unwrap();
        }
        assert_eq!(
            std::fs::read(to.path().join("best-e1.bpk")).unwrap(),
            [0, 255, 7]
        );
        for bad in ["../x", "/etc/x", "a/b", ".hidden"] {
            let event = file_event(bad, b"1");
            assert!(write_file_event(to.path(), &event).is_err(), "{bad}");
        }
    }
}
