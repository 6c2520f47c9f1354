package ratelimiter

import (
	"context"
	"net"
	"time"
)

// dialRedis is the go-redis dialer. A failed dial is handed to the pool as
// a connection whose every read and write fails with the dial's error, so
// the command fails exactly as it would have, but go-redis's pool never
// counts a dial error.
//
// Why: after PoolSize failed dials the pool opens its own circuit breaker
// and then redials by itself only once a second (go-redis v9
// internal/pool/pool.go, ConnPool.dialConn and tryDial's time.Sleep), so
// Redis came back up to 1.1 s before Tollgate could see it. The failover
// store is the circuit breaker: while Redis is down it lets one probe
// through every probeEvery and nothing else, so every probe dials for
// real and the first one after Redis is back recovers.
// TestFirstProbeAfterRedisRestartRecovers fails if an upgrade changes
// this.
func dialRedis(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3}}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return failedConn{err: err, addr: dialAddr{network, addr}}, nil
	}
	return conn, nil
}

// failedConn stands for a dial that failed: every I/O returns its error.
type failedConn struct {
	err  error
	addr net.Addr
}

func (c failedConn) Read([]byte) (int, error)         { return 0, c.err }
func (c failedConn) Write([]byte) (int, error)        { return 0, c.err }
func (c failedConn) Close() error                     { return nil }
func (c failedConn) LocalAddr() net.Addr              { return c.addr }
func (c failedConn) RemoteAddr() net.Addr             { return c.addr }
func (c failedConn) SetDeadline(time.Time) error      { return nil }
func (c failedConn) SetReadDeadline(time.Time) error  { return nil }
func (c failedConn) SetWriteDeadline(time.Time) error { return nil }

// dialAddr is the address a failed dial was for.
type dialAddr struct{ network, addr string }

func (a dialAddr) Network() string { return a.network }
func (a dialAddr) String() string  { return a.addr }
