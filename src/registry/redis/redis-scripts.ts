/**
 * The Lua scripts behind the Redis registry. Each touches one key, so that it runs on one
 * shard of a Redis Cluster. Shared state is kept as hashes whose fields hold, as JSON, each
 * node's part ({"<node>": value}): a node writes only its own part, so re-registering after
 * Redis lost its data is idempotent, and the survivors of a dead node can take out exactly
 * what it held.
 */

/**
 * Sets (or, with an empty value, removes) one node's part of a field. Returns the field's
 * transition (1 appeared, -1 vanished, 0 neither), the fields left, and the whole hash after
 * when it has at most ARGV[4] fields (a presence list; larger channels get a count).
 */
export const NODE_SET = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local map = cur and cjson.decode(cur) or {}
local before = next(map) ~= nil
if ARGV[3] == '' then map[ARGV[2]] = nil else map[ARGV[2]] = cjson.decode(ARGV[3]) end
local after = next(map) ~= nil
if after then redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(map)) elseif before then redis.call('HDEL', KEYS[1], ARGV[1]) end
local t = 0
if after and not before then t = 1 elseif before and not after then t = -1 end
local all = {}
local size = redis.call('HLEN', KEYS[1])
if size <= tonumber(ARGV[4]) then all = redis.call('HGETALL', KEYS[1]) end
return {t, size, all}
`;

/**
 * Makes a node's part of a hash exactly ARGV[2] (a JSON object field → value): fields it no
 * longer holds lose its part. Returns the fields that appeared, those that vanished, and the
 * whole hash after.
 */
export const NODE_REPLACE = `
local want = cjson.decode(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local added, removed, seen = {}, {}, {}
for i = 1, #all, 2 do
  local f = all[i]
  local map = cjson.decode(all[i + 1])
  seen[f] = true
  local had = map[ARGV[1]] ~= nil
  local v = want[f]
  if v ~= nil then map[ARGV[1]] = v else map[ARGV[1]] = nil end
  if next(map) == nil then
    redis.call('HDEL', KEYS[1], f)
    table.insert(removed, f)
  elseif v ~= nil or had then
    redis.call('HSET', KEYS[1], f, cjson.encode(map))
  end
end
for f, v in pairs(want) do
  if not seen[f] then
    local m = {}
    m[ARGV[1]] = v
    redis.call('HSET', KEYS[1], f, cjson.encode(m))
    table.insert(added, f)
  end
end
return {added, removed, redis.call('HGETALL', KEYS[1])}
`;

/** Adds one to a node's count unless the counts of every node together reach ARGV[2] (0 = no limit). */
export const COUNT_ADMIT = `
local sum = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do sum = sum + tonumber(v) end
local limit = tonumber(ARGV[2])
if limit > 0 and sum >= limit then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return 1
`;

/** Takes one from a node's count, dropping the field at zero. */
export const COUNT_RELEASE = `
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n
`;

/** Stamps a node's heartbeat with Redis's clock; returns the nodes seen within ARGV[2] ms and those not. */
export const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[1] ~= '' then redis.call('ZADD', KEYS[1], now, ARGV[1]) end
local edge = now - tonumber(ARGV[2])
return {redis.call('ZRANGEBYSCORE', KEYS[1], edge, '+inf'), redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. edge)}
`;

/** Raises a counter to at least ARGV[1] (fds after Redis lost its data). */
export const AT_LEAST = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`;

/** Admits a handshake with a temporary token: a channel-less one ('') is spent by it. Returns the channel or nil. */
export const TOKEN_ADMIT = `
local v = redis.call('GET', KEYS[1])
if not v then return false end
if v == '' then redis.call('DEL', KEYS[1]) end
return v
`;

/**
 * Numbers a channel frame, keeps it in the channel's stream (the last ARGV[2], for ARGV[3] ms)
 * and publishes it, in one step: every node gets a channel's frames in seq order. ARGV[1] is
 * the frame without its closing brace; the message is "*", seq, epoch, frame, and ARGV[5].
 */
export const HISTORY_APPEND = `
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  epoch = ARGV[6]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'epoch', epoch)
end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
local kept = ARGV[1] .. ',"seq":' .. seq .. '}'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], seq .. '-1', 'f', kept, 't', now)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local message = '*\\n' .. seq .. '\\n' .. epoch .. '\\n' .. kept .. '\\n' .. ARGV[5]
if ARGV[7] == '1' then redis.call('SPUBLISH', ARGV[4], message) else redis.call('PUBLISH', ARGV[4], message) end
return seq
`;

/**
 * A channel's epoch (made ARGV[1] when it has none), latest seq, Redis's clock and the kept
 * frames a replay needs; with a marker ARGV[4], publishes it on the channel's bus channel
 * ARGV[3] in the same step: a subscriber gets every frame up to that seq before the marker,
 * and every later one after.
 *
 * Only the frames the replay can use are read, oldest first and none older than the TTL
 * ARGV[2]: those after `since` ARGV[7] when the asked epoch ARGV[6] ('' for any) is the
 * channel's, else from the first kept; at most the last `limit` ARGV[8] ('' for no limit);
 * and no more than `maxBytes` ARGV[9] of them (0 for no bound, always at least one), the
 * fifth result saying whether more were left. A deep stream is read a part at a time, not
 * whole for each part.
 */
export const HISTORY_READ = `
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[2], 'epoch', epoch)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
local seq = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[4] ~= '' then
  if ARGV[5] == '1' then redis.call('SPUBLISH', ARGV[3], ARGV[4]) else redis.call('PUBLISH', ARGV[3], ARGV[4]) end
end
local since = tonumber(ARGV[7])
local start = 1
if (ARGV[6] == '' or ARGV[6] == epoch) and since <= seq then start = since + 1 end
if ARGV[8] ~= '' then start = math.max(start, seq - tonumber(ARGV[8]) + 1) end
local oldest = now - tonumber(ARGV[2])
local maxBytes = tonumber(ARGV[9])
local out = {}
local bytes = 0
local cursor = tostring(start)
while true do
  local batch = redis.call('XRANGE', KEYS[1], cursor, '+', 'COUNT', 64)
  if #batch == 0 then break end
  for _, entry in ipairs(batch) do
    if tonumber(entry[2][4]) > oldest then
      local size = string.len(entry[2][2])
      if maxBytes > 0 and #out > 0 and bytes + size > maxBytes then return {epoch, seq, now, out, 1} end
      out[#out + 1] = entry
      bytes = bytes + size
    end
  end
  cursor = '(' .. batch[#batch][1]
end
return {epoch, seq, now, out, 0}
`;
