import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";
import { anonymousApi, api } from "../api/client";
import { describeError, messageOf, unwrap } from "../api/errors";
import { forgetAnswers } from "../api/revalidate";
import type { Me, Role } from "../api/types";
import {
  clearTokens,
  getAccessToken,
  getRefreshToken,
  onSessionEnded,
  refreshTokens,
  storeTokens,
} from "./session";

export type AuthState =
  | { status: "loading" }
  | { status: "anonymous"; notice?: string }
  | { status: "authenticated"; me: Me };

export interface AuthContextValue {
  state: AuthState;
  /** null when signed in, else why not. */
  login: (username: string, password: string) => Promise<string | null>;
  logout: () => void;
}

const AuthContext = createContext<AuthContextValue | null>(null);

async function whoAmI(): Promise<Me> {
  return unwrap(await api.GET("/api/v1/auth/me"));
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>(() =>
    getAccessToken() || getRefreshToken() ? { status: "loading" } : { status: "anonymous" },
  );

  // A reload keeps only the refresh token: exchange it, then ask who we are.
  useEffect(() => {
    if (state.status !== "loading") {
      return;
    }
    let cancelled = false;
    (async () => {
      try {
        if (getAccessToken() === null) {
          const outcome = await refreshTokens();
          if (outcome !== "refreshed") {
            if (!cancelled) {
              setState({
                status: "anonymous",
                notice: outcome === "unreachable" ? "The API could not be reached." : undefined,
              });
            }
            return;
          }
        }
        const me = await whoAmI();
        if (!cancelled) {
          setState({ status: "authenticated", me });
        }
      } catch (error) {
        if (!cancelled) {
          setState({ status: "anonymous", notice: messageOf(error) });
        }
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [state.status]);

  useEffect(
    () =>
      onSessionEnded(() => {
        forgetAnswers();
        setState({ status: "anonymous", notice: "Your session has ended. Please sign in again." });
      }),
    [],
  );

  const login = useCallback(async (username: string, password: string) => {
    try {
      const result = await anonymousApi.POST("/api/v1/auth/login", {
        body: { username, password },
      });
      if (!result.response.ok || !result.data) {
        return describeError(result.error, result.response);
      }
      storeTokens(result.data);
      const me = await whoAmI();
      setState({ status: "authenticated", me });
      return null;
    } catch (error) {
      clearTokens();
      return messageOf(error);
    }
  }, []);

  const logout = useCallback(() => {
    const refresh = getRefreshToken();
    clearTokens();
    forgetAnswers();
    setState({ status: "anonymous", notice: "You have signed out." });
    if (refresh) {
      // The API revokes the refresh token; the short-lived access token is already forgotten.
      // Signing out does not wait for it: a failure leaves a token that expires by itself.
      void anonymousApi.POST("/api/v1/auth/logout", { body: { refresh_token: refresh } }).catch(() => undefined);
    }
  }, []);

  const value = useMemo(() => ({ state, login, logout }), [state, login, logout]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthContextValue {
  const value = useContext(AuthContext);
  if (value === null) {
    throw new Error("useAuth outside AuthProvider");
  }
  return value;
}

/** The signed-in user's role (null for a principal without one). */
export function useRole(): Role | null {
  const { state } = useAuth();
  return state.status === "authenticated" ? state.me.role ?? null : null;
}
