//! Device name templates (`deviceNameTemplate` of an Entra-join deployment profile).
//!
//! A template is fixed text plus the macros `%SERIAL%` (the hardware serial) and `%RAND:x%` (x random
//! digits). The device applies the rendered name through the Accounts CSP during OOBE, so the rules here are
//! the service's save-time checks (behaviour spec §2.2, `PR`, `SUP`, `GR`) plus the Accounts CSP's rendering
//! (truncation of an overflowing serial, `CSP`).
//!
//! Decisions where the spec is silent (each is `[I]`, our inference):
//! - "Letters" means ASCII letters: a Windows computer name is a NetBIOS name, and the service's message
//!   speaks of letters, digits and hyphens only. Non-ASCII letters are rejected at save.
//! - Macro names are case-sensitive. `%serial%` in any other casing is refused with the service's own
//!   message; `%rand:x%` in another casing is refused the same way, for consistency.
//! - `%RAND:x%` takes `x` in `1..=15`; `0` would add nothing and more than 15 digits can never fit.
//! - At most one `%SERIAL%`: the CSP's truncation rule ("cut the serial from its start") is only defined for
//!   one serial. Several `%RAND:x%` are allowed; their digits add up.
//! - Fixed text + `%RAND:x%` digits must fit in 15 (spec `[I]`). With `%SERIAL%`, they must leave room for at
//!   least one serial character (≤ 14): otherwise the macro is silently dropped at every rendering, which is
//!   never what the admin meant.
//! - "Not all digits" is checked at save when the template can *only* render digits (no letter or hyphen in
//!   the fixed text and no `%SERIAL%`). A template such as `%SERIAL%` alone is accepted, as the service does;
//!   a numeric serial then renders an all-digit name, which [`is_valid_device_name`] reports so the
//!   provisioning layer can skip the rename (the device keeps its Windows-generated name, which is what the
//!   Accounts CSP does when a rename is refused).
//! - The serial is sanitised by *dropping* every character that is not an ASCII letter, digit or hyphen
//!   (`"ABC 12/3"` → `"ABC123"`); its case is kept as the hardware reports it.

use std::fmt;

use crate::DomainError;

/// The longest device name the Accounts CSP applies (a NetBIOS computer name).
pub const MAX_DEVICE_NAME_LEN: usize = 15;

/// The longest `%RAND:x%` digit count.
pub const MAX_RAND_DIGITS: u8 = 15;

/// The Graph property every template error names.
const FIELD: &str = "deviceNameTemplate";

/// The message the service returns for a lower-case `%serial%` (spec §2.2, `SUP`).
pub const SERVICE_CREATE_ERROR: &str = "An error occurred while creating Autopilot profile";

/// One piece of a parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamePart {
    /// Fixed text: ASCII letters, digits and hyphens only.
    Text(String),
    /// `%SERIAL%`.
    Serial,
    /// `%RAND:x%`: x random digits.
    Rand(u8),
}

/// A validated device name template. Build it with [`NameTemplate::parse`]; render it with
/// [`NameTemplate::render`]. `Display` gives back the canonical template text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameTemplate {
    parts: Vec<NamePart>,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

fn invalid(message: impl Into<String>) -> DomainError {
    DomainError::invalid(FIELD, message)
}

impl NameTemplate {
    /// Parses and validates a template against every save-time rule of spec §2.2.
    ///
    /// An empty template is refused here: on a profile, "no template" is the empty string and is never
    /// parsed (see `DeploymentProfile::validate`).
    pub fn parse(template: &str) -> Result<NameTemplate, DomainError> {
        if template.is_empty() {
            return Err(invalid("the template is empty"));
        }
        let mut parts: Vec<NamePart> = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        while let Some(c) = rest.chars().next() {
            if c == '%' {
                let after = &rest[1..];
                let Some(end) = after.find('%') else {
                    return Err(invalid(format!(
                        "'%' at \"{rest}\" does not open a macro: use %SERIAL% or %RAND:x%, \
                         and only letters, digits and hyphens as fixed text"
                    )));
                };
                let body = &after[..end];
                let part = Self::parse_macro(body)?;
                if !text.is_empty() {
                    parts.push(NamePart::Text(std::mem::take(&mut text)));
                }
                parts.push(part);
                rest = &after[end + 1..];
            } else {
                if c == ' ' {
                    return Err(invalid(
                        "spaces are not allowed: use only letters, digits and hyphens",
                    ));
                }
                if !is_name_char(c) {
                    return Err(invalid(format!(
                        "'{c}' is not allowed: use only letters (A-Z, a-z), digits and hyphens"
                    )));
                }
                text.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !text.is_empty() {
            parts.push(NamePart::Text(text));
        }
        let template = NameTemplate { parts };
        template.check_lengths()?;
        Ok(template)
    }

    fn parse_macro(body: &str) -> Result<NamePart, DomainError> {
        if body == "SERIAL" {
            return Ok(NamePart::Serial);
        }
        if body.eq_ignore_ascii_case("SERIAL") {
            return Err(invalid(format!(
                "{SERVICE_CREATE_ERROR}: the %SERIAL% macro must be written in upper case (found %{body}%)"
            )));
        }
        let (name, count) = match body.split_once(':') {
            Some((name, count)) => (name, Some(count)),
            None => (body, None),
        };
        if name.eq_ignore_ascii_case("RAND") {
            if name != "RAND" {
                return Err(invalid(format!(
                    "{SERVICE_CREATE_ERROR}: the %RAND:x% macro must be written in upper case (found %{body}%)"
                )));
            }
            let count = count.unwrap_or("");
            let digits = if !count.is_empty() && count.chars().all(|c| c.is_ascii_digit()) {
                count.parse::<u8>().ok()
            } else {
                None
            };
            return match digits {
                Some(n) if (1..=MAX_RAND_DIGITS).contains(&n) => Ok(NamePart::Rand(n)),
                _ => Err(invalid(format!(
                    "%{body}% must give the number of random digits as %RAND:x% with x from 1 to {MAX_RAND_DIGITS}"
                ))),
            };
        }
        Err(invalid(format!(
            "%{body}% is not a macro: the only macros are %SERIAL% and %RAND:x%"
        )))
    }

    fn check_lengths(&self) -> Result<(), DomainError> {
        if self.serial_count() > 1 {
            return Err(invalid(
                "%SERIAL% may appear only once: the serial is truncated from its start to fit 15 characters",
            ));
        }
        let fixed = self.fixed_len();
        if self.has_serial() {
            if fixed >= MAX_DEVICE_NAME_LEN {
                return Err(invalid(format!(
                    "fixed text and %RAND% digits take {fixed} characters and leave no room for %SERIAL% \
                     in a {MAX_DEVICE_NAME_LEN}-character name"
                )));
            }
        } else {
            if fixed > MAX_DEVICE_NAME_LEN {
                return Err(invalid(format!(
                    "the name would be {fixed} characters long; device names are at most {MAX_DEVICE_NAME_LEN}"
                )));
            }
            let has_non_digit_text = self.parts.iter().any(|part| match part {
                NamePart::Text(text) => text.chars().any(|c| !c.is_ascii_digit()),
                _ => false,
            });
            if !has_non_digit_text {
                return Err(invalid(
                    "the name would be all digits; add at least one letter or hyphen",
                ));
            }
        }
        Ok(())
    }

    /// The parsed pieces, in order.
    pub fn parts(&self) -> &[NamePart] {
        &self.parts
    }

    /// Whether the template contains `%SERIAL%`.
    pub fn has_serial(&self) -> bool {
        self.serial_count() > 0
    }

    fn serial_count(&self) -> usize {
        self.parts
            .iter()
            .filter(|part| matches!(part, NamePart::Serial))
            .count()
    }

    /// Characters every rendering has: fixed text plus `%RAND:x%` digits.
    pub fn fixed_len(&self) -> usize {
        self.parts
            .iter()
            .map(|part| match part {
                NamePart::Text(text) => text.len(),
                NamePart::Rand(n) => usize::from(*n),
                NamePart::Serial => 0,
            })
            .sum()
    }

    /// The longest rendering: [`fixed_len`](Self::fixed_len), plus the room left for the serial (capped at
    /// [`MAX_DEVICE_NAME_LEN`]).
    pub fn max_len(&self) -> usize {
        if self.has_serial() {
            MAX_DEVICE_NAME_LEN
        } else {
            self.fixed_len()
        }
    }

    /// How many serial characters survive truncation: the rightmost ones.
    pub fn serial_room(&self) -> usize {
        if self.has_serial() {
            MAX_DEVICE_NAME_LEN.saturating_sub(self.fixed_len())
        } else {
            0
        }
    }

    /// Renders the name for one device, as the Accounts CSP does.
    ///
    /// `serial` is sanitised (characters other than ASCII letters, digits and hyphens are dropped) and, if the
    /// name would exceed 15 characters, cut from its start so its rightmost characters remain
    /// (`Test-Device-%SERIAL%` + `123456` → `Test-Device-456`). Each `%RAND:x%` calls `random_digits` x
    /// times; a value above 9 is reduced modulo 10, so the output is always a digit.
    pub fn render(&self, serial: &str, random_digits: &mut dyn FnMut() -> u8) -> String {
        let clean: Vec<char> = serial.chars().filter(|c| is_name_char(*c)).collect();
        let keep = clean.len().min(self.serial_room());
        let serial_tail: String = clean[clean.len() - keep..].iter().collect();
        let mut name = String::with_capacity(MAX_DEVICE_NAME_LEN);
        for part in &self.parts {
            match part {
                NamePart::Text(text) => name.push_str(text),
                NamePart::Serial => name.push_str(&serial_tail),
                NamePart::Rand(n) => {
                    for _ in 0..*n {
                        name.push(char::from(b'0' + random_digits() % 10));
                    }
                }
            }
        }
        name
    }
}

impl fmt::Display for NameTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                NamePart::Text(text) => f.write_str(text)?,
                NamePart::Serial => f.write_str("%SERIAL%")?,
                NamePart::Rand(n) => write!(f, "%RAND:{n}%")?,
            }
        }
        Ok(())
    }
}

/// Whether `name` is a device name Windows accepts: 1 to 15 ASCII letters, digits and hyphens, not all
/// digits. A rendered name can fail this only through `%SERIAL%` (an empty or all-digit serial); callers then
/// leave the device's name unchanged.
pub fn is_valid_device_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_DEVICE_NAME_LEN
        && name.chars().all(is_name_char)
        && !name.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn digits_from(seq: &[u8]) -> impl FnMut() -> u8 + '_ {
        let mut at = 0;
        move || {
            let d = seq.get(at % seq.len().max(1)).copied().unwrap_or(0);
            at += 1;
            d
        }
    }

    fn render(template: &str, serial: &str) -> String {
        let parsed = NameTemplate::parse(template);
        assert!(parsed.is_ok(), "{template}: {parsed:?}");
        let mut next = digits_from(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
        parsed
            .map(|t| t.render(serial, &mut next))
            .unwrap_or_default()
    }

    #[test]
    fn accepted_templates_render_as_the_spec_shows() {
        let cases: &[(&str, &str, &str)] = &[
            // (template, serial, expected name)
            ("MYPC-%RAND:6%", "ignored", "MYPC-123456"),
            ("Test-Device-%SERIAL%", "123456", "Test-Device-456"),
            ("CORP-%SERIAL%", "ABC123", "CORP-ABC123"),
            ("CORP-%SERIAL%", "PF3ABCDEFGHIJ", "CORP-ABCDEFGHIJ"), // rightmost 10 kept
            ("%SERIAL%", "5CG1234XYZ", "5CG1234XYZ"),
            ("%SERIAL%", "ABCDEFGHIJKLMNOPQR", "DEFGHIJKLMNOPQR"),
            ("%SERIAL%-%RAND:2%", "ABCDEFGHIJKLMNOPQR", "GHIJKLMNOPQR-12"),
            ("KIOSK", "x", "KIOSK"),
            ("A%RAND:14%", "", "A12345678901234"),
            ("LAB-%SERIAL%", "ab c/1.2", "LAB-abc12"), // sanitised: dropped, case kept
            ("LAB-%SERIAL%", "", "LAB-"),
            ("X-%RAND:2%-%RAND:2%", "", "X-12-34"),
        ];
        for (template, serial, expected) in cases {
            assert_eq!(
                render(template, serial),
                *expected,
                "{template} with {serial}"
            );
        }
    }

    #[test]
    fn refused_templates_name_the_rule_they_break() {
        let cases: &[(&str, &str)] = &[
            // (template, a fragment of the message)
            ("", "empty"),
            ("MY PC", "spaces"),
            ("MY_PC", "'_' is not allowed"),
            ("MY.PC", "'.' is not allowed"),
            ("PCÉ", "'É' is not allowed"),
            ("ABCDEFGHIJKLMNOP", "at most 15"),
            ("ABCDEFGHIJ-%RAND:5%", "at most 15"),
            ("123456", "all digits"),
            ("12%RAND:3%", "all digits"),
            ("%RAND:6%", "all digits"),
            ("CORP-%serial%", SERVICE_CREATE_ERROR),
            ("CORP-%Serial%", "upper case"),
            ("CORP-%rand:3%", "upper case"),
            ("CORP-%RAND:0%", "from 1 to 15"),
            ("CORP-%RAND:16%", "from 1 to 15"),
            ("CORP-%RAND:%", "from 1 to 15"),
            ("CORP-%RAND%", "from 1 to 15"),
            ("CORP-%RAND:x%", "from 1 to 15"),
            ("CORP-%RAND:-1%", "from 1 to 15"),
            ("CORP-%NAME%", "not a macro"),
            ("CORP-%%", "not a macro"),
            ("CORP-%SERIAL", "does not open a macro"),
            ("50%", "does not open a macro"),
            ("%SERIAL%-%SERIAL%", "only once"),
            ("ABCDEFGHIJKLMNO%SERIAL%", "no room for %SERIAL%"),
            ("ABCDEFGHIJ%RAND:5%%SERIAL%", "no room for %SERIAL%"),
        ];
        for (template, fragment) in cases {
            match NameTemplate::parse(template) {
                Ok(parsed) => panic!("{template} was accepted as {parsed:?}"),
                Err(DomainError::InvalidField { field, message }) => {
                    assert_eq!(field, "deviceNameTemplate", "{template}");
                    assert!(
                        message.contains(fragment),
                        "{template}: {message} lacks {fragment}"
                    );
                }
                Err(other) => panic!("{template}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn lower_case_serial_macro_gets_the_service_message() {
        let err = NameTemplate::parse("PC-%serial%").err();
        assert!(err.is_some_and(|e| e.to_string().starts_with(
            "deviceNameTemplate: An error occurred while creating Autopilot profile"
        )));
    }

    #[test]
    fn serial_only_template_is_accepted_and_a_numeric_serial_is_flagged_at_render() {
        let name = render("%SERIAL%", "123456");
        assert_eq!(name, "123456");
        assert!(!is_valid_device_name(&name));
        assert!(is_valid_device_name("PC-123456"));
    }

    #[test]
    fn length_helpers_describe_the_rendering() {
        let parsed = NameTemplate::parse("Test-Device-%SERIAL%").ok();
        assert_eq!(parsed.as_ref().map(NameTemplate::fixed_len), Some(12));
        assert_eq!(parsed.as_ref().map(NameTemplate::serial_room), Some(3));
        assert_eq!(parsed.as_ref().map(NameTemplate::max_len), Some(15));
        let parsed = NameTemplate::parse("MYPC-%RAND:6%").ok();
        assert_eq!(parsed.as_ref().map(NameTemplate::max_len), Some(11));
        assert_eq!(parsed.as_ref().map(NameTemplate::has_serial), Some(false));
    }

    #[test]
    fn random_values_above_nine_still_render_digits() {
        let parsed = NameTemplate::parse("R-%RAND:3%").ok();
        let mut big = || 255u8;
        assert_eq!(
            parsed.map(|t| t.render("", &mut big)).as_deref(),
            Some("R-555")
        );
    }

    fn template_strategy() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[A-Za-z0-9-]{1,6}",
            Just("%SERIAL%".to_string()),
            (1u8..=15).prop_map(|n| format!("%RAND:{n}%")),
        ];
        prop::collection::vec(piece, 1..5).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn rendered_names_fit_and_use_only_allowed_characters(
            template in template_strategy(),
            serial in "\\PC{0,40}",
            seed in prop::collection::vec(any::<u8>(), 1..8),
        ) {
            if let Ok(parsed) = NameTemplate::parse(&template) {
                let mut next = digits_from(&seed);
                let name = parsed.render(&serial, &mut next);
                prop_assert!(name.len() <= MAX_DEVICE_NAME_LEN, "{template} -> {name}");
                prop_assert!(name.len() <= parsed.max_len());
                prop_assert!(name.len() >= parsed.fixed_len());
                prop_assert!(name.chars().all(is_name_char), "{name}");
                let template_has_letter = parsed.parts().iter().any(|p| matches!(
                    p, NamePart::Text(t) if t.chars().any(|c| !c.is_ascii_digit())));
                if template_has_letter {
                    prop_assert!(is_valid_device_name(&name), "{template} -> {name}");
                }
                if !parsed.has_serial() {
                    prop_assert!(is_valid_device_name(&name), "{template} -> {name}");
                }
            }
        }

        #[test]
        fn parse_accepts_its_own_display(template in template_strategy()) {
            if let Ok(parsed) = NameTemplate::parse(&template) {
                prop_assert_eq!(parsed.to_string(), template.clone());
                prop_assert_eq!(NameTemplate::parse(&parsed.to_string()).ok(), Some(parsed));
            }
        }

        #[test]
        fn serial_keeps_its_rightmost_characters(serial in "[A-Z0-9]{0,30}") {
            if let Ok(parsed) = NameTemplate::parse("Test-Device-%SERIAL%") {
                let name = parsed.render(&serial, &mut || 0);
                let tail = &serial[serial.len().saturating_sub(3)..];
                prop_assert_eq!(name, format!("Test-Device-{tail}"));
            }
        }

        #[test]
        fn parse_never_panics(template in "\\PC{0,40}") {
            let _ = NameTemplate::parse(&template);
        }
    }
}
