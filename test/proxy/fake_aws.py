#!/usr/bin/env python3
"""Fake AWS credential endpoints for walship's tests, on one loopback port.

  PUT  /latest/api/token                           EC2 instance metadata (IMDSv2 session token)
  GET  /latest/meta-data/iam/security-credentials/[ROLE]   the role, then its credentials
  GET  /ecs/...                                    the ECS container credentials endpoint
  POST /                                           STS AssumeRoleWithWebIdentity (form body)

Every set of credentials issued is temporary (a session token, an expiry
`lifetime` seconds away) and is registered with the verifying S3 proxies
(--register CONTROL_URL, each proxy's /__proxy base) before it is handed out,
so the proxies accept exactly what was issued and refuse it once expired.
Nothing here is AWS code: the documents follow AWS's published formats.

Control API (JSON):
  GET  /__fake/health
  GET  /__fake/config, POST /__fake/config   {"lifetime": s, "imds": "v2"|"v1only",
        "web_identity_token": "...", "ecs_authorization": "..." or null, "role": "...",
        "revoke_after": s or null}
        (revoke_after: the proxies refuse the credentials as expired that many seconds
        after issue, whatever Expiration said: S3 revoking a session early)
  GET  /__fake/issued     every set issued: seq, provider, access_key, issued, expires
  GET  /__fake/requests   every request: method, path, provider, status, imds_token
  POST /__fake/reset      start-up settings, empty logs
"""

import argparse
import base64
import ipaddress
import json
import os
import re
import signal
import ssl
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from s3proxy import watch_parent  # the proxy next to this file

CONTROL = '/__fake/'
CREDS_PATH = '/latest/meta-data/iam/security-credentials/'
TAGS = {'sts': 'STSW', 'ecs': 'ECSC', 'imds': 'IMDS'}
SESSION_NAME = re.compile(r'[\w+=,.@-]{2,64}')
DEFAULTS = {'lifetime': 3600.0, 'imds': 'v2', 'web_identity_token': None,
            'ecs_authorization': None, 'role': 'walship-test-role', 'revoke_after': None}


def iso(t):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t))


class State:
    def __init__(self, registers, ca_file):
        self.lock = threading.Lock()
        self.registers = registers
        self.ctx = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self.reset()

    def reset(self):
        with self.lock:
            self.config = dict(DEFAULTS)
            self.issued, self.requests, self.imds_tokens, self.seq = [], [], set(), 0

    def update(self, changes):
        with self.lock:
            for name, value in changes.items():
                if name not in DEFAULTS:
                    raise ValueError(f'unknown setting {name!r}')
                if name == 'imds' and value not in ('v2', 'v1only'):
                    raise ValueError('imds must be v2 or v1only')
                if name in ('lifetime', 'revoke_after') and value is not None:
                    if not 1 <= float(value) <= 86400:
                        raise ValueError(f'{name} must be 1..86400 seconds')
                    value = float(value)
                self.config[name] = value
            return dict(self.config)

    def snapshot(self):
        with self.lock:
            return dict(self.config)

    def issue(self, provider):
        """New temporary credentials, registered with every proxy first."""
        with self.lock:
            self.seq += 1
            seq, lifetime, revoke = self.seq, self.config['lifetime'], self.config['revoke_after']
        now = time.time()
        cred = {'access_key': f'ASIA{TAGS[provider]}{seq:012d}',
                'secret_key': base64.b64encode(os.urandom(30)).decode(),
                'session_token': base64.b64encode(os.urandom(300)).decode(),
                'expires': now + lifetime}
        accepted = dict(cred, expires=now + revoke if revoke else cred['expires'])
        for url in self.registers:
            req = urllib.request.Request(url.rstrip('/') + '/credentials',
                                         data=json.dumps(accepted).encode(), method='POST')
            with urllib.request.urlopen(req, timeout=10, context=self.ctx) as resp:
                if resp.status != 200:
                    raise OSError(f'registering with {url}: HTTP {resp.status}')
        with self.lock:
            self.issued.append({'seq': seq, 'provider': provider, 'access_key': cred['access_key'],
                                'issued': round(now, 3), 'expires': round(cred['expires'], 3)})
        return cred

    def log_request(self, entry):
        with self.lock:
            self.requests.append(entry)

    def new_imds_token(self):
        token = base64.urlsafe_b64encode(os.urandom(24)).decode()
        with self.lock:
            self.imds_tokens.add(token)
        return token

    def imds_token_ok(self, token):
        with self.lock:
            return token in self.imds_tokens


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'walship-fake-aws'

    def log_message(self, format, *args):
        pass

    def body(self):
        n = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(n) if n > 0 else b''

    def send(self, status, data, ctype='application/json'):
        if isinstance(data, (dict, list)):
            data = json.dumps(data, indent=2).encode()
        elif isinstance(data, str):
            data = data.encode()
        self.entry['status'] = status
        self.server.state.log_request(self.entry)
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)

    def handle_any(self):
        path = urlsplit(self.path).path
        self.entry = {'time': round(time.time(), 3), 'method': self.command, 'path': path,
                      'provider': None, 'status': None,
                      'imds_token': 'x-aws-ec2-metadata-token' in
                      {k.lower() for k in self.headers.keys()}}
        body = self.body()
        try:
            if path.startswith(CONTROL):
                return self.control(path[len(CONTROL):], body)
            if path.startswith('/latest/'):
                self.entry['provider'] = 'imds'
                return self.imds(path)
            if path.startswith('/ecs/') and self.command == 'GET':
                self.entry['provider'] = 'ecs'
                return self.ecs()
            if path == '/' and self.command == 'POST':
                self.entry['provider'] = 'sts'
                return self.sts(body)
            return self.send(404, {'error': f'nothing at {self.command} {path}'})
        except (OSError, ValueError) as exc:
            return self.send(500, {'error': str(exc)})

    do_GET = do_PUT = do_POST = do_DELETE = handle_any

    # ---- EC2 instance metadata ------------------------------------------
    def imds(self, path):
        state = self.server.state
        config = state.snapshot()
        if path == '/latest/api/token' and self.command == 'PUT':
            if config['imds'] == 'v1only':
                return self.send(405, 'Method Not Allowed', 'text/plain')
            ttl = self.headers.get('X-aws-ec2-metadata-token-ttl-seconds', '')
            if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return self.send(400, 'Bad Request', 'text/plain')
            return self.send(200, state.new_imds_token(), 'text/plain')
        if self.command != 'GET' or not path.startswith(CREDS_PATH):
            return self.send(404, 'Not Found', 'text/plain')
        if config['imds'] == 'v2' and not state.imds_token_ok(
                self.headers.get('X-aws-ec2-metadata-token', '')):
            return self.send(401, 'Unauthorized', 'text/plain')
        role = path[len(CREDS_PATH):]
        if not role:
            return self.send(200, config['role'] + '\n', 'text/plain')
        if role != config['role']:
            return self.send(404, 'Not Found', 'text/plain')
        cred = state.issue('imds')
        return self.send(200, {'Code': 'Success', 'LastUpdated': iso(time.time()),
                               'Type': 'AWS-HMAC', 'AccessKeyId': cred['access_key'],
                               'SecretAccessKey': cred['secret_key'],
                               'Token': cred['session_token'],
                               'Expiration': iso(cred['expires'])})

    # ---- ECS container endpoint ------------------------------------------
    def ecs(self):
        state = self.server.state
        want = state.snapshot()['ecs_authorization']
        if want is not None and self.headers.get('Authorization') != want:
            return self.send(401, {'code': 'Unauthorized', 'message': 'bad Authorization'})
        cred = state.issue('ecs')
        return self.send(200, {'AccessKeyId': cred['access_key'],
                               'SecretAccessKey': cred['secret_key'],
                               'Token': cred['session_token'],
                               'Expiration': iso(cred['expires']),
                               'RoleArn': 'arn:aws:iam::111122223333:role/walship-test-task'})

    # ---- STS AssumeRoleWithWebIdentity -----------------------------------
    def sts_error(self, status, code, message):
        xml = ('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
               f'<Type>Sender</Type><Code>{escape(code)}</Code><Message>{escape(message)}'
               '</Message></Error><RequestId>fake</RequestId></ErrorResponse>')
        return self.send(status, xml, 'text/xml')

    def sts(self, body):
        state = self.server.state
        want = state.snapshot()['web_identity_token']
        if not self.headers.get('Content-Type', '').startswith('application/x-www-form-urlencoded'):
            return self.sts_error(400, 'InvalidParameterValue', 'expected a form body')
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        if form.get('Action') != 'AssumeRoleWithWebIdentity' or form.get('Version') != '2011-06-15':
            return self.sts_error(400, 'InvalidAction', 'unknown Action or Version')
        if not form.get('RoleArn', '').startswith('arn:aws:iam::'):
            return self.sts_error(400, 'ValidationError', 'RoleArn is not an IAM role ARN')
        if not SESSION_NAME.fullmatch(form.get('RoleSessionName', '')):
            return self.sts_error(400, 'ValidationError', 'bad RoleSessionName')
        if want is not None and form.get('WebIdentityToken') != want:
            return self.sts_error(400, 'InvalidIdentityToken', 'the web identity token is not valid')
        cred = state.issue('sts')
        xml = ('<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
               '<AssumeRoleWithWebIdentityResult>'
               '<SubjectFromWebIdentityToken>system:serviceaccount:db:walship</SubjectFromWebIdentityToken>'
               f'<AssumedRoleUser><Arn>{escape(form["RoleArn"])}/{escape(form["RoleSessionName"])}</Arn>'
               '<AssumedRoleId>AROAFAKE:walship</AssumedRoleId></AssumedRoleUser>'
               f'<Credentials><SessionToken>{escape(cred["session_token"])}</SessionToken>'
               f'<SecretAccessKey>{escape(cred["secret_key"])}</SecretAccessKey>'
               f'<Expiration>{iso(cred["expires"])}</Expiration>'
               f'<AccessKeyId>{cred["access_key"]}</AccessKeyId></Credentials>'
               '<Provider>oidc.eks.fake</Provider></AssumeRoleWithWebIdentityResult>'
               '<ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata>'
               '</AssumeRoleWithWebIdentityResponse>')
        return self.send(200, xml, 'text/xml')

    # ---- control -----------------------------------------------------------
    def control(self, name, body):
        state = self.server.state
        if self.command == 'GET' and name == 'health':
            return self.send(200, {'ok': True})
        if self.command == 'GET' and name == 'config':
            return self.send(200, state.snapshot())
        if self.command == 'POST' and name == 'config':
            try:
                return self.send(200, state.update(json.loads(body or b'{}')))
            except (ValueError, TypeError) as exc:
                return self.send(400, {'error': str(exc)})
        if self.command == 'POST' and name == 'reset':
            state.reset()
            return self.send(200, state.snapshot())
        if self.command == 'GET' and name in ('issued', 'requests'):
            with state.lock:
                entries = list(getattr(state, name))
            return self.send(200, entries)
        return self.send(404, {'error': f'no control endpoint {self.command} {name}'})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--listen', default='127.0.0.1')
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--port-file', help='write the bound port here once listening')
    p.add_argument('--register', action='append', default=[],
                   help="a proxy's control base URL (…/__proxy); repeatable")
    p.add_argument('--ca-file', help='CA certificate for an https:// --register URL')
    p.add_argument('--parent-pid', type=int, help='exit when this process exits')
    args = p.parse_args(argv)
    if args.listen != 'localhost' and not ipaddress.ip_address(args.listen).is_loopback:
        sys.exit(f'fake_aws: refusing to listen on non-loopback address {args.listen}')
    server = ThreadingHTTPServer((args.listen, args.port), Handler)
    server.daemon_threads = True
    server.state = State(args.register, args.ca_file)
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + '.tmp', 'w', encoding='ascii') as f:
            f.write(f'{port}\n')
        os.replace(args.port_file + '.tmp', args.port_file)
    if args.parent_pid:
        threading.Thread(target=watch_parent, args=(args.parent_pid,), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f'fake_aws listening on http://{args.listen}:{port}', flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()


if __name__ == '__main__':
    main()
