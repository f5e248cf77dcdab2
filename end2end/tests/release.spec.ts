// The release binary, copied alone into an empty directory (as an install
// would), serves a dashboard that hydrates: its bundle is inside it, under
// content-hashed names that may be kept forever, in the encodings the
// browser takes; the HTML itself is never kept.
import { test, expect } from '@playwright/test';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get as httpGet } from 'node:http';
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import { PeercacheServer } from './server';

const RELEASE_BIN = process.env.PEERCACHE_RELEASE_BIN ?? '/var/tmp/peercache-target/release/peercache';

let dir: string;
let server: PeercacheServer;

test.beforeAll(async () => {
  expect(existsSync(RELEASE_BIN), `${RELEASE_BIN} (make release builds it)`).toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'peercache-alone-'));
  copyFileSync(RELEASE_BIN, join(dir, 'peercache'));
  server = await PeercacheServer.start({ bin: join(dir, 'peercache'), args: ['--no-p2p'] });
});

test.afterAll(async () => {
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('a lone copy of the release binary serves a dashboard that hydrates', async ({ page }) => {
  const assets: { url: string; status: number; headers: Record<string, string>; accepts: string }[] = [];
  const seen: Promise<void>[] = [];
  page.on('response', (response) => {
    if (new URL(response.url()).pathname.startsWith('/pkg/')) {
      seen.push(
        response.request().allHeaders().then((sent) => {
          assets.push({
            url: response.url(),
            status: response.status(),
            headers: response.headers(),
            accepts: sent['accept-encoding'] ?? '',
          });
        }),
      );
    }
  });
  const first = await page.goto(server.url);
  expect(first!.headers()['cache-control']).toBe('no-store');
  await expect(page.locator('main')).toHaveAttribute('data-hydrated', 'true');
  await Promise.all(seen);

  const names = assets.map((a) => new URL(a.url).pathname).sort();
  expect(names).toEqual([
    expect.stringMatching(/^\/pkg\/peercache\.[0-9a-f]{16}\.css$/),
    expect.stringMatching(/^\/pkg\/peercache\.[0-9a-f]{16}\.js$/),
    expect.stringMatching(/^\/pkg\/peercache\.[0-9a-f]{16}_bg\.wasm$/),
  ]);
  for (const asset of assets) {
    expect(asset.status, asset.url).toBe(200);
    expect(asset.headers['cache-control'], asset.url).toBe('public, max-age=31536000, immutable');
    // The smallest encoding the browser asked for: Chromium takes brotli
    // from 127.0.0.1 (a secure context), gzip from other plain-HTTP hosts.
    const best = /\bbr\b/.test(asset.accepts) ? 'br' : 'gzip';
    expect(asset.accepts, asset.url).toMatch(/\bgzip\b/);
    expect(asset.headers['content-encoding'], `${asset.url} (asked for ${asset.accepts})`).toBe(best);
  }
});

test('each file comes in brotli, gzip or as it is, the same bytes every way', async ({ request }) => {
  const html = await (await request.get(server.url)).text();
  const wasm = html.match(/\/pkg\/peercache\.[0-9a-f]{16}_bg\.wasm/)![0];
  // node:http never decodes: the bytes as sent.
  const raw = (encoding: string) =>
    new Promise<{ encoding?: string; vary?: string; body: Buffer }>((resolve, reject) => {
      httpGet(`${server.url}${wasm}`, { headers: { 'accept-encoding': encoding } }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            encoding: response.headers['content-encoding'],
            vary: response.headers['vary'] as string | undefined,
            body: Buffer.concat(chunks),
          }),
        );
      }).on('error', reject);
    });
  const plain = await raw('identity');
  expect(plain.encoding).toBeUndefined();
  expect(plain.vary).toBe('accept-encoding');
  expect(plain.body.subarray(0, 4)).toEqual(Buffer.from([0, 0x61, 0x73, 0x6d]), 'a WASM module');
  const br = await raw('br');
  const gzip = await raw('gzip;q=1, br;q=0');
  expect(br.encoding).toBe('br');
  expect(gzip.encoding).toBe('gzip');
  expect(br.body.length).toBeLessThan(gzip.body.length);
  expect(gzip.body.length).toBeLessThan(plain.body.length / 2);
  expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true);
  expect(gunzipSync(gzip.body).equals(plain.body)).toBe(true);

  // Another build's name is not this bundle: a clear 404, not a wrong file.
  const stale = await request.get(`${server.url}/pkg/peercache.0123456789abcdef.js`);
  expect(stale.status()).toBe(404);
  expect((await stale.json()).error).toContain('no dashboard file');
});
