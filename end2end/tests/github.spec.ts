import { test, expect } from '@playwright/test';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { PeercacheServer } from './server';

// A fake GitHub on 127.0.0.1: JSON with an ETag and rate-limit headers.
let github: Server;
let githubUrl: string;
let githubRequests = 0;
let server: PeercacheServer;

test.beforeEach(async () => {
  githubRequests = 0;
  github = createServer((req, res) => {
    githubRequests += 1;
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      etag: '"v1"',
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(5000 - githubRequests),
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 1800),
      'x-ratelimit-resource': 'core',
    });
    res.end(JSON.stringify({ full_name: req.url }));
  });
  await new Promise<void>((resolve) => github.listen(0, '127.0.0.1', resolve));
  githubUrl = `http://127.0.0.1:${(github.address() as AddressInfo).port}`;
  server = await PeercacheServer.start({ args: ['--no-p2p'], env: { GITHUB_API_URL: githubUrl } });
});

test.afterEach(async () => {
  await server.dispose();
  await new Promise((resolve) => github.close(resolve));
});

test('the rate limit card shows what GitHub said and what the cache saved', async ({ page }) => {
  await page.goto(server.url);
  await expect(page.locator('main')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.locator('#rate-remaining')).toContainText('No GitHub calls through this node yet');

  const headers = { authorization: 'token e2e-secret' };
  const first = await fetch(`${server.url}/github/repos/octo/hello`, { headers });
  expect(first.headers.get('x-peercache')).toBe('MISS');
  const second = await fetch(`${server.url}/github/repos/octo/hello`, { headers });
  expect(second.headers.get('x-peercache')).toBe('HIT');
  expect(await second.json()).toEqual({ full_name: '/repos/octo/hello' });
  expect(githubRequests).toBe(1);

  await page.getByRole('button', { name: '⚡ Refresh Rate Limit' }).click();
  await expect(page.locator('#rate-remaining')).toHaveText('4999 / 5000');
  await expect(page.locator('#rate-reset')).toContainText(/in (29|30) min/);
  await expect(page.locator('#rate-scope')).toHaveText(/^[0-9a-f]{16} · core$/);
  await expect(page.locator('#freshness-mode')).toHaveText('TTL');
  await expect(page.locator('#rate-bar')).toHaveAttribute('value', '4999');
  await expect(page.locator('#calls-saved-hour')).toHaveText('1');
  await expect(page.locator('#upstream-calls')).toHaveText('1');
  await expect(page.locator('body')).not.toContainText('e2e-secret');
  await page.getByRole('button', { name: '📊 Refresh Cache' }).click();
  await expect(page.locator('#cache-entries')).toHaveText('1');
  await page.screenshot({ path: 'screenshots/rate-limit.png', fullPage: true });

  // The Charts tab breaks the same answers down by proxy mode and by cache operation.
  const stats = await server.json('/api/mcp/cache/stats');
  expect(stats.proxy.modes).toMatchObject({ MISS: 1, HIT: 1 });
  await page.getByRole('link', { name: 'Charts' }).click();
  await expect(page.locator('#proxy-modes tr[data-mode="HIT"] .mode-count')).toHaveText('1');
  await expect(page.locator('#proxy-modes tr[data-mode="MISS"] .mode-count')).toHaveText('1');
  await expect(page.locator('#proxy-modes tr[data-mode="HIT"] meter')).toHaveAttribute('max', '2');
  const operations = Object.entries(stats.operations) as [string, { hits: number; misses: number }][];
  expect(operations.length).toBeGreaterThan(0);
  for (const [operation, counts] of operations) {
    const row = page.locator(`#operations tr[data-operation="${operation}"]`);
    await expect(row.locator('.op-hits')).toHaveText(String(counts.hits));
    await expect(row.locator('.op-misses')).toHaveText(String(counts.misses));
  }
});

test('a second token gets the first token\'s answer confirmed by GitHub, and the card counts it as free', async ({ page }) => {
  // A GitHub that computes ETags as github.com does and answers 304 for free.
  const { createHash } = await import('node:crypto');
  let charged = 0;
  let free = 0;
  const etagging = createServer((req, res) => {
    const body = JSON.stringify({ login: 'octocat', url: req.url });
    const hash = createHash('sha256');
    for (const name of ['accept', 'authorization', 'cookie']) {
      const value = req.headers[name];
      if (typeof value === 'string') hash.update(`${value}:`);
    }
    const etag = `W/"${hash.update(body).digest('hex')}"`;
    const offered = (req.headers['if-none-match'] ?? '').split(',').map((tag) => tag.trim());
    const headers = {
      'content-type': 'application/json; charset=utf-8',
      etag,
      'cache-control': 'private, max-age=60',
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(5000 - charged - 1),
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 1800),
      'x-ratelimit-resource': 'core',
    };
    if (offered.includes(etag)) {
      free += 1;
      res.writeHead(304, headers);
      res.end();
      return;
    }
    charged += 1;
    res.writeHead(200, headers);
    res.end(body);
  });
  await new Promise<void>((resolve) => etagging.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(etagging.address() as AddressInfo).port}`;
  const sharing = await PeercacheServer.start({
    args: ['--no-p2p'],
    env: { GITHUB_API_URL: url, CACHE_SECRET: 'e2e-group-secret' },
  });
  try {
    const first = await fetch(`${sharing.url}/github/users/octocat`, { headers: { authorization: 'token job-1' } });
    expect(first.headers.get('x-peercache')).toBe('MISS');
    const second = await fetch(`${sharing.url}/github/users/octocat`, { headers: { authorization: 'token job-2' } });
    expect(second.headers.get('x-peercache')).toBe('CONFIRMED');
    expect(await second.json()).toEqual({ login: 'octocat', url: '/users/octocat' });
    expect([charged, free]).toEqual([1, 1]);

    await page.goto(sharing.url);
    await expect(page.locator('main')).toHaveAttribute('data-hydrated', 'true');
    await expect(page.locator('#free-confirmations-hour')).toHaveText('1');
    await expect(page.locator('#calls-saved-hour')).toHaveText('1');
    await expect(page.locator('#confirm-mode')).toHaveText('cross-scope: 1 confirmed, 0 refused');
    await page.getByRole('link', { name: 'Charts' }).click();
    await expect(page.locator('#proxy-modes tr[data-mode="CONFIRMED"] .mode-count')).toHaveText('1');
  } finally {
    await sharing.dispose();
    await new Promise((resolve) => etagging.close(resolve));
  }
});
