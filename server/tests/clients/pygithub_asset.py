"""PyGithub through peercache: a release by its tag, and one of its assets
downloaded to a file with GitReleaseAsset.download_asset. Prints the digest
GitHub gave and the SHA-256 of the file as JSON.
Usage: pygithub_asset.py BASE_URL TOKEN NAME PATH"""

import hashlib
import json
import sys

from github import Auth, Github

base, token, name, path = sys.argv[1:5]
gh = Github(base_url=base, auth=Auth.Token(token), retry=None)
release = gh.get_repo("o/r").get_release("v1")
asset = next(asset for asset in release.assets if asset.name == name)
asset.download_asset(path)
with open(path, "rb") as file:
    got = hashlib.sha256(file.read()).hexdigest()
print(json.dumps({"digest": asset.digest, "sha256": f"sha256:{got}"}))
