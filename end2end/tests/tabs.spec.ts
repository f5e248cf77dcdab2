import { test, expect, type Page } from '@playwright/test';
import { PeercacheServer } from './server';

// One real node (P2P on loopback); the tabs' behaviour against its real cache.
// It samples its counters every 200 ms, so the charts have history at once.
let server: PeercacheServer;
const SAMPLE_PERIOD_MS = 200;

test.beforeEach(async () => {
  server = await PeercacheServer.start({ env: { PEERCACHE_SAMPLE_PERIOD_MS: String(SAMPLE_PERIOD_MS) } });
});

test.afterEach(async () => {
  await server.dispose();
});

async function open(page: Page, path: string) {
  await page.goto(`${server.url}${path}`);
  await expect(page.locator('main')).toHaveAttribute('data-hydrated', 'true');
}

async function put(key: string, body: unknown) {
  const response = await fetch(`${server.url}/api/cache/entry?key=${encodeURIComponent(key)}&ttl=600`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(201);
}

test('tabs are links, and a tab with its filter reopens from the URL', async ({ page }) => {
  await put('get_repo:octo/one', { id: 1 });
  await put('get_repo:octo/two', { id: 2 });
  await put('list_prs:octo/one', { prs: [] });
  await open(page, '/');
  await page.getByRole('link', { name: 'Cache' }).click();
  await expect(page).toHaveURL(/\/cache$/);
  await expect(page.getByRole('link', { name: 'Cache' })).toHaveAttribute('aria-current', 'page');
  await expect(page.locator('#entry-count')).toHaveText('3 entries match');

  await page.locator('#cache-prefix').fill('get_repo:');
  await expect(page).toHaveURL(/\/cache\?prefix=get_repo/);
  await expect(page.locator('#entry-count')).toHaveText('2 entries match');

  // The same link in a new page: same tab, same filter, same rows, from the first HTML on.
  const again = await page.context().newPage();
  await open(again, new URL(page.url()).pathname + new URL(page.url()).search);
  await expect(again.locator('#cache-prefix')).toHaveValue('get_repo:');
  await expect(again.locator('#entry-table tbody tr')).toHaveCount(2);
  await again.close();
});

test('the cache browser shows an entry as JSON, pages, and invalidates one after a confirmation', async ({ page }) => {
  for (let i = 0; i < 30; i++) await put(`get_repo:octo/r${String(i).padStart(2, '0')}`, { id: i });
  await open(page, '/cache');
  await expect(page.locator('#entry-count')).toHaveText('30 entries match');
  await expect(page.locator('#entry-table tbody tr')).toHaveCount(25);
  await expect(page.locator('#page-label')).toHaveText('Page 1 of 2');
  await page.locator('#page-next').click();
  await expect(page).toHaveURL(/page=2/);
  await expect(page.locator('#entry-table tbody tr')).toHaveCount(5);
  // An old link past the last page lands on the last page.
  const past = await page.context().newPage();
  await open(past, '/cache?page=9');
  await expect(past.locator('#page-label')).toHaveText('Page 2 of 2');
  await expect(past).toHaveURL(/page=2/);
  await past.close();

  const row = page.locator('#entry-table tr[data-key="get_repo:octo/r29"]');
  await expect(row.locator('.entry-origin')).toHaveText('local');
  await row.locator('button.link').click();
  await expect(page).toHaveURL(/entry=get_repo/);
  const json = JSON.parse((await page.locator('#entry-json').textContent())!);
  expect(json.value).toEqual({ id: 29 });
  expect(json.cid).toMatch(/^bafkrei/);
  await page.screenshot({ path: 'screenshots/cache.png', fullPage: true });

  // Cancel keeps it; confirming removes it and says so.
  await row.locator('button.invalidate-one').click();
  await expect(page.locator('#confirm-question')).toHaveText('Invalidate the entry "get_repo:octo/r29"?');
  await expect(page.locator('#confirm-yes')).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(page.locator('#confirm-box')).toHaveCount(0);
  expect((await server.json('/api/cache/entries?prefix=get_repo:octo/r29')).total).toBe(1);
  await row.locator('button.invalidate-one').click();
  await page.keyboard.press('Enter');
  await expect(page.locator('.toast-text', { hasText: 'Cache cleared' })).toHaveText('Cache cleared: 1 entry');
  await expect(row).toHaveCount(0);
  await expect(page.locator('#entry-view')).toHaveCount(0);
  expect((await server.json('/api/cache/entries?prefix=get_repo:octo/r29')).total).toBe(0);
});

test('the call log lists upstream calls newest first', async ({ page }) => {
  // A GitHub proxy request to an upstream that does not answer is one logged upstream call.
  await open(page, '/cache');
  await expect(page.locator('#call-log-empty')).toBeVisible();
  const proxied = await fetch(`${server.url}/github/repos/octo/hello`);
  expect(proxied.status).toBeGreaterThanOrEqual(500);
  await page.getByRole('button', { name: '🔄 Refresh Log' }).click();
  await expect(page.locator('#call-log tbody tr')).toHaveCount(1);
  await expect(page.locator('#call-log tbody tr td').nth(1)).toHaveText('rest');
});

test('charts draw the history at once, from the samples the server keeps', async ({ page }) => {
  await put('get_repo:octo/chart', { id: 1 });
  const lookup = async (key: string) => (await fetch(`${server.url}/api/cache/entry?key=${key}`)).status;
  const lookups = async () => {
    for (let i = 0; i < 4; i++) expect(await lookup('get_repo:octo/chart')).toBe(200);
    expect(await lookup('get_repo:octo/none')).toBe(404);
  };
  // 4 hits and 1 miss after the first sample, then three more samples.
  await expect.poll(async () => (await server.json('/api/history')).samples.length).toBeGreaterThanOrEqual(2);
  await lookups();
  await expect.poll(async () => (await server.json('/api/history')).samples.length).toBeGreaterThanOrEqual(5);
  const history = await server.json('/api/history');
  expect(history.period_ms).toBe(SAMPLE_PERIOD_MS);
  const last = history.samples.at(-1);
  expect(last.hits * 5).toBe(last.requests * 4);

  // A page opened now draws them at once: lines, not just the latest point; the
  // rightmost point covers the lookups since the last sample (all hits now, so
  // 100% wherever a 200 ms sample falls among them).
  for (let i = 0; i < 4; i++) expect(await lookup('get_repo:octo/chart')).toBe(200);
  await open(page, '/charts');
  await expect(page.locator('.chart-note')).toContainText(/\((\d+) so far\)/);
  const points = await page.locator('#chart-hit-rate polyline').getAttribute('points');
  expect(points!.split(' ').length).toBeGreaterThanOrEqual(2);
  await expect(page.locator('#chart-hit-rate [data-series="hit rate"] strong')).toHaveText('100%');
  // Some interval had lookups: a point of the line above the zero line (y = 126 in the SVG).
  const requests = (await page.locator('#chart-requests polyline').getAttribute('points'))!;
  expect(requests.split(' ').some((p) => Number(p.split(',')[1]) < 126), requests).toBe(true);
  await expect(page.locator('#chart-peers [data-series="peers"] strong')).toHaveText('0');
  await expect(page.locator('#chart-upstream polyline')).toHaveCount(2);
  const ops = (await server.json('/api/mcp/cache/stats')).operations;
  await expect(page.locator('#operations tr[data-operation="get_repo"] .op-hits')).toHaveText(String(ops.get_repo.hits));
  await expect(page.locator('#operations tr[data-operation="get_repo"] .op-rate')).toHaveText('88.9%');
  await expect(page.locator('#proxy-modes-empty')).toBeVisible();
  await expect(page.locator('#fleet-leases')).toHaveText('0');
  await expect(page.locator('#fleet-waits')).toHaveText('0');
  await page.screenshot({ path: 'screenshots/charts.png', fullPage: true });
});

test('the connect form refuses a bad multiaddr inline, in the browser and at the server', async ({ page }) => {
  await open(page, '/peers');
  await expect(page.locator('#peer-table-empty')).toContainText('No peers connected');
  await expect(page.locator('#listen-addrs li')).not.toHaveCount(0);

  await page.locator('#connect-addr').fill('192.0.2.1:9100');
  await page.locator('#connect-addr').press('Enter');
  await expect(page.locator('#connect-error')).toHaveText(/starts with "\/"/);
  await expect(page.locator('#connect-addr')).toHaveAttribute('aria-invalid', 'true');

  const bad = '/ip4/999.0.0.1/tcp/9100/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN';
  await page.locator('#connect-addr').fill(bad);
  await page.getByRole('button', { name: '🔗 Connect' }).click();
  await expect(page.locator('#connect-error')).toHaveText(/invalid multiaddr .*not a multiaddr/);
  await expect(page.locator('.toast-error')).toContainText('Could not connect');
  expect((await server.json('/api/mcp/peers')).peer_count).toBe(0);
});

test('every tab fits a 390 px phone screen without horizontal scroll', async ({ browser }) => {
  await put('rest:GET /repos/octo/a-rather-long-repository-name/pulls?state=open&per_page=100', { id: 1 });
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  for (const path of ['/', '/charts', '/peers', '/cache', '/fleet', '/assets']) {
    await open(page, path);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `horizontal overflow on ${path}`).toBeLessThanOrEqual(0);
  }
  await page.screenshot({ path: 'screenshots/cache-phone.png', fullPage: true });
  await page.close();
});

test('a 1920 px desktop has no horizontal scroll, and dark mode follows the system', async ({ browser }) => {
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 }, colorScheme: 'dark' });
  for (const path of ['/', '/charts', '/peers', '/cache', '/fleet', '/assets']) {
    await open(page, path);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `horizontal overflow on ${path}`).toBeLessThanOrEqual(0);
  }
  await expect(page.locator('body')).toHaveCSS('background-color', 'rgb(13, 17, 23)');
  await page.emulateMedia({ colorScheme: 'light' });
  await expect(page.locator('body')).toHaveCSS('background-color', 'rgb(245, 246, 248)');
  await page.close();
});

test('the tabs and their controls are reachable with the keyboard', async ({ page }) => {
  await put('get_repo:octo/keys', { id: 1 });
  await open(page, '/');
  // Tab from the top of the page until the Cache tab has the focus, then open it with Enter.
  for (let i = 0; i < 15 && !(await page.getByRole('link', { name: 'Cache' }).evaluate((a) => a === document.activeElement)); i++) {
    await page.keyboard.press('Tab');
  }
  await expect(page.getByRole('link', { name: 'Cache' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/cache$/);
  await page.locator('#cache-prefix').focus();
  await page.keyboard.type('get_repo:octo/');
  // Fast typing loses no keystroke, and the URL follows the box.
  await expect(page.locator('#cache-prefix')).toHaveValue('get_repo:octo/');
  await expect(page).toHaveURL(/prefix=get_repo%3Aocto%2F$|prefix=get_repo:octo\/$/);
  await page.keyboard.press('Tab');
  await expect(page.locator('#invalidate-prefix')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('#confirm-question')).toContainText('"get_repo:octo/" (1 entry)');
  await page.keyboard.press('Enter');
  await expect(page.locator('.toast-text', { hasText: 'Cache cleared' })).toHaveText('Cache cleared: 1 entry');
  await expect(page.locator('#entry-count')).toHaveText('No entries match.');
});

test('copy buttons put the text on the clipboard and say so', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  const node = await server.json('/api/node');
  await open(page, '/');
  await page.locator('.node-line button.copy').click();
  await expect(page.locator('.toast-text')).toHaveText(/^Copied: 12D3Koo/);
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(node.peer_id);
});
