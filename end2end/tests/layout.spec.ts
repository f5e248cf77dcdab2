import { test, expect } from '@playwright/test';
import { PeercacheServer } from './server';

let server: PeercacheServer;

test.beforeEach(async () => {
  server = await PeercacheServer.start();
});

test.afterEach(async () => {
  await server.dispose();
});

test('a 390 px phone screen has no horizontal scroll', async ({ browser }) => {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await page.goto(server.url);
  await expect(page.locator('main')).toHaveAttribute('data-hydrated', 'true');
  await page.locator('.listen-addrs summary').click(); // long multiaddrs must wrap
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: 'screenshots/overview-phone.png', fullPage: true });
  await page.close();
});

test('hydration time on localhost @bench', async ({ page }) => {
  for (const path of ['/', '/charts', '/peers', '/cache', '/fleet']) {
    const samples: number[] = [];
    for (let i = 0; i < 10; i++) {
      await page.goto(`${server.url}${path}`);
      await page.waitForSelector('main[data-hydrated="true"]');
      // From navigation start to the moment the hydrated marker is set.
      samples.push(await page.evaluate(() => performance.now()));
    }
    samples.sort((a, b) => a - b);
    const median = samples[Math.floor(samples.length / 2)];
    console.log(`${path}: hydrated after median ${median.toFixed(0)} ms, min ${samples[0].toFixed(0)} ms, max ${samples[samples.length - 1].toFixed(0)} ms`);
  }
});
