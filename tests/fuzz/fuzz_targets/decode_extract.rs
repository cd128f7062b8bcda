//! Fuzz target: arbitrary bytes as one object, through decode (both parse modes) and extract.
//! Nothing may panic, hang or allocate past the cap. See README, "Fuzzing".
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailsift::decode::{Limits, Parse, Scratch, decode};
use trailsift::extract::extract;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::new(4 << 20);
    let mut scratch = Scratch::default();
    for parse in [Parse::All, Parse::Mentioning] {
        let _ = decode(data, &limits, parse, &mut scratch, &mut |_, item| {
            if let Ok(record) = item {
                let _ = extract(record);
            }
        });
    }
});
