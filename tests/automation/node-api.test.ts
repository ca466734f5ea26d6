// The automation API in Node (src/automation/node.ts): boot, wait, type and press, shell commands
// with exit status, counters, screenshots, mode switching, snapshots and errors.
import { describe, expect, it } from "vitest";
import { decode } from "fast-png";
import { AutomationError, createVM } from "../../src/automation/node.ts";
import { chordToSerial, parseChord } from "../../src/automation/keys.ts";

async function rejection(p: Promise<unknown>): Promise<AutomationError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(AutomationError);
    return e as AutomationError;
  }
  throw new Error("expected a rejection");
}

describe("a bare-metal kernel", () => {
  it("boots to its ready marker, reports counters, and draws its screen", async () => {
    const vm = createVM();
    const info = await vm.boot("testkernel", { mode: "hw" });
    expect(info).toMatchObject({ image: "testkernel", mode: "hw", deterministic: true, ready: "ALL PASS" });
    expect(await vm.output()).toContain("ALL PASS");
    const s = await vm.stats();
    expect(s.mode).toBe("hw");
    expect(s.instructions).toBe(info.instructions);
    expect(s.vmx!.exits["io-instruction"]).toBeGreaterThan(0);
    const png = decode(await vm.screenshot());
    expect([png.width, png.height, png.channels]).toEqual([720, 400, 3]);
    expect((await vm.screenText()).split("\n")).toHaveLength(25);
    expect(await vm.state()).toMatchObject({ image: "testkernel", mode: "hw", stopped: false, panic: null });
  });

  it("rejects with a code that says what happened", async () => {
    const vm = createVM();
    expect((await rejection(vm.run("true"))).code).toBe("no-machine");
    expect((await rejection(vm.boot("no-such-image"))).code).toBe("image");
    expect((await rejection(vm.boot("disk"))).code).toBe("image");
    expect((await rejection(vm.boot("testkernel", { mode: "turbo" as never }))).code).toBe("bad-request");
    await vm.boot("testkernel");
    // The kernel halts with interrupts off after ALL PASS: nothing more can ever be printed.
    const e = await rejection(vm.waitFor("never printed"));
    expect(e.code).toBe("halted");
    expect(e.message).toContain("ALL PASS");
    expect((await rejection(vm.press("Hyper+KeyA"))).code).toBe("bad-request");
    expect((await rejection(vm.setMode("pv"))).code).toBe("bad-request");
  });
});

describe("keys", () => {
  it("turns chords into the bytes a terminal sends", () => {
    expect(chordToSerial(parseChord("Control+KeyC"))).toBe("\x03");
    expect(chordToSerial(parseChord("Enter"))).toBe("\r");
    expect(chordToSerial(parseChord("ArrowUp"))).toBe("\x1b[A");
    expect(chordToSerial(parseChord("Shift+Digit1"))).toBe("!");
    expect(chordToSerial(parseChord("Alt+KeyX"))).toBe("\x1bx");
    expect(() => parseChord("Super+KeyA")).toThrow(/unknown modifier/);
  });
});

describe("Linux through the Node API", () => {
  const vm = createVM();
  const booted = vm.boot("linux");

  it("boots to the shell prompt", async () => {
    const info = await booted;
    expect(info.ready).toBe("VIRTLAB-READY");
    expect(await vm.output()).toMatch(/VIRTLAB-READY[\s\S]*virtlab:\/# /);
  });

  it("runs shell commands and returns their output and exit status", async () => {
    await booted;
    expect(await vm.run("uname -m")).toBe("i686\n");
    expect(await vm.exec("echo one; echo two >&2; exit_status() { return 3; }; exit_status")).toEqual({
      output: "one\ntwo\n",
      status: 3,
    });
    expect(await vm.exec("printf no-newline")).toEqual({ output: "no-newline", status: 0 });
    const e = await rejection(vm.run("ls /nonexistent"));
    expect(e.code).toBe("command-failed");
    expect(e.result).toEqual({ output: "ls: /nonexistent: No such file or directory\n", status: 1 });
    expect(await vm.run("cat /nonexistent", { check: false })).toMatch(/No such file/);
  });

  it("waits for output, types on the serial line and presses keys", async () => {
    await booted;
    await vm.type("sleep 30\n");
    await vm.advance(200);
    await vm.press("Control+KeyC");
    expect(await vm.run("echo after-ctrl-c")).toBe("after-ctrl-c\n");
    await vm.type("echo $((6*7))-typed\n");
    const m = await vm.waitFor(/(\d+)-typed\r?\n/);
    expect(m.groups[0]).toBe("42");
    expect(m.index).toBeGreaterThan(0);
    expect((await vm.output()).slice(m.index, m.index + m.text.length)).toBe(m.text);
  });

  it("types on the PS/2 keyboard into the shell on tty1 and shows it on the VGA screen", async () => {
    await booted;
    await vm.type("echo kbd-$((40+2))\n", { to: "keyboard" });
    await vm.advance(300);
    expect(await vm.screenText()).toMatch(/^kbd-42$/m);
    const png = decode(await vm.screenshot());
    // Some pixels are lit (light grey text on black).
    expect(png.data.some((v) => v === 0xaa)).toBe(true);
  });

  it("switches modes on the running machine; the guest keeps working and the counters follow", async () => {
    await booted;
    for (const mode of ["hw", "hw-noept", "bt", "native"] as const) {
      await vm.setMode(mode);
      expect(await vm.run(`echo in-${mode}`)).toBe(`in-${mode}\n`);
      const s = await vm.stats();
      expect(s.mode).toBe(mode);
      if (mode === "hw") expect(s.ept!.violations).toBeGreaterThan(0);
      if (mode === "hw-noept") expect(s.shadow!.hiddenFaults).toBeGreaterThan(0);
      if (mode === "bt") expect(Object.keys(s.bt!.callouts).length).toBeGreaterThan(0);
      if (mode === "native") expect(s.vmx).toBeUndefined();
    }
    expect((await rejection(vm.setMode("pv"))).message).toMatch(/at boot/);
  });

  it("saves and restores a snapshot", async () => {
    await booted;
    await vm.run("echo before > /tmp/f");
    const snap = await vm.saveSnapshot();
    expect(snap.length).toBeGreaterThan(1000);
    await vm.run("echo after > /tmp/f");
    expect(await vm.run("cat /tmp/f")).toBe("after\n");
    await vm.restoreSnapshot(snap);
    expect(await vm.run("cat /tmp/f")).toBe("before\n");
    expect((await rejection(vm.restoreSnapshot(new Uint8Array([1, 2, 3])))).code).toBe("bad-request");
  });
});
