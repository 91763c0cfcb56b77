//! JSON Schemas of the MCP tools, generated from the same `utoipa::ToSchema` derives that
//! produce `/openapi.json`: one struct per shape, one schema generator. OpenAPI 3.1 schema
//! objects are JSON Schema 2020-12; only their references move, from
//! `#/components/schemas/X` to `#/$defs/X`, so each tool schema is self-contained.

use rmcp::model::JsonObject;
use serde_json::Value;
use utoipa::ToSchema;

const OPENAPI_REFS: &str = "#/components/schemas/";
const JSON_SCHEMA_REFS: &str = "#/$defs/";

/// The JSON Schema of `T`, with every schema it refers to under `$defs`.
pub fn json_schema<T: ToSchema>() -> anyhow::Result<JsonObject> {
    let mut referenced = Vec::new();
    T::schemas(&mut referenced);
    let mut root = serde_json::to_value(T::schema())?;
    relocate_refs(&mut root);
    let Value::Object(mut root) = root else {
        anyhow::bail!("the schema of {} is not an object", T::name());
    };
    if !referenced.is_empty() {
        let mut defs = JsonObject::new();
        for (name, schema) in referenced {
            let mut schema = serde_json::to_value(schema)?;
            relocate_refs(&mut schema);
            defs.insert(name, schema);
        }
        root.insert("$defs".into(), Value::Object(defs));
    }
    Ok(root)
}

/// Rewrites OpenAPI component references into JSON Schema `$defs` references.
fn relocate_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if key == "$ref"
                    && let Value::String(target) = item
                    && let Some(name) = target.strip_prefix(OPENAPI_REFS)
                {
                    *target = format!("{JSON_SCHEMA_REFS}{name}");
                } else {
                    relocate_refs(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(relocate_refs),
        _ => {}
    }
}

/// The schema of the property `name` of an object schema, if it has one.
pub fn property<'a>(schema: &'a mut JsonObject, name: &str) -> Option<&'a mut JsonObject> {
    schema
        .get_mut("properties")?
        .as_object_mut()?
        .get_mut(name)?
        .as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::Answer;
    use crate::retrieval::present::{DatasetView, SearchResponse};

    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_inside_the_schema() {
        for schema in [
            json_schema::<SearchResponse>().unwrap(),
            json_schema::<DatasetView>().unwrap(),
            json_schema::<Answer>().unwrap(),
        ] {
            let value = Value::Object(schema.clone());
            let mut found = Vec::new();
            refs(&value, &mut found);
            assert!(!found.is_empty() || schema.get("$defs").is_none());
            for r in found {
                let name = r.strip_prefix(JSON_SCHEMA_REFS).expect("a $defs reference");
                assert!(schema["$defs"].get(name).is_some(), "{r} is not defined");
            }
            assert_eq!(schema["type"], "object");
        }
    }

    #[test]
    fn the_tool_schema_is_the_openapi_schema() {
        use utoipa::OpenApi;
        let openapi = serde_json::to_value(crate::http::ApiDoc::openapi()).unwrap();
        let components = &openapi["components"]["schemas"];
        let mcp = Value::Object(json_schema::<SearchResponse>().unwrap());
        let mut rest = components["SearchResponse"].clone();
        relocate_refs(&mut rest);
        let mut without_defs = mcp.clone();
        without_defs.as_object_mut().unwrap().remove("$defs");
        assert_eq!(without_defs, rest);
        let mut hit = components["SearchHit"].clone();
        relocate_refs(&mut hit);
        assert_eq!(mcp["$defs"]["SearchHit"], hit);
    }
}
