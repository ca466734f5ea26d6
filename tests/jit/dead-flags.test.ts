// Dead flag writes: which instructions' arithmetic flags the compiler may leave out, because a
// later instruction of the block overwrites them before a reader, an exit or a fault point.
import { expect, it } from "vitest";
import { formBlock } from "../../src/jit/blocks.ts";
import { deadFlagWriters } from "../../src/jit/compiler.ts";

/** The verdicts for the first `n` instructions of the code in `hex` (a superblock runs on past Jcc). */
function dead(hex: string, n: number): boolean[] {
  const bytes = Uint8Array.from(
    hex
      .replace(/\s+/g, "")
      .match(/../g)!
      .map((b) => parseInt(b, 16)),
  );
  const u8 = new Uint8Array(0x2000);
  u8.set(bytes, 0x1000);
  const f = formBlock(u8, 0x1000, 0x1000, true);
  return deadFlagWriters(f.insns).slice(0, n);
}

it("drops an ALU result's flags that the next CMP replaces", () => {
  // add eax,ebx; cmp eax,ecx; jne +0
  expect(dead("01d8 39c8 7500", 3)).toEqual([true, false, false]);
});

it("keeps flags a reader, a partial writer or the block's end can see", () => {
  // add eax,ebx; adc ecx,edx (reads CF); ret
  expect(dead("01d8 11d1 c3", 3)).toEqual([false, false, false]);
  // sub eax,1; inc ecx (keeps the SUB's CF); jc +0 reads it
  expect(dead("83e801 41 7200", 3)).toEqual([false, false, false]);
  // xor eax,eax at the end of the block: its flags leave with it
  expect(dead("31c0 c3", 1)).toEqual([false]);
});

it("treats memory accesses as fault points where EFLAGS must be exact", () => {
  // add eax,ebx; mov ecx,[esi]; cmp eax,ecx; jne +0
  expect(dead("01d8 8b0e 39c8 7500", 4)).toEqual([false, false, false, false]);
});

it("drops partial writers' flags, and what they kept, when a full writer follows", () => {
  // sub eax,1; inc ecx; cmp eax,ecx; jne +0: CMP replaces the CF that INC kept from SUB
  expect(dead("83e801 41 39c8 7500", 4)).toEqual([true, true, false, false]);
  // inc eax; dec ebx; test ecx,ecx; jz +0
  expect(dead("40 4b 85c9 7400", 4)).toEqual([true, true, false, false]);
});
