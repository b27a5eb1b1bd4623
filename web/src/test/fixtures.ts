import type { IncidentDetail, Me, Tokens } from "../api/types";

export const TOKENS: Tokens = {
  access_token: "access-1",
  refresh_token: "refresh-1",
  token_type: "bearer",
  expires_in: 900,
};

export function me(role: Me["role"], identity = "alice"): Me {
  return { identity, role, via: "token" };
}

export function incident(overrides: Partial<IncidentDetail> = {}): IncidentDetail {
  return {
    name: "checkout-errorburst-1",
    namespace: "shop",
    rule: "shop/errors",
    service: "checkout",
    incident_type: "ErrorBurst",
    severity: "high",
    phase: "Open",
    summary: "Error burst in checkout",
    first_seen: "2025-01-01T10:00:00Z",
    last_seen: "2025-01-01T10:05:00Z",
    occurrences: 3,
    target: { kind: "Deployment", namespace: "shop", name: "checkout" },
    opened_at: "2025-01-01T10:00:05Z",
    resolved_at: null,
    resolution: "",
    fingerprint: "abc123",
    evidence: {
      samples: [
        {
          timestamp: "2025-01-01T10:00:01Z",
          level: "error",
          pod: "checkout-7d9f",
          message: "payment failed: <script>alert(1)</script>",
        },
      ],
      templateIds: ["t-42"],
      offsets: [{ topic: "logs", partition: 2, firstOffset: 10, lastOffset: 20 }],
      window: {
        start: "2025-01-01T09:59:00Z",
        end: "2025-01-01T10:00:00Z",
        statistic: "count",
        value: 12,
        threshold: 5,
        matched: 12,
        total: 40,
      },
    },
    timeline: [{ at: "2025-01-01T10:00:05Z", kind: "opened", actor: "processor", detail: {} }],
    actions: [],
    ...overrides,
  };
}
