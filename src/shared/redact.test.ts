import { describe, expect, it } from 'vitest';
import { maskUrl, redactDeep, redactSecrets, redactUrl, urlSecrets } from './redact.js';

describe('redactUrl', () => {
  it('hides the password and keeps user, host and path', () => {
    expect(redactUrl('rtsp://admin:s3cret@h/x')).toBe('rtsp://admin:***@h/x');
  });

  it('hides a password holding a percent-encoded @', () => {
    expect(redactUrl('rtsp://admin:p%40ss@cam.local:554/live')).toBe('rtsp://admin:***@cam.local:554/live');
  });

  it('hides a password holding a colon', () => {
    const out = redactUrl('rtsp://admin:pa:ss:word@cam.local/live');
    expect(out).toBe('rtsp://admin:***@cam.local/live');
    expect(out).not.toContain('ss:word');
  });

  it('hides every URL in a text, not only the first', () => {
    const text = 'main rtsp://a:one1@h1/x failed, sub rtsps://b:two2@h2:322/y ok';
    expect(redactUrl(text)).toBe('main rtsp://a:***@h1/x failed, sub rtsps://b:***@h2:322/y ok');
  });

  it('hides userinfo without a user name', () => {
    expect(redactUrl('rtsp://:onlypass@h/x')).toBe('rtsp://***@h/x');
  });

  it('leaves a URL without credentials unchanged, port and query included', () => {
    for (const url of ['rtsp://cam.local:554/Streaming/Channels/101?transport=tcp', 'rtsp://10.0.0.5/live', 'no url here']) {
      expect(redactUrl(url)).toBe(url);
    }
  });

  it('redacts inside ffmpeg-style stderr quoting', () => {
    expect(redactUrl("[rtsp @ 0x1] method DESCRIBE failed: 401 'rtsp://admin:hunter22@10.0.0.5/live'")).toBe(
      "[rtsp @ 0x1] method DESCRIBE failed: 401 'rtsp://admin:***@10.0.0.5/live'",
    );
  });
});

describe('urlSecrets', () => {
  it('returns the raw and the decoded password when they differ', () => {
    expect(urlSecrets('rtsp://admin:p%40ss%3Aw@h/x')).toEqual(['p%40ss%3Aw', 'p@ss:w']);
  });

  it('returns the password once when it has nothing encoded', () => {
    expect(urlSecrets('rtsp://admin:s3cret@h/x')).toEqual(['s3cret']);
  });

  it('returns nothing for a URL without a password', () => {
    expect(urlSecrets('rtsp://admin@h/x')).toEqual([]);
    expect(urlSecrets('rtsp://h/x')).toEqual([]);
  });

  it('keeps the raw password when it is not valid percent-encoding', () => {
    expect(urlSecrets('rtsp://admin:100%zz@h/x')).toEqual(['100%zz']);
  });
});

describe('redactSecrets', () => {
  it('removes the decoded password ffmpeg may echo, as well as the URL one', () => {
    const url = 'rtsp://admin:p%40ss%3Aword@cam.local/live';
    const text = `opening ${url}: auth as admin with p@ss:word failed`;
    const out = redactSecrets(text, urlSecrets(url));
    expect(out).not.toContain('p@ss:word');
    expect(out).not.toContain('p%40ss%3Aword');
    expect(out).toContain('rtsp://admin:***@cam.local/live');
  });

  it('removes every occurrence of a secret', () => {
    expect(redactSecrets('s3cret and s3cret again', ['s3cret'])).toBe('*** and *** again');
  });

  it('leaves text without secrets or credentials unchanged', () => {
    expect(redactSecrets('Connection refused rtsp://h/x', ['s3cret'])).toBe('Connection refused rtsp://h/x');
  });
});

describe('redaction of passwords ffmpeg accepts unencoded', () => {
  // ffmpeg splits userinfo at the last @ of the authority, so `p@ss` is a password it accepts as typed.
  it('a password with an unencoded @ is hidden entirely', () => {
    const url = 'rtsp://admin:p@ss@cam.local/live';
    expect(redactUrl(url)).toBe('rtsp://admin:***@cam.local/live');
    expect(urlSecrets(url)).toEqual(['p@ss']);
  });

  it('redaction never reaches across a JSON string boundary', () => {
    const json = JSON.stringify({ host: 'rtsp://cam', who: 'admin:x@corp' });
    expect(() => JSON.parse(redactUrl(json)) as unknown).not.toThrow();
  });
});

describe('a corpus of camera URLs: the password appears nowhere', () => {
  // [url, password, what a masked URL shows]. Shapes ffmpeg accepts, and shapes operators type.
  const CORPUS: Array<[string, string, string]> = [
    ['rtsp://admin:s3cret@10.0.0.5/live', 's3cret', 'rtsp://admin:***@10.0.0.5/live'],
    ['rtsp://ops@example.com:S3cret@cam.local/live', 'S3cret', 'rtsp://ops@example.com:***@cam.local/live'],
    ['rtsp://admin:pa"ss@cam.local/live', 'pa"ss', 'rtsp://admin:***@cam.local/live'],
    ['rtsp://admin:pa/ss@cam.local/live', 'pa/ss', 'rtsp://admin:***@cam.local/live'],
    ['rtsp://admin:pa"/ss@cam.local:8554/live', 'pa"/ss', 'rtsp://admin:***@cam.local:8554/live'],
    ["rtsp://admin:it's@cam.local/live", "it's", 'rtsp://admin:***@cam.local/live'],
    ['rtsp://admin:p@ss@cam.local/live', 'p@ss', 'rtsp://admin:***@cam.local/live'],
    ['rtsp://admin:pa:ss@cam.local/live', 'pa:ss', 'rtsp://admin:***@cam.local/live'],
    ['rtsp://admin:pa#ss?x@cam.local/live', 'pa#ss?x', 'rtsp://admin:***@cam.local/live'],
    ['rtsp://admin:p%2Fs%22s@cam.local/live', 'p%2Fs%22s', 'rtsp://admin:***@cam.local/live'],
    ['rtsps://u:Secret1@[fd00::5]:322/Streaming/Channels/101?transport=tcp', 'Secret1', 'rtsps://u:***@[fd00::5]:322/Streaming/Channels/101?transport=tcp'],
    ['rtsp://:onlypass@cam.local/live', 'onlypass', 'rtsp://***@cam.local/live'],
    ['rtsp://first.last@corp.example:W0rd,",}@cam/live', 'W0rd,",}', 'rtsp://first.last@corp.example:***@cam/live'],
  ];

  it.each(CORPUS)('%s', (url, password, shown) => {
    expect(maskUrl(url)).toBe(shown);
    expect(urlSecrets(url)).toContain(password);
    const places = [maskUrl(url), redactSecrets(`ffmpeg said ${decodeURIComponentSafe(password)} and ${url}`, urlSecrets(url))];
    // Free text with no known secret: a URL ends at a quote that closes a JSON string, so only a
    // password that holds such a quote (`",` `":` `"}` `"]`) needs the known-secret path above.
    if (!/"[,:}\]]/.test(password)) {
      places.push(
        redactUrl(url),
        redactUrl(`[rtsp @ 0x5] method DESCRIBE failed: 401 Unauthorized '${url}'`),
        redactUrl(`Error opening input ${url}: Connection refused`),
        JSON.stringify(redactDeep({ main_url: url, nested: [{ text: `open ${url} failed` }] })),
      );
    }
    for (const text of places) expect(text).not.toContain(password);
  });

  it('leaves URLs without credentials, and @ in a path or query, as they are', () => {
    for (const url of ['rtsp://cam.local/live@main', 'rtsp://cam.local/x?user=a@b', 'rtsp://10.0.0.5:554/Streaming/Channels/101']) {
      expect(maskUrl(url)).toBe(url);
      expect(redactUrl(`open ${url}`)).toBe(`open ${url}`);
      expect(urlSecrets(url)).toEqual([]);
    }
  });
});

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
