import { useCallback, useEffect, useRef, useState } from "react";
import { messageOf } from "../api/errors";

export const POLL_MS = 15_000;

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
  updatedAt: Date | undefined;
  reload: () => void;
}

/** Runs `load` now and whenever `key` changes, and every `intervalMs` (none when null) while
 * the page is visible. Data stays on screen while the next answer is awaited (no flicker, no
 * full reload); answers to an older key are dropped. */
export function usePolling<T>(
  load: () => Promise<T>,
  key: string,
  intervalMs: number | null = POLL_MS,
): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(true);
  const [updatedAt, setUpdatedAt] = useState<Date>();
  const [round, setRound] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const keyRef = useRef(key);

  useEffect(() => {
    if (keyRef.current !== key) {
      keyRef.current = key;
      setData(undefined); // another question: do not show the old answer as this one's
    }
    let cancelled = false;
    let inFlight = false;
    const run = async () => {
      if (inFlight) {
        return;
      }
      inFlight = true;
      setLoading(true);
      try {
        const result = await loadRef.current();
        if (!cancelled) {
          setData(result);
          setError(undefined);
          setUpdatedAt(new Date());
        }
      } catch (failure) {
        if (!cancelled) {
          setError(messageOf(failure));
        }
      } finally {
        inFlight = false;
        if (!cancelled) {
          setLoading(false);
        }
      }
    };
    void run();
    if (intervalMs === null) {
      return () => {
        cancelled = true;
      };
    }
    const timer = window.setInterval(() => {
      if (!document.hidden) {
        void run();
      }
    }, intervalMs);
    return () => {
      cancelled = true;
      window.clearInterval(timer);
    };
  }, [key, intervalMs, round]);

  const reload = useCallback(() => setRound((n) => n + 1), []);
  return { data, error, loading, updatedAt, reload };
}
