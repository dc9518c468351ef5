// JavaScript builders and readers for the cocoon contracts, following contracts/SPEC.md.
// Used by the contract tests and by tools/tonsim. Everything here is plain @ton/core.
'use strict';
const fs = require('fs');
const path = require('path');
const { Cell, beginCell, contractAddress, Dictionary } = require('@ton/core');
const { sign } = require('@ton/crypto');

const OP = {
  excesses: 0x2565934c,
  payout: 0xc59a7cd3,
  // root
  rootAddProxyType: 0x71860e80,
  rootDelProxyType: 0x3c41d0b2,
  rootAddWorkerType: 0xe34b1c60,
  rootDelWorkerType: 0x8d94a79a,
  rootAddModelType: 0xc146134d,
  rootDelModelType: 0x92b11c18,
  rootRegisterProxy: 0x927c7cb5,
  rootUnregisterProxy: 0x6d49eaf2,
  rootUpdateProxy: 0x9c7924ba,
  rootChangePrice: 0xc52ed8d4,
  rootChangeParams: 0x022fa189,
  rootChangeParamsFull: 0x9f1e69dc,
  rootUpgradeContracts: 0xa2370f61,
  rootChangeOwner: 0xc4a1ae54,
  doNotProcess: 0x9a1247c0,
  // client
  clientTopUp: 0xf172e6c2,
  clientTopUpReopen: 0x29111ceb,
  clientChangeSecretHashAndTopUp: 0x8473b408,
  clientIncreaseStake: 0x6a1f6a60,
  clientWithdraw: 0xda068e78,
  clientChangeSecretHash: 0xa9357034,
  clientRegister: 0xc45f9f3b,
  clientChargeSigned: 0xbb63ff93,
  clientGrantRefundSigned: 0xefd711e1,
  clientRequestRefund: 0xfafa6cc1,
  // client contract -> proxy contract
  clientProxyRequest: 0x65448ff4,
  clientProxyTopUp: 0x5cfc6b87,
  clientProxyRegister: 0xa35cb580,
  clientProxyRefundGranted: 0xc68ebc7b,
  clientProxyRefundForce: 0xf4c354c9,
  // worker
  workerPayoutSigned: 0xa040ad28,
  workerLastPayoutSigned: 0xf5f26a36,
  workerRegister: 0x26ed7f65,
  // worker contract -> proxy contract
  workerProxyRequest: 0x4d725d2c,
  workerProxyPayoutRequest: 0x08e7d036,
  // proxy
  proxyIncreaseStake: 0x9713f187,
  proxySaveState: 0x53109c0f,
  proxyPayoutRequest: 0x7610e6eb,
  proxyClose: 0xb51d5a01,
  proxyCloseSigned: 0x636a4391,
  proxyCloseCompleteSigned: 0xe511abc7,
};

const ERR = {
  NOT_OWNER: 100,
  BAD_SIGNATURE: 101,
  WRONG_TARGET: 102,
  OLD_VOUCHER: 103,
  BELOW_STAKE: 104,
  TOO_EARLY: 105,
  LOW_VALUE: 106,
  WRONG_STATE: 107,
  VOUCHER_MISMATCH: 108,
  NOT_OUR_CONTRACT: 109,
  INSUFFICIENT_FUNDS: 110,
  BAD_STAKE: 111,
  UNKNOWN_PROXY: 112,
  BAD_PARAMS: 113,
  UNKNOWN_OP: 0xffff,
};

const CONST = { RESERVE: 10000000n, MIN_GAS: 20000000n, MIN_GAS_FORWARD: 50000000n };

const buildDir = path.join(__dirname, '..', 'build');

function loadCode(name) {
  return Cell.fromBoc(fs.readFileSync(path.join(buildDir, `${name}.boc`)))[0];
}

function loadCodes() {
  return { root: loadCode('root'), proxy: loadCode('proxy'), client: loadCode('client'), worker: loadCode('worker') };
}

const big = (x) => BigInt(x);
const u256 = (buf) => BigInt('0x' + Buffer.from(buf).toString('hex'));
const qidOf = (q) => big(q ?? 0);

// ---- root ----

const DEFAULT_PARAMS = {
  structVersion: 3,
  paramsVersion: 0,
  uniqueId: 1,
  isTest: true,
  pricePerToken: 20n,
  workerFeePerToken: 16n,
  promptMult: 10000,
  cachedMult: 1000,
  completionMult: 10000,
  reasoningMult: 10000,
  proxyDelayBeforeClose: 3600,
  clientDelayBeforeClose: 3600,
  minProxyStake: 1000000000n,
  minClientStake: 100000000n,
};

function rootParamsCell(p) {
  return beginCell()
    .storeUint(p.structVersion, 8)
    .storeUint(p.paramsVersion, 32)
    .storeUint(p.uniqueId, 32)
    .storeBit(p.isTest)
    .storeCoins(p.pricePerToken)
    .storeCoins(p.workerFeePerToken)
    .storeUint(p.promptMult, 32)
    .storeUint(p.cachedMult, 32)
    .storeUint(p.completionMult, 32)
    .storeUint(p.reasoningMult, 32)
    .storeUint(p.proxyDelayBeforeClose, 32)
    .storeUint(p.clientDelayBeforeClose, 32)
    .storeCoins(p.minProxyStake)
    .storeCoins(p.minClientStake)
    .storeMaybeRef(p.proxyCode ?? null)
    .storeMaybeRef(p.workerCode ?? null)
    .storeMaybeRef(p.clientCode ?? null)
    .endCell();
}

function parseRootParams(cell) {
  const s = cell.beginParse();
  const p = {
    structVersion: s.loadUint(8),
    paramsVersion: s.loadUint(32),
    uniqueId: s.loadUint(32),
    isTest: s.loadBit(),
    pricePerToken: s.loadCoins(),
    workerFeePerToken: s.loadCoins(),
    promptMult: s.loadUint(32),
    cachedMult: s.loadUint(32),
    completionMult: s.loadUint(32),
    reasoningMult: s.loadUint(32),
    proxyDelayBeforeClose: s.loadUint(32),
    clientDelayBeforeClose: s.loadUint(32),
    minProxyStake: s.loadCoins(),
    minClientStake: s.loadCoins(),
    proxyCode: s.loadMaybeRef(),
    workerCode: s.loadMaybeRef(),
    clientCode: s.loadMaybeRef(),
  };
  s.endParse();
  return p;
}

function emptyRootData() {
  return beginCell().storeBit(0).storeBit(0).storeUint(0, 32).storeBit(0).storeBit(0).endCell();
}

function rootInitData(owner, params) {
  return beginCell()
    .storeAddress(owner)
    .storeRef(emptyRootData())
    .storeRef(rootParamsCell(params))
    .storeUint(0, 32)
    .endCell();
}

function proxyInfoCell(text) {
  const b = Buffer.from(text, 'utf8');
  if (b.length > 127) throw new Error('proxy info text longer than 127 bytes');
  return beginCell().storeUint(0, 1).storeUint(b.length, 7).storeBuffer(b).endCell();
}

const hashBody = (op) => (hash, qid) =>
  beginCell().storeUint(op, 32).storeUint(qidOf(qid), 64).storeBuffer(Buffer.from(hash), 32).endCell();

const root = {
  addProxyType: hashBody(OP.rootAddProxyType),
  delProxyType: hashBody(OP.rootDelProxyType),
  addWorkerType: hashBody(OP.rootAddWorkerType),
  delWorkerType: hashBody(OP.rootDelWorkerType),
  addModelType: hashBody(OP.rootAddModelType),
  delModelType: hashBody(OP.rootDelModelType),
  registerProxy: (text, qid) =>
    beginCell().storeUint(OP.rootRegisterProxy, 32).storeUint(qidOf(qid), 64).storeRef(proxyInfoCell(text)).endCell(),
  unregisterProxy: (seqno, qid) =>
    beginCell().storeUint(OP.rootUnregisterProxy, 32).storeUint(qidOf(qid), 64).storeUint(seqno, 32).endCell(),
  updateProxy: (seqno, text, qid) =>
    beginCell().storeUint(OP.rootUpdateProxy, 32).storeUint(qidOf(qid), 64).storeUint(seqno, 32)
      .storeRef(proxyInfoCell(text)).endCell(),
  changePrice: (price, workerFee, qid) =>
    beginCell().storeUint(OP.rootChangePrice, 32).storeUint(qidOf(qid), 64).storeCoins(price).storeCoins(workerFee)
      .endCell(),
  // COCOON's change_params: { pricePerToken, workerFeePerToken, proxyDelayBeforeClose,
  // clientDelayBeforeClose, minProxyStake, minClientStake }.
  changeParams: (p, qid) =>
    beginCell().storeUint(OP.rootChangeParams, 32).storeUint(qidOf(qid), 64).storeCoins(p.pricePerToken)
      .storeCoins(p.workerFeePerToken).storeUint(p.proxyDelayBeforeClose, 32).storeUint(p.clientDelayBeforeClose, 32)
      .storeCoins(p.minProxyStake).storeCoins(p.minClientStake).endCell(),
  changeParamsFull: (paramsCell, qid) =>
    beginCell().storeUint(OP.rootChangeParamsFull, 32).storeUint(qidOf(qid), 64).storeRef(paramsCell).endCell(),
  upgradeContracts: (proxyCode, workerCode, clientCode, qid) =>
    beginCell().storeUint(OP.rootUpgradeContracts, 32).storeUint(qidOf(qid), 64).storeRef(proxyCode)
      .storeRef(workerCode).storeRef(clientCode).endCell(),
  changeOwner: (owner, qid) =>
    beginCell().storeUint(OP.rootChangeOwner, 32).storeUint(qidOf(qid), 64).storeAddress(owner).endCell(),
};

// ---- proxy, client, worker: initial data (address derivation) ----

// The params cell of a proxy contract (COCOON's serialize_params_cell(6): no proxy code) and of client
// and worker contracts (serialize_params_cell(0): no code at all).
const proxyParamsCell = (p) => rootParamsCell({ ...p, proxyCode: null });
const noCodeParamsCell = (p) => rootParamsCell({ ...p, proxyCode: null, workerCode: null, clientCode: null });

// ProxyContract::init_data_cell
function proxyInitData({ owner, root: rootAddr, pubkey, params }) {
  return beginCell()
    .storeAddress(owner)
    .storeBuffer(Buffer.from(pubkey), 32)
    .storeAddress(rootAddr)
    .storeUint(0, 2)
    .storeCoins(0)
    .storeCoins(0)
    .storeUint(0, 32)
    .storeRef(proxyParamsCell(params))
    .endCell();
}

// ClientContract::init_data_cell
function clientInitData({ owner, proxy, pubkey, params }) {
  const consts = beginCell().storeAddress(owner).storeAddress(proxy).storeBuffer(Buffer.from(pubkey), 32).endCell();
  return beginCell()
    .storeUint(0, 2)
    .storeCoins(0)
    .storeCoins(params.minClientStake)
    .storeUint(0, 64)
    .storeUint(0, 32)
    .storeUint(0, 256)
    .storeRef(consts)
    .storeRef(noCodeParamsCell(params))
    .endCell();
}

// WorkerContract::init_data_cell
function workerInitData({ owner, proxy, pubkey, params }) {
  return beginCell()
    .storeAddress(owner)
    .storeAddress(proxy)
    .storeBuffer(Buffer.from(pubkey), 32)
    .storeUint(0, 2)
    .storeUint(0, 64)
    .storeRef(noCodeParamsCell(params))
    .endCell();
}

function stateInit(code, data) {
  const init = { code, data };
  return { init, address: contractAddress(0, init) };
}

// ---- messages ----

const head = (op, qid) => beginCell().storeUint(op, 32).storeUint(qidOf(qid), 64);

const client = {
  topUp: (amount, excessTo, qid) => head(OP.clientTopUp, qid).storeCoins(amount).storeAddress(excessTo).endCell(),
  topUpReopen: (amount, excessTo, qid) =>
    head(OP.clientTopUpReopen, qid).storeCoins(amount).storeAddress(excessTo).endCell(),
  changeSecretHashAndTopUp: (amount, hash, excessTo, qid) =>
    head(OP.clientChangeSecretHashAndTopUp, qid).storeCoins(amount).storeBuffer(Buffer.from(hash), 32)
      .storeAddress(excessTo).endCell(),
  increaseStake: (newStake, excessTo, qid) =>
    head(OP.clientIncreaseStake, qid).storeCoins(newStake).storeAddress(excessTo).endCell(),
  withdraw: (excessTo, qid) => head(OP.clientWithdraw, qid).storeAddress(excessTo).endCell(),
  changeSecretHash: (hash, excessTo, qid) =>
    head(OP.clientChangeSecretHash, qid).storeBuffer(Buffer.from(hash), 32).storeAddress(excessTo).endCell(),
  register: (nonce, excessTo, qid) =>
    head(OP.clientRegister, qid).storeUint(big(nonce), 64).storeAddress(excessTo).endCell(),
  requestRefund: (excessTo, qid) => head(OP.clientRequestRefund, qid).storeAddress(excessTo).endCell(),
};

const worker = {
  register: (excessTo, qid) => head(OP.workerRegister, qid).storeAddress(excessTo).endCell(),
};

const proxy = {
  increaseStake: (amount, excessTo, qid) =>
    head(OP.proxyIncreaseStake, qid).storeCoins(amount).storeAddress(excessTo).endCell(),
  payoutRequest: (excessTo, qid) => head(OP.proxyPayoutRequest, qid).storeAddress(excessTo).endCell(),
  close: (excessTo, qid) => head(OP.proxyClose, qid).storeAddress(excessTo).endCell(),
  // ProxyContract::create_save_state_message: a do_not_process note the contract ignores
  saveState: (seqno, uniqueHash, qid) =>
    head(OP.doNotProcess, qid).storeUint(OP.proxySaveState, 32).storeUint(seqno, 32)
      .storeBuffer(Buffer.from(uniqueHash), 32).endCell(),
  // signed close requests: inner = op query_id target
  closeSigned: ({ qid, target, excessTo, secretKey, complete, innerOp, innerQid, signature }) => {
    const op = complete ? OP.proxyCloseCompleteSigned : OP.proxyCloseSigned;
    const inner = head(innerOp ?? op, innerQid ?? qid).storeAddress(target).endCell();
    return signedOuter(op, qid, excessTo, inner, secretKey, signature);
  },
};

// Contract-to-contract bodies (what the client and worker contracts send to the proxy contract).
function clientStateCell({ state, balance, stake, tokensUsed, secretHash }) {
  return beginCell().storeUint(state, 2).storeCoins(balance).storeCoins(stake).storeUint(big(tokensUsed), 64)
    .storeUint(big(secretHash ?? 0), 256).endCell();
}

const toProxy = {
  clientRequest: (owner, stateCell, payload, qid) =>
    head(OP.clientProxyRequest, qid).storeAddress(owner).storeRef(stateCell).storeMaybeRef(payload ?? null).endCell(),
  workerRequest: (owner, state, tokens, payload, qid) =>
    head(OP.workerProxyRequest, qid).storeAddress(owner).storeUint(state, 2).storeUint(big(tokens), 64)
      .storeMaybeRef(payload ?? null).endCell(),
  workerPayout: (workerPart, proxyPart, excessTo) =>
    beginCell().storeUint(OP.workerProxyPayoutRequest, 32).storeCoins(workerPart).storeCoins(proxyPart)
      .storeAddress(excessTo).endCell(),
  clientTopUp: (amount, excessTo) =>
    beginCell().storeUint(OP.clientProxyTopUp, 32).storeCoins(amount).storeAddress(excessTo).endCell(),
  clientRegister: (nonce) => beginCell().storeUint(OP.clientProxyRegister, 32).storeUint(big(nonce), 64).endCell(),
  clientRefund: (amount, excessTo, force) =>
    beginCell().storeUint(force ? OP.clientProxyRefundForce : OP.clientProxyRefundGranted, 32).storeCoins(amount)
      .storeAddress(excessTo).endCell(),
};

// The signed inner cell of a voucher (SPEC §0.3).
function voucherInner(op, qid, tokens, target) {
  return beginCell().storeUint(op, 32).storeUint(qidOf(qid), 64).storeUint(big(tokens), 64).storeAddress(target)
    .endCell();
}

// Outer cell around a signed inner cell; `signature` may be given to forge/replay.
function signedOuter(op, qid, excessTo, inner, secretKey, signature) {
  const sig = signature ?? sign(inner.hash(), secretKey);
  return beginCell().storeUint(op, 32).storeUint(qidOf(qid), 64).storeAddress(excessTo).storeBuffer(sig, 64)
    .storeRef(inner).endCell();
}

function voucher({ op, qid, tokens, target, excessTo, secretKey, innerOp, innerQid, signature }) {
  const inner = voucherInner(innerOp ?? op, innerQid ?? qid, tokens, target);
  return signedOuter(op, qid, excessTo, inner, secretKey, signature);
}

// ---- get-method readers (provider: { get(name, args) -> { stack: TupleReader } }) ----

async function readClient(c) {
  const r = (await c.get('get_client_data')).stack;
  return {
    state: r.readNumber(),
    balance: r.readBigNumber(),
    stake: r.readBigNumber(),
    tokensUsed: r.readBigNumber(),
    unlockTs: r.readNumber(),
    secretHash: r.readBigNumber(),
  };
}

async function readWorker(c) {
  const r = (await c.get('get_worker_data')).stack;
  return {
    state: r.readNumber(),
    tokens: r.readBigNumber(),
    owner: r.readAddress(),
    proxy: r.readAddress(),
    pubkey: r.readBigNumber(),
  };
}

async function readProxy(c) {
  const r = (await c.get('get_proxy_data')).stack;
  return {
    state: r.readNumber(),
    balance: r.readBigNumber(),
    stake: r.readBigNumber(),
    unlockTs: r.readNumber(),
  };
}

function hashSet(cell) {
  if (!cell) return [];
  const d = Dictionary.loadDirect(Dictionary.Keys.BigUint(256), {
    serialize: () => {},
    parse: (s) => { s.endParse(); return true; },
  }, cell);
  return d.keys().map((k) => k.toString(16).padStart(64, '0')).sort();
}

function proxyInfoText(slice) {
  if (slice.loadUint(1) !== 0) throw new Error('unknown proxy info type');
  const len = slice.loadUint(7);
  return slice.loadBuffer(len).toString('utf8');
}

function proxiesMap(cell) {
  if (!cell) return {};
  const d = Dictionary.loadDirect(Dictionary.Keys.Uint(32), {
    serialize: () => {},
    parse: (s) => proxyInfoText(s),
  }, cell);
  const out = {};
  for (const k of d.keys()) out[k] = d.get(k);
  return out;
}

module.exports = {
  OP, ERR, CONST, DEFAULT_PARAMS, loadCode, loadCodes, u256,
  rootParamsCell, parseRootParams, emptyRootData, rootInitData, proxyInfoCell, root,
  proxyParamsCell, noCodeParamsCell, proxyInitData, clientInitData, workerInitData, stateInit,
  client, worker, proxy, toProxy, clientStateCell, voucherInner, signedOuter, voucher,
  readClient, readWorker, readProxy, hashSet, proxiesMap, proxyInfoText,
};
