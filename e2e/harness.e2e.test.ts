import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, startServer } from './harness.ts';

/**
 * Stand-in servers for the harness's own tests: they log like pino and
 * behave well or badly on purpose. (The real server is tested in rooms.e2e.test.ts.)
 */
const FAKE_SERVER = `
import { createServer } from 'node:http';
const mode = process.env.FAKE_MODE ?? 'ok';
const log = (o) => process.stdout.write(JSON.stringify({ level: 30, time: Date.now(), ...o }) + '\\n');
if (mode === 'crash') { process.stderr.write('boom: missing config FOO\\n'); process.exit(3); }
log({ msg: 'starting' });
process.stdout.write('a line that is not JSON\\n');
if (mode === 'silent') { setInterval(() => {}, 1000); }
else {
  const srv = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ PORT: process.env.PORT, HOST: process.env.HOST, DATA_DIR: process.env.DATA_DIR,
      LOG_LEVEL: process.env.LOG_LEVEL, EXTRA: process.env.EXTRA, cwd: process.cwd() }));
  });
  srv.listen(Number(process.env.PORT), process.env.HOST, () => {
    const port = srv.address().port;
    log({ msg: 'listening', url: 'http://127.0.0.1:' + port, port });
  });
  process.on('SIGTERM', () => {
    if (mode === 'stubborn') { log({ msg: 'ignoring SIGTERM' }); return; }
    log({ msg: 'shutting down' });
    srv.close(() => process.exit(0));
  });
}
`;

describe('startServer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'plexus-harness-'));
  const entry = join(dir, 'fake-server.mjs');
  writeFileSync(entry, FAKE_SERVER);
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('starts the server on a free port with the harness environment and reads its listening line', async () => {
    const server = await startServer({ entry, env: { EXTRA: 'yes' } });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(server.port > 0);
      const env = (await (await fetch(server.url)).json()) as Record<string, string>;
      assert.equal(env.PORT, '0');
      assert.equal(env.HOST, '127.0.0.1');
      assert.equal(env.LOG_LEVEL, 'info');
      assert.equal(env.EXTRA, 'yes');
      assert.equal(env.DATA_DIR, server.dataDir);
      assert.ok(existsSync(server.dataDir));
      assert.match(server.logs(), /"msg":"starting"/);
    } finally {
      await server.stop();
    }
    assert.equal(existsSync(server.dataDir), false, 'the temporary DATA_DIR is removed on stop');
    assert.match(server.logs(), /shutting down/);
    assert.equal(await server.exited, 0);
  });

  it('keeps a DATA_DIR it was given', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'plexus-harness-data-'));
    try {
      const server = await startServer({ entry, dataDir });
      assert.equal(server.dataDir, dataDir);
      await server.stop();
      assert.ok(existsSync(dataDir));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('fails with the server output when the process exits before listening', async () => {
    await assert.rejects(startServer({ entry, env: { FAKE_MODE: 'crash' } }), (err: Error) => {
      assert.match(err.message, /exited \(3\) before logging "listening"/);
      assert.match(err.message, /boom: missing config FOO/);
      return true;
    });
  });

  it('fails with the server output when no listening line arrives in time', async () => {
    await assert.rejects(startServer({ entry, env: { FAKE_MODE: 'silent' }, timeoutMs: 1500 }), (err: Error) => {
      assert.match(err.message, /did not log "listening" within 1500 ms/);
      assert.match(err.message, /a line that is not JSON/);
      return true;
    });
  });

  it('kills a server that ignores SIGTERM once the grace period ends', async () => {
    const server = await startServer({ entry, env: { FAKE_MODE: 'stubborn' } });
    await server.stop(300);
    assert.equal(await server.exited, 'SIGKILL');
    assert.match(server.logs(), /ignoring SIGTERM/);
  });

  it('kill() ends the process at once, like a crash', async () => {
    const server = await startServer({ entry });
    server.kill();
    assert.equal(await server.exited, 'SIGKILL');
    await server.stop();
    assert.equal(existsSync(server.dataDir), false);
  });
});

describe('launchChromium', () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  it('gives a headless browser in which WebGL 2 and WebGL 1 render through SwiftShader', async () => {
    const page = await browser.newPage();
    await page.setContent('<!doctype html><canvas width="4" height="4"></canvas>');
    const result = await page.evaluate(() => {
      const gl2 = document.createElement('canvas').getContext('webgl2');
      const gl1 = document.createElement('canvas').getContext('webgl');
      const gl = document.querySelector('canvas')!.getContext('webgl', { preserveDrawingBuffer: true })!;
      gl.clearColor(1, 0, 0, 1);
      gl.clear(gl.COLOR_BUFFER_BIT);
      const px = new Uint8Array(4);
      gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
      const info = gl.getExtension('WEBGL_debug_renderer_info');
      return {
        webgl2: gl2 !== null,
        webgl: gl1 !== null,
        pixel: Array.from(px),
        renderer: info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '',
      };
    });
    assert.equal(result.webgl2, true);
    assert.equal(result.webgl, true);
    assert.deepEqual(result.pixel, [255, 0, 0, 255]);
    assert.match(result.renderer, /SwiftShader/);
    await page.close();
  });
});
