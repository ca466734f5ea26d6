// Key names for VirtLabVM.press(): KeyboardEvent.code values, optionally with modifiers
// ("Control+KeyC", "Shift+Tab", "Control+Alt+Delete"). On the PS/2 keyboard they become make/break
// scan codes; on the serial port, the bytes a terminal would send for them.

import { SET2_CODES } from "../engine/devices/i8042.ts";

const MODIFIERS: Record<string, string> = {
  Control: "ControlLeft",
  Ctrl: "ControlLeft",
  Shift: "ShiftLeft",
  Alt: "AltLeft",
  Meta: "MetaLeft",
};

export interface Chord {
  /** Modifier key codes, in press order. */
  modifiers: string[];
  code: string;
}

export function parseChord(key: string): Chord {
  const parts = key.split("+");
  const code = parts.pop()!;
  const modifiers = parts.map((p) => {
    const m = MODIFIERS[p];
    if (!m)
      throw new RangeError(
        `unknown modifier "${p}" in "${key}" (modifiers: ${Object.keys(MODIFIERS).join(", ")})`,
      );
    return m;
  });
  if (!code) throw new RangeError(`no key in "${key}"`);
  return { modifiers, code };
}

/** Press a chord on the PS/2 keyboard: modifiers down, key down and up, modifiers up. */
export function pressOnKeyboard(
  chord: Chord,
  kbd: { keyDown(c: string): boolean; keyUp(c: string): boolean },
): void {
  for (const c of [...chord.modifiers, chord.code])
    if (!(c in SET2_CODES))
      throw new RangeError(
        `unknown key code "${c}" (use KeyboardEvent.code names: KeyA, Enter, ArrowUp, ...)`,
      );
  for (const m of chord.modifiers) kbd.keyDown(m);
  kbd.keyDown(chord.code);
  kbd.keyUp(chord.code);
  for (const m of [...chord.modifiers].reverse()) kbd.keyUp(m);
}

const SERIAL_KEYS: Record<string, string> = {
  Enter: "\r",
  NumpadEnter: "\r",
  Tab: "\t",
  Backspace: "\x7f",
  Escape: "\x1b",
  Space: " ",
  ArrowUp: "\x1b[A",
  ArrowDown: "\x1b[B",
  ArrowRight: "\x1b[C",
  ArrowLeft: "\x1b[D",
  Home: "\x1b[H",
  End: "\x1b[F",
  Insert: "\x1b[2~",
  Delete: "\x1b[3~",
  PageUp: "\x1b[5~",
  PageDown: "\x1b[6~",
};
const PUNCT: Record<string, [string, string]> = {
  Backquote: ["`", "~"],
  Minus: ["-", "_"],
  Equal: ["=", "+"],
  BracketLeft: ["[", "{"],
  BracketRight: ["]", "}"],
  Backslash: ["\\", "|"],
  Semicolon: [";", ":"],
  Quote: ["'", '"'],
  Comma: [",", "<"],
  Period: [".", ">"],
  Slash: ["/", "?"],
};
const SHIFTED_DIGITS = ")!@#$%^&*(";

/** The bytes a terminal sends for a chord (Control+letter = the control character). */
export function chordToSerial(chord: Chord): string {
  const ctrl = chord.modifiers.includes("ControlLeft");
  const shift = chord.modifiers.includes("ShiftLeft");
  const alt = chord.modifiers.includes("AltLeft");
  const { code } = chord;
  let s: string | undefined = SERIAL_KEYS[code];
  let m: RegExpExecArray | null;
  if (s === undefined && (m = /^Key([A-Z])$/.exec(code))) {
    const letter = m[1]!;
    s = ctrl ? String.fromCharCode(letter.charCodeAt(0) - 64) : shift ? letter : letter.toLowerCase();
  } else if (s === undefined && (m = /^Digit([0-9])$/.exec(code))) {
    s = shift ? SHIFTED_DIGITS[Number(m[1])]! : m[1]!;
  } else if (s === undefined && PUNCT[code]) {
    s = PUNCT[code]![shift ? 1 : 0];
    if (ctrl && code === "BracketLeft") s = "\x1b";
    if (ctrl && code === "Backslash") s = "\x1c";
  } else if (s !== undefined && shift && code === "Tab") s = "\x1b[Z";
  if (s === undefined) throw new RangeError(`key "${code}" has no serial-terminal equivalent`);
  return alt ? `\x1b${s}` : s;
}
