import { randomBytes } from 'node:crypto';
import { gzipSync, deflateSync, brotliCompressSync } from 'node:zlib';
import {
  freshEmail,
  jsonRequest,
  loginRefused,
  oddStrings,
  sqlMaxMs,
  sqlStrings,
  badUtf8,
  type CorpusContext,
  type HostileCase,
} from './hostile-corpus.js';
import { buildRequest, chunked, type HeaderList } from './raw-http.js';

/**
 * The protocol half of the hostile-input corpus: long and duplicate headers, Authorization schemes,
 * Content-Type / Content-Length / Transfer-Encoding / Content-Encoding combinations, routes and methods,
 * and raw HTTP oddities (smuggling shapes, pipelining, non-HTTP bytes). All sent on raw sockets.
 */

const routes: readonly (readonly [string, readonly string[]])[] = [
  ['/api/users', ['POST']],
  ['/api/login', ['POST']],
  ['/api/logout', ['POST']],
  ['/api/me', ['GET', 'HEAD']],
  ['/healthz', ['GET', 'HEAD']],
  ['/readyz', ['GET', 'HEAD']],
];
const otherMethods = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'TRACE',
  'PROPFIND',
  'SEARCH',
  'PURGE',
  'LOCK',
  'MKCOL',
  'COPY',
  'QUERY',
  'REPORT',
];

const token43 = () => randomBytes(32).toString('base64url');
/** Percent-encodes every byte (encodeURIComponent throws on lone surrogates). */
const pct = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

export function httpCases(context: CorpusContext): HostileCase[] {
  const cases: HostileCase[] = [];
  const add = (
    category: string,
    name: string,
    method: string,
    path: string,
    bytes: Buffer,
    expect?: readonly number[],
    extra: Partial<HostileCase> = {},
  ) =>
    cases.push({
      category,
      name: `${method} ${path} ${name}`,
      method,
      path,
      bytes,
      ...(expect ? { expect } : {}),
      ...extra,
    });
  const loginBody = () => JSON.stringify({ email: context.victimEmail, password: 'wrong-password-1' });
  const shortRegister = () => JSON.stringify({ email: freshEmail(), password: 'short', name: 'N' });
  const me = (headers: HeaderList) => buildRequest('GET', '/api/me', headers);
  const logout = (headers: HeaderList) => buildRequest('POST', '/api/logout', headers);

  // Authorization: every scheme and near-miss of a bearer token is a 401, on both authenticated routes.
  const t = token43();
  const schemes: readonly (readonly [string, string | Buffer])[] = [
    ['empty', ''],
    ['Bearer alone', 'Bearer'],
    ['Bearer and space', 'Bearer '],
    ['two spaces', `Bearer  ${t}`],
    ['lower-case scheme', `bearer ${token43()}`],
    ['upper-case scheme', `BEARER ${token43()}`],
    ['42 chars', `Bearer ${t.slice(1)}`],
    ['44 chars', `Bearer ${t}A`],
    ['trailing space', `Bearer ${t} `],
    ['tab separator', `Bearer\t${t}`],
    ['plus signs', `Bearer ${'+'.repeat(43)}`],
    ['slashes', `Bearer ${'/'.repeat(43)}`],
    ['padding', `Bearer ${'A'.repeat(42)}=`],
    ['Basic', `Basic ${Buffer.from(`${context.victimEmail}:pw`).toString('base64')}`],
    ['Basic alone', 'Basic'],
    ['Digest', 'Digest username="x", realm="y", nonce="z", response="0"'],
    ['Negotiate', 'Negotiate YIIBhgYGKwYBBQUCoIIBejCC'],
    ['NTLM', 'NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw=='],
    ['Token scheme', `Token ${token43()}`],
    ['no scheme', token43()],
    ['unsigned JWT', 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIiwiYWRtaW4iOnRydWV9.'],
    ['null', 'Bearer null'],
    ['undefined', 'Bearer undefined'],
    ['object', 'Bearer [object Object]'],
    ['two tokens', `Bearer ${token43()}, Bearer ${token43()}`],
    ['url-encoded space', `Bearer%20${token43()}`],
    ['all zero token', `Bearer ${'A'.repeat(43)}`],
    ['SQL in token', "Bearer ' OR 1=1 -- aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
    ['latin1 bytes', Buffer.from([0x42, 0x65, 0x61, 0x72, 0x65, 0x72, 0x20, 0xe9, 0xff])],
    ['utf-8 RTL and emoji', Buffer.from(`Bearer \u202e😀${'a'.repeat(30)}`, 'utf8')],
  ];
  for (const [name, value] of schemes) {
    add('Authorization schemes', name, 'GET', '/api/me', me([['Authorization', value]]), [401]);
    add('Authorization schemes', name, 'POST', '/api/logout', logout([['Authorization', value]]), [401]);
  }
  for (const [name, headers] of [
    ['cookie instead of bearer', [['Cookie', `session=${token43()}; token=${token43()}`]]],
    ['X-Api-Key', [['X-Api-Key', token43()]]],
    [
      'duplicate Authorization (bearer first)',
      [
        ['Authorization', `Bearer ${token43()}`],
        ['Authorization', 'Basic eDp5'],
      ],
    ],
    [
      'duplicate Authorization (basic first)',
      [
        ['Authorization', 'Basic eDp5'],
        ['Authorization', `Bearer ${token43()}`],
      ],
    ],
  ] as const) {
    add('Authorization schemes', name, 'GET', '/api/me', me(headers), [401]);
    add('Authorization schemes', name, 'POST', '/api/logout', logout(headers), [401]);
  }
  for (const s of sqlStrings) {
    add('SQL metacharacters', `bearer ${s}`, 'GET', '/api/me', me([['Authorization', `Bearer ${s}`]]), [401], {
      maxMs: sqlMaxMs,
    });
    add(
      'SQL metacharacters',
      `X-Request-Id ${s}`,
      'GET',
      '/readyz',
      buildRequest('GET', '/readyz', [['X-Request-Id', s]]),
      [200],
      { maxMs: sqlMaxMs },
    );
    add('SQL metacharacters', `path ${s}`, 'GET', '/api/me', buildRequest('GET', `/api/users/${pct(s)}`), [404, 405], {
      maxMs: sqlMaxMs,
    });
  }
  for (const [name, s] of oddStrings) {
    add(
      'odd Unicode',
      `bearer ${name}`,
      'GET',
      '/api/me',
      me([['Authorization', Buffer.from(`Bearer ${s}`, 'utf8')]]),
      [400, 401],
    );
    add('odd Unicode', `query ${name}`, 'GET', '/healthz', buildRequest('GET', `/healthz?q=${pct(s)}`), [200, 400]);
  }
  for (const [name, bytes] of badUtf8) {
    add(
      'invalid UTF-8',
      `path ${name}`,
      'GET',
      '/api/…',
      Buffer.concat([
        Buffer.from('GET /api/'),
        Buffer.from(bytes),
        Buffer.from(' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      ]),
      [400, 404],
    );
    add(
      'invalid UTF-8',
      `X-Request-Id ${name}`,
      'GET',
      '/healthz',
      buildRequest('GET', '/healthz', [['X-Request-Id', Buffer.from(bytes)]]),
      [200, 400],
    );
  }

  // Very long and duplicate headers. Node answers 431 itself past its 16 KB header limit.
  for (const kb of [8, 12, 15, 16, 20, 64]) {
    const filler = 'a'.repeat(kb * 1024);
    const over = { mayNotAnswer: kb > 16 };
    add(
      'long headers',
      `Authorization ${kb} KB`,
      'GET',
      '/api/me',
      me([['Authorization', `Bearer ${filler}`]]),
      [401, 431],
      over,
    );
    add(
      'long headers',
      `Cookie ${kb} KB`,
      'POST',
      '/api/logout',
      logout([['Cookie', `c=${filler}`]]),
      [401, 431],
      over,
    );
    add(
      'long headers',
      `X-Request-Id ${kb} KB`,
      'GET',
      '/healthz',
      buildRequest('GET', '/healthz', [['X-Request-Id', filler]]),
      [200, 431],
      over,
    );
    add(
      'long headers',
      `User-Agent ${kb} KB`,
      'POST',
      '/api/login',
      jsonRequest('/api/login', loginBody(), [['User-Agent', filler]]),
      [...loginRefused, 431],
      over,
    );
    add('long headers', `path ${kb} KB`, 'GET', '/api/x', buildRequest('GET', `/api/${filler}`), [404, 414, 431], over);
  }
  const many = (n: number): HeaderList => Array.from({ length: n }, (_, i) => [`X-Filler-${i}`, 'v']);
  add('long headers', '1000 headers', 'GET', '/healthz', buildRequest('GET', '/healthz', many(1000)), [200, 431]);
  add('long headers', '3000 headers', 'GET', '/healthz', buildRequest('GET', '/healthz', many(3000)), [431], {
    mayNotAnswer: true,
  });
  const dupes: readonly (readonly [string, HeaderList, readonly number[]])[] = [
    [
      'Content-Type text then json',
      [
        ['Content-Type', 'text/plain'],
        ['Content-Type', 'application/json'],
      ],
      [415],
    ],
    [
      'Content-Type json then text',
      [
        ['Content-Type', 'application/json'],
        ['Content-Type', 'text/plain'],
      ],
      [...loginRefused, 415],
    ],
    [
      'Content-Type json twice',
      [
        ['Content-Type', 'application/json'],
        ['Content-Type', 'application/json'],
      ],
      loginRefused,
    ],
    [
      'Content-Length twice, equal',
      [
        ['Content-Type', 'application/json'],
        ['Content-Length', String(loginBody().length)],
        ['Content-Length', String(loginBody().length)],
      ],
      [400, ...loginRefused],
    ],
    [
      'Content-Length twice, different',
      [
        ['Content-Type', 'application/json'],
        ['Content-Length', String(loginBody().length)],
        ['Content-Length', '2'],
      ],
      [400],
    ],
    [
      'Host twice',
      [
        ['Content-Type', 'application/json'],
        ['Host', 'a.example'],
        ['Host', 'b.example'],
      ],
      [400, ...loginRefused],
    ],
    [
      'X-Request-Id twice',
      [
        ['Content-Type', 'application/json'],
        ['X-Request-Id', 'a'],
        ['X-Request-Id', 'b'],
      ],
      loginRefused,
    ],
    [
      'X-Forwarded-For junk',
      [
        ['Content-Type', 'application/json'],
        ['X-Forwarded-For', "' OR 1=1 --, 999.1.1.1, ::ffff:zz"],
      ],
      loginRefused,
    ],
  ];
  for (const [name, headers, expect] of dupes)
    add(
      'duplicate headers',
      name,
      'POST',
      '/api/login',
      buildRequest('POST', '/api/login', headers, loginBody()),
      expect,
    );
  for (const [name, line] of [
    ['space before colon', 'X-A : 1'],
    ['empty name', ': x'],
    ['bad name chars', 'X(A): 1'],
    ['NUL in value', 'X-A: a\u0000b'],
    ['bare CR in value', 'X-A: a\rb'],
    ['obs-fold', 'X-A: a\r\n  b'],
    ['no colon', 'X-A'],
    ['bare LF line', 'X-A: 1\nX-B: 2'],
  ] as const) {
    add(
      'malformed headers',
      name,
      'GET',
      '/api/me',
      Buffer.from(`GET /api/me HTTP/1.1\r\nHost: x\r\n${line}\r\nConnection: close\r\n\r\n`, 'latin1'),
      [400, 401],
    );
  }

  // Content-Type, Content-Encoding, Content-Length and Transfer-Encoding.
  const types = [
    '',
    'text/plain',
    'text/json',
    'application/jsonp',
    'application/json-seq',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/xml',
    '*/*',
    'application/*',
    'json',
    'application/json; charset=latin1',
    'application/json; charset=utf-16le',
    'application/json; charset=utf-32',
    'application/json; charset=ascii',
    'application/json; charset="utf-8"',
    'APPLICATION/JSON',
    'application/json;charset=UTF-8',
    'application/json; charset',
    'application/json;;;',
    'application/json; foo=bar',
    'application/json, text/plain',
    'application/merge-patch+json',
    'application/vnd.api+json',
    'application/json\u00ff',
  ];
  for (const type of types) {
    add(
      'content types',
      `Content-Type ${JSON.stringify(type)}`,
      'POST',
      '/api/login',
      buildRequest('POST', '/api/login', [['Content-Type', type]], loginBody()),
      [...loginRefused, 415],
    );
    add(
      'content types',
      `Content-Type ${JSON.stringify(type)}`,
      'POST',
      '/api/users',
      buildRequest('POST', '/api/users', [['Content-Type', type]], shortRegister()),
      [415, 422],
    );
  }
  add(
    'content types',
    'no Content-Type',
    'POST',
    '/api/login',
    buildRequest('POST', '/api/login', [], loginBody()),
    [415],
  );
  const encodings: readonly (readonly [string, string, Buffer, readonly number[]])[] = [
    ['compress', 'compress', Buffer.from(loginBody()), [415]],
    ['zstd', 'zstd', Buffer.from(loginBody()), [415]],
    ['x-gzip', 'x-gzip', gzipSync(loginBody()), [415]],
    ['upper-case GZIP', 'GZIP', gzipSync(loginBody()), [415]],
    ['gzip twice', 'gzip, gzip', gzipSync(gzipSync(loginBody())), [415]],
    ['gzip garbage', 'gzip', Buffer.from(loginBody()), [400]],
    ['deflate garbage', 'deflate', Buffer.from('not deflate'), [400]],
    ['br garbage', 'br', Buffer.from([0xff, 0xff, 0xff, 0xff]), [400]],
    ['gzip truncated', 'gzip', gzipSync(loginBody()).subarray(0, 12), [400]],
    ['gzip empty', 'gzip', Buffer.alloc(0), [400]],
    [
      'gzip bomb (1 MB inflated)',
      'gzip',
      gzipSync(JSON.stringify({ email: 'a@b.cc', password: 'x'.repeat(1024 * 1024) })),
      [413],
    ],
    ['brotli bomb', 'br', brotliCompressSync(`{"a":"${'x'.repeat(1024 * 1024)}"}`), [413]],
    ['gzip of deep nesting', 'gzip', gzipSync(`${'['.repeat(8000)}${']'.repeat(8000)}`), [422]],
    ['valid gzip', 'gzip', gzipSync(loginBody()), loginRefused],
    ['valid deflate', 'deflate', deflateSync(loginBody()), loginRefused],
    ['identity', 'identity', Buffer.from(loginBody()), loginRefused],
  ];
  for (const [name, encoding, body, expect] of encodings) {
    add(
      'content encodings',
      name,
      'POST',
      '/api/login',
      jsonRequest('/api/login', body, [['Content-Encoding', encoding]]),
      expect,
    );
  }
  const body = loginBody();
  const lengths: readonly (readonly [string, HeaderList, string | Buffer, readonly number[], Partial<HostileCase>?])[] =
    [
      ['Content-Length shorter than body', [['Content-Length', '10']], 'x'.repeat(20_000), [400]],
      [
        'Content-Length longer than body (client gives up)',
        [['Content-Length', String(body.length + 100)]],
        body,
        [400],
        { halfCloseAfterMs: 200, mayNotAnswer: true },
      ],
      [
        'Content-Length 16 KB, tiny body (client gives up)',
        [['Content-Length', String(16 * 1024)]],
        '{}',
        [400],
        { halfCloseAfterMs: 200, mayNotAnswer: true },
      ],
      ['Content-Length over the limit, tiny body', [['Content-Length', '99999999']], '{}', [413]],
      ['Content-Length 0 with a body', [['Content-Length', '0']], body, [400]],
      ['Content-Length 20 digits', [['Content-Length', '99999999999999999999']], body, [400, 413]],
      ['Content-Length negative', [['Content-Length', '-1']], body, [400]],
      ['Content-Length plus sign', [['Content-Length', `+${body.length}`]], body, [400]],
      ['Content-Length hex', [['Content-Length', '0x10']], body, [400]],
      ['Content-Length two numbers', [['Content-Length', `${body.length} ${body.length}`]], body, [400]],
      ['Content-Length exponent', [['Content-Length', '1e2']], body, [400]],
      ['Content-Length empty', [['Content-Length', '']], body, [400]],
      ['chunked', [['Transfer-Encoding', 'chunked']], chunked([body.slice(0, 7), body.slice(7)]), loginRefused],
      [
        'chunked splitting a UTF-8 character',
        [['Transfer-Encoding', 'chunked']],
        Buffer.concat([
          Buffer.from('7\r\n{"emai\xc3', 'latin1'),
          Buffer.from('\r\n4\r\n\xa9":1\r\n1\r\n}\r\n0\r\n\r\n', 'latin1'),
        ]),
        [422],
      ],
      ['chunked 20 KB', [['Transfer-Encoding', 'chunked']], chunked(Array(20).fill('x'.repeat(1024))), [413]],
      [
        'chunked and Content-Length',
        [
          ['Transfer-Encoding', 'chunked'],
          ['Content-Length', '3'],
        ],
        chunked([body]),
        [400],
      ],
      [
        'chunked twice',
        [
          ['Transfer-Encoding', 'chunked'],
          ['Transfer-Encoding', 'chunked'],
        ],
        chunked([body]),
        [400, ...loginRefused],
      ],
      ['gzip, chunked', [['Transfer-Encoding', 'gzip, chunked']], chunked([body]), [400, ...loginRefused]],
      ['gzip transfer coding only', [['Transfer-Encoding', 'gzip']], body, [400, 501]],
      ['identity transfer coding', [['Transfer-Encoding', 'identity']], body, [400, 501]],
      ['Chunked (case)', [['Transfer-Encoding', 'Chunked']], chunked([body]), loginRefused],
      ['bad chunk size', [['Transfer-Encoding', 'chunked']], `zz\r\n${body}\r\n0\r\n\r\n`, [400]],
      ['huge chunk size', [['Transfer-Encoding', 'chunked']], `ffffffffffffffffff\r\n${body}\r\n0\r\n\r\n`, [400, 413]],
      [
        'chunk extension',
        [['Transfer-Encoding', 'chunked']],
        `${body.length.toString(16)};ext=1\r\n${body}\r\n0\r\n\r\n`,
        loginRefused,
      ],
      [
        'chunked, truncated (client gives up)',
        [['Transfer-Encoding', 'chunked']],
        chunked([body.slice(0, 9)], false),
        [400],
        { halfCloseAfterMs: 200, mayNotAnswer: true },
      ],
    ];
  for (const [name, headers, raw, expect, extra] of lengths) {
    add(
      'content lengths',
      name,
      'POST',
      '/api/login',
      buildRequest('POST', '/api/login', [['Content-Type', 'application/json'], ...headers], raw),
      expect,
      extra ?? {},
    );
  }

  // Every route with every other method (405, OPTIONS answered by the router), and unknown routes (404).
  for (const [path, allowed] of routes) {
    for (const method of otherMethods.filter((m) => !allowed.includes(m))) {
      const expect = method === 'OPTIONS' ? [200, 204] : method === 'QUERY' || method === 'REPORT' ? [400, 405] : [405];
      add(
        'wrong methods',
        'with a JSON body',
        method,
        path,
        buildRequest(
          method,
          path,
          [['Content-Type', 'application/json']],
          JSON.stringify({ email: freshEmail(), password: 'correct-horse-battery', name: 'N' }),
        ),
        expect,
      );
    }
  }
  // (Routes match case-insensitively: /API/USERS is /api/users, so it is not in this list.)
  const unknown = [
    '/',
    '/api',
    '/api/',
    '/api/users/1',
    '/api/users/..%2f..%2fetc%2fpasswd',
    '/..%2f..%2fetc%2fpasswd',
    '//api/me',
    '/api/me;jsessionid=1',
    '/api/me%00',
    '/api/%',
    '/api/%ZZ',
    '/metrics',
    '/.env',
    '/.git/config',
    '/debug/pprof',
    '/admin',
    '/test/db-sleep?seconds=5',
    '/favicon.ico',
    '/%ff%fe',
    '/api/login.json',
    '/healthz.php',
    '/api/users%2f1',
    '/api/me/../../etc/passwd',
    `/${'a/'.repeat(2000)}`,
  ];
  for (const path of unknown) {
    add('unknown routes', 'GET', 'GET', path, buildRequest('GET', path), [400, 404]);
    add('unknown routes', 'POST', 'POST', path, jsonRequest(path, shortRegister()), [400, 404]);
  }
  for (const method of ['FOO', 'get', 'G ET', 'CONNECT']) {
    add('wrong methods', 'unknown method', method, '/api/users', buildRequest(method, '/api/users'), [400, 405], {
      mayNotAnswer: method === 'CONNECT',
    });
  }

  // Raw HTTP oddities: versions, request lines, non-HTTP bytes, smuggling shapes, pipelining.
  const raw: readonly (readonly [string, Buffer, readonly number[], Partial<HostileCase>?])[] = [
    ['HTTP/0.9 request line', Buffer.from('GET /healthz\r\n\r\n'), [200, 400]],
    ['HTTP/1.0', Buffer.from('GET /healthz HTTP/1.0\r\n\r\n'), [200]],
    ['HTTP/2.0 version', Buffer.from('GET /healthz HTTP/2.0\r\nHost: x\r\nConnection: close\r\n\r\n'), [200, 400, 505]],
    ['HTTP/1.1 without Host', Buffer.from('GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'), [400]],
    ['bare LF line endings', Buffer.from('GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n'), [200, 400]],
    ['absolute URI', buildRequest('GET', 'http://evil.example/api/me'), [401]],
    ['asterisk target', buildRequest('OPTIONS', '*'), [200, 204, 400, 404]],
    ['NUL in target', Buffer.from('GET /api/me\u0000 HTTP/1.1\r\nHost: x\r\n\r\n'), [400]],
    ['HTTP/2 preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), [400, 505], { mayNotAnswer: true }],
    ['TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0, 0, 1, 0]), [400], { mayNotAnswer: true }],
    ['random binary', randomBytes(512), [400], { mayNotAnswer: true }],
    ['Expect: 100-continue', jsonRequest('/api/login', loginBody(), [['Expect', '100-continue']]), [100]],
    ['unknown Expect', jsonRequest('/api/login', loginBody(), [['Expect', 'fancy']]), [417]],
    [
      'Upgrade: websocket',
      buildRequest('GET', '/api/me', [
        ['Upgrade', 'websocket'],
        ['Connection', 'Upgrade, close'],
      ]),
      [401],
    ],
    [
      'Upgrade: h2c',
      buildRequest('GET', '/api/me', [
        ['Upgrade', 'h2c'],
        ['HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA'],
        ['Connection', 'Upgrade, HTTP2-Settings, close'],
      ]),
      [401],
    ],
    [
      'smuggling CL.TE',
      Buffer.from(
        `POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGPOST /api/users HTTP/1.1\r\n\r\n`,
      ),
      [400],
    ],
    [
      'smuggling TE.CL',
      Buffer.from(
        `POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`,
      ),
      [400],
    ],
    [
      'smuggling TE obfuscated',
      Buffer.from(
        `POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding : chunked\r\n\r\n5c\r\nGPOST`,
      ),
      [400],
      { halfCloseAfterMs: 200, mayNotAnswer: true },
    ],
    [
      'pipelined hostile requests',
      Buffer.concat([
        jsonRequest('/api/login', '{"email":', [['Connection', 'keep-alive']]),
        jsonRequest('/api/users', shortRegister(), [['Connection', 'keep-alive']]),
        me([
          ['Authorization', `Bearer ${token43()}`],
          ['Connection', 'keep-alive'],
        ]),
        buildRequest('GET', '/nope', [['Connection', 'keep-alive']]),
        buildRequest('GET', '/healthz'),
      ]),
      [400],
      { sequence: [400, 422, 401, 404, 200] },
    ],
  ];
  for (const [name, bytes, expect, extra] of raw)
    add('raw HTTP', name, name.startsWith('HTTP/2 pre') ? 'PRI' : 'GET', '-', bytes, expect, extra ?? {});
  return cases;
}
