// Conditional GETs for polling: the API tags its read answers (ETag) and answers 304 with no
// body when the tag sent back in If-None-Match still holds. The API forbids the browser's cache
// (Cache-Control: no-store, the data is private), so the last body of each URL is kept here, in
// memory only, and a 304 is turned back into that answer for the caller.

type Fetch = (request: Request) => Promise<Response>;

interface Kept {
  tag: string;
  body: string;
  headers: Headers;
}

/** How many URLs are remembered; the oldest is forgotten first. */
export const KEPT_URLS = 64;

const kept = new Map<string, Kept>();

/** Forget every kept answer (signing out). */
export function forgetAnswers(): void {
  kept.clear();
}

/** `fetch` with conditional GETs: sends the last ETag of the URL and answers a 304 with the
 * body it stands for. Other methods and untagged answers pass through. */
export function revalidating(fetch: Fetch): Fetch {
  return async (request) => {
    if (request.method !== "GET") {
      return fetch(request);
    }
    const known = kept.get(request.url);
    if (known) {
      request.headers.set("If-None-Match", known.tag);
    }
    const response = await fetch(request);
    if (response.status === 304 && known) {
      kept.delete(request.url); // most recently used goes last
      kept.set(request.url, known);
      return new Response(known.body, { status: 200, headers: known.headers });
    }
    const tag = response.headers.get("ETag");
    if (response.ok && tag) {
      const body = await response.clone().text();
      kept.delete(request.url);
      kept.set(request.url, { tag, body, headers: new Headers(response.headers) });
      while (kept.size > KEPT_URLS) {
        const oldest = kept.keys().next().value;
        if (oldest === undefined) break;
        kept.delete(oldest);
      }
    }
    return response;
  };
}
