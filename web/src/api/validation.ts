// The API's refusals of a manifest, as problems of the fields a person edits. A 422 is
// FastAPI's list of pydantic errors ({loc, msg, type, ctx}); any other error is one sentence.
import type { FieldPath } from "../lib/yamlSource";
import { describeError } from "./errors";

export interface FieldProblem {
  /** Where in the manifest: ["spec", "detector", "threshold", "window"], ["metadata", "name"]. */
  path: FieldPath;
  message: string;
}

export type Refusal = { fields: FieldProblem[] } | { message: string };

/** Which request sent the manifest: a PUT's body is the spec and its URL names the object;
 * a backtest's body holds the whole manifest as `rule`. */
export type ManifestRequest = "put" | "backtest";

interface PydanticError {
  loc?: unknown;
  msg?: unknown;
  type?: unknown;
  ctx?: unknown;
}

function manifestPath(loc: FieldPath, request: ManifestRequest): FieldPath {
  const [where, ...rest] = loc;
  if (where === "path") {
    return ["metadata", ...rest];
  }
  if (where !== "body") {
    return loc;
  }
  if (request === "put") {
    return ["spec", ...rest];
  }
  return rest[0] === "rule" ? rest.slice(1) : rest;
}

/** The field a model-level check names: the domain's `field_error` reports the model's own
 * location and carries the field in its context (logsentinel.domain.base.field_error). */
function namedField(problem: PydanticError): string[] {
  const field = (problem.ctx as { field?: unknown } | undefined)?.field;
  return problem.type === "field_error" && typeof field === "string" && field ? field.split(".") : [];
}

function isPathPart(part: unknown): part is string | number {
  return typeof part === "string" || typeof part === "number";
}

/** The problems of a 422 body, or null when it is not FastAPI's list. */
export function fieldProblems(body: unknown, request: ManifestRequest): FieldProblem[] | null {
  const detail = (body as { detail?: unknown } | null | undefined)?.detail;
  if (!Array.isArray(detail)) {
    return null;
  }
  return (detail as PydanticError[]).map((problem) => {
    const loc = Array.isArray(problem.loc) ? problem.loc.filter(isPathPart) : [];
    const message = typeof problem.msg === "string" ? problem.msg : "is not valid";
    return {
      path: [...manifestPath(loc, request), ...namedField(problem)],
      // pydantic prefixes what a validator raised with the exception's kind
      message: message.replace(/^(Value|Assertion) error, /, ""),
    };
  });
}

/** What a refused request says: field problems for a 422, else the API's sentence. */
export function refusalOf(body: unknown, response: Response, request: ManifestRequest): Refusal {
  const fields = response.status === 422 ? fieldProblems(body, request) : null;
  return fields?.length ? { fields } : { message: describeError(body, response) };
}

/** "spec.match.fields[0].field" */
export function formatPath(path: FieldPath): string {
  return path.reduce<string>(
    (text, part) => (typeof part === "number" ? `${text}[${part}]` : text ? `${text}.${part}` : part),
    "",
  );
}
