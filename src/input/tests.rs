use super::*;

const SMALL: Limits = Limits {
    bytes: 64,
    lines: 4,
    line_bytes: 8,
};

fn read(bytes: &[u8]) -> Result<Vec<u8>, LimitError> {
    read_all(bytes, SMALL).map_err(|e| LimitError::split(e).expect("a limit error"))
}

#[test]
fn a_leading_bom_is_dropped_and_nothing_else() {
    assert_eq!(read(b"\xef\xbb\xbfalice\n").expect("ok"), b"alice\n");
    assert_eq!(
        read(b"alice\xef\xbb\xbf").expect("ok"),
        b"alice\xef\xbb\xbf"
    );
    assert_eq!(read(b"\xef\xbb").expect("ok"), b"\xef\xbb");
    assert_eq!(read(b"").expect("ok"), b"");
}

#[test]
fn limits_are_inclusive() {
    assert!(read(b"12345678\n12345678\r\n3\n4").is_ok());
    assert_eq!(
        read(b"123456789"),
        Err(LimitError::LineTooLong { line: 1, max: 8 })
    );
    assert_eq!(
        read(b"ok\n12345678\r9\n"),
        Err(LimitError::LineTooLong { line: 2, max: 8 })
    );
    assert_eq!(read(b"1\n2\n3\n4\n5"), Err(LimitError::TooManyLines(4)));
    assert_eq!(read(&[b'\n'; 65]), Err(LimitError::TooManyLines(4)));
    let big = Limits {
        lines: 1000,
        ..SMALL
    };
    let err = read_all(&[b'\n'; 65][..], big).expect_err("too big");
    assert_eq!(
        LimitError::split(err).expect("limit"),
        LimitError::TooLarge(64)
    );
}

#[test]
fn an_endless_input_ends_at_the_first_limit() {
    let err = read_all(io::repeat(0), TEXT_FILE).expect_err("endless");
    assert_eq!(
        LimitError::split(err).expect("limit").to_string(),
        "line 1 is longer than 64 KiB"
    );
    let err = read_all(io::repeat(b'\n'), TEXT_FILE).expect_err("endless");
    assert_eq!(
        LimitError::split(err).expect("limit").to_string(),
        "the input has more than 1000000 lines"
    );
    assert_eq!(
        LimitError::TooLarge(TEXT_FILE.bytes).to_string(),
        "the input is larger than 16 MiB"
    );
}

#[test]
fn the_error_sticks() {
    let mut reader = Bounded::new(&b"123456789\nmore"[..], SMALL);
    let mut buf = Vec::new();
    assert!(reader.read_to_end(&mut buf).is_err());
    assert!(reader.read(&mut [0; 4]).is_err(), "no reading past a limit");
}

#[test]
fn other_errors_stay_themselves() {
    let err = io::Error::other("disk on fire");
    assert_eq!(
        LimitError::split(err).expect_err("not a limit").to_string(),
        "disk on fire"
    );
}

#[test]
fn quoted_text_is_short() {
    assert_eq!(quoted("a\u{1b}b"), "\"a\\u{1b}b\"");
    assert_eq!(quoted(&"x".repeat(41)), format!("{:?}...", "x".repeat(40)));
}
