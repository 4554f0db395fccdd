// schema.mjs: the JSON Schema 2020-12 validator both scripts use for openapi.yaml's
// schemas (OpenAPI 3.1 schemas are 2020-12 plus a few OpenAPI keywords).
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

export function makeAjv() {
  const ajv = new Ajv2020({
    strict: true, // unknown keywords and formats are errors: catches typos in the spec
    strictTypes: false, // allOf wrappers carry "properties" without "type: object"
    strictRequired: false, // "not: {required: [a, b]}" names members defined elsewhere
    allowUnionTypes: true, // type: [integer, string]
    allErrors: true,
    validateFormats: true,
  });
  addFormats(ajv); // includes OpenAPI's int32, int64, float, double, byte, binary
  // OpenAPI's own schema keywords: annotations only.
  ajv.addVocabulary(["example", "discriminator", "xml", "externalDocs"]);
  return ajv;
}

// Short text for ajv errors.
export function describeErrors(errors) {
  return (errors ?? [])
    .slice(0, 5)
    .map((e) => `${e.instancePath || "/"} ${e.message}${e.params ? " " + JSON.stringify(e.params) : ""}`)
    .join("; ");
}
