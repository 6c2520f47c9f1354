package main

import (
	"flag"
	"fmt"

	"github.com/tollgate/tollgate/ratelimiter"
)

// redisAuthFlags are Redis credentials and TLS given on the command line.
// Each one given replaces the policy's value, like the address flags, so
// that `serve --only ratelimit --redis ADDR` can reach a protected Redis
// with any policy. Passwords come from a file or a variable, never a flag
// value (a flag shows in ps and in shell history).
type redisAuthFlags struct {
	username                              string
	passwordFile, passwordEnv             string
	sentinelPasswordFile, sentinelEnv     string
	tls                                   bool
	tlsCA, tlsCert, tlsKey, tlsServerName string
}

func (f *redisAuthFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.username, "redis-username", "", "Redis ACL user (default: the policy's)")
	fs.StringVar(&f.passwordFile, "redis-password-file", "", "file holding the Redis password, read for every new connection")
	fs.StringVar(&f.passwordEnv, "redis-password-env", "", "environment variable holding the Redis password")
	fs.StringVar(&f.sentinelPasswordFile, "redis-sentinel-password-file", "", "file holding the Sentinels' own password")
	fs.StringVar(&f.sentinelEnv, "redis-sentinel-password-env", "", "environment variable holding the Sentinels' own password")
	fs.BoolVar(&f.tls, "redis-tls", false, "connect to Redis over TLS (implied by the other --redis-tls-* flags)")
	fs.StringVar(&f.tlsCA, "redis-tls-ca", "", "PEM bundle of the CAs that sign Redis's certificates (default: the system's roots)")
	fs.StringVar(&f.tlsCert, "redis-tls-cert", "", "client certificate (PEM) presented to Redis, with --redis-tls-key")
	fs.StringVar(&f.tlsKey, "redis-tls-key", "", "private key (PEM) of --redis-tls-cert")
	fs.StringVar(&f.tlsServerName, "redis-tls-server-name", "", "name Redis's certificate must carry (default: the host dialed)")
}

func (f *redisAuthFlags) check() error {
	if f.passwordFile != "" && f.passwordEnv != "" {
		return fmt.Errorf("set --redis-password-file or --redis-password-env, not both")
	}
	if f.sentinelPasswordFile != "" && f.sentinelEnv != "" {
		return fmt.Errorf("set --redis-sentinel-password-file or --redis-sentinel-password-env, not both")
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return fmt.Errorf("set both --redis-tls-cert and --redis-tls-key, or neither")
	}
	return nil
}

// apply lays the flags given over c.
func (f *redisAuthFlags) apply(c *ratelimiter.StoreConfig) {
	if f.username != "" {
		c.Username = f.username
	}
	if f.passwordFile != "" || f.passwordEnv != "" {
		c.Password = ratelimiter.PasswordSource{Env: f.passwordEnv, File: f.passwordFile}
	}
	if f.sentinelPasswordFile != "" || f.sentinelEnv != "" {
		c.SentinelPassword = ratelimiter.PasswordSource{Env: f.sentinelEnv, File: f.sentinelPasswordFile}
	}
	if f.tls || f.tlsCA != "" || f.tlsCert != "" || f.tlsServerName != "" {
		c.TLS = ratelimiter.TLSFiles{Enabled: true, CA: f.tlsCA, Cert: f.tlsCert, Key: f.tlsKey, ServerName: f.tlsServerName}
	}
}
