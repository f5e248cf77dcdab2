import { test, expect } from '@playwright/test';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { PeercacheServer } from './server';

// A fake GitHub on 127.0.0.1: one release asset's metadata (with its digest),
// its download as a 302 to the same server's objects path, and the bytes.
const ASSET = Buffer.alloc(1024 * 1024, 7);
let github: Server;
let githubUrl: string;
let objectsSent = 0;
let server: PeercacheServer;

test.beforeEach(async () => {
  objectsSent = 0;
  github = createServer((req, res) => {
    if (req.url === '/repos/o/r/releases/assets/1' && req.headers.accept === 'application/octet-stream') {
      res.writeHead(302, { location: `${githubUrl}/objects/1?sig=x` });
      res.end();
    } else if (req.url === '/repos/o/r/releases/assets/1') {
      const digest = 'sha256:' + createHash('sha256').update(ASSET).digest('hex');
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'private, max-age=60' });
      res.end(JSON.stringify({ id: 1, name: 'tool.bin', size: ASSET.length, digest }));
    } else if (req.url?.startsWith('/objects/1')) {
      objectsSent += ASSET.length;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(ASSET.length) });
      res.end(ASSET);
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Not Found' }));
    }
  });
  await new Promise<void>((resolve) => github.listen(0, '127.0.0.1', resolve));
  githubUrl = `http://127.0.0.1:${(github.address() as AddressInfo).port}`;
  const hosts = `127.0.0.1:${(github.address() as AddressInfo).port}`;
  server = await PeercacheServer.start({ args: ['--no-p2p', '--asset-hosts', hosts], env: { GITHUB_API_URL: githubUrl } });
});

test.afterEach(async () => {
  await server.dispose();
  await new Promise((resolve) => github.close(resolve));
});

test('the Assets tab shows what the blob store holds and where its bytes came from', async ({ page }) => {
  await page.goto(`${server.url}/assets`);
  await expect(page.locator('main')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.locator('#assets-headline')).toHaveText('No release asset or archive downloaded through this node yet.');
  await expect(page.locator('#assets-files')).toHaveText('0');
  await expect(page.locator('#assets-transfers')).toHaveText('No download in progress.');
  for (const token of ['ghp_a', 'ghp_b']) {
    const response = await fetch(`${server.url}/github/repos/o/r/releases/assets/1`, {
      headers: { accept: 'application/octet-stream', authorization: `token ${token}` },
    });
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(ASSET)).toBe(true);
  }
  expect(objectsSent).toBe(ASSET.length);
  await page.getByRole('button', { name: '🔄 Refresh Assets' }).click();
  await expect(page.locator('#assets-files')).toHaveText('1');
  await expect(page.locator('#assets-from-github')).toHaveText('1.0 MiB');
  await expect(page.locator('#assets-from-peers')).toHaveText('0 B');
  await expect(page.locator('#assets-served')).toHaveText('2.0 MiB');
  await expect(page.locator('#assets-downloads-github')).toHaveText('1');
  await expect(page.locator('#assets-answers')).toHaveText('1 from the store, 0 following a download, 1 fetched, 0 passed on');
  await expect(page.locator('#assets-headline')).toHaveText('0 B of the 1.0 MiB this node took came from peers, 1.0 MiB from GitHub.');
  await expect(page.locator('#assets-held')).toHaveText(/^1\.0 MiB of /);
  await page.screenshot({ path: 'screenshots/assets.png', fullPage: true });
});
