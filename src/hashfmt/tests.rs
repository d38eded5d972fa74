use rand::SeedableRng as _;
use rand::rngs::StdRng;

use super::*;

fn secret(text: &str) -> Secret {
    Secret::new(text.to_string())
}

#[expect(
    clippy::disallowed_methods,
    reason = "tests: a fixed seed shows the salt comes from the RNG handed in"
)]
fn seeded(seed: u8) -> StdRng {
    StdRng::from_seed([seed; 32])
}

/// The cheapest settings each format allows, so the round trips stay quick.
fn cheap(format: Format) -> HashSettings {
    match format {
        Format::Argon2id => HashSettings::Argon2id(Argon2idSettings::default()),
        Format::Bcrypt => HashSettings::Bcrypt(BcryptSettings {
            cost: BcryptSettings::MIN_COST,
        }),
        Format::Pbkdf2Sha256Django => HashSettings::Pbkdf2Sha256Django(DjangoSettings {
            iterations: DjangoSettings::MIN_ITERATIONS,
        }),
        Format::Pbkdf2Sha512Passlib => HashSettings::default_for(format),
    }
}

#[test]
fn every_format_verifies_what_it_writes_and_refuses_a_wrong_password() {
    for format in Format::ALL {
        let encoded = cheap(format)
            .hash(&secret("correct horse battery"), &mut seeded(1))
            .expect("hash");
        assert_eq!(encoded.format(), format);
        let stored = encoded.as_str();
        assert_eq!(
            recognise(Some(stored)),
            Stored::Writable(format),
            "{stored}"
        );
        assert_eq!(
            verify(&secret("correct horse battery"), stored),
            Ok(true),
            "{format}"
        );
        assert_eq!(
            verify(&secret("correct horse batterY"), stored),
            Ok(false),
            "{format}"
        );
    }
}

#[test]
fn what_a_writer_makes_is_a_hash_for_its_application_never_plaintext() {
    let profiles = [Profile::Django, Profile::Laravel, Profile::Odoo]
        .into_iter()
        .chain(Format::ALL.map(Profile::Sql));
    for profile in profiles {
        let encoded = cheap(profile.format())
            .hash(&secret("a password of sorts"), &mut seeded(2))
            .expect("hash");
        assert!(is_hashed_for(encoded.as_str(), profile), "{profile:?}");
    }
}

#[test]
fn salts_come_from_the_rng_handed_in() {
    for format in [Format::Pbkdf2Sha256Django, Format::Bcrypt] {
        let settings = cheap(format);
        let hash = |seed| settings.hash(&secret("same password"), &mut seeded(seed));
        assert_eq!(hash(3).expect("a"), hash(3).expect("b"), "{format}");
        assert_ne!(hash(3).expect("a"), hash(4).expect("b"), "{format}");
    }
}

#[test]
fn django_values_have_djangos_shape_and_default_count() {
    let settings = HashSettings::default_for(Format::Pbkdf2Sha256Django);
    let encoded = settings
        .hash(&secret("correct horse battery"), &mut seeded(5))
        .expect("hash");
    let parts: Vec<&str> = encoded.as_str().split('$').collect();
    assert_eq!(parts[..2], ["pbkdf2_sha256", "1000000"]);
    assert_eq!(parts[2].len(), 22);
    assert!(parts[2].bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(parts[3].len(), 44, "32 bytes in padded base64");
}

#[test]
fn laravel_and_odoo_values_have_their_shapes_and_defaults() {
    let bcrypt = HashSettings::default_for(Format::Bcrypt)
        .hash(&secret("correct horse battery"), &mut seeded(6))
        .expect("bcrypt");
    assert!(bcrypt.as_str().starts_with("$2y$12$"), "{bcrypt:?}");
    assert_eq!(bcrypt.as_str().len(), 60);
    let odoo = HashSettings::default_for(Format::Pbkdf2Sha512Passlib)
        .hash(&secret("correct horse battery"), &mut seeded(7))
        .expect("passlib");
    let parts: Vec<&str> = odoo.as_str().split('$').collect();
    assert_eq!(parts[..3], ["", "pbkdf2-sha512", "600000"]);
    assert_eq!(parts[3].len(), 22, "16 bytes in unpadded adapted base64");
    assert_eq!(parts[4].len(), 86, "64 bytes in unpadded adapted base64");
}

/// Values made by the real libraries (printed once with Django 5.2, passlib 1.7.4 and PHP 8.2;
/// low counts so the test is quick: verify reads the count from the value).
#[test]
fn values_made_by_the_applications_verify() {
    for (stored, password) in KNOWN {
        assert_eq!(verify(&secret(password), stored), Ok(true), "{stored}");
        assert_eq!(
            verify(&secret("not it at all"), stored),
            Ok(false),
            "{stored}"
        );
    }
}

const KNOWN: [(&str, &str); 3] = [
    (DJANGO_KNOWN, "correct horse battery"),
    (PASSLIB_KNOWN, "correct horse battery"),
    (PHP_KNOWN, "correct horse battery"),
];
const DJANGO_KNOWN: &str =
    "pbkdf2_sha256$1000$pwresetsaltpwresetsalt$JcbYWhAkMMd6lKsavb9b75ymZ6/Ve2JeVo4I3KKpP40=";
const PASSLIB_KNOWN: &str = "$pbkdf2-sha512$1000$cHdyZXNldCBzYWx0IDE2Yg$jjKR1CvY5QmSXLoiLV1UGT.eIoFBsifafXhphAXAdlHfXORprc.WiidYWwBU..eLxEkDFMnIKHgNm8JuIwSL2w";
const PHP_KNOWN: &str = "$2y$04$M9QziMxIWe6v9f/VUVZUB.PjWNlnbL1VXGpq1S0UOmJebJ6/wII0O";

#[test]
fn settings_below_the_floors_are_refused() {
    let low = [
        HashSettings::Pbkdf2Sha256Django(DjangoSettings {
            iterations: DjangoSettings::MIN_ITERATIONS - 1,
        }),
        HashSettings::Pbkdf2Sha512Passlib(PasslibSettings {
            rounds: PasslibSettings::MIN_ROUNDS - 1,
        }),
        HashSettings::Bcrypt(BcryptSettings { cost: 9 }),
        HashSettings::Bcrypt(BcryptSettings { cost: 32 }),
        HashSettings::Argon2id(Argon2idSettings {
            memory_kib: 1,
            iterations: 2,
            parallelism: 1,
        }),
    ];
    for settings in low {
        let refused = settings.hash(&secret("correct horse battery"), &mut seeded(8));
        assert!(
            matches!(refused, Err(HashFmtError::Setting { .. })),
            "{settings:?}: {refused:?}"
        );
        assert!(settings.check().is_err());
    }
}

#[test]
fn bcrypt_refuses_what_it_would_cut_rather_than_truncate() {
    let settings = cheap(Format::Bcrypt);
    let longest = "a".repeat(72);
    assert!(settings.hash(&secret(&longest), &mut seeded(9)).is_ok());
    for cut in ["a".repeat(73), "before\0after".to_string()] {
        assert_eq!(
            settings.hash(&secret(&cut), &mut seeded(9)),
            Err(HashFmtError::NotForBcrypt)
        );
    }
}

#[test]
fn stored_values_are_recognised() {
    let cases: [(Option<&str>, Stored); 14] = [
        (None, Stored::Unusable),
        (Some(""), Stored::Unusable),
        (
            Some("!Xq3eUMxEZl7mKjT3NTRkLFQ4b8VTkqzKyDnFlRJ"),
            Stored::Unusable,
        ),
        (Some("*"), Stored::Unusable),
        (
            Some("argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA"),
            other("django argon2"),
        ),
        (
            Some("bcrypt_sha256$$2b$12$abc"),
            other("django bcrypt_sha256"),
        ),
        (Some("bcrypt$$2b$12$abc"), other("django bcrypt")),
        (
            Some("scrypt$16384$salt$8$1$aGFzaA=="),
            other("django scrypt"),
        ),
        (
            Some("pbkdf2_sha1$260000$salt$aGFzaA=="),
            other("django pbkdf2_sha1"),
        ),
        (
            Some("md5$salt$0123456789abcdef0123456789abcdef"),
            other("django md5"),
        ),
        (
            Some("0123456789abcdef0123456789abcdef"),
            other("django unsalted_md5"),
        ),
        (
            Some("$pbkdf2-sha256$29000$c2FsdA$aGFzaA"),
            other("passlib pbkdf2-sha256"),
        ),
        (Some("hunter2hunter2"), Stored::Unknown),
        (Some("pbkdf2_sha256$1000000$salt$tooshort"), Stored::Unknown),
    ];
    for (stored, expected) in cases {
        assert_eq!(recognise(stored), expected, "{stored:?}");
    }
    assert!(!Stored::Unusable.is_usable());
}

fn other(scheme: &str) -> Stored {
    Stored::Other(scheme.to_string())
}

#[test]
fn odoo_would_take_anything_but_a_whole_pbkdf2_sha512_value_as_plaintext() {
    let good = HashSettings::default_for(Format::Pbkdf2Sha512Passlib)
        .hash(&secret("correct horse battery"), &mut seeded(10))
        .expect("hash");
    let good = good.as_str();
    assert!(is_hashed_for(good, Profile::Odoo));
    let cut = &good[..good.len() - 1];
    let django =
        "pbkdf2_sha256$1000000$abcdefghijklmnopqrstuv$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=";
    for plaintext in ["hunter2hunter2", cut, django, "$pbkdf2-sha512$600000$x"] {
        assert!(!is_hashed_for(plaintext, Profile::Odoo), "{plaintext}");
    }
    assert!(is_hashed_for(django, Profile::Django));
    assert!(!is_hashed_for("hunter2hunter2", Profile::Django));
    assert!(!is_hashed_for("hunter2hunter2", Profile::Laravel));
}

#[test]
fn only_the_writable_formats_are_verified() {
    let argon2_django = "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA";
    for stored in [argon2_django, "hunter2hunter2", "!unusable"] {
        assert!(matches!(
            verify(&secret("hunter2hunter2"), stored),
            Err(HashFmtError::NotVerifiable(_))
        ));
    }
}

#[test]
fn debug_shows_no_hash_and_no_password() {
    let encoded = cheap(Format::Pbkdf2Sha256Django)
        .hash(&secret("correct horse battery"), &mut seeded(11))
        .expect("hash");
    let shown = format!("{encoded:?}");
    assert_eq!(shown, "Encoded(pbkdf2_sha256_django, [redacted])");
    let error = cheap(Format::Bcrypt)
        .hash(&secret(&"s3cret".repeat(20)), &mut seeded(11))
        .expect_err("too long");
    assert!(!format!("{error:?} {error}").contains("s3cret"));
}

#[test]
fn formats_are_named_as_configured() {
    for format in Format::ALL {
        assert_eq!(format.name().parse::<Format>(), Ok(format));
    }
    assert!("md5".parse::<Format>().is_err());
}
