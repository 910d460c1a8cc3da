//! The error catalogue is one table, and `docs/errors.md` shows that table as it is.

use std::collections::HashSet;

use ztd_core::error::{catalogue_markdown, Code, Shape};

const BEGIN: &str = "<!-- catalogue:begin -->\n";
const END: &str = "<!-- catalogue:end -->";

#[test]
fn the_errors_page_lists_the_catalogue_as_it_is() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md");
    let page = std::fs::read_to_string(path).expect("docs/errors.md exists");
    let start = page
        .find(BEGIN)
        .expect("the page marks where the table begins")
        + BEGIN.len();
    let end = page.find(END).expect("the page marks where the table ends");
    if std::env::var_os("ZTD_BLESS").is_some() {
        let updated = format!("{}{}{}", &page[..start], catalogue_markdown(), &page[end..]);
        std::fs::write(path, updated).expect("docs/errors.md is writable");
        return;
    }
    assert_eq!(
        &page[start..end],
        catalogue_markdown(),
        "docs/errors.md is out of date: rerun this test with ZTD_BLESS=1 to rewrite its table"
    );
}

#[test]
fn every_entry_is_distinct_and_well_formed() {
    let mut names = HashSet::new();
    for code in Code::ALL {
        assert!(names.insert(code.name()), "{} twice", code.name());
        assert!((400..600).contains(&code.status()), "{}", code.name());
        assert!(
            !code.meaning().is_empty(),
            "{} says when it applies",
            code.name()
        );
        match code.shape() {
            Shape::OAuth => assert!(
                code.aadsts().is_some(),
                "{} has an AADSTS number",
                code.name()
            ),
            Shape::Graph | Shape::Drs | Shape::SoapFault | Shape::SyncMl => {
                assert!(code.aadsts().is_none(), "{}", code.name())
            }
        }
    }
}
