// TypeScript unit tests (models, API client): `jlpm test`. Browser tests are in tests/browser.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/ts/**/*.test.ts'],
    environment: 'jsdom'
  }
});
