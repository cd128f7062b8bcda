//! Fuzz target: arbitrary bytes as one object, through decode (both parse modes) and extract.
//! Nothing may panic, hang or allocate past the cap. See README, "Fuzzing".
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailsift::decode::{Limits, Needles, Scratch, Want, decode};
use trailsift::report::cognito::extract::extract;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::new(4 << 20);
    let mut scratch = Scratch::default();
    let needles = Needles::any_of(&["cognito-idp.amazonaws.com"]);
    for prescan in [None, Some(&needles)] {
        let want = Want {
            prescan,
            raw: prescan.is_some(),
        };
        let _ = decode(data, &limits, want, &mut scratch, &mut |_, item, _| {
            if let Ok(record) = item {
                let _ = extract(record);
            }
        });
    }
});
