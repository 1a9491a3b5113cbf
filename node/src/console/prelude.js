// kalgo console: web3-style objects over JSON-RPC, for the commands Kaleido (geth)
// console users type. Properties such as eth.blockNumber are getters that make a
// synchronous call. Numbers: block numbers, nonces, gas, indexes and timestamps are
// JavaScript numbers; wei amounts (balances, values, prices, difficulties) are
// decimal strings, exact at any size (use BigInt(x) for arithmetic). Receipt
// `status` stays the node's hex string ("0x1" success, "0x0" failure), as in geth.
(function (g) {
  "use strict";
  function call(method, params) {
    return JSON.parse(__rpc(method, JSON.stringify(params === undefined ? [] : params)));
  }
  function num(h) {
    return h === null || h === undefined ? h : Number(BigInt(h));
  }
  function big(h) {
    return h === null || h === undefined ? h : BigInt(h).toString(10);
  }
  function hex(v) {
    if (v === null || v === undefined) return v;
    if (typeof v === "string" && /^0x/i.test(v)) return v;
    return "0x" + BigInt(typeof v === "number" ? Math.trunc(v) : v).toString(16);
  }
  var TAGS = ["latest", "pending", "earliest", "safe", "finalized"];
  function blockId(b) {
    if (b === undefined || b === null) return "latest";
    if (typeof b === "string" && (TAGS.indexOf(b) >= 0 || /^0x/i.test(b))) return b;
    return hex(b);
  }
  var QUANTITIES = ["value", "gas", "gasPrice", "nonce", "maxFeePerGas", "maxPriorityFeePerGas"];
  function txIn(tx) {
    var o = {};
    for (var k in tx) {
      var v = tx[k];
      if (v === undefined || v === null) continue;
      if (k === "gasLimit") k = "gas";
      o[k] = QUANTITIES.indexOf(k) >= 0 ? hex(v) : v;
    }
    return o;
  }
  function convert(o, nums, bigs) {
    if (!o || typeof o !== "object") return o;
    nums.forEach(function (k) { if (k in o) o[k] = num(o[k]); });
    bigs.forEach(function (k) { if (k in o) o[k] = big(o[k]); });
    return o;
  }
  function fmtTx(t) {
    return convert(t, ["blockNumber", "nonce", "gas", "transactionIndex", "type", "chainId"],
      ["value", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas"]);
  }
  function fmtBlock(b) {
    convert(b, ["number", "gasLimit", "gasUsed", "timestamp", "size", "version"],
      ["difficulty", "totalDifficulty", "baseFeePerGas", "totalBalanceOfMiners"]);
    if (b && Array.isArray(b.transactions)) b.transactions = b.transactions.map(function (t) {
      return typeof t === "object" ? fmtTx(t) : t;
    });
    return b;
  }
  function fmtReceipt(r) {
    return convert(r, ["blockNumber", "transactionIndex", "gasUsed", "cumulativeGasUsed", "type"],
      ["effectiveGasPrice"]);
  }
  function getter(o, name, f) {
    Object.defineProperty(o, name, { get: f, enumerable: true });
  }

  var eth = {};
  getter(eth, "blockNumber", function () { return num(call("eth_blockNumber")); });
  getter(eth, "accounts", function () { return call("eth_accounts"); });
  getter(eth, "chainId", function () { return num(call("eth_chainId")); });
  getter(eth, "gasPrice", function () { return big(call("eth_gasPrice")); });
  getter(eth, "syncing", function () { return call("eth_syncing"); });
  getter(eth, "mining", function () { return call("eth_mining"); });
  getter(eth, "hashrate", function () { return num(call("eth_hashrate")); });
  getter(eth, "coinbase", function () { return call("eth_coinbase"); });
  eth.getTxPoolPendingTransactionsCount = function () { return num(call("eth_getTxPoolPendingTransactionsCount")); };
  eth.getBalance = function (a, b) { return big(call("eth_getBalance", [a, blockId(b)])); };
  eth.getTransactionCount = function (a, b) { return num(call("eth_getTransactionCount", [a, blockId(b)])); };
  eth.getCode = function (a, b) { return call("eth_getCode", [a, blockId(b)]); };
  eth.getStorageAt = function (a, s, b) { return call("eth_getStorageAt", [a, hex(s), blockId(b)]); };
  eth.getBlock = function (b, full) {
    var byHash = typeof b === "string" && b.length === 66;
    return fmtBlock(call(byHash ? "eth_getBlockByHash" : "eth_getBlockByNumber", [byHash ? b : blockId(b), !!full]));
  };
  eth.getTransaction = function (h) { return fmtTx(call("eth_getTransactionByHash", [h])); };
  eth.getTransactionReceipt = function (h) { return fmtReceipt(call("eth_getTransactionReceipt", [h])); };
  eth.sendTransaction = function (tx) { return call("eth_sendTransaction", [txIn(tx)]); };
  eth.sendRawTransaction = function (raw) { return call("eth_sendRawTransaction", [raw]); };
  eth.call = function (tx, b) { return call("eth_call", [txIn(tx), blockId(b)]); };
  eth.estimateGas = function (tx) { return num(call("eth_estimateGas", [txIn(tx)])); };
  eth.sign = function (a, data) { return call("eth_sign", [a, data]); };
  eth.getLogs = function (f) { return call("eth_getLogs", [f]); };

  var net = {};
  getter(net, "version", function () { return call("net_version"); });
  getter(net, "peerCount", function () { return num(call("net_peerCount")); });
  getter(net, "listening", function () { return call("net_listening"); });

  var personal = {};
  getter(personal, "listAccounts", function () { return call("personal_listAccounts"); });
  personal.newAccount = function (pw) { return call("personal_newAccount", [pw]); };
  personal.importRawKey = function (k, pw) { return call("personal_importRawKey", [k, pw]); };
  personal.unlockAccount = function (a, pw, secs) {
    return call("personal_unlockAccount", secs === undefined ? [a, pw] : [a, pw, secs]);
  };
  personal.lockAccount = function (a) { return call("personal_lockAccount", [a]); };
  personal.sendTransaction = function (tx, pw) { return call("personal_sendTransaction", [txIn(tx), pw]); };
  personal.sign = function (data, a, pw) { return call("personal_sign", [data, a, pw]); };

  var admin = {};
  getter(admin, "peers", function () { return call("admin_peers"); });
  getter(admin, "nodeInfo", function () { return call("admin_nodeInfo"); });
  admin.addPeer = function (url) { return call("admin_addPeer", [url]); };
  admin.removePeer = function (url) { return call("admin_removePeer", [url]); };
  // Waits until n more blocks are committed; true when they are.
  admin.sleepBlocks = function (n) {
    var target = num(call("eth_blockNumber")) + n;
    while (num(call("eth_blockNumber")) < target) __sleep(100);
    return true;
  };
  admin.sleep = function (secs) { __sleep(secs * 1000); return true; };

  var miner = {
    start: function (threads) { return call("miner_start", threads === undefined ? [] : [threads]); },
    stop: function () { return call("miner_stop"); },
  };

  var txpool = {};
  getter(txpool, "status", function () {
    var s = call("txpool_status");
    return { pending: num(s.pending), queued: num(s.queued) };
  });
  getter(txpool, "content", function () { return call("txpool_content"); });
  getter(txpool, "inspect", function () { return call("txpool_inspect"); });

  var debug = {
    traceTransaction: function (h, opts) { return call("debug_traceTransaction", opts === undefined ? [h] : [h, opts]); },
    traceCall: function (tx, block, opts) {
      var p = [txIn(tx), block === undefined ? "latest" : block];
      if (opts !== undefined) p.push(opts);
      return call("debug_traceCall", p);
    },
  };

  var UNITS = {
    wei: 0, kwei: 3, babbage: 3, mwei: 6, lovelace: 6, gwei: 9, shannon: 9,
    szabo: 12, microether: 12, finney: 15, milliether: 15, ether: 18,
    kether: 21, grand: 21, mether: 24, gether: 27, tether: 30,
  };
  function unit(u) {
    var d = UNITS[(u === undefined ? "ether" : String(u)).toLowerCase()];
    if (d === undefined) throw new Error("unknown unit " + u);
    return d;
  }
  // An exact decimal (number or string, with fraction or exponent) times 10^d.
  function scale(x, d) {
    var s = String(x).trim().toLowerCase();
    var m = /^(-?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/.exec(s);
    if (!m || (m[2] === "" && (m[3] === undefined || m[3] === ""))) throw new Error("invalid number " + x);
    var frac = m[3] || "";
    var exp = d + (m[4] ? parseInt(m[4], 10) : 0) - frac.length;
    var digits = BigInt((m[2] || "0") + frac);
    if (exp >= 0) digits = digits * 10n ** BigInt(exp);
    else {
      var div = 10n ** BigInt(-exp);
      if (digits % div !== 0n) throw new Error(x + " has more decimals than the unit allows");
      digits = digits / div;
    }
    return (m[1] === "-" ? -digits : digits).toString(10);
  }
  function toWei(x, u) {
    if (typeof x === "string" && /^0x/i.test(x)) return (BigInt(x) * 10n ** BigInt(unit(u))).toString(10);
    return scale(x, unit(u));
  }
  function fromWei(x, u) {
    var d = BigInt(unit(u));
    var v = BigInt(typeof x === "number" ? scale(x, 0) : x);
    var neg = v < 0n;
    if (neg) v = -v;
    var base = 10n ** d;
    var whole = (v / base).toString(10);
    var frac = (v % base).toString(10).padStart(Number(d), "0").replace(/0+$/, "");
    return (neg ? "-" : "") + whole + (frac ? "." + frac : "");
  }

  var web3 = {
    eth: eth, net: net, personal: personal, admin: admin, miner: miner, txpool: txpool, debug: debug,
    toWei: toWei,
    fromWei: fromWei,
    toHex: function (v) { return hex(v); },
    toDecimal: function (h) { return big(h); },
    isAddress: function (a) { return typeof a === "string" && /^0x[0-9a-fA-F]{40}$/.test(a); },
    sha3: function (data) { return call("web3_sha3", [data]); },
  };
  getter(web3, "clientVersion", function () { return call("web3_clientVersion"); });

  g.eth = eth; g.net = net; g.personal = personal; g.admin = admin;
  g.miner = miner; g.txpool = txpool; g.debug = debug; g.web3 = web3;

  // How the console prints a value (strings quoted, objects as indented JSON).
  g.__fmt = function (v) {
    if (v === undefined) return "undefined";
    if (typeof v === "string") return JSON.stringify(v);
    if (typeof v === "bigint") return v.toString() + "n";
    if (typeof v === "function") return "function()";
    if (typeof v !== "object" || v === null) return String(v);
    return JSON.stringify(v, function (k, x) { return typeof x === "bigint" ? x.toString() : x; }, 2);
  };
  // Member names for tab completion.
  g.__members = function () {
    var out = [];
    ["eth", "net", "web3", "personal", "admin", "miner", "txpool", "debug"].forEach(function (n) {
      out.push(n);
      Object.getOwnPropertyNames(g[n]).forEach(function (k) { out.push(n + "." + k); });
    });
    return out.join("\n");
  };
})(this);
