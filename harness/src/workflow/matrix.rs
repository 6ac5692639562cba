//! A job's `strategy.matrix` expanded as Forgejo and GitHub expand it (the product of its
//! keys in declaration order, then `exclude`, then `include`), and the expressions of
//! `runs-on` evaluated for one combination.

use serde_yaml::{Mapping, Value};

/// One combination: keys in declaration order, with their values.
pub type Combo = Vec<(String, Value)>;

/// The combinations of `matrix`, or why they cannot be known before the run (an
/// expression such as `fromJSON(needs.x.outputs.m)`).
pub fn expand(matrix: &Value) -> Result<Vec<Combo>, String> {
    let map = match matrix {
        Value::Mapping(m) => m,
        Value::String(s) => return Err(format!("the matrix is an expression (`{s}`)")),
        _ => return Err("the matrix is not a mapping".into()),
    };
    let mut combos: Vec<Combo> = vec![Vec::new()];
    let mut base_keys = Vec::new();
    for (key, values) in map {
        let key = key.as_str().unwrap_or_default().to_owned();
        if key == "include" || key == "exclude" {
            continue;
        }
        let values = match values {
            Value::Sequence(v) => v.clone(),
            Value::String(s) if s.contains("${{") => return Err(format!("`{key}` is an expression (`{s}`)")),
            other => vec![other.clone()],
        };
        base_keys.push(key.clone());
        combos = combos
            .into_iter()
            .flat_map(|c| {
                let key = key.clone();
                values.iter().map(move |v| [c.clone(), vec![(key.clone(), v.clone())]].concat())
            })
            .collect();
    }
    if base_keys.is_empty() {
        combos.clear();
    }
    for ex in entries(map.get("exclude"))? {
        combos.retain(|c| !ex.iter().all(|(k, v)| get(c, k) == Some(v)));
    }
    for inc in entries(map.get("include"))? {
        // Added to every combination whose original values it does not change; a new
        // combination when it fits none.
        let mut fitted = false;
        for c in combos.iter_mut() {
            let fits = inc.iter().all(|(k, v)| !base_keys.contains(k) || get(c, k) == Some(v));
            if fits && !base_keys.is_empty() {
                for (k, v) in &inc {
                    match c.iter_mut().find(|(ck, _)| ck == k) {
                        Some(slot) => slot.1 = v.clone(),
                        None => c.push((k.clone(), v.clone())),
                    }
                }
                fitted = true;
            }
        }
        if !fitted {
            combos.push(inc);
        }
    }
    Ok(combos)
}

fn entries(list: Option<&Value>) -> Result<Vec<Combo>, String> {
    match list {
        None => Ok(Vec::new()),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|item| match item {
                Value::Mapping(m) => Ok(combo_of(m)),
                _ => Err("an include or exclude entry is not a mapping".to_owned()),
            })
            .collect(),
        Some(Value::String(s)) => Err(format!("include or exclude is an expression (`{s}`)")),
        Some(_) => Err("include or exclude is not a list".into()),
    }
}

fn combo_of(m: &Mapping) -> Combo {
    m.iter().map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), v.clone())).collect()
}

fn get<'a>(c: &'a Combo, key: &str) -> Option<&'a Value> {
    c.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// A value as an expression would print it: strings bare, numbers and booleans as text.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// `job (os=debian, node=20)`: how a combination is named in results.
pub fn row_name(job: &str, combo: &Combo) -> String {
    if combo.is_empty() {
        return job.to_owned();
    }
    let parts: Vec<String> = combo.iter().map(|(k, v)| format!("{k}={}", show(v))).collect();
    format!("{job} ({})", parts.join(", "))
}

/// `text` with its `${{ matrix.KEY }}` and `${{ 'literal' }}` expressions evaluated, or
/// the first expression that needs the run (contexts other than `matrix`, functions).
pub fn evaluate(text: &str, combo: &Combo) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").ok_or_else(|| format!("`{text}` has an unclosed expression"))? + start;
        let expr = rest[start + 3..end].trim();
        let value = if let Some(key) = expr.strip_prefix("matrix.") {
            get(combo, key).map(show).ok_or_else(|| format!("`{expr}` is not in the matrix"))?
        } else if expr.len() >= 2 && expr.starts_with('\'') && expr.ends_with('\'') {
            expr[1..expr.len() - 1].replace("''", "'")
        } else {
            return Err(format!("`{expr}` can only be evaluated by the runner"));
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(yaml: &str) -> Value {
        serde_yaml::from_str(yaml).expect("yaml")
    }

    fn names(combos: &[Combo]) -> Vec<String> {
        combos.iter().map(|c| row_name("j", c)).collect()
    }

    #[test]
    fn the_product_in_declaration_order_first_key_slowest() {
        let combos = expand(&m("{os: [a, b], node: [20, 22]}")).expect("expand");
        assert_eq!(
            names(&combos),
            ["j (os=a, node=20)", "j (os=a, node=22)", "j (os=b, node=20)", "j (os=b, node=22)"]
        );
    }

    #[test]
    fn exclude_then_include_extends_or_adds() {
        let combos = expand(&m(
            "{os: [a, b], node: [20, 22], exclude: [{os: b, node: 22}], include: [{os: a, extra: x}, {os: c, node: 18}]}",
        ))
        .expect("expand");
        assert_eq!(
            names(&combos),
            ["j (os=a, node=20, extra=x)", "j (os=a, node=22, extra=x)", "j (os=b, node=20)", "j (os=c, node=18)"]
        );
        assert_eq!(names(&expand(&m("{include: [{os: a}]}")).expect("expand")), ["j (os=a)"]);
    }

    #[test]
    fn a_matrix_from_an_expression_is_left_to_the_runner() {
        assert!(expand(&m("'${{ fromJSON(needs.a.outputs.m) }}'")).is_err());
        assert!(expand(&m("{os: '${{ fromJSON(x) }}'}")).is_err());
    }

    #[test]
    fn runs_on_expressions_from_the_matrix_and_literals() {
        let combo = vec![("os".to_owned(), Value::from("ubuntu-18.04"))];
        assert_eq!(evaluate("${{ matrix.os }}", &combo).as_deref(), Ok("ubuntu-18.04"));
        assert_eq!(evaluate("x-${{matrix.os}}", &combo).as_deref(), Ok("x-ubuntu-18.04"));
        assert_eq!(evaluate("${{ 'self-hosted' }}", &combo).as_deref(), Ok("self-hosted"));
        assert!(evaluate("${{ github.ref }}", &combo).is_err());
        assert!(evaluate("${{ matrix.nope }}", &combo).is_err());
    }
}
