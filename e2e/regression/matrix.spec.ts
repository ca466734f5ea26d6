// The regression matrix through the Node automation API (the engine in the test process): every
// image in every mode, its output, and the counter invariants of each mode; then, per image, the
// same guest output everywhere. page.spec.ts checks that the page gives the same results.
import { expect, test } from "@playwright/test";
import { AutomationError, createVM } from "../../src/automation/node.ts";
import {
  FULL_VIRT,
  IMAGES,
  LINUX_COMMANDS,
  MODES,
  TEACH_WORKLOADS,
  expectedToRun,
  imageFor,
  invariantViolations,
  runCell,
} from "./matrix.ts";
import { loadRecord, saveRecord } from "./records.ts";

test.describe.configure({ timeout: 300_000 });

for (const image of IMAGES) {
  test.describe(image, () => {
    for (const mode of MODES) {
      // eslint-disable-next-line no-empty-pattern
      test(`${imageFor(image, mode)} in ${mode}`, async ({}, testInfo) => {
        const vm = createVM();
        if (!expectedToRun(image, mode)) {
          // Not a paravirtualized guest: the PV hypervisor stops the domain at its first trap and says why.
          const e = await vm.boot(imageFor(image, mode), { mode }).catch((x: unknown) => x);
          expect(e).toBeInstanceOf(AutomationError);
          expect((e as AutomationError).code).toBe("stopped");
          expect((e as AutomationError).message).toMatch(
            /PV domain stopped: vector 13 .* no registered handler/,
          );
          return;
        }
        const r = await runCell(vm, image, mode);
        saveRecord("node", r);
        await testInfo.attach("stats.json", {
          body: JSON.stringify(r.stats, null, 2),
          contentType: "application/json",
        });
        await testInfo.attach("serial.txt", { body: r.output, contentType: "text/plain" });
        expect(invariantViolations(image, mode, r.stats)).toEqual([]);
        expect(r.output).not.toMatch(/Kernel panic|BUG:|Oops|FAIL/);
        if (image === "testkernel") {
          expect(r.output).toContain("ALL PASS");
          expect(r.results.length).toBeGreaterThan(40);
        } else if (image === "teachkernel") {
          expect(r.output).toContain("TEACHKERNEL DONE");
          expect(r.results).toEqual(TEACH_WORKLOADS.map((w) => `${w} 20 ok`));
        } else {
          expect(r.results).toHaveLength(LINUX_COMMANDS.length);
          expect(r.results[0]).toMatch(/^Linux 6\.1\.\d+\S* i686\n$/);
          expect(r.results[1]).toContain("pattern-64k.bin: OK");
          expect(r.results[2]).toBe("forks-10\n");
          expect(r.results[3]).toBe("200 199 198 370370367\n");
          expect(r.results[4]).toBe("2\n");
          expect(r.results[5]).toMatch(/^1\nmodel name\s*: VirtLab P6-class virtual CPU\n$/);
          expect(r.output).toContain(mode === "pv" ? "virtio_blk" : "ata1.00: ATA-6: VirtLab disk");
        }
      });
    }

    test(`${image}: the same guest output in every mode`, () => {
      const runs = MODES.filter((m) => expectedToRun(image, m)).map((m) => {
        const r = loadRecord("node", imageFor(image, m), m);
        expect(r, `no record of ${image} in ${m} (did its test fail?)`).not.toBeNull();
        return r!;
      });
      const native = runs.find((r) => r.mode === "native")!;
      for (const r of runs) {
        // The results of the scripted workload agree in every mode, PV included.
        expect(r.results, r.mode).toEqual(native.results);
        if (FULL_VIRT.includes(r.mode)) {
          // An unmodified guest sees no difference at all: same bytes, same instruction count.
          expect(r.output, r.mode).toBe(native.output);
          expect(r.instructions, r.mode).toBe(native.instructions);
        }
      }
    });
  });
}
