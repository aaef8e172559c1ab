//! The lists kept beside the enums hold every variant, in wire order.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use rack_protocol::types::{AlarmCode, words};

#[test]
fn alarm_code_all_is_every_code_in_wire_order() {
    for (i, code) in AlarmCode::ALL.iter().enumerate() {
        let mut buf = [0u8; 4];
        let bytes = postcard::to_slice(code, &mut buf).unwrap();
        assert_eq!(bytes, [u8::try_from(i).unwrap()], "{code:?} is not at {i}");
    }
    // The index past the list decodes to no code: the list is not short.
    let past = [u8::try_from(AlarmCode::ALL.len()).unwrap()];
    assert!(postcard::from_bytes::<AlarmCode>(&past).is_err());
}

#[test]
fn names_are_spelt_as_words() {
    assert_eq!(words("PumpFault", '-').collect::<String>(), "pump-fault");
    assert_eq!(words("AcLoss", '_').collect::<String>(), "ac_loss");
    assert_eq!(words("Stale", '-').collect::<String>(), "stale");
}
