//! Every layout is detected from its path and splits as documented; FSDD's standard and
//! leave-one-speaker-out splits on the real dataset.

use std::path::{Path, PathBuf};

use aum_core::LabelSet;
use aum_data::{detect, open, Layout, Split};
use aum_testdata::shared_data;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aum-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Loaders list files without decoding them, so empty files are enough here.
fn touch(p: &Path) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, b"").unwrap();
}

#[test]
fn fsdd_standard_and_leave_one_speaker_out_splits() {
    let Some(dir) = shared_data("fsdd") else {
        return;
    };
    assert_eq!(detect(&dir).unwrap(), Layout::Fsdd);
    let count = |s: &str| open(&dir, &s.parse().unwrap(), None).unwrap().clips.len();
    assert_eq!(count("train"), 2700);
    assert_eq!(count("test"), 300);
    assert_eq!(count("all"), 3000);
    assert_eq!(count("train-without:george"), 2500);
    assert_eq!(count("speaker:george"), 500);
    let test = open(&dir, &Split::Test, None).unwrap();
    assert_eq!(
        test.labels.names(),
        (0..10).map(|d| d.to_string()).collect::<Vec<_>>()
    );
    let c = &test.clips[0];
    let name = c.path.file_name().unwrap().to_str().unwrap();
    assert_eq!(name[..1].parse::<usize>().unwrap(), c.labels[0]);
    // The manifest.csv is recognised as FSDD too.
    assert_eq!(detect(&dir.join("manifest.csv")).unwrap(), Layout::Fsdd);
}

#[test]
fn folder_per_class_with_and_without_split_folders() {
    let d = temp_dir("folder");
    touch(&d.join("flat/dog/a.wav"));
    touch(&d.join("flat/cat/b.flac"));
    touch(&d.join("flat/cat/notes.txt"));
    let flat = open(&d.join("flat"), &Split::All, None).unwrap();
    assert_eq!(detect(&d.join("flat")).unwrap(), Layout::Folder);
    assert_eq!(flat.labels.names(), vec!["cat", "dog"]);
    assert_eq!(flat.clips.len(), 2);
    touch(&d.join("split/train/dog/a.wav"));
    touch(&d.join("split/train/cat/b.wav"));
    touch(&d.join("split/test/bird/c.wav"));
    let train = open(&d.join("split"), &Split::Train, None).unwrap();
    let test = open(&d.join("split"), &Split::Test, None).unwrap();
    assert_eq!(train.labels.names(), vec!["bird", "cat", "dog"]);
    assert_eq!((train.clips.len(), test.clips.len()), (2, 1));
    assert_eq!(test.clips[0].labels, vec![0]);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn json_manifest_with_class_labels_and_csv_manifest() {
    let d = temp_dir("manifest");
    std::fs::write(
        d.join("class_labels_indices.csv"),
        "index,mid,display_name\n0,/m/a,\"Speech\"\n1,/m/b,\"Dog, bark\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("train.json"),
        r#"{"data": [{"wav": "x.wav", "labels": "/m/a,/m/b"}, {"wav": "/abs/y.wav", "labels": "/m/b"}]}"#,
    )
    .unwrap();
    let j = open(&d.join("train.json"), &Split::All, None).unwrap();
    assert_eq!(detect(&d.join("train.json")).unwrap(), Layout::JsonManifest);
    assert_eq!(j.clips[0].labels, vec![0, 1]);
    assert_eq!(j.clips[0].path, d.join("x.wav"));
    assert_eq!(j.clips[1].path, PathBuf::from("/abs/y.wav"));
    assert_eq!(j.target(0), vec![1.0, 1.0]);
    std::fs::write(
        d.join("bad.json"),
        r#"{"data": [{"wav": "x.wav", "labels": "/m/zz"}]}"#,
    )
    .unwrap();
    let e = open(&d.join("bad.json"), &Split::All, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown label `/m/zz`"), "{e}");

    std::fs::write(
        d.join("list.csv"),
        "path,label,split\na.wav,dog,train\nb.wav,\"cat,dog\",test\nc.wav,cat,validation\n",
    )
    .unwrap();
    assert_eq!(detect(&d.join("list.csv")).unwrap(), Layout::CsvManifest);
    let train = open(&d.join("list.csv"), &Split::Train, None).unwrap();
    let test = open(&d.join("list.csv"), &Split::Test, None).unwrap();
    let valid = open(&d.join("list.csv"), &Split::Valid, None).unwrap();
    assert_eq!(train.labels.names(), vec!["cat", "dog"]);
    assert_eq!((train.clips.len(), valid.clips.len()), (1, 1));
    assert_eq!(test.clips[0].labels, vec![0, 1]);
    // Labels given explicitly re-index the clips.
    let given = LabelSet::from_names(vec!["dog".into(), "bird".into(), "cat".into()]);
    let re = open(&d.join("list.csv"), &Split::Test, Some(&given)).unwrap();
    assert_eq!(re.clips[0].labels, vec![2, 0]);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn speech_commands_lists() {
    let d = temp_dir("sc");
    for f in [
        "yes/1.wav",
        "yes/2.wav",
        "no/3.wav",
        "no/4.wav",
        "_background_noise_/n.wav",
    ] {
        touch(&d.join(f));
    }
    std::fs::write(d.join("validation_list.txt"), "yes/2.wav\n").unwrap();
    std::fs::write(d.join("testing_list.txt"), "no/4.wav\n").unwrap();
    assert_eq!(detect(&d).unwrap(), Layout::SpeechCommands);
    let count = |s: Split| open(&d, &s, None).unwrap().clips.len();
    assert_eq!(
        (count(Split::Train), count(Split::Valid), count(Split::Test)),
        (2, 1, 1)
    );
    assert_eq!(
        open(&d, &Split::All, None).unwrap().labels.names(),
        vec!["no", "yes"]
    );
    std::fs::remove_dir_all(&d).unwrap();
}
