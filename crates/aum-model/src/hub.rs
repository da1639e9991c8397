//! Models by name from the HuggingFace hub: `hf:OWNER/REPO[@REVISION][:FILE]`, through the
//! `hf-hub` crate, so files land in (and are served from) the hub's own cache layout under
//! `HF_HOME`, `HF_ENDPOINT` picks the server, and `HF_HUB_OFFLINE=1` uses the cache alone.
//! Without a FILE, `model.safetensors` is preferred to `pytorch_model.bin`. A repository's
//! `config.json` (an AST's `hidden_size`, strides, `max_length` ..., and `id2label`) is read
//! as the checkpoint's metadata where the weights carry none.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use aum_core::{Error, Result};
use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};

use crate::Checkpoint;

/// The weight files tried, in order, when a spec names none.
const WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

/// A model on the hub: `OWNER/REPO[@REVISION][:FILE]` (the part after `hf:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubModel {
    /// `OWNER/REPO`.
    pub repo: String,
    /// A branch, tag or commit (default `main`).
    pub revision: Option<String>,
    /// The weight file (default: [`WEIGHT_FILES`], the first present).
    pub file: Option<String>,
}

impl HubModel {
    /// Parses `OWNER/REPO[@REVISION][:FILE]`.
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = || {
            Error::InvalidInput(format!(
                "hf:{spec}: expected hf:OWNER/REPO[@REVISION][:FILE]"
            ))
        };
        let (rest, file) = match spec.split_once(':') {
            Some((rest, file)) if !file.is_empty() => (rest, Some(file.to_string())),
            Some(_) => return Err(bad()),
            None => (spec, None),
        };
        let (repo, revision) = match rest.split_once('@') {
            Some((repo, rev)) if !rev.is_empty() => (repo, Some(rev.to_string())),
            Some(_) => return Err(bad()),
            None => (rest, None),
        };
        let mut parts = repo.split('/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(o), Some(r), None) if !o.is_empty() && !r.is_empty() => Ok(Self {
                repo: repo.to_string(),
                revision,
                file,
            }),
            _ => Err(bad()),
        }
    }

    fn name(&self) -> String {
        let rev = self
            .revision
            .as_deref()
            .map_or(String::new(), |r| format!("@{r}"));
        format!("hf:{}{rev}", self.repo)
    }

    /// The local path of `file`: from the cache when it is there (or when `HF_HUB_OFFLINE` is
    /// set), else downloaded into it.
    fn get(&self, file: &str) -> Result<PathBuf> {
        let repo = Repo::with_revision(
            self.repo.clone(),
            RepoType::Model,
            self.revision.clone().unwrap_or_else(|| "main".into()),
        );
        let fail = |e: String| Error::InvalidInput(format!("{}: {file}: {e}", self.name()));
        if offline() {
            return Cache::from_env()
                .repo(repo)
                .get(file)
                .ok_or_else(|| fail("not in the hub cache, and HF_HUB_OFFLINE is set".into()));
        }
        let api = ApiBuilder::from_env()
            .with_progress(std::io::stderr().is_terminal())
            .build()
            .map_err(|e| fail(e.to_string()))?;
        api.repo(repo).get(file).map_err(|e| fail(e.to_string()))
    }

    /// The checkpoint: its weights, with `config.json` as metadata where they carry none.
    pub fn load(&self) -> Result<Checkpoint> {
        let (weights, tried) = match &self.file {
            Some(f) => (self.get(f)?, f.clone()),
            None => {
                let mut errors = Vec::new();
                let found = WEIGHT_FILES.iter().find_map(|f| match self.get(f) {
                    Ok(p) => Some((p, f.to_string())),
                    Err(e) => {
                        errors.push(e.to_string());
                        None
                    }
                });
                found.ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "{}: no weights ({})",
                        self.name(),
                        errors.join("; ")
                    ))
                })?
            }
        };
        let (tensors, mut meta) = aum_io::read_tensors(&weights)?;
        let mut labels = None;
        if let Ok(config) = self.get("config.json") {
            let mut extra = config_metadata(&config)?;
            labels = extra.remove(aum_io::meta::LABELS);
            for (k, v) in extra {
                meta.entry(k).or_insert(v);
            }
        }
        let ckpt = Checkpoint::from_tensors(tensors, &meta)
            .map_err(|e| e.in_file(format!("{}:{tried}", self.name())))?;
        // id2label only where the weights carry no labels, and only when it names every class
        // (HF's default LABEL_0, LABEL_1 of an untouched config do not).
        let names: Option<Vec<String>> = labels.and_then(|l| serde_json::from_str(&l).ok());
        match names {
            Some(n) if ckpt.labels().is_none() && n.len() == ckpt.config().num_classes() => {
                ckpt.with_labels(n)
            }
            _ => Ok(ckpt),
        }
    }
}

/// Whether `HF_HUB_OFFLINE` asks for the cache alone (`1`, `true`, `yes`, `on`).
fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// A `config.json` as checkpoint metadata: its scalar entries as strings (the keys AST's
/// config is read from), and `id2label` as the labels.
fn config_metadata(path: &PathBuf) -> Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::InvalidInput(format!("bad config.json: {e}")).in_file(path))?;
    let mut meta = HashMap::new();
    let Some(obj) = json.as_object() else {
        return Ok(meta);
    };
    for (k, v) in obj {
        let value = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        meta.insert(k.clone(), value);
    }
    if let Some(id2label) = obj.get("id2label").and_then(|v| v.as_object()) {
        let mut labels: Vec<(usize, String)> = id2label
            .iter()
            .filter_map(|(i, l)| Some((i.parse().ok()?, l.as_str()?.to_string())))
            .collect();
        labels.sort();
        if labels.iter().enumerate().all(|(i, (j, _))| i == *j) {
            let names: Vec<String> = labels.into_iter().map(|(_, l)| l).collect();
            aum_io::meta::put(&mut meta, aum_io::meta::LABELS, &names);
        }
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let m = HubModel::parse("MIT/ast-finetuned-audioset-10-10-0.4593@v1:model.safetensors")
            .unwrap();
        assert_eq!(m.repo, "MIT/ast-finetuned-audioset-10-10-0.4593");
        assert_eq!(m.revision.as_deref(), Some("v1"));
        assert_eq!(m.file.as_deref(), Some("model.safetensors"));
        assert_eq!(HubModel::parse("a/b").unwrap().file, None);
        for bad in ["a", "a/b/c", "a/b@", "a/b:", "/b"] {
            assert!(HubModel::parse(bad).is_err(), "{bad}");
        }
    }
}
