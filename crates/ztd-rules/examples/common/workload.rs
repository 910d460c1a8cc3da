// Shared synthetic workload for the benchmarks (included with `include!`).
// Rule mix (1,000 rules), modelled on Autopilot tenants:
//   500  group tag:        devicePhysicalIds -any (_ -eq "[OrderId]:Tag<i>")
//   100  purchase order:   devicePhysicalIds -any (_ -eq "[PurchaseOrderId]:PO<i>")
//   100  model + OS:       deviceModel -eq "Model <i>" -and deviceOSType -eq "Windows"
//    50  vendor Autopilot: deviceManufacturer -eq "Vendor<i>" -and devicePhysicalIds -any (_ -startsWith "[ZTDId]")
//    50  model lists:      deviceModel -in [5 models]
//    50  profile:          enrollmentProfileName -eq "Profile<i>"
//    50  and/or mixes:     (tag A -or tag B) -and deviceOwnership -eq "Company" -and -not (isRooted -eq true)
//    50  site prefix:      displayName -startsWith "SITE<i>-"
//    50  residual (no index anchor): 20 -match, 20 -contains on displayName/model, 5 -contains "[ZTDId]"
//        on physical ids (the legacy "all Autopilot devices" rule), 5 -notStartsWith.
// Devices: 90% Windows Autopilot devices with a [ZTDId], 70% with a group tag out of 700,
// 30% with a purchase order out of 150; 50 vendors, 200 models, 100 sites, 60 profiles.

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn workload_rules() -> Vec<String> {
    let mut r = Vec::with_capacity(1000);
    for i in 0..500 {
        r.push(format!(
            r#"(device.devicePhysicalIds -any (_ -eq "[OrderId]:Tag{i}"))"#
        ));
    }
    for i in 0..100 {
        r.push(format!(
            r#"device.devicePhysicalIds -any _ -eq "[PurchaseOrderId]:PO{i}""#
        ));
    }
    for i in 0..100 {
        r.push(format!(
            r#"device.deviceModel -eq "Model {i}" -and device.deviceOSType -eq "Windows""#
        ));
    }
    for i in 0..50 {
        r.push(format!(r#"device.deviceManufacturer -eq "Vendor{i}" -and device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")"#));
    }
    for i in 0..50 {
        let m: Vec<String> = (0..5)
            .map(|k| format!("\"Model {}\"", (i * 3 + k * 7) % 200))
            .collect();
        r.push(format!("device.deviceModel -in [{}]", m.join(", ")));
    }
    for i in 0..50 {
        r.push(format!(r#"device.enrollmentProfileName -eq "Profile{i}""#));
    }
    for i in 0..50 {
        r.push(format!(
            r#"(device.devicePhysicalIds -any (_ -eq "[OrderId]:Tag{}") -or device.devicePhysicalIds -any (_ -eq "[OrderId]:Tag{}")) -and device.deviceOwnership -eq "Company" -and -not (device.isRooted -eq true)"#,
            500 + i,
            600 + i
        ));
    }
    for i in 0..50 {
        r.push(format!(r#"device.displayName -startsWith "SITE{i}-""#));
    }
    for i in 0..20 {
        r.push(format!(r#"device.displayName -match "^SITE{i}-[0-9]*7$""#));
    }
    for i in 0..20 {
        r.push(format!(r#"device.deviceModel -contains "el {i}""#));
    }
    for _ in 0..5 {
        r.push(r#"device.devicePhysicalIds -any (_ -contains "[ZTDId]")"#.to_string());
    }
    for i in 0..5 {
        r.push(format!(r#"device.displayName -notStartsWith "SITE{i}""#));
    }
    r
}

fn workload_device(rng: &mut Rng, n: u64) -> ztd_rules::Device {
    let mut d = ztd_rules::Device::new();
    let windows = rng.below(10) < 9;
    d.set(
        "deviceOSType",
        Some(if windows { "Windows" } else { "iPad" }.to_string()),
    );
    d.set(
        "deviceOSVersion",
        Some(format!("10.0.{}", 19045 + rng.below(4) * 1000)),
    );
    d.set(
        "deviceManufacturer",
        Some(format!("Vendor{}", rng.below(50))),
    );
    d.set("deviceModel", Some(format!("Model {}", rng.below(200))));
    d.set("displayName", Some(format!("SITE{}-{n}", rng.below(100))));
    d.set(
        "enrollmentProfileName",
        Some(format!("Profile{}", rng.below(60))),
    );
    d.set(
        "deviceOwnership",
        Some(
            if rng.below(10) < 8 {
                "Company"
            } else {
                "Personal"
            }
            .to_string(),
        ),
    );
    d.set(
        "objectId",
        Some(format!(
            "{:08x}-0000-4000-8000-{:012x}",
            n,
            rng.next() & 0xffff_ffff_ffff
        )),
    );
    d.set_bool("accountEnabled", Some(true));
    d.set_bool("isRooted", Some(rng.below(100) == 0));
    let mut ids = Vec::new();
    if windows {
        ids.push(format!("[ZTDId]:{:016x}", rng.next()));
        if rng.below(10) < 7 {
            ids.push(format!("[OrderId]:Tag{}", rng.below(700)));
        }
        if rng.below(10) < 3 {
            ids.push(format!("[PurchaseOrderId]:PO{}", rng.below(150)));
        }
    }
    d.set_list("devicePhysicalIds", ids);
    d
}

/// A valid rule of exactly 3,072 characters: an -or of group-tag tests padded with an -in list.
fn rule_of_3072_chars() -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    loop {
        let next = format!(r#"device.devicePhysicalIds -any (_ -eq "[OrderId]:Tag{i}")"#);
        let len: usize = parts.iter().map(|p: &String| p.len() + 5).sum::<usize>() + next.len();
        if len > 2900 {
            break;
        }
        parts.push(next);
        i += 1;
    }
    let mut rule = parts.join(" -or ");
    let tail = r#" -or device.deviceModel -eq """#;
    let pad = 3072 - rule.chars().count() - tail.len() - 1;
    rule.push_str(tail);
    rule.push_str(&"x".repeat(pad));
    rule.push('"');
    rule
}
