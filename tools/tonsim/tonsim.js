#!/usr/bin/env node
// tonsim: a local TON HTTP API v2 server (toncenter-compatible) backed by @ton/sandbox, with the
// cocoon contracts' root registry and a funded wallet v5r1 per role deployed at start.
//
//   node tools/tonsim/tonsim.js [--port N|0] [--host 127.0.0.1] [--state FILE] [--root-owner ADDRESS]
//                               [--seed TEXT] [--params JSON] [--wallet-funds NANOTON] [--workers N]
//
// On start it prints one JSON line on stdout (and writes it to --state FILE): the port, the root
// address and owner, every wallet's address and keys, the params and the compiled contract codes.
// Endpoints: see tools/tonsim/README.md.
'use strict';
const http = require('http');
const fs = require('fs');
const { Chain } = require('./chain');
const { makeApi, ApiError } = require('./api');

const ROUTES = {
  'tonsim/fund': 'tonsimFund',
  'tonsim/setTime': 'tonsimSetTime',
  'tonsim/time': 'tonsimTime',
  'tonsim/state': 'tonsimState',
};

function parseArgs(argv) {
  const o = { port: 8081, host: '127.0.0.1', seed: 'cocoon-tonsim', params: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') o.port = Number(next());
    else if (a === '--host') o.host = next();
    else if (a === '--state') o.state = next();
    else if (a === '--root-owner') o.rootOwner = next();
    else if (a === '--seed') o.seed = next();
    else if (a === '--wallet-funds') o.walletFunds = BigInt(next());
    else if (a === '--workers') o.workers = Number(next());
    else if (a === '--params') o.params = parseParams(JSON.parse(next()));
    else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new Error('bad --port');
  if (o.workers !== undefined && (!Number.isInteger(o.workers) || o.workers < 1 || o.workers > 64))
    throw new Error('bad --workers: 1 to 64');
  return o;
}

// --params takes the root params with snake_case names, e.g. {"price_per_token": 20}.
function parseParams(j) {
  const map = {
    price_per_token: ['pricePerToken', BigInt], worker_fee_per_token: ['workerFeePerToken', BigInt],
    proxy_delay_before_close: ['proxyDelayBeforeClose', Number], client_delay_before_close: ['clientDelayBeforeClose', Number],
    min_proxy_stake: ['minProxyStake', BigInt], min_client_stake: ['minClientStake', BigInt],
    unique_id: ['uniqueId', Number], is_test: ['isTest', Boolean], prompt_multiplier: ['promptMult', Number],
    cached_multiplier: ['cachedMult', Number], completion_multiplier: ['completionMult', Number],
    reasoning_multiplier: ['reasoningMult', Number],
  };
  const out = {};
  for (const [k, v] of Object.entries(j)) {
    if (!map[k]) throw new Error(`unknown param ${k}`);
    out[map[k][0]] = map[k][1](v);
  }
  return out;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 4 << 20) {
        reject(new ApiError(413, 'request too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function serve(chain, { port, host }) {
  const api = makeApi(chain);
  let queue = Promise.resolve();  // the sandbox is not re-entrant: one call at a time
  const call = (name, params) => {
    const p = queue.then(() => api[name](params));
    queue = p.catch(() => {});
    return p;
  };

  const server = http.createServer(async (req, res) => {
    let id;
    let rpc = false;
    const reply = (status, obj) => {
      const body = JSON.stringify(rpc ? { ...obj, id, jsonrpc: '2.0' } : obj);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    };
    try {
      const url = new URL(req.url, 'http://localhost');
      let name = url.pathname.replace(/^\/+/, '').replace(/^api\/v2\//, '');
      let params = Object.fromEntries(url.searchParams);
      if (req.method === 'POST') {
        const text = await readBody(req);
        if (text.trim()) {
          let j;
          try { j = JSON.parse(text); } catch (e) { throw new ApiError(400, 'body is not JSON'); }
          if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new ApiError(400, 'body must be a JSON object');
          params = { ...params, ...j };
        }
      } else if (req.method !== 'GET') {
        throw new ApiError(405, 'use GET or POST');
      }
      if (name === 'jsonRPC') {
        rpc = true;
        id = params.id;
        name = params.method;
        params = params.params || {};
      }
      const method = ROUTES[name] || (Object.prototype.hasOwnProperty.call(api, name) && !name.startsWith('tonsim') ? name : null);
      if (!method) throw new ApiError(404, `unknown method ${name}`);
      const result = await call(method, params);
      reply(200, { ok: true, result });
    } catch (e) {
      const code = e instanceof ApiError ? e.code : 500;
      reply(code, { ok: false, error: e.message || String(e), code });
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`tonsim: ${e.message}`);
    process.exit(2);
  }
  if (opts.help) {
    console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 11).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
    return;
  }
  const chain = new Chain();
  await chain.start({ seed: opts.seed, rootOwner: opts.rootOwner, params: opts.params,
    ...(opts.walletFunds ? { walletFunds: opts.walletFunds } : {}), workers: opts.workers || 1 });
  const server = await serve(chain, opts);
  const info = { port: server.address().port, host: opts.host, ...chain.describe() };
  const line = JSON.stringify(info);
  if (opts.state) fs.writeFileSync(opts.state, JSON.stringify(info, null, 2) + '\n');
  process.stdout.write(line + '\n');
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`tonsim: ${e.stack || e}`);
    process.exit(1);
  });
}

module.exports = { serve, parseArgs };
