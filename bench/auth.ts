import type { VigilApp } from '../src/app.js';

/** An admin user (so no first admin is generated) and an API key; call before `app.start()`. */
export async function benchCredentials(app: VigilApp): Promise<{ username: string; password: string; key: string; headers: Record<string, string> }> {
  const username = 'bench';
  const password = 'bench-password';
  await app.auth.createUser({ username, password, role: 'admin' });
  const { key } = await app.auth.createKey({ name: 'bench', role: 'admin' }, null);
  return { username, password, key, headers: { authorization: `Bearer ${key}` } };
}
