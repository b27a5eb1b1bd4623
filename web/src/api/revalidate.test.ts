import { beforeEach, describe, expect, it, vi } from "vitest";
import { KEPT_URLS, forgetAnswers, revalidating } from "./revalidate";

function tagged(body: string, tag: string): Response {
  return new Response(body, { status: 200, headers: { ETag: tag, "Content-Type": "application/json" } });
}

describe("conditional GETs", () => {
  beforeEach(() => forgetAnswers());

  it("sends the last tag back and turns a 304 into the kept answer", async () => {
    const sent: (string | null)[] = [];
    const inner = vi.fn(async (request: Request) => {
      sent.push(request.headers.get("If-None-Match"));
      return sent.length === 1 ? tagged('{"n":1}', '"t1"') : new Response(null, { status: 304, headers: { ETag: '"t1"' } });
    });
    const fetch = revalidating(inner);
    const first = await fetch(new Request("http://api/api/v1/stats"));
    expect(await first.json()).toEqual({ n: 1 });
    const second = await fetch(new Request("http://api/api/v1/stats"));
    expect(second.status).toBe(200);
    expect(await second.json()).toEqual({ n: 1 });
    expect(sent).toEqual([null, '"t1"']);
  });

  it("keeps the newer body when the answer changed, and forgets everything on sign-out", async () => {
    const bodies = [tagged('{"n":1}', '"t1"'), tagged('{"n":2}', '"t2"')];
    const seen: (string | null)[] = [];
    const fetch = revalidating(async (request) => {
      seen.push(request.headers.get("If-None-Match"));
      return bodies.shift() ?? new Response(null, { status: 304 });
    });
    await fetch(new Request("http://api/x"));
    expect(await (await fetch(new Request("http://api/x"))).json()).toEqual({ n: 2 });
    forgetAnswers();
    await fetch(new Request("http://api/x"));
    expect(seen).toEqual([null, '"t1"', null]);
  });

  it("leaves other methods alone and remembers a bounded number of URLs", async () => {
    const inner = vi.fn(async (request: Request) => tagged("{}", `"${request.url}"`));
    const fetch = revalidating(inner);
    const post = new Request("http://api/y", { method: "POST", body: "{}" });
    await fetch(post);
    expect(post.headers.get("If-None-Match")).toBeNull();
    for (let n = 0; n <= KEPT_URLS; n += 1) {
      await fetch(new Request(`http://api/page/${n}`));
    }
    const oldest = new Request("http://api/page/0");
    await fetch(oldest);
    expect(oldest.headers.get("If-None-Match")).toBeNull(); // forgotten: the newest were kept
    const recent = new Request(`http://api/page/${KEPT_URLS}`);
    await fetch(recent);
    expect(recent.headers.get("If-None-Match")).toBe(`"http://api/page/${KEPT_URLS}"`);
  });
});
