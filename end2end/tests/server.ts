// Starts real `peercache serve` processes on 127.0.0.1 with OS-chosen ports,
// bounded in time, and stops them (and only them) afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = process.env.PEERCACHE_BIN ?? '/var/tmp/peercache-target/debug/peercache';
const START_TIMEOUT_MS = 20_000;

export class PeercacheServer {
  private constructor(
    private proc: ChildProcess,
    readonly url: string,
    private readonly args: string[],
    private readonly env: Record<string, string>,
    readonly cacheDir: string,
    private readonly bin: string,
  ) {}

  /** Starts a server; `http` defaults to a free loopback port, `bin` to PEERCACHE_BIN. */
  static async start(opts: { http?: string; args?: string[]; env?: Record<string, string>; bin?: string } = {}) {
    const args = ['serve', '--http', opts.http ?? '127.0.0.1:0', ...(opts.args ?? [])];
    // Each server gets its own cache directory, removed when it is disposed.
    const cacheDir = mkdtempSync(join(tmpdir(), 'peercache-e2e-'));
    // P2P on loopback with an OS-chosen port unless a test says otherwise.
    const env = { CACHE_DIR: cacheDir, CACHE_LISTEN_HOST: '127.0.0.1', CACHE_LISTEN_PORT: '0', ...(opts.env ?? {}) };
    const bin = opts.bin ?? BIN;
    const { proc, url } = await launch(bin, args, env);
    return new PeercacheServer(proc, url, opts.args ?? [], env, cacheDir, bin);
  }

  /** GET a JSON API path of this server. */
  async json(path: string): Promise<any> {
    const response = await fetch(`${this.url}${path}`);
    return response.json();
  }

  get port(): string {
    return new URL(this.url).port;
  }

  /** Stops the process and waits until it is gone. */
  async stop() {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the process and deletes its cache directory. */
  async dispose() {
    await this.stop();
    rmSync(this.cacheDir, { recursive: true, force: true });
  }

  /** Starts the same server again on the same port (and cache directory). */
  async restart() {
    await this.stop();
    const { proc } = await launch(this.bin, ['serve', '--http', `127.0.0.1:${this.port}`, ...this.args], this.env);
    this.proc = proc;
  }
}

function launch(bin: string, args: string[], env: Record<string, string>): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(bin, args, {
    env: { ...process.env, RUST_LOG: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`peercache did not report its address within ${START_TIMEOUT_MS} ms: ${stderr}`));
    }, START_TIMEOUT_MS);
    proc.stderr!.on('data', (chunk) => (stderr += chunk));
    proc.stdout!.on('data', (chunk) => {
      stdout += chunk;
      const match = stdout.match(/listening on (http:\/\/\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve({ proc, url: match[1] });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`peercache exited with ${code} before listening: ${stderr}`));
    });
  });
}

/**
 * The one way these tests wait outside Playwright's own `expect`: until
 * `probe` gives a value, looking every 100 ms, failing (naming `what`) after
 * `ms`. Never a fixed sleep.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
