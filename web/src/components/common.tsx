import { useEffect, useRef } from "react";
import type { ReactNode } from "react";
import type { IncidentPhase, Severity } from "../api/types";
import { formatClock, formatDateTime, phaseLabel } from "../lib/format";

/** Whether the person has pressed a key or a pointer in this document yet. */
let interacted = false;
for (const type of ["keydown", "pointerdown"] as const) {
  window.addEventListener(type, () => (interacted = true), { capture: true, once: true });
}

/** The page's heading; focused when a page opens after the person did something (signed in,
 * followed a link, filtered) so screen readers announce it. The page shown as the document
 * loads leaves the focus at the top, where the first Tab reaches the skip link. */
export function PageTitle({ children }: { children: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (interacted) ref.current?.focus();
  }, []);
  return (
    <h1 ref={ref} tabIndex={-1} className="page-title">
      {children}
    </h1>
  );
}

export function ErrorNotice({ message }: { message: string | undefined }) {
  if (!message) {
    return null;
  }
  return (
    <p className="notice notice-error" role="alert">
      {message}
    </p>
  );
}

export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) {
    return <span>—</span>;
  }
  return <time dateTime={iso}>{formatDateTime(iso)}</time>;
}

export function SeverityBadge({ severity }: { severity: Severity }) {
  return <span className={`badge severity-${severity}`}>{severity}</span>;
}

export function PhaseBadge({ phase }: { phase: IncidentPhase }) {
  return <span className={`badge phase phase-${phase}`}>{phaseLabel(phase)}</span>;
}

/** Log text: always a text node (React escapes it), never markup. */
export function LogText({ text, className = "" }: { text: string; className?: string }) {
  return <code className={`log-text ${className}`.trim()}>{text}</code>;
}

/** A table that scrolls sideways on narrow screens and can be scrolled by keyboard. */
export function TableScroll({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-scroll" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}

export function UpdatedAt({ at, loading }: { at: Date | undefined; loading: boolean }) {
  return (
    <p className="updated" aria-live="polite">
      {loading && !at ? "Loading…" : at ? `Updated ${formatClock(at)}` : ""}
    </p>
  );
}
