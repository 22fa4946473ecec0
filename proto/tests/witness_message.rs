//! The batch witness through its protobuf message: round trips and malformed messages.

use prost::Message;
use zknode_proto::pb;
use zknode_witness::{random_witness, BatchWitness};

fn round_trip(w: &BatchWitness) -> BatchWitness {
    let msg = pb::BatchWitness::from(w);
    // Through the wire form too, not only the struct.
    let bytes = msg.encode_to_vec();
    let decoded = pb::BatchWitness::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(decoded, msg);
    BatchWitness::try_from(decoded).expect("a message made from a witness converts back")
}

#[test]
fn random_witnesses_round_trip_and_still_check() {
    for seed in [0u64, 1, 7] {
        let w = random_witness(64, seed);
        let root = w.check().expect("the random witness checks");
        let back = round_trip(&w);
        assert_eq!(back, w, "seed {seed}");
        assert_eq!(back.check().expect("still checks"), root);
        assert_eq!(back.public_inputs().unwrap(), w.public_inputs().unwrap());
    }
}

#[test]
fn every_kind_survives_the_round_trip() {
    // From ALL_KINDS_FROM operations on a random witness shows every shape, including deletes
    // beside leaves and branches and zero writes with and without a leaf found.
    let w = random_witness(zknode_witness::ALL_KINDS_FROM, 3);
    let hist = w.kind_histogram();
    assert!(hist.iter().all(|(_, n)| *n > 0), "{hist:?}");
    assert_eq!(round_trip(&w), w);
}

#[test]
fn empty_witness_round_trips() {
    let mut w = random_witness(1, 5);
    w.ops.clear();
    w.batch_l2_data.clear();
    assert_eq!(round_trip(&w), w);
}

fn message() -> pb::BatchWitness {
    pb::BatchWitness::from(&random_witness(8, 1))
}

#[track_caller]
fn refused(msg: pb::BatchWitness, field: &str, words: &str) {
    let e = BatchWitness::try_from(msg).expect_err("a malformed message is refused");
    assert_eq!(e.field, field, "{e}");
    let text = e.to_string();
    assert!(text.contains(field), "{text}");
    assert!(text.contains(words), "{text:?} should contain {words:?}");
}

#[test]
fn malformed_messages_name_the_field() {
    let mut m = message();
    m.version = 2;
    refused(m, "version", "witness version 2 is not supported");

    let mut m = message();
    m.old_state_root.pop();
    refused(m, "old_state_root", "32 bytes, this one has 31");

    let mut m = message();
    m.old_state_root = vec![0xff; 32];
    refused(m, "old_state_root", "Goldilocks prime");

    let mut m = message();
    m.chain = None;
    refused(m, "chain", "missing");

    let mut m = message();
    m.chain.as_mut().unwrap().sequencer = vec![1; 19];
    refused(m, "chain.sequencer", "expected 20 bytes, got 19");

    let mut m = message();
    m.chain.as_mut().unwrap().l1_info_root = vec![1; 33];
    refused(m, "chain.l1_info_root", "expected 32 bytes, got 33");

    let mut m = message();
    m.ops[3].siblings[0].push(0);
    refused(m, "ops[3].siblings[0]", "32 bytes, this one has 33");

    let mut m = message();
    m.ops[2].kind = None;
    refused(m, "ops[2].kind", "not set");

    let mut m = message();
    m.ops[5].address = vec![0; 21];
    refused(m, "ops[5].address", "expected 20 bytes, got 21");

    let mut m = message();
    m.ops[1].leaf_type = 300;
    refused(m, "ops[1].leaf_type", "300 is not a leaf type");

    let mut m = message();
    m.ops[0].slot = vec![1; 33];
    refused(m, "ops[0].slot", "at most 32 bytes, this one has 33");

    let mut m = message();
    m.ops[4].new_value = vec![1; 40];
    refused(m, "ops[4].new_value", "at most 32 bytes");

    let mut m = message();
    m.ops[6].key.clear();
    refused(m, "ops[6].key", "32 bytes, this one has 0");

    let mut m = message();
    m.ops[7].kind = Some(pb::witness_op::Kind::InsertSplit(pb::InsertSplit {
        other_rkey: vec![0; 32],
        other_value_hash: vec![0; 3],
    }));
    refused(
        m,
        "ops[7].kind.insert_split.other_value_hash",
        "this one has 3",
    );

    let mut m = message();
    m.ops[7].kind = Some(pb::witness_op::Kind::Delete(pb::Delete {
        sibling: Some(pb::delete::Sibling::Branch(pb::BranchNode {
            left: vec![0; 32],
            right: vec![0xff; 32],
        })),
    }));
    refused(m, "ops[7].kind.delete.branch.right", "Goldilocks prime");
}

#[test]
fn a_well_formed_but_wrong_witness_converts_and_then_fails_its_check() {
    // The conversion checks the message's shape; the witness's meaning is `check`'s.
    let mut m = message();
    m.ops[4].siblings[0][0] ^= 1;
    let w = BatchWitness::try_from(m).expect("well formed");
    let e = w
        .check()
        .expect_err("a changed sibling breaks the chain of roots");
    assert_eq!(e.op_index(), Some(4), "{e}");
}

#[test]
fn arbitrary_bytes_never_panic() {
    // Random bytes that happen to decode as a message convert or fail with an error.
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let good = message().encode_to_vec();
    for _ in 0..2000 {
        let mut b = good.clone();
        for _ in 0..rng.gen_range(1..8) {
            let i = rng.gen_range(0..b.len());
            b[i] = rng.gen();
        }
        if let Ok(m) = pb::BatchWitness::decode(b.as_slice()) {
            let _ = BatchWitness::try_from(m);
        }
    }
}
