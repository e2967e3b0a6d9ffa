//! The Lua scripts, each one atomic step on the server. They take "now" from the server's own
//! `TIME`, so the instances' clocks never matter. Sent as `EVALSHA`; after a `SCRIPT FLUSH` or
//! on a new server, redis-rs's `Script` loads them again on `NOSCRIPT` and retries.
//!
//! Every key a script touches is passed in `KEYS` and shares one `{hash tag}` (see
//! `crate::Keys`), as a cluster requires. Numbers stay below 2^53 (microseconds since 1970 are
//! about 1.8e15), so Lua's doubles hold them exactly; they are written back with `%.0f`.

use std::sync::LazyLock;

use redis::Script;

/// GCRA (generic cell rate algorithm) for one provider, reserving the next call:
/// KEYS[1] the provider's theoretical arrival time (µs); ARGV[1] the emission interval T (µs,
/// one call per T), ARGV[2] the burst tolerance τ (µs; 0: calls at least T apart), ARGV[3]
/// the longest wait the caller accepts (µs).
///
/// The call may go at `max(TAT, now) - τ`. Within the accepted wait the slot is taken (TAT
/// moves on by T) and the wait returned; beyond it nothing is taken. Returns
/// `{taken (1|0), wait µs, now µs}`.
pub(crate) static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if wait > max_wait then
  return {0, wait, now}
end
local next_tat = tat + interval
local ttl_ms = math.ceil((next_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', ttl_ms)
return {1, wait, now}
",
    )
});

/// Sliding windows of one send (the recipient's, each prefix's), checked and taken together:
/// KEYS the windows (sorted sets of `p:<id>` pending / `k:<id>` kept members scored by the ms
/// they were taken at); ARGV[1] the reservation id, then per key its max and window (ms).
///
/// When every window has room, `p:<id>` goes into each and `{1}` is returned. Otherwise
/// nothing is taken and `{0, index of the full window (1-based), ms until its oldest member
/// leaves it, members still pending}` is returned.
pub(crate) static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  local max = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', string.format('%.0f', now - window))
  if redis.call('ZCARD', KEYS[i]) >= max then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    local pending = 0
    for _, member in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
      if string.sub(member, 1, 2) == 'p:' then pending = pending + 1 end
    end
    local retry = now
    if oldest[2] then retry = tonumber(oldest[2]) + window - now end
    return {0, i, retry, pending}
  end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], string.format('%.0f', now), 'p:' .. ARGV[1])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 * i + 1]))
end
return {1}
",
    )
});

/// Settles a reservation in its windows: ARGV[1] its id, ARGV[2] `keep` (the pending member
/// becomes kept, same score) or `release` (it is removed). Returns how many windows held it.
pub(crate) static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local held = 0
for i = 1, #KEYS do
  local score = redis.call('ZSCORE', KEYS[i], 'p:' .. ARGV[1])
  if score then
    held = held + 1
    redis.call('ZREM', KEYS[i], 'p:' .. ARGV[1])
    if ARGV[2] == 'keep' then
      redis.call('ZADD', KEYS[i], score, 'k:' .. ARGV[1])
    end
  end
end
return held
",
    )
});

/// Takes an idempotency key for a first request, or reads who has it:
/// KEYS[1] the key; ARGV[1] the pending record, ARGV[2] its lease (ms). Returns `{1, ''}`
/// when taken, `{0, record}` when someone has it.
pub(crate) static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) then
  return {1, ''}
end
return {0, redis.call('GET', KEYS[1]) or ''}
",
    )
});

/// Ends a first request's hold on its key, if it still has it:
/// KEYS[1] the key, KEYS[2] its reply key; ARGV[1] the holder's token, ARGV[2] `keep`,
/// `reply` or `abandon`, ARGV[3] the answer record, ARGV[4] how long to keep it (ms).
///
/// `keep`: the answer replaces the pending record (later retries get it). `reply`: the answer
/// goes to the reply key only (the waiting duplicates get it, later retries decide again) and
/// the key is freed. `abandon`: the key is freed, no answer. Returns 1 when the key was still
/// the holder's.
pub(crate) static FINISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('GET', KEYS[1])
local mine = current and string.find(current, ARGV[1], 1, true) ~= nil
if ARGV[2] == 'reply' then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', tonumber(ARGV[4]))
end
if not mine then return 0 end
if ARGV[2] == 'keep' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', tonumber(ARGV[4]))
else
  redis.call('DEL', KEYS[1])
end
return 1
",
    )
});

/// Counts one breaker failure in the shared window: KEYS[1] the counter; ARGV[1] the window
/// (ms), started by the first failure. Returns the count.
pub(crate) static FAILURE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1])) end
return n
",
    )
});
