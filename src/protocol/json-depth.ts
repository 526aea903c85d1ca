/**
 * True when `text` nests arrays and objects deeper than `max`. Scans without parsing, so
 * a hostile frame is refused before JSON.parse builds it. Brackets inside strings do not
 * count. A text shorter than 2 × max characters cannot nest that deep and is not scanned.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  if (text.length <= max * 2) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
