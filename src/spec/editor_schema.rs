//! The JSON Schema (draft 2020-12) of a Canary document, for editors (`kanari schema`): hover
//! help, completion and errors as the spec is typed. A view of the model, in the spec layer.
//!
//! Decision: the schema is derived with `schemars` from the very types the loader reads specs
//! with ([`super::raw`]), so it cannot drift from them: serde's `deny_unknown_fields`,
//! `rename_all`, `rename` and `default` are read by the derive (every object closed to unknown
//! fields, optional fields not required), the Raw types' doc comments are the descriptions, and
//! a field added to a Raw type is in the schema (or the build fails, for an `S<T>` field without
//! its `schemars(with = T)`). `S<T>` is serde-saphyr's `Spanned<T>`, a foreign type that the
//! orphan rule keeps from implementing `JsonSchema` here, so each such field names its `T`. The
//! pod template is Kubernetes' `PodTemplateSpec`: [`PodTemplate`] brings the definitions of
//! `schemas/pod-template-spec.json` into `$defs` ([`crate::kube_schema::json_schema`]), so the
//! editor's schema and the loader's check read the same file. What a schema cannot say (ranges
//! of numbers, name rules, checks across fields and releases) stays `kanari lint`'s.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

use super::raw::RawDoc;
use super::template::FILLED;

/// Where the generator keeps definitions, as a JSON pointer fragment.
const DEFS: &str = "#/$defs/";

/// The schema of one Canary document, as JSON; its bytes are the same on every run (objects in
/// sorted order).
pub(crate) fn schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    generator.into_root_schema_for::<RawDoc>().to_value()
}

/// `spec.template`: Kubernetes' PodTemplateSpec, its definitions taken from the schema the
/// loader checks templates against.
pub(super) struct PodTemplate;

impl JsonSchema for PodTemplate {
    fn schema_name() -> Cow<'static, str> {
        crate::kube_schema::root().into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let (root, mut definitions) = crate::kube_schema::json_schema(DEFS, &filled_from_root());
        let root = definitions.remove(&root).unwrap_or(Value::Bool(true));
        generator.definitions_mut().extend(definitions);
        Schema::try_from(root).unwrap_or_default()
    }
}

/// [`FILLED`] as paths from the template (`spec.containers`).
fn filled_from_root() -> Vec<&'static str> {
    FILLED.iter().filter_map(|path| path.strip_prefix("template.")).collect()
}

// The closed sets of the spec, as `kanari schema` lists them so that editors complete them. The
// loader reads these fields as text, to say what is wrong with a value at its place; these
// types exist for the schema alone.

/// How traffic is routed.
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "Router")]
#[allow(dead_code)]
pub(super) enum RouterSchema {
    /// A DestinationRule with one subset per version and a VirtualService.
    Istio,
    /// An HTTPRoute over one Service per version.
    GatewayApi,
}

/// What a failed check does.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "OnFailure")]
#[allow(dead_code)]
pub(super) enum OnFailureSchema {
    /// The release is aborted: traffic back to stable.
    Abort,
    /// The release holds where it is.
    Hold,
}

/// What a check still inconclusive past the deadline does.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "OnInconclusive")]
#[allow(dead_code)]
pub(super) enum OnInconclusiveSchema {
    /// The release holds, and says so.
    Hold,
    /// The check passes.
    Pass,
    /// The release is aborted.
    Abort,
}

/// The builtin checks (`spec::BUILTINS`).
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "Builtin")]
#[allow(dead_code)]
pub(super) enum BuiltinSchema {
    /// The canary's share of requests that are not 5xx, in percent (`min`).
    SuccessRate,
    /// The canary's 99th percentile latency in ms (`max`).
    LatencyP99,
    /// The canary's share of the release's requests, in percent (`max`).
    TrafficShare,
    /// The canary's error rate against stable's (`margin`).
    ErrorsVsStable,
    /// The canary's median latency against stable's (`margin`).
    LatencyVsStable,
}
