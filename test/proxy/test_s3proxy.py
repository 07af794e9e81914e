#!/usr/bin/env python3
"""Self-test of the S3 test proxy and s3env (meson test 's3proxy', suite 'integration').

Starts a real environment (s3rver + proxies) in a temporary directory, signs
requests with botocore, and checks that the proxy verifies signatures and
bodies, injects each fault on request and at a rate, logs what was sent, works
over HTTPS, and that s3env stop and the watchdog clean up.
"""

import concurrent.futures
import datetime
import hashlib
import http.client
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlsplit

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HERE = os.path.dirname(os.path.abspath(__file__))
S3ENV = os.path.join(os.path.dirname(HERE), 'integration', 's3env')
NS = '{http://doc.s3.amazonaws.com/2006-03-01/}'
ENV = {}


class Signer(S3SigV4Auth):
    """botocore's S3 signer with a chosen timestamp and, optionally, a chosen body hash."""

    def __init__(self, secret, region, timestamp, content_sha, access_key='S3RVER'):
        super().__init__(Credentials(access_key, secret), 's3', region)
        self.timestamp, self.content_sha = timestamp, content_sha

    def _modify_request_before_signing(self, request):
        if self.content_sha is None:
            return super()._modify_request_before_signing(request)
        SigV4Auth._modify_request_before_signing(self, request)
        request.headers['X-Amz-Content-SHA256'] = self.content_sha

    def add_auth(self, request):
        request.context['timestamp'] = self.timestamp
        self._modify_request_before_signing(request)
        canonical = self.canonical_request(request)
        self._inject_signature_to_request(
            request, self.signature(self.string_to_sign(request, canonical), request))


def connect(endpoint, ca=None, timeout=10):
    parts = urlsplit(endpoint)
    if parts.scheme == 'https':
        ctx = ssl.create_default_context(cafile=ca)
        return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                           context=ctx)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def s3(method, key='', query='', body=b'', endpoint=None, conn=None, headers=None,
       secret='S3RVER', region='us-east-1', content_sha=None, sign_params=None,
       skew=0, after_sign=None, timeout=10, chunked=False, access_key='S3RVER'):
    """Sign with botocore and send; returns (status, headers dict, body)."""
    endpoint = endpoint or ENV['S3ENV_HTTP_ENDPOINT']
    path = '/' + ENV['S3ENV_BUCKET'] + ('/' + quote(key, safe='/~') if key else '')
    sign_url = endpoint + path + ('?' + query if query and sign_params is None else '')
    request = AWSRequest(method=method, url=sign_url, data=body, headers=dict(headers or {}),
                         params=sign_params)
    stamp = (datetime.datetime.utcnow() + datetime.timedelta(seconds=skew))
    Signer(secret, region, stamp.strftime('%Y%m%dT%H%M%SZ'), content_sha, access_key).add_auth(request)
    send = dict(request.headers.items())
    if after_sign:
        after_sign(send)
    own = conn is None
    conn = conn or connect(endpoint, ENV['S3ENV_CA_FILE'], timeout)
    try:
        target = path + ('?' + query if query else '')
        if chunked:
            send['Transfer-Encoding'] = 'chunked'
            conn.request(method, target, body=iter([body[:3], body[3:]]), headers=send,
                         encode_chunked=True)
        else:
            conn.request(method, target, body=body, headers=send)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        if own:
            conn.close()


def code_of(body):
    return ET.fromstring(body).findtext('Code')


def control(name, obj=None, method=None, base=None):
    base = base or ENV['S3ENV_CONTROL_HTTP']
    data = None if obj is None else json.dumps(obj).encode()
    req = urllib.request.Request(f'{base}/{name}', data=data,
                                 method=method or ('POST' if data is not None else 'GET'))
    try:
        ctx = ssl.create_default_context(cafile=ENV['S3ENV_CA_FILE'])
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def proxy_log(since=0):
    status, body = control(f'log?since={since}')
    assert status == 200, status
    return [json.loads(line) for line in body.decode().splitlines()]


def last_seq():
    entries = proxy_log()
    return entries[-1]['seq'] if entries else 0


def stored(key):
    """Ask s3rver directly (no proxy) whether key exists."""
    status, _, _ = s3('HEAD', key, endpoint=ENV['S3ENV_S3RVER_ENDPOINT'])
    assert status in (200, 404), status
    return status == 200


# ---- tests ---------------------------------------------------------------------------

def test_round_trip_keep_alive():
    conn = connect(ENV['S3ENV_HTTP_ENDPOINT'])
    key = 'rt/a b+c=d&e~f.txt'
    data = os.urandom(100000)
    status, _, _ = s3('PUT', key, body=data, conn=conn,
                      headers={'x-amz-meta-walship-sha256': 'ab' * 32})
    assert status == 200, status
    status, hdrs, got = s3('GET', key, conn=conn)
    assert status == 200 and got == data, status
    assert hdrs.get('x-amz-meta-walship-sha256') == 'ab' * 32, hdrs
    status, hdrs, got = s3('HEAD', key, conn=conn)
    assert status == 200 and got == b'' and hdrs['content-length'] == str(len(data)), hdrs
    status, _, got = s3('GET', 'rt/missing', conn=conn)
    assert status == 404 and code_of(got) == 'NoSuchKey', (status, got)
    conn.close()
    entries = [e for e in proxy_log() if e['key'] == key]
    assert [e['op'] for e in entries] == ['PutObject', 'GetObject', 'HeadObject'], entries
    assert all(e['sig'] == 'ok' and e['forwarded'] for e in entries), entries
    assert entries[0]['headers']['x-amz-meta-walship-sha256'] == 'ab' * 32


def test_wrong_secret_refused_not_stored():
    status, _, body = s3('PUT', 'bad/secret', body=b'x', secret='WRONG')
    assert status == 403 and code_of(body) == 'SignatureDoesNotMatch', (status, body)
    assert not stored('bad/secret')
    entry = proxy_log()[-1]
    assert entry['sig'] == 'SignatureDoesNotMatch' and not entry['forwarded'], entry


def test_wrong_body_hash_refused():
    status, _, body = s3('PUT', 'bad/hash', body=b'real body',
                         content_sha=ENV['sha_other'])
    assert status == 400 and code_of(body) == 'XAmzContentSHA256Mismatch', (status, body)
    assert not stored('bad/hash')


def test_auth_errors():
    cases = [
        (dict(region='eu-west-1'), 400, 'AuthorizationHeaderMalformed'),
        (dict(skew=-3600), 403, 'RequestTimeTooSkewed'),
        (dict(content_sha='STREAMING-AWS4-HMAC-SHA256-PAYLOAD'), 400, 'InvalidRequest'),
        (dict(after_sign=lambda h: h.update({'x-amz-meta-late': '1'})), 403, 'AccessDenied'),
        (dict(after_sign=lambda h: h.pop('Authorization')), 403, 'AccessDenied'),
        (dict(after_sign=lambda h: h.update(
            Authorization=h['Authorization'].replace('Credential=S3RVER', 'Credential=NOPE'))),
         403, 'InvalidAccessKeyId'),
        (dict(headers={'x-amz-content-sha256': 'x'}, content_sha='x'), 400, 'InvalidArgument'),
    ]
    for i, (kwargs, want_status, want_code) in enumerate(cases):
        status, _, body = s3('PUT', f'bad/auth{i}', body=b'data', **kwargs)
        assert (status, code_of(body)) == (want_status, want_code), (kwargs, status, body)
        assert not stored(f'bad/auth{i}'), kwargs


def test_query_must_be_canonical():
    assert s3('PUT', 'q/a/b1', body=b'1')[0] == 200
    # Signed over the canonical form, sent unencoded and unsorted: S3 accepts it.
    status, _, body = s3('GET', query='prefix=q/a/&list-type=2',
                         sign_params=[('prefix', 'q/a/'), ('list-type', '2')])
    assert status == 200, (status, body)
    keys = [e.findtext(NS + 'Key') for e in ET.fromstring(body).iter(NS + 'Contents')]
    assert keys == ['q/a/b1'], keys
    # Signed over the raw, non-canonical query (what curl 7.88 does): refused.
    status, _, body = s3('GET', query='prefix=q/a/&list-type=2')
    assert status == 403 and code_of(body) == 'SignatureDoesNotMatch', (status, body)


def test_expect_continue_and_chunked():
    body = b'expect me'
    status, _, _ = s3('PUT', 'x/chunked', body=body, chunked=True)
    assert status == 200 and stored('x/chunked'), status
    # Expect: 100-continue by hand: the proxy must answer 100 before the body is sent.
    request = AWSRequest(method='PUT', url=ENV['S3ENV_HTTP_ENDPOINT'] + '/walship-test/x/exp',
                         data=body, headers={'Expect': '100-continue',
                                             'Content-Length': str(len(body))})
    Signer('S3RVER', 'us-east-1', datetime.datetime.utcnow().strftime('%Y%m%dT%H%M%SZ'),
           None).add_auth(request)
    parts = urlsplit(ENV['S3ENV_HTTP_ENDPOINT'])
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        head = f'PUT /walship-test/x/exp HTTP/1.1\r\nHost: {parts.netloc}\r\n'
        head += ''.join(f'{k}: {v}\r\n' for k, v in request.headers.items() if k != 'Host')
        sock.sendall((head + '\r\n').encode())
        interim = sock.recv(1024)
        assert interim.startswith(b'HTTP/1.1 100'), interim
        sock.sendall(body)
        final = sock.recv(4096)
        assert final.startswith(b'HTTP/1.1 200'), final
    assert stored('x/exp')


def test_simple_faults_on_request():
    for fault, want in (('500', (500, 'InternalError')), ('503', (503, 'SlowDown')),
                        ('timeout400', (400, 'RequestTimeout'))):
        assert control('config', {'next': [fault]})[0] == 200
        status, _, body = s3('PUT', f'f/{fault}', body=b'v')
        assert (status, code_of(body)) == want, (fault, status, body)
        assert not stored(f'f/{fault}'), fault
        entry = proxy_log()[-1]
        assert entry['fault'] == fault and entry['status'] == want[0], entry
        assert s3('PUT', f'f/{fault}', body=b'v')[0] == 200  # the queue is used up


def test_only_filter():
    control('config', {'fault_rate': 1.0, 'faults': ['503'], 'only': 'PUT'})
    try:
        assert s3('GET', 'rt/missing')[0] == 404
        assert s3('PUT', 'only/x', body=b'1')[0] == 503
        control('config', {'only': ['list']})
        assert s3('PUT', 'only/x', body=b'1')[0] == 200
        assert s3('GET', query='list-type=2')[0] == 503
    finally:
        control('reset', {})


def test_reset_faults():
    data = os.urandom(300000)
    assert s3('PUT', 'r/big', body=data)[0] == 200
    control('config', {'next': ['reset']})
    try:
        s3('GET', 'r/big')
        raise AssertionError('GET through a reset succeeded')
    except (ConnectionError, http.client.IncompleteRead):
        pass
    entry = proxy_log()[-1]
    assert entry['fault'] == 'reset' and entry['forwarded'] and 0 < entry['bytes_out'] < len(data)
    control('config', {'next': ['reset']})
    try:
        s3('PUT', 'r/never', body=b'abc')
        raise AssertionError('PUT through a reset succeeded')
    except (ConnectionError, http.client.HTTPException):
        pass
    assert not stored('r/never')
    assert not proxy_log()[-1]['forwarded']


def test_delay_and_stall():
    control('config', {'next': ['delay'], 'delay_seconds': 0.4})
    started = time.monotonic()
    assert s3('GET', 'r/big')[0] == 200
    assert time.monotonic() - started >= 0.4
    control('config', {'next': ['stall', 'stall'], 'stall_seconds': 0.5})
    started = time.monotonic()
    try:  # the proxy stays silent, then closes without answering
        s3('GET', 'r/big', timeout=5)
        raise AssertionError('stalled request answered')
    except (ConnectionError, http.client.HTTPException):
        pass
    assert time.monotonic() - started >= 0.5
    control('config', {'stall_seconds': 30})
    try:  # a client with a shorter timeout gives up first
        s3('GET', 'r/big', timeout=0.3)
        raise AssertionError('stalled request answered')
    except socket.timeout:
        pass
    control('reset', {})  # also releases the stalled connection


def test_malformed_listing():
    assert s3('PUT', 'm/k', body=b'1')[0] == 200
    for setting in ({'next': ['malformed']}, {'malformed_xml': True}):
        control('config', setting)
        status, _, body = s3('GET', query='list-type=2&prefix=m%2F')
        assert status == 200
        try:
            ET.fromstring(body)
            raise AssertionError('garbled listing parsed')
        except ET.ParseError:
            pass
        assert proxy_log()[-1]['fault'] == 'malformed'
        assert s3('GET', 'm/k')[2] == b'1'  # objects themselves are not garbled
        control('reset', {})
    ET.fromstring(s3('GET', query='list-type=2&prefix=m%2F')[2])


def test_fault_rate_and_seed():
    def run(n):
        conn = connect(ENV['S3ENV_HTTP_ENDPOINT'])
        statuses = [s3('HEAD', 'm/k', conn=conn)[0] for _ in range(n)]
        conn.close()
        return statuses

    control('config', {'fault_rate': 0.2, 'faults': ['500', '503'], 'seed': 7})
    since = last_seq()
    statuses = run(200)
    faults = sum(s != 200 for s in statuses)
    assert 20 <= faults <= 60, faults
    logged = proxy_log(since)
    assert len(logged) == 200 and sum(e['fault'] is not None for e in logged) == faults
    control('config', {'seed': 7})
    assert run(200) == statuses  # the same seed gives the same faults
    control('reset', {})


def test_multipart_and_abort_logged():
    status, _, body = s3('POST', 'mp/obj', query='uploads', sign_params={'uploads': ''})
    assert status == 200, (status, body)
    upload_id = ET.fromstring(body).findtext('UploadId')  # s3rver: no namespace here
    assert upload_id, body
    part = os.urandom(5 * 1024 * 1024)
    q = f'partNumber=1&uploadId={quote(upload_id, safe="")}'
    status, hdrs, _ = s3('PUT', 'mp/obj', query=q, body=part)
    assert status == 200, status
    done = (f'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{hdrs["etag"]}'
            '</ETag></Part></CompleteMultipartUpload>').encode()
    status, _, body = s3('POST', 'mp/obj', query=f'uploadId={quote(upload_id, safe="")}',
                         body=done)
    assert status == 200, (status, body)
    status, _, _ = s3('DELETE', 'mp/obj', query=f'uploadId={quote(upload_id, safe="")}')
    assert status in (204, 405), status  # s3rver answers 405 to AbortMultipartUpload
    ops = [e['op'] for e in proxy_log() if e['key'] == 'mp/obj']
    assert ops == ['CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload',
                   'AbortMultipartUpload'], ops
    assert s3('GET', 'mp/obj')[2] == part


def test_control_api_errors_and_log_file():
    assert control('config', {'bogus': 1})[0] == 400
    assert control('config', {'faults': ['explode']})[0] == 400
    assert control('config', {'fault_rate': 2})[0] == 400
    assert control('nothing')[0] == 404
    config = json.loads(control('config')[1])
    assert config['fault_rate'] == 0.0 and config['next'] == [], config
    assert control('log', method='DELETE')[0] == 200 and proxy_log() == []
    with open(os.path.join(ENV['S3ENV_DIR'], 'proxy-http.log.jsonl'), encoding='utf-8') as f:
        lines = [json.loads(line) for line in f]
    assert any(e['op'] == 'AbortMultipartUpload' for e in lines)


def test_https():
    endpoint = ENV['S3ENV_HTTPS_ENDPOINT']
    assert s3('PUT', 'tls/a', body=b'secure', endpoint=endpoint)[0] == 200
    assert s3('GET', 'tls/a', endpoint=endpoint)[2] == b'secure'
    status, _, body = s3('GET', 'tls/a', endpoint=endpoint, secret='WRONG')
    assert status == 403 and code_of(body) == 'SignatureDoesNotMatch'
    assert control('config', {'next': ['503']}, base=ENV['S3ENV_CONTROL_HTTPS'])[0] == 200
    assert s3('GET', 'tls/a', endpoint=endpoint)[0] == 503
    parts = urlsplit(endpoint)
    plain = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=5,
                                        context=ssl.create_default_context())
    try:
        plain.request('GET', '/__proxy/health')
        raise AssertionError('self-signed certificate accepted without the CA file')
    except ssl.SSLCertVerificationError:
        pass
    finally:
        plain.close()


def test_registered_credentials():
    token = 'tok/' + 'A+b=' * 100
    for body in ({'access_key': 'ASIATEMP0001', 'secret_key': 'temp-secret', 'session_token': token,
                  'expires': time.time() + 600},
                 {'access_key': 'AKIASTATIC01', 'secret_key': 'static-secret'}):
        assert control('credentials', body)[0] == 200
    status, listed = control('credentials')
    assert status == 200 and b'temp-secret' not in listed and token.encode() not in listed, listed
    assert {e['access_key'] for e in json.loads(listed)} >= {'ASIATEMP0001', 'AKIASTATIC01'}

    def temp(key, **kwargs):
        kwargs.setdefault('headers', {'x-amz-security-token': token})
        kwargs.setdefault('secret', 'temp-secret')
        return s3('PUT', key, body=b'temp', access_key='ASIATEMP0001', **kwargs)

    status, _, body = temp('reg/temp')
    assert status == 200 and stored('reg/temp'), (status, body)
    entry = proxy_log()[-1]
    assert entry['access_key'] == 'ASIATEMP0001' and entry['token'] == 'signed' and entry['forwarded'], entry
    assert 'x-amz-security-token' not in entry['headers'], entry  # a secret: never logged
    status, _, body = s3('PUT', 'reg/static', body=b's', access_key='AKIASTATIC01', secret='static-secret')
    assert status == 200 and stored('reg/static'), (status, body)
    cases = [
        ('reg/no-token', dict(headers={}), 403, 'InvalidAccessKeyId'),
        ('reg/bad-token', dict(headers={'x-amz-security-token': token + 'x'}), 400, 'InvalidToken'),
        ('reg/unsigned-token', dict(headers={}, after_sign=lambda h: h.update({'x-amz-security-token': token})),
         403, 'AccessDenied'),
        ('reg/bad-secret', dict(secret='other'), 403, 'SignatureDoesNotMatch'),
    ]
    for key, kwargs, want_status, want_code in cases:
        status, _, body = temp(key, **kwargs)
        assert (status, code_of(body)) == (want_status, want_code), (key, status, body)
        assert not stored(key), key
    assert control('credentials', {'access_key': 'ASIATEMP0002', 'secret_key': 'x', 'session_token': 't',
                                   'expires': time.time() - 1})[0] == 200
    status, _, body = s3('PUT', 'reg/expired', body=b'e', access_key='ASIATEMP0002', secret='x',
                         headers={'x-amz-security-token': 't'})
    assert (status, code_of(body)) == (400, 'ExpiredToken') and not stored('reg/expired'), (status, body)
    assert control('credentials', {'access_key': 'S3RVER', 'secret_key': 'x'})[0] == 400
    assert control('credentials', {'access_key': 'K'})[0] == 400


def test_conditional_put():
    key = 'cond/obj'
    inm = {'If-None-Match': '*'}
    assert s3('PUT', key, body=b'first', headers=inm)[0] == 200
    status, _, body = s3('PUT', key, body=b'second', headers=inm)
    assert status == 412 and code_of(body) == 'PreconditionFailed', (status, body)
    entry = proxy_log()[-1]
    assert entry['condition'] == 'exists' and entry['status'] == 412, entry
    assert s3('GET', key)[2] == b'first'  # untouched
    assert s3('PUT', key, body=b'third')[0] == 200  # unconditional: replaces
    assert s3('GET', key)[2] == b'third'
    # Many conditional writers of one new key at once: exactly one wins.
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        got = list(pool.map(lambda i: s3('PUT', 'cond/race', body=b'w%d' % i, headers=inm)[0],
                            range(6)))
    assert sorted(got) == [200] + [412] * 5, got
    # As s3rver: the header ignored, the object replaced.
    control('config', {'conditional_put': 'ignore'})
    try:
        assert s3('PUT', key, body=b'fourth', headers=inm)[0] == 200
        assert s3('GET', key)[2] == b'fourth'
    finally:
        control('reset', {})
    assert control('config', {'conditional_put': 'maybe'})[0] == 400


def test_conditional_complete_multipart():
    def upload(key):
        status, _, body = s3('POST', key, query='uploads', sign_params={'uploads': ''})
        upload_id = ET.fromstring(body).findtext('UploadId')
        q = f'partNumber=1&uploadId={quote(upload_id, safe="")}'
        status, hdrs, _ = s3('PUT', key, query=q, body=b'part')
        done = (f'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{hdrs["etag"]}'
                '</ETag></Part></CompleteMultipartUpload>').encode()
        return s3('POST', key, query=f'uploadId={quote(upload_id, safe="")}', body=done,
                  headers={'If-None-Match': '*'})[0]

    assert upload('cond/mp') == 200
    assert upload('cond/mp') == 412


def test_latency_and_empty_range():
    assert s3('PUT', 'lat/empty', body=b'')[0] == 200
    status, _, body = s3('GET', 'lat/empty', headers={'Range': 'bytes=0-9'}, timeout=5)
    assert status == 416 and code_of(body) == 'InvalidRange', (status, body)
    conn = connect(ENV['S3ENV_HTTP_ENDPOINT'])
    started = time.monotonic()
    assert s3('HEAD', 'lat/empty', conn=conn)[0] == 200
    fast = time.monotonic() - started
    control('config', {'latency_seconds': 0.3})
    try:
        started = time.monotonic()
        assert s3('HEAD', 'lat/empty', conn=conn)[0] == 200
        assert time.monotonic() - started >= 0.3 > fast, fast
    finally:
        control('reset', {})
        conn.close()


def test_connections_and_aborts_logged():
    data = os.urandom(8 << 20)
    assert s3('PUT', 'ab/big', body=data)[0] == 200
    control('reset', {})
    conn = connect(ENV['S3ENV_HTTP_ENDPOINT'])
    s3('HEAD', 'ab/big', conn=conn)
    s3('GET', 'ab/big', conn=conn, headers={'Range': 'bytes=0-9'})
    conn.close()
    first = proxy_log()
    assert [e['conn_request'] for e in first] == [0, 1] and first[0]['conn'] == first[1]['conn'], first
    assert json.loads(control('stats')[1]) == {'requests': 2, 'aborted': 0}
    # A client that reads a few bytes of a big answer and hangs up.
    conn = connect(ENV['S3ENV_HTTP_ENDPOINT'])
    path = '/' + ENV['S3ENV_BUCKET'] + '/ab/big'
    request = AWSRequest(method='GET', url=ENV['S3ENV_HTTP_ENDPOINT'] + path)
    Signer('S3RVER', 'us-east-1', datetime.datetime.utcnow().strftime('%Y%m%dT%H%M%SZ'),
           None).add_auth(request)
    conn.request('GET', path, headers=dict(request.headers.items()))
    resp = conn.getresponse()
    resp.read(1000)
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    conn.close()
    deadline = time.monotonic() + 10
    while json.loads(control('stats')[1])['aborted'] != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(control('stats')[1])['aborted'] == 1
    entry = proxy_log()[-1]
    assert entry['aborted'] and entry['conn'] != first[0]['conn'], entry
    control('reset', {})


def pids_alive(d, pids):
    return [p for p in pids if os.path.exists(f'/proc/{p}') and
            d.encode() in open(f'/proc/{p}/cmdline', 'rb').read()]


def test_stop_cleans_up():
    d = ENV['S3ENV_DIR']
    with open(os.path.join(d, 'pids.json'), encoding='utf-8') as f:
        pids = list(json.load(f).values())
    assert len(pids) == 4 and pids_alive(d, pids)
    subprocess.run([sys.executable, S3ENV, 'stop', d], check=True, timeout=30)
    assert not pids_alive(d, pids), pids
    assert not os.path.exists(os.path.join(d, 'env.sh'))
    for url in (ENV['S3ENV_HTTP_ENDPOINT'], ENV['S3ENV_S3RVER_ENDPOINT']):
        parts = urlsplit(url)
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=2).close()
            raise AssertionError(f'{url} still answers')
        except ConnectionRefusedError:
            pass


def test_watchdog_stops_orphans():
    with tempfile.TemporaryDirectory(prefix='s3env-wd-') as d:
        sleeper = subprocess.Popen(['sleep', '60'])
        try:
            subprocess.run([sys.executable, S3ENV, 'start', d, '--parent-pid', str(sleeper.pid)],
                           check=True, timeout=120, stdout=subprocess.DEVNULL)
            with open(os.path.join(d, 'pids.json'), encoding='utf-8') as f:
                pids = list(json.load(f).values())
            assert pids_alive(d, pids)
        finally:
            sleeper.send_signal(signal.SIGKILL)
            sleeper.wait()
        deadline = time.monotonic() + 15
        while pids_alive(d, pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not pids_alive(d, pids), pids


TESTS = [test_round_trip_keep_alive, test_wrong_secret_refused_not_stored,
         test_wrong_body_hash_refused, test_auth_errors, test_query_must_be_canonical,
         test_expect_continue_and_chunked, test_simple_faults_on_request, test_only_filter,
         test_reset_faults, test_delay_and_stall, test_malformed_listing,
         test_fault_rate_and_seed, test_multipart_and_abort_logged,
         test_control_api_errors_and_log_file, test_https, test_registered_credentials,
         test_conditional_put, test_conditional_complete_multipart, test_latency_and_empty_range,
         test_connections_and_aborts_logged, test_stop_cleans_up,
         test_watchdog_stops_orphans]


def main():
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix='s3env-test-') as d:
        try:
            subprocess.run([sys.executable, S3ENV, 'start', d], check=True, timeout=360,
                           stdout=subprocess.DEVNULL)
            with open(os.path.join(d, 'env.json'), encoding='utf-8') as f:
                ENV.update(json.load(f))
            ENV['sha_other'] = hashlib.sha256(b'other body').hexdigest()
            for test in TESTS:
                started = time.monotonic()
                try:
                    test()
                    passed += 1
                    print(f'ok   {test.__name__} ({time.monotonic() - started:.1f}s)', flush=True)
                except Exception:  # noqa: BLE001 - report every failure and go on
                    failed += 1
                    print(f'FAIL {test.__name__}', flush=True)
                    traceback.print_exc(file=sys.stdout)
                    try:  # leave no fault configured for the next test
                        control('reset', {})
                    except OSError:
                        pass
        finally:
            subprocess.run([sys.executable, S3ENV, 'stop', d], timeout=60, check=False)
    print(f'{passed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
