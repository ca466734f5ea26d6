// The playground page (issue 6): counters and charts that react to the mode, switching the mode of a
// running guest (live, or a reboot for PV), snapshots that survive a page reload, the compare view,
// the page-walk visualizer and the theme switch.

import { expect, test, type Page, type TestInfo } from "@playwright/test";
import { openPlayground as open, startLinux, watchPageErrors as watchErrors } from "./page.ts";

async function shot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: "image/png" });
}

async function runTestKernel(page: Page, mode: string, ept = true): Promise<void> {
  await page.locator("#mode").selectOption(mode);
  if (mode === "hw") await page.locator("#ept").setChecked(ept);
  await page.locator("#start").click();
  await expect
    .poll(() => page.evaluate(() => window.virtlab.serialText()), { timeout: 30_000 })
    .toContain("ALL PASS");
}

test("switching modes makes the counters and charts react", async ({ page }, testInfo) => {
  const errors = watchErrors(page);
  await open(page);
  await expect(page.locator("#ept")).toBeDisabled();

  await runTestKernel(page, "hw");
  await expect(page.locator('[data-tile="mode"] .tile-value')).toHaveText("hw", { timeout: 5000 });
  await expect(page.locator('[data-chart="exits"]')).not.toHaveClass(/empty/);
  await expect(page.locator('[data-chart="callouts"]')).toHaveClass(/empty/);
  await expect(page.locator('[data-chart="shadow"]')).toHaveClass(/empty/);
  await expect(page.locator('[data-chart="cycles"]')).not.toHaveClass(/empty/);
  await shot(page, testInfo, "counters-hw");

  await runTestKernel(page, "bt");
  await expect(page.locator('[data-tile="mode"] .tile-value')).toHaveText("bt", { timeout: 5000 });
  await expect(page.locator('[data-chart="callouts"]')).not.toHaveClass(/empty/);
  await expect(page.locator('[data-chart="shadow"]')).not.toHaveClass(/empty/);
  await expect(page.locator('[data-chart="exits"]')).toHaveClass(/empty/);

  // HW with the EPT switch off is first-generation VT-x: exits and shadow paging together.
  await runTestKernel(page, "hw", false);
  await expect(page.locator('[data-tile="mode"] .tile-value')).toHaveText("hw-noept", { timeout: 5000 });
  await expect(page.locator('[data-chart="exits"]')).not.toHaveClass(/empty/);
  await expect(page.locator('[data-chart="shadow"]')).not.toHaveClass(/empty/);
  const stats = await page.evaluate(() => window.virtlab.stats());
  expect(stats.machine?.mode).toBe("hw-noept");

  // The page-walk visualizer on the running machine: a numbered native walk and a shadow lookup.
  await page.locator('.tools [data-tool="walk"]').click();
  await page.locator("#walk-addr").fill("0x100000");
  await page.locator("#walk-go").click();
  await expect(page.locator("#walk-out .walk.native h4")).toContainText("Native walk");
  await expect(page.locator("#walk-out .walk.shadow")).toBeVisible();
  await shot(page, testInfo, "page-walk-hw-noept");

  // Dark and light themes.
  await page.locator("#theme").click();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "light");
  await page.locator("#theme").click();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  await shot(page, testInfo, "dark-theme");
  expect(errors).toEqual([]);
});

test("the mode selector switches a running Linux live; only PV reboots, and says so", async ({
  page,
}, testInfo) => {
  test.setTimeout(480_000);
  const errors = watchErrors(page);
  await open(page);
  await startLinux(page, { mode: "bt" });
  const serial = () => page.evaluate(() => window.virtlab.serialText());
  const count = async (re: RegExp) => ((await serial()).match(re) ?? []).length;
  const machine = async () => (await page.evaluate(() => window.virtlab.stats())).machine!;
  await expect.poll(serial, { timeout: 240_000, intervals: [1000] }).toMatch(/virtlab:\/# /);
  expect(await count(/Linux version/g)).toBe(1);
  await expect(page.locator('[data-tile="mode"] .tile-value')).toHaveText("bt", { timeout: 5000 });

  const steps: [string, () => Promise<unknown>][] = [
    ["hw", () => page.locator("#mode").selectOption("hw")],
    ["hw-noept", () => page.locator("#ept").setChecked(false)],
    ["bt", () => page.locator("#mode").selectOption("bt")],
    ["native", () => page.locator("#mode").selectOption("native")],
  ];
  let from = "bt";
  for (const [to, change] of steps) {
    const before = await machine();
    expect(before.mode).toBe(from);
    await change();
    await expect(page.locator("#note")).toHaveText(`${from} → ${to}: switched live, the guest keeps running`);
    await expect(page.locator('[data-tile="mode"] .tile-value')).toHaveText(to, { timeout: 5000 });
    // The same guest goes on: its instruction count continues from where it was (a reboot would
    // start again from 0), and its shell answers in the new mode.
    await expect.poll(async () => (await machine()).instructions).toBeGreaterThan(before.instructions);
    await page.evaluate((m) => window.virtlab.send(`echo in-$((6*7))-${m}\n`), to);
    await expect.poll(serial, { timeout: 60_000 }).toContain(`in-42-${to}`);
    const after = await machine();
    expect(after.mode).toBe(to);
    expect(after.instructions).toBeGreaterThan(before.instructions);
    if (to === "hw") {
      expect(after.vmx?.exits["io-instruction"]).toBeGreaterThan(0);
      expect(after.ept?.violations).toBeGreaterThan(0);
      await expect(page.locator('[data-chart="exits"]')).not.toHaveClass(/empty/);
    }
    if (to === "hw-noept") {
      expect(after.ept).toBeUndefined();
      expect(after.shadow?.hiddenFaults).toBeGreaterThan(0);
    }
    if (to === "bt") {
      expect(after.vmx).toBeUndefined();
      expect(Object.values(after.bt?.callouts ?? {}).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    }
    if (to === "native")
      expect([after.vmx, after.bt, after.shadow]).toEqual([undefined, undefined, undefined]);
    expect(await count(/Linux version/g)).toBe(1);
    from = to;
  }
  await shot(page, testInfo, "mode-switched-live");

  // PV is negotiated by the guest at boot: the page reboots the image in PV mode and says so.
  await page.locator("#mode").selectOption("pv");
  await expect(page.locator("#note")).toHaveText("native → pv: rebooted (PV is negotiated at boot)");
  await expect.poll(() => count(/VIRTLAB-READY/g), { timeout: 240_000, intervals: [1000] }).toBe(2);
  expect(await count(/Linux version/g)).toBe(2);
  const pv = await machine();
  expect(pv.mode).toBe("pv");
  expect(pv.kvm?.pvclockUpdates).toBeGreaterThan(0);
  await expect(page.locator("#terminal .xterm-rows")).toContainText("VIRTLAB-READY");
  expect(errors).toEqual([]);
});

/** The absolute target of a direct jump or call, computed from its bytes (null for other instructions). */
function branchTarget(eip: number, bytes: number[]): number | null {
  const rel32 = (k: number) => bytes[k] | (bytes[k + 1] << 8) | (bytes[k + 2] << 16) | (bytes[k + 3] << 24);
  const b = bytes[0];
  if ((b >= 0x70 && b <= 0x7f) || b === 0xeb) return (eip + 2 + ((bytes[1] << 24) >> 24)) >>> 0;
  if ((b === 0xe8 || b === 0xe9) && bytes.length === 5) return (eip + 5 + rel32(1)) >>> 0;
  if (b === 0x0f && bytes[1] >= 0x80 && bytes[1] <= 0x8f && bytes.length === 6)
    return (eip + 6 + rel32(2)) >>> 0;
  return null;
}

interface AsmRow {
  cls: string;
  addr: string;
  bytes: number[];
  text: string;
  callout: string;
}

function asmRows(page: Page): Promise<AsmRow[]> {
  return page.locator("#jit-view .asm tr").evaluateAll((trs) =>
    trs.map((tr) => {
      const cell = (c: string) => tr.querySelector(`.${c}`)?.textContent ?? "";
      return {
        cls: tr.className,
        addr: cell("addr"),
        bytes: cell("bytes")
          .split(" ")
          .filter(Boolean)
          .map((h) => parseInt(h, 16)),
        text: cell("text"),
        callout: cell("callout"),
      };
    }),
  );
}

test("the JIT explorer shows hot blocks of a BT guest: x86 at real addresses beside wasm, callouts highlighted", async ({
  page,
}, testInfo) => {
  test.setTimeout(300_000);
  const errors = watchErrors(page);
  await open(page);
  await startLinux(page, { mode: "bt" });
  await expect
    .poll(() => page.evaluate(() => window.virtlab.serialText()), { timeout: 240_000, intervals: [1000] })
    .toContain("VIRTLAB-READY");
  await page.locator('.tools [data-tool="jit"]').click();
  const options = page.locator("#jit-blocks option");
  await expect
    .poll(
      async () => {
        await page.locator("#jit-refresh").click();
        return options.count();
      },
      { timeout: 60_000, intervals: [2000] },
    )
    .toBeGreaterThan(0);

  // The hottest block: its listing starts at the block's EIP, branch targets are absolute
  // addresses (from each instruction's own EIP), and the wasm text is beside it.
  const first = (await options.first().textContent())!;
  const eip = /^(0x[0-9a-f]{8}) · (\d+) insns/.exec(first);
  expect(eip, first).not.toBeNull();
  await expect(page.locator("#jit-view h4").first()).toContainText(`guest x86 at ${eip![1]}`);
  await expect(page.locator("#jit-view h4").first()).toContainText("bt mode");
  let rows = await asmRows(page);
  expect(rows[0].addr).toBe(eip![1]);
  expect(rows.filter((r) => !r.cls.includes("exit")).length).toBe(Number(eip![2]));
  for (let k = 1; k < rows.length; k++)
    expect(parseInt(rows[k].addr, 16)).toBe(parseInt(rows[k - 1].addr, 16) + rows[k - 1].bytes.length);
  // binaryen disassembles the block; it loads on first use (seconds in the dev server).
  await expect(page.locator("#jit-view pre.wat")).toContainText("(func", { timeout: 60_000 });
  await expect(page.locator("#jit-view pre.wat")).toContainText("(module");

  // Every direct branch in the hottest blocks names its real target.
  let branches = 0;
  for (let n = 0; n < Math.min(8, await options.count()); n++) {
    await page.locator("#jit-blocks").selectOption({ index: n });
    const want = (await options.nth(n).textContent())!.slice(0, 10);
    await expect(page.locator("#jit-view h4").first()).toContainText(want);
    for (const r of await asmRows(page)) {
      const target = branchTarget(parseInt(r.addr, 16), r.bytes);
      if (target === null) continue;
      expect(r.text, `${r.addr} ${r.text}`).toMatch(new RegExp(`^[a-z]+ 0x${target.toString(16)}$`));
      branches++;
    }
  }
  expect(branches).toBeGreaterThan(0);

  // Blocks that end in a sensitive instruction: it follows the block, highlighted, with the callout
  // BT makes of it.
  await page.locator("#jit-sensitive").check();
  await expect.poll(() => options.count(), { timeout: 10_000 }).toBeGreaterThan(0);
  rows = await asmRows(page);
  const last = rows.at(-1)!;
  expect(last.cls).toMatch(/^cls-(sensitive|privileged) exit$/);
  expect(last.callout).toMatch(
    /^BT → VMM callout when the guest kernel runs it \((sensitive|privileged): .+\)$/,
  );
  // The block itself: innocuous instructions, compiled or run by the interpreter in place (inline).
  expect(rows.slice(0, -1).every((r) => /^cls-innocuous( inline)?$/.test(r.cls))).toBe(true);
  if (rows.length > 1) {
    const prev = rows.at(-2)!;
    expect(parseInt(last.addr, 16)).toBe(parseInt(prev.addr, 16) + prev.bytes.length);
  }
  await expect(page.locator("#jit-stop")).toContainText("highlighted instruction");
  await page.locator("#tool-jit").scrollIntoViewIfNeeded();
  await shot(page, testInfo, "jit-explorer-bt");
  expect(errors).toEqual([]);
});

test("a snapshot survives a page reload and restores the machine", async ({ page }, testInfo) => {
  const errors = watchErrors(page);
  await open(page);
  await page.locator("#deterministic").check();
  await runTestKernel(page, "hw");
  await expect(page.locator("#state")).toHaveText("halted");
  const before = await page.locator("#instructions").textContent();
  await page.locator("#snap-name").fill("e2e testkernel");
  await page.locator("#snap-save").click();
  await expect(page.locator("#snap-list .snap-name", { hasText: "e2e testkernel" })).toHaveCount(1, {
    timeout: 15_000,
  });

  await page.reload();
  await expect(page.locator("#image")).toBeEnabled();
  await expect(page.locator("#state")).toHaveText("idle");
  const item = page.locator("#snap-list .snap", { hasText: "e2e testkernel" }).first();
  await expect(item).toContainText("hw");
  await item.locator(".snap-restore").click();
  await expect(page.locator("#state")).toHaveText("halted", { timeout: 15_000 });
  await expect(page.locator("#instructions")).toHaveText(before!);
  await expect(page.locator('[data-tile="mode"] .tile-value')).toHaveText("hw", { timeout: 5000 });
  await shot(page, testInfo, "snapshot-restored");

  // A damaged file is refused with a clear message and the stored snapshots stay.
  const count = await page.locator("#snap-list .snap").count();
  await page.locator("#snap-file").setInputFiles({
    name: "broken.vlsnap",
    mimeType: "application/octet-stream",
    buffer: Buffer.from("VIRTLAB-SNAPSHOT but not really a snapshot at all, just text"),
  });
  await expect(page.locator("#error")).toContainText(
    /Cannot import broken\.vlsnap[\s\S]*(truncated|corrupt|version)/,
  );
  await expect(page.locator("#snap-list .snap")).toHaveCount(count);
  for (const b of await page.locator("#snap-list .snap-delete").all()) await b.click();
  await expect(page.locator("#snap-list .snap")).toHaveCount(0);
  expect(errors).toEqual([]);
});

test("the compare view runs a teaching-kernel workload in every mode", async ({ page }, testInfo) => {
  test.setTimeout(180_000);
  const errors = watchErrors(page);
  await open(page);
  await page.locator('.tools [data-tool="compare"]').click();
  await page.locator("#cmp-workload").selectOption("teachkernel:syscall");
  await page.locator("#cmp-ops").fill("200");
  await page.locator("#cmp-run").click();
  const table = page.locator("#cmp-table");
  await expect(table).toBeVisible({ timeout: 170_000 });
  for (const m of ["bt", "pv", "hw", "hw-noept"]) await expect(table.locator("thead")).toContainText(m);
  await expect(table).toContainText("modelled cycles / op");
  await expect(page.locator("#cmp-out canvas")).toHaveCount(2);
  await expect(page.locator("#cmp-out .cmp-notes li")).toHaveCount(4);
  await page.locator("#cmp-out").scrollIntoViewIfNeeded();
  await shot(page, testInfo, "compare-syscall");
  expect(errors).toEqual([]);
});
