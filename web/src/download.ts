/** Starts a browser download of a same-origin URL (the session cookie goes along) or a Blob. */
export function download(url: string, filename: string): void {
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

export function downloadBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  download(url, filename);
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** `20261125T101500Z`: file-name friendly UTC. */
export function basicUtc(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}
