// Starts tonsim as a child process and talks to it over HTTP the way the C library will: a wallet
// v5r1 transfer built with @ton/core/@ton/ton, read back through getTransactions; registry reads and
// an owner change through runGetMethod; a client contract top-up; the test-only endpoints; and bad input.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { core, ton, cocoon } = require('../deps');

const { Address, Cell, beginCell, internal, external, storeMessage, toNano, SendMode } = core;

let proc;
let info;
let base;

test.before(async () => {
  proc = spawn(process.execPath, [path.join(__dirname, '..', 'tonsim.js'), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  info = await new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
    proc.once('exit', (c) => reject(new Error(`tonsim exited with ${c}`)));
  });
  base = `http://127.0.0.1:${info.port}`;
});

test.after(() => {
  if (proc) proc.kill('SIGTERM');
});

async function api(method, params, httpMethod = 'POST') {
  const url = httpMethod === 'GET' ? `${base}/api/v2/${method}?${new URLSearchParams(params)}` : `${base}/api/v2/${method}`;
  const r = await fetch(url, httpMethod === 'GET' ? {} : { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(params) });
  const j = await r.json();
  return { status: r.status, ...j };
}

async function ok(method, params, httpMethod) {
  const r = await api(method, params, httpMethod);
  assert.equal(r.ok, true, `${method}: ${r.error}`);
  return r.result;
}

function walletOf(role) {
  const w = info.wallets[role];
  const wallet = ton.WalletContractV5R1.create({ workchain: 0, publicKey: Buffer.from(w.public_key, 'hex') });
  assert.equal(wallet.address.toRawString(), w.address);
  return { wallet, secretKey: Buffer.from(w.secret_key, 'hex') };
}

// Signs a v5r1 transfer of `messages` and sends it; returns the sendBocReturnHash result.
async function transfer(role, messages) {
  const { wallet, secretKey } = walletOf(role);
  const wi = await ok('getWalletInformation', { address: wallet.address.toString() }, 'GET');
  const body = wallet.createTransfer({ seqno: wi.seqno, secretKey, messages, sendMode: SendMode.PAY_GAS_SEPARATELY,
    timeout: (await ok('tonsim/time', {})).now + 60 });
  const ext = beginCell().store(storeMessage(external({ to: wallet.address, body }))).endCell();
  const res = await ok('sendBocReturnHash', { boc: ext.toBoc().toString('base64') });
  assert.equal(res.hash, ext.hash().toString('base64'));
  return res;
}

const balance = async (addr) => BigInt(await ok('getAddressBalance', { address: addr }, 'GET'));

test('tonsim: wallets are deployed v5r1 wallets with funds', async () => {
  for (const role of ['owner', 'proxy', 'client', 'worker']) {
    const wi = await ok('getWalletInformation', { address: info.wallets[role].address }, 'GET');
    assert.equal(wi.wallet, true);
    assert.equal(wi.wallet_type, 'wallet v5 r1');
    assert.equal(wi.seqno, 0);
    assert.equal(wi.wallet_id, 2147483409);
    assert.equal(wi.account_state, 'active');
    assert.ok(BigInt(wi.balance) >= toNano('999'));
  }
});

test('tonsim: a wallet transfer is applied and can be read back', async () => {
  const from = info.wallets.client.address;
  const to = info.wallets.worker.address;
  const before = await balance(to);
  await transfer('client', [internal({ to: Address.parse(to), value: toNano('1.5'), bounce: false, body: 'hello' })]);
  const txs = await ok('getTransactions', { address: to, limit: 5 }, 'GET');
  const tx = txs[0];
  assert.equal(tx.in_msg.value, toNano('1.5').toString());
  assert.ok(Address.parse(tx.in_msg.source).equals(Address.parse(from)));
  const body = Cell.fromBoc(Buffer.from(tx.in_msg.msg_data.body, 'base64'))[0].beginParse();
  assert.equal(body.loadUint(32), 0);
  assert.equal(body.loadStringTail(), 'hello');
  // the receiver got exactly the value less its own transaction's fee
  assert.equal(await balance(to), before + toNano('1.5') - BigInt(tx.fee));
  // the sender's side: seqno moved, its transaction is indexed with the outgoing message
  assert.equal((await ok('getWalletInformation', { address: from }, 'GET')).seqno, 1);
  const stx = (await ok('getTransactions', { address: from, limit: 1 }, 'GET'))[0];
  assert.equal(stx.in_msg.source, '');
  assert.equal(stx.out_msgs.length, 1);
  assert.equal(stx.out_msgs[0].value, toNano('1.5').toString());
  // paging: lt/hash of the first returns it first
  const again = await ok('getTransactions', { address: to, limit: 1, lt: tx.transaction_id.lt, hash: tx.transaction_id.hash }, 'GET');
  assert.equal(again[0].transaction_id.hash, tx.transaction_id.hash);
  // the raw transaction BoC is the real one
  const cell = Cell.fromBoc(Buffer.from(tx.data, 'base64'))[0];
  assert.equal(cell.hash().toString('base64'), tx.transaction_id.hash);
});

test('tonsim: the root registry is deployed and its owner can change it', async () => {
  const root = info.root.address;
  let r = await ok('runGetMethod', { address: root, method: 'get_version', stack: [] });
  assert.equal(r.exit_code, 0);
  assert.deepEqual(r.stack, [['num', '0x0']]);
  r = await ok('runGetMethod', { address: root, method: 'get_owner', stack: [] });
  const owner = Cell.fromBoc(Buffer.from(r.stack[0][1].bytes, 'base64'))[0].beginParse().loadAddress();
  assert.equal(owner.toRawString(), info.wallets.owner.address);
  const hash = Buffer.alloc(32, 7);
  await transfer('owner', [internal({ to: Address.parse(root), value: toNano('0.05'), bounce: true,
    body: cocoon.root.addProxyType(hash, 1) })]);
  r = await ok('runGetMethod', { address: root, method: 'get_version', stack: [] });
  assert.deepEqual(r.stack, [['num', '0x1']]);
  r = await ok('runGetMethod', { address: root, method: 'has_proxy_hash', stack: [['num', '0x' + hash.toString('hex')]] });
  assert.deepEqual(r.stack, [['num', '-0x1']]);
  // a non-owner's change is refused on-chain (exit code 100 in the root's transaction)
  await transfer('client', [internal({ to: Address.parse(root), value: toNano('0.05'), bounce: true,
    body: cocoon.root.addProxyType(Buffer.alloc(32, 8), 2) })]);
  const rtx = (await ok('getTransactions', { address: root, limit: 2 }, 'GET'));
  assert.equal(rtx[0].compute_exit_code, cocoon.ERR.NOT_OWNER);
  assert.equal(rtx[1].compute_exit_code, 0);
  r = await ok('runGetMethod', { address: root, method: 'get_version', stack: [] });
  assert.deepEqual(r.stack, [['num', '0x1']]);
});

test('tonsim: a client contract is deployed by a top-up from a wallet', async () => {
  const codes = Object.fromEntries(Object.entries(info.codes).map(([k, v]) => [k, Cell.fromBoc(Buffer.from(v, 'hex'))[0]]));
  const owner = Address.parse(info.wallets.client.address);
  const proxyContract = Address.parse(info.wallets.proxy.address);  // any address works for a top-up
  const params = { ...cocoon.DEFAULT_PARAMS, pricePerToken: BigInt(info.params.price_per_token),
    workerFeePerToken: BigInt(info.params.worker_fee_per_token),
    proxyDelayBeforeClose: info.params.proxy_delay_before_close,
    clientDelayBeforeClose: info.params.client_delay_before_close, minProxyStake: BigInt(info.params.min_proxy_stake),
    minClientStake: BigInt(info.params.min_client_stake), uniqueId: info.params.unique_id, isTest: info.params.is_test };
  const si = cocoon.stateInit(codes.client, cocoon.clientInitData({ owner, proxy: proxyContract,
    pubkey: Buffer.alloc(32, 1), params }));
  const proxyBefore = await balance(proxyContract.toRawString());
  await transfer('client', [internal({ to: si.address, value: toNano('2.1'), bounce: false, init: si.init,
    body: cocoon.client.topUp(toNano('2'), owner, 9) })]);
  const r = await ok('runGetMethod', { address: si.address.toString(), method: 'get_client_data', stack: [] });
  assert.equal(r.stack[0][1], '0x0');
  assert.equal(BigInt(r.stack[1][1]), toNano('2'));
  // the client contract keeps its storage reserve; the money went on to the proxy address
  assert.equal(await balance(si.address.toRawString()), cocoon.CONST.RESERVE);
  assert.ok(await balance(proxyContract.toRawString()) - proxyBefore >= toNano('2'));
});

test('tonsim: test-only endpoints fund an address and move the clock', async () => {
  const fresh = new Address(0, Buffer.alloc(32, 0x42)).toRawString();
  const r = await ok('tonsim/fund', { address: fresh, amount: '123456789' });
  assert.equal(r.balance, '123456789');
  assert.equal(await balance(fresh), 123456789n);
  const t0 = (await ok('tonsim/time', {})).now;
  const t1 = (await ok('tonsim/setTime', { advance: 3600 })).now;
  assert.ok(t1 - t0 >= 3600 && t1 - t0 < 3700);
  const ai = await ok('getAddressInformation', { address: info.root.address }, 'GET');
  assert.ok(ai.sync_utime >= t1);
  assert.equal(ai.state, 'active');
  assert.ok(ai.code.length > 0);
  const st = await ok('tonsim/state', {});
  assert.equal(st.root.address, info.root.address);
});

test('tonsim: estimateFee, jsonRPC and bad input', async () => {
  const { wallet, secretKey } = walletOf('worker');
  const body = wallet.createTransfer({ seqno: 0, secretKey, sendMode: 3, messages: [internal({ to: wallet.address,
    value: 1n })], timeout: (await ok('tonsim/time', {})).now + 60 });
  const fee = await ok('estimateFee', { address: wallet.address.toString(), body: body.toBoc().toString('base64') });
  assert.ok(fee.source_fees.gas_fee > 0);
  // estimating did not apply anything
  assert.equal((await ok('getWalletInformation', { address: wallet.address.toString() }, 'GET')).seqno, 0);
  const rpc = await (await fetch(`${base}/jsonRPC`, { method: 'POST', body: JSON.stringify({ id: 5, jsonrpc: '2.0',
    method: 'runGetMethod', params: { address: info.root.address, method: 'get_version', stack: [] } }) })).json();
  assert.equal(rpc.ok, true);
  assert.equal(rpc.id, 5);
  assert.equal(rpc.result.exit_code, 0);
  let r = await api('getAddressInformation', { address: 'nonsense' }, 'GET');
  assert.equal(r.ok, false);
  assert.equal(r.status, 400);
  r = await api('sendBoc', { boc: 'AAAA' });
  assert.equal(r.status, 400);
  // an external message with a forged signature is not accepted
  const forged = wallet.createTransfer({ seqno: 0, secretKey: Buffer.alloc(64, 3), sendMode: 3, messages: [],
    timeout: (await ok('tonsim/time', {})).now + 60 });
  const ext = beginCell().store(storeMessage(external({ to: wallet.address, body: forged }))).endCell();
  r = await api('sendBoc', { boc: ext.toBoc().toString('base64') });
  assert.equal(r.ok, false);
  assert.equal(r.status, 500);
  r = await api('noSuchMethod', {});
  assert.equal(r.status, 404);
  r = await api('tonsim/fund', { address: info.root.address, amount: 'x' });
  assert.equal(r.status, 400);
});

test('tonsim: a get-method that fails reports its exit code; arguments of every kind are passed', async () => {
  const root = info.root.address;
  // get_proxy needs an argument: without it the TVM stops with a stack underflow (exit code 2)
  let r = await ok('runGetMethod', { address: root, method: 'get_proxy', stack: [] });
  assert.equal(r.exit_code, 2);
  assert.deepEqual(r.stack, []);
  r = await ok('runGetMethod', { address: root, method: 'get_proxy', stack: [['num', '5']] });
  assert.equal(r.exit_code, 0);
  assert.deepEqual(r.stack, [['num', '0x0'], ['null', null]]);
  r = await ok('runGetMethod', { address: root, method: 'get_params', stack: '[]' }, 'GET');
  assert.equal(r.stack.length, 17);
  assert.equal(r.stack[14][0], 'cell');
  assert.equal(Cell.fromBoc(Buffer.from(r.stack[14][1].bytes, 'base64'))[0].hash().toString('hex'),
    Cell.fromBoc(Buffer.from(info.codes.proxy, 'hex'))[0].hash().toString('hex'));
  r = await api('runGetMethod', { address: root, method: 'get_version', stack: [['bogus', 1]] });
  assert.equal(r.status, 400);
  r = await api('runGetMethod', { address: new Address(0, Buffer.alloc(32, 0x77)).toRawString(), method: 'seqno' });
  assert.equal(r.ok, false);
});

test('tonsim: command-line options', () => {
  const { parseArgs } = require('../tonsim');
  const o = parseArgs(['--port', '0', '--params', '{"price_per_token":30,"client_delay_before_close":60}',
    '--root-owner', info.wallets.client.address, '--seed', 'x']);
  assert.equal(o.port, 0);
  assert.equal(o.params.pricePerToken, 30n);
  assert.equal(o.params.clientDelayBeforeClose, 60);
  assert.equal(o.rootOwner, info.wallets.client.address);
  assert.throws(() => parseArgs(['--params', '{"nope":1}']), /unknown param/);
  assert.throws(() => parseArgs(['--port', '70000']), /bad --port/);
  assert.throws(() => parseArgs(['--bogus']), /unknown argument/);
  assert.equal(parseArgs(['--workers', '3']).workers, 3);
  assert.throws(() => parseArgs(['--workers', '0']), /bad --workers/);
  assert.throws(() => parseArgs(['--workers', 'x']), /bad --workers/);
});

test('tonsim: --workers N gives each worker a funded wallet of its own', async () => {
  const { Chain } = require('../chain');
  const chain = new Chain();
  await chain.start({ workers: 3 });
  const w = chain.describe().wallets;
  const roles = ['worker', 'worker-2', 'worker-3'];
  assert.equal(roles.filter((r) => w[r]).length, 3);
  assert.equal(new Set(roles.map((r) => w[r].address)).size, 3);
  assert.equal(w['worker-4'], undefined);
  for (const r of roles) {
    const acc = await chain.bc.getContract(Address.parseRaw(w[r].address));
    assert.equal(acc.accountState.type, 'active', r);
    assert.ok(acc.balance > toNano('900'), `${r} funded: ${acc.balance}`);
  }
  // The default stays one worker wallet, so existing key files keep their names.
  assert.equal(info.wallets['worker-2'], undefined);
});
