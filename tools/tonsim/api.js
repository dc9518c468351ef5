// TON HTTP API v2 (toncenter-compatible) over the local Chain: JSON in, {"ok":true,"result":...} out.
// Methods are reachable as GET/POST /api/v2/<method>, /<method>, and through POST /jsonRPC.
'use strict';
const { core } = require('./deps');

const { Address, Cell, beginCell, storeMessage, TupleBuilder } = core;

class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const b64 = (buf) => Buffer.from(buf).toString('base64');
const friendly = (a) => a.toString({ urlSafe: true, bounceable: true, testOnly: false });

function parseAddress(text) {
  if (typeof text !== 'string' || !text) throw new ApiError(400, 'address is required');
  try {
    return Address.parse(text);
  } catch (e) {
    throw new ApiError(400, `bad address: ${text}`);
  }
}

function parseBoc(text, what = 'boc') {
  if (typeof text !== 'string' || !text) throw new ApiError(400, `${what} is required`);
  try {
    const buf = /^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0 ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
    return Cell.fromBoc(buf)[0];
  } catch (e) {
    throw new ApiError(400, `bad ${what}: ${e.message}`);
  }
}

function txId(lt, hash) {
  return { '@type': 'internal.transactionId', lt: lt.toString(), hash: b64(hash) };
}

function messageJson(msg) {
  if (!msg) return null;
  const cell = beginCell().store(storeMessage(msg)).endCell();
  const info = msg.info;
  const addr = (a) => (a && a.hash && a.workChain !== undefined ? friendly(a) : '');
  const init = msg.init ? beginCell().storeRef(msg.init.code ?? Cell.EMPTY).storeRef(msg.init.data ?? Cell.EMPTY)
    .endCell() : null;
  return {
    '@type': 'raw.message',
    hash: b64(cell.hash()),
    source: info.type === 'internal' ? addr(info.src) : (info.type === 'external-out' ? addr(info.src) : ''),
    destination: info.type === 'external-out' ? '' : addr(info.dest),
    value: info.type === 'internal' ? info.value.coins.toString() : '0',
    extra_currencies: [],
    fwd_fee: info.type === 'internal' ? info.forwardFee.toString() : '0',
    ihr_fee: info.type === 'internal' ? info.ihrFee.toString() : '0',
    created_lt: info.type === 'external-in' ? '0' : info.createdLt.toString(),
    body_hash: b64(msg.body.hash()),
    msg_data: { '@type': 'msg.dataRaw', body: b64(msg.body.toBoc()), init_state: init ? b64(init.toBoc()) : '' },
    message: '',
    bounce: info.type === 'internal' ? info.bounce : false,
    bounced: info.type === 'internal' ? info.bounced : false,
  };
}

function transactionJson(rec) {
  const tx = rec.tx;
  const d = tx.description;
  const storage = d.storagePhase?.storageFeesCollected ?? 0n;
  const computeExit = d.computePhase?.type === 'vm' ? d.computePhase.exitCode : null;
  return {
    '@type': 'raw.transaction',
    address: { '@type': 'accountAddress', account_address: friendly(Address.parseRaw(rec.account)) },
    utime: tx.now,
    data: b64(rec.boc),
    transaction_id: txId(tx.lt, rec.hash),
    fee: tx.totalFees.coins.toString(),
    storage_fee: storage.toString(),
    other_fee: (tx.totalFees.coins - storage).toString(),
    in_msg: messageJson(tx.inMessage),
    out_msgs: [...tx.outMessages.values()].map(messageJson),
    // not in toncenter, handy for tests: what happened in the transaction
    compute_exit_code: computeExit,
    aborted: d.type === 'generic' ? d.aborted : false,
  };
}

// Get-method arguments: toncenter accepts [["num","123"], ["tvm.Slice", base64], ["tvm.Cell", base64]].
function parseStackArgs(stack) {
  const tb = new TupleBuilder();
  for (const item of stack || []) {
    if (!Array.isArray(item) || item.length < 1) throw new ApiError(400, 'stack entries are [type, value]');
    const [type, value] = item;
    if (type === 'num' || type === 'int' || type === 'number') {
      const s = String(value);
      tb.writeNumber(s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s));
    } else if (type === 'tvm.Slice' || type === 'slice') {
      tb.writeSlice(parseBoc(typeof value === 'object' ? value.bytes : value, 'slice'));
    } else if (type === 'tvm.Cell' || type === 'cell') {
      tb.writeCell(parseBoc(typeof value === 'object' ? value.bytes : value, 'cell'));
    } else if (type === 'null') {
      tb.writeCell(null);
    } else {
      throw new ApiError(400, `unsupported stack entry type ${type}`);
    }
  }
  return tb.build();
}

function numText(v) {
  return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

function stackEntry(item) {
  switch (item.type) {
    case 'int': return { '@type': 'tvm.stackEntryNumber', number: { '@type': 'tvm.numberDecimal', number: item.value.toString() } };
    case 'cell': return { '@type': 'tvm.stackEntryCell', cell: { '@type': 'tvm.cell', bytes: b64(item.cell.toBoc()) } };
    case 'slice': return { '@type': 'tvm.stackEntrySlice', slice: { '@type': 'tvm.slice', bytes: b64(item.cell.toBoc()) } };
    case 'tuple': return { '@type': 'tvm.stackEntryTuple', tuple: { '@type': 'tvm.tuple', elements: item.items.map(stackEntry) } };
    default: return { '@type': 'tvm.stackEntryTuple', tuple: { '@type': 'tvm.tuple', elements: [] } };
  }
}

function stackItemJson(item) {
  switch (item.type) {
    case 'int': return ['num', numText(item.value)];
    case 'null': return ['null', null];
    case 'cell': return ['cell', { bytes: b64(item.cell.toBoc()), object: null }];
    case 'slice': return ['slice', { bytes: b64(item.cell.toBoc()), object: null }];
    case 'builder': return ['builder', { bytes: b64(item.cell.toBoc()), object: null }];
    case 'tuple': return ['tuple', { '@type': 'tvm.tuple', elements: item.items.map(stackEntry) }];
    case 'nan': return ['num', 'NaN'];
    default: return [item.type, null];
  }
}

function makeApi(chain) {
  const accountState = async (address) => {
    const c = await chain.account(address);
    const st = c.accountState;
    const state = !st ? 'uninitialized' : st.type === 'active' ? 'active' : st.type === 'frozen' ? 'frozen' : 'uninitialized';
    return { c, st, state };
  };

  const methods = {
    async getAddressInformation(p) {
      const addr = parseAddress(p.address);
      const { c, st, state } = await accountState(addr.toString());
      return {
        '@type': 'raw.fullAccountState',
        balance: c.balance.toString(),
        extra_currencies: [],
        code: st?.type === 'active' && st.state.code ? b64(st.state.code.toBoc()) : '',
        data: st?.type === 'active' && st.state.data ? b64(st.state.data.toBoc()) : '',
        last_transaction_id: txId(c.lastTransactionLt, Buffer.from(c.lastTransactionHash.toString(16).padStart(64, '0'), 'hex')),
        frozen_hash: st?.type === 'frozen' ? b64(Buffer.from(st.stateHash.toString(16).padStart(64, '0'), 'hex')) : '',
        sync_utime: chain.now(),
        state,
      };
    },

    async getAddressBalance(p) {
      const { c } = await accountState(parseAddress(p.address).toString());
      return c.balance.toString();
    },

    async getAddressState(p) {
      return (await accountState(parseAddress(p.address).toString())).state;
    },

    async getWalletInformation(p) {
      const addr = parseAddress(p.address);
      const { c, state } = await accountState(addr.toString());
      const out = {
        wallet: false,
        balance: c.balance.toString(),
        extra_currencies: [],
        account_state: state,
        last_transaction_id: txId(c.lastTransactionLt, Buffer.from(c.lastTransactionHash.toString(16).padStart(64, '0'), 'hex')),
      };
      if (state === 'active') {
        const code = c.accountState.state.code;
        const v5 = chain.wallets.owner.wallet.init.code;
        if (code && code.equals(v5)) {
          chain.tick();
          const seqno = await chain.bc.runGetMethod(addr, 'seqno');
          const id = await chain.bc.runGetMethod(addr, 'get_subwallet_id');
          out.wallet = true;
          out.wallet_type = 'wallet v5 r1';
          out.seqno = Number(seqno.stackReader.readBigNumber());
          out.wallet_id = Number(id.stackReader.readBigNumber());
        }
      }
      return out;
    },

    async runGetMethod(p) {
      const addr = parseAddress(p.address);
      if (typeof p.method !== 'string' && typeof p.method !== 'number') throw new ApiError(400, 'method is required');
      let stack = p.stack ?? [];
      if (typeof stack === 'string') {
        try { stack = JSON.parse(stack); } catch (e) { throw new ApiError(400, 'stack is not JSON'); }
      }
      const args = parseStackArgs(stack);
      const { state } = await accountState(addr.toString());
      if (state !== 'active') throw new ApiError(500, 'account is not active');
      chain.tick();
      let r;
      try {
        r = await chain.bc.runGetMethod(addr, p.method, args);
      } catch (e) {
        // a get-method that throws: toncenter reports the exit code with an empty stack
        const code = e.exitCode ?? e.vmExitCode ?? 11;
        return { '@type': 'smc.runResult', gas_used: 0, stack: [], exit_code: code };
      }
      return { '@type': 'smc.runResult', gas_used: Number(r.gasUsed ?? 0), stack: r.stack.map(stackItemJson),
        exit_code: r.exitCode };
    },

    async sendBoc(p) {
      await sendExternal(p);
      return { '@type': 'ok' };
    },

    async sendBocReturnHash(p) {
      const { cell } = await sendExternal(p);
      return { '@type': 'raw.extMessageInfo', hash: b64(cell.hash()), hash_norm: b64(normalizedHash(cell)) };
    },

    async getTransactions(p) {
      const addr = parseAddress(p.address);
      const limit = Math.min(Math.max(Number(p.limit ?? 10) || 10, 1), 1000);
      const hash = p.hash ? Buffer.from(p.hash, /^[0-9a-fA-F]{64}$/.test(p.hash) ? 'hex' : 'base64') : undefined;
      const list = chain.transactions(addr.toString(), { limit, lt: p.lt, hash, toLt: p.to_lt ?? 0 });
      return list.map(transactionJson);
    },

    async estimateFee(p) {
      const addr = parseAddress(p.address);
      const body = p.body ? parseBoc(p.body, 'body') : Cell.EMPTY;
      const init = p.init_code ? { code: parseBoc(p.init_code, 'init_code'), data: p.init_data ? parseBoc(p.init_data, 'init_data') : Cell.EMPTY } : undefined;
      let fees;
      try {
        fees = await chain.estimate(addr.toString(), body, init);
      } catch (e) {
        throw new ApiError(500, `cannot estimate: ${e.message}`);
      }
      const s = Object.fromEntries(Object.entries(fees).map(([k, v]) => [k, Number(v)]));
      return { '@type': 'query.fees', source_fees: { '@type': 'fees', ...s }, destination_fees: [] };
    },

    async getMasterchainInfo() {
      return { '@type': 'blocks.masterchainInfo', last: { '@type': 'ton.blockIdExt', workchain: -1,
        shard: '-9223372036854775808', seqno: chain.byHash.size, root_hash: '', file_hash: '' }, init: null,
      state_root_hash: '' };
    },

    // ---- test-only ----
    async tonsimFund(p) {
      const addr = parseAddress(p.address);
      let amount;
      try { amount = BigInt(p.amount); } catch (e) { throw new ApiError(400, 'amount must be an integer (nanoTON)'); }
      if (amount <= 0n) throw new ApiError(400, 'amount must be positive');
      await chain.fund(addr.toString(), amount);
      return { '@type': 'ok', balance: (await chain.account(addr.toString())).balance.toString() };
    },

    async tonsimSetTime(p) {
      if (p.now === undefined && p.advance === undefined) throw new ApiError(400, 'now or advance is required');
      if ((p.now !== undefined && !Number.isFinite(Number(p.now))) || (p.advance !== undefined && !Number.isFinite(Number(p.advance)))) {
        throw new ApiError(400, 'now/advance must be numbers');
      }
      return { now: chain.setTime({ now: p.now, advance: p.advance }) };
    },

    async tonsimTime() {
      return { now: chain.now() };
    },

    async tonsimState() {
      return chain.describe();
    },
  };

  async function sendExternal(p) {
    const cell = parseBoc(p.boc, 'boc');
    try {
      return await chain.sendExternal(cell.toBoc());
    } catch (e) {
      throw new ApiError(500, `LITE_SERVER_UNKNOWN: cannot apply external message to current state: ${e.message}`);
    }
  }

  return methods;
}

// Normalized external message hash (TEP-467): src addr_none, import_fee 0, no init, body as ref.
function normalizedHash(cell) {
  const msg = core.loadMessage(cell.beginParse());
  const b = beginCell().storeUint(2, 2).storeUint(0, 2).storeAddress(msg.info.dest).storeCoins(0)
    .storeBit(0).storeBit(1).storeRef(msg.body).endCell();
  return b.hash();
}

module.exports = { makeApi, ApiError, transactionJson, stackItemJson };
