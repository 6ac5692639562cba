//! JUnit XML: one testcase per scenario, failures carrying checks, diagnosis and bundle path.

use std::fmt::Write;

use super::{ScenarioResult, Summary};
use crate::scenario::Outcome;

pub fn junit_xml(s: &Summary) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total = s.results.len();
    let time: f64 = s.results.iter().map(|r| r.duration.as_secs_f64()).sum();
    let _ = writeln!(
        x,
        "<testsuites name=\"forgejo-e2e\" tests=\"{total}\" failures=\"{}\" skipped=\"{}\" time=\"{time:.3}\">",
        s.failed, s.skipped
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"e2e.{}\" tests=\"{total}\" failures=\"{}\" skipped=\"{}\" time=\"{time:.3}\">",
        esc(&s.platform),
        s.failed,
        s.skipped
    );
    for r in &s.results {
        case(&mut x, s, r);
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

fn case(x: &mut String, s: &Summary, r: &ScenarioResult) {
    let _ = writeln!(
        x,
        "    <testcase name=\"{}\" classname=\"e2e.{}.{}\" time=\"{:.3}\">",
        esc(&r.name),
        esc(&s.platform),
        esc(&r.dind),
        r.duration.as_secs_f64()
    );
    let mut detail = String::new();
    for c in &r.checks {
        let _ = writeln!(detail, "{c}");
    }
    for d in &r.diagnosis {
        let _ = writeln!(detail, "diagnosis: {d}");
    }
    if let Some(b) = &r.bundle {
        let _ = writeln!(detail, "bundle: {}", b.display());
    }
    match &r.outcome {
        Outcome::Pass => {}
        Outcome::Fail(why) => {
            let _ = writeln!(
                x,
                "      <failure message=\"{}\" type=\"ScenarioFailed\">{}</failure>",
                esc(why),
                esc(&detail)
            );
        }
        Outcome::Skip(why) => {
            let _ = writeln!(x, "      <skipped message=\"{}\"/>", esc(why));
        }
    }
    let _ = writeln!(x, "      <system-out>{}</system-out>", esc(&detail));
    x.push_str("    </testcase>\n");
}

fn esc(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}
