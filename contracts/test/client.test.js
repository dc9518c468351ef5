// Client contract (COCOON's layouts and rules): every operation's happy path, with exact amounts and value
// conservation checked in send(), and every rejection with its own exit code and no value moved. The
// client's money lives in the proxy contract: the client contract keeps only its storage reserve.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { C, getter, send, expectReject, exitCode, network, toNano, keyPair, balanceOf, txOn, valueTo } =
  require('./helpers');

const { beginCell } = require('@ton/core');

const { OP, ERR, CONST } = C;

// A network plus alice's client contract topped up with `amount`.
async function withClient(amount = toNano('1')) {
  const n = await network();
  const alice = await n.bc.treasury('alice');
  const si = n.clientOf(alice);
  const proxyBefore = await balanceOf(n.bc, n.proxy.address);
  const s = await send(n.bc, alice, si.address, amount + toNano('0.5'), C.client.topUp(amount, alice.address, 7), si.init);
  assert.equal(exitCode(s.tx), 0);
  assert.equal(exitCode(txOn(s, n.proxy.address)), 0, 'the proxy contract accepts its client contract');
  const c = getter(n.bc, si.address);
  const read = () => C.readClient(c);
  const readBoth = async () => ({ client: await read(), proxy: await C.readProxy(n.proxy) });
  const voucher = (op, tokens, opts = {}) => C.voucher({
    op, qid: opts.qid ?? 11, tokens, target: opts.target ?? si.address,
    excessTo: opts.excessTo ?? n.proxyOwner.address, secretKey: opts.secretKey ?? n.proxyKey.secretKey, ...opts,
  });
  const charge = (tokens, opts) => voucher(OP.clientChargeSigned, tokens, opts);
  const grant = (tokens, opts) => voucher(OP.clientGrantRefundSigned, tokens, opts);
  return { ...n, alice, si, c, read, readBoth, charge, grant, topUpResult: s, proxyBefore };
}

const ok = async (t, from, value, body) => {
  const s = await send(t.bc, from, t.si.address, value, body);
  assert.equal(exitCode(s.tx), 0, `client exit code ${exitCode(s.tx)}`);
  const p = txOn(s, t.proxy.address);
  assert.ok(p, 'a request reached the proxy contract');
  // a state note carries 1 nanoton: too little for gas, so the proxy contract's compute phase is skipped
  // (COCOON's design: the proxy daemon reads the note from the transaction list)
  const cp = p.description.computePhase;
  assert.ok(cp.type === 'skipped' ? cp.reason === 'no-gas' : cp.exitCode === 0, `proxy: ${JSON.stringify(cp,
    (k, x) => (typeof x === 'bigint' ? String(x) : x))}`);
  return s;
};

test('client: a top-up deploys, counts the money and moves it to the proxy contract', async () => {
  const t = await withClient(toNano('1'));
  const st = await t.read();
  assert.deepEqual([st.state, st.balance, st.stake, st.tokensUsed], [0, toNano('1'), t.params.minClientStake, 0n]);
  assert.equal(await balanceOf(t.bc, t.si.address), CONST.RESERVE);
  assert.equal(t.topUpResult.delta(t.proxy.address), toNano('1'));
  // alice paid exactly the amount, the reserve and the fees; the rest came back as excesses
  assert.equal(t.topUpResult.delta(t.alice.address), -(toNano('1') + CONST.RESERVE + t.topUpResult.fees));
  // the proxy derives the same address as we do
  const a = (await t.bc.runGetMethod(t.proxy.address, 'get_client_address',
    [{ type: 'slice', cell: beginCell().storeAddress(t.alice.address).endCell() }])).stackReader.readAddress();
  assert.ok(a.equals(t.si.address));
  // anyone can top up
  const bob = await t.bc.treasury('bob');
  const s = await ok(t, bob, toNano('0.6'), C.client.topUp(toNano('0.5'), bob.address, 8));
  assert.equal((await t.read()).balance, toNano('1.5'));
  assert.equal(s.delta(t.proxy.address), toNano('0.5'));
  assert.equal(s.delta(t.si.address), 0n);
  const parties = (await t.c.get('get_client_parties')).stack;
  assert.ok(parties.readAddress().equals(t.alice.address));
  assert.ok(parties.readAddress().equals(t.proxy.address));
  assert.equal(parties.readBigNumber(), C.u256(t.proxyKey.publicKey));
  const params = (await t.c.get('get_client_params')).stack;
  assert.equal(params.readBigNumber(), t.params.pricePerToken);
  assert.equal(params.readNumber(), t.params.clientDelayBeforeClose);
});

test('client: increase stake, change secret hash, register, change hash with top-up', async () => {
  const t = await withClient(toNano('1'));
  let s = await ok(t, t.alice, toNano('0.05'), C.client.increaseStake(toNano('0.4'), t.alice.address));
  assert.equal(s.delta(t.si.address), 0n);
  assert.equal(s.delta(t.proxy.address), 1n);  // the state note carries 1 nanoton
  const hash = Buffer.alloc(32, 0xab);
  await ok(t, t.alice, toNano('0.05'), C.client.changeSecretHash(hash, t.alice.address));
  s = await ok(t, t.alice, toNano('0.05'), C.client.register(0x1122334455667788n, t.alice.address));
  // the nonce reaches the proxy contract's transaction list (where the proxy daemon reads it)
  const req = txOn(s, t.proxy.address).inMessage.body.beginParse();
  assert.equal(req.loadUint(32), OP.clientProxyRequest);
  req.loadUint(64);
  assert.ok(req.loadAddress().equals(t.alice.address));
  const stateCell = req.loadRef().beginParse();
  assert.equal(stateCell.loadUint(2), 0);
  assert.equal(stateCell.loadCoins(), toNano('1'));
  assert.equal(stateCell.loadCoins(), toNano('0.4'));
  const payload = req.loadMaybeRef().beginParse();
  assert.equal(payload.loadUint(32), OP.clientProxyRegister);
  assert.equal(payload.loadUintBig(64), 0x1122334455667788n);
  let st = await t.read();
  assert.equal(st.stake, toNano('0.4'));
  assert.equal(st.secretHash, C.u256(hash));
  const hash2 = Buffer.alloc(32, 0xcd);
  s = await ok(t, t.alice, toNano('0.4'), C.client.changeSecretHashAndTopUp(toNano('0.3'), hash2, t.alice.address));
  assert.equal(s.delta(t.proxy.address), toNano('0.3'));
  st = await t.read();
  assert.equal(st.secretHash, C.u256(hash2));
  assert.equal(st.balance, toNano('1.3'));
  assert.equal(await balanceOf(t.bc, t.si.address), CONST.RESERVE);
});

test('client: withdraw pays the owner everything above the stake, out of the proxy contract', async () => {
  const t = await withClient(toNano('1'));
  const bob = await t.bc.treasury('bob');
  const s = await ok(t, t.alice, toNano('0.05'), C.client.withdraw(bob.address));
  assert.equal(valueTo(s, OP.payout, t.alice.address), toNano('0.9'));
  assert.equal(s.delta(t.proxy.address), -toNano('0.9'));
  assert.equal((await t.read()).balance, toNano('0.1'));
  // nothing above the stake any more
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.withdraw(bob.address), ERR.BELOW_STAKE,
    t.readBoth);
});

test('client: cumulative vouchers charge the difference, capped at the balance', async () => {
  const t = await withClient(toNano('1'));
  const price = t.params.pricePerToken;
  let s = await ok(t, t.proxyOwner, toNano('0.1'), t.charge(1000n));
  assert.equal((await t.read()).balance, toNano('1') - 1000n * price);
  assert.equal(s.delta(t.si.address), 0n);
  await ok(t, t.proxyOwner, toNano('0.1'), t.charge(1500n, { qid: 12 }));
  let st = await t.read();
  assert.equal(st.tokensUsed, 1500n);
  assert.equal(st.balance, toNano('1') - 1500n * price);
  // far more tokens than the balance pays for: the balance goes to zero, no further
  s = await ok(t, t.proxyOwner, toNano('0.1'), t.charge(10n ** 15n, { qid: 13 }));
  st = await t.read();
  assert.equal(st.balance, 0n);
  assert.equal(st.tokensUsed, 10n ** 15n);
});

test('client: a refund grant charges the rest, the proxy pays the remainder back, the account closes', async () => {
  const t = await withClient(toNano('1'));
  const price = t.params.pricePerToken;
  await ok(t, t.proxyOwner, toNano('0.1'), t.charge(1000n));
  const s = await ok(t, t.alice, toNano('0.1'), t.grant(3000n, { excessTo: t.alice.address, qid: 14 }));
  const rest = toNano('1') - 3000n * price;
  assert.equal(valueTo(s, OP.payout, t.alice.address), rest);
  assert.equal(s.delta(t.proxy.address), -rest);
  const st = await t.read();
  assert.deepEqual([st.state, st.balance, st.tokensUsed], [2, 0n, 3000n]);
  // closed with nothing left: everything but notes is refused
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.1'), t.grant(3000n, { qid: 15 }), ERR.WRONG_STATE,
    t.readBoth);
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.1'), t.charge(4000n, { qid: 16 }), ERR.WRONG_STATE,
    t.readBoth);
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.5'), C.client.topUp(toNano('0.1'), t.alice.address),
    ERR.WRONG_STATE, t.readBoth);
});

test('client: request refund, then after the delay the rest is forced out of the proxy stake', async () => {
  const t = await withClient(toNano('1'));
  let s = await ok(t, t.alice, toNano('0.05'), C.client.requestRefund(t.alice.address));
  assert.equal(valueTo(s, OP.payout, t.alice.address), toNano('0.9'));
  let st = await t.read();
  assert.equal(st.state, 1);
  assert.equal(st.unlockTs, t.bc.now + t.params.clientDelayBeforeClose);
  assert.equal(st.balance, toNano('0.1'));
  // while closing the proxy can still charge
  await ok(t, t.proxyOwner, toNano('0.1'), t.charge(100n));
  // not before the delay
  t.bc.now += t.params.clientDelayBeforeClose;
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.requestRefund(t.alice.address),
    ERR.TOO_EARLY, t.readBoth);
  t.bc.now += 1;
  const stakeBefore = (await C.readProxy(t.proxy)).stake;
  const left = toNano('0.1') - 100n * t.params.pricePerToken;
  s = await ok(t, t.alice, toNano('0.05'), C.client.requestRefund(t.alice.address));
  assert.equal(valueTo(s, OP.payout, t.alice.address), left);
  assert.equal((await C.readProxy(t.proxy)).stake, stakeBefore - left);
  st = await t.read();
  assert.deepEqual([st.state, st.balance], [2, 0n]);
});

test('client: top-up-reopen takes back a refund request', async () => {
  const t = await withClient(toNano('1'));
  await ok(t, t.alice, toNano('0.05'), C.client.requestRefund(t.alice.address));
  const stranger = await t.bc.treasury('stranger');
  await expectReject(t.bc, stranger, t.si.address, toNano('0.5'), C.client.topUpReopen(toNano('0.2'),
    stranger.address), ERR.NOT_OWNER, t.readBoth);
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.2'), C.client.topUpReopen(toNano('0.2'),
    t.alice.address), ERR.LOW_VALUE, t.readBoth);
  const s = await ok(t, t.alice, toNano('0.5'), C.client.topUpReopen(toNano('0.2'), t.alice.address));
  assert.equal(s.delta(t.proxy.address), toNano('0.2'));
  const st = await t.read();
  assert.deepEqual([st.state, st.unlockTs, st.balance], [0, 0, toNano('0.3')]);
});

test('client: adversarial vouchers are rejected and move nothing', async () => {
  const t = await withClient(toNano('1'));
  const mallory = keyPair('mallory');
  const v = (body, code) => expectReject(t.bc, t.proxyOwner, t.si.address, toNano('0.1'), body, code, t.readBoth);
  await v(t.charge(1000n, { secretKey: mallory.secretKey }), ERR.BAD_SIGNATURE);
  // a valid signature over other contents
  const other = t.charge(999n);
  await v(t.charge(1000n, { signature: other.beginParse().skip(32 + 64 + 267).loadBuffer(64) }), ERR.BAD_SIGNATURE);
  await v(t.charge(1000n, { target: t.proxy.address }), ERR.WRONG_TARGET);
  await v(t.charge(1000n, { innerOp: OP.workerPayoutSigned }), ERR.VOUCHER_MISMATCH);
  await v(t.charge(1000n, { innerQid: 99 }), ERR.VOUCHER_MISMATCH);
  await expectReject(t.bc, t.proxyOwner, t.si.address, toNano('0.04'), t.charge(1000n), ERR.LOW_VALUE, t.readBoth);
  await ok(t, t.proxyOwner, toNano('0.1'), t.charge(1000n));
  await v(t.charge(1000n), ERR.OLD_VOUCHER);   // replay
  await v(t.charge(999n), ERR.OLD_VOUCHER);    // smaller
  await v(t.grant(999n), ERR.OLD_VOUCHER);     // a grant below what was charged
  await expectReject(t.bc, t.proxyOwner, t.si.address, toNano('0.04'), t.grant(2000n), ERR.LOW_VALUE, t.readBoth);
});

test('client: owner operations check the sender, the state and the attached value', async () => {
  const t = await withClient(toNano('1'));
  const stranger = await t.bc.treasury('stranger');
  const me = t.alice.address;
  const ownerOps = [
    C.client.increaseStake(toNano('0.5'), me), C.client.withdraw(me), C.client.changeSecretHash(Buffer.alloc(32, 1), me),
    C.client.register(5n, me), C.client.requestRefund(me), C.client.topUpReopen(0n, me),
    C.client.changeSecretHashAndTopUp(0n, Buffer.alloc(32, 2), me),
  ];
  for (const body of ownerOps) {
    await expectReject(t.bc, stranger, t.si.address, toNano('0.1'), body, ERR.NOT_OWNER, t.readBoth);
    await expectReject(t.bc, t.alice, t.si.address, toNano('0.04'), body, ERR.LOW_VALUE, t.readBoth);
  }
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.increaseStake(t.params.minClientStake, me),
    ERR.BAD_STAKE, t.readBoth);
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.5'), C.client.topUp(toNano('0.5'), me), ERR.LOW_VALUE,
    t.readBoth);
  // closing: no withdrawals
  await ok(t, t.alice, toNano('0.05'), C.client.requestRefund(me));
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.withdraw(me), ERR.WRONG_STATE, t.readBoth);
  // unknown op, short body
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.05'), beginCell().storeUint(0xdeadbeef, 32)
    .storeUint(0, 64).endCell(), ERR.UNKNOWN_OP, t.readBoth);
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.05'), beginCell().storeUint(OP.clientRegister, 32)
    .storeUint(0, 64).endCell(), 9, t.readBoth);
});

test('client: the proxy contract takes client requests only from its client contracts', async () => {
  const t = await withClient(toNano('1'));
  const mallory = await t.bc.treasury('mallory');
  const state = C.clientStateCell({ state: 0, balance: 0n, stake: 0n, tokensUsed: 0n });
  // mallory pretends to be alice's client contract asking for a refund
  const body = C.toProxy.clientRequest(t.alice.address, state, C.toProxy.clientRefund(toNano('0.5'),
    mallory.address, false), 1);
  await expectReject(t.bc, mallory, t.proxy.address, toNano('0.1'), body, ERR.NOT_OUR_CONTRACT,
    () => C.readProxy(t.proxy));
  // or as her own client contract, from her wallet
  const own = C.toProxy.clientRequest(mallory.address, state, C.toProxy.clientRefund(toNano('0.5'),
    mallory.address, true), 1);
  await expectReject(t.bc, mallory, t.proxy.address, toNano('0.1'), own, ERR.NOT_OUR_CONTRACT,
    () => C.readProxy(t.proxy));
});

test('client: plain transfers and do_not_process notes are accepted and change nothing', async () => {
  const t = await withClient(toNano('1'));
  const before = await t.read();
  let s = await send(t.bc, t.alice, t.si.address, toNano('0.05'), beginCell().storeUint(OP.doNotProcess, 32)
    .storeUint(1, 64).endCell());
  assert.equal(exitCode(s.tx), 0);
  s = await send(t.bc, t.alice, t.si.address, toNano('0.05'), beginCell().endCell());
  assert.equal(exitCode(s.tx), 0);
  assert.deepEqual(await t.read(), before);
});

test('client: a refund the proxy contract cannot cover is refused there (110) and pays nothing', async () => {
  // alice's money was spent on a worker (the proxy paid out more than it charged her so far)
  const t = await withClient(toNano('1'));
  const wally = await t.bc.treasury('wally');
  const wsi = t.workerOf(wally);
  const free = (await balanceOf(t.bc, t.proxy.address)) - (await C.readProxy(t.proxy)).stake;
  const tokens = (free - toNano('0.2')) / t.params.workerFeePerToken;
  const s0 = await send(t.bc, wally, wsi.address, toNano('0.1'), C.voucher({ op: OP.workerPayoutSigned, qid: 1,
    tokens, target: wsi.address, excessTo: wally.address, secretKey: t.proxyKey.secretKey }), wsi.init);
  assert.equal(exitCode(txOn(s0, t.proxy.address)), 0);
  const proxyBefore = await balanceOf(t.bc, t.proxy.address);
  const s = await send(t.bc, t.alice, t.si.address, toNano('0.06'), C.client.withdraw(t.alice.address));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(exitCode(txOn(s, t.proxy.address)), ERR.INSUFFICIENT_FUNDS);
  assert.equal(valueTo(s, OP.payout, t.alice.address), undefined);
  // the proxy contract lost nothing but its storage fee; the bounced value went back to alice
  assert.ok(proxyBefore - (await balanceOf(t.bc, t.proxy.address)) < toNano('0.001'));
  assert.ok(valueTo(s, OP.excesses, t.alice.address) > 0n);
  // the client contract has already counted the withdrawal: bounces are not undone (COCOON's rule, SPEC §6)
  assert.equal((await t.read()).balance, t.params.minClientStake);
});
