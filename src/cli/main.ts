#!/usr/bin/env node
import { Command, Option } from 'commander';
import { createRequire } from 'node:module';
import { serve } from './serve.js';

const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

const program = new Command()
  .name('vigil')
  .description('Vigil — an open-source network video recorder.')
  .version(VERSION)
  .showHelpAfterError()
  .configureOutput({ outputError: (str, write) => write(`vigil: ${str}`) });

program
  .command('serve')
  .description('Record every enabled camera and serve the HTTP API (demo cameras when none is configured).')
  .addOption(new Option('-c, --config <file>', 'YAML config file (default ./vigil.yml when present)'))
  .addOption(new Option('-d, --data <dir>', 'data directory (env VIGIL_DATA_DIR, default ./vigil-data)'))
  .addOption(new Option('-l, --listen <host:port>', 'HTTP address (env VIGIL_LISTEN, default 127.0.0.1:8080)'))
  .action(async (opts: { config?: string; data?: string; listen?: string }) => {
    process.exitCode = await serve(opts);
  });

await program.parseAsync(process.argv);
