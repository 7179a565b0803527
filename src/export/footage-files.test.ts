import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FootageFiles } from './footage-files.js';

let dir: string;
let files: FootageFiles;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-files-'));
  await mkdir(join(dir, 'data', 'recordings', 'cam'), { recursive: true });
  await writeFile(join(dir, 'data', 'recordings', 'cam', 'a.mp4'), 'x');
  await writeFile(join(dir, 'secret.txt'), 'secret');
  files = new FootageFiles(join(dir, 'data'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FootageFiles.resolve', () => {
  it('resolves a row path inside the recordings folder to its real absolute path', async () => {
    expect(await files.resolve('recordings/cam/a.mp4')).toBe(join(dir, 'data', 'recordings', 'cam', 'a.mp4'));
  });

  it('says undefined for a file that is gone (deleted between selection and lock)', async () => {
    expect(await files.resolve('recordings/cam/gone.mp4')).toBeUndefined();
  });

  it('refuses a path that climbs out of the recordings folder, or is absolute elsewhere', async () => {
    await expect(files.resolve('recordings/../../secret.txt')).rejects.toMatchObject({ kind: 'internal' });
    await expect(files.resolve('vigil.db')).rejects.toMatchObject({ kind: 'internal' });
    await expect(files.resolve(join(dir, 'secret.txt'))).rejects.toMatchObject({ kind: 'internal' });
    await expect(files.resolve('recordings')).rejects.toMatchObject({ kind: 'internal' });
  });

  it('refuses a symlink inside the folder that points outside it', async () => {
    await symlink(join(dir, 'secret.txt'), join(dir, 'data', 'recordings', 'cam', 'link.mp4'));
    await expect(files.resolve('recordings/cam/link.mp4')).rejects.toMatchObject({ kind: 'internal' });
  });
});
