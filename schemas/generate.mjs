// Generates schemas/pod-template-spec.json, the schema kanari checks `spec.template` against
// (src/podschema.rs), from the Kubernetes JSON schemas that the PyPI package
// `kubernetes-validate` ships (generated from the Kubernetes OpenAPI; see schemas/README.md).
//
//   node schemas/generate.mjs [DEFINITIONS] > schemas/pod-template-spec.json
//
// DEFINITIONS defaults to the file `.ci/run` takes out of the pinned wheel:
// tests/schema/kubernetes-json-schema/v1.37.0-local-strict/_definitions.json.
//
// The output keeps only what validation needs, for every definition reachable from
// io.k8s.api.core.v1.PodTemplateSpec: the properties and their types, the required fields and
// enums where the source has them. A type is one of
//   "string" | "boolean" | "int32" | "int64" | "integer" | "number"
//   | "int-or-string" | "quantity" | "object" (any mapping)
//   | {"enum": [...]} | {"list": TYPE} | {"map": TYPE} | {"ref": DEFINITION}
// where a DEFINITION has "properties" (a closed set: any other field is unknown) and maybe
// "required". Keys are sorted and each definition is one line, so a refresh reads as a diff.

import { readFileSync } from "node:fs";

const ROOT = "io.k8s.api.core.v1.PodTemplateSpec";
const input = process.argv[2] ?? "tests/schema/kubernetes-json-schema/v1.37.0-local-strict/_definitions.json";
const defs = JSON.parse(readFileSync(input, "utf8")).$defs;

const fail = (what) => {
  console.error(`error: ${what}`);
  process.exit(1);
};

/** The JSON Schema `type` without "null": every optional Kubernetes field may be null. */
function baseType(schema) {
  const types = [schema.type ?? []].flat().filter((t) => t !== "null");
  return types.length === 1 ? types[0] : null;
}

/** The name a `$ref` points at. */
const refName = (ref) => ref.slice(ref.lastIndexOf("/") + 1);

const reachable = new Set();

/** The compact type of a schema; definitions it refers to are queued. */
function compact(schema, where) {
  if (schema.$ref) {
    const name = refName(schema.$ref);
    const def = defs[name];
    if (!def) fail(`${where}: no definition ${name}`);
    // Definitions without properties (Time, IntOrString, Quantity, FieldsV1...) are inlined.
    if (def.properties) {
      reachable.add(name);
      return { ref: name };
    }
    return compact(def, name);
  }
  if (schema.oneOf) {
    const kinds = schema.oneOf.map(baseType).sort().join(",");
    if (kinds === "integer,string") return "int-or-string";
    if (kinds === "number,string") return "quantity";
    fail(`${where}: an unknown oneOf (${kinds})`);
  }
  if (Array.isArray(schema.enum)) return { enum: schema.enum.filter((v) => v !== null).sort() };
  const type = baseType(schema);
  switch (type) {
    case "string":
    case "boolean":
      return type;
    case "integer":
      return schema.format === "int32" || schema.format === "int64" ? schema.format : "integer";
    case "number":
      return "number";
    case "array":
      if (!schema.items) fail(`${where}: a list without items`);
      return { list: compact(schema.items, `${where}[]`) };
    case "object":
      if (schema.properties) fail(`${where}: an inline object with properties`);
      if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
        return { map: compact(schema.additionalProperties, `${where}{}`) };
      }
      return "object";
    default:
      fail(`${where}: an unknown type ${JSON.stringify(schema.type)}`);
  }
}

const out = {};
reachable.add(ROOT);
const done = new Set();
for (let queue = [ROOT]; queue.length > 0; queue = [...reachable].filter((n) => !done.has(n))) {
  for (const name of queue) {
    done.add(name);
    const def = defs[name];
    const properties = {};
    for (const key of Object.keys(def.properties).sort()) {
      properties[key] = compact(def.properties[key], `${name}.${key}`);
    }
    const entry = { properties };
    if (Array.isArray(def.required) && def.required.length > 0) entry.required = [...def.required].sort();
    out[name] = entry;
  }
}

/** JSON with sorted keys at every level. */
function sorted(value) {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted(value[k])]));
  }
  return value;
}

const names = Object.keys(out).sort();
const lines = names.map((n, i) => `${JSON.stringify(n)}:${JSON.stringify(sorted(out[n]))}${i + 1 < names.length ? "," : ""}`);
process.stdout.write(`{"root":${JSON.stringify(ROOT)},"definitions":{\n${lines.join("\n")}\n}}\n`);
