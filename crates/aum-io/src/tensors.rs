//! Reading checkpoints in the formats upstream projects publish: PyTorch `torch.save` zips and
//! safetensors, with DataParallel's `module.` prefix removed.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use zip::result::ZipError;

use aum_core::{Error, Result};

/// Reads every tensor of a `.pth` or safetensors file as f32 on the CPU, with `module.`
/// stripped, plus the safetensors metadata.
pub fn read_tensors(path: &Path) -> Result<(HashMap<String, Tensor>, HashMap<String, String>)> {
    let mut magic = [0u8; 4];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        f.read_exact(&mut magic).map_err(|e| Error::io(path, e))?;
    }
    if &magic == b"PK\x03\x04" {
        let tensors = read_pth(path)
            .and_then(normalised)
            .map_err(|e| e.in_file(path))?;
        return Ok((tensors, HashMap::new()));
    }
    if magic == LEGACY_MAGIC[..4] {
        let tensors = crate::legacy::read(path)
            .and_then(normalised)
            .map_err(|e| e.in_file(path))?;
        return Ok((tensors, HashMap::new()));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    read_safetensors_bytes(&bytes).map_err(|e| {
        Error::InvalidInput(format!(
            "{}: neither a PyTorch zip nor safetensors ({e})",
            path.display()
        ))
    })
}

/// How a legacy (pre-1.6, non-zip) `torch.save` file starts: protocol 2, then the magic number
/// 0x1950a86a20f9469cfc6c as a 10-byte long.
pub(crate) const LEGACY_MAGIC: [u8; 15] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
];

/// [`read_tensors`] of safetensors bytes in memory (a model compiled into a binary, say).
pub fn read_safetensors_bytes(
    bytes: &[u8],
) -> Result<(HashMap<String, Tensor>, HashMap<String, String>)> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::InvalidInput(format!("not safetensors: {e}")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let raw = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)?;
    Ok((normalised(raw)?, meta))
}

/// The tensors as f32, with DataParallel's `module.` prefix stripped.
pub(crate) fn normalised(raw: HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>> {
    let mut tensors = HashMap::with_capacity(raw.len());
    for (name, t) in raw {
        let name = name.strip_prefix("module.").unwrap_or(&name).to_string();
        tensors.insert(name, t.to_dtype(DType::F32)?);
    }
    Ok(tensors)
}

/// The error of a `.pth` file with no state dict where one is looked for.
pub(crate) const NO_STATE_DICT: &str = "no tensors at the top level or under `model`/`state_dict`";

/// The keys a state dict is found under, in the order tried: the top level first.
pub(crate) const STATE_DICT_KEYS: [Option<&str>; 4] = [
    None,
    Some("model"),
    Some("state_dict"),
    Some("model_state_dict"),
];

/// The state dict of a `torch.save` zip: at the top level or under a usual wrapper key.
fn read_pth(path: &Path) -> Result<HashMap<String, Tensor>> {
    match read_pth_zip(path) {
        Err(e @ Error::Candle(candle_core::Error::Zip(ZipError::InvalidArchive(_)))) => {
            // Some archives torch writes carry a zip64 end record that the zip reader rejects
            // although the plain end record describes them completely (seen with 21-character
            // file stems): read a copy without it.
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let Some(repaired) = without_zip64_end(&bytes) else {
                return Err(e);
            };
            let tmp = unique_temp_file(&repaired)?;
            let read = read_pth_zip(&tmp);
            let _ = std::fs::remove_file(&tmp);
            read
        }
        other => other,
    }
}

/// A new file (never an existing one or a link) in the temporary folder holding `bytes`.
fn unique_temp_file(bytes: &[u8]) -> Result<std::path::PathBuf> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = std::env::temp_dir().join(format!(
        "aum-pth-{}-{}-{nanos}.pth",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    Ok(tmp)
}

/// The tensors of a zip `torch.save` file.
fn read_pth_zip(path: &Path) -> Result<HashMap<String, Tensor>> {
    for key in STATE_DICT_KEYS {
        // A wrapper key the file does not have is an error from candle: try the next one.
        let pth = match candle_core::pickle::PthTensors::new(path, key) {
            Ok(pth) => pth,
            Err(_) if key.is_some() => continue,
            Err(e) => return Err(e.into()),
        };
        if pth.tensor_infos().is_empty() {
            continue;
        }
        let mut out = HashMap::new();
        for name in pth.tensor_infos().keys() {
            if let Some(t) = pth.get(name)? {
                out.insert(name.clone(), t);
            }
        }
        return Ok(out);
    }
    Err(Error::InvalidInput(NO_STATE_DICT.into()))
}

/// The archive without its zip64 end-of-central-directory record and locator, when the plain
/// end record that follows them holds every count, size and offset itself (none saturated)
/// and has no comment; `None` otherwise.
fn without_zip64_end(bytes: &[u8]) -> Option<Vec<u8>> {
    const EOCD: &[u8] = b"PK\x05\x06";
    const ZIP64_EOCD: &[u8] = b"PK\x06\x06";
    let eocd = bytes.len().checked_sub(22)?;
    if &bytes[eocd..eocd + 4] != EOCD {
        return None;
    }
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    let saturated = [4, 6, 8, 10].iter().any(|&o| u16_at(eocd + o) == u16::MAX)
        || [12, 16].iter().any(|&o| u32_at(eocd + o) == u32::MAX);
    if saturated || u16_at(eocd + 20) != 0 {
        return None;
    }
    let cd_end = u64::from(u32_at(eocd + 16)) + u64::from(u32_at(eocd + 12));
    let cd_end = usize::try_from(cd_end).ok().filter(|&e| e <= eocd)?;
    if &bytes[cd_end..cd_end + 4] != ZIP64_EOCD {
        return None;
    }
    Some([&bytes[..cd_end], &bytes[eocd..]].concat())
}
/// Checks a checkpoint's tensors against the layout a model expects: every expected tensor
/// present with its shape, and nothing else. Errors name the tensor and both shapes; `model`
/// describes the model in the message about unexpected tensors.
pub fn check_layout(
    tensors: &HashMap<String, Tensor>,
    expected: &[(String, Vec<usize>)],
    model: &str,
) -> Result<()> {
    for (name, shape) in expected {
        let t = tensors.get(name).ok_or_else(|| {
            Error::InvalidInput(format!(
                "missing tensor `{name}` (expected shape {shape:?})"
            ))
        })?;
        if t.dims() != shape.as_slice() {
            return Err(Error::shape(name.clone(), shape, t.dims()));
        }
    }
    if tensors.len() != expected.len() {
        let known: std::collections::HashSet<&str> =
            expected.iter().map(|(n, _)| n.as_str()).collect();
        let mut extra: Vec<String> = tensors
            .iter()
            .filter(|(k, _)| !known.contains(k.as_str()))
            .map(|(k, t)| format!("`{k}` {:?}", t.dims()))
            .collect();
        extra.sort();
        return Err(Error::InvalidInput(format!(
            "unexpected tensors for {model}: {}",
            extra.join(", ")
        )));
    }
    Ok(())
}

/// Metadata keys that checkpoints of every model family share.
pub mod meta {
    use std::collections::HashMap;

    use aum_core::{Activation, Error, Result};
    use serde::{de::DeserializeOwned, Serialize};

    /// The model family: `aum` or `ast` (a plain string, not JSON).
    pub const FAMILY: &str = "aum.family";
    /// How the logits become scores: `sigmoid` or `softmax` (a plain string).
    pub const ACTIVATION: &str = "aum.activation";
    /// A resumable training state (aum-train's `last.safetensors`), as JSON.
    pub const TRAINING_STATE: &str = "aum.train";
    /// The class names, a JSON array of strings.
    pub const LABELS: &str = "aum.labels";
    /// The input pipeline (aum-fbank's `FrontEnd`), as JSON.
    pub const FRONT_END: &str = "aum.frontend";

    /// The value stored as JSON under `key`, if there is one; a value that does not parse as a
    /// `T` is an error naming the key.
    pub fn get<T: DeserializeOwned>(
        meta: &HashMap<String, String>,
        key: &str,
    ) -> Result<Option<T>> {
        meta.get(key)
            .map(|json| {
                serde_json::from_str(json)
                    .map_err(|e| Error::InvalidInput(format!("bad `{key}` metadata: {e}")))
            })
            .transpose()
    }

    /// Stores `value` as JSON under `key`.
    pub fn put(meta: &mut HashMap<String, String>, key: &str, value: &impl Serialize) {
        let json = serde_json::to_string(value).expect("metadata values serialise to JSON");
        meta.insert(key.to_string(), json);
    }

    /// What a checkpoint of either family keeps besides its tensors and config (`F` is the
    /// front end, aum-fbank's `FrontEnd`), as its metadata holds it.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Stored<F> {
        /// Class names, when the file carries them.
        pub labels: Option<Vec<String>>,
        /// The input pipeline, when the file says.
        pub front_end: Option<F>,
        /// How the logits become scores, when the file says.
        pub activation: Option<Activation>,
    }

    impl<F: Serialize + DeserializeOwned> Stored<F> {
        /// Reads labels, front end and activation. A file of ours from before the activation
        /// key existed (it names its family) was scored with sigmoids, and still is.
        pub fn read(meta: &HashMap<String, String>) -> Result<Self> {
            let activation = match meta.get(ACTIVATION) {
                Some(a) => Some(a.parse()?),
                None if meta.contains_key(FAMILY) => Some(Activation::Sigmoid),
                None => None,
            };
            Ok(Self {
                labels: get(meta, LABELS)?,
                front_end: get(meta, FRONT_END)?,
                activation,
            })
        }

        /// The metadata of a checkpoint of `family` whose config is stored under `config_key`.
        pub fn write(
            &self,
            family: &str,
            config_key: &str,
            config: &impl Serialize,
        ) -> HashMap<String, String> {
            let mut meta = HashMap::from([(FAMILY.to_string(), family.to_string())]);
            put(&mut meta, config_key, config);
            if let Some(front_end) = &self.front_end {
                put(&mut meta, FRONT_END, front_end);
            }
            if let Some(labels) = &self.labels {
                put(&mut meta, LABELS, labels);
            }
            if let Some(a) = self.activation {
                meta.insert(ACTIVATION.to_string(), a.name().to_string());
            }
            meta
        }
    }
}

/// The model family of a file's tensors, `"aum"` or `"ast"`: our `aum.family` metadata when it
/// is there, else whether the names are an AST's (the HF layout's patch projection, the
/// original layout's `v.blocks.`, a distillation token).
pub fn family(
    tensors: &HashMap<String, Tensor>,
    metadata: &HashMap<String, String>,
) -> &'static str {
    match metadata.get(meta::FAMILY).map(String::as_str) {
        Some("ast") => return "ast",
        Some("aum") => return "aum",
        _ => {}
    }
    let ast = tensors.keys().any(|n| {
        n.contains("patch_embeddings.projection")
            || n.contains("v.blocks.")
            || n.ends_with("dist_token")
    });
    if ast {
        "ast"
    } else {
        "aum"
    }
}

/// Writes tensors (sorted by name) and metadata as safetensors, atomically.
pub fn save_safetensors(
    path: &Path,
    tensors: &HashMap<String, Tensor>,
    metadata: HashMap<String, String>,
) -> Result<()> {
    let sorted: std::collections::BTreeMap<&str, &Tensor> =
        tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let bytes = safetensors::serialize(sorted, Some(metadata))
        .map_err(|e| Error::InvalidInput(format!("cannot serialise {}: {e}", path.display())))?;
    crate::write_atomic(path, &bytes)
}
