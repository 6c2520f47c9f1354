package ratelimiter

import (
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed decide.lua
var decideSource string

// decideScript is loaded into each Redis node once (EVALSHA, falling back
// to EVAL on the first call to a node that lacks it).
var decideScript = redis.NewScript(decideSource)

// keyPrefix starts every key on a single node (or Sentinel's master), and
// the instances key everywhere. A Cluster gives each counter its own hash
// tag instead (clusterKey), to spread counters over the masters.
const keyPrefix = "tollgate:{rl}:"

// redisStore keeps counters in a single Redis node or Sentinel's master,
// one EVALSHA per decision, decisions arriving together pipelined in one
// write (batcher); a Cluster has its own store (clusterStore).
type redisStore struct {
	client  redis.UniversalClient
	batch   *batcher
	timeout time.Duration
	// now, if set, replaces Redis's clock (tests comparing stores).
	now     func() time.Time
	metrics *Metrics
}

var _ Store = (*redisStore)(nil)

// RedisOptions are how to reach Redis and how long one decision may wait.
type RedisOptions struct {
	Addrs          []string
	SentinelMaster string
	// Cluster forces a Cluster client for a single seed address.
	Cluster  bool
	Username string
	Password string
	// Credentials, when set, gives the username and password for each new
	// connection instead of Username and Password.
	Credentials func(context.Context) (string, string, error)
	// SentinelUsername and SentinelPassword authenticate to Sentinels.
	SentinelUsername string
	SentinelPassword string
	// TLS, when set, is used for every connection (nodes and Sentinels).
	TLS *tls.Config
	DB  int
	// Timeout bounds one decision's round trip, dialing included.
	Timeout time.Duration
}

// NewRedisClient creates the go-redis client: Sentinel when a master name
// is given, Cluster with several addresses (or Cluster set), else a single
// node. It never retries: a decision has one deadline and the failure mode
// answers when it is missed.
func NewRedisClient(o RedisOptions) redis.UniversalClient {
	opts := &redis.UniversalOptions{
		Addrs:                      o.Addrs,
		MasterName:                 o.SentinelMaster,
		Username:                   o.Username,
		Password:                   o.Password,
		SentinelUsername:           o.SentinelUsername,
		SentinelPassword:           o.SentinelPassword,
		CredentialsProviderContext: o.Credentials,
		DB:                         o.DB,
		DialTimeout:                o.Timeout,
		ReadTimeout:                o.Timeout,
		WriteTimeout:               o.Timeout,
		PoolTimeout:                o.Timeout,
		ContextTimeoutEnabled:      true,
		MaxRetries:                 -1,
		DisableIdentity:            true,
		// go-redis applies TLSConfig only with its own dialer; ours
		// does the handshake itself (tlsDialer).
		Dialer: tlsDialer(o.TLS),
	}
	if o.Cluster || (o.SentinelMaster == "" && len(o.Addrs) > 1) {
		return redis.NewClusterClient(opts.Cluster())
	}
	return redis.NewUniversalClient(opts)
}

// NewRedisStore returns a store over client: a Cluster store for a
// Cluster client, else one script per decision. now replaces Redis's
// clock when set (tests only).
func NewRedisStore(client redis.UniversalClient, timeout time.Duration, metrics *Metrics, now func() time.Time) Store {
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	if cc, ok := client.(*redis.ClusterClient); ok {
		return &clusterStore{client: cc, timeout: timeout, now: now, metrics: metrics}
	}
	return &redisStore{client: client, timeout: timeout, now: now, metrics: metrics,
		batch: &batcher{client: client, metrics: metrics}}
}

// Apply implements Store with one EVALSHA, sent with the decisions
// pending at the same time.
func (s *redisStore) Apply(ctx context.Context, charges []Charge) ([]Result, error) {
	all := make([]int, len(charges))
	for i := range all {
		all[i] = i
	}
	keys, args := scriptArgs(charges, all, s.now, singleKey)
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	start := time.Now()
	var reply []int64
	var err error
	if s.batch == nil { // unpipelined: the benchmark's comparison only
		reply, err = decideScript.Run(ctx, s.client, keys, args...).Int64Slice()
	} else {
		reply, err = s.batch.do(&evalCall{ctx: ctx, keys: keys, args: args, done: make(chan evalReply, 1)})
	}
	s.metrics.redisTime.Observe(time.Since(start).Seconds())
	if err == nil {
		err = checkReply(reply, len(charges))
	}
	if err != nil {
		s.metrics.redisErrors.Inc()
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	results := make([]Result, len(charges))
	fillResults(results, charges, all, reply)
	return results, nil
}

// singleKey is a counter's key on a single node (or Sentinel's master).
func singleKey(k string) string { return keyPrefix + k }

// scriptArgs are decide.lua's keys and arguments for the charges at idx.
func scriptArgs(charges []Charge, idx []int, now func() time.Time, key func(string) string) ([]string, []any) {
	keys := make([]string, len(idx))
	args := make([]any, 1, 1+6*len(idx))
	args[0] = ""
	if now != nil {
		args[0] = strconv.FormatInt(now().UnixMicro(), 10)
	}
	for j, i := range idx {
		c := charges[i]
		keys[j] = key(c.Key)
		shadow := "0"
		if c.Shadow {
			shadow = "1"
		}
		args = append(args, c.Rule.Algorithm.code(), c.Rule.Limit, c.Rule.Period.Microseconds(), c.Rule.Rate, c.Hits, shadow)
	}
	return keys, args
}

func checkReply(reply []int64, n int) error {
	if len(reply) != 4*n+1 {
		return fmt.Errorf("script returned %d values for %d charges", len(reply), n)
	}
	return nil
}

// fillResults sets results[idx[j]] from decide.lua's reply for the
// charges at idx.
func fillResults(results []Result, charges []Charge, idx []int, reply []int64) {
	for j, i := range idx {
		v := reply[4*j : 4*j+4]
		results[i] = Result{
			Allowed:    v[0] == 1,
			Limit:      charges[i].Rule.Limit,
			Remaining:  v[1],
			Reset:      time.Duration(v[2]) * time.Microsecond,
			RetryAfter: time.Duration(v[3]) * time.Microsecond,
		}
	}
}

// instancesKey holds the rate-limit instances sharing this Redis, scored
// by their last heartbeat (Redis time, ms).
const instancesKey = keyPrefix + "instances"

// heartbeatScript registers an instance and counts the live ones, by
// Redis's clock.
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return redis.call('ZCARD', KEYS[1])
`)

// heartbeat registers id as live for ttl and returns how many instances
// are live.
func heartbeat(ctx context.Context, client redis.UniversalClient, id string, ttl time.Duration) (int, error) {
	n, err := heartbeatScript.Run(ctx, client, []string{instancesKey}, id, ttl.Milliseconds()).Int()
	if err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, errors.New("no live instance counted")
	}
	return n, nil
}
