//! Realistic scenarios, kept as routing scripts in `examples/` and checked
//! here against their traces.

use expect_test::expect_file;
use model::Timestamp;
use routing::{demo, script, Engine};

#[test]
fn a_morning_at_the_community_trust() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/kent-morning.route"
    );
    let text = std::fs::read_to_string(path).expect("the example script is in the repository");
    let mut e = Engine::new(demo::kent_community_trust(), Timestamp::ZERO).unwrap();
    let trace = script::run(&mut e, &text).unwrap_or_else(|err| panic!("{err}"));
    e.check_consistency().unwrap();
    assert_eq!(e.live_contacts(), 0, "every contact of the morning ended");
    expect_file!["../../../examples/kent-morning.trace"].assert_eq(&trace);
}
