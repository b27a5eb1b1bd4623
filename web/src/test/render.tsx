import { render } from "@testing-library/react";
import { App } from "../App";
import type { Role } from "../api/types";
import { storeTokens } from "../auth/session";
import type { Call, Handler, Reply } from "./fetchMock";
import { json, mockFetch, notFound } from "./fetchMock";
import { TOKENS, me } from "./fixtures";

/** The app at `hash`, signed in (an access token in memory) as a user with `role`; requests
 * other than /auth/me go to `routes`. */
export function renderSignedIn(role: Role, hash: string, routes: Handler = notFound) {
  storeTokens(TOKENS);
  window.location.hash = hash;
  const mocked = mockFetch((call: Call): Reply | Promise<Reply> =>
    call.path === "/api/v1/auth/me" ? json(me(role)) : routes(call),
  );
  const rendered = render(<App />);
  return { ...rendered, ...mocked };
}
