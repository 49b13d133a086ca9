import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ensureChromium } from './chromium.ts';

describe('ensureChromium', () => {
  const saved = process.env.CHROMIUM_PATH;
  afterEach(() => {
    if (saved === undefined) delete process.env.CHROMIUM_PATH;
    else process.env.CHROMIUM_PATH = saved;
  });

  it('returns CHROMIUM_PATH when it names an executable file', async () => {
    process.env.CHROMIUM_PATH = process.execPath;
    assert.equal(await ensureChromium(), process.execPath);
  });

  it('rejects a CHROMIUM_PATH that is not executable, saying how to fix it', async () => {
    process.env.CHROMIUM_PATH = '/nonexistent/chromium';
    await assert.rejects(ensureChromium(), /CHROMIUM_PATH=\/nonexistent\/chromium is not an executable file/);
  });
});
