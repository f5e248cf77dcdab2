// Octokit through peercache: a release by its tag, and one of its assets'
// bytes (getReleaseAsset with Accept: application/octet-stream). Prints the
// digest GitHub gave and the SHA-256 of the bytes as JSON.
// Usage: node octokit_asset.mjs BASE_URL TOKEN NAME
import { createHash } from 'node:crypto';
import { Octokit } from '@octokit/rest';

const [baseUrl, token, name] = process.argv.slice(2);
const octokit = new Octokit({ baseUrl, auth: token });
const { data: release } = await octokit.rest.repos.getReleaseByTag({ owner: 'o', repo: 'r', tag: 'v1' });
const asset = release.assets.find((a) => a.name === name);
const { data } = await octokit.rest.repos.getReleaseAsset({
  owner: 'o',
  repo: 'r',
  asset_id: asset.id,
  headers: { accept: 'application/octet-stream' },
});
const bytes = Buffer.from(data);
console.log(JSON.stringify({ digest: asset.digest, sha256: 'sha256:' + createHash('sha256').update(bytes).digest('hex') }));
