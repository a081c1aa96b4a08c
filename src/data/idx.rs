//! Reader for the IDX format used by MNIST-family datasets (raw or gzip-compressed).
//!
//! Layout: a big-endian magic number `0x00 0x00 TYPE NDIM`, then `NDIM` big-endian `u32` dimensions,
//! then the payload. Only unsigned-byte payloads (`TYPE = 0x08`) are accepted, which is what every
//! image and label file of MNIST, Fashion-MNIST, KMNIST and EMNIST uses.

use std::io::Read;

use super::DataError;

/// Upper bound on the payload size we accept (1 GiB): guards against a header that claims absurd
/// dimensions.
const MAX_PAYLOAD_BYTES: u64 = 1 << 30;

/// A decoded IDX file: its dimensions and its `u8` payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions from the header, outermost first (e.g. `[count, rows, cols]`).
    pub dims: Vec<usize>,
    /// Row-major payload, `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

/// Decodes IDX bytes, inflating them first when they start with the gzip magic number.
///
/// `name` only labels error messages.
pub fn parse(bytes: &[u8], name: &str) -> Result<IdxArray, DataError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_PAYLOAD_BYTES + 1024)
            .read_to_end(&mut inflated)
            .map_err(|e| DataError::format(name, format!("gzip data is corrupt ({e})")))?;
        return parse_raw(&inflated, name);
    }
    parse_raw(bytes, name)
}

fn parse_raw(bytes: &[u8], name: &str) -> Result<IdxArray, DataError> {
    if bytes.len() < 4 {
        return Err(DataError::format(
            name,
            format!(
                "file is {} bytes long, too short for an IDX header",
                bytes.len()
            ),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(DataError::format(
            name,
            format!(
                "not an IDX file (magic number starts with {:#04x} {:#04x}, expected 0x00 0x00)",
                bytes[0], bytes[1]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(DataError::format(
            name,
            format!(
                "IDX element type {:#04x} is not supported (only unsigned bytes, 0x08)",
                bytes[2]
            ),
        ));
    }
    let ndim = usize::from(bytes[3]);
    if ndim == 0 {
        return Err(DataError::format(
            name,
            "IDX header declares zero dimensions",
        ));
    }
    let header_len = 4 + 4 * ndim;
    if bytes.len() < header_len {
        return Err(DataError::format(
            name,
            format!(
                "header declares {ndim} dimensions but the file ends after {} bytes",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&n| n <= MAX_PAYLOAD_BYTES)
        .ok_or_else(|| DataError::format(name, format!("dimensions {dims:?} are too large")))?;
    let payload = &bytes[header_len..];
    if payload.len() as u64 != expected {
        return Err(DataError::format(
            name,
            format!(
                "dimensions {dims:?} need {expected} bytes of data but the file has {}{}",
                payload.len(),
                if (payload.len() as u64) < expected {
                    " (truncated?)"
                } else {
                    ""
                }
            ),
        ));
    }
    Ok(IdxArray {
        dims,
        data: payload.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_bytes(dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn parses_raw_and_gzip() {
        let raw = idx_bytes(&[2, 2, 2], &[1, 2, 3, 4, 5, 6, 7, 8]);
        let parsed = parse(&raw, "raw").unwrap();
        assert_eq!(parsed.dims, vec![2, 2, 2]);
        assert_eq!(parsed.data, vec![1, 2, 3, 4, 5, 6, 7, 8]);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(parse(&gz, "gz").unwrap(), parsed);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let raw = idx_bytes(&[3, 2], &[9; 6]);
        for len in 0..raw.len() {
            let err = parse(&raw[..len], "t.idx").unwrap_err();
            assert!(err.to_string().contains("t.idx"), "{err}");
        }
    }

    #[test]
    fn rejects_bad_magic_and_type() {
        let mut raw = idx_bytes(&[1], &[0]);
        raw[0] = 0x50;
        assert!(
            parse(&raw, "x")
                .unwrap_err()
                .to_string()
                .contains("not an IDX file")
        );
        let mut raw = idx_bytes(&[1], &[0]);
        raw[2] = 0x0D;
        assert!(
            parse(&raw, "x")
                .unwrap_err()
                .to_string()
                .contains("element type")
        );
    }

    #[test]
    fn rejects_extra_bytes_and_huge_dims() {
        let raw = idx_bytes(&[2], &[1, 2, 3]);
        assert!(
            parse(&raw, "x")
                .unwrap_err()
                .to_string()
                .contains("need 2 bytes")
        );
        let raw = idx_bytes(&[u32::MAX, u32::MAX, u32::MAX], &[]);
        assert!(
            parse(&raw, "x")
                .unwrap_err()
                .to_string()
                .contains("too large")
        );
    }
}
