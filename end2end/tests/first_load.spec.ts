// A first dashboard load (a fresh browser profile, nothing cached): the time
// from navigation to hydrated and the bytes that crossed the wire, for the
// release binary (bundle embedded, precompressed, hashed names) against
// another server given as PEERCACHE_OLD_BIN (+ PEERCACHE_OLD_SITE, its site
// root), in the same run: ROUNDS rounds (default 3), the two servers taking
// turns and alternating which goes first, LOADS first loads each per round.
// Then a second load in the same profile, which the immutable names let the
// browser answer from its cache.
//
// PEERCACHE_BENCH=1 PEERCACHE_OLD_BIN=… PEERCACHE_OLD_SITE=… [MBITS=20 RTT_MS=20] \
//   npx playwright test --grep @bench first_load
import { test, type Browser } from '@playwright/test';
import { PeercacheServer } from './server';

const RELEASE_BIN = process.env.PEERCACHE_RELEASE_BIN ?? '/var/tmp/peercache-target/release/peercache';
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const LOADS = Number(process.env.LOADS ?? 10);
// MBITS=20 RTT_MS=20: Chromium's network emulation (a link, not loopback).
const MBITS = Number(process.env.MBITS ?? 0);
const RTT_MS = Number(process.env.RTT_MS ?? 0);

type Load = { hydratedMs: number; bytes: number; secondBytes: number };

/** One first load in a fresh profile, then a second in the same profile. */
async function load(browser: Browser, url: string): Promise<Load> {
  const context = await browser.newContext();
  const page = await context.newPage();
  if (MBITS > 0) {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: RTT_MS,
      downloadThroughput: (MBITS * 1_000_000) / 8,
      uploadThroughput: (MBITS * 1_000_000) / 8,
    });
  }
  const measure = async () => {
    await page.goto(url);
    await page.waitForSelector('main[data-hydrated="true"]');
    return page.evaluate(() => {
      const entries = [
        ...performance.getEntriesByType('navigation'),
        ...performance.getEntriesByType('resource'),
      ] as PerformanceResourceTiming[];
      // Only the page and its bundle (not the API polls that follow).
      const bytes = entries
        .filter((e) => e.entryType === 'navigation' || new URL(e.name).pathname.startsWith('/pkg/'))
        .reduce((sum, e) => sum + e.transferSize, 0);
      return { at: performance.now(), bytes };
    });
  };
  const first = await measure();
  const second = await measure();
  await context.close();
  return { hydratedMs: first.at, bytes: first.bytes, secondBytes: second.bytes };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs: number[], digits = 0) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}..${Math.max(...xs).toFixed(digits)})`;

test('first load: embedded and precompressed against another server @bench', async ({ browser }) => {
  test.setTimeout(600_000);
  const oldBin = process.env.PEERCACHE_OLD_BIN;
  test.skip(!oldBin, 'PEERCACHE_OLD_BIN names the server to compare with');
  const servers = {
    embedded: await PeercacheServer.start({ bin: RELEASE_BIN, args: ['--no-p2p'] }),
    old: await PeercacheServer.start({
      bin: oldBin,
      args: ['--no-p2p'],
      env: process.env.PEERCACHE_OLD_SITE ? { PEERCACHE_SITE_ROOT: process.env.PEERCACHE_OLD_SITE } : {},
    }),
  };
  try {
    const rounds: Record<string, { hydrated: number[]; bytes: number[]; second: number[] }> = {
      embedded: { hydrated: [], bytes: [], second: [] },
      old: { hydrated: [], bytes: [], second: [] },
    };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (['embedded', 'old'] as const) : (['old', 'embedded'] as const);
      for (const which of order) {
        const loads: Load[] = [];
        for (let i = 0; i < LOADS; i++) loads.push(await load(browser, servers[which].url));
        rounds[which].hydrated.push(median(loads.map((l) => l.hydratedMs)));
        rounds[which].bytes.push(median(loads.map((l) => l.bytes)));
        rounds[which].second.push(median(loads.map((l) => l.secondBytes)));
      }
    }
    for (const which of ['embedded', 'old'] as const) {
      const r = rounds[which];
      console.log(
        `${which}: hydrated after ${spread(r.hydrated)} ms; first load ${spread(r.bytes)} bytes; ` +
          `second load ${spread(r.second)} bytes${MBITS ? ` at ${MBITS} Mbit/s, ${RTT_MS} ms` : ', loopback'} (median of ${LOADS} loads per round, ${ROUNDS} rounds, min..max of the rounds)`,
      );
    }
  } finally {
    await servers.embedded.dispose();
    await servers.old.dispose();
  }
});
