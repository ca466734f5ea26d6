// The VGA text screen in a <canvas>: the Worker sends the 80x25 cells when they change; they are
// drawn with the VGA font (src/automation/screen.ts, shared with the automation API's screenshots).
// The canvas takes keyboard focus when clicked and forwards key presses and releases to the guest's
// i8042 keyboard by KeyboardEvent.code; Shift+Escape gives focus back to the page.

import type { TextScreen } from "../engine/devices/vga.ts";
import { renderTextScreen } from "../automation/screen.ts";

export class VgaScreen {
  readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private last: TextScreen | null = null;
  /** Keys held down, released when focus leaves (so the guest never sees a stuck key). */
  private readonly held = new Set<string>();

  constructor(
    host: HTMLElement,
    private readonly sendKey: (code: string, down: boolean) => void,
  ) {
    this.canvas = document.createElement("canvas");
    this.canvas.className = "vga";
    this.canvas.width = 720;
    this.canvas.height = 400;
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute(
      "aria-label",
      "VGA text screen: click to type into the guest's keyboard; Shift+Escape leaves",
    );
    host.append(this.canvas);
    this.ctx = this.canvas.getContext("2d")!;
    this.clear();
    this.canvas.addEventListener("keydown", (e) => this.key(e, true));
    this.canvas.addEventListener("keyup", (e) => this.key(e, false));
    this.canvas.addEventListener("blur", () => {
      for (const code of this.held) this.sendKey(code, false);
      this.held.clear();
    });
    this.canvas.addEventListener("mousedown", () => this.canvas.focus());
  }

  /** The text on screen (for tests and copy). */
  text(): string {
    return this.last ? this.last.chars.map((r) => r.trimEnd()).join("\n") : "";
  }

  clear(): void {
    this.last = null;
    this.ctx.fillStyle = "#000";
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
  }

  draw(screen: TextScreen): void {
    this.last = screen;
    const { width, height, rgb } = renderTextScreen(screen);
    if (this.canvas.width !== width) this.canvas.width = width;
    if (this.canvas.height !== height) this.canvas.height = height;
    const img = this.ctx.createImageData(width, height);
    const d = img.data;
    for (let p = 0, q = 0; p < rgb.length; p += 3, q += 4) {
      d[q] = rgb[p];
      d[q + 1] = rgb[p + 1];
      d[q + 2] = rgb[p + 2];
      d[q + 3] = 255;
    }
    this.ctx.putImageData(img, 0, 0);
  }

  private key(e: KeyboardEvent, down: boolean): void {
    if (down && e.code === "Escape" && e.shiftKey) {
      this.canvas.blur();
      return;
    }
    if (!e.code) return;
    e.preventDefault();
    if (down) {
      if (this.held.has(e.code) && !e.repeat) return;
      this.held.add(e.code);
    } else this.held.delete(e.code);
    this.sendKey(e.code, down);
  }
}
