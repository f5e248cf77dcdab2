import { test, expect, type Page } from '@playwright/test';
import { PeercacheServer } from './server';

let server: PeercacheServer;

test.beforeEach(async () => {
  server = await PeercacheServer.start({ args: ['--no-p2p'] });
});

test.afterEach(async () => {
  await server.dispose();
});

async function openDashboard(page: Page) {
  await page.goto(server.url);
  // Set by an effect that only runs once the WASM has hydrated the page.
  await expect(page.locator('main')).toHaveAttribute('data-hydrated', 'true');
}

test('overview cards show the real values of the backend', async ({ page, request }) => {
  const peers = await (await request.get(`${server.url}/api/mcp/peers`)).json();
  const stats = await (await request.get(`${server.url}/api/mcp/cache/stats`)).json();
  expect(peers.enabled).toBe(false);
  expect(stats.total_entries).toBe(0);

  await openDashboard(page);
  await expect(page.locator('#peer-status')).toHaveText('✗ Disabled');
  await expect(page.locator('#peer-status')).toHaveClass(/status-off/);
  await expect(page.locator('#peer-count')).toHaveText(String(peers.peer_count));
  await expect(page.locator('#p2p-enabled')).toHaveText('✗ Disabled');
  await expect(page.locator('#p2p-enabled')).toHaveAttribute('title', peers.reason);
  await expect(page.locator('#cache-entries')).toHaveText(String(stats.total_entries));
  await expect(page.locator('#cache-size')).toHaveText('0.00 MB');
  await expect(page.locator('#cache-hit-rate')).toHaveText('0.0%');
  await expect(page.getByText('Loading...')).toHaveCount(0);
  await page.screenshot({ path: 'screenshots/overview.png', fullPage: true });
});

test('the gh card says where gh goes and the one command that points it there', async ({ page }) => {
  await openDashboard(page);
  const socket = `${server.cacheDir}/gh.sock`;
  await expect(page.locator('#gh-socket')).toContainText(`Listening on ${socket}`);
  await expect(page.locator('#gh-command')).toHaveText(`gh config set http_unix_socket ${socket}`);
});

test('first HTML already carries the values (server-side rendering)', async ({ request }) => {
  const html = await (await request.get(server.url)).text();
  expect(html).toContain('id="peer-status"');
  expect(html).toContain('✗ Disabled');
  expect(html).toContain('0.0%');
  expect(html).not.toContain('Loading...');
});

test('refresh buttons ask the server again', async ({ page }) => {
  await openDashboard(page);
  const peerRequest = page.waitForRequest((r) => r.url().includes('/sfn/peer_status'));
  await page.getByRole('button', { name: '🔄 Refresh Peers' }).click();
  await peerRequest;
  const cacheRequest = page.waitForRequest((r) => r.url().includes('/sfn/cache_stats'));
  await page.getByRole('button', { name: '📊 Refresh Cache' }).click();
  await cacheRequest;
});

test('cards poll by themselves every few seconds', async ({ page }) => {
  await openDashboard(page);
  const polled = await page.waitForRequest((r) => r.url().includes('/sfn/peer_status'), { timeout: 8_000 });
  expect(polled.method()).toBe('GET');
});

test('a stopped server shows the error state, and a restarted one clears it', async ({ page }) => {
  await openDashboard(page);
  await expect(page.locator('#unreachable-banner')).toHaveCount(0);
  await server.stop();
  await page.getByRole('button', { name: '🔄 Refresh Peers' }).click();
  await expect(page.locator('#peer-status')).toHaveText('⚠ Error loading');
  await expect(page.locator('#peer-status')).toHaveClass(/status-error/);
  // Without a click: the next poll (5 s) must bring the cache card to the same state.
  await expect(page.locator('#cache-entries')).toHaveText('⚠ Error loading', { timeout: 8_000 });
  await expect(page.locator('#unreachable-banner')).toBeVisible();
  await expect(page.locator('#unreachable-banner')).toHaveAttribute('role', 'alert');

  await server.restart();
  await expect(page.locator('#peer-status')).toHaveText('✗ Disabled', { timeout: 8_000 });
  await expect(page.locator('#cache-hit-rate')).toHaveText('0.0%', { timeout: 8_000 });
  await expect(page.locator('#unreachable-banner')).toHaveCount(0, { timeout: 8_000 });
});

test('the cache card follows what the cache really does', async ({ page, request }) => {
  await openDashboard(page);
  await expect(page.locator('#cache-entries')).toHaveText('0');
  const body = JSON.stringify({ id: 1, name: 'x'.repeat(2 * 1024 * 1024) });
  const put = await request.put(`${server.url}/api/cache/entry?key=get_repo:octo/hello&ttl=600`, { data: body, headers: { 'content-type': 'application/json' } });
  expect(put.status()).toBe(201);
  expect((await request.get(`${server.url}/api/cache/entry?key=get_repo:octo/hello`)).status()).toBe(200);
  expect((await request.get(`${server.url}/api/cache/entry?key=get_repo:octo/missing`)).status()).toBe(404);

  await page.getByRole('button', { name: '📊 Refresh Cache' }).click();
  await expect(page.locator('#cache-entries')).toHaveText('1');
  await expect(page.locator('#cache-size')).toHaveText('2.00 MB');
  await expect(page.locator('#cache-hit-rate')).toHaveText('50.0%');
  await expect(page.locator('#cache-local-hits')).toHaveText('1');
  await expect(page.locator('#cache-misses')).toHaveText('1');
  // A user's own entry, looked up, never was a GitHub call: nothing saved.
  await expect(page.locator('#cache-calls-saved')).toHaveText('0');
});

test('entries survive a restart of the server and hit after it', async ({ page, request }) => {
  const put = await request.put(`${server.url}/api/cache/entry?key=get_repo:octo/kept&ttl=600`, { data: '{"id": 2}', headers: { 'content-type': 'application/json' } });
  expect(put.status()).toBe(201);
  await server.restart();
  const got = await request.get(`${server.url}/api/cache/entry?key=get_repo:octo/kept`);
  expect(got.status()).toBe(200);
  expect((await got.json()).value).toEqual({ id: 2 });
  await openDashboard(page);
  await expect(page.locator('#cache-entries')).toHaveText('1');
  await expect(page.locator('#cache-hit-rate')).toHaveText('100.0%');
});

test('polling pauses while the tab is hidden and resumes when it shows', async ({ page }) => {
  // The page's clock is Playwright's: time moves when the test says, and each
  // server-function call is counted as the page makes it.
  await page.clock.install();
  await page.addInitScript(() => {
    const original = window.fetch;
    (window as any).sfnCalls = 0;
    window.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url.includes('/sfn/')) (window as any).sfnCalls++;
      return original(input, init);
    };
  });
  await openDashboard(page);
  const calls = () => page.evaluate(() => (window as any).sfnCalls as number);
  await page.evaluate(() => Object.defineProperty(document, 'hidden', { configurable: true, get: () => true }));
  const hidden = await calls();
  await page.clock.runFor(12_000); // two poll periods
  expect(await calls()).toBe(hidden);
  await page.evaluate(() => Object.defineProperty(document, 'hidden', { configurable: true, get: () => false }));
  await page.clock.runFor(5_000); // one poll period
  expect(await calls()).toBeGreaterThanOrEqual(hidden + 3);
});
