// Octokit through peercache: all of a repository's issues with
// octokit.paginate (following the Link headers), and one user completed from
// its URL. Prints what it saw as JSON. Usage: node octokit_issues.mjs BASE_URL TOKEN
import { Octokit } from '@octokit/rest';

const [baseUrl, token] = process.argv.slice(2);
const octokit = new Octokit({ baseUrl, auth: token });
const issues = await octokit.paginate('GET /repos/{owner}/{repo}/issues', { owner: 'octo', repo: 'demo', per_page: 30 });
const user = await octokit.request(`GET ${issues[1].user.url}`);
console.log(JSON.stringify({
  issues: issues.map((issue) => issue.number),
  user: user.data.login,
  name: user.data.name,
}));
