// The regression matrix in the page: the same scripts through the Playwright fixture (engine in the
// page's Web Worker) must give byte-for-byte the same output and the same counters as through the
// Node API. The bare-metal kernels run in every mode here; Linux (slow on the interpreter) runs in
// one mode, side by side with Node, and then exercises snapshots, screenshots and mode switching in
// the page. The full Linux matrix runs through Node in matrix.spec.ts.
import { decode } from "fast-png";
import { createVM } from "../../src/automation/node.ts";
import { expect, test } from "../fixtures/index.ts";
import {
  MODES,
  expectedToRun,
  guestCounters,
  imageFor,
  invariantViolations,
  runCell,
  type ImageName,
} from "./matrix.ts";
import { saveRecord } from "./records.ts";

for (const image of ["testkernel", "teachkernel"] as ImageName[]) {
  test(`${image} in every mode: the page agrees with Node`, async ({ vm }) => {
    for (const mode of MODES) {
      if (!expectedToRun(image, mode)) {
        await expect(vm.boot(imageFor(image, mode), { mode })).rejects.toMatchObject({ code: "stopped" });
        continue;
      }
      const inPage = await runCell(vm, image, mode);
      const inNode = await runCell(createVM(), image, mode);
      saveRecord("page", inPage);
      expect(invariantViolations(image, mode, inPage.stats), mode).toEqual([]);
      expect(inPage.output, mode).toBe(inNode.output);
      expect(inPage.results, mode).toEqual(inNode.results);
      expect(guestCounters(inPage.stats), mode).toEqual(guestCounters(inNode.stats));
    }
  });
}

test("linux in pv: the page agrees with Node; snapshots, screenshots and mode switches in the page", async ({
  vm,
}, testInfo) => {
  test.setTimeout(420_000);
  // Node and the page's Worker run side by side (two cores).
  const [inPage, inNode] = await Promise.all([
    runCell(vm, "linux", "pv"),
    runCell(createVM(), "linux", "pv"),
  ]);
  saveRecord("page", inPage);
  await testInfo.attach("stats.json", {
    body: JSON.stringify(inPage.stats, null, 2),
    contentType: "application/json",
  });
  expect(invariantViolations("linux", "pv", inPage.stats)).toEqual([]);
  expect(inPage.results).toEqual(inNode.results);
  expect(inPage.output).toBe(inNode.output);
  expect(guestCounters(inPage.stats)).toEqual(guestCounters(inNode.stats));

  // A snapshot taken in the page restores the guest's state.
  await vm.run("echo saved > /tmp/state");
  const snap = await vm.saveSnapshot();
  await vm.run("echo changed > /tmp/state");
  await vm.restoreSnapshot(snap);
  expect(await vm.run("cat /tmp/state")).toBe("saved\n");

  // The VGA screen, rendered in the Worker.
  const png = decode(await vm.screenshot());
  expect([png.width, png.height]).toEqual([720, 400]);
  await testInfo.attach("vga-screen.png", {
    body: Buffer.from(await vm.screenshot()),
    contentType: "image/png",
  });

  // PV is negotiated at boot: the page refuses to switch a running PV guest, and says why.
  await expect(vm.setMode("hw")).rejects.toMatchObject({ code: "bad-request" });
});

test("a mode switch on a running Linux in the page", async ({ vm }) => {
  test.setTimeout(300_000);
  await vm.boot("linux", { mode: "native", timeoutMs: 240_000 });
  for (const mode of ["hw", "hw-noept", "bt"] as const) {
    await vm.setMode(mode);
    expect(await vm.run(`echo now-${mode}`)).toBe(`now-${mode}\n`);
    const s = await vm.stats();
    expect(s.mode).toBe(mode);
  }
});
