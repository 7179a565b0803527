import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Integration tests record real RTSP streams with real ffmpeg; give them room.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Two cores: recording tests compete for CPU, so run files two at a time at most.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
