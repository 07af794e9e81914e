#!/usr/bin/env python3
"""walship's S3 test proxy: sits between the S3 driver and s3rver.

s3rver verifies no signature, so every request is checked here with an
independent SigV4 implementation (botocore), its body against
x-amz-content-sha256, and then forwarded. Besides s3rver's own key, the proxy
accepts credentials registered through its control API (static keys, or
temporary ones with a session token and an expiry, as the test's fake STS,
ECS and instance-metadata endpoints issue them): their requests are checked
with the registered secret, must send the session token signed, are refused
as expired like S3 does, and reach s3rver under its own key. Faults (5xx, SlowDown,
RequestTimeout, resets, delays, stalls, garbled listings) are injected at a
configurable rate or on request, and every request is logged so tests can
assert on what the driver sent. Where s3rver falls short of S3 the proxy
behaves as S3 does: a conditional PUT (If-None-Match: *, also on
CompleteMultipartUpload) is refused with 412 when the key exists (setting
conditional_put: 'emulate', the default, or 'ignore' as s3rver does), and a
range of an empty object is 416. A fixed latency can be added to every
request (latency_seconds), and a client that goes away before the whole
answer was sent is logged (aborted). Usage: test/integration/README.md.
"""

import argparse
import calendar
import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import random
import re
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

FAULT_KINDS = ('500', '503', 'timeout400', 'reset', 'delay', 'stall', 'malformed')
HOP_BY_HOP = {'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate',
              'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade',
              'expect', 'content-length'}
CONTROL_PREFIX = '/__proxy/'
MAX_LOG_ENTRIES = 200000
EMPTY_SHA256 = hashlib.sha256(b'').hexdigest()
LIST_OPS = ('ListObjectsV2', 'ListObjects')
MULTIPART_OPS = ('CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload',
                 'AbortMultipartUpload', 'ListParts')


class S3Error(Exception):
    """An S3-style error answer: HTTP status, S3 error code, message, extra XML fields."""

    def __init__(self, status, code, message, **extra):
        super().__init__(f'{status} {code}: {message}')
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_xml(code, message, resource, request_id, extra=None):
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<Error>',
             f'<Code>{escape(code)}</Code><Message>{escape(message)}</Message>']
    for name, value in (extra or {}).items():
        parts.append(f'<{name}>{escape(str(value))}</{name}>')
    parts.append(f'<Resource>{escape(resource)}</Resource>'
                 f'<RequestId>{request_id}</RequestId></Error>')
    return ''.join(parts).encode()


def parse_query(raw):
    """Decode a raw query into (name, value) pairs; '+' stays '+' as S3 reads it."""
    pairs = []
    for part in raw.split('&') if raw else ():
        name, _, value = part.partition('=')
        try:
            pairs.append((unquote_to_bytes(name).decode(), unquote_to_bytes(value).decode()))
        except UnicodeDecodeError:
            raise S3Error(400, 'InvalidArgument', 'query string is not valid UTF-8') from None
    return pairs


def classify(method, path, params, headers):
    """Name the S3 operation of a path-style request: (operation, bucket, key)."""
    bucket, _, key = unquote(path).lstrip('/').partition('/')
    q = {name for name, _ in params}
    if not bucket:
        return 'ListBuckets', '', ''
    if not key:
        if method == 'GET':
            if dict(params).get('list-type') == '2':
                op = 'ListObjectsV2'
            else:
                op = 'GetBucketLocation' if 'location' in q else 'ListObjects'
        else:
            op = {'HEAD': 'HeadBucket', 'PUT': 'CreateBucket', 'DELETE': 'DeleteBucket',
                  'POST': 'DeleteObjects' if 'delete' in q else 'PostBucket'}.get(method, method)
    elif method == 'GET':
        op = 'ListParts' if 'uploadId' in q else 'GetObject'
    elif method == 'PUT':
        if 'uploadId' in q and 'partNumber' in q:
            op = 'UploadPart'
        else:
            op = 'CopyObject' if 'x-amz-copy-source' in headers else 'PutObject'
    elif method == 'POST':
        if 'uploads' in q:
            op = 'CreateMultipartUpload'
        else:
            op = 'CompleteMultipartUpload' if 'uploadId' in q else 'PostObject'
    elif method == 'DELETE':
        op = 'AbortMultipartUpload' if 'uploadId' in q else 'DeleteObject'
    else:
        op = {'HEAD': 'HeadObject'}.get(method, method)
    return op, bucket, key


class _ReceivedHeadersSigner(S3SigV4Auth):
    """botocore's S3 SigV4, restricted to exactly the headers the client signed."""

    def __init__(self, credentials, region, signed_headers):
        super().__init__(credentials, 's3', region)
        self._signed_headers = signed_headers

    def headers_to_sign(self, request):
        return self._signed_headers


def _header_text(value):
    # http.server decodes header bytes as latin-1; SigV4 hashes the UTF-8 bytes.
    try:
        return value.encode('latin-1').decode('utf-8')
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


class Verifier:
    """Checks a request the way S3 would, raising S3Error when S3 would refuse it."""

    def __init__(self, access_key, secret_key, region, max_skew=900):
        self.access_key, self.region, self.max_skew = access_key, region, max_skew
        self._credentials = Credentials(access_key, secret_key)
        self._lock = threading.Lock()
        self._registered = {}  # access key -> (Credentials, session token or None, expiry or None)

    def register(self, access_key, secret_key, session_token=None, expires=None):
        """Accept another key pair from now on (a temporary one with a token and an expiry)."""
        if not access_key or not secret_key or access_key == self.access_key:
            raise ValueError('access_key and secret_key are required (and not the upstream key)')
        if expires is not None:
            expires = float(expires)
        with self._lock:
            self._registered[access_key] = (Credentials(access_key, secret_key), session_token or None,
                                            expires)

    def registered(self):
        """The registered keys with their expiry (never a secret or a token)."""
        with self._lock:
            return [{'access_key': k, 'session_token': bool(v[1]), 'expires': v[2]}
                    for k, v in sorted(self._registered.items())]

    def _credentials_for(self, key_id):
        if key_id == self.access_key:
            return self._credentials, None, None
        with self._lock:
            found = self._registered.get(key_id)
        if found is None:
            raise S3Error(403, 'InvalidAccessKeyId',
                          'The AWS Access Key Id you provided does not exist in our records.',
                          AWSAccessKeyId=key_id)
        return found

    def verify(self, method, raw_path, params, headers, body, allow_unsigned, entry=None):
        auth = headers.get('Authorization')
        if any(name.lower() == 'x-amz-signature' for name, _ in params):
            raise S3Error(403, 'AccessDenied', 'presigned URLs are not accepted by the test proxy')
        if not auth:
            raise S3Error(403, 'AccessDenied', 'Access Denied (request is not signed)')
        algorithm, _, rest = auth.strip().partition(' ')
        if algorithm != 'AWS4-HMAC-SHA256':
            raise S3Error(400, 'InvalidArgument', f'unsupported authorization type {algorithm!r}')
        fields = {}
        for item in rest.split(','):
            name, _, value = item.strip().partition('=')
            fields[name] = value
        if not {'Credential', 'SignedHeaders', 'Signature'} <= fields.keys():
            raise S3Error(400, 'AuthorizationHeaderMalformed',
                          'The authorization header is malformed; it needs Credential, '
                          'SignedHeaders and Signature')
        scope = fields['Credential'].split('/')
        if len(scope) != 5:
            raise S3Error(400, 'AuthorizationHeaderMalformed',
                          'The authorization header is malformed; bad Credential scope')
        key_id, scope_date, region, service, terminator = scope
        if entry is not None:
            entry['access_key'] = key_id
        credentials, session_token, expires = self._credentials_for(key_id)
        if region != self.region:
            raise S3Error(400, 'AuthorizationHeaderMalformed',
                          f"The authorization header is malformed; the region '{region}' is "
                          f"wrong; expecting '{self.region}'", Region=self.region)
        if service != 's3' or terminator != 'aws4_request':
            raise S3Error(400, 'AuthorizationHeaderMalformed',
                          'The authorization header is malformed; the credential scope must '
                          'end in s3/aws4_request')
        amz_date = headers.get('x-amz-date', '')
        if not amz_date:
            raise S3Error(403, 'AccessDenied',
                          'AWS authentication requires a valid x-amz-date header')
        try:
            when = calendar.timegm(time.strptime(amz_date, '%Y%m%dT%H%M%SZ'))
        except ValueError:
            raise S3Error(403, 'AccessDenied', f'invalid x-amz-date {amz_date!r}') from None
        if abs(time.time() - when) > self.max_skew:
            raise S3Error(403, 'RequestTimeTooSkewed',
                          'The difference between the request time and the current time is '
                          'too large.', RequestTime=amz_date)
        if scope_date != amz_date[:8]:
            raise S3Error(400, 'AuthorizationHeaderMalformed',
                          'Invalid credential date. Date is not the same as X-Amz-Date.')
        signed_names = fields['SignedHeaders'].split(';')
        if 'host' not in signed_names:
            raise S3Error(403, 'AccessDenied', 'the host header must be signed')
        sent_token = headers.get('x-amz-security-token')
        if entry is not None and sent_token is not None:
            entry['token'] = 'signed' if 'x-amz-security-token' in signed_names else 'unsigned'
        present = {name.lower() for name in headers.keys()}
        unsigned = sorted(n for n in present if n.startswith('x-amz-') and n not in signed_names)
        if unsigned:
            raise S3Error(403, 'AccessDenied',
                          'There were headers present in the request which were not signed',
                          HeadersNotSigned=', '.join(unsigned))
        if session_token is not None:
            if sent_token is None:
                raise S3Error(403, 'InvalidAccessKeyId',
                              'temporary credentials need their session token '
                              '(x-amz-security-token)', AWSAccessKeyId=key_id)
            if not hmac.compare_digest(sent_token.encode('latin-1', 'replace'),
                                       session_token.encode('latin-1', 'replace')):
                raise S3Error(400, 'InvalidToken',
                              'The provided token is malformed or otherwise invalid.')
        if expires is not None and time.time() >= expires:
            raise S3Error(400, 'ExpiredToken', 'The provided token has expired.')
        content_sha = headers.get('x-amz-content-sha256')
        if content_sha is None:
            raise S3Error(400, 'InvalidRequest',
                          'Missing required header for this request: x-amz-content-sha256')
        if content_sha.startswith('STREAMING-') or 'aws-chunked' in headers.get(
                'Content-Encoding', ''):
            raise S3Error(400, 'InvalidRequest',
                          'aws-chunked/STREAMING payloads are refused by the test proxy')
        if content_sha == 'UNSIGNED-PAYLOAD':
            if not allow_unsigned:
                raise S3Error(400, 'InvalidRequest', 'UNSIGNED-PAYLOAD is disabled in the proxy')
        elif not re.fullmatch(r'[0-9a-f]{64}', content_sha):
            raise S3Error(400, 'InvalidArgument',
                          'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-... or a '
                          'valid sha256 value.')

        signed = HTTPHeaders()
        for name in signed_names:
            values = headers.get_all(name)
            if not values:
                raise S3Error(403, 'SignatureDoesNotMatch',
                              f'signed header {name!r} is missing from the request')
            for value in values:
                signed[name] = _header_text(value)
        # S3 decodes the path and URI-encodes it again (once, '/' kept) to sign it.
        canonical_path = quote(unquote_to_bytes(raw_path), safe='/~')
        request = AWSRequest(method=method, url='http://s3proxy' + canonical_path,
                             data=body, params=params)
        request.headers = signed
        request.context['timestamp'] = amz_date
        signer = _ReceivedHeadersSigner(credentials, self.region, signed)
        canonical_request = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical_request)
        expected = signer.signature(string_to_sign, request)
        if not hmac.compare_digest(expected, fields['Signature']):
            raise S3Error(403, 'SignatureDoesNotMatch',
                          'The request signature we calculated does not match the signature '
                          'you provided. Check your key and signing method.',
                          StringToSign=string_to_sign, CanonicalRequest=canonical_request)
        if content_sha != 'UNSIGNED-PAYLOAD':
            actual = hashlib.sha256(body).hexdigest()
            if actual != content_sha:
                raise S3Error(400, 'XAmzContentSHA256Mismatch',
                              "The provided 'x-amz-content-sha256' header does not match what "
                              'was computed.', ClientComputedContentSHA256=content_sha,
                              S3ComputedContentSHA256=actual)


class ProxyState:
    """Fault configuration, seeded RNG, forced-fault queue and request log (one lock)."""

    DEFAULTS = {'fault_rate': 0.0, 'faults': ['500', '503', 'timeout400', 'reset'],
                'only': None, 'delay_seconds': 1.0, 'stall_seconds': 5.0,
                'malformed_xml': False, 'seed': 1, 'next': [],
                'allow_unsigned_payload': True, 'latency_seconds': 0.0,
                'conditional_put': 'emulate'}

    def __init__(self, initial, log_path=None):
        self.lock = threading.Lock()
        self.initial = self.validate(dict(self.DEFAULTS), initial)
        self.log_file = open(log_path, 'a', encoding='utf-8') if log_path else None
        self.wake = threading.Event()
        self.reset()

    @staticmethod
    def validate(base, changes):
        config = dict(base)
        for name, value in changes.items():
            if name not in ProxyState.DEFAULTS:
                raise ValueError(f'unknown setting {name!r}')
            config[name] = value
        if not 0.0 <= float(config['fault_rate']) <= 1.0:
            raise ValueError('fault_rate must be between 0 and 1')
        for kind in list(config['faults']) + list(config['next']):
            if kind not in FAULT_KINDS:
                raise ValueError(f'unknown fault {kind!r}; known: {", ".join(FAULT_KINDS)}')
        for name in ('delay_seconds', 'stall_seconds', 'latency_seconds'):
            if not 0.0 <= float(config[name]) <= 3600.0:
                raise ValueError(f'{name} must be between 0 and 3600')
        if config['conditional_put'] not in ('emulate', 'ignore'):
            raise ValueError("conditional_put must be 'emulate' or 'ignore'")
        if isinstance(config['only'], str):
            config['only'] = [config['only']]
        config['faults'], config['next'] = list(config['faults']), list(config['next'])
        config['fault_rate'] = float(config['fault_rate'])
        config['latency_seconds'] = float(config['latency_seconds'])
        config['seed'] = int(config['seed'])
        return config

    def reset(self):
        with self.lock:
            self.config = dict(self.initial, next=list(self.initial['next']))
            self.rng = random.Random(self.config['seed'])
            self.log, self.seq = [], 0
            self.aborted = 0
            self.wake.set()  # release stalled connections
            self.wake = threading.Event()

    def update(self, changes):
        with self.lock:
            config = self.validate(self.config, changes)
            if 'seed' in changes:
                self.rng = random.Random(config['seed'])
            self.config = config
            return dict(config)

    def snapshot(self):
        with self.lock:
            return dict(self.config, next=list(self.config['next']))

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def note_aborted(self, entry):
        """The client went away before the whole answer of entry was sent."""
        with self.lock:
            self.aborted += 1
            entry['aborted'] = True

    def stats(self):
        with self.lock:
            return {'requests': self.seq, 'aborted': self.aborted}

    @staticmethod
    def _matches(only, method, op):
        if not only:
            return True
        for want in only:
            want = want.lower()
            if want in (method.lower(), op.lower()):
                return True
            if want == 'list' and op in LIST_OPS or want == 'multipart' and op in MULTIPART_OPS:
                return True
        return False

    def pick_fault(self, method, op):
        """Return (fault kind or None, wake event for interruptible waits)."""
        with self.lock:
            config = self.config
            if not self._matches(config['only'], method, op):
                return None, self.wake
            if config['next']:
                return config['next'].pop(0), self.wake
            if config['faults'] and self.rng.random() < config['fault_rate']:
                return self.rng.choice(config['faults']), self.wake
            return None, self.wake

    def record(self, entry):
        line = json.dumps(entry, sort_keys=True)
        with self.lock:
            if len(self.log) < MAX_LOG_ENTRIES:
                self.log.append(entry)
            if self.log_file:
                self.log_file.write(line + '\n')
                self.log_file.flush()

    def log_since(self, since):
        with self.lock:
            return [e for e in self.log if e['seq'] > since]

    def clear_log(self):
        with self.lock:
            self.log = []


def logged_header(name):
    """Headers worth asserting on; the session token is a secret and never logged."""
    if name.startswith('x-amz-'):
        return name != 'x-amz-security-token'
    return name in ('content-length', 'content-type', 'content-md5', 'range', 'expect',
                    'transfer-encoding', 'if-match', 'if-none-match')


class KeyLocks:
    """One lock per object key, so a conditional write's existence check and
    write are atomic against other conditional writes of the key, as on S3."""

    def __init__(self):
        self.lock = threading.Lock()
        self.locks = {}  # key -> [lock, users]

    def acquire(self, key):
        with self.lock:
            slot = self.locks.setdefault(key, [threading.Lock(), 0])
            slot[1] += 1
        slot[0].acquire()
        return slot

    def release(self, key, slot):
        slot[0].release()
        with self.lock:
            slot[1] -= 1
            if slot[1] == 0:
                del self.locks[key]


def upstream_value(name, value, access_key):
    """s3rver knows only its own access key: requests signed with a registered
    key (already verified here) reach it under that one."""
    if name.lower() == 'authorization':
        return re.sub(r'Credential=[^/,]+/', f'Credential={access_key}/', value, count=1)
    return value


def garble_xml(body):
    """Cut a listing in half and add bytes no XML parser may accept."""
    return body[:len(body) // 2] + b'</Key><&garbled;\x01<Contents'


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'walship-s3proxy'
    timeout = 300  # idle keep-alive connections are closed after this

    def setup(self):
        super().setup()
        self.upstream = None
        self.pending = None  # log entry of the request being answered
        self.answering = None  # log entry whose answer is being sent
        self.conn_id = self.server.next_conn()
        self.conn_requests = 0

    def commit_log(self):
        """Log before the answer leaves, so a client that got it finds it in the log."""
        if self.pending is not None:
            entry, started = self.pending
            self.pending = None
            self.answering = entry
            entry['ms'] = round((time.monotonic() - started) * 1000, 1)
            self.server.state.record(entry)

    def finish(self):
        try:
            super().finish()
        finally:
            if self.upstream:
                self.upstream.close()

    def log_message(self, format, *args):  # the JSON log replaces http.server's
        pass

    def do_GET(self):
        self.dispatch()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    # ---- request body ----------------------------------------------------
    def read_body(self):
        if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
            out = bytearray()
            for _ in range(10_000_000):
                line = self.rfile.readline(1024)
                size = int(line.split(b';')[0].strip() or b'x', 16)
                if size == 0:
                    for _ in range(1000):  # trailers up to the empty line
                        if self.rfile.readline(8192) in (b'\r\n', b'\n', b''):
                            return bytes(out)
                    raise ValueError('too many trailers')
                chunk = self.rfile.read(size)
                if len(chunk) != size or self.rfile.readline(8) not in (b'\r\n', b'\n'):
                    raise ValueError('truncated chunk')
                out += chunk
            raise ValueError('too many chunks')
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length > 0 else b''
        if len(body) != length:
            raise ValueError('request body shorter than Content-Length')
        return body

    # ---- responses -------------------------------------------------------
    def send_whole(self, status, headers, body):
        self.commit_log()
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        try:
            self.end_headers()
            if body and self.command != 'HEAD':
                self.wfile.write(body)
                self.wfile.flush()
        except (OSError, ssl.SSLError):
            if self.answering is not None:
                self.server.state.note_aborted(self.answering)
            raise

    def send_s3_error(self, err, request_id):
        body = error_xml(err.code, err.message, self.path.partition('?')[0], request_id,
                         err.extra)
        length = 0 if self.command == 'HEAD' else len(body)
        self.send_whole(err.status, [('Content-Type', 'application/xml'),
                                     ('Content-Length', str(length)),
                                     ('x-amz-request-id', request_id)], body)

    def send_json(self, status, obj, ndjson=False):
        if ndjson:
            body = ''.join(json.dumps(e, sort_keys=True) + '\n' for e in obj).encode()
        else:
            body = (json.dumps(obj, sort_keys=True) + '\n').encode()
        self.send_whole(status, [('Content-Type', 'application/json'),
                                 ('Content-Length', str(len(body)))], body)

    def reset_connection(self, partial):
        """Send some bytes, then close with SO_LINGER 0 so the peer gets an RST."""
        self.close_connection = True
        self.commit_log()
        try:
            self.connection.sendall(partial)
            time.sleep(0.05)  # let the partial bytes leave before the RST
        except OSError:
            pass
        self.rfile.close()  # drop makefile's reference so close() really closes
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        self.connection.close()

    # ---- upstream --------------------------------------------------------
    def forward(self, body):
        server = self.server
        headers = [(k, upstream_value(k, v, server.verifier.access_key))
                   for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() != 'x-amz-security-token']
        send_length = body or 'Content-Length' in self.headers or self.command in ('PUT', 'POST')
        for attempt in range(2):
            fresh = self.upstream is None
            if fresh:
                self.upstream = server.upstream_connection()
            conn = self.upstream
            try:
                conn.putrequest(self.command, self.path, skip_host=True,
                                skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                if send_length:
                    conn.putheader('Content-Length', str(len(body)))
                conn.endheaders(body or None)
                resp = conn.getresponse()
                if self.empty_range(resp):
                    # s3rver answers a range of an empty object with "206 bytes 0-0/0"
                    # and a body it never sends; S3 answers 416.
                    conn.close()
                    self.upstream = None
                    raise S3Error(416, 'InvalidRange', 'The requested range is not satisfiable',
                                  ActualObjectSize=0)
                data = resp.read()
            except ConnectionError:
                conn.close()
                self.upstream = None
                if fresh or attempt:
                    raise
                continue  # s3rver closed an idle kept-alive connection: retry once
            except (OSError, http.client.HTTPException):
                conn.close()
                self.upstream = None
                raise
            if resp.will_close:
                conn.close()
                self.upstream = None
            out = []
            for name, value in resp.getheaders():
                lname = name.lower()
                if lname == 'content-length' and self.command == 'HEAD':
                    out.append((name, value))
                elif lname not in HOP_BY_HOP:
                    out.append((name, value))
            if self.command != 'HEAD' and resp.status not in (204, 304):
                out.append(('Content-Length', str(len(data))))
            return resp.status, out, data
        raise AssertionError('unreachable')

    @staticmethod
    def empty_range(resp):
        m = re.fullmatch(r'bytes (\d+)-(\d+)/(\d+)', resp.getheader('Content-Range') or '')
        return resp.status == 206 and m is not None and int(m.group(2)) >= int(m.group(3))

    def upstream_exists(self):
        """HEAD of the request's key at s3rver (which checks no signature)."""
        path = self.path.partition('?')[0]
        headers = [(k, upstream_value(k, v, self.server.verifier.access_key))
                   for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() not in (
                       'x-amz-security-token', 'content-type', 'content-md5', 'if-none-match')]
        conn = self.server.upstream_connection()
        try:
            conn.putrequest('HEAD', path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders()
            resp = conn.getresponse()
            resp.read()
        finally:
            conn.close()
        if resp.status not in (200, 404):
            raise OSError(f'HEAD for the conditional write answered {resp.status}')
        return resp.status == 200

    def forward_conditional(self, body, op, key, entry):
        """A write with If-None-Match: * (PutObject, CompleteMultipartUpload):
        412 when the key exists, else the write, both under the key's lock."""
        locks = self.server.key_locks
        slot = locks.acquire(key)
        try:
            if self.upstream_exists():
                entry['condition'] = 'exists'
                raise S3Error(412, 'PreconditionFailed',
                              'At least one of the pre-conditions you specified did not hold',
                              Condition='If-None-Match')
            entry['condition'] = 'absent'
            return self.forward(body)
        finally:
            locks.release(key, slot)

    # ---- dispatch --------------------------------------------------------
    def dispatch(self):
        path, _, query = self.path.partition('?')
        if path.startswith(CONTROL_PREFIX):
            return self.control(path, query)
        state = self.server.state
        started = time.monotonic()
        seq = state.next_seq()
        request_id = f'{seq:016X}'
        entry = {'seq': seq, 'time': round(time.time(), 3), 'method': self.command,
                 'path': path, 'query': query, 'op': None, 'bucket': None, 'key': None,
                 'status': None, 'fault': None, 'sig': None, 'error': None,
                 'forwarded': False, 'bytes_in': 0, 'bytes_out': 0,
                 'access_key': None, 'token': None, 'aborted': False,
                 'conn': self.conn_id, 'conn_request': self.conn_requests,
                 'headers': {k.lower(): v for k, v in self.headers.items()
                             if logged_header(k.lower())}}
        self.conn_requests += 1
        self.pending = (entry, started)
        try:
            self.proxy_request(path, query, entry, request_id)
        except (ValueError, socket.timeout, ConnectionError) as exc:
            entry['error'] = entry['error'] or f'client: {exc}'
            self.close_connection = True
        finally:
            self.commit_log()

    def proxy_request(self, path, query, entry, request_id):
        state = self.server.state
        body = self.read_body()
        entry['bytes_in'] = len(body)
        config = state.snapshot()
        if config['latency_seconds']:
            state.wake.wait(config['latency_seconds'])
        try:
            params = parse_query(query)
            op, bucket, key = classify(self.command, path, params, self.headers)
            entry.update(op=op, bucket=bucket, key=key)
            self.server.verifier.verify(self.command, path, params, self.headers, body,
                                        config['allow_unsigned_payload'], entry)
            entry['sig'] = 'ok'
        except S3Error as err:
            entry.update(status=err.status, error=err.code, sig=err.code)
            return self.send_s3_error(err, request_id)

        fault, wake = state.pick_fault(self.command, op)
        entry['fault'] = fault
        simple = {'500': (500, 'InternalError', 'We encountered an internal error. '
                                                'Please try again.'),
                  '503': (503, 'SlowDown', 'Please reduce your request rate.'),
                  'timeout400': (400, 'RequestTimeout',
                                 'Your socket connection to the server was not read from or '
                                 'written to within the timeout period.')}
        if fault in simple:
            err = S3Error(*simple[fault])
            entry.update(status=err.status, error=err.code)
            return self.send_s3_error(err, request_id)
        if fault == 'stall':
            wake.wait(config['stall_seconds'])  # silent; a /__proxy/reset ends it early
            self.close_connection = True
            return
        if fault == 'reset' and op != 'GetObject':
            # Nothing with a side effect reaches s3rver; the response head is cut short.
            head = (f'HTTP/1.1 200 OK\r\nx-amz-request-id: {request_id}\r\n'
                    'Content-Length: 0\r\n\r\n').encode()
            return self.reset_connection(head[:len(head) // 2])
        if fault == 'delay':
            wake.wait(config['delay_seconds'])

        conditional = (config['conditional_put'] == 'emulate' and
                       op in ('PutObject', 'CompleteMultipartUpload') and
                       self.headers.get('If-None-Match', '').strip() == '*')
        try:
            if conditional:
                status, headers, data = self.forward_conditional(body, op, key, entry)
            else:
                status, headers, data = self.forward(body)
        except S3Error as err:
            entry.update(status=err.status, error=err.code)
            return self.send_s3_error(err, request_id)
        except (OSError, http.client.HTTPException) as exc:
            err = S3Error(502, 'ProxyUpstreamError', f'upstream s3rver failed: {exc}')
            entry.update(status=502, error=err.code)
            return self.send_s3_error(err, request_id)
        entry.update(forwarded=True, status=status)
        if status >= 400 and data:
            code = re.search(rb'<Code>([^<]*)</Code>', data)
            entry['error'] = code.group(1).decode('utf-8', 'replace') if code else None
        if op in LIST_OPS and status == 200 and (fault == 'malformed' or config['malformed_xml']):
            data = garble_xml(data)
            headers = [(k, str(len(data)) if k.lower() == 'content-length' else v)
                       for k, v in headers]
            entry['fault'] = 'malformed'
        elif fault == 'malformed':
            entry['fault'] = None  # only listings can be garbled
        if fault == 'reset':
            head = f'HTTP/1.1 {status} {http.client.responses.get(status, "")}\r\n'
            head += ''.join(f'{k}: {v}\r\n' for k, v in headers) + '\r\n'
            cut = min(len(data) // 2, 256 * 1024) if len(data) >= 2 else 0
            partial = head.encode('latin-1') + data[:cut]
            if not cut:
                partial = partial[:len(head) // 2]
            entry['status'], entry['bytes_out'] = None, cut  # no complete response
            return self.reset_connection(partial)
        entry['bytes_out'] = len(data) if self.command != 'HEAD' else 0
        self.send_whole(status, headers, data)

    # ---- control API -----------------------------------------------------
    def control(self, path, query):
        state = self.server.state
        try:
            body = self.read_body()
            name = path[len(CONTROL_PREFIX):]
            if self.command == 'GET' and name == 'health':
                return self.send_json(200, {'ok': True})
            if self.command == 'GET' and name == 'config':
                return self.send_json(200, state.snapshot())
            if self.command == 'GET' and name == 'stats':
                return self.send_json(200, state.stats())
            if self.command == 'POST' and name == 'config':
                changes = json.loads(body or b'{}')
                if not isinstance(changes, dict):
                    raise ValueError('config must be a JSON object')
                return self.send_json(200, state.update(changes))
            if self.command == 'POST' and name == 'reset':
                state.reset()
                return self.send_json(200, state.snapshot())
            if self.command == 'GET' and name == 'log':
                since = int(dict(parse_query(query)).get('since', 0))
                return self.send_json(200, state.log_since(since), ndjson=True)
            if self.command == 'DELETE' and name == 'log':
                state.clear_log()
                return self.send_json(200, {'ok': True})
            if self.command == 'POST' and name == 'credentials':
                c = json.loads(body or b'{}')
                if not isinstance(c, dict):
                    raise ValueError('credentials must be a JSON object')
                self.server.verifier.register(c.get('access_key'), c.get('secret_key'),
                                              c.get('session_token'), c.get('expires'))
                return self.send_json(200, {'ok': True})
            if self.command == 'GET' and name == 'credentials':
                return self.send_json(200, self.server.verifier.registered())
            return self.send_json(404, {'error': f'no control endpoint {self.command} {path}'})
        except (ValueError, TypeError, S3Error) as exc:
            return self.send_json(400, {'error': str(exc)})


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address, state, verifier, upstream, tls_ctx, upstream_timeout):
        if ':' in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
        self.state, self.verifier, self.tls_ctx = state, verifier, tls_ctx
        parts = urlsplit(upstream)
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise ValueError(f'upstream must be http(s)://host:port, not {upstream!r}')
        self.upstream_tls = parts.scheme == 'https'
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or (443 if self.upstream_tls else 80)
        self.upstream_timeout = upstream_timeout
        # Our own s3rver with our own self-signed certificate: no verification upstream.
        self.upstream_ctx = ssl._create_unverified_context() if self.upstream_tls else None
        self.key_locks = KeyLocks()
        self.conn_lock = threading.Lock()
        self.conns = 0

    def next_conn(self):
        with self.conn_lock:
            self.conns += 1
            return self.conns

    def upstream_connection(self):
        if self.upstream_tls:
            return http.client.HTTPSConnection(self.upstream_host, self.upstream_port,
                                               timeout=self.upstream_timeout,
                                               context=self.upstream_ctx)
        return http.client.HTTPConnection(self.upstream_host, self.upstream_port,
                                          timeout=self.upstream_timeout)

    def finish_request(self, request, client_address):
        if self.tls_ctx is None:
            return super().finish_request(request, client_address)
        # Handshake in the connection's own thread so one slow client blocks no other.
        request.settimeout(30)
        try:
            tls = self.tls_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, socket.timeout, ssl.SSLError)):
            print(f's3proxy: error on connection from {client_address}: {exc!r}',
                  file=sys.stderr, flush=True)


def watch_parent(pid):
    """Exit when the process that started us is gone, so tests leave nothing behind."""
    while True:
        time.sleep(1)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass


def parse_args(argv):
    p = argparse.ArgumentParser(description='Verifying, fault-injecting S3 proxy for tests.')
    p.add_argument('--listen', default='127.0.0.1', help='loopback address (default 127.0.0.1)')
    p.add_argument('--port', type=int, default=0, help='port; 0 picks a free one')
    p.add_argument('--port-file', help='write the bound port here once listening')
    p.add_argument('--upstream', required=True, help='s3rver URL, e.g. http://127.0.0.1:4568')
    p.add_argument('--upstream-timeout', type=float, default=120.0)
    p.add_argument('--cert', help='PEM certificate: serve HTTPS')
    p.add_argument('--key', help='PEM private key for --cert')
    p.add_argument('--access-key', default='S3RVER')
    p.add_argument('--secret-key', default=os.environ.get('S3PROXY_SECRET_KEY', 'S3RVER'),
                   help='secret for signature checks (or env S3PROXY_SECRET_KEY)')
    p.add_argument('--region', default='us-east-1')
    p.add_argument('--max-skew', type=int, default=900, help='allowed x-amz-date skew, seconds')
    p.add_argument('--fault-rate', type=float, default=0.0)
    p.add_argument('--faults', default=','.join(ProxyState.DEFAULTS['faults']),
                   help=f'comma list of: {", ".join(FAULT_KINDS)}')
    p.add_argument('--only', help='comma list of methods/operations (PUT, UploadPart, list, ...)')
    p.add_argument('--delay-seconds', type=float, default=1.0)
    p.add_argument('--stall-seconds', type=float, default=5.0)
    p.add_argument('--latency-seconds', type=float, default=0.0,
                   help='added to every S3 request (a distant region)')
    p.add_argument('--conditional-put', choices=('emulate', 'ignore'), default='emulate',
                   help="If-None-Match: * on writes: answered as S3 does (412 when the key "
                        "exists), or ignored as s3rver does")
    p.add_argument('--malformed-xml', action='store_true', help='garble every listing')
    p.add_argument('--no-unsigned-payload', action='store_true',
                   help='refuse x-amz-content-sha256: UNSIGNED-PAYLOAD')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--log', help='append one JSON line per request to this file')
    p.add_argument('--parent-pid', type=int, help='exit when this process exits')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.listen != 'localhost' and not ipaddress.ip_address(args.listen).is_loopback:
        sys.exit(f's3proxy: refusing to listen on non-loopback address {args.listen}')
    initial = {'fault_rate': args.fault_rate,
               'faults': [f for f in args.faults.split(',') if f],
               'only': args.only.split(',') if args.only else None,
               'delay_seconds': args.delay_seconds, 'stall_seconds': args.stall_seconds,
               'malformed_xml': args.malformed_xml, 'seed': args.seed,
               'allow_unsigned_payload': not args.no_unsigned_payload,
               'latency_seconds': args.latency_seconds, 'conditional_put': args.conditional_put}
    try:
        state = ProxyState(initial, args.log)
    except ValueError as exc:
        sys.exit(f's3proxy: {exc}')
    tls_ctx = None
    if args.cert:
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(args.cert, args.key)
    verifier = Verifier(args.access_key, args.secret_key, args.region, args.max_skew)
    server = ProxyServer((args.listen, args.port), state, verifier, args.upstream, tls_ctx,
                         args.upstream_timeout)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + '.tmp'
        with open(tmp, 'w', encoding='ascii') as f:
            f.write(f'{port}\n')
        os.replace(tmp, args.port_file)
    if args.parent_pid:
        threading.Thread(target=watch_parent, args=(args.parent_pid,), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f's3proxy listening on {"https" if tls_ctx else "http"}://{args.listen}:{port} '
          f'-> {args.upstream}', flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == '__main__':
    main()
