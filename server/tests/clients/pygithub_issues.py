"""PyGithub through peercache: a repository, all its issues (following the
Link headers page after page), and one user completed from its URL.
Prints what it saw as JSON. Usage: pygithub_issues.py BASE_URL TOKEN"""

import json
import sys

from github import Auth, Github

base, token = sys.argv[1], sys.argv[2]
gh = Github(base_url=base, auth=Auth.Token(token), per_page=30, retry=None)
repo = gh.get_repo("octo/demo")
issues = list(repo.get_issues())
user = issues[1].user
print(json.dumps({
    "full_name": repo.full_name,
    "issues": [issue.number for issue in issues],
    "user": user.login,
    "name": user.name,
}))
