// Worker contract and the proxy contract's payout path: cumulative payout vouchers pay the worker's
// owner exactly, the last one closes, a refused request is undone; forged, foreign, replayed, smaller
// and underfunded vouchers are rejected with their own exit codes and move nothing.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { beginCell } = require('@ton/core');
const { C, getter, send, expectReject, exitCode, network, toNano, keyPair, balanceOf } = require('./helpers');

const { OP, ERR, CONST } = C;

async function withWorker(opts) {
  const n = await network(opts);
  const wally = await n.bc.treasury('wally');
  const si = n.workerOf(wally);
  const w = getter(n.bc, si.address);
  const read = () => C.readWorker(w);
  const voucher = (tokens, o = {}) => C.voucher({
    op: o.op ?? OP.workerPayoutSigned, qid: o.qid ?? 21, tokens, target: o.target ?? si.address,
    excessTo: o.excessTo ?? wally.address, secretKey: o.secretKey ?? n.proxyKey.secretKey, ...o,
  });
  const payoutsTo = (s, addr) => s.result.transactions.filter((x) => x.inMessage?.info.type === 'internal' &&
    x.inMessage.info.dest.equals(addr) && x.inMessage.body.beginParse().preloadUint(32) === OP.payout);
  return { ...n, wally, si, w, read, voucher, payoutsTo };
}

test('worker: payout vouchers pay the owner the fee of the new tokens, cumulatively', async () => {
  const t = await withWorker();
  const fee = t.params.workerFeePerToken;
  // the first payout deploys the worker contract
  let s = await send(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(1000000n, { qid: 1 }), t.si.init);
  assert.equal(exitCode(s.tx), 0);
  let p = t.payoutsTo(s, t.wally.address);
  assert.equal(p.length, 1);
  assert.equal(p[0].inMessage.info.value.coins, 1000000n * fee);
  assert.equal(s.delta(t.proxy.address), -1000000n * fee);
  assert.equal(await balanceOf(t.bc, t.si.address), CONST.RESERVE);
  let st = await t.read();
  assert.equal(st.tokensPaid, 1000000n);
  assert.ok(st.owner.equals(t.wally.address));
  assert.ok(st.proxy.equals(t.proxy.address));
  assert.equal((await C.readProxy(t.proxy)).paidOut, 1000000n * fee);
  // anyone may relay the next voucher; only the difference is paid
  s = await send(t.bc, t.proxyOwner, t.si.address, toNano('0.1'), t.voucher(1250000n, { qid: 2,
    excessTo: t.proxyOwner.address }));
  assert.equal(exitCode(s.tx), 0);
  p = t.payoutsTo(s, t.wally.address);
  assert.equal(p[0].inMessage.info.value.coins, 250000n * fee);
  assert.equal(s.delta(t.proxy.address), -250000n * fee);
  assert.equal((await t.read()).tokensPaid, 1250000n);
  // the proxy contract derives the same worker address
  const { beginCell: bc } = require('@ton/core');
  const r = (await t.proxy.get('get_worker_address', [{ type: 'slice',
    cell: bc().storeAddress(t.wally.address).endCell() }])).stack;
  assert.ok(r.readAddress().equals(t.si.address));
});

test('worker: the last payout closes the contract', async () => {
  const t = await withWorker();
  let s = await send(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(100n), t.si.init);
  assert.equal(exitCode(s.tx), 0);
  s = await send(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(300n, { op: OP.workerLastPayoutSigned }));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(t.payoutsTo(s, t.wally.address)[0].inMessage.info.value.coins, 200n * t.params.workerFeePerToken);
  const st = await t.read();
  assert.equal(st.state, 2);
  assert.equal(st.tokensPaid, 300n);
  await expectReject(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(400n), ERR.WRONG_STATE, t.read);
});

test('worker: a payout the proxy cannot afford bounces and is undone', async () => {
  const t = await withWorker();
  await send(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(100n), t.si.init);
  const proxyBefore = await balanceOf(t.bc, t.proxy.address);
  const tokens = toNano('1') / t.params.workerFeePerToken;  // 1 TON: more than the balance above the stake
  const s = await send(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(tokens));
  assert.equal(exitCode(s.tx), 0);
  const proxyTx = s.result.transactions.find((x) => x.inMessage?.info.type === 'internal' &&
    x.inMessage.info.dest.equals(t.proxy.address));
  assert.equal(exitCode(proxyTx), ERR.INSUFFICIENT_FUNDS);
  assert.equal(await balanceOf(t.bc, t.proxy.address), proxyBefore);
  assert.equal((await t.read()).tokensPaid, 100n);
  assert.equal(t.payoutsTo(s, t.wally.address).length, 0);
  // the bounced value went back to the owner as excesses
  const back = s.result.transactions.find((x) => x.inMessage?.body.beginParse().preloadUint(32) === OP.excesses);
  assert.ok(back && back.inMessage.info.dest.equals(t.wally.address));
});

test('worker: forged, foreign, replayed, smaller and underfunded vouchers are rejected', async () => {
  const t = await withWorker();
  await send(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(1000n, { qid: 1 }), t.si.init);
  const mallory = await t.bc.treasury('mallory');
  await expectReject(t.bc, mallory, t.si.address, toNano('0.1'), t.voucher(5000n, { secretKey:
    keyPair('mallory-key').secretKey }), ERR.BAD_SIGNATURE, t.read);
  await expectReject(t.bc, mallory, t.si.address, toNano('0.1'), t.voucher(5000n, { target:
    t.workerOf(mallory).address }), ERR.WRONG_TARGET, t.read);
  await expectReject(t.bc, mallory, t.si.address, toNano('0.1'), t.voucher(1000n, { qid: 1 }), ERR.OLD_VOUCHER, t.read);
  await expectReject(t.bc, mallory, t.si.address, toNano('0.1'), t.voucher(999n), ERR.OLD_VOUCHER, t.read);
  // a client charge voucher is not a payout voucher
  await expectReject(t.bc, mallory, t.si.address, toNano('0.1'), t.voucher(5000n, { innerOp: OP.clientChargeSigned }),
    ERR.VOUCHER_MISMATCH, t.read);
  await expectReject(t.bc, mallory, t.si.address, CONST.MIN_GAS_FORWARD - 1n, t.voucher(5000n), ERR.LOW_VALUE, t.read);
  // a payout request sent to the proxy contract by anyone but the worker contract
  const forged = beginCell().storeUint(OP.workerProxyPayoutRequest, 32).storeUint(1, 64).storeUint(0, 64)
    .storeUint(1000000n, 64).storeAddress(mallory.address).storeAddress(mallory.address).endCell();
  await expectReject(t.bc, mallory, t.proxy.address, toNano('0.1'), forged, ERR.NOT_WORKER_CONTRACT,
    () => C.readProxy(t.proxy));
  assert.equal((await t.read()).tokensPaid, 1000n);
});

test('worker: the documented minimum value is enough for a first (deploying) payout', async () => {
  const t = await withWorker();
  const s = await send(t.bc, t.wally, t.si.address, CONST.MIN_GAS_FORWARD, t.voucher(5000n), t.si.init);
  assert.equal(exitCode(s.tx), 0);
  assert.equal(t.payoutsTo(s, t.wally.address)[0].inMessage.info.value.coins, 5000n * t.params.workerFeePerToken);
  assert.equal((await t.read()).tokensPaid, 5000n);
});

test('worker: a last payout below what was paid is refused; equal closes without paying', async () => {
  const t = await withWorker();
  await send(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(1000n), t.si.init);
  await expectReject(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(999n, { op: OP.workerLastPayoutSigned }),
    ERR.OLD_VOUCHER, t.read);
  const s = await send(t.bc, t.wally, t.si.address, toNano('0.1'), t.voucher(1000n, { op: OP.workerLastPayoutSigned }));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(t.payoutsTo(s, t.wally.address).length, 0);
  const st = await t.read();
  assert.equal(st.state, 2);
  assert.equal(st.tokensPaid, 1000n);
});
