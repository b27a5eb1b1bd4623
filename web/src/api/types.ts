// Names for the generated OpenAPI types (src/api/schema.d.ts, `npm run generate`): nothing
// here is written by hand but the aliases.
import type { components, paths } from "./schema";

export type { paths };
export type Schemas = components["schemas"];

export type Tokens = Schemas["Tokens"];
export type Me = Schemas["Me"];
export type Role = Schemas["Role"];
export type Severity = Schemas["Severity"];
export type Level = Schemas["Level"];
export type IncidentPhase = Schemas["IncidentPhase"];
export type IncidentSummary = Schemas["IncidentSummary"];
export type IncidentDetail = Schemas["IncidentDetail"];
export type Accepted = Schemas["Accepted"];
export type FoundLog = Schemas["FoundLog"];
export type LogPage = Schemas["LogPage"];
export type Stats = Schemas["Stats"];
export type StatsPoint = Schemas["Point"];
export type Readiness = Schemas["Readiness"];
export type IncidentCounts = Schemas["IncidentCounts"];
export type PipelineReport = Schemas["PipelineReport"];
export type Remediation = Schemas["Remediation"];
export type LogContext = Schemas["LogContext"];
export type DetectionRule = Schemas["DetectionRule-Output"];
export type Playbook = Schemas["Playbook"];
export type RuleSpecInput = Schemas["DetectionRuleSpec-Input"];
export type PlaybookSpecInput = Schemas["PlaybookSpec-Input"];
export type RuleManifestInput = Schemas["DetectionRule-Input"];
export type BacktestResult = Schemas["BacktestResponse"];
export type BacktestIncident = Schemas["BacktestIncident"];
export type User = Schemas["User"];
export type UserChange = Schemas["UserChange"];
export type ApiKeyInfo = Schemas["ApiKeyInfo"];
export type CreatedApiKey = Schemas["CreatedApiKey"];

export type IncidentFilters = NonNullable<
  paths["/api/v1/incidents"]["get"]["parameters"]["query"]
>;
export type LogFilters = NonNullable<paths["/api/v1/logs"]["get"]["parameters"]["query"]>;

// The enumerations, checked against the generated unions: adding a value to the API makes
// `satisfies` fail here until the UI knows it.
export const SEVERITIES = ["critical", "high", "medium", "low", "info"] as const satisfies readonly Severity[];
export const PHASES = [
  "Open",
  "AwaitingApproval",
  "Remediating",
  "Mitigated",
  "Resolved",
  "Escalated",
] as const satisfies readonly IncidentPhase[];
export const LEVELS = [
  "trace",
  "debug",
  "info",
  "warn",
  "error",
  "fatal",
  "unknown",
] as const satisfies readonly Level[];
export const ROLES = ["viewer", "operator", "admin"] as const satisfies readonly Role[];
