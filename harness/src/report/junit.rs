//! JUnit XML: one testcase per scenario (and per job of a user workflow, its class the
//! workflow), failures carrying checks, diagnosis and bundle path.

use std::fmt::Write;

use super::{ScenarioResult, Summary};
use crate::scenario::Outcome;

pub fn junit_xml(s: &Summary) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // A workflow's jobs are test cases of their own, classed under the workflow.
    let cases: Vec<(&ScenarioResult, Option<&str>)> = s
        .results
        .iter()
        .flat_map(|r| std::iter::once((r, None)).chain(r.jobs.iter().map(move |j| (j, Some(r.name.as_str())))))
        .collect();
    let total = cases.len();
    let count = |f: fn(&Outcome) -> bool| cases.iter().filter(|(r, _)| f(&r.outcome)).count();
    let (failed, skipped) = (count(|o| matches!(o, Outcome::Fail(_))), count(|o| matches!(o, Outcome::Skip(_))));
    let time: f64 = s.results.iter().map(|r| r.duration.as_secs_f64()).sum();
    let _ = writeln!(
        x,
        "<testsuites name=\"forgejo-e2e\" tests=\"{total}\" failures=\"{failed}\" skipped=\"{skipped}\" time=\"{time:.3}\">"
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"e2e.{}\" tests=\"{total}\" failures=\"{failed}\" skipped=\"{skipped}\" time=\"{time:.3}\">",
        esc(&s.platform),
    );
    for (r, parent) in cases {
        case(&mut x, s, r, parent);
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

fn case(x: &mut String, s: &Summary, r: &ScenarioResult, parent: Option<&str>) {
    let class = match parent {
        Some(workflow) => format!("e2e.{}.{}.{}", s.platform, r.dind, workflow),
        None => format!("e2e.{}.{}", s.platform, r.dind),
    };
    let _ = writeln!(
        x,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\">",
        esc(&r.name),
        esc(&class),
        r.duration.as_secs_f64()
    );
    let mut detail = String::new();
    for c in &r.checks {
        let _ = writeln!(detail, "{c}");
    }
    for n in &r.notes {
        let _ = writeln!(detail, "note: {n}");
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
