import { test, expect, type Page } from '@playwright/test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PeercacheServer, until } from './server';

// Two real `peercache serve` processes whose P2P nodes meet on 127.0.0.1.
let a: PeercacheServer;
let b: PeercacheServer;

test.afterEach(async () => {
  await b?.dispose();
  await a?.dispose();
});


async function openDashboard(page: Page, server: PeercacheServer) {
  await page.goto(server.url);
  await expect(page.locator('main')).toHaveAttribute('data-hydrated', 'true');
}

test('a lone node is enabled but not active, and says why', async ({ page }) => {
  a = await PeercacheServer.start();
  await openDashboard(page, a);
  await expect(page.locator('#peer-status')).toHaveText('⚠ Enabled but not active');
  await expect(page.locator('#peer-status')).toHaveClass(/status-warn/);
  await expect(page.locator('#p2p-enabled')).toHaveText('✓ Enabled');
  await expect(page.locator('#peer-reason')).toHaveText('no bootstrap peers configured and mDNS off');
  await expect(page.locator('#peer-list-empty')).toBeVisible();
  const status = await a.json('/api/mcp/peers');
  await expect(page.locator('#own-peer-id')).toHaveText(status.peer_id);
  // The header names the GitHub this node asks.
  const node = await a.json('/api/node');
  await expect(page.locator('#node-upstream')).toHaveText(`→ ${node.upstream}`);
});

test('bootstrap entries that are not multiaddrs are named on the P2P card', async ({ page }) => {
  a = await PeercacheServer.start({ env: { CACHE_BOOTSTRAP_PEERS: '/ip4/10.99.0.1/tcp/9100,10.99.0.2:9100' } });
  await openDashboard(page, a);
  await expect(page.locator('#peer-reason')).toHaveText('no usable bootstrap peer: 2 entries of CACHE_BOOTSTRAP_PEERS ignored (see bootstrap problems)');
  const problems = page.locator('#bootstrap-problems li');
  await expect(problems).toHaveCount(2);
  await expect(problems.nth(0)).toContainText('"/ip4/10.99.0.1/tcp/9100": it does not end in /p2p/<peer id>');
  await expect(problems.nth(1)).toContainText('"10.99.0.2:9100": not a multiaddr');
});

test('two nodes bootstrapped by multiaddr show each other as active peers', async ({ browser }) => {
  a = await PeercacheServer.start();
  const aStatus = await until('A to listen', async () => {
    const s = await a.json('/api/mcp/peers');
    return s.listen_addrs.length > 0 ? s : undefined;
  });
  b = await PeercacheServer.start({ env: { CACHE_BOOTSTRAP_PEERS: aStatus.listen_addrs[0] } });
  const bStatus = await until('B to connect', async () => {
    const s = await b.json('/api/mcp/peers');
    return s.peer_count === 1 ? s : undefined;
  });
  await until('A to see B', async () => ((await a.json('/api/mcp/peers')).peer_count === 1 ? true : undefined));

  for (const [server, other] of [
    [a, bStatus.peer_id],
    [b, aStatus.peer_id],
  ] as const) {
    const page = await browser.newPage();
    await openDashboard(page, server);
    await expect(page.locator('#peer-status')).toHaveText('✓ Active');
    await expect(page.locator('#peer-status')).toHaveClass(/status-ok/);
    await expect(page.locator('#peer-count')).toHaveText('1');
    // An open swarm: the card says plainly that peers' GitHub answers are not served as they are.
    await expect(page.locator('#sharing-warning')).toContainText('open swarm, CACHE_TRUSTED_PEERS empty');
    const row = page.locator(`#peer-list li[data-peer-id="${other}"]`);
    await expect(row).toBeVisible();
    await expect(row.locator('.peer-id')).toHaveAttribute('title', other);
    if (server === b) {
      await expect(row.locator('.peer-direction')).toHaveText('outbound');
      await page.screenshot({ path: 'screenshots/peers-active.png', fullPage: true });
    }
    await page.close();
  }

  // An entry put on A is visible on B, marked as coming from A.
  const put = await fetch(`${a.url}/api/cache/entry?key=get_repo:octo/shared&ttl=600`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"id": 42}' });
  expect(put.status).toBe(201);
  const page = await browser.newPage();
  const entry = await until('the entry on B', async () => {
    const list = await b.json('/api/cache/entries?prefix=get_repo:octo/shared');
    return list.total === 1 ? list.entries[0] : undefined;
  });
  expect(entry.origin).toBe(aStatus.peer_id);

  // Stopping B turns A back to yellow on its next poll.
  await openDashboard(page, a);
  await b.dispose();
  await expect(page.locator('#peer-status')).toHaveText('⚠ Enabled but not active', { timeout: 10_000 });
  await expect(page.locator('#peer-count')).toHaveText('0');
});

test('the Peers and Cache tabs of one node show the other node and its entries', async ({ browser }) => {
  a = await PeercacheServer.start();
  const aStatus = await until('A to listen', async () => {
    const s = await a.json('/api/mcp/peers');
    return s.listen_addrs.length > 0 ? s : undefined;
  });
  // B knows nobody until A's address goes into its "Connect to peer" form.
  b = await PeercacheServer.start();
  const page = await browser.newPage();
  await openDashboard(page, b);
  await page.getByRole('link', { name: 'Peers' }).click();
  await expect(page.locator('#peer-table-empty')).toContainText('No peers connected');
  await page.locator('#connect-addr').fill(aStatus.listen_addrs[0]);
  await page.getByRole('button', { name: '🔗 Connect' }).click();
  await expect(page.locator('.toast .toast-text').first()).toHaveText(`Dialing ${aStatus.listen_addrs[0]}`);
  await expect(page.locator('#connect-addr')).toHaveValue('');

  // B's peers table: A's row, the filter with its count, and the sort order in the URL.
  const row = page.locator(`#peer-table tr[data-peer-id="${aStatus.peer_id}"]`);
  await expect(row).toBeVisible();
  await expect(row.locator('.peer-direction')).toHaveText('outbound');
  await expect(row.locator('.peer-addr')).toHaveText(aStatus.listen_addrs[0]);
  await expect(page.locator('#peer-match-count')).toHaveText('1 of 1 peers');
  await page.locator('#peer-table button[data-sort="latency"]').click();
  await expect(page).toHaveURL(/sort=latency/);
  await expect(page.locator('#peer-table th[aria-sort="ascending"]')).toHaveText(/Latency/);
  await expect(row.locator('.peer-latency')).toHaveText(/ms$/, { timeout: 20_000 });
  // An open swarm without CACHE_TRUSTED_PEERS: A's GitHub answers are not taken, and the tab says so.
  await expect(row.locator('.peer-trusted')).toHaveText('no');
  await expect(row.locator('.peer-refused')).toHaveText('0');
  await expect(page.locator('#trust-policy')).toContainText('nobody but this node');
  await expect(page.locator('#refused-total')).toHaveText('Refused from peers: 0');
  await page.screenshot({ path: 'screenshots/peers.png', fullPage: true });
  await page.locator('#peer-filter').fill('no-such-peer');
  await expect(page.locator('#peer-match-count')).toHaveText('0 of 1 peers');
  await expect(page).toHaveURL(/q=no-such-peer/);

  // An entry put through A's API appears in B's cache browser (it polls) within 10 s, marked as A's.
  await page.getByRole('link', { name: 'Cache' }).click();
  await page.locator('#cache-prefix').fill('get_repo:octo/');
  await expect(page.locator('#entry-count')).toHaveText('No entries match.');
  const put = await fetch(`${a.url}/api/cache/entry?key=get_repo:octo/from-a&ttl=600`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"id": 7}' });
  expect(put.status).toBe(201);
  const entry = page.locator('#entry-table tr[data-key="get_repo:octo/from-a"]');
  await expect(entry).toBeVisible({ timeout: 10_000 });
  await expect(entry.locator('.entry-origin')).toHaveAttribute('title', aStatus.peer_id);

  // Invalidating the prefix on B removes it there (only there, as the tab says) and says how many went.
  await expect(page.locator('#invalidate-hint')).toContainText('peers keep theirs');
  await page.locator('#invalidate-prefix').click();
  await expect(page.locator('#confirm-question')).toHaveText('Invalidate every entry whose key starts with "get_repo:octo/" (1 entry)?');
  await page.locator('#confirm-yes').click();
  await expect(page.locator('.toast-text', { hasText: 'Cache cleared' })).toHaveText('Cache cleared: 1 entry');
  await expect(entry).toHaveCount(0);
  expect((await b.json('/api/cache/entries?prefix=get_repo:octo/')).total).toBe(0);
  expect((await a.json('/api/cache/entries?prefix=get_repo:octo/')).total).toBe(1);
  await page.close();
});

test('a P2P port already in use shows the red state with the reason, and the dashboard still works', async ({ page }) => {
  a = await PeercacheServer.start();
  const addr: string = (await until('A to listen', async () => (await a.json('/api/mcp/peers')).listen_addrs[0]));
  const taken = addr.split('/')[4];
  b = await PeercacheServer.start({ env: { CACHE_LISTEN_PORT: taken } });
  await openDashboard(page, b);
  await expect(page.locator('#peer-status')).toHaveText('✗ Failed');
  await expect(page.locator('#peer-status')).toHaveClass(/status-error/);
  await expect(page.locator('#peer-reason')).toHaveText(`cannot listen on port ${taken}: address in use`);
  await expect(page.locator('#cache-hit-rate')).toHaveText('0.0%');
});

test('the header names the node, its peer id and version, and counts time since the last answer', async ({ page }) => {
  a = await PeercacheServer.start();
  const node = await a.json('/api/node');
  const peers = await a.json('/api/mcp/peers');
  expect(node.peer_id).toBe(peers.peer_id);
  await openDashboard(page, a);
  await expect(page.locator('#node-name')).toHaveText(node.name);
  await expect(page.locator('#node-version')).toHaveText(`peercache ${node.version}`);
  await expect(page.locator('#header-peer-id')).toHaveAttribute('title', node.peer_id);
  await expect(page.locator('#node-uptime')).toHaveText(/^up \d+ s$/);
  await expect(page.locator('#last-updated')).toHaveText(/^updated [1-4] s ago$/, { timeout: 5_000 });
  await page.screenshot({ path: 'screenshots/header.png' });
});

test('the Overview peer list lays out cleanly at 390, 1280 and 1920 px', async ({ browser }) => {
  a = await PeercacheServer.start();
  const aStatus = await until('A to listen', async () => {
    const s = await a.json('/api/mcp/peers');
    return s.listen_addrs.length > 0 ? s : undefined;
  });
  b = await PeercacheServer.start({ env: { CACHE_BOOTSTRAP_PEERS: aStatus.listen_addrs[0] } });
  await until('B to connect', async () => ((await b.json('/api/mcp/peers')).peer_count === 1 ? true : undefined));
  // 1400 px is where the old grid put the multiaddr in a one-character column.
  for (const width of [390, 1280, 1400, 1920]) {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    await openDashboard(page, b);
    await expect(page.locator('#peer-list .peer')).toHaveCount(1);
    const cells = await page.locator('#peer-list .peer').evaluate((row) => {
      const probe = document.createElement('span');
      const addr = row.querySelector('.peer-addr') as HTMLElement;
      probe.style.font = getComputedStyle(addr).font;
      probe.textContent = '0'.repeat(20);
      document.body.append(probe);
      const twentyChars = probe.getBoundingClientRect().width;
      probe.remove();
      const id = row.querySelector('.peer-id')!.getBoundingClientRect();
      return {
        twentyChars,
        idLeft: id.left,
        addr: addr.getBoundingClientRect(),
        others: [...row.children]
          .filter((c) => c !== addr)
          .map((c) => {
            const el = c as HTMLElement;
            const lineHeight = parseFloat(getComputedStyle(el).lineHeight) || parseFloat(getComputedStyle(el).fontSize) * 1.3;
            return { name: el.className, overflow: el.scrollWidth - el.clientWidth, height: el.getBoundingClientRect().height, lineHeight };
          }),
      };
    });
    // The address wraps under the id, or has at least 20 characters of room.
    const underId = Math.abs(cells.addr.left - cells.idLeft) < 1;
    expect(underId || cells.addr.width >= cells.twentyChars, `${width} px: ${JSON.stringify(cells.addr)}`).toBe(true);
    expect(cells.addr.width, `${width} px`).toBeGreaterThanOrEqual(Math.min(cells.twentyChars, width - 80));
    // Every other cell gets what its content needs: nothing clipped, one line.
    for (const cell of cells.others) {
      expect(cell.overflow, `${width} px: ${cell.name}`).toBeLessThanOrEqual(0);
      expect(cell.height, `${width} px: ${cell.name} on one line`).toBeLessThanOrEqual(cell.lineHeight * 1.6 + 8);
    }
    if (width === 1400) await page.screenshot({ path: 'screenshots/overview-peers-1400.png', fullPage: true });
    await page.close();
  }
});

test('the Cache tab invalidates on every node of a private swarm, and the P2P card has nothing to warn of', async ({ browser }) => {
  const keyDir = mkdtempSync(join(tmpdir(), 'peercache-key-'));
  const key = join(keyDir, 'swarm.key');
  writeFileSync(key, `/key/swarm/psk/1.0.0/\n/base16/\n${'7a'.repeat(32)}\n`, { mode: 0o600 });
  a = await PeercacheServer.start({ env: { CACHE_SWARM_KEY: key } });
  const addr: string = await until('A to listen', async () => (await a.json('/api/mcp/peers')).listen_addrs[0]);
  b = await PeercacheServer.start({ env: { CACHE_SWARM_KEY: key, CACHE_BOOTSTRAP_PEERS: addr } });
  await until('B to connect', async () => ((await b.json('/api/mcp/peers')).peer_count === 1 ? true : undefined));
  // Announced only to peers A knows are on the topic: a put before B's
  // subscription reached A would reach B only by a later catch-up.
  await until('A to know B is on the topic', async () => ((await a.json('/api/mcp/peers')).gossip.topic_peers === 1 ? true : undefined));
  const put = await fetch(`${a.url}/api/cache/entry?key=get_repo:octo/everywhere&ttl=600`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"id": 9}' });
  expect(put.status).toBe(201);
  await until('the entry on B', async () => ((await b.json('/api/cache/entries?prefix=get_repo:octo/')).total === 1 ? true : undefined));

  const page = await browser.newPage();
  await openDashboard(page, b);
  await expect(page.locator('#peer-status')).toHaveText('✓ Active');
  await expect(page.locator('#sharing-warning')).toHaveCount(0);
  await page.getByRole('link', { name: 'Cache' }).click();
  await page.locator('#cache-prefix').fill('get_repo:octo/');
  await expect(page.locator('#entry-table tr[data-key="get_repo:octo/everywhere"]')).toBeVisible();
  await page.locator('#invalidate-fleet').check();
  await page.locator('#invalidate-prefix').click();
  await expect(page.locator('#confirm-question')).toHaveText('Invalidate every entry whose key starts with "get_repo:octo/" (on every node; 1 entry here)?');
  await page.locator('#confirm-yes').click();
  await expect(page.locator('.toast-text', { hasText: 'Cache cleared' })).toHaveText('Cache cleared: 1 entry here; told 1 peer(s) to drop theirs');
  // A dropped its copy too.
  await until('A to drop it', async () => ((await a.json('/api/cache/entries?prefix=get_repo:octo/')).total === 0 ? true : undefined));

  // The Fleet tab: both nodes up, B first as this node, and the totals.
  await page.getByRole('link', { name: 'Fleet' }).click();
  await expect(page).toHaveURL(/\/fleet$/);
  await expect(page.locator('#fleet-table tbody tr')).toHaveCount(2, { timeout: 15_000 });
  await expect(page.locator('#fleet-table tbody tr').first()).toContainText('(this node)');
  await expect(page.locator('#fleet-nodes-up')).toHaveText('2');
  await expect(page.locator('#fleet-headline')).toContainText('GitHub calls saved in the last hour');
  await expect(page.locator('#fleet-table .fleet-state').nth(1)).toHaveText('✓ up');
  await page.screenshot({ path: 'screenshots/fleet.png', fullPage: true });
  await page.close();
  rmSync(keyDir, { recursive: true, force: true });
});
