// The embeddable widget and the iframe embed (docs/embedding.md): two <virt-lab> elements on one
// page boot independently, each in its own Worker; the iframe's postMessage API answers an allowed
// origin and ignores other origins and malformed messages.

import { expect, test, type Page, type TestInfo } from "@playwright/test";
import type { VirtLabElement } from "../src/ui/widget.ts";

async function shot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: "image/png" });
}

test("two widgets on one page boot independently", async ({ page }, testInfo) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/examples/");
  const text = (id: string) =>
    page.evaluate((i) => document.querySelector<VirtLabElement>(`#${i}`)!.serialText(), id);
  await expect.poll(() => text("vm-bt"), { timeout: 45_000 }).toContain("ALL PASS");
  await expect.poll(() => text("vm-hw"), { timeout: 45_000 }).toContain("ALL PASS");
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
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/examples/");
  const text = (id: string) =>
    page.evaluate((i) => document.querySelector<VirtLabElement>(`#${i}`)!.serialText(), id);
  // Both autostarted machines first run to the end of their self-tests.
  await expect.poll(() => text("vm-bt"), { timeout: 45_000 }).toContain("ALL PASS");
  await expect.poll(() => text("vm-hw"), { timeout: 45_000 }).toContain("ALL PASS");
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

  // Another origin: a page on http://localhost (the same server, but not the allowed 127.0.0.1 origin)
  // embeds the frame, whose allow-list names only the examples page's origin.
  const port = new URL(baseURL!).port;
  const embedUrl = `${baseURL}/embed.html?image=testkernel&panels=terminal&origins=${encodeURIComponent(new URL(baseURL!).origin)}`;
  await page.goto(`http://localhost:${port}/embed.html`);
  await page.evaluate((src) => {
    const f = document.createElement("iframe");
    f.id = "f";
    f.src = src;
    document.body.append(f);
    (window as unknown as { replies: unknown[] }).replies = [];
    addEventListener("message", (e) => {
      if (e.data && e.data.id === "evil") (window as unknown as { replies: unknown[] }).replies.push(e.data);
    });
  }, embedUrl);
  await expect(page.frameLocator("#f").locator("virt-lab")).toHaveCount(1);
  const replies = await page.evaluate(async () => {
    const f = (document.getElementById("f") as HTMLIFrameElement).contentWindow!;
    f.postMessage({ virtlab: 1, id: "evil", method: "state" }, "*");
    f.postMessage({ virtlab: 1, id: "evil", method: "start" }, "*");
    await new Promise((r) => setTimeout(r, 1500));
    return (window as unknown as { replies: unknown[] }).replies.length;
  });
  expect(replies).toBe(0);
  // And the machine was not started by the foreign page.
  await expect(page.frameLocator("#f").locator("virt-lab")).toHaveCount(1);
  const state = await page
    .frames()
    .find((fr) => fr.url().includes("embed.html"))!
    .evaluate(() => document.querySelector<VirtLabElement>("virt-lab")!.state);
  expect(state).toBe("idle");
});
