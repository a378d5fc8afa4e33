import { buildRequest, type HeaderList } from './raw-http.js';

/**
 * The body half of the hostile-input corpus: what goes *inside* a JSON request to POST /api/users and
 * POST /api/login (malformed and truncated JSON, wrong types and shapes, prototype keys, odd Unicode and
 * invalid UTF-8, SQL metacharacters, huge and deeply nested values). Protocol-level cases (headers,
 * Authorization, Content-Type/Length/Transfer-Encoding, routes and methods, raw HTTP) are in
 * hostile-corpus-http.ts. Every case is a request that must be *refused* or must not write: the corpus
 * never contains a request that could legitimately create a user or a session.
 */

export interface HostileCase {
  readonly category: string;
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly bytes: Buffer;
  /** Acceptable statuses of the first response; any non-5xx when absent. */
  readonly expect?: readonly number[];
  /** The server may close without answering (the client sent garbage or gave up first). */
  readonly mayNotAnswer?: boolean;
  readonly halfCloseAfterMs?: number;
  /** An upper bound on the answer time: an injected SLEEP() would exceed it. */
  readonly maxMs?: number;
  /** Pipelined requests: the exact statuses of all responses, in order. */
  readonly sequence?: readonly number[];
}

export interface CorpusContext {
  /** A registered user: logins to it with wrong passwords reach the password check. */
  readonly victimEmail: string;
}

export const malformed = [400];
export const invalid = [422];
/** A well-formed login with wrong credentials: 401, or 429 once the throttle blocks this client. */
export const loginRefused = [401, 429];
export const loginAnyRefusal = [400, 401, 422, 429];

let unique = 0;
/** A fresh address, so a register case that wrongly succeeded could never hide behind a 409. */
export const freshEmail = (tag = 'h') => `${tag}${++unique}@hostile.example`;

export function jsonRequest(path: string, body: string | Buffer, headers: HeaderList = []): Buffer {
  return buildRequest('POST', path, [['Content-Type', 'application/json'], ...headers], body);
}

/** Hand-written malformed JSON: every one must be a 400. */
const malformedBodies: readonly (readonly [string, string])[] = [
  ['open brace', '{'],
  ['close brace', '}'],
  ['dangling key', '{"email":'],
  ['trailing comma', '{"email":"a@b.cc",}'],
  ['missing comma', '{"email":"a@b.cc" "password":"x"}'],
  ['single quotes', "{'email':'a@b.cc'}"],
  ['bare keys', '{email:"a@b.cc"}'],
  ['extra close', '{"a":1}}'],
  ['unclosed array', '[1,2'],
  ['null literal', 'null'],
  ['true literal', 'true'],
  ['number', '1'],
  ['string', '"a string"'],
  ['minus', '-'],
  ['NaN', '{"a":NaN}'],
  ['Infinity', '{"a":Infinity}'],
  ['undefined', '{"a":undefined}'],
  ['hex number', '{"a":0x10}'],
  ['leading zero', '{"a":01}'],
  ['leading dot', '{"a":.5}'],
  ['bad escape', '{"a":"\\x41"}'],
  ['short unicode escape', '{"a":"\\u12"}'],
  ['unterminated string', '{"a":"unterminated}'],
  ['raw tab in string', '{"a":"tab\there"}'],
  ['raw newline in string', '{"a":"line\nbreak"}'],
  ['block comment', '/* hi */{}'],
  ['line comment', '{} // hi'],
  ['two objects', '{}{}'],
  ['double comma', '{"a":1,,"b":2}'],
  ['missing value', '{"a" : }'],
  ['whitespace only', '   \n\t '],
  ['empty', ''],
  ['NUL before', '\u0000{}'],
  ['NUL inside', '{"a":"\u0000"}'],
  ['javascript', '{"a": (function(){return 1})()}'],
  ['html', '<html><body>{}</body></html>'],
  ['xml', '<?xml version="1.0"?><login/>'],
  ['form encoded', 'email=a%40b.cc&password=x'],
  ['JSONP', 'callback({"a":1})'],
  ['YAML', 'email: a@b.cc\npassword: x'],
];

/** Values of the wrong type, shape or size, put into one field of an otherwise valid body. */
const wrongValues: readonly (readonly [string, unknown])[] = [
  ['null', null],
  ['zero', 0],
  ['negative', -1],
  ['float', 1.5],
  ['huge number', 1e308],
  ['true', true],
  ['false', false],
  ['empty array', []],
  ['empty object', {}],
  ['array of email', ['a@b.cc']],
  ['mongo $ne', { $ne: null }],
  ['mongo $gt', { $gt: '' }],
  ['nested object', { email: 'a@b.cc' }],
  ['empty string', ''],
  ['spaces', '   '],
  ['tab', '\t'],
  ['5000 chars', 'x'.repeat(5000)],
];

/** Odd Unicode: NUL and controls, lone surrogates, bidi overrides, zero-width, emoji, case-mapping oddities. */
export const oddStrings: readonly (readonly [string, string])[] = [
  ['NUL', '\u0000'],
  ['embedded NUL', 'a\u0000b'],
  ['C0/DEL controls', '\u0001\u001f\u007f'],
  ['C1 control', '\u0085'],
  ['lone high surrogate', '\ud800'],
  ['lone low surrogate', '\udfff'],
  ['truncated pair', 'a\ud83d'],
  ['reversed pair', '\udc00\ud800'],
  ['RTL overrides', '\u202e\u202d\u2066'],
  ['RTL file name', 'evil\u202egnp.exe'],
  ['zero-width', '\u200b\u200c\u200d\u2060'],
  ['BOM', '\ufeff'],
  ['emoji', '😀'],
  ['ZWJ family', '👩‍👩‍👧‍👦'],
  ['noncharacters', '\uffff\ufffe'],
  ['dotted I', 'İstanbul'],
  ['Kelvin sign', '\u212a'],
  ['ligature and numerals', 'ﬀ①Ⅻ'],
  ['combining marks', 'e\u0301'.repeat(50)],
  ['zalgo', 'Z\u0351\u0352\u0353\u0354'.repeat(30)],
  ['line separators', '\u2028\u2029'],
  ['fullwidth at', 'ａｄｍｉｎ＠'],
  ['NBSP', '\u00a0x\u00a0'],
  ['astral', '\ud834\udd1e'],
];

/** Invalid UTF-8 sent raw inside a JSON string: overlong forms, encoded surrogates, stray and truncated bytes. */
export const badUtf8: readonly (readonly [string, number[]])[] = [
  ['overlong slash C0 AF', [0xc0, 0xaf]],
  ['overlong C1 BF', [0xc1, 0xbf]],
  ['overlong 3-byte', [0xe0, 0x80, 0xaf]],
  ['overlong 4-byte', [0xf0, 0x80, 0x80, 0xaf]],
  ['overlong NUL C0 80', [0xc0, 0x80]],
  ['encoded surrogate', [0xed, 0xa0, 0x80]],
  ['encoded low surrogate', [0xed, 0xbf, 0xbf]],
  ['FF byte', [0xff]],
  ['FE FF', [0xfe, 0xff]],
  ['truncated sequence', [0xc3]],
  ['5-byte form', [0xf8, 0x88, 0x80, 0x80, 0x80]],
  ['beyond U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ['lone continuation', [0x80]],
  ['raw NUL', [0x00]],
];

/** SQL metacharacters and classic injections, including time-based ones (caught by maxMs). */
export const sqlStrings: readonly string[] = [
  "' OR 1=1 --",
  "' OR '1'='1",
  '" OR ""="',
  "'; DROP TABLE users; --",
  '"; DROP TABLE users; --',
  "admin'--",
  "' UNION SELECT id, password_hash FROM users --",
  "1' AND SLEEP(3) AND '1'='1",
  "' OR SLEEP(3)#",
  '\\',
  "\\'",
  "\\\\'",
  "%' --",
  '_%',
  '0x27',
  'CHAR(39)',
  '\u02bc OR 1=1 --',
  "' OR 1=1 LIMIT 1 OFFSET 0 --",
  '`users`',
  '@@version',
  '\\0',
  "'); SELECT BENCHMARK(50000000, SHA1(1)); --",
];
export const sqlMaxMs = 2500;

/** JSON text with every non-ASCII character (lone surrogates included) written as a \u escape. */
export function escapeAll(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** A JSON string literal whose middle is raw bytes: `"<prefix><bytes><suffix>"`. */
function rawString(prefix: string, bytes: number[], suffix = ''): Buffer {
  return Buffer.concat([Buffer.from(`"${prefix}`), Buffer.from(bytes), Buffer.from(`${suffix}"`)]);
}

export function bodyCases(context: CorpusContext): HostileCase[] {
  const cases: HostileCase[] = [];
  const add = (
    category: string,
    name: string,
    path: string,
    body: string | Buffer,
    expect?: readonly number[],
    extra: Partial<HostileCase> = {},
  ) =>
    cases.push({
      category,
      name: `${path} ${name}`,
      method: 'POST',
      path,
      bytes: jsonRequest(path, body),
      ...(expect ? { expect } : {}),
      ...extra,
    });
  const victim = context.victimEmail;
  // Registration bodies are valid except for what a case breaks (or a too-short password where the odd value may be
  // valid), so a case that slipped through would show up as a new row in the database check.
  const register = (fields: Record<string, unknown>) => ({
    email: freshEmail(),
    password: 'correct-horse-battery',
    name: 'Valid Name',
    ...fields,
  });
  const login = (fields: Record<string, unknown>) => ({ email: victim, password: 'wrong-password-1', ...fields });

  // Malformed and truncated JSON: hand-written, then every prefix of two valid bodies.
  for (const path of ['/api/users', '/api/login']) {
    for (const [name, body] of malformedBodies) add('malformed JSON', name, path, body, malformed);
  }
  const whole = {
    '/api/users': JSON.stringify(register({ email: 'trunc@hostile.example' })),
    '/api/login': JSON.stringify(login({})),
  };
  for (const [path, body] of Object.entries(whole)) {
    for (let length = 0; length < body.length; length++)
      add('truncated JSON', `prefix ${length}`, path, body.slice(0, length), malformed);
  }

  // Wrong types, sizes and missing fields.
  for (const field of ['email', 'password', 'name']) {
    for (const [name, value] of wrongValues)
      add('wrong types', `${field}=${name}`, '/api/users', JSON.stringify(register({ [field]: value })), invalid);
    add(
      'wrong types',
      `missing ${field}`,
      '/api/users',
      JSON.stringify({ ...register({}), [field]: undefined }),
      invalid,
    );
  }
  for (const field of ['email', 'password']) {
    for (const [name, value] of wrongValues)
      add('wrong types', `${field}=${name}`, '/api/login', JSON.stringify(login({ [field]: value })), [
        ...loginRefused,
        422,
      ]);
    add('wrong types', `missing ${field}`, '/api/login', JSON.stringify({ ...login({}), [field]: undefined }), invalid);
  }
  add(
    'wrong types',
    'extra privileged fields',
    '/api/login',
    JSON.stringify(login({ id: 1, isAdmin: true, role: 'admin', createdAt: 0 })),
    loginRefused,
  );

  // Arrays (and other non-objects) where the object belongs.
  for (const path of ['/api/users', '/api/login']) {
    for (const [name, body] of [
      ['empty array', '[]'],
      ['array of empty object', '[{}]'],
      ['nested arrays', '[[[]]]'],
      ['array of null', '[null]'],
      [
        'array of valid body',
        `[${JSON.stringify(path === '/api/users' ? register({ password: 'short' }) : login({}))}]`,
      ],
      ['array of strings', '["email","password"]'],
    ]) {
      add('arrays for objects', name ?? '', path, body ?? '', invalid);
    }
  }

  // Prototype keys: __proto__ (refused by the parser), constructor/prototype (ignored by validation).
  const protoBodies: readonly (readonly [string, string])[] = [
    ['__proto__ top level', '{"__proto__":{"isAdmin":true}}'],
    ['__proto__ beside fields', `{"email":"${victim}","password":"wrong-password-1","__proto__":{"password":"x"}}`],
    ['__proto__ nested', '{"email":{"__proto__":{"toString":"x"}}}'],
    ['__proto__ escaped', '{"\\u005f\\u005fproto\\u005f\\u005f":{"isAdmin":true}}'],
    ['__proto__ spaced', '{"__proto__" :{"isAdmin":true}}'],
    ['__proto__ in array', '[{"__proto__":null}]'],
    ['__proto__ deep', `${'['.repeat(3000)}{"__proto__":1}${']'.repeat(3000)}`],
    [
      'constructor.prototype',
      `{"constructor":{"prototype":{"isAdmin":true}},"email":"${victim}","password":"wrong-password-1"}`,
    ],
    ['prototype key', `{"prototype":{"isAdmin":true},"email":"${victim}","password":"wrong-password-1"}`],
    ['Object builtins as keys', '{"toString":"x","valueOf":"y","hasOwnProperty":"z","__defineGetter__":"w"}'],
    ['hasOwnProperty beside fields', `{"email":"${victim}","password":"wrong-password-1","hasOwnProperty":1}`],
    ['constructor as field value', '{"email":{"constructor":{"name":"x"}},"password":{"__lookupGetter__":1}}'],
  ];
  for (const path of ['/api/users', '/api/login'])
    for (const [name, body] of protoBodies) add('prototype keys', name, path, body, loginAnyRefusal);

  // Odd Unicode and NUL: raw UTF-8 and \u-escaped, in every field.
  for (const [name, s] of oddStrings) {
    for (const [variant, encode] of [
      ['raw', JSON.stringify],
      ['escaped', escapeAll],
    ] as const) {
      const tag = `${name} (${variant})`;
      add(
        'odd Unicode',
        `email ${tag}`,
        '/api/login',
        encode(login({ email: `${s}@hostile.example` })),
        loginAnyRefusal,
      );
      add('odd Unicode', `password ${tag}`, '/api/login', encode(login({ password: `pw-${s}` })), [
        ...loginRefused,
        422,
      ]);
      add(
        'odd Unicode',
        `register ${tag}`,
        '/api/users',
        encode(register({ email: `${s}x@hostile.example`, name: s, password: 'short' })),
        invalid,
      );
    }
  }
  for (const [name, bytes] of badUtf8) {
    const json = (parts: (string | Buffer)[]) =>
      Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
    add(
      'invalid UTF-8',
      `password ${name}`,
      '/api/login',
      json([`{"email":"${victim}","password":`, rawString('pw-', bytes), '}']),
      [400, ...loginRefused],
    );
    add(
      'invalid UTF-8',
      `email ${name}`,
      '/api/login',
      json(['{"email":', rawString('', bytes, '@hostile.example'), ',"password":"x"}']),
      [400, 422],
    );
    add(
      'invalid UTF-8',
      `register name ${name}`,
      '/api/users',
      json([`{"email":"${freshEmail()}","password":"short","name":`, rawString('n', bytes), '}']),
      [400, 422],
    );
    add('invalid UTF-8', `key ${name}`, '/api/login', json(['{', rawString('k', bytes), ':1}']), [400, 422]);
  }

  // SQL metacharacters: as emails, passwords, names (parameterised queries make them plain data).
  for (const s of sqlStrings) {
    const sql = { maxMs: sqlMaxMs };
    add('SQL metacharacters', `email ${s}`, '/api/login', JSON.stringify(login({ email: s })), invalid, sql);
    add(
      'SQL metacharacters',
      `email local part ${s}`,
      '/api/login',
      JSON.stringify(login({ email: `a${s}@hostile.example` })),
      loginAnyRefusal,
      sql,
    );
    add(
      'SQL metacharacters',
      `victim email + ${s}`,
      '/api/login',
      JSON.stringify(login({ email: `${victim}${s}` })),
      loginAnyRefusal,
      sql,
    );
    add('SQL metacharacters', `password ${s}`, '/api/login', JSON.stringify(login({ password: s })), loginRefused, sql);
    add(
      'SQL metacharacters',
      `register email ${s}`,
      '/api/users',
      JSON.stringify(register({ email: s })),
      invalid,
      sql,
    );
    add(
      'SQL metacharacters',
      `register name ${s}`,
      '/api/users',
      JSON.stringify(register({ name: s, password: 'short' })),
      invalid,
      sql,
    );
  }

  // Huge strings and bodies (the limit is 16 KB), honest Content-Length.
  const pad = (target: number, make: (filler: string) => string) =>
    make('x'.repeat(Math.max(0, target - make('').length)));
  for (const path of ['/api/users', '/api/login']) {
    add(
      'huge bodies',
      '16 KB + 1',
      path,
      pad(16 * 1024 + 1, (f) => JSON.stringify(login({ password: f }))),
      [413],
    );
    add(
      'huge bodies',
      'exactly 16 KB',
      path,
      pad(16 * 1024, (f) => JSON.stringify(login({ password: f }))),
      invalid,
    );
    add(
      'huge bodies',
      '64 KB',
      path,
      pad(64 * 1024, (f) => JSON.stringify(login({ password: f }))),
      [413],
      { mayNotAnswer: true },
    );
    add('huge bodies', '1 MB', path, 'x'.repeat(1024 * 1024), [413], { mayNotAnswer: true });
    add('huge bodies', '15 KB email', path, JSON.stringify(login({ email: `${'a'.repeat(15_000)}@x.io` })), invalid);
    add(
      'huge bodies',
      '15 KB name',
      path,
      JSON.stringify(register({ name: 'n'.repeat(15_000) })),
      path === '/api/users' ? invalid : loginRefused,
    );
    add('huge bodies', '4000 emoji', path, JSON.stringify(login({ password: '😀'.repeat(4000) })), [413, 422]);
    add(
      'huge bodies',
      '1500 keys',
      path,
      `{${Array.from({ length: 1500 }, (_, i) => `"k${i}":0`).join(',')}}`,
      invalid,
    );
    add('huge bodies', '8000 elements', path, `[${Array(8000).fill(0).join(',')}]`, invalid);
    add('huge bodies', '15000-digit number', path, `{"email":${'9'.repeat(15_000)}}`, invalid);
    add('huge bodies', '1e400', path, '{"email":1e400,"password":-1e400}', invalid);
  }

  // Deep nesting within and beyond the limit.
  for (const path of ['/api/users', '/api/login']) {
    add('deep nesting', '5000 arrays', path, `${'['.repeat(5000)}${']'.repeat(5000)}`, invalid);
    add('deep nesting', '2500 objects', path, `${'{"a":'.repeat(2500)}1${'}'.repeat(2500)}`, invalid);
    add('deep nesting', '2000 mixed', path, `${'[{"a":'.repeat(2000)}1${'}]'.repeat(2000)}`, invalid);
    add(
      'deep nesting',
      '5000 arrays in email',
      path,
      `{"email":${'['.repeat(5000)}${']'.repeat(5000)},"password":"x"}`,
      invalid,
    );
    add(
      'deep nesting',
      '5000 arrays in password',
      path,
      `{"email":"${victim}","password":${'['.repeat(5000)}${']'.repeat(5000)}}`,
      invalid,
    );
    add('deep nesting', '10000 arrays (over the limit)', path, `${'['.repeat(10_000)}${']'.repeat(10_000)}`, [413]);
    add('deep nesting', '8000 arrays unclosed', path, '['.repeat(8000), malformed);
    add('deep nesting', '3000 arrays one short', path, `${'['.repeat(3000)}${']'.repeat(2999)}`, malformed);
    add(
      'deep nesting',
      'constructor.prototype at depth 2000',
      path,
      `${'{"a":'.repeat(2000)}{"constructor":{"prototype":1}}${'}'.repeat(2000)}`,
      invalid,
    );
  }
  return cases;
}
