use ztd_formats::corporate_csv::{
    read_corporate_identifiers, CorporateCsvError, MAX_BYTES, MAX_ROWS,
};
use ztd_formats::hash_csv::CsvEncoding;

#[test]
fn rows_errors_and_line_numbers() {
    let text = "Manufacturer,Model,Serial\r\n\
                Microsoft,surface 5,01.2345.678\n\
                \n\
                Contoso,Laptop\n\
                \"Contoso, Inc.\",\"Laptop\n2\",S3\n\
                Contoso,,S4\n\
                Contoso,X,...\n";
    let file = read_corporate_identifiers(text.as_bytes()).unwrap();
    assert_eq!(file.encoding, CsvEncoding::Utf8);
    let rows = &file.rows;
    assert_eq!(rows.len(), 6);
    assert!(rows[0].as_ref().unwrap_err().message.contains("header"));
    let r = rows[1].as_ref().unwrap();
    assert_eq!(
        (r.row, r.line, r.serial.as_str(), r.raw_serial.as_str()),
        (2, 2, "012345678", "01.2345.678")
    );
    let e = rows[2].as_ref().unwrap_err();
    assert_eq!((e.row, e.line), (3, 4));
    let r = rows[3].as_ref().unwrap();
    assert_eq!(
        (r.line, r.manufacturer.as_str(), r.model.as_str()),
        (5, "Contoso, Inc.", "Laptop\n2")
    );
    let e = rows[4].as_ref().unwrap_err();
    assert_eq!((e.row, e.line, e.field.as_deref()), (5, 7, Some("model")));
    assert_eq!(
        rows[5].as_ref().unwrap_err().field.as_deref(),
        Some("serial")
    );
}

#[test]
fn encodings() {
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(
        "Contoso,Café,S1\r\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    let f = read_corporate_identifiers(utf16.as_slice()).unwrap();
    assert_eq!(f.encoding, CsvEncoding::Utf16Le);
    assert_eq!(f.rows[0].as_ref().unwrap().model, "Café");
    let f = read_corporate_identifiers(&b"Contoso,Caf\xe9,S1\r\n"[..]).unwrap();
    assert_eq!(f.encoding, CsvEncoding::Windows1252);
    assert_eq!(f.rows[0].as_ref().unwrap().model, "Café");
    assert!(matches!(
        read_corporate_identifiers(&[0xFF, 0xFE, b'C'][..]),
        Err(CorporateCsvError::OddUtf16Length)
    ));
}

#[test]
fn limits() {
    assert!(matches!(
        read_corporate_identifiers(&b""[..]),
        Err(CorporateCsvError::Empty)
    ));
    assert!(matches!(
        read_corporate_identifiers(&b"\r\n\r\n"[..]),
        Err(CorporateCsvError::Empty)
    ));
    let ok: String = (0..MAX_ROWS)
        .map(|i| format!("Contoso,Laptop,S{i}\r\n"))
        .collect();
    assert_eq!(
        read_corporate_identifiers(ok.as_bytes())
            .unwrap()
            .rows
            .len(),
        MAX_ROWS
    );
    let too_many = format!("{ok}Contoso,Laptop,X\r\nContoso,Laptop,Y\r\n");
    match read_corporate_identifiers(too_many.as_bytes()) {
        Err(e @ CorporateCsvError::TooManyRows(5002)) => assert!(e.to_string().contains("5,000")),
        other => panic!("{other:?}"),
    }
    let big = vec![b'a'; MAX_BYTES as usize + 1];
    match read_corporate_identifiers(big.as_slice()) {
        Err(e @ CorporateCsvError::TooLarge) => assert!(e.to_string().contains("5 MB")),
        other => panic!("{other:?}"),
    }
}
