// The local chain behind tonsim: an @ton/sandbox Blockchain with the cocoon root registry and a
// funded wallet v5r1 per role, its own clock offset, and its own index of every transaction
// (sandbox keeps no queryable history).
'use strict';
const crypto = require('crypto');
const { core, crypto: tonCrypto, sandbox, ton, cocoon } = require('./deps');

const { Address, Cell, beginCell, internal, toNano, storeMessage, loadMessage, external } = core;

const ROLES = ['owner', 'proxy', 'client', 'worker'];

class Chain {
  constructor() {
    this.bc = null;
    this.offset = 0;        // chain time = wall clock + offset (seconds)
    this.byAccount = new Map();  // raw address -> transactions, oldest first
    this.byHash = new Map();     // tx hash hex -> transaction record
    this.wallets = {};
    this.root = null;
    this.codes = cocoon.loadCodes();
  }

  now() {
    return Math.floor(Date.now() / 1000) + this.offset;
  }

  tick() {
    this.bc.now = this.now();
  }

  setTime({ now, advance }) {
    if (now !== undefined) this.offset = Number(now) - Math.floor(Date.now() / 1000);
    if (advance !== undefined) this.offset += Number(advance);
    this.tick();
    return this.now();
  }

  // Starts the chain: deploys one funded wallet v5r1 per role and the root registry.
  // workers > 1 adds roles worker-2 .. worker-N (the first worker's wallet is "worker"): a wallet's
  // seqno serves one daemon, so each worker of a network gets its own.
  async start({ seed = 'cocoon-tonsim', rootOwner, params = {}, walletFunds = toNano('1000'), workers = 1 } = {}) {
    this.bc = await sandbox.Blockchain.create();
    this.tick();
    this.funder = await this.bc.treasury('tonsim-funder', { balance: toNano('1000000000') });
    const roles = [...ROLES];
    for (let i = 2; i <= workers; i++) roles.push(`worker-${i}`);
    for (const role of roles) {
      const keySeed = crypto.createHash('sha256').update(`${seed}/${role}`).digest();
      const keys = tonCrypto.keyPairFromSeed(keySeed);
      const wallet = ton.WalletContractV5R1.create({ workchain: 0, publicKey: keys.publicKey });
      await this.run(() => this.funder.send({ to: wallet.address, value: walletFunds, init: wallet.init, bounce: false }));
      this.wallets[role] = { keys, wallet, seed: keySeed };
    }
    const owner = rootOwner ? Address.parse(rootOwner) : this.wallets.owner.wallet.address;
    this.params = { ...cocoon.DEFAULT_PARAMS, ...params, proxyCode: this.codes.proxy, workerCode: this.codes.worker,
      clientCode: this.codes.client };
    const si = cocoon.stateInit(this.codes.root, cocoon.rootInitData(owner, this.params));
    await this.run(() => this.funder.send({ to: si.address, value: toNano('10'), init: si.init, bounce: false }));
    this.root = { address: si.address, owner };
  }

  // Runs a sandbox send and indexes every transaction it produced.
  async run(fn) {
    this.tick();
    const result = await fn();
    for (const tx of result.transactions) this.index(tx);
    return result;
  }

  index(tx) {
    const raw = `0:${tx.address.toString(16).padStart(64, '0')}`;
    const rec = { account: raw, tx, hash: tx.hash(), lt: tx.lt, boc: tx.raw.toBoc() };
    if (!this.byAccount.has(raw)) this.byAccount.set(raw, []);
    this.byAccount.get(raw).push(rec);
    this.byHash.set(rec.hash.toString('hex'), rec);
  }

  // An external message BoC from outside (sendBoc). Throws if the destination does not accept it.
  async sendExternal(boc) {
    const cell = Cell.fromBoc(boc)[0];
    const msg = loadMessage(cell.beginParse());
    if (msg.info.type !== 'external-in') throw new Error('not an external inbound message');
    const result = await this.run(() => this.bc.sendMessage(msg));
    return { cell, msg, result };
  }

  async fund(address, amount) {
    return this.run(() => this.funder.send({ to: Address.parse(address), value: BigInt(amount), bounce: false }));
  }

  transactions(address, { limit = 10, lt, hash, toLt = 0n } = {}) {
    const raw = Address.parse(address).toRawString();
    const list = (this.byAccount.get(raw) || []).slice().reverse();  // newest first
    let start = 0;
    if (lt !== undefined) {
      start = list.findIndex((r) => r.lt === BigInt(lt) && (!hash || r.hash.equals(hash)));
      if (start < 0) return [];
    }
    return list.slice(start).filter((r) => r.lt > BigInt(toLt)).slice(0, limit);
  }

  async account(address) {
    const c = await this.bc.getContract(Address.parse(address));
    return c;
  }

  // Runs an external message on a copy of the chain and reports its fees (estimateFee).
  async estimate(address, body, init) {
    const snap = this.bc.snapshot();
    try {
      const msg = external({ to: Address.parse(address), body, init });
      this.tick();
      const result = await this.bc.sendMessage(msg, { ignoreChksig: true });
      const tx = result.transactions[0];
      const d = tx.description;
      const gas = d.computePhase?.type === 'vm' ? d.computePhase.gasFees : 0n;
      const storage = d.storagePhase?.storageFeesCollected ?? 0n;
      const fwd = d.actionPhase?.totalFwdFees ?? 0n;
      const inFwd = tx.totalFees.coins - gas - storage - (d.actionPhase?.totalActionFees ?? 0n);
      return { in_fwd_fee: inFwd > 0n ? inFwd : 0n, storage_fee: storage, gas_fee: gas, fwd_fee: fwd };
    } finally {
      await this.bc.loadFrom(snap);
    }
  }

  describe() {
    const wallets = {};
    for (const [role, w] of Object.entries(this.wallets)) {
      wallets[role] = {
        address: w.wallet.address.toRawString(),
        address_bounceable: w.wallet.address.toString({ urlSafe: true, bounceable: true, testOnly: false }),
        public_key: w.keys.publicKey.toString('hex'),
        secret_key: w.keys.secretKey.toString('hex'),
        seed: w.seed.toString('hex'),
        wallet: 'v5r1',
        wallet_id: 2147483409,
        network_global_id: -239,
      };
    }
    const p = this.params;
    return {
      root: { address: this.root.address.toRawString(), owner: this.root.owner.toRawString() },
      wallets,
      params: {
        price_per_token: p.pricePerToken.toString(), worker_fee_per_token: p.workerFeePerToken.toString(),
        proxy_delay_before_close: p.proxyDelayBeforeClose, client_delay_before_close: p.clientDelayBeforeClose,
        min_proxy_stake: p.minProxyStake.toString(), min_client_stake: p.minClientStake.toString(),
        unique_id: p.uniqueId, is_test: p.isTest,
      },
      codes: Object.fromEntries(Object.entries(this.codes).map(([k, c]) => [k, c.toBoc().toString('hex')])),
      now: this.now(),
    };
  }
}

module.exports = { Chain, ROLES };
