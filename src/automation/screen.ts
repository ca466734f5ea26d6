// The VGA text screen as a picture: the 80x25 cells drawn with the 8x16 VGA font (vga-font.ts, from
// Debian's console-setup), 9 pixels per character as a VGA in mode 3 draws them (line-graphics
// characters C0h-DFh repeat their eighth column into the ninth), the 16-colour CGA palette, blink
// off, and the hardware cursor as the two scan lines mode 3 programs (13-14). Pure TypeScript with
// no DOM, so the same PNG comes out of Node and of the page's engine Worker.

import { encode } from "fast-png";
import type { TextScreen } from "../engine/devices/vga.ts";
import { CP437 } from "../engine/devices/vga.ts";
import { VGA_FONT_8X16 } from "./vga-font.ts";

export const CELL_W = 9;
export const CELL_H = 16;

/** The default VGA palette for the 16 text colours (RGB, 6-bit DAC values scaled to 8 bits). */
const PALETTE: readonly [number, number, number][] = [
  [0x00, 0x00, 0x00], [0x00, 0x00, 0xaa], [0x00, 0xaa, 0x00], [0x00, 0xaa, 0xaa],
  [0xaa, 0x00, 0x00], [0xaa, 0x00, 0xaa], [0xaa, 0x55, 0x00], [0xaa, 0xaa, 0xaa],
  [0x55, 0x55, 0x55], [0x55, 0x55, 0xff], [0x55, 0xff, 0x55], [0x55, 0xff, 0xff],
  [0xff, 0x55, 0x55], [0xff, 0x55, 0xff], [0xff, 0xff, 0x55], [0xff, 0xff, 0xff],
]; // prettier-ignore

const CODE = new Map<string, number>([...CP437].map((ch, i) => [ch, i]));

/** RGB pixels (3 bytes each) of the screen: 720 x 400 for 80 x 25 cells. */
export function renderTextScreen(s: TextScreen): { width: number; height: number; rgb: Uint8Array } {
  const width = s.cols * CELL_W;
  const height = s.rows * CELL_H;
  const rgb = new Uint8Array(width * height * 3);
  for (let r = 0; r < s.rows; r++) {
    const row = [...s.chars[r]!];
    for (let c = 0; c < s.cols; c++) {
      const code = CODE.get(row[c] ?? " ") ?? 0x3f;
      const attr = s.attrs[r * s.cols + c]!;
      const fg = PALETTE[attr & 0x0f]!;
      const bg = PALETTE[(attr >> 4) & 0x07]!;
      const lineGraphics = code >= 0xc0 && code <= 0xdf;
      const cursorHere = s.cursor.visible && s.cursor.row === r && s.cursor.col === c;
      for (let y = 0; y < CELL_H; y++) {
        let bits = VGA_FONT_8X16[code * CELL_H + y]! << 1;
        if (lineGraphics && bits & 2) bits |= 1;
        if (cursorHere && (y === 13 || y === 14)) bits = 0x1ff;
        let p = ((r * CELL_H + y) * width + c * CELL_W) * 3;
        for (let x = 0; x < CELL_W; x++, p += 3) {
          const col = bits & (0x100 >> x) ? fg : bg;
          rgb[p] = col[0];
          rgb[p + 1] = col[1];
          rgb[p + 2] = col[2];
        }
      }
    }
  }
  return { width, height, rgb };
}

/** The screen as a PNG file. */
export function textScreenPng(s: TextScreen): Uint8Array {
  const { width, height, rgb } = renderTextScreen(s);
  return encode({ width, height, data: rgb, channels: 3, depth: 8 });
}

/** The screen as plain text, one line per row, trailing blanks removed. */
export function textScreenText(s: TextScreen): string {
  return s.chars.map((l) => l.replace(/[\s\u00a0]+$/u, "")).join("\n");
}
