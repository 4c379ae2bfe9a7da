"""Cross-checks pflab's service-account JWT and token exchange with Debian's python3-google-auth.

Usage: google_auth_check.py KEY_JSON PUBLIC_PEM JWT CA_FILE
Prints one JSON object:
  claims     the claims of pflab's JWT as google.auth.jwt.decode returns them after verifying its
             RS256 signature with the public key (and the audience, the key's token_uri)
  signature  base64url of google-auth's own RS256 signature of pflab's signing input with the key
  token      what google-auth's service_account.Credentials got from the token endpoint (the fake,
             which checks the JWT signature): its access token and expiry
"""
import base64
import json
import ssl
import sys
import urllib.error
import urllib.request

from google.auth import crypt, jwt, transport
from google.oauth2 import service_account


class _Response(transport.Response):
    def __init__(self, status, headers, data):
        self._status, self._headers, self._data = status, headers, data

    @property
    def status(self):
        return self._status

    @property
    def headers(self):
        return self._headers

    @property
    def data(self):
        return self._data


class UrllibRequest(transport.Request):
    """google.auth's transport interface over urllib, trusting one CA file (no requests/urllib3 here)."""

    def __init__(self, ca_file):
        self._context = ssl.create_default_context(cafile=ca_file)

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        if isinstance(body, str):
            body = body.encode()
        request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout or 30, context=self._context) as reply:
                return _Response(reply.status, dict(reply.headers), reply.read())
        except urllib.error.HTTPError as error:
            return _Response(error.code, dict(error.headers), error.read())


def main():
    key_path, public_path, token, ca_file = sys.argv[1:5]
    with open(key_path) as f:
        key = json.load(f)
    with open(public_path) as f:
        public_pem = f.read()
    claims = jwt.decode(token, certs=public_pem, verify=True, audience=key["token_uri"])
    signing_input = token.rsplit(".", 1)[0].encode()
    signer = crypt.RSASigner.from_string(key["private_key"], key["private_key_id"])
    signature = base64.urlsafe_b64encode(signer.sign(signing_input)).rstrip(b"=").decode()
    credentials = service_account.Credentials.from_service_account_file(
        key_path, scopes=["https://www.googleapis.com/auth/devstorage.read_only"])
    credentials.refresh(UrllibRequest(ca_file))
    print(json.dumps({
        "claims": claims,
        "signature": signature,
        "token": credentials.token,
        "expiry": credentials.expiry.isoformat() if credentials.expiry else None,
    }))


if __name__ == "__main__":
    main()
