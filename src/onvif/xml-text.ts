/**
 * Flat text fields read straight from a device's SOAP answer. The onvif package parses answers with
 * xml2js and then turns every numeric-looking text into a number ("0012" → 12, "5.40" → 5.4), which
 * corrupts serial numbers, firmware versions and profile tokens; for those few fields Vigil reads the
 * text as the device wrote it. Namespace prefixes vary by vendor, so elements match by local name.
 */

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

export function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|lt|gt|amp|quot|apos);/gi, (whole, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[e.toLowerCase()] ?? whole;
  });
}

/** The text of the first element named `localName` (any prefix), trimmed; null when absent. */
export function xmlText(xml: string, localName: string): string | null {
  const m = new RegExp(`<(?:[\\w.-]+:)?${localName}(?:\\s[^>]*)?>([^<]*)</(?:[\\w.-]+:)?${localName}>`).exec(xml);
  return m ? unescapeXml((m[1] as string).trim()) : null;
}

/** The inner XML of the first element named `localName` (any prefix); null when absent. */
export function xmlElement(xml: string, localName: string): string | null {
  const m = new RegExp(`<(?:[\\w.-]+:)?${localName}(?:\\s[^>]*)?>([\\s\\S]*?)</(?:[\\w.-]+:)?${localName}>`).exec(xml);
  return m ? (m[1] as string) : null;
}

/** The `attr` attribute of every element named `localName`, in document order. */
export function xmlAttributes(xml: string, localName: string, attr: string): string[] {
  const re = new RegExp(`<(?:[\\w.-]+:)?${localName}\\s[^>]*?\\b${attr}="([^"]*)"`, 'g');
  return [...xml.matchAll(re)].map((m) => unescapeXml(m[1] as string));
}
