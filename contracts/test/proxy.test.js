// Proxy contract: stake, signed save-state notes, the owner's payout of earnings, and the two-phase
// close with its delay; every refusal has its own exit code and moves nothing.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { C, getter, send, expectReject, exitCode, network, toNano, keyPair, balanceOf } = require('./helpers');

const { OP, ERR, CONST } = C;

const note = (t, seqno, o = {}) => C.saveStateNote({
  qid: o.qid ?? 31, seqno, uniqueHash: o.hash ?? Buffer.alloc(32, seqno), target: o.target ?? t.proxy.address,
  excessTo: t.proxyOwner.address, secretKey: o.secretKey ?? t.proxyKey.secretKey,
});

test('proxy: stake, parties and params are as deployed; increase stake keeps exactly the amount', async () => {
  const t = await network({ proxyFree: 0n });
  let st = await C.readProxy(t.proxy);
  assert.equal(st.state, 0);
  assert.equal(st.stake, toNano('2'));
  assert.equal(await balanceOf(t.bc, t.proxy.address), toNano('2'));
  const parties = (await t.proxy.get('get_proxy_parties')).stack;
  assert.ok(parties.readAddress().equals(t.proxyOwner.address));
  assert.ok(parties.readAddress().equals(t.root.address));
  assert.equal(parties.readBigNumber(), C.u256(t.proxyKey.publicKey));
  const params = (await t.proxy.get('get_proxy_params')).stack;
  assert.equal(params.readBigNumber(), t.params.workerFeePerToken);
  assert.equal(params.readNumber(), t.params.proxyDelayBeforeClose);
  const anyone = await t.bc.treasury('anyone');
  const s = await send(t.bc, anyone, t.proxy.address, toNano('1.1'), C.proxy.increaseStake(toNano('1'), anyone.address));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(s.delta(t.proxy.address), toNano('1'));
  st = await C.readProxy(t.proxy);
  assert.equal(st.stake, toNano('3'));
  await expectReject(t.bc, anyone, t.proxy.address, toNano('1'), C.proxy.increaseStake(toNano('1'), anyone.address),
    ERR.LOW_VALUE, () => C.readProxy(t.proxy));
});

test('proxy: signed save-state notes are recorded in order', async () => {
  const t = await network();
  const read = () => C.readProxy(t.proxy);
  let s = await send(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), note(t, 5));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(s.delta(t.proxy.address), 0n);
  let st = await read();
  assert.equal(st.savedSeqno, 5);
  assert.equal(st.savedHash, C.u256(Buffer.alloc(32, 5)));
  const mallory = await t.bc.treasury('mallory');
  await expectReject(t.bc, mallory, t.proxy.address, toNano('0.05'), note(t, 5), ERR.OLD_STATE, read);
  await expectReject(t.bc, mallory, t.proxy.address, toNano('0.05'), note(t, 4), ERR.OLD_STATE, read);
  await expectReject(t.bc, mallory, t.proxy.address, toNano('0.05'), note(t, 6, { secretKey: keyPair('m').secretKey }),
    ERR.BAD_SIGNATURE, read);
  await expectReject(t.bc, mallory, t.proxy.address, toNano('0.05'), note(t, 6, { target: mallory.address }),
    ERR.WRONG_TARGET, read);
  await expectReject(t.bc, mallory, t.proxy.address, CONST.MIN_GAS - 1n, note(t, 6), ERR.LOW_VALUE, read);
  // anyone may relay a valid note
  s = await send(t.bc, mallory, t.proxy.address, toNano('0.05'), note(t, 6));
  assert.equal(exitCode(s.tx), 0);
  st = await read();
  assert.equal(st.savedSeqno, 6);
});

test('proxy: the owner withdraws what is above the stake, and not more', async () => {
  const t = await network({ proxyFree: toNano('0.5') });
  const read = () => C.readProxy(t.proxy);
  const mallory = await t.bc.treasury('mallory');
  await expectReject(t.bc, mallory, t.proxy.address, toNano('0.05'), C.proxy.payoutRequest(toNano('0.1'),
    mallory.address), ERR.NOT_OWNER, read);
  await expectReject(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), C.proxy.payoutRequest(toNano('0.6'),
    t.proxyOwner.address), ERR.INSUFFICIENT_FUNDS, read);
  const s = await send(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), C.proxy.payoutRequest(toNano('0.4'),
    t.proxyOwner.address));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(s.delta(t.proxy.address), -toNano('0.4'));
  const payout = s.result.transactions.find((x) => x.inMessage?.body.beginParse().preloadUint(32) === OP.payout);
  assert.equal(payout.inMessage.info.value.coins, toNano('0.4'));
  assert.equal((await read()).stake, toNano('2'));
});

test('proxy: two-phase close pays the owner everything only after the delay', async () => {
  const t = await network();
  const read = () => C.readProxy(t.proxy);
  const mallory = await t.bc.treasury('mallory');
  await expectReject(t.bc, mallory, t.proxy.address, toNano('0.05'), C.proxy.close(mallory.address), ERR.NOT_OWNER, read);
  await expectReject(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), C.proxy.closeComplete(t.proxyOwner.address),
    ERR.WRONG_STATE, read);
  let s = await send(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), C.proxy.close(t.proxyOwner.address));
  assert.equal(exitCode(s.tx), 0);
  let st = await read();
  assert.equal(st.state, 1);
  assert.equal(st.unlockTs, t.bc.now + t.params.proxyDelayBeforeClose);
  // closing: no new stake, a second close is refused, completing early is refused
  await expectReject(t.bc, t.proxyOwner, t.proxy.address, toNano('2'), C.proxy.increaseStake(toNano('1'),
    t.proxyOwner.address), ERR.WRONG_STATE, read);
  await expectReject(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), C.proxy.close(t.proxyOwner.address),
    ERR.WRONG_STATE, read);
  t.bc.now += t.params.proxyDelayBeforeClose - 1;
  await expectReject(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), C.proxy.closeComplete(t.proxyOwner.address),
    ERR.TOO_EARLY, read);
  // workers can still be paid while closing
  const wally = await t.bc.treasury('wally');
  const wsi = t.workerOf(wally);
  const v = (tokens) => C.voucher({ op: OP.workerPayoutSigned, qid: 1, tokens, target: wsi.address,
    excessTo: wally.address, secretKey: t.proxyKey.secretKey });
  s = await send(t.bc, wally, wsi.address, toNano('0.1'), v(1000n), wsi.init);
  assert.equal((await C.readProxy(t.proxy)).paidOut, 1000n * t.params.workerFeePerToken);
  t.bc.now += 1;
  const before = await balanceOf(t.bc, t.proxy.address);
  s = await send(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), C.proxy.closeComplete(t.proxyOwner.address));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(await balanceOf(t.bc, t.proxy.address), 0n);
  const payout = s.result.transactions.find((x) => x.inMessage?.body.beginParse().preloadUint(32) === OP.payout);
  assert.ok(payout.inMessage.info.value.coins > before);  // everything, including the attached value less fees
  st = await read();
  assert.equal(st.state, 2);
  assert.equal(st.stake, 0n);
  // closed: a worker payout is refused by the proxy and undone at the worker
  s = await send(t.bc, wally, wsi.address, toNano('0.1'), v(2000n));
  const proxyTx = s.result.transactions.find((x) => x.inMessage?.info.type === 'internal' &&
    x.inMessage.info.dest.equals(t.proxy.address));
  assert.equal(exitCode(proxyTx), ERR.WRONG_STATE);
  assert.equal((await C.readWorker(getter(t.bc, wsi.address))).tokensPaid, 1000n);
});

test('proxy: owner operations check the sender, the state and the value; a payment must carry its amount', async () => {
  const t = await network();
  const read = () => C.readProxy(t.proxy);
  const mallory = await t.bc.treasury('mallory');
  const o = t.proxyOwner.address;
  const reject = (from, value, body, code) => expectReject(t.bc, from, t.proxy.address, value, body, code, read);
  const low = CONST.MIN_GAS - 1n;
  await reject(t.proxyOwner, low, C.proxy.payoutRequest(toNano('0.1'), o), ERR.LOW_VALUE);
  await reject(t.proxyOwner, low, C.proxy.close(o), ERR.LOW_VALUE);
  await reject(mallory, toNano('0.05'), C.proxy.closeComplete(mallory.address), ERR.NOT_OWNER);
  // a client_proxy_payment must bring at least the amount it reports
  const { beginCell } = require('@ton/core');
  const payment = (amount) => beginCell().storeUint(OP.clientProxyPayment, 32).storeUint(1, 64).storeUint(10, 64)
    .storeCoins(amount).storeAddress(mallory.address).storeAddress(mallory.address).endCell();
  await reject(mallory, toNano('0.05'), payment(toNano('0.06')), ERR.LOW_VALUE);
  // closed: no payouts, no notes, no stake
  let s = await send(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), C.proxy.close(o));
  assert.equal(exitCode(s.tx), 0);
  t.bc.now += t.params.proxyDelayBeforeClose;
  s = await send(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), C.proxy.closeComplete(o));
  assert.equal(exitCode(s.tx), 0);
  assert.equal((await read()).state, 2);
  await reject(t.proxyOwner, toNano('0.05'), C.proxy.payoutRequest(1n, o), ERR.WRONG_STATE);
  await reject(t.proxyOwner, toNano('0.05'), note(t, 9), ERR.WRONG_STATE);
  await reject(t.proxyOwner, toNano('2'), C.proxy.increaseStake(toNano('1'), o), ERR.WRONG_STATE);
  await reject(t.proxyOwner, toNano('0.05'), C.proxy.close(o), ERR.WRONG_STATE);
  await reject(t.proxyOwner, toNano('0.05'), C.proxy.closeComplete(o), ERR.WRONG_STATE);
});

test('proxy: a save-state note whose signed part names another query id is refused', async () => {
  const t = await network();
  const read = () => C.readProxy(t.proxy);
  const { beginCell } = require('@ton/core');
  const inner = beginCell().storeUint(OP.proxySaveState, 32).storeUint(32, 64).storeUint(7, 32)
    .storeBuffer(Buffer.alloc(32, 7), 32).storeAddress(t.proxy.address).endCell();
  const outer = C.signedOuter(OP.proxySaveState, 31, t.proxyOwner.address, inner, t.proxyKey.secretKey);
  await expectReject(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), outer, ERR.VOUCHER_MISMATCH, read);
  // the same note with matching query ids is accepted
  const ok = C.signedOuter(OP.proxySaveState, 32, t.proxyOwner.address, inner, t.proxyKey.secretKey);
  const s = await send(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), ok);
  assert.equal(exitCode(s.tx), 0);
  assert.equal((await read()).savedSeqno, 7);
});
