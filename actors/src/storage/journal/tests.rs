//! The journal's store and formats, against real redb files.

use super::*;
use spec::machine::HeightStart;
use spec::params::Thresholds;

#[test]
fn journal_roundtrip_and_durable_store() {
    let j = Journal {
        start: HeightStart {
            height: 9,
            parent: Value([3; 32]),
            thresholds: Thresholds::uniform(5),
        },
        round: 2,
        step: Step(5),
        starting: Value([4; 32]),
        cast: vec![(1, Step(2), Value([1; 32])), (2, Step(4), Value([2; 32]))],
        proposed: vec![1, 2],
        soft_certified: vec![(1, Value([1; 32]))],
    };
    let bytes = encode(&j);
    assert_eq!(decode(&bytes).ok(), Some(j.clone()));
    assert!(decode(&bytes[..bytes.len() - 1]).is_err());
    assert!(decode(b"nonsense").is_err());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.redb");
    {
        let s = JournalStore::open(&path).expect("open");
        assert!(s.read().expect("read").is_none());
        s.write(&j).expect("write");
    }
    let s = JournalStore::open(&path).expect("reopen");
    assert_eq!(s.read().expect("read"), Some(j));
}

fn msg(height: Height, round: Round, step: u32, v: u8) -> OwnMessage {
    OwnMessage {
        height,
        round,
        step: Step(step),
        value: Value([v; 32]),
        wire: vec![v; 100],
    }
}

#[test]
/// Attack (a long stall): every online node used to exit once one height
/// held 4,096 own messages (≈2.3 h of next votes at 2λ = 200 ms), and again
/// on every restart. The log is bounded by slots: it reads back any number.
fn a_long_height_is_read_back_and_still_refuses_a_second_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = JournalStore::open(&dir.path().join("j.redb")).expect("open");
    let slots: Vec<(u32, u32)> = (0..5000u32).map(|i| (i / 100 + 1, i % 100 + 2)).collect();
    for batch in slots.chunks(500) {
        let messages = batch.iter().map(|&(r, st)| msg(9, r, st, 7)).collect();
        s.commit(&Pending {
            messages,
            ..Pending::default()
        })
        .expect("log");
    }
    assert_eq!(s.own_messages(9, 9).expect("read").len(), 5000);
    assert_eq!(s.own_slots(9).expect("slots").len(), 5000);
    let err = s
        .commit(&Pending {
            messages: vec![msg(9, 50, 2, 8)],
            ..Pending::default()
        })
        .expect_err("a second value at a logged slot");
    assert!(matches!(
        err,
        JournalError::Conflict {
            height: 9,
            round: 50,
            ..
        }
    ));
}

#[test]
fn own_vote_log_appends_dedups_refuses_conflicts_and_prunes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = JournalStore::open(&dir.path().join("j.redb")).expect("open");
    assert_eq!(s.own_heights().expect("heights"), None);
    let write = |messages: Vec<OwnMessage>| {
        s.commit(&Pending {
            messages,
            ..Pending::default()
        })
    };
    write(vec![msg(5, 1, 1, 7), msg(5, 1, 2, 7), msg(5, 1, 3, 7)]).expect("log");
    // The same vote again (a re-send after a restart) is not a second entry.
    write(vec![msg(5, 1, 2, 7)]).expect("same vote");
    assert_eq!(s.own_messages(5, 5).expect("read").len(), 3);
    // A different value at a logged (height, round, step) is refused, and the
    // whole write with it (the journal snapshot too).
    let j = Journal {
        start: HeightStart {
            height: 5,
            parent: Value([3; 32]),
            thresholds: Thresholds::uniform(5),
        },
        round: 1,
        step: Step(4),
        starting: Value([4; 32]),
        cast: vec![],
        proposed: vec![],
        soft_certified: vec![],
    };
    let err = s
        .commit(&Pending {
            journal: Some(j),
            messages: vec![msg(5, 1, 4, 9), msg(5, 1, 3, 8)],
            ..Pending::default()
        })
        .expect_err("conflict");
    assert!(matches!(
        err,
        JournalError::Conflict {
            height: 5,
            round: 1,
            step: Step(3),
            ..
        }
    ));
    assert!(s.read().expect("read").is_none(), "journal not written");
    let logged = s.own_messages(0, u64::MAX).expect("read");
    assert_eq!(
        logged,
        vec![msg(5, 1, 1, 7), msg(5, 1, 2, 7), msg(5, 1, 3, 7)]
    );
    // Another round is another key.
    write(vec![msg(5, 2, 3, 8)]).expect("next round");
    assert_eq!(s.own_messages(5, 5).expect("read").len(), 4);
    // Old heights are pruned once a height RETAINED_HEIGHTS above them is logged.
    write(vec![msg(6, 1, 2, 1)]).expect("h6");
    write(vec![msg(5 + RETAINED_HEIGHTS, 1, 2, 1)]).expect("far");
    assert_eq!(
        s.own_heights().expect("heights"),
        Some((6, 5 + RETAINED_HEIGHTS))
    );
    assert!(s.own_messages(0, 5).expect("read").is_empty());
    drop(s);
    // Read back from a data directory.
    let datadir = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        read_vote_log(datadir.path()),
        Err(JournalError::Missing(_))
    ));
    std::fs::create_dir_all(datadir.path().join("kalgo")).expect("mkdir");
    let s = JournalStore::open(&datadir.path().join("kalgo/consensus.redb")).expect("open");
    write_one(&s, msg(3, 1, 2, 1));
    drop(s);
    assert_eq!(
        read_vote_log(datadir.path()).expect("log"),
        vec![msg(3, 1, 2, 1)]
    );
}

fn write_one(s: &JournalStore, m: OwnMessage) {
    s.commit(&Pending {
        messages: vec![m],
        ..Pending::default()
    })
    .expect("write");
}
