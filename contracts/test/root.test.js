// Root registry: owner operations change the sets, proxies and params and bump `version`; get-methods
// return what was written; non-owners and malformed changes are refused with nothing changed.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { beginCell } = require('@ton/core');
const { C, codes, send, expectReject, exitCode, network, toNano } = require('./helpers');

const { ERR } = C;
const h = (b) => Buffer.alloc(32, b);
const hex = (b) => h(b).toString('hex');
const hashArg = (b) => [{ type: 'int', value: C.u256(h(b)) }];

async function rootState(root) {
  const version = (await root.get('get_version')).stack.readNumber();
  const params = C.parseRootParams((await root.get('get_params_cell')).stack.readCell());
  const data = (await root.get('get_data_cell')).stack.readCell().toBoc().toString('hex');
  const owner = (await root.get('get_owner')).stack.readAddress().toRawString();
  return { version, params: { ...params, proxyCode: params.proxyCode?.hash().toString('hex'),
    workerCode: params.workerCode?.hash().toString('hex'), clientCode: params.clientCode?.hash().toString('hex') },
  data, owner };
}

test('root: owner adds and removes hashes; get-methods and version follow', async () => {
  const t = await network();
  const op = async (body) => {
    const s = await send(t.bc, t.owner, t.root.address, toNano('0.05'), body);
    assert.equal(exitCode(s.tx), 0);
    assert.equal(s.delta(t.root.address), 0n);  // the excess goes back
  };
  assert.equal((await t.root.get('get_version')).stack.readNumber(), 0);
  await op(C.root.addProxyType(h(1)));
  await op(C.root.addProxyType(h(2)));
  await op(C.root.addWorkerType(h(3)));
  await op(C.root.addModelType(h(4)));
  await op(C.root.addModelType(h(5)));
  await op(C.root.delModelType(h(4)));
  await op(C.root.delProxyType(h(9)));  // absent: no error
  assert.equal((await t.root.get('get_version')).stack.readNumber(), 7);
  assert.deepEqual(C.hashSet((await t.root.get('get_proxy_hashes')).stack.readCellOpt()), [hex(1), hex(2)]);
  assert.deepEqual(C.hashSet((await t.root.get('get_worker_hashes')).stack.readCellOpt()), [hex(3)]);
  assert.deepEqual(C.hashSet((await t.root.get('get_model_hashes')).stack.readCellOpt()), [hex(5)]);
  assert.equal((await t.root.get('has_proxy_hash', hashArg(2))).stack.readBoolean(), true);
  assert.equal((await t.root.get('has_proxy_hash', hashArg(3))).stack.readBoolean(), false);
  assert.equal((await t.root.get('has_worker_hash', hashArg(3))).stack.readBoolean(), true);
  assert.equal((await t.root.get('has_model_hash', hashArg(4))).stack.readBoolean(), false);
  assert.equal((await t.root.get('has_model_hash', hashArg(5))).stack.readBoolean(), true);
  await op(C.root.delWorkerType(h(3)));
  assert.equal((await t.root.get('get_worker_hashes')).stack.readCellOpt(), null);
});

test('root: proxies are registered by seqno, updated and unregistered', async () => {
  const t = await network();
  const op = async (body) => assert.equal(exitCode((await send(t.bc, t.owner, t.root.address, toNano('0.05'), body)).tx), 0);
  await op(C.root.registerProxy('10.0.0.1:11001 10.0.0.1:11002'));
  await op(C.root.registerProxy('10.0.0.2:11001'));
  await op(C.root.updateProxy(2, '10.0.0.3:11001'));
  let r = (await t.root.get('get_proxies')).stack;
  assert.deepEqual(C.proxiesMap(r.readCellOpt()), { 1: '10.0.0.1:11001 10.0.0.1:11002', 2: '10.0.0.3:11001' });
  assert.equal(r.readNumber(), 2);
  r = (await t.root.get('get_proxy', [{ type: 'int', value: 1n }])).stack;
  assert.equal(r.readBoolean(), true);
  assert.equal(C.proxyInfoText(r.readCell().beginParse()), '10.0.0.1:11001 10.0.0.1:11002');
  await op(C.root.unregisterProxy(1));
  r = (await t.root.get('get_proxy', [{ type: 'int', value: 1n }])).stack;
  assert.equal(r.readBoolean(), false);
  const read = () => rootState(t.root);
  await expectReject(t.bc, t.owner, t.root.address, toNano('0.05'), C.root.unregisterProxy(1), ERR.UNKNOWN_PROXY, read);
  await expectReject(t.bc, t.owner, t.root.address, toNano('0.05'), C.root.updateProxy(7, 'x:1'), ERR.UNKNOWN_PROXY, read);
  // a malformed ProxyInfo: the length does not match the text
  const bad = beginCell().storeUint(0x927c7cb5, 32).storeUint(0, 64)
    .storeRef(beginCell().storeUint(0, 1).storeUint(5, 7).storeBuffer(Buffer.from('abc')).endCell()).endCell();
  await expectReject(t.bc, t.owner, t.root.address, toNano('0.05'), bad, ERR.BAD_PARAMS, read);
  // a new registration continues the seqno sequence
  await op(C.root.registerProxy('10.0.0.4:11001'));
  assert.equal((await t.root.get('get_proxies')).stack.skip(1).readNumber(), 3);
});

test('root: prices, params and codes change with params_version', async () => {
  const t = await network();
  const op = async (body) => assert.equal(exitCode((await send(t.bc, t.owner, t.root.address, toNano('0.05'), body)).tx), 0);
  await op(C.root.changePrice(30n, 25n));
  let r = (await t.root.get('get_params')).stack;
  const vals = [];
  for (let i = 0; i < 14; i++) vals.push(r.readBigNumber());
  assert.deepEqual(vals.map(String), ['3', '1', '1', '-1', '30', '25', '10000', '1000', '10000', '10000', '3600', '3600',
    '1000000000', '100000000']);
  assert.equal(r.readCell().hash().toString('hex'), codes.proxy.hash().toString('hex'));
  assert.equal(r.readCell().hash().toString('hex'), codes.worker.hash().toString('hex'));
  assert.equal(r.readCell().hash().toString('hex'), codes.client.hash().toString('hex'));
  // a whole new params cell: params_version is the contract's, not the sender's
  const next = { ...C.DEFAULT_PARAMS, paramsVersion: 77, uniqueId: 9, isTest: false, clientDelayBeforeClose: 60,
    minClientStake: 5n };
  await op(C.root.changeParamsFull(C.rootParamsCell(next)));
  let p = C.parseRootParams((await t.root.get('get_params_cell')).stack.readCell());
  assert.equal(p.paramsVersion, 2);
  assert.equal(p.uniqueId, 9);
  assert.equal(p.isTest, false);
  assert.equal(p.clientDelayBeforeClose, 60);
  assert.equal(p.minClientStake, 5n);
  assert.equal(p.proxyCode, null);
  await op(C.root.upgradeContracts(codes.proxy, codes.worker, codes.client));
  p = C.parseRootParams((await t.root.get('get_params_cell')).stack.readCell());
  assert.equal(p.paramsVersion, 3);
  assert.ok(p.clientCode.equals(codes.client));
  // COCOON's change_params sets the six numbers and keeps everything else (codes, ids, multipliers)
  await op(C.root.changeParams({ pricePerToken: 40n, workerFeePerToken: 31n, proxyDelayBeforeClose: 120,
    clientDelayBeforeClose: 90, minProxyStake: 7n, minClientStake: 8n }));
  p = C.parseRootParams((await t.root.get('get_params_cell')).stack.readCell());
  assert.deepEqual([p.paramsVersion, p.uniqueId, p.isTest, p.pricePerToken, p.workerFeePerToken,
    p.proxyDelayBeforeClose, p.clientDelayBeforeClose, p.minProxyStake, p.minClientStake],
  [4, 9, false, 40n, 31n, 120, 90, 7n, 8n]);
  assert.ok(p.clientCode.equals(codes.client) && p.workerCode.equals(codes.worker) && p.proxyCode.equals(codes.proxy));
  assert.equal((await t.root.get('get_version')).stack.readNumber(), 4);
  // a params cell with extra bits, or a truncated one, is refused
  const read = () => rootState(t.root);
  const extra = beginCell().storeSlice(C.rootParamsCell(next).beginParse()).storeUint(1, 1).endCell();
  await expectReject(t.bc, t.owner, t.root.address, toNano('0.05'), C.root.changeParamsFull(extra), ERR.BAD_PARAMS, read);
  // change_params without its last field: a malformed body (cell underflow)
  const short = beginCell().storeUint(C.OP.rootChangeParams, 32).storeUint(0, 64).storeCoins(1n).storeCoins(1n)
    .storeUint(1, 32).storeUint(1, 32).storeCoins(1n).endCell();
  await expectReject(t.bc, t.owner, t.root.address, toNano('0.05'), short, 9, read);
  const truncated = beginCell().storeUint(3, 8).storeUint(0, 32).endCell();
  await expectReject(t.bc, t.owner, t.root.address, toNano('0.05'), C.root.changeParamsFull(truncated), ERR.BAD_PARAMS, read);
});

test('root: only the owner changes anything; ownership can be handed over', async () => {
  const t = await network();
  const mallory = await t.bc.treasury('mallory');
  const read = () => rootState(t.root);
  for (const body of [C.root.addProxyType(h(1)), C.root.addWorkerType(h(1)), C.root.addModelType(h(1)),
    C.root.registerProxy('6.6.6.6:1'), C.root.changePrice(1n, 1n), C.root.changeOwner(mallory.address),
    C.root.upgradeContracts(codes.proxy, codes.worker, codes.client), C.root.delModelType(h(1)),
    C.root.changeParams({ pricePerToken: 1n, workerFeePerToken: 1n, proxyDelayBeforeClose: 1,
      clientDelayBeforeClose: 1, minProxyStake: 1n, minClientStake: 1n }),
    C.root.changeParamsFull(C.rootParamsCell(C.DEFAULT_PARAMS))]) {
    await expectReject(t.bc, mallory, t.root.address, toNano('0.05'), body, ERR.NOT_OWNER, read);
  }
  const heir = await t.bc.treasury('heir');
  assert.equal(exitCode((await send(t.bc, t.owner, t.root.address, toNano('0.05'), C.root.changeOwner(heir.address))).tx), 0);
  await expectReject(t.bc, t.owner, t.root.address, toNano('0.05'), C.root.addProxyType(h(1)), ERR.NOT_OWNER, read);
  assert.equal(exitCode((await send(t.bc, heir, t.root.address, toNano('0.05'), C.root.addProxyType(h(1)))).tx), 0);
  assert.equal((await t.root.get('get_version')).stack.readNumber(), 2);
  await expectReject(t.bc, heir, t.root.address, toNano('0.05'), beginCell().storeUint(0xdeadbeef, 32).storeUint(0, 64)
    .endCell(), ERR.UNKNOWN_OP, read);
});

test('root: a ProxyInfo that is too short or carries a reference is refused', async () => {
  const t = await network();
  const read = () => rootState(t.root);
  const reg = (info) => beginCell().storeUint(0x927c7cb5, 32).storeUint(0, 64).storeRef(info).endCell();
  const short = beginCell().storeUint(0, 7).endCell();
  await expectReject(t.bc, t.owner, t.root.address, toNano('0.05'), reg(short), ERR.BAD_PARAMS, read);
  const withRef = beginCell().storeUint(0, 1).storeUint(3, 7).storeBuffer(Buffer.from('a:1'))
    .storeRef(beginCell().endCell()).endCell();
  await expectReject(t.bc, t.owner, t.root.address, toNano('0.05'), reg(withRef), ERR.BAD_PARAMS, read);
  const typeOne = beginCell().storeUint(1, 1).storeUint(3, 7).storeBuffer(Buffer.from('a:1')).endCell();
  await expectReject(t.bc, t.owner, t.root.address, toNano('0.05'), reg(typeOne), ERR.BAD_PARAMS, read);
});
