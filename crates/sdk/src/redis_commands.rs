//! The Redis command set of [`RedisClient`]: the Go SDK's commands (keys, strings, lists,
//! hashes, sets, sorted sets, `EVAL`) and [`RedisClient::command`] for any other. Each
//! builds a [`RedisRequest`] to send with a callback or `.await`.

use wasmgate_abi::resp::ToArg;

use crate::redis::{RedisClient, RedisRequest};

macro_rules! commands {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) => $cmd:literal;)*) => {$(
        $(#[$doc])*
        pub fn $name(&self, $($arg: $ty),*) -> RedisRequest {
            self.build(vec![$cmd.to_arg() $(, $arg.to_arg())*])
        }
    )*};
}

impl RedisClient {
    /// Any command, from its arguments (`["SET", "k", "v"]`).
    pub fn command<A: ToArg>(&self, args: &[A]) -> RedisRequest {
        self.build(args.iter().map(ToArg::to_arg).collect())
    }

    /// `EVAL script numkeys keys… args…`.
    pub fn eval<K: ToArg, A: ToArg>(
        &self,
        script: &str,
        numkeys: usize,
        keys: &[K],
        args: &[A],
    ) -> RedisRequest {
        let mut all = vec![b"EVAL".to_vec(), script.to_arg(), numkeys.to_arg()];
        all.extend(keys.iter().map(ToArg::to_arg));
        all.extend(args.iter().map(ToArg::to_arg));
        self.build(all)
    }

    // ----- keys -----
    commands! {
        /// `DEL key`.
        del(key: &str) => "DEL";
        /// `EXISTS key`.
        exists(key: &str) => "EXISTS";
        /// `EXPIRE key ttl` (seconds).
        expire(key: &str, ttl: u64) => "EXPIRE";
        /// `PERSIST key`.
        persist(key: &str) => "PERSIST";
    }

    // ----- strings -----
    commands! {
        /// `GET key`.
        get(key: &str) => "GET";
        /// `SET key value`.
        set(key: &str, value: impl ToArg) => "SET";
        /// `INCR key`.
        incr(key: &str) => "INCR";
        /// `INCRBY key delta`.
        incr_by(key: &str, delta: i64) => "INCRBY";
        /// `DECR key`.
        decr(key: &str) => "DECR";
        /// `DECRBY key delta`.
        decr_by(key: &str, delta: i64) => "DECRBY";
    }

    /// `SET key value EX ttl`.
    pub fn set_ex(&self, key: &str, value: impl ToArg, ttl: u64) -> RedisRequest {
        self.build(vec![
            b"SET".to_vec(),
            key.to_arg(),
            value.to_arg(),
            b"EX".to_vec(),
            ttl.to_arg(),
        ])
    }

    /// `SET key value NX`, plus `EX ttl` when `ttl > 0`.
    pub fn set_nx(&self, key: &str, value: impl ToArg, ttl: u64) -> RedisRequest {
        let mut args = vec![
            b"SET".to_vec(),
            key.to_arg(),
            value.to_arg(),
            b"NX".to_vec(),
        ];
        if ttl > 0 {
            args.push(b"EX".to_vec());
            args.push(ttl.to_arg());
        }
        self.build(args)
    }

    /// `MGET keys…`.
    pub fn mget<K: ToArg>(&self, keys: &[K]) -> RedisRequest {
        let mut args = vec![b"MGET".to_vec()];
        args.extend(keys.iter().map(ToArg::to_arg));
        self.build(args)
    }

    /// `MSET key value …`.
    pub fn mset<K: ToArg, V: ToArg>(&self, pairs: &[(K, V)]) -> RedisRequest {
        let mut args = vec![b"MSET".to_vec()];
        for (k, v) in pairs {
            args.push(k.to_arg());
            args.push(v.to_arg());
        }
        self.build(args)
    }

    // ----- lists -----
    commands! {
        /// `LLEN key`.
        llen(key: &str) => "LLEN";
        /// `RPOP key`.
        rpop(key: &str) => "RPOP";
        /// `LPOP key`.
        lpop(key: &str) => "LPOP";
        /// `LINDEX key index`.
        lindex(key: &str, index: i64) => "LINDEX";
        /// `LRANGE key start stop`.
        lrange(key: &str, start: i64, stop: i64) => "LRANGE";
        /// `LREM key count value`.
        lrem(key: &str, count: i64, value: impl ToArg) => "LREM";
    }

    /// `RPUSH key values…`.
    pub fn rpush<V: ToArg>(&self, key: &str, values: &[V]) -> RedisRequest {
        self.key_and_list("RPUSH", key, values)
    }

    /// `LPUSH key values…`.
    pub fn lpush<V: ToArg>(&self, key: &str, values: &[V]) -> RedisRequest {
        self.key_and_list("LPUSH", key, values)
    }

    /// `LINSERT key BEFORE pivot value`.
    pub fn linsert_before(&self, key: &str, pivot: impl ToArg, value: impl ToArg) -> RedisRequest {
        self.build(vec![
            b"LINSERT".to_vec(),
            key.to_arg(),
            b"BEFORE".to_vec(),
            pivot.to_arg(),
            value.to_arg(),
        ])
    }

    /// `LINSERT key AFTER pivot value`.
    pub fn linsert_after(&self, key: &str, pivot: impl ToArg, value: impl ToArg) -> RedisRequest {
        self.build(vec![
            b"LINSERT".to_vec(),
            key.to_arg(),
            b"AFTER".to_vec(),
            pivot.to_arg(),
            value.to_arg(),
        ])
    }

    fn key_and_list<V: ToArg>(&self, cmd: &str, key: &str, values: &[V]) -> RedisRequest {
        let mut args = vec![cmd.to_arg(), key.to_arg()];
        args.extend(values.iter().map(ToArg::to_arg));
        self.build(args)
    }

    // ----- hashes -----
    commands! {
        /// `HEXISTS key field`.
        hexists(key: &str, field: &str) => "HEXISTS";
        /// `HLEN key`.
        hlen(key: &str) => "HLEN";
        /// `HGET key field`.
        hget(key: &str, field: &str) => "HGET";
        /// `HSET key field value`.
        hset(key: &str, field: &str, value: impl ToArg) => "HSET";
        /// `HKEYS key`.
        hkeys(key: &str) => "HKEYS";
        /// `HVALS key`.
        hvals(key: &str) => "HVALS";
        /// `HGETALL key`.
        hgetall(key: &str) => "HGETALL";
        /// `HINCRBY key field delta`.
        hincr_by(key: &str, field: &str, delta: i64) => "HINCRBY";
        /// `HINCRBYFLOAT key field delta`.
        hincr_by_float(key: &str, field: &str, delta: f64) => "HINCRBYFLOAT";
    }

    /// `HDEL key fields…`.
    pub fn hdel<F: ToArg>(&self, key: &str, fields: &[F]) -> RedisRequest {
        self.key_and_list("HDEL", key, fields)
    }

    /// `HMGET key fields…`.
    pub fn hmget<F: ToArg>(&self, key: &str, fields: &[F]) -> RedisRequest {
        self.key_and_list("HMGET", key, fields)
    }

    /// `HMSET key field value …`.
    pub fn hmset<F: ToArg, V: ToArg>(&self, key: &str, pairs: &[(F, V)]) -> RedisRequest {
        let mut args = vec![b"HMSET".to_vec(), key.to_arg()];
        for (f, v) in pairs {
            args.push(f.to_arg());
            args.push(v.to_arg());
        }
        self.build(args)
    }

    // ----- sets -----
    commands! {
        /// `SCARD key`.
        scard(key: &str) => "SCARD";
        /// `SISMEMBER key value`.
        sismember(key: &str, value: impl ToArg) => "SISMEMBER";
        /// `SMEMBERS key`.
        smembers(key: &str) => "SMEMBERS";
        /// `SDIFF key1 key2`.
        sdiff(key1: &str, key2: &str) => "SDIFF";
        /// `SDIFFSTORE destination key1 key2`.
        sdiff_store(destination: &str, key1: &str, key2: &str) => "SDIFFSTORE";
        /// `SINTER key1 key2`.
        sinter(key1: &str, key2: &str) => "SINTER";
        /// `SINTERSTORE destination key1 key2`.
        sinter_store(destination: &str, key1: &str, key2: &str) => "SINTERSTORE";
        /// `SUNION key1 key2`.
        sunion(key1: &str, key2: &str) => "SUNION";
        /// `SUNIONSTORE destination key1 key2`.
        sunion_store(destination: &str, key1: &str, key2: &str) => "SUNIONSTORE";
    }

    /// `SADD key values…`.
    pub fn sadd<V: ToArg>(&self, key: &str, values: &[V]) -> RedisRequest {
        self.key_and_list("SADD", key, values)
    }

    /// `SREM key values…`.
    pub fn srem<V: ToArg>(&self, key: &str, values: &[V]) -> RedisRequest {
        self.key_and_list("SREM", key, values)
    }

    // ----- sorted sets -----
    commands! {
        /// `ZCARD key`.
        zcard(key: &str) => "ZCARD";
        /// `ZCOUNT key min max`.
        zcount(key: &str, min: impl ToArg, max: impl ToArg) => "ZCOUNT";
        /// `ZINCRBY key delta member`.
        zincr_by(key: &str, delta: f64, member: impl ToArg) => "ZINCRBY";
        /// `ZSCORE key member`.
        zscore(key: &str, member: impl ToArg) => "ZSCORE";
        /// `ZRANK key member`.
        zrank(key: &str, member: impl ToArg) => "ZRANK";
        /// `ZREVRANK key member`.
        zrevrank(key: &str, member: impl ToArg) => "ZREVRANK";
        /// `ZRANGE key start stop`.
        zrange(key: &str, start: i64, stop: i64) => "ZRANGE";
        /// `ZREVRANGE key start stop`.
        zrevrange(key: &str, start: i64, stop: i64) => "ZREVRANGE";
    }

    /// `ZADD key score member …` (the score comes first, as Redis wants).
    pub fn zadd<M: ToArg>(&self, key: &str, members: &[(M, f64)]) -> RedisRequest {
        let mut args = vec![b"ZADD".to_vec(), key.to_arg()];
        for (member, score) in members {
            args.push(score.to_arg());
            args.push(member.to_arg());
        }
        self.build(args)
    }

    /// `ZREM key members…`.
    pub fn zrem<M: ToArg>(&self, key: &str, members: &[M]) -> RedisRequest {
        self.key_and_list("ZREM", key, members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::FqdnCluster;

    #[test]
    fn commands_encode_like_wasm_go() {
        let client = RedisClient::new(FqdnCluster::new("r", 6379));
        let text = |r: RedisRequest| String::from_utf8_lossy(r.query()).replace("\r\n", " ");
        assert_eq!(
            text(client.set_ex("k", "v", 10)),
            "*5 $3 SET $1 k $1 v $2 EX $2 10 "
        );
        assert_eq!(text(client.set_nx("k", 1, 0)), "*4 $3 SET $1 k $1 1 $2 NX ");
        assert_eq!(
            text(client.zadd("z", &[("m", 1.5)])),
            "*4 $4 ZADD $1 z $3 1.5 $1 m "
        );
        assert_eq!(
            text(client.eval("return 1", 1, &["k"], &[10, 60])),
            "*6 $4 EVAL $8 return 1 $1 1 $1 k $2 10 $2 60 "
        );
        assert_eq!(
            text(client.hincr_by("h", "f", -2)),
            "*4 $7 HINCRBY $1 h $1 f $2 -2 "
        );
    }
}
