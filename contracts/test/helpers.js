// Shared set-up for the contract tests: a sandbox chain with the root, a proxy contract and
// helpers to send messages, read get-methods and check that value is conserved.
'use strict';
const assert = require('node:assert/strict');
const { Blockchain } = require('@ton/sandbox');
const { toNano, Address } = require('@ton/core');
const { keyPairFromSeed } = require('@ton/crypto');
const C = require('../lib/cocoon');

const codes = C.loadCodes();

function keyPair(tag) {
  const seed = Buffer.alloc(32);
  Buffer.from(tag).copy(seed);
  return keyPairFromSeed(seed);
}

function getter(bc, address) {
  return {
    address,
    get: async (name, args = []) => ({ stack: (await bc.runGetMethod(address, name, args)).stackReader }),
  };
}

async function balanceOf(bc, address) {
  return (await bc.getContract(address)).balance;
}

// Sends and returns { result, tx, deltas, fees }: `tx` is the transaction on `to`, `deltas` the balance
// change of every account that had a transaction, `fees` the sum of their total fees. Asserts that
// value is conserved: the sum of the balance changes plus the fees (transaction fees and the forwarding
// fees carried by the internal messages) is zero.
async function send(bc, from, to, value, body, init) {
  // balances of every account the sandbox knows; an account it does not know yet held nothing
  const before = new Map();
  for (const c of bc.storage.knownContracts()) before.set(c.address.toRawString(), c.balance);
  const result = await from.send({ to, value, body, init, bounce: true });
  let fees = 0n;
  const touched = new Set([from.address.toRawString(), to.toRawString()]);
  for (const t of result.transactions) {
    fees += t.totalFees.coins;
    // the part of a forwarding fee that is not in the sender's total fees travels in the message
    if (t.inMessage?.info.type === 'internal') fees += t.inMessage.info.forwardFee;
    touched.add(rawOf(t));
  }
  const deltas = {};
  let sum = 0n;
  for (const a of touched) {
    const d = (await balanceOf(bc, Address.parseRaw(a))) - (before.get(a) ?? 0n);
    deltas[a] = d;
    sum += d;
  }
  assert.equal(sum + fees, 0n, `value not conserved: balance changes ${sum} + fees ${fees}`);
  const tx = result.transactions.find((t) => rawOf(t) === to.toRawString() && t.inMessage?.info.type === 'internal');
  return { result, tx, deltas, fees, delta: (addr) => deltas[addr.toRawString()] ?? 0n };
}

function rawOf(t) {
  return `0:${t.address.toString(16).padStart(64, '0')}`;
}

function exitCode(tx) {
  const d = tx.description;
  if (d.type !== 'generic') return undefined;
  return d.computePhase.type === 'vm' ? d.computePhase.exitCode : undefined;
}

// A network: root (owner = `owner` treasury), a proxy contract deployed with a stake.
async function network(opts = {}) {
  const bc = await Blockchain.create();
  bc.now = 1_800_000_000;
  const owner = await bc.treasury('root-owner');
  const proxyOwner = await bc.treasury('proxy-owner');
  const proxyKey = keyPair('proxy-key');
  const params = { ...C.DEFAULT_PARAMS, proxyCode: codes.proxy, workerCode: codes.worker, clientCode: codes.client,
    ...(opts.params || {}) };
  const rootSi = C.stateInit(codes.root, C.rootInitData(owner.address, params));
  await owner.send({ to: rootSi.address, value: toNano('1'), init: rootSi.init, bounce: false });
  const proxySi = C.stateInit(codes.proxy, C.proxyInitData({
    owner: proxyOwner.address, root: rootSi.address, pubkey: proxyKey.publicKey, params,
  }));
  const stake = opts.proxyStake ?? toNano('2');
  const r = await proxyOwner.send({
    to: proxySi.address, value: stake + toNano('0.1'), init: proxySi.init,
    body: C.proxy.increaseStake(stake, proxyOwner.address, 1), bounce: false,
  });
  assert.equal(exitCode(r.transactions[1]), 0);
  // money above the stake (as if clients had paid), so that workers can be paid: a plain transfer
  const extra = opts.proxyFree ?? toNano('0.5');
  if (extra > 0n) await proxyOwner.send({ to: proxySi.address, value: extra, bounce: true });
  return {
    bc, owner, proxyOwner, proxyKey, params,
    root: getter(bc, rootSi.address),
    proxy: getter(bc, proxySi.address),
    clientOf(clientOwner) {
      return C.stateInit(codes.client, C.clientInitData({
        owner: clientOwner.address, proxy: proxySi.address, pubkey: proxyKey.publicKey, params,
      }));
    },
    workerOf(workerOwner) {
      return C.stateInit(codes.worker, C.workerInitData({
        owner: workerOwner.address, proxy: proxySi.address, pubkey: proxyKey.publicKey, params,
      }));
    },
  };
}

// The transaction of `s` (a send() result) on `addr` that an internal message started.
function txOn(s, addr) {
  return s.result.transactions.find((t) => rawOf(t) === addr.toRawString() && t.inMessage?.info.type === 'internal');
}

// The value of the first message of `s` that carries body op `op` (payout, excesses, ...) to `dest`.
function valueTo(s, op, dest) {
  const t = s.result.transactions.find((x) => x.inMessage?.info.type === 'internal' &&
    x.inMessage.info.dest.equals(dest) && x.inMessage.body.beginParse().remainingBits >= 32 &&
    x.inMessage.body.beginParse().preloadUint(32) === op);
  return t ? t.inMessage.info.value.coins : undefined;
}

module.exports = { C, codes, keyPair, getter, balanceOf, send, exitCode, network, toNano, rawOf, txOn, valueTo };

// A comparable text form of a get-method result (bigints and addresses as text).
function canon(v) {
  return JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? x.toString() : x instanceof Address ? x.toRawString() : x));
}

// Sends a message that must be rejected with `code`: the target's balance and state (read with
// `read`) do not change and nobody but the sender (who pays the fees) gains or loses value.
async function expectReject(bc, from, to, value, body, code, read, init) {
  const stateBefore = read ? await read() : null;
  const s = await send(bc, from, to, value, body, init);
  assert.ok(s.tx, 'no transaction on the target');
  assert.equal(exitCode(s.tx), code, `exit code ${exitCode(s.tx)}, expected ${code}`);
  assert.equal(s.tx.description.aborted, true);
  // the target pays only its storage fee (non-zero when the test moved the clock)
  const storageFee = s.tx.description.storagePhase?.storageFeesCollected ?? 0n;
  for (const [addr, d] of Object.entries(s.deltas)) {
    if (addr === from.address.toRawString()) {
      assert.equal(d, -(s.fees - storageFee), 'the sender must lose exactly the fees');
    } else if (addr === to.toRawString()) {
      assert.equal(d, -storageFee, `value moved on the target ${addr}`);
    } else {
      assert.equal(d, 0n, `value moved on ${addr}`);
    }
  }
  if (read) assert.equal(canon(await read()), canon(stateBefore), 'state changed');
  return s;
}

module.exports.expectReject = expectReject;
