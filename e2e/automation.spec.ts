// The automation API in the page, through the Playwright fixture (e2e/fixtures): the same calls as
// in Node, answered by the engine Worker.
import { decode } from "fast-png";
import { expect, test } from "./fixtures/index.ts";

test("a kernel boots in HW mode and reports its counters and screen", async ({ vm, page }) => {
  const info = await vm.boot("testkernel", { mode: "hw" });
  expect(info).toMatchObject({ image: "testkernel", mode: "hw", ready: "ALL PASS" });
  expect(await vm.output()).toContain("ALL PASS");
  // The page's terminal shows the automation machine's console.
  await expect(page.locator("#terminal .xterm-rows")).toContainText("ALL PASS");
  const s = await vm.stats();
  expect(s.mode).toBe("hw");
  expect(s.vmx!.exits["io-instruction"]).toBeGreaterThan(0);
  const png = decode(await vm.screenshot());
  expect([png.width, png.height]).toEqual([720, 400]);
  const e = await vm.waitFor(/never printed/, { timeoutMs: 5000 }).catch((x: unknown) => x);
  expect(e).toMatchObject({ name: "AutomationError", code: "halted" });
  await expect(vm.boot("no-such-image")).rejects.toMatchObject({ code: "image" });
});

test("lab: Linux in PV mode answers shell commands", async ({ vm }) => {
  test.setTimeout(240_000);
  await vm.boot("linux", { mode: "pv", timeoutMs: 200_000 });
  expect(await vm.run("cat /proc/cpuinfo")).toContain("VirtLab P6-class virtual CPU");
  expect(await vm.run("cat /sys/devices/system/clocksource/clocksource0/current_clocksource")).toBe(
    "kvm-clock\n",
  );
  expect(await vm.exec("ls /dev/sda")).toMatchObject({ status: 1 });
  const m = await vm.waitFor(/virtlab:\/# /, { from: 0 });
  expect(m.index).toBeGreaterThan(0);
  const s = await vm.stats();
  expect(s.kvm!.pvclockUpdates).toBeGreaterThan(0);
  expect(s.virtio!["virtio-console"]).toBeDefined();
});
