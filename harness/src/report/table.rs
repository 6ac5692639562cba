//! The summary table printed at the end of a run.

use super::Summary;
use crate::scenario::Outcome;

/// One row per scenario, then the closing count line (`N passed, N failed, N skipped`).
pub fn summary_table(s: &Summary) -> String {
    let names =
        s.results.iter().flat_map(|r| std::iter::once(r.name.len()).chain(r.jobs.iter().map(|j| j.name.len() + 2)));
    let width = names.max().unwrap_or(8).max(8);
    let mut out = format!("{:<width$}  {:<8} {:<7} {:>8}  {}\n", "SCENARIO", "DIND", "RESULT", "TIME", "DETAIL");
    for r in &s.results {
        row(&mut out, r, "", width);
        // A user workflow's jobs, indented under it.
        for j in &r.jobs {
            row(&mut out, j, "  ", width);
        }
    }
    out.push_str(&format!("{} passed, {} failed, {} skipped\n", s.passed, s.failed, s.skipped));
    // What the run accepted of the chart is part of what the pass means.
    for f in &s.allowed_findings {
        out.push_str(&format!("render finding allowed (--allow-finding {}): {}\n", f.key, f.finding));
    }
    out
}

fn row(out: &mut String, r: &super::ScenarioResult, indent: &str, width: usize) {
    {
        let passed = r.checks.iter().filter(|c| c.outcome == Outcome::Pass).count();
        let (result, detail) = match &r.outcome {
            Outcome::Pass => {
                match r.notes.first().filter(|n| n.starts_with("failed as expected") || n.starts_with("as expected")) {
                    Some(note) => ("pass", first_line(note)),
                    None if !r.jobs.is_empty() => ("pass", format!("{passed}/{} jobs passed", r.checks.len())),
                    None if !indent.is_empty() => ("pass", "job succeeded".to_owned()),
                    None => {
                        let taken = r.notes.iter().find(|n| n.starts_with("taken by runner "));
                        let by = taken.map_or(String::new(), |n| format!(", {n}"));
                        ("pass", format!("{passed}/{} checks passed{by}", r.checks.len()))
                    }
                }
            }
            Outcome::Fail(why) => ("FAIL", first_line(why)),
            Outcome::Skip(why) => ("skip", first_line(why)),
        };
        out.push_str(&format!(
            "{:<width$}  {:<8} {:<7} {:>7.1}s  {}\n",
            format!("{indent}{}", r.name),
            r.dind,
            result,
            r.duration.as_secs_f64(),
            detail
        ));
        // Upgrades are judged by several assertions: show every one.
        let all = r.name.starts_with("upgrade:");
        // A workflow's checks are its jobs, shown as rows below it.
        for c in r.checks.iter().filter(|_| r.jobs.is_empty()) {
            match &c.outcome {
                Outcome::Skip(why) if r.outcome == Outcome::Skip(why.clone()) => {}
                Outcome::Skip(why) => out.push_str(&format!("{:<width$}    skipped check `{}`: {}\n", "", c.name, why)),
                _ if all => out.push_str(&format!("{:<width$}    {c}\n", "")),
                _ => {}
            }
        }
        for d in &r.diagnosis {
            out.push_str(&format!(
                "{:<width$}    diagnosis [{}]: {}\n{:<width$}      fix: {}\n",
                "", d.id, d.cause, "", d.fix
            ));
        }
        if let Some(bundle) = &r.bundle {
            out.push_str(&format!("{:<width$}    bundle: {}\n", "", bundle.display()));
        }
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > 110 {
        format!("{}…", line.chars().take(110).collect::<String>())
    } else {
        line.to_owned()
    }
}
