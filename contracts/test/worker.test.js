// Worker contract and the proxy contract's payout path (COCOON's worker_proxy_request): cumulative payout
// vouchers pay the worker's owner exactly the fee of the new tokens and credit the proxy's share, the last
// one closes; forged, foreign, replayed, smaller and underfunded vouchers are rejected with their own exit
// codes and move nothing.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { beginCell } = require('@ton/core');
const { C, getter, send, expectReject, exitCode, network, toNano, keyPair, balanceOf, txOn, valueTo } =
  require('./helpers');

const { OP, ERR, CONST } = C;

async function withWorker(opts) {
  const n = await network(opts);
  const wally = await n.bc.treasury('wally');
  const si = n.workerOf(wally);
  const w = getter(n.bc, si.address);
  const read = () => C.readWorker(w);
  const readBoth = async () => ({ worker: await read(), proxy: await C.readProxy(n.proxy) });
  const voucher = (tokens, o = {}) => C.voucher({
    op: o.op ?? OP.workerPayoutSigned, qid: o.qid ?? 21, tokens, target: o.target ?? si.address,
    excessTo: o.excessTo ?? wally.address, secretKey: o.secretKey ?? n.proxyKey.secretKey, ...o,
  });
  return { ...n, wally, si, w, read, readBoth, voucher };
}

test('worker: payout vouchers pay the owner the fee of the new tokens and credit the proxy share', async () => {
  const t = await withWorker();
  const fee = t.params.workerFeePerToken;
  const share = t.params.pricePerToken - fee;
  // the first payout deploys the worker contract
  let s = await send(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(1000000n, { qid: 1 }), t.si.init);
  assert.equal(exitCode(s.tx), 0);
  assert.equal(exitCode(txOn(s, t.proxy.address)), 0, 'the proxy contract accepts its worker contract');
  assert.equal(valueTo(s, OP.payout, t.wally.address), 1000000n * fee);
  assert.equal(s.delta(t.proxy.address), -1000000n * fee);
  assert.equal(await balanceOf(t.bc, t.si.address), CONST.RESERVE);
  let st = await t.read();
  assert.equal(st.tokens, 1000000n);
  assert.equal(st.state, 0);
  assert.ok(st.owner.equals(t.wally.address));
  assert.ok(st.proxy.equals(t.proxy.address));
  assert.equal(st.pubkey, C.u256(t.proxyKey.publicKey));
  assert.equal((await C.readProxy(t.proxy)).balance, 1000000n * share);
  // the request carries COCOON's layout: owner, new state and tokens, the two parts
  const req = txOn(s, t.proxy.address).inMessage.body.beginParse();
  assert.equal(req.loadUint(32), OP.workerProxyRequest);
  assert.equal(req.loadUintBig(64), 1n);
  assert.ok(req.loadAddress().equals(t.wally.address));
  assert.equal(req.loadUint(2), 0);
  assert.equal(req.loadUintBig(64), 1000000n);
  const pl = req.loadMaybeRef().beginParse();
  assert.equal(pl.loadUint(32), OP.workerProxyPayoutRequest);
  assert.equal(pl.loadCoins(), 1000000n * fee);
  assert.equal(pl.loadCoins(), 1000000n * share);
  // the next voucher pays only the difference
  s = await send(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(1500000n, { qid: 2 }));
  assert.equal(valueTo(s, OP.payout, t.wally.address), 500000n * fee);
  assert.equal((await t.read()).tokens, 1500000n);
  assert.equal((await C.readProxy(t.proxy)).balance, 1500000n * share);
  // the proxy derives the worker contract's address as we do
  const a = (await t.bc.runGetMethod(t.proxy.address, 'get_worker_address',
    [{ type: 'slice', cell: beginCell().storeAddress(t.wally.address).endCell() }])).stackReader.readAddress();
  assert.ok(a.equals(t.si.address));
});

test('worker: the last payout closes the contract', async () => {
  const t = await withWorker();
  let s = await send(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(1000n), t.si.init);
  assert.equal(exitCode(s.tx), 0);
  // a last payout of the same total is allowed (nothing more to pay) and closes
  s = await send(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(1000n, { op: OP.workerLastPayoutSigned, qid: 3 }));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(exitCode(txOn(s, t.proxy.address)), 0);
  assert.equal((await t.read()).state, 2);
  // everything is refused once closed
  await expectReject(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(2000n, { qid: 4 }), ERR.WRONG_STATE,
    t.readBoth);
  await expectReject(t.bc, t.wally, t.si.address, toNano('0.1'), C.worker.register(t.wally.address),
    ERR.WRONG_STATE, t.readBoth);
});

test('worker: a payout the proxy cannot afford bounces; the value goes back to the owner', async () => {
  const t = await withWorker({ proxyFree: 0n });
  const s = await send(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(10n ** 9n), t.si.init);
  assert.equal(exitCode(s.tx), 0);
  assert.equal(exitCode(txOn(s, t.proxy.address)), ERR.INSUFFICIENT_FUNDS);
  assert.equal(s.delta(t.proxy.address), 0n);
  // COCOON's rule: the tokens stay recorded (the bounced body is too short to undo them)
  assert.equal((await t.read()).tokens, 10n ** 9n);
  assert.ok(valueTo(s, OP.excesses, t.wally.address) > 0n);
  assert.equal((await C.readProxy(t.proxy)).balance, 0n);
});

test('worker: adversarial vouchers are rejected and move nothing', async () => {
  const t = await withWorker();
  await send(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(1000n), t.si.init);
  const mallory = keyPair('mallory');
  const v = (body, code, value = toNano('0.1')) => expectReject(t.bc, t.wally, t.si.address, value, body, code,
    t.readBoth);
  await v(t.voucher(2000n, { secretKey: mallory.secretKey }), ERR.BAD_SIGNATURE);
  await v(t.voucher(2000n, { target: t.proxy.address }), ERR.WRONG_TARGET);
  await v(t.voucher(2000n, { innerOp: OP.clientChargeSigned }), ERR.VOUCHER_MISMATCH);
  await v(t.voucher(2000n, { innerQid: 5 }), ERR.VOUCHER_MISMATCH);
  await v(t.voucher(1000n), ERR.OLD_VOUCHER);
  await v(t.voucher(999n), ERR.OLD_VOUCHER);
  await v(t.voucher(999n, { op: OP.workerLastPayoutSigned }), ERR.OLD_VOUCHER);
  await v(t.voucher(2000n), ERR.LOW_VALUE, toNano('0.04'));
  await v(beginCell().storeUint(0xdeadbeef, 32).storeUint(0, 64).endCell(), ERR.UNKNOWN_OP);
});

test('worker: register is the owner\'s and reaches the proxy as a note', async () => {
  const t = await withWorker();
  await send(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(1000n), t.si.init);
  const stranger = await t.bc.treasury('stranger');
  await expectReject(t.bc, stranger, t.si.address, toNano('0.1'), C.worker.register(stranger.address), ERR.NOT_OWNER,
    t.readBoth);
  await expectReject(t.bc, t.wally, t.si.address, toNano('0.04'), C.worker.register(t.wally.address), ERR.LOW_VALUE,
    t.readBoth);
  const s = await send(t.bc, t.wally, t.si.address, toNano('0.1'), C.worker.register(t.wally.address, 77));
  assert.equal(exitCode(s.tx), 0);
  const p = txOn(s, t.proxy.address);
  const req = p.inMessage.body.beginParse();
  assert.equal(req.loadUint(32), OP.workerProxyRequest);
  assert.equal(req.loadUintBig(64), 77n);
  assert.ok(req.loadAddress().equals(t.wally.address));
  assert.equal(req.loadUint(2), 0);
  assert.equal(req.loadUintBig(64), 1000n);
  assert.equal(req.loadMaybeRef(), null);
  assert.equal(s.delta(t.proxy.address), 1n);
  assert.equal(await balanceOf(t.bc, t.si.address), CONST.RESERVE);
});

test('worker: the proxy pays only its own worker contracts', async () => {
  const t = await withWorker();
  const mallory = await t.bc.treasury('mallory');
  const read = () => C.readProxy(t.proxy);
  for (const owner of [t.wally.address, mallory.address]) {
    const body = C.toProxy.workerRequest(owner, 0, 10n ** 6n, C.toProxy.workerPayout(toNano('0.3'), 0n,
      mallory.address), 1);
    await expectReject(t.bc, mallory, t.proxy.address, toNano('0.1'), body, ERR.NOT_OUR_CONTRACT, read);
  }
});
