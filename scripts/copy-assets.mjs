#!/usr/bin/env node
// Copies the non-TypeScript files the server ships next to its modules into dist/ (tsc copies none):
// the offline bundle verifier page that every evidence export includes.
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
for (const rel of ['evidence/verify-page.html']) {
  await mkdir(dirname(join(root, 'dist', rel)), { recursive: true });
  await copyFile(join(root, 'src', rel), join(root, 'dist', rel));
}
