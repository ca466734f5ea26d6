// Builds src/automation/vga-font.ts, the 8x16 console font the headless screenshot renderer draws
// the VGA text screen with. The glyphs come from Debian's `console-setup-linux` package
// (its VGA fonts Uni2-VGA16 and, for the CP437 symbols that one lacks, FullGreek-VGA16; both are
// built from Dmitry Bolkhovityanov's u_vga16.bdf, MIT-style licence; see
// src/automation/vga-font.LICENSE). The PSF's Unicode table maps each of the 256 code
// page 437 characters (as VgaText decodes them) to its glyph, so the result is indexed by the byte
// the guest wrote into the text buffer, like the character generator of a real VGA.
//
//   npx tsx scripts/build-vga-font.ts     (needs apt-get and dpkg-deb; run as a user apt can write for)

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { CP437 } from "../src/engine/devices/vga.ts";

const PACKAGE = "console-setup-linux";
/** Fonts in order of preference: the first that has a character's glyph draws it. */
const FONTS = ["Uni2-VGA16", "FullGreek-VGA16"];
const fontPath = (name: string) => `usr/share/consolefonts/${name}.psf.gz`;
const OUT = "src/automation/vga-font.ts";

interface Psf {
  width: number;
  height: number;
  glyphs: Uint8Array[];
  /** Unicode code point -> glyph index. */
  map: Map<number, number>;
}

function parsePsf(b: Uint8Array): Psf {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const map = new Map<number, number>();
  const glyphs: Uint8Array[] = [];
  if (b[0] === 0x36 && b[1] === 0x04) {
    // PSF1: 4-byte header, 8 pixels wide, 256 or 512 glyphs, optional UCS-2 table.
    const mode = b[2]!;
    const height = b[3]!;
    const count = mode & 1 ? 512 : 256;
    for (let g = 0; g < count; g++) glyphs.push(b.slice(4 + g * height, 4 + (g + 1) * height));
    if (mode & 2) {
      let p = 4 + count * height;
      for (let g = 0; g < count; g++) {
        let inSeq = false;
        for (;;) {
          const u = dv.getUint16(p, true);
          p += 2;
          if (u === 0xffff) break;
          if (u === 0xfffe) inSeq = true;
          else if (!inSeq && !map.has(u)) map.set(u, g);
        }
      }
    }
    return { width: 8, height, glyphs, map };
  }
  if (dv.getUint32(0, true) !== 0x864ab572) throw new Error("not a PSF font");
  const headerSize = dv.getUint32(8, true);
  const flags = dv.getUint32(12, true);
  const count = dv.getUint32(16, true);
  const charSize = dv.getUint32(20, true);
  const height = dv.getUint32(24, true);
  const width = dv.getUint32(28, true);
  for (let g = 0; g < count; g++)
    glyphs.push(b.slice(headerSize + g * charSize, headerSize + (g + 1) * charSize));
  if (flags & 1) {
    let p = headerSize + count * charSize;
    const dec = new TextDecoder();
    for (let g = 0; g < count; g++) {
      const start = p;
      while (b[p] !== 0xff) p++;
      const entry = b.subarray(start, p++);
      // Single code points come first; 0xFE starts combining sequences (not needed here).
      const singles = entry.indexOf(0xfe) >= 0 ? entry.subarray(0, entry.indexOf(0xfe)) : entry;
      for (const ch of dec.decode(singles)) if (!map.has(ch.codePointAt(0)!)) map.set(ch.codePointAt(0)!, g);
    }
  }
  return { width, height, glyphs, map };
}

const dir = mkdtempSync(join(tmpdir(), "vga-font-"));
execFileSync("apt-get", ["download", PACKAGE], { cwd: dir, stdio: "inherit" });
const deb = readdirSync(dir).find((f) => f.endsWith(".deb"));
if (!deb) throw new Error(`apt-get download ${PACKAGE} produced no .deb`);
execFileSync("dpkg-deb", ["-x", deb, "x"], { cwd: dir });
const psfs = FONTS.map((name) => {
  const psf = parsePsf(new Uint8Array(gunzipSync(readFileSync(join(dir, "x", fontPath(name))))));
  if (psf.width !== 8 || psf.height !== 16)
    throw new Error(`${name}: expected 8x16, got ${psf.width}x${psf.height}`);
  return { name, psf };
});

// Characters a VGA ROM font draws that the Unicode font files under another code point.
const ALIASES: Record<string, string> = { "\u00a0": " ", "∙": "·", "►": "▶", "◄": "◀" };
const bitmap = new Uint8Array(256 * 16);
const missing: string[] = [];
const used = new Map<string, number>();
for (let c = 0; c < 256; c++) {
  const ch = CP437[c]!;
  const cps = [ch, ALIASES[ch]].filter((x): x is string => !!x).map((x) => x.codePointAt(0)!);
  let glyph: Uint8Array | undefined;
  for (const { name, psf } of psfs) {
    const g = cps.map((cp) => psf.map.get(cp)).find((g) => g !== undefined);
    if (g === undefined) continue;
    glyph = psf.glyphs[g]!;
    used.set(name, (used.get(name) ?? 0) + 1);
    break;
  }
  if (!glyph) {
    missing.push(`0x${c.toString(16)} ${ch}`);
    const p = psfs[0]!.psf;
    glyph = p.glyphs[p.map.get(0xfffd) ?? p.map.get(0x3f)!]!;
  }
  bitmap.set(glyph, c * 16);
}
const version = execFileSync("dpkg-deb", ["-f", deb, "Version"], { cwd: dir, encoding: "utf8" }).trim();
const b64 = Buffer.from(bitmap).toString("base64");
const lines = b64.match(/.{1,96}/g)!.map((l) => `  "${l}" +`);
writeFileSync(
  OUT,
  `// GENERATED by scripts/build-vga-font.ts from Debian ${PACKAGE} ${version}: glyphs per font: ${[...used].map(([n, k]) => `${n} ${k}`).join(", ")}.
// Licence: see vga-font.LICENSE beside this file. Do not edit; rerun the script.
${missing.length ? `// Not in the font (drawn as a replacement glyph): ${missing.join(", ")}\n` : ""}
/** 256 glyphs x 16 rows, one byte per row (bit 7 = leftmost pixel), indexed by code page 437 byte. */
export const VGA_FONT_8X16: Uint8Array = Uint8Array.from(
  atob(
${lines.join("\n")}
      "",
  ),
  (c) => c.charCodeAt(0),
);
`,
);
console.log(
  `wrote ${OUT}: 256 glyphs from ${PACKAGE} ${version}; missing: ${missing.length ? missing.join(", ") : "none"}`,
);
execFileSync("npx", ["prettier", "--write", OUT], { stdio: "ignore" });
