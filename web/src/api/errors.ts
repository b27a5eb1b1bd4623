/** An answer other than 2xx, with the API's own words for what went wrong. */
export class ApiError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

interface FieldProblem {
  loc?: unknown[];
  msg?: unknown;
}

/** A sentence from an error body: `{"detail": "..."}`, FastAPI's 422 list (`loc`, `msg`), or
 * ingest's `{"detail": {"message": ...}}`; the status when the body says nothing. */
export function describeError(body: unknown, response?: Response): string {
  const status = response?.status;
  let text = "";
  const detail = (body as { detail?: unknown } | null | undefined)?.detail;
  if (typeof detail === "string") {
    text = detail;
  } else if (Array.isArray(detail)) {
    text = (detail as FieldProblem[])
      .map((problem) => {
        const where = (problem.loc ?? []).filter((part) => part !== "query" && part !== "body");
        const message = typeof problem.msg === "string" ? problem.msg : "is not valid";
        return where.length ? `${where.join(".")}: ${message}` : message;
      })
      .join("; ");
  } else if (detail && typeof detail === "object" && "message" in detail) {
    text = String((detail as { message: unknown }).message);
  }
  if (!text) {
    text = status ? `the server answered ${status}` : "the request failed";
  }
  const retry = response?.headers.get("retry-after");
  if (retry && (status === 429 || status === 503)) {
    text += ` (retry in ${retry} s)`;
  }
  return text;
}

/** The data of an openapi-fetch answer, or an ApiError. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.ok && result.data !== undefined) {
    return result.data;
  }
  if (result.response.ok) {
    // 2xx without a body the client could parse (204): nothing to give back
    return undefined as T;
  }
  throw new ApiError(result.response.status, describeError(result.error, result.response));
}

/** A message for anything a request can throw: an ApiError, or a network failure. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) {
    return error.message;
  }
  if (error instanceof TypeError) {
    return "The API could not be reached; check the connection.";
  }
  return error instanceof Error ? error.message : String(error);
}
