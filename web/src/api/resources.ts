// Writing rules and playbooks, and backtesting rules. The bodies are what a person typed (YAML
// read into plain values): the API validates them, and its refusals come back as a Refusal.
import { api } from "./client";
import { unwrap } from "./errors";
import type {
  BacktestResult,
  DetectionRule,
  Playbook,
  PlaybookSpecInput,
  RuleManifestInput,
  RuleSpecInput,
} from "./types";
import type { Refusal } from "./validation";
import { refusalOf } from "./validation";

export type ResourceKind = "rules" | "playbooks";
export type Manifest = DetectionRule | Playbook;
export type Spec = Record<string, unknown>;

export type Outcome<T> = { ok: true; data: T; created: boolean } | { ok: false; refusal: Refusal };

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

function outcomeOf<T>(answer: Answer<T>, request: "put" | "backtest"): Outcome<T> {
  if (answer.response.ok && answer.data !== undefined) {
    return { ok: true, data: answer.data, created: answer.response.status === 201 };
  }
  return { ok: false, refusal: refusalOf(answer.error, answer.response, request) };
}

/** Create or replace namespace/name with `spec` (PUT: the body is the spec). */
export async function putManifest(
  kind: ResourceKind,
  namespace: string,
  name: string,
  spec: Spec,
): Promise<Outcome<Manifest>> {
  const params = { path: { namespace, name } };
  // The casts hand unchecked input to the API on purpose: validating it is the API's job, and
  // its 422 says what is wrong field by field.
  const answer: Answer<Manifest> =
    kind === "rules"
      ? await api.PUT("/api/v1/rules/{namespace}/{name}", { params, body: spec as unknown as RuleSpecInput })
      : await api.PUT("/api/v1/playbooks/{namespace}/{name}", { params, body: spec as unknown as PlaybookSpecInput });
  return outcomeOf(answer, "put");
}

export async function deleteManifest(kind: ResourceKind, namespace: string, name: string): Promise<void> {
  const params = { path: { namespace, name } };
  if (kind === "rules") {
    unwrap(await api.DELETE("/api/v1/rules/{namespace}/{name}", { params }));
  } else {
    unwrap(await api.DELETE("/api/v1/playbooks/{namespace}/{name}", { params }));
  }
}

/** The DetectionRule manifest a backtest replays (the document `kubectl apply` takes). */
export function ruleManifest(namespace: string, name: string, spec: Spec): RuleManifestInput {
  return {
    apiVersion: "logsentinel.io/v1alpha1",
    kind: "DetectionRule",
    metadata: { namespace, name },
    spec: spec as unknown as RuleSpecInput,
  };
}

/** The incidents `rule` would have opened over the stored logs of the last `hours`. */
export async function backtestRule(rule: RuleManifestInput, hours: number, now = new Date()): Promise<Outcome<BacktestResult>> {
  const from = new Date(now.getTime() - hours * 3_600_000).toISOString();
  const answer = await api.POST("/api/v1/rules/backtest", { body: { rule, from } });
  return outcomeOf(answer, "backtest");
}
