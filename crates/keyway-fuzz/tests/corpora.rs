//! Replays every committed fuzz corpus (`fuzz/corpus/<target>/`) and every crash reproducer
//! (`fuzz/regressions/<target>/`) through its target, so what the fuzzers found and covered is
//! checked on every `cargo test` without a fuzzer.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_has_a_fuzzer_and_a_corpus() {
    for (name, _) in keyway_fuzz::TARGETS {
        let fuzzer = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(
            fuzzer.is_file(),
            "no fuzzer for {name}: {}",
            fuzzer.display()
        );
        let corpus = files(&fuzz_dir().join("corpus").join(name));
        assert!(
            corpus.len() >= 5,
            "the corpus of {name} has {} files; run the fuzzer and commit its minimised corpus",
            corpus.len()
        );
    }
}

#[test]
fn corpora_replay_without_findings() {
    let mut replayed = 0;
    for (name, body) in keyway_fuzz::TARGETS {
        for kind in ["corpus", "regressions"] {
            for file in files(&fuzz_dir().join(kind).join(name)) {
                let data = std::fs::read(&file).expect("a corpus file reads");
                let outcome = std::panic::catch_unwind(|| body(&data));
                assert!(
                    outcome.is_ok(),
                    "{name}: {} fails again (replay: cargo fuzz run {name} {})",
                    file.display(),
                    file.display()
                );
                replayed += 1;
            }
        }
    }
    assert!(
        replayed > 0,
        "no corpus files were found under {}",
        fuzz_dir().display()
    );
}
