//! A reader for PyTorch state dicts saved with `torch.save` (`.pt`/`.pth`, the zip format of
//! PyTorch 1.6 and later) that never executes anything from the file.
//!
//! The archive holds a pickle (`data.pkl`) describing the dict and one raw storage per tensor
//! (`data/0`, `data/1`, …). The pickle is interpreted by a small stack machine that knows the
//! handful of opcodes `torch.save` writes and the few callables a state dict refers to
//! (`OrderedDict`, `torch._utils._rebuild_tensor_v2`, `_rebuild_parameter`); any other callable
//! becomes an opaque value, never a call. Tensors come back as `f32` values with their shapes.

use std::collections::{BTreeMap, HashMap};

/// One tensor of a state dict, converted to `f32`.
#[derive(Debug, Clone, PartialEq)]
pub struct PthTensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values in row-major order.
    pub values: Vec<f32>,
}

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PthError(String);

fn err<T>(message: impl Into<String>) -> Result<T, PthError> {
    Err(PthError(message.into()))
}

/// Reads every tensor of a state dict file; nested dicts (a checkpoint's `state_dict`) give
/// dotted names (`state_dict.conv1.weight`).
pub fn read(bytes: &[u8]) -> Result<BTreeMap<String, PthTensor>, PthError> {
    if bytes.len() >= 2 && bytes[0] == 0x80 {
        return err(
            "this is PyTorch's legacy (pre-1.6) format; load it in PyTorch and save it again \
             with torch.save, or convert it to safetensors",
        );
    }
    let zip = Zip::parse(bytes)?;
    let pkl_name = zip
        .names()
        .find(|n| n.ends_with("data.pkl"))
        .map(ToOwned::to_owned)
        .ok_or_else(|| PthError("not a PyTorch file: no data.pkl in the archive".into()))?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_owned();
    if let Some(order) = zip.entry(&format!("{prefix}byteorder"))
        && order != b"little"
    {
        return err("the file stores big-endian tensors, which are not supported");
    }
    let pickle = zip
        .entry(&pkl_name)
        .ok_or_else(|| PthError("data.pkl cannot be read".into()))?;
    let root = Machine::default().run(pickle)?;
    let mut out = BTreeMap::new();
    collect(&root, "", &zip, &prefix, &mut out, 0)?;
    if out.is_empty() {
        return err("the file holds no tensors (is it a state dict?)");
    }
    Ok(out)
}

/// Walks dicts and gathers their tensors under dotted names.
fn collect(
    value: &Value,
    name: &str,
    zip: &Zip<'_>,
    prefix: &str,
    out: &mut BTreeMap<String, PthTensor>,
    depth: usize,
) -> Result<(), PthError> {
    match value {
        Value::Dict(items) if depth < 8 => {
            for (key, item) in items {
                let key = match key {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    _ => continue,
                };
                let full = if name.is_empty() {
                    key
                } else {
                    format!("{name}.{key}")
                };
                collect(item, &full, zip, prefix, out, depth + 1)?;
            }
        }
        Value::Tensor(t) => {
            let data = zip
                .entry(&format!("{prefix}data/{}", t.key))
                .ok_or_else(|| {
                    PthError(format!("{name}: its storage data/{} is missing", t.key))
                })?;
            out.insert(name.to_owned(), t.materialise(data, name)?);
        }
        _ => {}
    }
    Ok(())
}

/// Element types of PyTorch storages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    F32,
    F64,
    F16,
    Bf16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl Dtype {
    fn from_storage(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => Self::F32,
            "DoubleStorage" => Self::F64,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::Bf16,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::Bf16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    fn read(self, b: &[u8]) -> f32 {
        let arr = |n: usize| {
            let mut a = [0u8; 8];
            a[..n].copy_from_slice(&b[..n]);
            a
        };
        match self {
            Self::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Self::F64 => f64::from_le_bytes(arr(8)) as f32,
            Self::F16 => f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            Self::Bf16 => f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16),
            Self::I64 => i64::from_le_bytes(arr(8)) as f32,
            Self::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            Self::I16 => f32::from(i16::from_le_bytes([b[0], b[1]])),
            Self::I8 => f32::from(i8::from_le_bytes([b[0]])),
            Self::U8 | Self::Bool => f32::from(b[0]),
        }
    }
}

/// IEEE half precision to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: normalise the mantissa.
            let shift = m.leading_zeros() - 21;
            let m = (m << shift) & 0x3ff;
            sign | ((127 - 15 + 1 - shift) << 23) | (m << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// A tensor described by the pickle: a view into a storage.
#[derive(Debug, Clone, PartialEq)]
struct TensorRef {
    key: String,
    dtype: Dtype,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

impl TensorRef {
    fn materialise(&self, data: &[u8], name: &str) -> Result<PthTensor, PthError> {
        let size = self.dtype.size();
        let count: usize = self.shape.iter().product();
        let mut values = Vec::with_capacity(count);
        if count > 0 {
            // The furthest element the view touches must lie inside the storage.
            let last = self.offset
                + self
                    .shape
                    .iter()
                    .zip(&self.stride)
                    .map(|(&d, &s)| (d - 1) * s)
                    .sum::<usize>();
            if (last + 1) * size > data.len() {
                return err(format!(
                    "{name}: shape {:?} does not fit its storage of {} bytes",
                    self.shape,
                    data.len()
                ));
            }
            let mut index = vec![0usize; self.shape.len()];
            for _ in 0..count {
                let at = self.offset
                    + index
                        .iter()
                        .zip(&self.stride)
                        .map(|(i, s)| i * s)
                        .sum::<usize>();
                values.push(self.dtype.read(&data[at * size..(at + 1) * size]));
                for axis in (0..index.len()).rev() {
                    index[axis] += 1;
                    if index[axis] < self.shape[axis] {
                        break;
                    }
                    index[axis] = 0;
                }
            }
        }
        Ok(PthTensor {
            shape: self.shape.clone(),
            values,
        })
    }
}

/// The values the pickle machine works with.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// A reference to a class or function, never called.
    Global(String, String),
    /// A storage reference (`BINPERSID`).
    Storage(String, Dtype),
    Tensor(TensorRef),
    /// The result of a callable this reader does not know.
    Opaque(String),
    Mark,
}

/// Limits that keep a hostile file from exhausting memory.
const MAX_STACK: usize = 1 << 20;
const MAX_DIMS: usize = 16;

#[derive(Default)]
struct Machine {
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
}

/// A cursor over the pickle bytes.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PthError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| PthError("data.pkl ends early".into()))?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, PthError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PthError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, PthError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, PthError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn line(&mut self) -> Result<String, PthError> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| PthError("data.pkl ends early".into()))?;
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(text)
    }

    fn string(&mut self, n: usize) -> Result<String, PthError> {
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
}

fn as_len(n: u64) -> Result<usize, PthError> {
    usize::try_from(n).map_err(|_| PthError("a length in data.pkl is too large".into()))
}

impl Machine {
    fn pop(&mut self) -> Result<Value, PthError> {
        self.stack
            .pop()
            .ok_or_else(|| PthError("data.pkl pops an empty stack".into()))
    }

    fn push(&mut self, value: Value) -> Result<(), PthError> {
        if self.stack.len() >= MAX_STACK {
            return err("data.pkl is too deeply nested");
        }
        self.stack.push(value);
        Ok(())
    }

    /// Everything above the topmost mark, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, PthError> {
        let at = self
            .stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .ok_or_else(|| PthError("data.pkl has no mark to pop to".into()))?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }

    fn top(&mut self) -> Result<&mut Value, PthError> {
        self.stack
            .last_mut()
            .ok_or_else(|| PthError("data.pkl works on an empty stack".into()))
    }

    fn memo_put(&mut self, key: u32) -> Result<(), PthError> {
        let value = self
            .stack
            .last()
            .cloned()
            .ok_or_else(|| PthError("data.pkl memoises an empty stack".into()))?;
        self.memo.insert(key, value);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Result<(), PthError> {
        let value = self
            .memo
            .get(&key)
            .cloned()
            .ok_or_else(|| PthError(format!("data.pkl refers to unknown memo entry {key}")))?;
        self.push(value)
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), PthError> {
        let Value::Dict(dict) = self.top()? else {
            // Items set on anything but a dict are state this reader does not need.
            return Ok(());
        };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            match dict.iter_mut().find(|(key, _)| *key == k) {
                Some(entry) => entry.1 = v,
                None => dict.push((k, v)),
            }
        }
        Ok(())
    }

    fn run(mut self, data: &[u8]) -> Result<Value, PthError> {
        let mut c = Cursor { data, pos: 0 };
        loop {
            let op = c.u8()?;
            match op {
                0x80 => drop(c.u8()?),           // PROTO
                0x95 => drop(c.u64()?),          // FRAME
                b'.' => return self.pop(),       // STOP
                b'(' => self.push(Value::Mark)?, // MARK
                b'}' => self.push(Value::Dict(Vec::new()))?,
                b']' => self.push(Value::List(Vec::new()))?,
                b')' => self.push(Value::Tuple(Vec::new()))?,
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let b = c.take(4)?;
                    self.push(Value::Int(i64::from(i32::from_le_bytes([
                        b[0], b[1], b[2], b[3],
                    ]))))?;
                }
                b'K' => {
                    let v = c.u8()?;
                    self.push(Value::Int(i64::from(v)))?;
                }
                b'M' => {
                    let v = c.u16()?;
                    self.push(Value::Int(i64::from(v)))?;
                }
                0x8a => {
                    // LONG1: little-endian two's complement of n bytes.
                    let n = usize::from(c.u8()?);
                    let b = c.take(n)?;
                    if n > 8 {
                        return err("data.pkl holds an integer wider than 64 bits");
                    }
                    let mut a = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                        [0xffu8; 8]
                    } else {
                        [0u8; 8]
                    };
                    a[..n].copy_from_slice(b);
                    self.push(Value::Int(i64::from_le_bytes(a)))?;
                }
                b'I' => {
                    let line = c.line()?;
                    let value = match line.as_str() {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        s => Value::Int(s.parse().map_err(|_| PthError(format!("bad INT {s}")))?),
                    };
                    self.push(value)?;
                }
                b'G' => {
                    let b = c.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push(Value::Float(f64::from_be_bytes(a)))?;
                }
                b'X' => {
                    let n = as_len(u64::from(c.u32()?))?;
                    let s = c.string(n)?;
                    self.push(Value::Str(s))?;
                }
                0x8c => {
                    let n = usize::from(c.u8()?);
                    let s = c.string(n)?;
                    self.push(Value::Str(s))?;
                }
                0x8d => {
                    let n = as_len(c.u64()?)?;
                    let s = c.string(n)?;
                    self.push(Value::Str(s))?;
                }
                b'U' => {
                    let n = usize::from(c.u8()?);
                    let b = c.take(n)?.to_vec();
                    self.push(Value::Bytes(b))?;
                }
                b'T' => {
                    let n = as_len(u64::from(c.u32()?))?;
                    let b = c.take(n)?.to_vec();
                    self.push(Value::Bytes(b))?;
                }
                b'C' => {
                    let n = usize::from(c.u8()?);
                    let b = c.take(n)?.to_vec();
                    self.push(Value::Bytes(b))?;
                }
                b'B' => {
                    let n = as_len(u64::from(c.u32()?))?;
                    let b = c.take(n)?.to_vec();
                    self.push(Value::Bytes(b))?;
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items))?;
                }
                0x85 => {
                    let a = self.pop()?;
                    self.push(Value::Tuple(vec![a]))?;
                }
                0x86 => {
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.push(Value::Tuple(vec![a, b]))?;
                }
                0x87 => {
                    let c3 = self.pop()?;
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.push(Value::Tuple(vec![a, b, c3]))?;
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items))?;
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Dict(Vec::new()))?;
                    self.set_items(items)?;
                }
                b'q' => {
                    let k = c.u8()?;
                    self.memo_put(u32::from(k))?;
                }
                b'r' => {
                    let k = c.u32()?;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = u32::try_from(self.memo.len()).unwrap_or(u32::MAX);
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = c.u8()?;
                    self.memo_get(u32::from(k))?;
                }
                b'j' => {
                    let k = c.u32()?;
                    self.memo_get(k)?;
                }
                b'c' => {
                    let module = c.line()?;
                    let name = c.line()?;
                    self.push(Value::Global(module, name))?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.push(Value::Global(m, n))?,
                        _ => return err("data.pkl names a global with non-string parts"),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let value = reduce(callable, args)?;
                    self.push(value)?;
                }
                0x81 => {
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let value = reduce(class, args)?;
                    self.push(value)?;
                }
                b'b' => {
                    // BUILD: object state (an OrderedDict's `_metadata`, a Parameter's hooks).
                    drop(self.pop()?);
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let value = persistent(pid)?;
                    self.push(value)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'a' => {
                    let v = self.pop()?;
                    if let Value::List(list) = self.top()? {
                        list.push(v);
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    if let Value::List(list) = self.top()? {
                        list.extend(items);
                    }
                }
                b'0' => drop(self.pop()?),
                b'1' => drop(self.pop_mark()?),
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v)?;
                }
                other => {
                    return err(format!(
                        "data.pkl uses pickle opcode 0x{other:02x}, which a state dict does not \
                         need; only plain state dicts are read"
                    ));
                }
            }
        }
    }
}

/// A storage from a persistent id `('storage', StorageType, key, location, numel)`.
fn persistent(pid: Value) -> Result<Value, PthError> {
    let Value::Tuple(parts) = pid else {
        return err("data.pkl has a persistent id that is not a tuple");
    };
    match parts.as_slice() {
        [
            Value::Str(kind),
            Value::Global(_, storage),
            Value::Str(key),
            ..,
        ] if kind == "storage" => {
            let dtype = Dtype::from_storage(storage)
                .ok_or_else(|| PthError(format!("unsupported storage type {storage}")))?;
            Ok(Value::Storage(key.clone(), dtype))
        }
        _ => err("data.pkl has a persistent id that is not a storage"),
    }
}

fn ints(value: &Value, what: &str) -> Result<Vec<usize>, PthError> {
    let Value::Tuple(items) = value else {
        return err(format!("a tensor's {what} is not a tuple"));
    };
    if items.len() > MAX_DIMS {
        return err(format!("a tensor has more than {MAX_DIMS} dimensions"));
    }
    items
        .iter()
        .map(|v| match v {
            Value::Int(i) => usize::try_from(*i).map_err(|_| PthError(format!("negative {what}"))),
            _ => err(format!("a tensor's {what} holds a non-integer")),
        })
        .collect()
}

/// Interprets a call from the pickle without making it.
fn reduce(callable: Value, args: Value) -> Result<Value, PthError> {
    let Value::Global(module, name) = callable else {
        return Ok(Value::Opaque("call of a non-global".into()));
    };
    let Value::Tuple(args) = args else {
        return Ok(Value::Opaque(format!("{module}.{name}")));
    };
    Ok(match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") | ("builtins", "dict") => Value::Dict(Vec::new()),
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => match args.as_slice() {
            [
                Value::Storage(key, dtype),
                Value::Int(offset),
                size,
                stride,
                ..,
            ] => {
                let shape = ints(size, "size")?;
                let stride = ints(stride, "stride")?;
                if stride.len() != shape.len() {
                    return err("a tensor's size and stride differ in length");
                }
                Value::Tensor(TensorRef {
                    key: key.clone(),
                    dtype: *dtype,
                    offset: usize::try_from(*offset)
                        .map_err(|_| PthError("negative storage offset".into()))?,
                    shape,
                    stride,
                })
            }
            _ => return err("a tensor in data.pkl has arguments this reader does not know"),
        },
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            args.into_iter().next().unwrap_or(Value::None)
        }
        ("_codecs", "encode") => match args.first() {
            Some(Value::Str(s)) => Value::Bytes(s.chars().map(|c| c as u8).collect()),
            _ => Value::Opaque("_codecs.encode".into()),
        },
        _ => Value::Opaque(format!("{module}.{name}")),
    })
}

/// The entries of a zip archive (stored, uncompressed, as `torch.save` writes them).
struct Zip<'a> {
    data: &'a [u8],
    /// Name → (offset of the local header, size, compression method).
    entries: Vec<(String, usize, usize, u16)>,
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(le32(b, at)?) | (u64::from(le32(b, at + 4)?) << 32))
}

impl<'a> Zip<'a> {
    fn parse(data: &'a [u8]) -> Result<Self, PthError> {
        let bad = || PthError("not a PyTorch file: the zip archive is damaged".into());
        if data.len() < 22 || le32(data, 0) != Some(0x0403_4b50) {
            return err("not a PyTorch file (neither a zip archive nor a pickle)");
        }
        let start = data.len().saturating_sub(22 + 65_535);
        let eocd = (start..=data.len() - 22)
            .rev()
            .find(|&i| le32(data, i) == Some(0x0605_4b50))
            .ok_or_else(bad)?;
        let mut count = u64::from(le16(data, eocd + 10).ok_or_else(bad)?);
        let mut dir = u64::from(le32(data, eocd + 16).ok_or_else(bad)?);
        // Zip64: the locator sits just before the end record.
        if eocd >= 20 && le32(data, eocd - 20) == Some(0x0706_4b50) {
            let rec = as_len(le64(data, eocd - 12).ok_or_else(bad)?)?;
            if le32(data, rec) == Some(0x0606_4b50) {
                count = le64(data, rec + 32).ok_or_else(bad)?;
                dir = le64(data, rec + 48).ok_or_else(bad)?;
            }
        }
        let mut at = as_len(dir)?;
        let mut entries = Vec::new();
        for _ in 0..count {
            if le32(data, at) != Some(0x0201_4b50) {
                return Err(bad());
            }
            let method = le16(data, at + 10).ok_or_else(bad)?;
            let mut size = u64::from(le32(data, at + 20).ok_or_else(bad)?);
            let name_len = usize::from(le16(data, at + 28).ok_or_else(bad)?);
            let extra_len = usize::from(le16(data, at + 30).ok_or_else(bad)?);
            let comment_len = usize::from(le16(data, at + 32).ok_or_else(bad)?);
            let mut offset = u64::from(le32(data, at + 42).ok_or_else(bad)?);
            let name = data.get(at + 46..at + 46 + name_len).ok_or_else(bad)?;
            let name = String::from_utf8_lossy(name).into_owned();
            let uncompressed_is_64 = le32(data, at + 24) == Some(u32::MAX);
            let size_is_64 = size == u64::from(u32::MAX);
            let offset_is_64 = offset == u64::from(u32::MAX);
            let mut e = at + 46 + name_len;
            let extra_end = e + extra_len;
            while e + 4 <= extra_end {
                let id = le16(data, e).ok_or_else(bad)?;
                let len = usize::from(le16(data, e + 2).ok_or_else(bad)?);
                if id == 0x0001 {
                    let mut f = e + 4;
                    if uncompressed_is_64 {
                        f += 8;
                    }
                    if size_is_64 {
                        size = le64(data, f).ok_or_else(bad)?;
                        f += 8;
                    }
                    if offset_is_64 {
                        offset = le64(data, f).ok_or_else(bad)?;
                    }
                }
                e += 4 + len;
            }
            entries.push((name, as_len(offset)?, as_len(size)?, method));
            at = extra_end + comment_len;
        }
        Ok(Self { data, entries })
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, ..)| n.as_str())
    }

    /// The bytes of a stored entry (`None` if absent, compressed or out of bounds).
    fn entry(&self, name: &str) -> Option<&'a [u8]> {
        let &(_, offset, size, method) = self.entries.iter().find(|(n, ..)| n == name)?;
        if method != 0 || le32(self.data, offset)? != 0x0403_4b50 {
            return None;
        }
        let name_len = usize::from(le16(self.data, offset + 26)?);
        let extra_len = usize::from(le16(self.data, offset + 28)?);
        let start = offset + 30 + name_len + extra_len;
        self.data.get(start..start.checked_add(size)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_converts_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b""[..],
            b"PK\x03\x04 not really a zip",
            b"\x80\x02 legacy",
            &[0u8; 100],
        ] {
            assert!(read(bytes).is_err());
        }
    }

    #[test]
    fn unknown_callables_are_never_called() {
        // `os.system('echo hi')` as a pickle: GLOBAL, MARK, string, TUPLE, REDUCE, STOP.
        let pickle = b"cos\nsystem\n(X\x07\x00\x00\x00echo hitR.";
        let value = Machine::default().run(pickle).unwrap();
        assert_eq!(value, Value::Opaque("os.system".into()));
    }
}
