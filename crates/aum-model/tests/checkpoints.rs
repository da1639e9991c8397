//! Presets, parameter counts, save/load round trips and checkpoint errors.

use std::collections::HashMap;

use aum_model::{AumCheckpoint, AumConfig, AumModel};
use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::{VarBuilder, VarMap};

/// A randomly initialised model's tensors, by upstream name.
fn random_tensors(cfg: &AumConfig) -> HashMap<String, Tensor> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    AumModel::new(cfg.clone(), vb).unwrap();
    let data = varmap.data().lock().unwrap();
    data.iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect()
}

#[test]
fn presets_have_the_papers_parameter_counts() {
    for (cfg, count) in [
        (AumConfig::tiny(), 6_438_479),
        (AumConfig::small(), 25_539_215),
        (AumConfig::base(), 92_107_535),
    ] {
        let tensors = random_tensors(&cfg);
        let ckpt = AumCheckpoint::new(tensors, cfg.clone(), None).unwrap();
        assert_eq!(ckpt.num_params(), count);
        assert_eq!(cfg.num_params(), count);
        assert_eq!(aum_model::aum::infer_config(ckpt.tensors()).unwrap(), cfg);
    }
}

#[test]
fn saved_checkpoints_reload_with_config_and_labels() {
    let mut cfg = AumConfig::tiny();
    cfg.depth = 2;
    cfg.frames = 128;
    cfg.num_classes = 3;
    cfg.cls_position = aum_model::ClsPosition::Tail;
    let labels = vec!["a".to_string(), "b, with comma".into(), "c".into()];
    let ckpt = AumCheckpoint::new(random_tensors(&cfg), cfg.clone(), Some(labels.clone())).unwrap();
    let dir = std::env::temp_dir().join(format!("aum-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    ckpt.save(&path).unwrap();
    let back = AumCheckpoint::load(&path).unwrap();
    // The metadata keeps what the tensors cannot say (here the CLS placement).
    assert_eq!(back.config(), &cfg);
    assert_eq!(back.labels(), Some(labels.as_slice()));
    let x = Tensor::randn(0f32, 1.0, (1, 128, 128), &Device::Cpu).unwrap();
    let a = ckpt
        .model(&Device::Cpu)
        .unwrap()
        .forward_t(&x, false)
        .unwrap();
    let b = back
        .model(&Device::Cpu)
        .unwrap()
        .forward_t(&x, false)
        .unwrap();
    assert_eq!(a.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_checkpoints_name_the_tensor() {
    let mut cfg = AumConfig::tiny();
    cfg.depth = 1;
    let good = random_tensors(&cfg);

    let mut missing = good.clone();
    missing.remove("layers.0.mixer.A_b_log");
    let e = AumCheckpoint::new(missing, cfg.clone(), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("layers.0.mixer.A_b_log") && e.contains("[384, 16]"),
        "{e}"
    );

    let mut wrong = good.clone();
    wrong.insert(
        "head.bias".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    );
    let e = AumCheckpoint::new(wrong, cfg.clone(), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("head.bias") && e.contains("[527]") && e.contains("[3]"),
        "{e}"
    );

    let mut extra = good.clone();
    extra.insert(
        "rope.freqs".into(),
        Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap(),
    );
    let e = AumCheckpoint::new(extra, cfg.clone(), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rope.freqs"), "{e}");

    // A positional embedding with the CLS row alone holds no patch grid to infer frames from.
    let mut no_grid = good.clone();
    no_grid.insert(
        "pos_embed.pos_embed".into(),
        Tensor::zeros((1, 1, cfg.embed_dim), DType::F32, &Device::Cpu).unwrap(),
    );
    let e = aum_model::aum::infer_config(&no_grid)
        .unwrap_err()
        .to_string();
    assert!(e.contains("0 patch rows"), "{e}");

    let e = AumCheckpoint::new(good, cfg, Some(vec!["x".into()]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("1 labels") && e.contains("527 classes"), "{e}");

    let dir = std::env::temp_dir().join(format!("aum-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.pth");
    std::fs::write(&junk, b"this is not a checkpoint").unwrap();
    let e = AumCheckpoint::load(&junk).unwrap_err().to_string();
    assert!(e.contains("junk.pth"), "{e}");
    // A zip that is no torch.save archive: the zip reader's error, with the file's name.
    let broken = dir.join("broken.pth");
    std::fs::write(&broken, b"PK\x03\x04 but nothing after the signature").unwrap();
    let e = aum_model::Checkpoint::load(&broken)
        .unwrap_err()
        .to_string();
    assert!(e.contains("broken.pth"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn other_clip_lengths_run_with_a_resampled_pos_embed() {
    let mut cfg = AumConfig::tiny();
    cfg.depth = 1;
    cfg.num_classes = 4;
    let ckpt = AumCheckpoint::new(random_tensors(&cfg), cfg, None).unwrap();
    let model = ckpt.model(&Device::Cpu).unwrap();
    for frames in [1024, 998, 300, 4096] {
        let x = Tensor::randn(0f32, 1.0, (2, frames, 128), &Device::Cpu).unwrap();
        let logits = model.forward_t(&x, false).unwrap();
        assert_eq!(logits.dims(), &[2, 4]);
    }
    let too_short = Tensor::zeros((1, 8, 128), DType::F32, &Device::Cpu).unwrap();
    assert!(model.forward_t(&too_short, false).is_err());
    let wrong_bins = Tensor::zeros((1, 1024, 64), DType::F32, &Device::Cpu).unwrap();
    assert!(model.forward_t(&wrong_bins, false).is_err());
}

/// `Checkpoint` (any family) tells the families apart, and says what a file is when it is not
/// a model, naming the file.
#[test]
fn any_family_checkpoints_are_detected_or_named() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let aum = aum_model::Checkpoint::load(
        aum_testdata::fixture_dir(env!("CARGO_MANIFEST_DIR"), "aum").join("aum-v1-d64-l2-t128.pth"),
    )
    .unwrap();
    assert!(matches!(aum, aum_model::Checkpoint::Aum(_)));
    let ast_file = root.join("aum-ast/tests/fixtures/ast/ast-h64-l2-t128-s10.hf.safetensors");
    let ast = aum_model::Checkpoint::load(&ast_file).unwrap();
    assert!(matches!(ast, aum_model::Checkpoint::Ast(_)));
    assert_eq!(ast.config().num_classes(), 5);

    let state = HashMap::from([(aum_io::meta::TRAINING_STATE.to_string(), "{}".to_string())]);
    let e = aum_model::Checkpoint::from_tensors(HashMap::new(), &state).unwrap_err();
    assert!(e.to_string().contains("training state"), "{e}");

    let dir = std::env::temp_dir().join(format!("aum-any-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let partial = dir.join("partial.safetensors");
    let mut tensors = aum.tensors().clone();
    tensors.remove("head.weight");
    aum_io::save_safetensors(&partial, &tensors, HashMap::new()).unwrap();
    let e = aum_model::Checkpoint::load(&partial)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("partial.safetensors") && e.contains("head.weight"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A classifier of an official checkpoint (no labels, no activation in the file) takes both
/// from the dataset of its class count; our own checkpoints keep what they store.
#[test]
fn classifiers_know_their_labels_and_activation() {
    use aum_model::labels::LabelSource;
    use aum_model::{Activation, Classifier, Device};
    let dir = aum_testdata::fixture_dir(env!("CARGO_MANIFEST_DIR"), "aum");
    let audioset = Classifier::from_file(
        dir.join("aum-v1-d192-l4-t1024.weights.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(audioset.label_source(), LabelSource::Assumed("audioset"));
    assert_eq!(audioset.activation(), Activation::Sigmoid);
    assert_eq!(audioset.labels().name(0), Some("Speech"));
    let digits = Classifier::from_file(dir.join("aum-v1-d64-l2-t128.pth"), &Device::Cpu).unwrap();
    assert_eq!(digits.label_source(), LabelSource::Indices);
    assert_eq!(digits.activation(), Activation::Sigmoid);

    let saved = std::env::temp_dir().join(format!("aum-act-{}.safetensors", std::process::id()));
    aum_model::Checkpoint::load(dir.join("aum-v1-d64-l2-t128.pth"))
        .unwrap()
        .with_activation(Activation::Softmax)
        .with_labels((0..10).map(|i| format!("c{i}")).collect())
        .unwrap()
        .save(&saved)
        .unwrap();
    let back = Classifier::from_file(&saved, &Device::Cpu).unwrap();
    assert_eq!(back.activation(), Activation::Softmax);
    assert_eq!(back.label_source(), LabelSource::Checkpoint);
    let wave = aum_model::Waveform::mono(vec![0.1; 16_000], 16_000).unwrap();
    let scores = back.scores(&wave).unwrap();
    assert!((scores.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    std::fs::remove_file(&saved).unwrap();
}
