//! Polygon's processor vectors (`polygon-processor/state-transition.json`, fork 12): every one
//! must reach the reference's roots, hashes, transaction outcomes and account leaves.

use zknode_state::vectors::vectors_dir;

#[test]
fn processor_vectors() {
    let path = vectors_dir().join("polygon-processor/state-transition.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "skipping: {} is absent (set ZKNODE_VECTORS to the vectors folder)",
            path.display()
        );
        return;
    };
    let outcomes = zknode_executor::vectors::run(&text).expect("the vector file parses");
    assert_eq!(outcomes.len(), 15, "the file holds Polygon's 15 vectors");
    let mut failed = 0;
    for o in &outcomes {
        println!(
            "#{}: {} ({})",
            o.index,
            if o.passed { "ok" } else { "FAIL" },
            o.detail
        );
        failed += usize::from(!o.passed);
    }
    assert_eq!(failed, 0, "{failed} processor vectors failed");
}
