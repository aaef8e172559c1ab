//! Reading the golden vector files (`tests/golden/vN.txt`: `# Kind seq=N`, then the frame in
//! hex), in `no_std`: for a device-side measurement or test that needs a request's exact bytes,
//! which a device build cannot encode.

use crate::frame::MAX_WIRE_FRAME_SIZE;

/// The golden frame of the kind named `kind` in a golden file's `text`, and its length (0 if
/// the file has none).
pub fn frame(text: &str, kind: &str) -> ([u8; MAX_WIRE_FRAME_SIZE], usize) {
    let mut frame = [0u8; MAX_WIRE_FRAME_SIZE];
    let mut len = 0;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.strip_prefix("# ").and_then(|l| l.split(' ').next()) == Some(kind) {
            let bytes = lines.next().unwrap_or("").split(' ');
            for (slot, byte) in frame.iter_mut().zip(bytes) {
                if let Ok(b) = u8::from_str_radix(byte, 16) {
                    *slot = b;
                    len += 1;
                }
            }
            break;
        }
    }
    (frame, len)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_kind_s_frame_is_read_whole_and_a_missing_kind_is_empty() {
        let text = include_str!("../tests/golden/v1.txt");
        let (frame, len) = super::frame(text, "SetSetpoint");
        assert_eq!(len, 13);
        assert_eq!(frame.get(..2), Some(&[0x05, 0x01][..]));
        assert_eq!(frame.get(len - 1), Some(&0x00), "ends on its delimiter");
        assert_eq!(super::frame(text, "NoSuchKind").1, 0);
    }
}
