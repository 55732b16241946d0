-- wrk script of `pnpm bench ingress`: every request carries a delivery with a
-- new event id and a valid x-voucherify-signature (HMAC-SHA256 computed here
-- through LuaJIT's FFI into the libcrypto wrk links), so no request is a
-- duplicate and both servers receive exactly the same kind of bodies.
-- Environment: BENCH_TEMPLATE (file: body before the id, newline, body after),
-- BENCH_SECRET, BENCH_RUN (unique per run), BENCH_INTERVAL_US (0 = as fast as
-- possible; else each thread sends one request per interval, open loop),
-- BENCH_PATH (default /webhooks/voucherify).
local ffi = require("ffi")
ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md, unsigned int *md_len);
typedef struct { long tv_sec; long tv_usec; } bench_timeval;
int gettimeofday(bench_timeval *tv, void *tz);
]]
local crypto = ffi.load("crypto")

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local prefix, suffix, secret, run, interval_us, path
local digest = ffi.new("unsigned char[32]")
local digest_len = ffi.new("unsigned int[1]")
local tv = ffi.new("bench_timeval")
local next_at = nil

function init(args)
  local f = assert(io.open(os.getenv("BENCH_TEMPLATE"), "r"))
  prefix = f:read("*l")
  suffix = f:read("*l")
  f:close()
  secret = os.getenv("BENCH_SECRET")
  run = os.getenv("BENCH_RUN")
  interval_us = tonumber(os.getenv("BENCH_INTERVAL_US") or "0")
  path = os.getenv("BENCH_PATH") or "/webhooks/voucherify"
end

-- Hex digits written through the FFI: string.format in a loop would make the
-- client, not the server, the bottleneck (it runs on the same two cores).
local HEX = ffi.new("const char[16]", "0123456789abcdef")
local hexbuf = ffi.new("char[64]")
local band, rshift = bit.band, bit.rshift

local function hex(buf, n)
  for i = 0, n - 1 do
    local b = buf[i]
    hexbuf[2 * i] = HEX[rshift(b, 4)]
    hexbuf[2 * i + 1] = HEX[band(b, 15)]
  end
  return ffi.string(hexbuf, 2 * n)
end

function request()
  counter = counter + 1
  local body = prefix .. "evcus_bench_" .. run .. "_" .. tid .. "_" .. counter .. suffix
  crypto.HMAC(crypto.EVP_sha256(), secret, #secret, body, #body, digest, digest_len)
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["X-Voucherify-Signature"] = hex(digest, 32),
  }, body)
end

local function now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

-- Defined only for paced runs: with a delay() wrk schedules a timer per request, which would slow the max-rate runs.
if tonumber(os.getenv("BENCH_INTERVAL_US") or "0") > 0 then
function delay()
  local now = now_us()
  if next_at == nil then
    next_at = now
  end
  next_at = next_at + interval_us
  local wait = next_at - now
  if wait <= 0 then
    return 0
  end
  return math.floor(wait / 1000)
end
end
