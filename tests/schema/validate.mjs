// Validates Kubernetes, Istio and Gateway API manifests against the upstream schemas, as packaged
// by the npm packages `kubernetes-models` (Kubernetes' OpenAPI schemas), `@kubernetes-models/istio`
// (Istio's CRD schemas, networking.istio.io/v1 included) and `@kubernetes-models/gateway-api`
// (the Gateway API's CRD schemas, gateway.networking.k8s.io/v1), versions pinned in
// package-lock.json.
//
//   node tests/schema/validate.mjs FILE...
//
// Every YAML document of every file is read as Kubernetes reads it (YAML 1.1, so a plain `yes`
// is a boolean and fails where a string is expected; duplicate keys are errors), its model is
// chosen by `apiVersion` and `kind`, and the model's `validate()` checks it. A document with no
// upstream schema is an error, not a pass; kustomize's own `Kustomization` is not a Kubernetes
// object and is skipped.
//
// Prints `ok FILE #N APIVERSION KIND NAME` for each valid document and `skip FILE #N ...` for a
// Kustomization on stdout, and `error: FILE #N ...: WHAT` for each problem on stderr. Exit code:
// 0 when every document is valid, 1 when any is not, 2 on a usage error.

import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate.mjs FILE...");
  process.exit(2);
}

let failed = false;
const fail = (where, what) => {
  failed = true;
  console.error(`error: ${where}: ${what}`);
};

/** The module of the model for `apiVersion`/`kind`, or null when the names cannot be one. */
function modelModule(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  if (!/^[A-Z][A-Za-z0-9]*$/.test(kind)) return null;
  const m = /^(?:([a-z0-9]([a-z0-9.-]*[a-z0-9])?)\/)?(v[0-9]+(?:(?:alpha|beta)[0-9]+)?)$/.exec(apiVersion);
  if (!m) return null;
  const [, group, , version] = m;
  if (group === undefined) return `kubernetes-models/${version}/${kind}`;
  if (group === "istio.io" || group.endsWith(".istio.io")) return `@kubernetes-models/istio/${group}/${version}/${kind}`;
  if (group === "gateway.networking.k8s.io") return `@kubernetes-models/gateway-api/${group}/${version}/${kind}`;
  return `kubernetes-models/${group}/${version}/${kind}`;
}

async function loadModel(apiVersion, kind) {
  const path = modelModule(apiVersion, kind);
  if (path === null) return null;
  try {
    return (await import(path))[kind] ?? null;
  } catch (e) {
    if (e.code === "ERR_PACKAGE_PATH_NOT_EXPORTED" || e.code === "ERR_MODULE_NOT_FOUND") return null;
    throw e;
  }
}

/** ajv's errors as one line each: `/spec/replicas must be integer (type: integer)`. */
function describe(err) {
  const list = Array.isArray(err.errors) && err.errors.length > 0 ? err.errors : null;
  if (!list) return [String(err.message ?? err)];
  return list.map((e) => {
    const params = Object.entries(e.params ?? {})
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join(", ");
    return `${e.instancePath || "/"} ${e.message}${params ? ` (${params})` : ""}`;
  });
}

for (const file of files) {
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    fail(file, `cannot read the file: ${e.message}`);
    continue;
  }
  const docs = parseAllDocuments(text, { version: "1.1", uniqueKeys: true, prettyErrors: true });
  if (!Array.isArray(docs)) {
    fail(file, "not a YAML stream");
    continue;
  }
  let n = 0;
  for (const doc of docs) {
    n += 1;
    const at = `${file} #${n}`;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) fail(at, `invalid YAML: ${e.message.split("\n")[0].replace(/:$/, "")}`);
      continue;
    }
    const obj = doc.toJS({ maxAliasCount: 100 });
    if (obj === null || obj === undefined) continue; // an empty document, as after a leading `---`
    if (typeof obj !== "object" || Array.isArray(obj)) {
      fail(at, "the document is not a mapping");
      continue;
    }
    const { apiVersion, kind } = obj;
    const name = obj.metadata?.name;
    const what = `${apiVersion} ${kind} ${name}`;
    if (typeof apiVersion === "string" && apiVersion.startsWith("kustomize.config.k8s.io/") && kind === "Kustomization") {
      console.log(`skip ${at} ${what}: not a Kubernetes object`);
      continue;
    }
    const Model = await loadModel(apiVersion, kind);
    if (Model === null) {
      fail(at, `no upstream schema for apiVersion ${JSON.stringify(apiVersion)}, kind ${JSON.stringify(kind)}`);
      continue;
    }
    let ok = true;
    // The API server needs a name; the schemas leave metadata optional.
    if (typeof name !== "string" || name === "") {
      fail(`${at} (${what})`, "/metadata/name is required");
      ok = false;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      for (const line of describe(e)) fail(`${at} (${what})`, line);
      ok = false;
    }
    if (ok) console.log(`ok ${at} ${what}`);
  }
}
process.exit(failed ? 1 : 0);
