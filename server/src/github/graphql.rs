//! GraphQL reads as cacheable requests. A `POST /graphql` whose document
//! holds only queries (told by a GraphQL parser, not by string matching) is
//! a read: it is cached under its normalised document (the parser's own
//! canonical printing, so whitespace and comments do not matter), operation
//! name and variables (keys sorted), within the token's scope. A mutation or
//! subscription is a write.

use graphql_parser::query::{parse_query, Definition, OperationDefinition};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The body of a GraphQL request.
#[derive(Deserialize)]
struct Body {
    query: Option<serde_json::Value>,
    #[serde(rename = "operationName", default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<serde_json::Value>,
}

/// What a GraphQL request is.
#[derive(Debug, PartialEq, Eq)]
pub enum Operation {
    /// Only queries: cacheable, under this digest of what decides the answer.
    Read { digest: String },
    /// A mutation or subscription: passes through, and makes reads stale.
    Write,
}

/// Why a GraphQL request is refused before GitHub sees it (GitHub's words
/// where it has them).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("Problems parsing JSON")]
    NotJson,
    #[error("A query attribute must be specified and must be a string.")]
    NoQuery,
    #[error("Parse error: {0}")]
    Document(String),
}

/// Reads a GraphQL request body.
pub fn classify(body: &[u8]) -> Result<Operation, Malformed> {
    let body: Body = serde_json::from_slice(body).map_err(|_| Malformed::NotJson)?;
    let Some(serde_json::Value::String(query)) = body.query else {
        return Err(Malformed::NoQuery);
    };
    let mut document = parse_query::<&str>(&query).map_err(|e| Malformed::Document(e.to_string().trim().to_owned()))?;
    let writes = document.definitions.iter().any(|definition| {
        matches!(
            definition,
            Definition::Operation(OperationDefinition::Mutation(_) | OperationDefinition::Subscription(_))
        )
    });
    if writes {
        return Ok(Operation::Write);
    }
    // `query { … }` without a name, variables or directives is the shorthand `{ … }`.
    for definition in &mut document.definitions {
        if let Definition::Operation(OperationDefinition::Query(query)) = definition {
            if query.name.is_none() && query.variable_definitions.is_empty() && query.directives.is_empty() {
                let selection_set = std::mem::replace(&mut query.selection_set, empty_selection(query.position));
                *definition = Definition::Operation(OperationDefinition::SelectionSet(selection_set));
            }
        }
    }
    let mut hasher = Sha256::new();
    hasher.update(document.to_string().as_bytes());
    hasher.update([0]);
    hasher.update(body.operation_name.unwrap_or_default().as_bytes());
    hasher.update([0]);
    hasher.update(canonical(&body.variables.unwrap_or(serde_json::Value::Null)).as_bytes());
    let digest: String = hasher.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    Ok(Operation::Read { digest })
}

fn empty_selection<'a>(at: graphql_parser::Pos) -> graphql_parser::query::SelectionSet<'a, &'a str> {
    graphql_parser::query::SelectionSet { span: (at, at), items: Vec::new() }
}

/// JSON with object keys sorted at every level.
fn canonical(value: &serde_json::Value) -> String {
    fn sorted(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), sorted(v))).collect())
            }
            serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(body: &str) -> String {
        match classify(body.as_bytes()).unwrap() {
            Operation::Read { digest } => digest,
            Operation::Write => panic!("a read: {body}"),
        }
    }

    #[test]
    fn reads_share_a_key_whatever_their_spacing_and_variable_order() {
        let a = digest(r#"{"query":"query { viewer { login } }"}"#);
        let b = digest(r#"{"query":"query {\n  viewer {\n    login # who\n  }\n}"}"#);
        assert_eq!(a, b);
        assert_eq!(a, digest(r#"{"query":"{ viewer { login } }"}"#), "the shorthand is the same query");
        let v1 = digest(
            r#"{"query":"query($o: String!, $r: String!) { repository(owner: $o, name: $r) { id } }","variables":{"o":"x","r":"y"}}"#,
        );
        let v2 = digest(
            r#"{"query":"query($o: String!, $r: String!) { repository(owner: $o, name: $r) { id } }","variables":{"r":"y","o":"x"}}"#,
        );
        let v3 = digest(
            r#"{"query":"query($o: String!, $r: String!) { repository(owner: $o, name: $r) { id } }","variables":{"r":"z","o":"x"}}"#,
        );
        assert_eq!(v1, v2);
        assert_ne!(v1, v3);
        let named = digest(r#"{"query":"query A { viewer { login } } query B { viewer { id } }","operationName":"A"}"#);
        assert_ne!(
            named,
            digest(r#"{"query":"query A { viewer { login } } query B { viewer { id } }","operationName":"B"}"#)
        );
    }

    #[test]
    fn mutations_and_subscriptions_are_writes_whatever_their_text_says() {
        assert_eq!(
            classify(br#"{"query":"mutation { addStar(input: {starrableId: \"x\"}) { clientMutationId } }"}"#),
            Ok(Operation::Write)
        );
        assert_eq!(classify(br#"{"query":"subscription { x }"}"#), Ok(Operation::Write));
        assert_eq!(classify(br#"{"query":"query A { a } mutation B { b }"}"#), Ok(Operation::Write));
        // A query that merely mentions the word is a read.
        assert!(matches!(
            classify(br#"{"query":"query { search(query: \"mutation\") { x } }"}"#),
            Ok(Operation::Read { .. })
        ));
    }

    #[test]
    fn malformed_bodies_are_told_apart() {
        assert_eq!(classify(b"not json"), Err(Malformed::NotJson));
        assert_eq!(classify(br#"{"variables":{}}"#), Err(Malformed::NoQuery));
        assert_eq!(classify(br#"{"query":42}"#), Err(Malformed::NoQuery));
        assert!(matches!(classify(br#"{"query":"query { viewer { login }"}"#), Err(Malformed::Document(_))));
    }
}
