// The embeddable widget and the iframe embed (docs/embedding.md): two <virt-lab> elements on one
// page boot independently, each in its own Worker, and each element's `vm` (the automation API)
// drives its own machine; the iframe's postMessage API answers an allowed origin (the same one, and
// a real cross-origin page) and ignores a page on another real origin and malformed messages.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { expect, test, type Page, type TestInfo } from "@playwright/test";
import type { VirtLabElement } from "../src/ui/widget.ts";
import { watchPageErrors } from "./page.ts";

async function shot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: "image/png" });
}

/**
 * Open the examples page and wait until both autostarted widgets have run their self-tests to the
 * end; the page's errors, and a reader of a widget's console.
 */
async function openExamples(
  page: Page,
): Promise<{ errors: string[]; text: (id: string) => Promise<string> }> {
  const errors = watchPageErrors(page);
  await page.goto("/examples/");
  const text = (id: string) =>
    page.evaluate((i) => document.querySelector<VirtLabElement>(`#${i}`)!.serialText(), id);
  await expect.poll(() => text("vm-bt"), { timeout: 45_000 }).toContain("ALL PASS");
  await expect.poll(() => text("vm-hw"), { timeout: 45_000 }).toContain("ALL PASS");
  return { errors, text };
}

test("two widgets on one page boot independently", async ({ page }, testInfo) => {
  const { errors } = await openExamples(page);
  const modes = await page.evaluate(async () => {
    const bt = await document.querySelector<VirtLabElement>("#vm-bt")!.stats();
    const hw = await document.querySelector<VirtLabElement>("#vm-hw")!.stats();
    return [bt.machine?.mode, hw.machine?.mode, bt.machine?.bt ? 1 : 0, hw.machine?.vmx ? 1 : 0];
  });
  expect(modes).toEqual(["bt", "hw", 1, 1]);
  // Isolated: pausing one leaves the other alone.
  await page.evaluate(() => document.querySelector<VirtLabElement>("#vm-bt")!.pause());
  await expect
    .poll(() => page.evaluate(() => document.querySelector<VirtLabElement>("#vm-bt")!.state))
    .toBe("paused");
  expect(await page.evaluate(() => document.querySelector<VirtLabElement>("#vm-hw")!.state)).toBe("halted");
  // Each has its own counters panel inside its shadow DOM.
  const tiles = await page.evaluate(() =>
    ["#vm-bt", "#vm-hw"].map(
      (s) =>
        document.querySelector(s)!.shadowRoot!.querySelector('[data-tile="mode"] .tile-value')?.textContent,
    ),
  );
  expect(tiles).toEqual(["bt", "hw"]);
  await shot(page, testInfo, "two-widgets");
  expect(errors).toEqual([]);
});

test("each widget's element.vm drives its own machine through the automation API", async ({ page }) => {
  const { errors, text } = await openExamples(page);
  const hwBefore = await page.evaluate(async () => {
    const el = document.querySelector<VirtLabElement>("#vm-hw")!;
    const s = await el.stats();
    return { text: el.serialText(), state: el.state, mode: s.machine?.mode, insns: s.machine?.instructions };
  });
  expect(hwBefore.mode).toBe("hw");
  expect(hwBefore.state).toBe("halted");

  // Drive the left widget's machine through its own VirtLabVM.
  const driven = await page.evaluate(async () => {
    const vm = document.querySelector<VirtLabElement>("#vm-bt")!.vm;
    const boot = await vm.boot("testkernel", { mode: "bt", waitForReady: false });
    const match = await vm.waitFor("ALL PASS", { from: 0, timeoutMs: 40_000 });
    const s = await vm.stats();
    const st = await vm.state();
    return {
      boot,
      match: match.text,
      state: { image: st.image, mode: st.mode, instructions: st.instructions },
      mode: s.mode,
      instructions: s.instructions,
      callouts: Object.values(s.bt?.callouts ?? {}).reduce((a, b) => a + b, 0),
      translated: s.bt?.translatedInsns ?? 0,
      vmx: s.vmx !== undefined,
      passes: ((await vm.output()).match(/^PASS /gm) ?? []).length,
    };
  });
  expect(driven.boot).toMatchObject({ image: "testkernel", mode: "bt", deterministic: true });
  expect(driven.match).toBe("ALL PASS");
  expect(driven.state).toMatchObject({ image: "testkernel", mode: "bt" });
  expect(driven.mode).toBe("bt");
  expect(driven.instructions).toBeGreaterThan(50_000);
  expect(driven.callouts).toBeGreaterThan(0);
  expect(driven.translated).toBeGreaterThan(0);
  expect(driven.vmx).toBe(false);
  expect(driven.passes).toBeGreaterThanOrEqual(50);
  // The driven machine's output reaches that widget's own terminal text.
  expect(await text("vm-bt")).toMatch(/ALL PASS[\s\S]*ALL PASS/);

  // The other widget is unaffected: same output, still its own halted HW machine, and its own
  // automation session has no machine (a separate Worker).
  const hwAfter = await page.evaluate(async () => {
    const el = document.querySelector<VirtLabElement>("#vm-hw")!;
    const s = await el.stats();
    const vmState = await el.vm.state();
    const vmStats = await el.vm.stats().then(
      () => "has a machine",
      (e: { code?: string }) => e.code ?? String(e),
    );
    return {
      text: el.serialText(),
      state: el.state,
      mode: s.machine?.mode,
      bt: s.machine?.bt !== undefined,
      insns: s.machine?.instructions,
      vmState: { image: vmState.image, mode: vmState.mode, instructions: vmState.instructions },
      vmStats,
    };
  });
  expect(hwAfter.text).toBe(hwBefore.text);
  expect(hwAfter).toMatchObject({
    state: "halted",
    mode: "hw",
    bt: false,
    vmState: { image: null, mode: null, instructions: 0 },
    vmStats: "no-machine",
  });
  expect(hwAfter.insns).toBe(hwBefore.insns);
  expect(errors).toEqual([]);
});

test("the iframe API answers an allowed origin and ignores others", async ({ page, baseURL }, testInfo) => {
  // Allowed: the examples page's own origin is on the frame's allow-list.
  await page.goto("/examples/");
  const frame = page.frameLocator("#frame");
  await expect(frame.locator("virt-lab")).toHaveCount(1);
  const answer = await page.evaluate(() =>
    (
      window as unknown as { virtlabCall: (m: string) => Promise<{ ok: boolean; result: unknown }> }
    ).virtlabCall("state"),
  );
  expect(answer).toMatchObject({ ok: true, result: "idle" });
  await page.locator("#ask-start").click();
  await expect
    .poll(
      () =>
        page.evaluate(async () => {
          const r = await (
            window as unknown as { virtlabCall: (m: string) => Promise<{ result: string }> }
          ).virtlabCall("serialText");
          return r.result;
        }),
      { timeout: 45_000 },
    )
    .toContain("ALL PASS");
  // A malformed message from the allowed origin gets no answer; a good one still does.
  const afterJunk = await page.evaluate(async () => {
    const f = (document.getElementById("frame") as HTMLIFrameElement).contentWindow!;
    const got: unknown[] = [];
    window.addEventListener("message", (e) => got.push(e.data));
    f.postMessage({ virtlab: 1, id: "x1", method: "rm -rf" }, location.origin);
    f.postMessage("hello", location.origin);
    f.postMessage({ virtlab: 1, id: "x2", method: "send", args: [42] }, location.origin);
    await new Promise((r) => setTimeout(r, 1000));
    return got.filter((d) => (d as { id?: string }).id === "x1" || (d as { id?: string }).id === "x2").length;
  });
  expect(afterJunk).toBe(0);
  await shot(page, testInfo, "iframe-allowed");

  // Real cross-origin pages. The frame is served by the test server at 127.0.0.1:<port>. A second
  // HTTP server, started here, serves a course page that embeds it; the browser reaches that server
  // under two names, so its page has two real origins of its own: http://localhost:<course port>,
  // which the frame's allow-list names and which is answered, and http://127.0.0.1:<course port>,
  // which is not on the list and is ignored — with the very same frame URL.
  const frameOrigin = new URL(baseURL!).origin;
  let frameUrl = "";
  const course = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(hostPage(frameUrl, frameOrigin));
  });
  await new Promise<void>((resolve) => course.listen(0, "127.0.0.1", resolve));
  const coursePort = (course.address() as AddressInfo).port;
  const allowedOrigin = `http://localhost:${coursePort}`;
  const foreignOrigin = `http://127.0.0.1:${coursePort}`;
  frameUrl = `${frameOrigin}/embed.html?image=testkernel&panels=terminal&origins=${encodeURIComponent(allowedOrigin)}`;
  try {
    await crossOrigin(page, testInfo, frameOrigin, allowedOrigin, foreignOrigin);
  } finally {
    await new Promise((resolve) => course.close(resolve));
  }
});

/** A course page embedding the frame, recording the replies and events it gets from it. */
function hostPage(frameUrl: string, frameOrigin: string): string {
  return `<!doctype html><meta charset="utf-8"><title>course page</title>
<iframe id="f" src="${frameUrl}" style="width:900px;height:420px"></iframe>
<script>
  window.replies = [];
  window.events = [];
  addEventListener("message", (e) => {
    if (!e.data || e.data.virtlab !== 1) return;
    (e.data.event ? window.events : window.replies).push({ origin: e.origin, data: e.data });
  });
  window.ask = (id, method, args) =>
    document.getElementById("f").contentWindow.postMessage({ virtlab: 1, id, method, args }, "${frameOrigin}");
</script>`;
}

async function crossOrigin(
  page: Page,
  testInfo: TestInfo,
  frameOrigin: string,
  allowedOrigin: string,
  foreignOrigin: string,
): Promise<void> {
  type Msg = { origin: string; data: { id?: string; ok?: boolean; result?: unknown; event?: string } };
  type HostWindow = {
    replies: Msg[];
    events: Msg[];
    ask: (id: string, method: string, args?: unknown[]) => void;
  };
  /** Open the host page on `origin` and watch, inside the frame, which origins its messages come from. */
  const openHost = async (origin: string) => {
    await page.goto(`${origin}/course.html`);
    expect(await page.evaluate(() => location.origin)).toBe(origin);
    await expect(page.frameLocator("#f").locator("virt-lab")).toHaveCount(1);
    const frame = page.frames().find((f) => f.url().startsWith(`${frameOrigin}/embed.html`))!;
    expect(await frame.evaluate(() => location.origin)).toBe(frameOrigin);
    await frame.evaluate(() => {
      const w = window as unknown as { seen: string[] };
      w.seen = [];
      addEventListener("message", (e) => w.seen.push(e.origin));
    });
    return frame;
  };

  // The allowed origin, cross-origin: answered, and it can start the machine and read its output.
  let frame = await openHost(allowedOrigin);
  await page.evaluate(() => (window as unknown as HostWindow).ask("a1", "state"));
  await expect
    .poll(() => page.evaluate(() => (window as unknown as HostWindow).replies))
    .toEqual([{ origin: frameOrigin, data: { virtlab: 1, id: "a1", ok: true, result: "idle" } }]);
  await page.evaluate(() => (window as unknown as HostWindow).ask("a2", "start"));
  await expect
    .poll(
      async () => {
        await page.evaluate(() => (window as unknown as HostWindow).ask("a3", "serialText"));
        const r = await page.evaluate(() => (window as unknown as HostWindow).replies);
        return String(r.filter((m) => m.data.id === "a3").at(-1)?.data.result ?? "");
      },
      { timeout: 45_000, intervals: [1000] },
    )
    .toContain("ALL PASS");
  // Events go to the allowed origin too.
  const events = await page.evaluate(() => (window as unknown as HostWindow).events);
  expect(events.some((e) => e.data.event === "serial" && e.origin === frameOrigin)).toBe(true);
  expect(await frame.evaluate(() => (window as unknown as { seen: string[] }).seen)).toContain(allowedOrigin);
  await shot(page, testInfo, "iframe-cross-origin-allowed");

  // Another origin, same frame URL: the frame receives its messages (from that origin) and
  // neither answers nor acts on them.
  frame = await openHost(foreignOrigin);
  await page.evaluate(() => {
    const w = window as unknown as HostWindow;
    w.ask("evil1", "state");
    w.ask("evil2", "start");
    w.ask("evil3", "send", ["reboot\n"]);
  });
  await expect
    .poll(() => frame.evaluate(() => (window as unknown as { seen: string[] }).seen))
    .toEqual([foreignOrigin, foreignOrigin, foreignOrigin]);
  await page.waitForTimeout(1500);
  expect(await page.evaluate(() => (window as unknown as HostWindow).replies)).toEqual([]);
  expect(await page.evaluate(() => (window as unknown as HostWindow).events)).toEqual([]);
  const state = await frame.evaluate(() => document.querySelector<VirtLabElement>("virt-lab")!.state);
  expect(state).toBe("idle");
  expect(await frame.evaluate(() => document.querySelector<VirtLabElement>("virt-lab")!.serialText())).toBe(
    "",
  );
}
