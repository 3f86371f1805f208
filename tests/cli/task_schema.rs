//! The rules of Microsoft's Task Scheduler schema
//! (`http://schemas.microsoft.com/windows/2004/02/mit/task`, the XSD of
//! "Task Scheduler Schema" in the Win32 documentation, and [MS-TSCH] §2.5),
//! for the part of it a daily task running one program uses, checked on a
//! parsed document: which children each element may have, how often and in
//! what order where the schema says `xs:sequence`, the type of every value
//! (booleans, `xs:duration`, `xs:dateTime`, ranges, enumerations, the
//! 260-character `pathType`), the attributes, and the identity constraints
//! (the `Actions` `Context` names a `Principal` `id`). An element of the
//! schema that the daily task does not need (other triggers and actions,
//! `Repetition`, `Data`, `RestartOnFailure`, `NetworkSettings`) is refused
//! as "not checked here" rather than passed unseen. Elements added by
//! schema version 1.3 are refused in a task that declares 1.2.
//!
//! A check that needs no Windows: what the Task Scheduler itself says of the
//! file is the checklist's (docs/windows-checklist.md).

use roxmltree::{Document, Node};

/// The task schema's namespace.
pub const TASK_NS: &str = "http://schemas.microsoft.com/windows/2004/02/mit/task";

/// A value's type, as the schema names it.
#[derive(Clone, Copy, Debug)]
enum Value {
    String,
    NonEmpty,
    /// `pathType`: 1 to 260 characters.
    Path,
    Boolean,
    Duration,
    /// `xs:duration` of at least one minute.
    DurationMin1M,
    DateTime,
    /// An `xs:unsignedInt` (or byte) within bounds.
    Range(i64, i64),
    Enum(&'static [&'static str]),
}

/// How an element's children are given.
#[derive(Clone, Copy, Debug)]
enum Content {
    /// Text of this type, no child element.
    Text(Value),
    /// `xs:all`: each child at most once (`min` 1: required), any order.
    All(&'static [(&'static str, u32)]),
    /// `xs:sequence`: in this order, each `(name, min, max)`.
    Sequence(&'static [(&'static str, u32, u32)]),
}

const BOOL: Content = Content::Text(Value::Boolean);
const STRING: Content = Content::Text(Value::String);
const DURATION: Content = Content::Text(Value::Duration);

/// Elements of schema version 1.3 and later.
const V13_ONLY: &[&str] = &[
    "ProcessTokenSidType",
    "RequiredPrivileges",
    "DisallowStartOnRemoteAppSession",
    "UseUnifiedSchedulingEngine",
];

/// The content of `element` (its name) under `parent` (its parent's name),
/// and the attributes it may carry; `None`: not checked here.
fn rule(parent: &str, element: &str) -> Option<(Content, &'static [&'static str])> {
    let no_attr: &[&str] = &[];
    Some(match (parent, element) {
        ("", "Task") => (
            Content::All(&[
                ("RegistrationInfo", 0),
                ("Triggers", 0),
                ("Settings", 0),
                ("Principals", 0),
                ("Actions", 1),
            ]),
            &["version"],
        ),
        ("Task", "RegistrationInfo") => (
            Content::All(&[
                ("URI", 0),
                ("SecurityDescriptor", 0),
                ("Source", 0),
                ("Date", 0),
                ("Author", 0),
                ("Version", 0),
                ("Description", 0),
                ("Documentation", 0),
            ]),
            no_attr,
        ),
        ("RegistrationInfo", "Date") => (Content::Text(Value::DateTime), no_attr),
        ("RegistrationInfo", _) => (STRING, no_attr),
        ("Task", "Triggers") => (Content::Sequence(&[("CalendarTrigger", 0, 48)]), no_attr),
        // triggerBaseType's sequence, then calendarTriggerType's.
        ("Triggers", "CalendarTrigger") => (
            Content::Sequence(&[
                ("Enabled", 0, 1),
                ("StartBoundary", 1, 1), // required for calendar triggers (its documentation)
                ("EndBoundary", 0, 1),
                ("ExecutionTimeLimit", 0, 1),
                ("RandomDelay", 0, 1),
                ("ScheduleByDay", 1, 1),
            ]),
            &["id"],
        ),
        ("CalendarTrigger", "Enabled") => (BOOL, no_attr),
        ("CalendarTrigger", "StartBoundary" | "EndBoundary") => {
            (Content::Text(Value::DateTime), no_attr)
        }
        ("CalendarTrigger", "ExecutionTimeLimit" | "RandomDelay") => (DURATION, no_attr),
        ("CalendarTrigger", "ScheduleByDay") => (Content::All(&[("DaysInterval", 0)]), no_attr),
        ("ScheduleByDay", "DaysInterval") => (Content::Text(Value::Range(1, 365)), no_attr),
        ("Task", "Principals") => (Content::Sequence(&[("Principal", 1, 1)]), no_attr),
        ("Principals", "Principal") => (
            Content::All(&[
                ("UserId", 0),
                ("LogonType", 0),
                ("GroupId", 0),
                ("DisplayName", 0),
                ("RunLevel", 0),
            ]),
            &["id"],
        ),
        ("Principal", "UserId" | "GroupId") => (Content::Text(Value::NonEmpty), no_attr),
        ("Principal", "DisplayName") => (STRING, no_attr),
        ("Principal", "LogonType") => (
            Content::Text(Value::Enum(&[
                "S4U",
                "Password",
                "InteractiveToken",
                "InteractiveTokenOrPassword",
            ])),
            no_attr,
        ),
        ("Principal", "RunLevel") => (
            Content::Text(Value::Enum(&["LeastPrivilege", "HighestAvailable"])),
            no_attr,
        ),
        ("Task", "Settings") => (
            Content::All(&[
                ("AllowStartOnDemand", 0),
                ("MultipleInstancesPolicy", 0),
                ("DisallowStartIfOnBatteries", 0),
                ("StopIfGoingOnBatteries", 0),
                ("AllowHardTerminate", 0),
                ("StartWhenAvailable", 0),
                ("NetworkProfileName", 0),
                ("RunOnlyIfNetworkAvailable", 0),
                ("WakeToRun", 0),
                ("Enabled", 0),
                ("Hidden", 0),
                ("DeleteExpiredTaskAfter", 0),
                ("IdleSettings", 0),
                ("ExecutionTimeLimit", 0),
                ("Priority", 0),
                ("RunOnlyIfIdle", 0),
            ]),
            no_attr,
        ),
        ("Settings", "MultipleInstancesPolicy") => (
            Content::Text(Value::Enum(&[
                "Parallel",
                "Queue",
                "IgnoreNew",
                "StopExisting",
            ])),
            no_attr,
        ),
        ("Settings", "NetworkProfileName") => (STRING, no_attr),
        ("Settings", "DeleteExpiredTaskAfter" | "ExecutionTimeLimit") => (DURATION, no_attr),
        ("Settings", "Priority") => (Content::Text(Value::Range(0, 10)), no_attr),
        ("Settings", "IdleSettings") => (
            Content::All(&[
                ("Duration", 0),
                ("WaitTimeout", 0),
                ("StopOnIdleEnd", 0),
                ("RestartOnIdle", 0),
            ]),
            no_attr,
        ),
        ("IdleSettings", "Duration" | "WaitTimeout") => {
            (Content::Text(Value::DurationMin1M), no_attr)
        }
        ("IdleSettings", _) => (BOOL, no_attr),
        ("Settings", _) => (BOOL, no_attr),
        ("Task", "Actions") => (Content::Sequence(&[("Exec", 1, 32)]), &["Context"]),
        ("Actions", "Exec") => (
            Content::All(&[("Command", 1), ("Arguments", 0), ("WorkingDirectory", 0)]),
            &["id"],
        ),
        ("Exec", "Command" | "WorkingDirectory") => (Content::Text(Value::Path), no_attr),
        ("Exec", "Arguments") => (STRING, no_attr),
        _ => return None,
    })
}

/// Every rule broken by `doc`, one line each (empty: the task is valid as
/// far as this schema subset says).
pub fn violations(doc: &Document) -> Vec<String> {
    let mut errors = Vec::new();
    let task = doc.root_element();
    let version = task.attribute("version").unwrap_or("1.0");
    if !is_version(version) {
        errors.push(format!(
            "Task/@version {version:?} is not \\d+(\\.\\d+){{1,3}}"
        ));
    }
    check_element(task, "", &mut errors);
    // Identity constraints: ids unique, Actions/@Context names a Principal.
    let ids: Vec<&str> = task
        .descendants()
        .filter(|n| n.is_element())
        .filter_map(|n| n.attribute("id"))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            errors.push(format!("id {id:?} is not unique"));
        }
    }
    let principal_ids: Vec<&str> = task
        .descendants()
        .filter(|n| n.has_tag_name((TASK_NS, "Principal")))
        .filter_map(|n| n.attribute("id"))
        .collect();
    for actions in task
        .children()
        .filter(|n| n.has_tag_name((TASK_NS, "Actions")))
    {
        if let Some(context) = actions.attribute("Context")
            && !principal_ids.contains(&context)
        {
            errors.push(format!(
                "Actions/@Context {context:?} names no Principal id ({principal_ids:?})"
            ));
        }
    }
    if version == "1.2" {
        for n in task.descendants().filter(|n| n.is_element()) {
            if V13_ONLY.contains(&n.tag_name().name()) {
                errors.push(format!(
                    "{} is of schema version 1.3, the task says 1.2",
                    n.tag_name().name()
                ));
            }
        }
    }
    errors
}

fn check_element(node: Node, parent: &str, errors: &mut Vec<String>) {
    let name = node.tag_name().name();
    let at = if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    };
    if node.tag_name().namespace() != Some(TASK_NS) {
        errors.push(format!("{at}: not in the task namespace"));
        return;
    }
    let Some((content, attributes)) = rule(parent, name) else {
        errors.push(format!("{at}: not expected here (or not checked here)"));
        return;
    };
    for a in node.attributes() {
        if a.namespace().is_some() || !attributes.contains(&a.name()) {
            errors.push(format!("{at}: attribute {} not allowed", a.name()));
        }
    }
    let children: Vec<Node> = node.children().filter(|c| c.is_element()).collect();
    match content {
        Content::Text(ty) => {
            if !children.is_empty() {
                errors.push(format!("{at}: holds elements, text expected"));
            }
            let text: String = node
                .children()
                .filter(|c| c.is_text())
                .filter_map(|c| c.text())
                .collect();
            if let Err(why) = check_value(ty, &text) {
                errors.push(format!("{at}: {text:?} {why}"));
            }
            return;
        }
        Content::All(allowed) => {
            for c in &children {
                let n = c.tag_name().name();
                if !allowed.iter().any(|(a, _)| *a == n) {
                    errors.push(format!("{at}: child {n} not allowed"));
                } else if children.iter().filter(|d| d.tag_name().name() == n).count() > 1 {
                    errors.push(format!("{at}: child {n} more than once"));
                }
            }
            for (a, min) in allowed {
                if *min > 0 && !children.iter().any(|c| c.tag_name().name() == *a) {
                    errors.push(format!("{at}: child {a} missing"));
                }
            }
        }
        Content::Sequence(items) => {
            let mut i = 0;
            for (item, min, max) in items {
                let mut count = 0;
                while i < children.len() && children[i].tag_name().name() == *item {
                    count += 1;
                    i += 1;
                }
                if count < *min || count > *max {
                    errors.push(format!(
                        "{at}: {item} {count} time(s), the schema says {min} to {max}, in this order"
                    ));
                }
            }
            if let Some(extra) = children.get(i) {
                errors.push(format!(
                    "{at}: child {} not allowed here (order or name)",
                    extra.tag_name().name()
                ));
            }
        }
    }
    for t in node.children().filter(|c| c.is_text()) {
        if !t.text().unwrap_or("").trim().is_empty() {
            errors.push(format!("{at}: text in an element that holds elements"));
        }
    }
    for c in children {
        check_element(c, name, errors);
    }
}

fn check_value(ty: Value, s: &str) -> Result<(), &'static str> {
    let ok = match ty {
        Value::String => true,
        Value::NonEmpty => !s.is_empty(),
        Value::Path => (1..=260).contains(&s.chars().count()),
        Value::Boolean => matches!(s, "true" | "false" | "1" | "0"),
        Value::Duration => duration_seconds(s).is_some(),
        Value::DurationMin1M => duration_seconds(s).is_some_and(|d| d >= 60),
        Value::DateTime => is_date_time(s),
        Value::Range(lo, hi) => s.parse::<i64>().is_ok_and(|v| (lo..=hi).contains(&v)),
        Value::Enum(values) => values.contains(&s),
    };
    if ok {
        Ok(())
    } else {
        Err("is not a valid value of its type")
    }
}

/// `\d+(\.\d+){1,3}`.
fn is_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    (2..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// An `xs:duration` (`PnYnMnDTnHnMnS`, without sign or fractions, which the
/// Task Scheduler does not write), in seconds (months 30 days, years 365).
pub fn duration_seconds(s: &str) -> Option<u64> {
    let rest = s.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    if date.is_empty() && time.is_none() {
        return None;
    }
    fn fields(s: &str, units: &[(char, u64)]) -> Option<u64> {
        let mut total = 0;
        let mut number = String::new();
        let mut next_unit = 0;
        for c in s.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let at = units[next_unit..].iter().position(|(u, _)| *u == c)? + next_unit;
            if number.is_empty() {
                return None;
            }
            total += number.parse::<u64>().ok()? * units[at].1;
            number.clear();
            next_unit = at + 1;
        }
        number.is_empty().then_some(total)
    }
    let d = fields(date, &[('Y', 365 * 86400), ('M', 30 * 86400), ('D', 86400)])?;
    let t = match time {
        Some(t) => fields(t, &[('H', 3600), ('M', 60), ('S', 1)])?,
        None => 0,
    };
    Some(d + t)
}

/// An `xs:dateTime`: `YYYY-MM-DDThh:mm:ss`, optional fraction, optional
/// `Z` or `±hh:mm`.
fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    if b.len() < 19
        || !(digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && b[10] == b'T'
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19))
    {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(99);
    if !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 59
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        "" | "Z" => true,
        z => {
            let z = z.as_bytes();
            z.len() == 6
                && matches!(z[0], b'+' | b'-')
                && z[1..3].iter().all(u8::is_ascii_digit)
                && z[3] == b':'
                && z[4..6].iter().all(u8::is_ascii_digit)
        }
    }
}

#[test]
fn the_checker_knows_the_types() {
    assert_eq!(duration_seconds("PT23H"), Some(23 * 3600));
    assert_eq!(duration_seconds("PT3H30M"), Some(12600));
    assert_eq!(duration_seconds("P1DT1S"), Some(86401));
    assert_eq!(duration_seconds("PT0S"), Some(0));
    for bad in ["", "P", "PT", "PT1H1H", "PT1M1H", "23H", "PTH", "PT1.5S"] {
        assert_eq!(duration_seconds(bad), None, "{bad}");
    }
    assert!(is_date_time("2026-01-01T21:00:00"));
    assert!(is_date_time("2005-10-11T13:21:17-08:00"));
    assert!(is_date_time("2005-10-11T13:21:17.5Z"));
    for bad in [
        "2026-01-01 21:00:00",
        "2026-13-01T21:00:00",
        "2026-01-01T24:00:00",
        "2026-01-01T21:00",
    ] {
        assert!(!is_date_time(bad), "{bad}");
    }
    assert!(is_version("1.2") && is_version("1.2.3.4") && !is_version("1") && !is_version("1.x"));
}

/// The checker refuses what the schema refuses: each broken task below
/// gives at least one violation naming what is wrong.
#[test]
fn the_checker_refuses_broken_tasks() {
    let good = format!(
        r#"<Task version="1.2" xmlns="{TASK_NS}">
  <Triggers><CalendarTrigger><Enabled>true</Enabled><StartBoundary>2026-01-01T21:00:00</StartBoundary><ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay></CalendarTrigger></Triggers>
  <Principals><Principal id="Author"><UserId>svgauto</UserId><LogonType>Password</LogonType></Principal></Principals>
  <Settings><ExecutionTimeLimit>PT23H</ExecutionTimeLimit><Priority>7</Priority></Settings>
  <Actions Context="Author"><Exec><Command>svgauto.exe</Command></Exec></Actions>
</Task>"#
    );
    let doc = Document::parse(&good).unwrap();
    assert_eq!(violations(&doc), Vec::<String>::new());
    for (from, to, says) in [
        (
            "<Enabled>true</Enabled><StartBoundary>2026-01-01T21:00:00</StartBoundary>",
            "<StartBoundary>2026-01-01T21:00:00</StartBoundary><Enabled>true</Enabled>",
            "order",
        ),
        (
            "<StartBoundary>2026-01-01T21:00:00</StartBoundary>",
            "",
            "StartBoundary 0 time(s)",
        ),
        ("PT23H", "23h", "ExecutionTimeLimit"),
        (
            "<Priority>7</Priority>",
            "<Priority>11</Priority>",
            "Priority",
        ),
        ("Password", "Mot de passe", "LogonType"),
        ("Context=\"Author\"", "Context=\"Autre\"", "Context"),
        ("<Command>svgauto.exe</Command>", "", "Command missing"),
        (
            "svgauto.exe</Command>",
            "svgauto.exe</Command><Command>x</Command>",
            "more than once",
        ),
        (
            "<DaysInterval>1</DaysInterval>",
            "<DaysInterval>0</DaysInterval>",
            "DaysInterval",
        ),
        (
            "version=\"1.2\"",
            "version=\"1.2\" autre=\"x\"",
            "attribute autre",
        ),
        (
            "<Priority>7</Priority>",
            "<Priority>7</Priority><UseUnifiedSchedulingEngine>true</UseUnifiedSchedulingEngine>",
            "1.3",
        ),
        (
            "<Priority>7</Priority>",
            "<Priority>7</Priority><Inconnu/>",
            "Inconnu",
        ),
    ] {
        assert!(good.contains(from), "{from}");
        let broken = good.replacen(from, to, 1);
        let doc = Document::parse(&broken).unwrap();
        let v = violations(&doc);
        assert!(v.iter().any(|l| l.contains(says)), "{says:?} not in {v:#?}");
    }
    let long = good.replace(
        "svgauto.exe",
        &format!(r"C:\{}\svgauto.exe", "x".repeat(250)),
    );
    let doc = Document::parse(&long).unwrap();
    assert!(violations(&doc).iter().any(|l| l.contains("Command")));
}
