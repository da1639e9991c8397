//! Legacy `torch.save` files (PyTorch before 1.6, or `_use_new_zipfile_serialization=False`),
//! which are not zips: five pickles back to back — the magic number, the protocol version, the
//! system info, the object itself (tensors refer to their storages by key through persistent
//! ids), the list of storage keys — then each storage's raw data in that order, after its
//! element count (a little-endian u64). candle reads only the zip format; the pickles here go
//! through candle's own pickle reader.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use aum_core::{Error, Result};
use candle_core::pickle::{Object, Stack, TensorInfo};
use candle_core::{Device, Tensor};

use crate::tensors::{LEGACY_MAGIC, NO_STATE_DICT, STATE_DICT_KEYS};

/// The tensors of a legacy `torch.save` state dict (at the top level or under a usual key).
pub(crate) fn read(path: &Path) -> Result<HashMap<String, Tensor>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let truncated =
        || Error::InvalidInput("truncated: a storage runs past the end of the file".into());
    let mut r = BufReader::new(file);
    let mut magic = [0u8; LEGACY_MAGIC.len()];
    r.read_exact(&mut magic).map_err(|e| Error::io(path, e))?;
    if magic != LEGACY_MAGIC {
        return Err(Error::InvalidInput(
            "not a legacy torch.save file (wrong magic number)".into(),
        ));
    }
    let _protocol = pickle(&mut r)?;
    let _sys_info = pickle(&mut r)?;
    let object = pickle(&mut r)?;
    let not_keys = || Error::InvalidInput("the storage key list is not a list of strings".into());
    let Object::List(items) = pickle(&mut r)? else {
        return Err(not_keys());
    };
    let keys = items
        .into_iter()
        .map(|k| k.unicode().map_err(|_| not_keys()))
        .collect::<Result<Vec<String>>>()?;
    let infos = state_dict(object)?;
    // Where each storage's data starts; the element size comes from a tensor that uses it.
    let elem = |key: &str| {
        infos
            .iter()
            .find(|t| t.path == key)
            .map(|t| t.dtype.size_in_bytes())
    };
    let mut starts = HashMap::new();
    for key in &keys {
        let mut count = [0u8; 8];
        r.read_exact(&mut count).map_err(|e| Error::io(path, e))?;
        let start = r.stream_position().map_err(|e| Error::io(path, e))?;
        let Some(size) = elem(key) else {
            return Err(Error::InvalidInput(format!(
                "storage `{key}` is used by no tensor of the state dict"
            )));
        };
        let end = u64::from_le_bytes(count)
            .checked_mul(size as u64)
            .and_then(|bytes| bytes.checked_add(start))
            .filter(|&end| end <= file_len)
            .ok_or_else(truncated)?;
        r.seek(SeekFrom::Start(end))
            .map_err(|e| Error::io(path, e))?;
        starts.insert(key.clone(), (start, end));
    }
    let mut tensors = HashMap::with_capacity(infos.len());
    for info in infos {
        let &(start, end) = starts.get(&info.path).ok_or_else(|| {
            Error::InvalidInput(format!(
                "tensor `{}`: no storage `{}`",
                info.name, info.path
            ))
        })?;
        if !info.layout.is_contiguous() {
            return Err(Error::InvalidInput(format!(
                "tensor `{}` is not contiguous in its storage",
                info.name
            )));
        }
        let len = info
            .layout
            .shape()
            .elem_count()
            .checked_mul(info.dtype.size_in_bytes());
        let from = start.checked_add(info.layout.start_offset() as u64);
        let (Some(len), Some(from)) = (len, from) else {
            return Err(Error::InvalidInput(format!(
                "tensor `{}`: size overflows",
                info.name
            )));
        };
        if from.checked_add(len as u64).is_none_or(|to| to > end) {
            return Err(Error::InvalidInput(format!(
                "tensor `{}` runs past the end of its storage `{}`",
                info.name, info.path
            )));
        }
        r.seek(SeekFrom::Start(from))
            .map_err(|e| Error::io(path, e))?;
        let mut bytes = vec![0u8; len];
        r.read_exact(&mut bytes).map_err(|e| Error::io(path, e))?;
        let t = Tensor::from_raw_buffer(&bytes, info.dtype, info.layout.dims(), &Device::Cpu)?;
        tensors.insert(info.name, t);
    }
    Ok(tensors)
}

/// The next pickle of the stream.
fn pickle<R: BufRead>(r: &mut R) -> Result<Object> {
    let mut stack = Stack::empty();
    stack.read_loop(r)?;
    Ok(stack.finalize()?)
}

/// The tensor infos of the state dict in `object` (paths are the storage keys).
fn state_dict(object: Object) -> Result<Vec<TensorInfo>> {
    let Object::Dict(top) = object else {
        return Err(Error::InvalidInput("the saved object is not a dict".into()));
    };
    for key in STATE_DICT_KEYS {
        let entries = match key {
            None => top.clone(),
            Some(k) => match top.iter().find(|(n, _)| *n == Object::Unicode(k.into())) {
                Some((_, Object::Dict(d))) => d.clone(),
                _ => continue,
            },
        };
        let mut infos = Vec::new();
        for (name, value) in entries {
            if let Some(mut info) = value.into_tensor_info(name, Path::new(""))? {
                info.path = info.path.trim_start_matches('/').to_string();
                infos.push(info);
            }
        }
        if !infos.is_empty() {
            return Ok(infos);
        }
    }
    Err(Error::InvalidInput(NO_STATE_DICT.into()))
}
