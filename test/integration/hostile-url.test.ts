import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { readCatalog } from '../support/footage.js';
import { filesUnder, removeDir, startVigil, tempDir, waitFor } from '../support/harness.js';

describe('a camera URL with shell metacharacters, ../ and credentials', () => {
  it('reaches ffmpeg as one argv element, writes nothing outside the data dir, and never shows the password', async () => {
    const server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
    const marker = `vigil-pwned-${process.pid}-${Date.now()}`;
    const password = 'Hunter2$ecret';
    // Percent-encoded in the URL ($ → %24) and raw in a shell payload: neither may leak or run.
    const url =
      `rtsp://admin:${encodeURIComponent(password)}@127.0.0.1:${server.port}` +
      `/cam1/../../$(touch\${IFS}/tmp/${marker});touch\${IFS}${marker}|tee\${IFS}${marker}&&\`touch\${IFS}${marker}\``;
    // ffmpeg through a wrapper that writes down each argv it is given (NUL-separated, one run per
    // line) and runs ffmpeg with it unchanged: each recorder run lives only a moment (the server
    // answers 404), too short to catch reliably in /proc on a loaded machine.
    const wrapDir = await tempDir('vigil-argv-');
    const argvLog = join(wrapDir, 'argv.log');
    const wrapper = join(wrapDir, 'ffmpeg');
    await writeFile(wrapper, `#!/bin/sh\nfor a in "$@"; do printf '%s\\0' "$a"; done >> '${argvLog}'\nprintf '\\n' >> '${argvLog}'\nexec ffmpeg "$@"\n`, { mode: 0o755 });
    const vigil = await startVigil({ recorder: { ffmpeg_path: wrapper } });
    const cwdBefore = await readdir(process.cwd());
    try {
      const created = await vigil.api('/cameras', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'hostile', main_url: url, segment_seconds: 2 }),
      });
      expect(created.status).toBe(201);
      const argv = await waitFor('recorder ffmpeg argv', async () => {
        const runs = (await readFile(argvLog, 'utf8').catch(() => '')).split('\0\n').map((r) => r.split('\0'));
        return runs.find((r) => r.includes('-i') && r.some((a) => a.includes('/cam1/')));
      }, 40_000, 50);
      expect(argv.filter((a) => a === url)).toHaveLength(1);
      expect(argv[argv.indexOf(url) - 1]).toBe('-i');

      // The server answers 404 for that path: the recorder fails, retries, and records the error.
      await waitFor('a reconnect with an error', async () => {
        const s = (await (await vigil.api('/cameras/hostile/status')).json()) as { reconnect_count: number; last_error: string | null };
        return s.reconnect_count >= 2 && s.last_error;
      }, 30_000);

      expect(existsSync(`/tmp/${marker}`)).toBe(false);
      expect((await readdir(tmpdir())).filter((f) => f.includes(marker))).toEqual([]);
      expect((await readdir(process.cwd())).filter((f) => f.includes(marker))).toEqual([]);
      expect(await readdir(process.cwd())).toEqual(cwdBefore);
      const files = (await filesUnder(vigil.dataDir)).map((f) => f.slice(vigil.dataDir.length + 1));
      for (const f of files) expect(f).toMatch(/^(vigil\.db(-wal|-shm)?|vigil\.pid|keys\/signing-key\.pem|recordings\/hostile\/[^/]+\.mp4)$/);

      const outputs = [
        await (await vigil.api('/cameras')).text(),
        await (await vigil.api('/cameras/hostile')).text(),
        await (await vigil.api('/cameras/hostile/status')).text(),
        await (await vigil.api('/events?limit=1000')).text(),
        JSON.stringify(readCatalog(vigil.dataDir).events),
        JSON.stringify(readCatalog(vigil.dataDir).status),
        vigil.logs(),
      ];
      for (const text of outputs) {
        expect(text).not.toContain(password);
        expect(text).not.toContain(encodeURIComponent(password));
      }
      expect(outputs[1]).toContain('admin:***@');
      // The error tail is real ffmpeg output, not an empty string that trivially hides nothing.
      expect(outputs[2]).toMatch(/404|Not Found|exited/i);
    } finally {
      await vigil.app.stop();
      await server.stop();
      await removeDir(vigil.dataDir);
      await removeDir(wrapDir);
    }
  });
});
